//! Kraken WebSocket v2 frames as they arrive, and their translation into [`KrakenEvent`].
//!
//! Parsing borrows from the frame text and reads every price from the JSON number's raw text
//! (`RawValue` + `Decimal::from_str`), so `0.10000000` keeps its precision and nothing passes
//! through `f64`. Unknown fields are ignored (the feed adds them: `trades`,
//! `upcoming_maintenance`, ...); `connection_id` stays text (it exceeds 2^63); a frame that is
//! not JSON (`CloudFlare WebSocket proxy restarting`) is a [`WireError::NotJson`], never a
//! panic. The captured frames in `tests/fixtures/kraken-v2-frames.txt` are the test table.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;

pub use crate::venues::WireError;

/// Kraken's `status` channel `system` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemStatus {
    Online,
    Maintenance,
    CancelOnly,
    PostOnly,
}

impl SystemStatus {
    fn parse(s: &str) -> Option<SystemStatus> {
        Some(match s {
            "online" => SystemStatus::Online,
            "maintenance" => SystemStatus::Maintenance,
            "cancel_only" => SystemStatus::CancelOnly,
            "post_only" => SystemStatus::PostOnly,
            _ => return None,
        })
    }
}

/// One best bid/ask from a `ticker` snapshot or update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticker<'a> {
    pub symbol: Cow<'a, str>,
    pub bid: Decimal,
    pub ask: Decimal,
    pub last: Option<Decimal>,
    /// Exchange time; Kraken omits it on some frames.
    pub timestamp: Option<DateTime<Utc>>,
}

/// One `book` snapshot or update for one symbol: levels as `(price, qty)`, `qty` 0 deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookData<'a> {
    pub symbol: Cow<'a, str>,
    pub bids: Vec<(Decimal, Decimal)>,
    pub asks: Vec<(Decimal, Decimal)>,
    /// CRC32 of the top 10 levels after this message is applied.
    pub checksum: u32,
    pub timestamp: Option<DateTime<Utc>>,
}

/// What a frame means to us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KrakenEvent<'a> {
    /// `{"channel":"ticker","type":"snapshot"|"update","data":[...]}`
    Ticker {
        snapshot: bool,
        tickers: Vec<Ticker<'a>>,
    },
    /// `{"channel":"book","type":"snapshot"|"update","data":[{"symbol":..,"bids":[..],
    /// "asks":[..],"checksum":..}]}`
    Book {
        snapshot: bool,
        books: Vec<BookData<'a>>,
    },
    /// `{"channel":"status","data":[{"system":"online","connection_id":...}]}`
    Status {
        system: SystemStatus,
        /// Raw text of `connection_id` (may exceed 2^63), when present.
        connection_id: Option<&'a str>,
    },
    /// `{"channel":"heartbeat"}`
    Heartbeat,
    /// `{"method":"pong","req_id":1,...}`
    Pong { req_id: Option<u64> },
    /// A successful `subscribe` ack for one symbol.
    Subscribed {
        channel: Cow<'a, str>,
        symbol: Option<Cow<'a, str>>,
    },
    /// A failed request. `symbol` is set for per-symbol failures
    /// (`Currency pair not supported XBT/USD`).
    RequestFailed {
        method: Option<Cow<'a, str>>,
        symbol: Option<Cow<'a, str>>,
        error: Cow<'a, str>,
        req_id: Option<u64>,
    },
    /// A successful ack of something else (`unsubscribe`, ...).
    OtherAck { method: Cow<'a, str> },
    /// Valid JSON on a channel we do not use (tolerated, counted).
    Ignored { channel: Option<Cow<'a, str>> },
}

impl KrakenEvent<'_> {
    /// True if this frame proves the subscription is alive: channel data, heartbeats, the
    /// status channel or a subscribe ack. A `pong` (or any other request's answer) proves only
    /// that the transport works: a server whose subscription died can keep answering pings
    /// forever, so pongs never count towards liveness.
    pub fn proves_subscription(&self) -> bool {
        match self {
            KrakenEvent::Ticker { .. }
            | KrakenEvent::Book { .. }
            | KrakenEvent::Status { .. }
            | KrakenEvent::Heartbeat
            | KrakenEvent::Subscribed { .. } => true,
            KrakenEvent::Pong { .. }
            | KrakenEvent::RequestFailed { .. }
            | KrakenEvent::OtherAck { .. }
            | KrakenEvent::Ignored { .. } => false,
        }
    }
}

#[derive(Deserialize)]
struct FrameWire<'a> {
    #[serde(borrow, default)]
    channel: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<Vec<DataItem<'a>>>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(default)]
    success: Option<bool>,
    #[serde(borrow, default)]
    error: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    symbol: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    req_id: Option<&'a RawValue>,
}

/// One element of `data`, read in the same pass as the frame. It is the union of what the
/// channels we use put there, so the frame is scanned once whatever its channel:
///
/// ticker: `{"symbol":"BTC/USD","bid":65972.8,"bid_qty":0.10000000,"ask":65972.9,
///   "ask_qty":39.67506683,"last":65972.9,"volume":4216.6,"vwap":64275.2,"low":61325.4,
///   "high":66450.0,"change":4412.1,"change_pct":7.17,"trades":135262,
///   "timestamp":"2026-09-25T17:48:26.844359Z"}`
///
/// status: `{"api_version":"v2","connection_id":13834774380200032777,"system":"online",
///   "version":"2.0.0"}`
///
/// book: `{"symbol":"BTC/USD","bids":[{"price":45283.5,"qty":0.10000000}],"asks":[],
///   "checksum":3310070434,"timestamp":"2023-10-06T17:35:55.440295Z"}` (a price or qty may
///   also come as a string)
#[derive(Deserialize)]
struct DataItem<'a> {
    #[serde(borrow, default)]
    bids: Option<Vec<LevelWire<'a>>>,
    #[serde(borrow, default)]
    asks: Option<Vec<LevelWire<'a>>>,
    #[serde(borrow, default)]
    checksum: Option<&'a RawValue>,
    #[serde(borrow, default)]
    symbol: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    bid: Option<&'a RawValue>,
    #[serde(borrow, default)]
    ask: Option<&'a RawValue>,
    #[serde(borrow, default)]
    last: Option<&'a RawValue>,
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    system: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    connection_id: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct LevelWire<'a> {
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    qty: &'a RawValue,
}

/// `{"channel":"ticker","snapshot":true,"symbol":"ALGO/USD","event_trigger":"bbo"}`
#[derive(Deserialize)]
struct AckResultWire<'a> {
    #[serde(borrow, default)]
    channel: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    symbol: Option<Cow<'a, str>>,
}

fn number(field: &'static str, raw: &RawValue) -> Result<Decimal, WireError> {
    crate::venues::number(field, raw.get())
}

fn req_id(raw: Option<&RawValue>) -> Option<u64> {
    raw.and_then(|r| r.get().parse().ok())
}

fn malformed(e: serde_json::Error) -> WireError {
    WireError::Malformed(e.to_string())
}

impl<'a> TryFrom<DataItem<'a>> for Ticker<'a> {
    type Error = WireError;
    fn try_from(w: DataItem<'a>) -> Result<Self, WireError> {
        let missing = |f: &str| WireError::Malformed(format!("ticker without {f}"));
        let timestamp = optional_timestamp(w.timestamp.as_deref())?;
        Ok(Ticker {
            symbol: w.symbol.ok_or_else(|| missing("symbol"))?,
            bid: number("bid", w.bid.ok_or_else(|| missing("bid"))?)?,
            ask: number("ask", w.ask.ok_or_else(|| missing("ask"))?)?,
            last: w.last.map(|l| number("last", l)).transpose()?,
            timestamp,
        })
    }
}

impl<'a> TryFrom<DataItem<'a>> for BookData<'a> {
    type Error = WireError;
    fn try_from(w: DataItem<'a>) -> Result<Self, WireError> {
        let missing = |f: &str| WireError::Malformed(format!("book without {f}"));
        let levels =
            |side: Option<Vec<LevelWire<'_>>>| -> Result<Vec<(Decimal, Decimal)>, WireError> {
                side.unwrap_or_default()
                    .iter()
                    .map(|l| Ok((number("price", l.price)?, number("qty", l.qty)?)))
                    .collect()
            };
        let checksum = w.checksum.ok_or_else(|| missing("checksum"))?;
        let checksum = checksum
            .get()
            .parse::<u32>()
            .map_err(|_| WireError::BadNumber {
                field: "checksum",
                text: checksum.get().chars().take(40).collect(),
            })?;
        let timestamp = optional_timestamp(w.timestamp.as_deref())?;
        Ok(BookData {
            symbol: w.symbol.ok_or_else(|| missing("symbol"))?,
            bids: levels(w.bids)?,
            asks: levels(w.asks)?,
            checksum,
            timestamp,
        })
    }
}

fn optional_timestamp(t: Option<&str>) -> Result<Option<DateTime<Utc>>, WireError> {
    t.map(|t| {
        parse_timestamp(t).ok_or_else(|| WireError::Malformed(format!("bad timestamp {t:?}")))
    })
    .transpose()
}

/// Kraken's timestamps are `2026-09-25T17:48:26.844359Z`; that exact layout is read directly
/// (it is on every tick), anything else goes through chrono's general RFC 3339 parser.
pub fn parse_timestamp(t: &str) -> Option<DateTime<Utc>> {
    fast_timestamp(t).or_else(|| {
        DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    })
}

fn fast_timestamp(t: &str) -> Option<DateTime<Utc>> {
    let b = t.as_bytes();
    if b.len() < 20
        || b.len() > 30
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[b.len() - 1] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let frac = &b[19..b.len() - 1];
    let nanos = match frac {
        [] => 0,
        [b'.', digits @ ..] if !digits.is_empty() && digits.len() <= 9 => {
            let n = num(20..20 + digits.len())?;
            n * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let date = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let time =
        chrono::NaiveTime::from_hms_nano_opt(num(11..13)?, num(14..16)?, num(17..19)?, nanos)?;
    Some(date.and_time(time).and_utc())
}

/// Parses one text frame. A `book` frame in the live feed's compact layout takes the fast
/// path (`super::fast_book`); everything else, and anything that path does not recognise,
/// the general one.
pub fn parse(text: &str) -> Result<KrakenEvent<'_>, WireError> {
    if text.starts_with(r#"{"channel":"book""#) {
        if let Some(event) = super::fast_book::parse(text) {
            return Ok(event);
        }
    }
    parse_general(text)
}

/// A data frame's items, each checked; a frame of `channel` without data is malformed.
fn items<W, T>(data: Option<Vec<W>>, channel: &str) -> Result<Vec<T>, WireError>
where
    T: TryFrom<W, Error = WireError>,
{
    data.ok_or_else(|| WireError::Malformed(format!("{channel} frame without data")))?
        .into_iter()
        .map(T::try_from)
        .collect()
}

/// Parses one text frame through serde, whatever its layout.
pub(crate) fn parse_general(text: &str) -> Result<KrakenEvent<'_>, WireError> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        return Err(WireError::NotJson);
    }
    let frame: FrameWire<'_> = serde_json::from_str(text).map_err(malformed)?;

    if let Some(channel) = frame.channel.as_deref() {
        match channel {
            "ticker" => {
                let tickers = items(frame.data, "ticker")?;
                let snapshot = frame.kind.as_deref() == Some("snapshot");
                return Ok(KrakenEvent::Ticker { snapshot, tickers });
            }
            "book" => {
                let books = items(frame.data, "book")?;
                let snapshot = frame.kind.as_deref() == Some("snapshot");
                return Ok(KrakenEvent::Book { snapshot, books });
            }
            "status" => {
                let item = frame
                    .data
                    .and_then(|mut d| d.pop())
                    .ok_or_else(|| WireError::Malformed("status frame without data".into()))?;
                let system = item
                    .system
                    .ok_or_else(|| WireError::Malformed("status without system".into()))?;
                let system = SystemStatus::parse(&system).ok_or_else(|| WireError::Unknown {
                    field: "system",
                    value: system.to_string(),
                })?;
                return Ok(KrakenEvent::Status {
                    system,
                    connection_id: item.connection_id.map(RawValue::get),
                });
            }
            "heartbeat" => return Ok(KrakenEvent::Heartbeat),
            _ => {
                return Ok(KrakenEvent::Ignored {
                    channel: frame.channel,
                })
            }
        }
    }

    let Some(method) = frame.method else {
        return Ok(KrakenEvent::Ignored { channel: None });
    };
    if method == "pong" {
        return Ok(KrakenEvent::Pong {
            req_id: req_id(frame.req_id),
        });
    }
    match frame.success {
        Some(false) => Ok(KrakenEvent::RequestFailed {
            symbol: frame.symbol,
            error: frame.error.unwrap_or(Cow::Borrowed("unspecified error")),
            req_id: req_id(frame.req_id),
            method: Some(method),
        }),
        _ if method == "subscribe" => {
            let result: AckResultWire<'_> = match frame.result {
                Some(raw) => serde_json::from_str(raw.get()).map_err(malformed)?,
                None => AckResultWire {
                    channel: None,
                    symbol: None,
                },
            };
            Ok(KrakenEvent::Subscribed {
                channel: result.channel.unwrap_or(Cow::Borrowed("")),
                symbol: result.symbol.or(frame.symbol),
            })
        }
        _ => Ok(KrakenEvent::OtherAck { method }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use testkit::d;

    const FIXTURE: &str = include_str!("../../../tests/fixtures/kraken-v2-frames.txt");

    /// What each captured frame must become, in file order.
    #[derive(Debug, PartialEq)]
    enum Kind {
        Ticker(&'static str, bool),
        Status(SystemStatus),
        Heartbeat,
        Pong,
        Subscribed(&'static str),
        Failed(Option<&'static str>),
        Book,
        OtherAck,
        NotJson,
        Malformed,
    }

    fn kind(r: &Result<KrakenEvent<'_>, WireError>) -> Kind {
        match r {
            Ok(KrakenEvent::Ticker { snapshot, tickers }) => {
                let s: &'static str = Box::leak(tickers[0].symbol.to_string().into_boxed_str());
                Kind::Ticker(s, *snapshot)
            }
            Ok(KrakenEvent::Book { .. }) => Kind::Book,
            Ok(KrakenEvent::Status { system, .. }) => Kind::Status(*system),
            Ok(KrakenEvent::Heartbeat) => Kind::Heartbeat,
            Ok(KrakenEvent::Pong { .. }) => Kind::Pong,
            Ok(KrakenEvent::Subscribed { symbol, .. }) => Kind::Subscribed(Box::leak(
                symbol
                    .clone()
                    .unwrap_or_default()
                    .to_string()
                    .into_boxed_str(),
            )),
            Ok(KrakenEvent::RequestFailed { symbol, .. }) => Kind::Failed(
                symbol
                    .as_ref()
                    .map(|s| &*Box::leak(s.to_string().into_boxed_str())),
            ),
            Ok(KrakenEvent::OtherAck { .. }) => Kind::OtherAck,
            Ok(KrakenEvent::Ignored { .. }) => panic!("no fixture frame should be ignored"),
            Err(WireError::NotJson) => Kind::NotJson,
            Err(_) => Kind::Malformed,
        }
    }

    #[test]
    fn every_captured_frame_is_understood() {
        use Kind::*;
        use SystemStatus::*;
        let expected = [
            /* TC0 */ Subscribed("ALGO/USD"),
            /* TC1 */ Ticker("ALGO/USD", true),
            /* TC2 */ Ticker("ALGO/USD", false),
            /* TC3 unsubscribe ack */ OtherAck,
            /* TC4 */ Status(Online),
            /* TC5 */ Pong,
            /* TC6 */ Pong,
            /* TC7 */ Subscribed("BTC/USD"),
            /* TC8 */ Heartbeat,
            /* TC9 */ Status(Online),
            /* TC10 */ NotJson,
            /* TC11 ping error */ Failed(None),
            /* TC12 */ Failed(None),
            /* TC13 no timestamp */ Ticker("BTC/USD", true),
            /* TC14 */ Ticker("BTC/USD", false),
            /* TC15 */ Status(Online),
            /* TC16 no connection_id */ Status(Maintenance),
            /* TC17 */ Failed(Some("WWW/USD")),
            /* TC18 */ Status(Online),
            /* TC19 upcoming_maintenance */ Status(Online),
            /* TC20 */ Failed(Some("XBT/USD")),
            /* TC21 private on public */ Failed(None),
            /* TC22 trades field */ Ticker("BTC/USD", false),
            /* TC23 */ Status(Online),
            /* TC24 */ Subscribed("USDT/USD"),
            /* TC25 */ Failed(Some("NOPE/USD")),
            /* TC26 */ Ticker("USDT/USD", true),
            /* TC27 */ Status(Online),
            /* TC28 */ Failed(Some("XBT/USD")),
            /* TC29 */ Failed(Some("BTC/USD")),
            /* TC30 */ Failed(Some("BTC/USD")),
            /* TC31 truncated capture */ Malformed,
        ];
        let lines: Vec<&str> = FIXTURE.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(
            lines.len(),
            expected.len(),
            "fixture and table differ in length"
        );
        for (i, (line, want)) in lines.iter().zip(expected).enumerate() {
            assert_eq!(kind(&parse(line)), want, "TC{i}: {line}");
        }
    }

    #[test]
    fn prices_keep_exact_precision() {
        let lines: Vec<&str> = FIXTURE.lines().collect();
        // TC1: ALGO snapshot with timestamp.
        let KrakenEvent::Ticker { tickers, .. } = parse(lines[1]).unwrap() else {
            panic!()
        };
        assert_eq!(tickers[0].bid, d("0.10025"));
        assert_eq!(tickers[0].ask.to_string(), "0.10036");
        assert_eq!(tickers[0].last, Some(d("0.10035")));
        assert_eq!(
            tickers[0].timestamp.unwrap().to_rfc3339(),
            "2023-09-25T09:04:31.742648+00:00"
        );
        // TC13: no timestamp at all.
        let KrakenEvent::Ticker { tickers, .. } = parse(lines[13]).unwrap() else {
            panic!()
        };
        assert_eq!(tickers[0].bid.to_string(), "65972.8");
        assert_eq!(tickers[0].timestamp, None);
        // TC26: trailing zeros survive.
        let KrakenEvent::Ticker { tickers, .. } = parse(lines[26]).unwrap() else {
            panic!()
        };
        assert_eq!(tickers[0].bid.to_string(), "0.99980");
    }

    #[test]
    fn huge_connection_ids_stay_exact() {
        let lines: Vec<&str> = FIXTURE.lines().collect();
        let KrakenEvent::Status { connection_id, .. } = parse(lines[15]).unwrap() else {
            panic!()
        };
        assert_eq!(connection_id, Some("18266300427528990701"));
        let KrakenEvent::Status { connection_id, .. } = parse(lines[16]).unwrap() else {
            panic!()
        };
        assert_eq!(connection_id, None);
    }

    #[test]
    fn hostile_frames_are_errors_not_panics() {
        for text in [
            "",
            "   ",
            "[]",
            "null",
            "{",
            "{}",
            r#"{"channel":"ticker"}"#,
            r#"{"channel":"ticker","data":{}}"#,
            r#"{"channel":"ticker","data":[{"symbol":"BTC/USD","bid":"x","ask":1}]}"#,
            r#"{"channel":"ticker","data":[{"symbol":"BTC/USD","bid":1e999999,"ask":1}]}"#,
            r#"{"channel":"ticker","data":[{"symbol":"BTC/USD","bid":1,"ask":2,"timestamp":"yesterday"}]}"#,
            r#"{"channel":"status","data":[]}"#,
            r#"{"channel":"status","data":[{"system":"on fire"}]}"#,
            r#"{"channel":7}"#,
            r#"{"channel":"book","data":[{"symbol":"BTC/USD","checksum":1,"bids":[{"price":1e999999,"qty":1}]}]}"#,
            "\u{0}\u{1}garbage",
        ] {
            let _ = parse(text); // must not panic
        }
        assert!(parse(r#"{"channel":"status","data":[{"system":"on fire"}]}"#).is_err());
        assert_eq!(
            parse(r#"{"channel":"trade","data":[]}"#).unwrap(),
            KrakenEvent::Ignored {
                channel: Some(Cow::Borrowed("trade"))
            }
        );
        for bad_book in [
            r#"{"channel":"book","type":"update"}"#,
            r#"{"channel":"book","data":[{"symbol":"BTC/USD","bids":[],"asks":[]}]}"#,
            r#"{"channel":"book","data":[{"symbol":"BTC/USD","checksum":-1}]}"#,
            r#"{"channel":"book","data":[{"symbol":"BTC/USD","checksum":4294967296}]}"#,
            r#"{"channel":"book","data":[{"symbol":"BTC/USD","checksum":1,"bids":[{"price":"x","qty":1}]}]}"#,
            r#"{"channel":"book","data":[{"symbol":"BTC/USD","checksum":1,"asks":[{"price":1}]}]}"#,
        ] {
            assert!(parse(bad_book).is_err(), "{bad_book}");
        }
    }

    #[test]
    fn escaped_symbols_still_parse() {
        let text = r#"{"channel":"ticker","type":"update","data":[{"symbol":"BTC\/USD","bid":1.5,"ask":1.6}]}"#;
        let KrakenEvent::Ticker { tickers, .. } = parse(text).unwrap() else {
            panic!()
        };
        assert_eq!(tickers[0].symbol, "BTC/USD");
        assert_eq!(tickers[0].last, None);
    }

    #[test]
    fn timestamps_fast_path_agrees_with_chrono() {
        for t in [
            "2026-09-25T17:48:26.844359Z",
            "2023-09-25T09:04:31.742648Z",
            "2024-02-29T23:59:59Z",
            "2024-02-29T23:59:59.1Z",
            "2024-02-29T23:59:59.123456789Z",
        ] {
            let slow = DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc);
            assert_eq!(fast_timestamp(t), Some(slow), "{t}");
        }
        // Offsets are left to chrono; nonsense is refused by both.
        assert!(fast_timestamp("2024-02-29T23:59:59+01:00").is_none());
        assert!(parse_timestamp("2024-02-29T23:59:59+01:00").is_some());
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00.Z",
            "yesterday",
        ] {
            assert!(parse_timestamp(bad).is_none(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in "\\PC*") {
            let _ = parse(&s);
        }

        #[test]
        fn any_price_text_round_trips(m in 1i64..i64::MAX, scale in 0u32..=12) {
            let price = Decimal::new(m, scale);
            let text = format!(
                r#"{{"channel":"ticker","type":"update","data":[{{"symbol":"X/Y","bid":{price},"ask":{price}}}]}}"#
            );
            let KrakenEvent::Ticker { tickers, .. } = parse(&text).unwrap() else { panic!() };
            proptest::prop_assert_eq!(tickers[0].bid.to_string(), price.to_string());
        }
    }

    /// The remaining venue samples: a live `status`, a subscribe ack and a ticker snapshot.
    #[test]
    fn the_status_ack_and_ticker_samples_parse_exactly() {
        use crate::venues::fixture;
        let status = fixture("kraken-status-update-captured.json");
        assert_eq!(
            parse(&status).unwrap(),
            KrakenEvent::Status {
                system: SystemStatus::Online,
                connection_id: Some("14949390454975033707"),
            }
        );
        let ack = fixture("kraken-subscribe-response.json");
        assert!(matches!(
            parse(&ack).unwrap(),
            KrakenEvent::Subscribed { symbol: Some(s), channel } if s == "BTC/USD" && channel == "ticker"
        ));
        let ticker = fixture("kraken-ticker-snapshot.json");
        let KrakenEvent::Ticker { snapshot, tickers } = parse(&ticker).unwrap() else {
            panic!("not a ticker")
        };
        assert!(snapshot);
        assert_eq!(tickers[0].bid.to_string(), "105944.20");
        assert_eq!(tickers[0].ask.to_string(), "105944.30");
        assert_eq!(
            tickers[0].last.map(|l| l.to_string()).as_deref(),
            Some("105899.40")
        );
    }
}
