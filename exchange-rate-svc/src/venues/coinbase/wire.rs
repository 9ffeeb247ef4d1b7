//! Coinbase Advanced Trade WebSocket frames (`level2` tagged `l2_data`, `heartbeats`,
//! `subscriptions`, errors) and their translation into [`CoinbaseEvent`].
//!
//! Every frame of a connection carries `sequence_num`, rising by one per message across all
//! channels; [`Sequence`] turns a gap into an error so the session reconnects and takes a new
//! snapshot. Prices and quantities are JSON strings, parsed exactly.

use std::borrow::Cow;

use common::book::Side;
use common::Pair;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::venues::number;
pub use crate::venues::WireError;

/// The product id of a pair: `BTC/USD` ↔ `BTC-USD`.
pub fn product_id(pair: &Pair) -> String {
    format!("{}-{}", pair.base(), pair.quote())
}

/// One `level2` event for one product: `new_quantity` is absolute, `"0"` deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L2Event<'a> {
    pub snapshot: bool,
    pub product_id: Cow<'a, str>,
    pub updates: Vec<(Side, Decimal, Decimal)>,
}

/// What a frame means to us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoinbaseEvent<'a> {
    L2 {
        sequence_num: u64,
        events: Vec<L2Event<'a>>,
    },
    Heartbeat {
        sequence_num: u64,
    },
    /// The channels and products the connection is subscribed to now.
    Subscriptions {
        sequence_num: u64,
        level2: Vec<Cow<'a, str>>,
    },
    /// `{"type":"error","message":"..."}`
    Error {
        message: Cow<'a, str>,
    },
    /// Valid JSON on a channel we do not use.
    Ignored {
        sequence_num: Option<u64>,
        channel: Option<Cow<'a, str>>,
    },
}

impl CoinbaseEvent<'_> {
    /// The frame's `sequence_num`, when it has one (errors do not).
    pub fn sequence_num(&self) -> Option<u64> {
        match self {
            CoinbaseEvent::L2 { sequence_num, .. }
            | CoinbaseEvent::Heartbeat { sequence_num }
            | CoinbaseEvent::Subscriptions { sequence_num, .. } => Some(*sequence_num),
            CoinbaseEvent::Ignored { sequence_num, .. } => *sequence_num,
            CoinbaseEvent::Error { .. } => None,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FrameWire<'a> {
    #[serde(borrow)]
    channel: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
    sequence_num: Option<u64>,
    #[serde(borrow)]
    events: Vec<EventWire<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EventWire<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    product_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    updates: Vec<UpdateWire<'a>>,
    #[serde(borrow)]
    subscriptions: Option<SubscriptionsWire<'a>>,
}

#[derive(Deserialize)]
struct UpdateWire<'a> {
    #[serde(borrow)]
    side: Cow<'a, str>,
    #[serde(borrow)]
    price_level: Cow<'a, str>,
    #[serde(borrow)]
    new_quantity: Cow<'a, str>,
}

#[derive(Deserialize)]
struct SubscriptionsWire<'a> {
    #[serde(borrow, default)]
    level2: Vec<Cow<'a, str>>,
}

impl<'a> TryFrom<EventWire<'a>> for L2Event<'a> {
    type Error = WireError;
    fn try_from(e: EventWire<'a>) -> Result<Self, WireError> {
        let updates = e
            .updates
            .iter()
            .map(|u| {
                let side = match u.side.as_ref() {
                    "bid" => Side::Bid,
                    "offer" | "ask" => Side::Ask,
                    other => {
                        return Err(WireError::Unknown {
                            field: "side",
                            value: other.to_string(),
                        })
                    }
                };
                Ok((
                    side,
                    number("price_level", &u.price_level)?,
                    number("new_quantity", &u.new_quantity)?,
                ))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(L2Event {
            snapshot: e.kind.as_deref() == Some("snapshot"),
            product_id: e
                .product_id
                .ok_or_else(|| WireError::Malformed("level2 event without product_id".into()))?,
            updates,
        })
    }
}

/// Parses one text frame.
pub fn parse(text: &str) -> Result<CoinbaseEvent<'_>, WireError> {
    if !text.trim_start().starts_with('{') {
        return Err(WireError::NotJson);
    }
    let frame: FrameWire<'_> =
        serde_json::from_str(text).map_err(|e| WireError::Malformed(e.to_string()))?;
    if frame.kind.as_deref() == Some("error") {
        return Ok(CoinbaseEvent::Error {
            message: frame.message.unwrap_or(Cow::Borrowed("unspecified error")),
        });
    }
    let sequence = || {
        frame
            .sequence_num
            .ok_or_else(|| WireError::Malformed("frame without sequence_num".into()))
    };
    match frame.channel.as_deref() {
        Some("l2_data") => Ok(CoinbaseEvent::L2 {
            sequence_num: sequence()?,
            events: frame
                .events
                .into_iter()
                .map(L2Event::try_from)
                .collect::<Result<_, _>>()?,
        }),
        Some("heartbeats") => Ok(CoinbaseEvent::Heartbeat {
            sequence_num: sequence()?,
        }),
        Some("subscriptions") => Ok(CoinbaseEvent::Subscriptions {
            sequence_num: sequence()?,
            level2: frame
                .events
                .into_iter()
                .filter_map(|e| e.subscriptions)
                .flat_map(|s| s.level2)
                .collect(),
        }),
        _ => Ok(CoinbaseEvent::Ignored {
            sequence_num: frame.sequence_num,
            channel: frame.channel,
        }),
    }
}

/// A gap in a connection's `sequence_num`: messages were lost, so every book of the
/// connection is suspect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sequence gap: expected {expected}, got {got}")]
pub struct SequenceGap {
    pub expected: u64,
    pub got: u64,
}

/// The per-connection `sequence_num` check: the first message sets it, each next one must be
/// one more.
#[derive(Debug, Clone, Default)]
pub struct Sequence {
    next: Option<u64>,
}

impl Sequence {
    pub fn check(&mut self, got: u64) -> Result<(), SequenceGap> {
        let result = match self.next {
            Some(expected) if expected != got => Err(SequenceGap { expected, got }),
            _ => Ok(()),
        };
        self.next = got.checked_add(1);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venues::fixture;

    use testkit::d;

    #[test]
    fn level2_snapshots_and_updates_parse_exactly() {
        let text = fixture("coinbase-level2-snapshot.json");
        let CoinbaseEvent::L2 {
            sequence_num,
            events,
        } = parse(&text).unwrap()
        else {
            panic!("not l2")
        };
        assert_eq!(sequence_num, 0);
        assert!(events[0].snapshot);
        assert_eq!(events[0].product_id, "BTC-USD");
        assert_eq!(
            events[0].updates[0],
            (Side::Bid, d("68900.00"), d("1.50000000"))
        );
        assert_eq!(events[0].updates[3].0, Side::Ask);
        assert_eq!(events[0].updates[3].1.to_string(), "68901.00");

        let text = fixture("coinbase-level2-update.json");
        let CoinbaseEvent::L2 { events, .. } = parse(&text).unwrap() else {
            panic!("not l2")
        };
        assert!(!events[0].snapshot);
        assert_eq!(
            events[0].updates[1],
            (Side::Ask, d("68901.00"), Decimal::ZERO)
        );

        let text = fixture("coinbase-level2-snapshot-captured.json");
        let CoinbaseEvent::L2 { events, .. } = parse(&text).unwrap() else {
            panic!("not l2")
        };
        assert_eq!(events[0].product_id, "BTC-PERP-INTX");
        assert_eq!(events[0].updates[3], (Side::Ask, d("79944"), d("0.048")));
    }

    #[test]
    fn acks_heartbeats_and_errors_parse() {
        let ack = fixture("coinbase-subscriptions-heartbeats-ack-captured.json");
        assert_eq!(
            parse(&ack).unwrap(),
            CoinbaseEvent::Subscriptions {
                sequence_num: 2,
                level2: vec!["BTC-PERP-INTX".into(), "ETH-PERP-INTX".into()]
            }
        );
        for name in [
            "coinbase-subscriptions-level2-ack-captured.json",
            "coinbase-subscriptions-response.json",
        ] {
            let text = fixture(name);
            assert!(matches!(
                parse(&text).unwrap(),
                CoinbaseEvent::Subscriptions { .. }
            ));
        }
        for (name, seq) in [
            ("coinbase-heartbeats-event-captured.json", 3),
            ("coinbase-heartbeats-event.json", 0),
        ] {
            let text = fixture(name);
            assert_eq!(
                parse(&text).unwrap(),
                CoinbaseEvent::Heartbeat { sequence_num: seq }
            );
        }
        let text = fixture("coinbase-error-captured.json");
        assert_eq!(
            parse(&text).unwrap(),
            CoinbaseEvent::Error {
                message: "authentication failure".into()
            }
        );
        let text = fixture("coinbase-ticker-snapshot.json");
        assert_eq!(parse(&text).unwrap().sequence_num(), Some(12));
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        assert_eq!(parse("CloudFlare restarting"), Err(WireError::NotJson));
        assert!(matches!(parse("{"), Err(WireError::Malformed(_))));
        let bad_side = r#"{"channel":"l2_data","sequence_num":1,"events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"middle","price_level":"1","new_quantity":"1"}]}]}"#;
        assert_eq!(
            parse(bad_side),
            Err(WireError::Unknown {
                field: "side",
                value: "middle".into()
            })
        );
        let bad_number = bad_side
            .replace("middle", "bid")
            .replace(r#""price_level":"1""#, r#""price_level":"1x""#);
        assert!(matches!(
            parse(&bad_number),
            Err(WireError::BadNumber {
                field: "price_level",
                ..
            })
        ));
    }

    #[test]
    fn a_skipped_sequence_number_is_a_gap() {
        let mut seq = Sequence::default();
        assert_eq!(seq.check(1), Ok(()));
        assert_eq!(seq.check(2), Ok(()));
        assert_eq!(
            seq.check(4),
            Err(SequenceGap {
                expected: 3,
                got: 4
            })
        );
        assert_eq!(seq.check(5), Ok(()));
        assert_eq!(product_id(&Pair::parse("BTC/USD").unwrap()), "BTC-USD");
    }
}
