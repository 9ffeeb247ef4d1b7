//! Bitstamp v2 frames: `diff_order_book_{pair}` diffs over WebSocket, the REST order book
//! snapshot, and the control events (`bts:subscription_succeeded`, `bts:request_reconnect`,
//! `bts:error`).
//!
//! Levels are `["price", "amount"]` string pairs, parsed exactly; an amount of `0` deletes.
//! Times are `microtimestamp`s (µs since the epoch, as a string): the only order Bitstamp
//! gives, used to join the diffs to the snapshot.

use std::borrow::Cow;

use common::Pair;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::venues::number;
pub use crate::venues::WireError;

/// The market of a pair in channel names and URLs: `BTC/USD` ↔ `btcusd`.
pub fn market(pair: &Pair) -> String {
    format!("{}{}", pair.base(), pair.quote()).to_ascii_lowercase()
}

/// The diff channel of a pair: `diff_order_book_btcusd`.
pub fn diff_channel(pair: &Pair) -> String {
    format!("diff_order_book_{}", market(pair))
}

/// The subscribe request for a pair's diffs.
pub fn subscribe_request(pair: &Pair) -> String {
    serde_json::json!({"event": "bts:subscribe", "data": {"channel": diff_channel(pair)}})
        .to_string()
}

/// Levels changed at one instant, or a whole book: `(price, amount)` per side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookLevels {
    pub microtimestamp: u64,
    pub bids: Vec<(Decimal, Decimal)>,
    pub asks: Vec<(Decimal, Decimal)>,
}

/// What a WebSocket frame means to us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BitstampEvent<'a> {
    /// `{"event":"data","channel":"diff_order_book_ethusd","data":{...}}`
    Diff {
        channel: Cow<'a, str>,
        diff: BookLevels,
    },
    Subscribed {
        channel: Cow<'a, str>,
    },
    /// The server asks us to reconnect (before its maintenance).
    ReconnectRequested,
    Error {
        message: Cow<'a, str>,
    },
    /// Valid JSON we do not use (`data` of other channels, unsubscribe acks).
    Ignored {
        event: Option<Cow<'a, str>>,
    },
}

#[derive(Deserialize)]
struct FrameWire<'a> {
    #[serde(borrow, default)]
    event: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    channel: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<&'a serde_json::value::RawValue>,
}

#[derive(Deserialize)]
struct LevelsWire<'a> {
    #[serde(borrow)]
    microtimestamp: Cow<'a, str>,
    #[serde(borrow, default)]
    bids: Vec<[Cow<'a, str>; 2]>,
    #[serde(borrow, default)]
    asks: Vec<[Cow<'a, str>; 2]>,
}

#[derive(Deserialize)]
struct ErrorWire<'a> {
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
}

fn malformed(e: serde_json::Error) -> WireError {
    WireError::Malformed(e.to_string())
}

impl TryFrom<LevelsWire<'_>> for BookLevels {
    type Error = WireError;
    fn try_from(w: LevelsWire<'_>) -> Result<Self, WireError> {
        let side = |levels: &[[Cow<'_, str>; 2]]| {
            levels
                .iter()
                .map(|[p, q]| Ok((number("price", p)?, number("amount", q)?)))
                .collect::<Result<Vec<_>, WireError>>()
        };
        Ok(BookLevels {
            microtimestamp: w.microtimestamp.parse().map_err(|_| WireError::BadNumber {
                field: "microtimestamp",
                text: w.microtimestamp.chars().take(40).collect(),
            })?,
            bids: side(&w.bids)?,
            asks: side(&w.asks)?,
        })
    }
}

/// Parses one WebSocket text frame.
pub fn parse(text: &str) -> Result<BitstampEvent<'_>, WireError> {
    if !text.trim_start().starts_with('{') {
        return Err(WireError::NotJson);
    }
    let frame: FrameWire<'_> = serde_json::from_str(text).map_err(malformed)?;
    let channel = frame.channel.unwrap_or(Cow::Borrowed(""));
    match frame.event.as_deref() {
        Some("data") if channel.starts_with("diff_order_book_") => {
            let data = frame
                .data
                .ok_or_else(|| WireError::Malformed("diff without data".into()))?;
            let levels: LevelsWire<'_> = serde_json::from_str(data.get()).map_err(malformed)?;
            Ok(BitstampEvent::Diff {
                channel,
                diff: levels.try_into()?,
            })
        }
        Some("bts:subscription_succeeded") => Ok(BitstampEvent::Subscribed { channel }),
        Some("bts:request_reconnect") => Ok(BitstampEvent::ReconnectRequested),
        Some("bts:error") => {
            let message = frame
                .data
                .and_then(|d| serde_json::from_str::<ErrorWire<'_>>(d.get()).ok())
                .and_then(|e| e.message)
                .map(|m| Cow::Owned(m.into_owned()))
                .unwrap_or(Cow::Borrowed("unspecified error"));
            Ok(BitstampEvent::Error { message })
        }
        _ => Ok(BitstampEvent::Ignored { event: frame.event }),
    }
}

/// Parses the body of `GET /api/v2/order_book/{market}`.
pub fn parse_snapshot(body: &str) -> Result<BookLevels, WireError> {
    let levels: LevelsWire<'_> = serde_json::from_str(body).map_err(malformed)?;
    levels.try_into()
}
