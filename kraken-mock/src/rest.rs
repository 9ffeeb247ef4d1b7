//! REST `AssetPairs` and `Ticker`, in Kraken's shapes and v1 names (`XBT/USD`, `XXBTZUSD`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use serde_json::{json, Value};

use crate::{lock, Shared};

/// `BTC` → (`XBT`, `XXBT`); `USD` → (`USD`, `ZUSD`); others unchanged.
fn v1(asset: &str) -> (String, String) {
    match asset {
        "BTC" => ("XBT".into(), "XXBT".into()),
        "DOGE" => ("XDG".into(), "XXDG".into()),
        "USD" => ("USD".into(), "ZUSD".into()),
        "EUR" => ("EUR".into(), "ZEUR".into()),
        other => (other.into(), other.into()),
    }
}

/// (result key, altname, wsname) for a v2 symbol.
fn names(symbol: &str) -> (String, String, String) {
    let (base, quote) = symbol.split_once('/').unwrap_or((symbol, ""));
    let ((b, bk), (q, qk)) = (v1(base), v1(quote));
    (format!("{bk}{qk}"), format!("{b}{q}"), format!("{b}/{q}"))
}

pub(crate) async fn asset_pairs(State(s): State<Arc<Shared>>) -> Json<Value> {
    let walks = lock(&s.walks);
    let mut result = serde_json::Map::new();
    for symbol in &s.config.pairs {
        let Some(walk) = walks.get(symbol) else {
            continue;
        };
        let tick = walk.tick_size();
        let (key, altname, wsname) = names(symbol);
        result.insert(
            key,
            json!({
                "altname": altname, "wsname": wsname, "aclass_base": "currency",
                "base": "", "quote": "", "pair_decimals": tick.scale(),
                "cost_decimals": 5, "lot_decimals": 8, "lot_multiplier": 1,
                "ordermin": "0.0001", "costmin": "0.5", "tick_size": tick.to_string(),
                "status": "online"
            }),
        );
    }
    Json(json!({"error": [], "result": result}))
}

pub(crate) async fn ticker(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let wanted: Vec<String> = q
        .get("pair")
        .map(|p| p.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let last = lock(&s.last);
    let mut result = serde_json::Map::new();
    for symbol in &s.config.pairs {
        let (key, altname, _) = names(symbol);
        if !wanted.is_empty() && !wanted.contains(&altname) && !wanted.contains(&key) {
            continue;
        }
        if let Some((bid, ask)) = last.get(symbol) {
            result.insert(
                key,
                json!({"a": [ask.to_string(), "1", "1.000"], "b": [bid.to_string(), "1", "1.000"]}),
            );
        }
    }
    if result.is_empty() && !wanted.is_empty() {
        return Json(json!({"error": ["EQuery:Unknown asset pair"]}));
    }
    Json(json!({"error": [], "result": result}))
}
