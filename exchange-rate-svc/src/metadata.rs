//! Pair metadata (price tick, amount step, minimum order): from the exchange's REST API (the
//! connector's [`ExchangeRest`]) when it answers, otherwise from configured fallbacks.
//!
//! Fallbacks come from `PAIR_FALLBACKS` (`BTC/USD:0.1:0.00000001:0.0001,...`, i.e.
//! `pair:price_tick:amount_step:min_amount`), then from a built-in table of Kraken's values for
//! common pairs, then from a conservative default (tick 0.00001, step 0.00000001, minimum
//! 0.0001). A fallback is logged, so nobody mistakes it for the exchange's word.

use std::collections::HashMap;
use std::str::FromStr;

use common::bus::PairMeta;
use common::config::ConfigError;
use common::{Decimal, Pair};

use crate::connector::ExchangeRest;
use crate::feed::Feed;

/// Kraken's values (AssetPairs, 2026) for common pairs: (pair, tick, lot decimals, ordermin).
const BUILT_IN: &[(&str, &str, u32, &str)] = &[
    ("BTC/USD", "0.1", 8, "0.00005"),
    ("ETH/USD", "0.01", 8, "0.002"),
    ("SOL/USD", "0.01", 8, "0.02"),
    ("XRP/USD", "0.00001", 8, "2"),
    ("ADA/USD", "0.000001", 8, "5"),
    ("DOGE/USD", "0.0000001", 8, "20"),
    ("LTC/USD", "0.01", 8, "0.05"),
    ("USDT/USD", "0.00001", 8, "5"),
    ("ALGO/USD", "0.00001", 8, "10"),
];

/// Parsed `PAIR_FALLBACKS`.
pub fn parse_fallbacks(spec: &str) -> Result<HashMap<Pair, PairMeta>, ConfigError> {
    let bad = |item: &str, why: &str| {
        ConfigError::new(
            "PAIR_FALLBACKS",
            format!("{item:?}: {why} (want pair:tick:step:min)"),
        )
    };
    let mut out = HashMap::new();
    for item in common::config::items(spec) {
        let parts: Vec<&str> = item.split(':').collect();
        let [pair, tick, step, min] = parts[..] else {
            return Err(bad(item, "expected four fields"));
        };
        let pair = Pair::parse(pair).map_err(|e| bad(item, &e.to_string()))?;
        let num = |s: &str| {
            Decimal::from_str(s)
                .ok()
                .filter(|d| *d >= Decimal::ZERO)
                .ok_or_else(|| bad(item, "not a non-negative decimal"))
        };
        let (tick, step, min) = (num(tick)?, num(step)?, num(min)?);
        if tick.is_zero() || step.is_zero() {
            return Err(bad(item, "tick and step must be positive"));
        }
        out.insert(pair.clone(), PairMeta::new(pair, tick, step, min));
    }
    Ok(out)
}

/// The fallback for one pair.
pub fn fallback(pair: &Pair, configured: &HashMap<Pair, PairMeta>) -> PairMeta {
    if let Some(m) = configured.get(pair) {
        return m.clone();
    }
    if let Some((_, tick, lot, min)) = BUILT_IN.iter().find(|(p, ..)| *p == pair.as_str()) {
        if let (Ok(tick), Ok(min)) = (Decimal::from_str(tick), Decimal::from_str(min)) {
            return PairMeta::new(pair.clone(), tick, Decimal::new(1, *lot), min);
        }
    }
    PairMeta::new(
        pair.clone(),
        Decimal::new(1, 5),
        Decimal::new(1, 8),
        Decimal::new(1, 4),
    )
}

/// Fetches metadata and stores it in the feed (the exchange's where it answered, fallbacks
/// elsewhere); `Err` when the exchange did not answer at all.
pub async fn refresh(
    rest: &dyn ExchangeRest,
    feed: &Feed,
    configured: &HashMap<Pair, PairMeta>,
) -> Result<(), String> {
    let pairs = feed.pairs();
    let result = rest.pair_metadata(&pairs).await;
    let found = match &result {
        Ok(found) => found.clone(),
        Err(e) => {
            tracing::warn!(error = %e, "pair metadata unavailable; using fallback pair metadata");
            Vec::new()
        }
    };
    let metas = pairs
        .iter()
        .map(|pair| match found.iter().find(|m| &m.pair == pair) {
            Some(m) => m.clone(),
            None => {
                if result.is_ok() {
                    tracing::warn!(%pair, "pair unknown to the exchange; using fallback metadata");
                }
                fallback(pair, configured)
            }
        })
        .collect();
    feed.set_meta(metas);
    result.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallbacks_parse_and_override_the_table() {
        let cfg = parse_fallbacks("BTC/USD:0.5:0.001:0.01, new-coin:1:1:0").unwrap();
        let btc = fallback(&Pair::parse("BTC/USD").unwrap(), &cfg);
        assert_eq!(btc.price_tick.to_string(), "0.5");
        let eth = fallback(&Pair::parse("ETH/USD").unwrap(), &cfg);
        assert_eq!(eth.price_tick.to_string(), "0.01");
        assert_eq!(eth.amount_step.to_string(), "0.00000001");
        let odd = fallback(&Pair::parse("ZZZ/EUR").unwrap(), &cfg);
        assert_eq!(odd.price_tick.to_string(), "0.00001");
        for bad in [
            "BTC/USD:0.1:1",
            "BTC/USD:0:1:1",
            "BTC/USD:x:1:1",
            "nope:1:1:1",
        ] {
            assert!(parse_fallbacks(bad).is_err(), "{bad}");
        }
    }
}
