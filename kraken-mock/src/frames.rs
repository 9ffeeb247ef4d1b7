//! Kraken v2 frame text, shaped exactly like the captures in the project's fixtures.

use chrono::{SecondsFormat, Utc};
use common::Decimal;

/// A ticker frame (snapshot or update) for one symbol; `bid`/`ask` are JSON number text.
pub fn ticker_text(symbol: &str, bid: &str, ask: &str, snapshot: bool) -> String {
    let kind = if snapshot { "snapshot" } else { "update" };
    let ts = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    format!(
        r#"{{"channel":"ticker","type":"{kind}","data":[{{"symbol":"{symbol}","bid":{bid},"bid_qty":0.50000000,"ask":{ask},"ask_qty":1.25000000,"last":{bid},"volume":1234.56789012,"vwap":{bid},"low":{bid},"high":{ask},"change":0.0,"change_pct":0.00,"timestamp":"{ts}"}}]}}"#
    )
}

/// Same, from decimals.
pub fn ticker_frame(symbol: &str, bid: Decimal, ask: Decimal, snapshot: bool) -> String {
    ticker_text(symbol, &bid.to_string(), &ask.to_string(), snapshot)
}

/// A `status` frame; `connection_id` is omitted when `None` (as Kraken does in maintenance).
pub fn status_text(system: &str, connection_id: Option<u64>) -> String {
    match connection_id {
        Some(id) => format!(
            r#"{{"channel":"status","type":"update","data":[{{"version":"2.0.10","system":"{system}","api_version":"v2","connection_id":{id},"upcoming_maintenance":[],"emergency":[]}}]}}"#
        ),
        None => format!(
            r#"{{"channel":"status","type":"update","data":[{{"version":"2.0.10","system":"{system}","api_version":"v2"}}]}}"#
        ),
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn subscribe_ack(symbol: &str, req_id: Option<u64>) -> String {
    let t = now();
    let req = req_id
        .map(|r| format!(r#""req_id":{r},"#))
        .unwrap_or_default();
    format!(
        r#"{{"method":"subscribe",{req}"result":{{"channel":"ticker","event_trigger":"bbo","snapshot":true,"symbol":"{symbol}"}},"success":true,"time_in":"{t}","time_out":"{t}"}}"#
    )
}

/// The ack of a `book` subscribe or unsubscribe for one symbol.
pub fn book_ack(method: &str, symbol: &str, depth: u64, req_id: Option<u64>) -> String {
    let t = now();
    let mut v = serde_json::json!({
        "method": method,
        "result": {"channel": "book", "depth": depth, "snapshot": true, "symbol": symbol},
        "success": true, "time_in": t, "time_out": t,
    });
    if let Some(r) = req_id {
        v["req_id"] = r.into();
    }
    v.to_string()
}

pub fn error_frame(method: &str, error: &str, symbol: Option<&str>, req_id: Option<u64>) -> String {
    let t = now();
    let mut v = serde_json::json!({
        "error": error, "method": method, "success": false, "time_in": t, "time_out": t,
    });
    if let Some(s) = symbol {
        v["symbol"] = s.into();
    }
    if let Some(r) = req_id {
        v["req_id"] = r.into();
    }
    v.to_string()
}

pub fn pong(req_id: Option<u64>) -> String {
    let t = now();
    match req_id {
        Some(r) => format!(r#"{{"method":"pong","req_id":{r},"time_in":"{t}","time_out":"{t}"}}"#),
        None => format!(r#"{{"method":"pong","time_in":"{t}","time_out":"{t}"}}"#),
    }
}

pub const HEARTBEAT: &str = r#"{"channel":"heartbeat"}"#;
