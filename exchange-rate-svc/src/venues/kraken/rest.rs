//! Kraken's public REST API: `AssetPairs` for pair metadata, `Ticker` for the cross-check.
//!
//! REST still names pairs the v1 way (`XBT/USD` in `wsname`, `XXBTZUSD` as the result key), so
//! [`v2_symbol`] maps those names onto v2's (`BTC/USD`). Every price and size here is a JSON
//! string in Kraken's REST responses, parsed straight into `Decimal`.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use common::bus::PairMeta;
use common::{Decimal, Pair};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("request to kraken failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("kraken answered with errors: {0:?}")]
    Api(Vec<String>),
    #[error("unexpected kraken response: {0}")]
    Shape(String),
}

/// A pair as REST knows it, with its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestPair {
    pub meta: PairMeta,
    /// The result key, e.g. `XXBTZUSD`.
    pub key: String,
    /// The altname, e.g. `XBTUSD`: what `Ticker?pair=` accepts.
    pub altname: String,
}

#[derive(Clone)]
pub struct KrakenRest {
    http: reqwest::Client,
    base: String,
}

#[derive(Deserialize)]
struct Envelope<T> {
    #[serde(default)]
    error: Vec<String>,
    result: Option<T>,
}

/// One entry of `AssetPairs`:
/// `{"altname":"XBTUSD","wsname":"XBT/USD","base":"XXBT","quote":"ZUSD","pair_decimals":1,
///   "lot_decimals":8,"ordermin":"0.0001","tick_size":"0.1",...}`
#[derive(Deserialize)]
struct AssetPairWire {
    altname: String,
    #[serde(default)]
    wsname: Option<String>,
    #[serde(default)]
    pair_decimals: Option<u32>,
    #[serde(default)]
    lot_decimals: Option<u32>,
    #[serde(default)]
    ordermin: Option<String>,
    #[serde(default)]
    tick_size: Option<String>,
}

/// One entry of `Ticker`: `{"a":["97000.2","1","1.000"],"b":["97000.1","2","2.000"],...}`
#[derive(Deserialize)]
struct TickerWire {
    a: Vec<String>,
    b: Vec<String>,
}

/// Maps REST's v1-style asset codes onto v2's (`XBT` → `BTC`, `XDG` → `DOGE`).
pub fn v2_asset(code: &str) -> &str {
    match code {
        "XBT" => "BTC",
        "XDG" => "DOGE",
        other => other,
    }
}

/// `XBT/USD` → `BTC/USD`.
pub fn v2_symbol(wsname: &str) -> Option<Pair> {
    let (base, quote) = wsname.split_once('/')?;
    Pair::parse(&format!("{}/{}", v2_asset(base), v2_asset(quote))).ok()
}

fn decimal(field: &str, s: &str) -> Result<Decimal, RestError> {
    Decimal::from_str(s).map_err(|_| RestError::Shape(format!("{field} is not a decimal: {s:?}")))
}

/// `10^-places`.
fn step(places: u32) -> Decimal {
    Decimal::new(1, places.min(28))
}

impl KrakenRest {
    pub fn new(base: &str, timeout: Duration) -> Result<Self, RestError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("rategate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(KrakenRest {
            http,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    async fn get<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, RestError> {
        let env: Envelope<T> = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if !env.error.is_empty() {
            return Err(RestError::Api(env.error));
        }
        env.result
            .ok_or_else(|| RestError::Shape("no result".into()))
    }

    /// Metadata for the wanted pairs that Kraken lists (others are simply absent).
    pub async fn asset_pairs(&self, wanted: &[Pair]) -> Result<Vec<RestPair>, RestError> {
        let all: HashMap<String, AssetPairWire> = self.get("/0/public/AssetPairs", &[]).await?;
        let mut found = Vec::new();
        for (key, w) in all {
            let Some(pair) = w.wsname.as_deref().and_then(v2_symbol) else {
                continue;
            };
            if !wanted.contains(&pair) {
                continue;
            }
            let price_tick = match (&w.tick_size, w.pair_decimals) {
                (Some(t), _) => decimal("tick_size", t)?,
                (None, Some(places)) => step(places),
                (None, None) => continue,
            };
            let amount_step = step(w.lot_decimals.unwrap_or(8));
            let min_amount = match &w.ordermin {
                Some(m) => decimal("ordermin", m)?,
                None => amount_step,
            };
            if price_tick <= Decimal::ZERO || min_amount < Decimal::ZERO {
                return Err(RestError::Shape(format!("{pair}: non-positive tick")));
            }
            found.push(RestPair {
                meta: PairMeta::new(pair, price_tick, amount_step, min_amount),
                key,
                altname: w.altname,
            });
        }
        found.sort_by(|a, b| a.meta.pair.cmp(&b.meta.pair));
        Ok(found)
    }

    /// Best bid/ask per pair from REST `Ticker`.
    pub async fn ticker(
        &self,
        pairs: &[RestPair],
    ) -> Result<Vec<(Pair, Decimal, Decimal)>, RestError> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let names = pairs
            .iter()
            .map(|p| p.altname.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let result: HashMap<String, TickerWire> =
            self.get("/0/public/Ticker", &[("pair", names)]).await?;
        let mut out = Vec::new();
        for p in pairs {
            let Some(t) = result.get(&p.key).or_else(|| result.get(&p.altname)) else {
                continue;
            };
            let (Some(ask), Some(bid)) = (t.a.first(), t.b.first()) else {
                return Err(RestError::Shape(format!("{}: empty a/b", p.meta.pair)));
            };
            out.push((p.meta.pair.clone(), decimal("b", bid)?, decimal("a", ask)?));
        }
        Ok(out)
    }
}

/// Kraken's [`ExchangeRest`](crate::connector::ExchangeRest): `AssetPairs` for metadata,
/// `Ticker` for the cross-check (by the REST names `AssetPairs` gave).
pub struct KrakenExchangeRest {
    rest: KrakenRest,
    found: std::sync::Mutex<Vec<RestPair>>,
}

impl KrakenExchangeRest {
    pub fn new(rest: KrakenRest) -> Self {
        KrakenExchangeRest {
            rest,
            found: std::sync::Mutex::new(Vec::new()),
        }
    }
}

#[async_trait::async_trait]
impl crate::connector::ExchangeRest for KrakenExchangeRest {
    async fn pair_metadata(&self, pairs: &[Pair]) -> Result<Vec<PairMeta>, String> {
        let found = self
            .rest
            .asset_pairs(pairs)
            .await
            .map_err(|e| e.to_string())?;
        let metas = found.iter().map(|r| r.meta.clone()).collect();
        *common::sync::lock(&self.found) = found;
        Ok(metas)
    }

    async fn tickers(&self) -> Result<Vec<(Pair, Decimal, Decimal)>, String> {
        let found = common::sync::lock(&self.found).clone();
        self.rest.ticker(&found).await.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_names_map_to_v2() {
        assert_eq!(v2_symbol("XBT/USD").unwrap().as_str(), "BTC/USD");
        assert_eq!(v2_symbol("XDG/EUR").unwrap().as_str(), "DOGE/EUR");
        assert_eq!(v2_symbol("ETH/USD").unwrap().as_str(), "ETH/USD");
        assert!(v2_symbol("nonsense").is_none());
    }

    #[test]
    fn steps_are_exact_powers_of_ten() {
        assert_eq!(step(1).to_string(), "0.1");
        assert_eq!(step(8).to_string(), "0.00000001");
        assert_eq!(step(0).to_string(), "1");
    }
}
