//! Live rates: from the bus to users.
//!
//! - [`book`]: raw rates, metadata, spreads and feed status → the `rates:live` objects.
//! - [`fanout`]: per-socket delivery with latest-value semantics.
//! - [`bus`]: the Redis subscription (bootstrap from `rates:last`, re-read after reconnects).
//! - [`RateHub`]: the book and the fan-out together; every change to what users see goes
//!   through it, so HTTP and Socket.IO always agree.

pub mod book;
pub mod bus;
pub mod fanout;

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::bus::{PairMeta, RateMsg, StatusMsg};
use common::shutdown::Shutdown;
use common::Pair;
use serde_json::value::RawValue;

pub use book::{LiveRate, QuoteBasis, RateBook, SpreadSet, Unquotable};
use fanout::Fanout;

pub struct RateHub {
    book: Mutex<RateBook>,
    pub fanout: Fanout,
}

/// `{"BTC_USD": {...}, ...}` as one pre-serialized JSON value.
fn payload<'a>(rates: impl IntoIterator<Item = (String, &'a LiveRate)>) -> Option<Box<RawValue>> {
    let map: std::collections::BTreeMap<String, &LiveRate> = rates.into_iter().collect();
    if map.is_empty() {
        return None;
    }
    serde_json::value::to_raw_value(&map).ok()
}

impl RateHub {
    pub fn new(configured: &[Pair], stale_after: Duration) -> RateHub {
        RateHub {
            book: Mutex::new(RateBook::new(configured, stale_after)),
            fanout: Fanout::default(),
        }
    }

    pub fn book(&self) -> MutexGuard<'_, RateBook> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A rate from the bus: priced, serialized once, delivered.
    pub fn on_rate(&self, msg: RateMsg) {
        let now = Instant::now();
        let pair = msg.pair.clone();
        let body = {
            let mut book = self.book();
            if !book.apply_rate(msg) {
                return;
            }
            let Some(live) = book.live(&pair, now) else {
                return;
            };
            book.shown(&pair, live.stale);
            payload([(pair.key(), &live)])
        };
        if let Some(body) = body {
            self.fanout.deliver(&pair, &body);
        }
    }

    pub fn on_status(&self, status: StatusMsg) {
        let changed = {
            let mut book = self.book();
            let now = Instant::now();
            book.apply_status(status, now);
            book.staleness_changes(now)
        };
        self.push(&changed);
    }

    pub fn on_meta(&self, meta: PairMeta) {
        self.book().set_meta(meta);
    }

    /// Re-evaluates staleness (the feed may have gone quiet) and pushes changes.
    pub fn check_staleness(&self) {
        let changed = self.book().staleness_changes(Instant::now());
        self.push(&changed);
    }

    /// New spreads: every pair's price may change; pushed to clients at once.
    pub fn set_spreads(&self, spreads: SpreadSet) {
        let pairs: Vec<Pair> = {
            let mut book = self.book();
            book.set_spreads(spreads);
            book.known_pairs().iter().cloned().collect()
        };
        self.push(&pairs);
    }

    /// Sends the current values of `pairs` to every socket that wants them.
    fn push(&self, pairs: &[Pair]) {
        if pairs.is_empty() {
            return;
        }
        self.fanout.mark_all_pending(pairs);
        self.flush();
    }

    /// Sends backed-up sockets their pending pairs' current values.
    pub fn flush(&self) {
        let book = self.book();
        let now = Instant::now();
        self.fanout.flush(|pending| {
            let rates = book.snapshot(Some(pending), now);
            payload(rates.iter().map(|(k, v)| (k.clone(), v)))
        });
    }

    /// The snapshot a socket gets on connect or subscribe.
    pub fn snapshot_payload(&self, only: Option<&BTreeSet<Pair>>) -> Option<Box<RawValue>> {
        let rates = self.book().snapshot(only, Instant::now());
        payload(rates.iter().map(|(k, v)| (k.clone(), v)))
    }

    /// Flushes backed-up sockets and re-checks staleness until shutdown.
    pub async fn run_housekeeping(&self, shutdown: Shutdown) {
        let mut flush = tokio::time::interval(Duration::from_millis(50));
        let mut stale = tokio::time::interval(Duration::from_millis(250));
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        stale.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.wait() => break,
                _ = flush.tick() => self.flush(),
                _ = stale.tick() => self.check_staleness(),
            }
        }
    }
}
