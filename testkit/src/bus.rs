//! Messages for tests that write the bus themselves.

use std::sync::Arc;

use chrono::Utc;
use common::bus::RateMsg;
use common::Pair;

/// A tick of `pair` at `bid` (ask 99999) under `epoch`, stamped now.
pub fn rate(pair: &str, bid: &str, epoch: &str) -> Arc<RateMsg> {
    Arc::new(RateMsg {
        v: 1,
        source: "test".into(),
        pair: Pair::parse(pair).expect("a pair"),
        bid: bid.parse().expect("a decimal bid"),
        ask: "99999".parse().expect("a decimal ask"),
        last: None,
        ts: Utc::now(),
        received_at: Utc::now(),
        seq: 1,
        epoch: epoch.into(),
        venues: vec![],
    })
}
