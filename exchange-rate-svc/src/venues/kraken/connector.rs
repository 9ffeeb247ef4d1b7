//! Kraken v2 as a [`Protocol`] on the shared session loop (`venues/session.rs`,
//! ARCHITECTURE.md §3).
//!
//! One session = connect, one `subscribe` for all pairs (`ticker`, `event_trigger: bbo`,
//! `snapshot: true`) and one for `book` at `BOOK_DEPTH`, then read frames until something
//! ends it:
//! - no sign of the subscription for `liveness` (default 5 s): no ticker data, heartbeat,
//!   status or ack. Pongs do not count: they prove the transport, not the subscription, and a
//!   server whose subscription died can answer pings forever (the silent stall);
//! - the server closes or the socket errors;
//! - no subscribe ack at all within `ack_timeout`;
//! - shutdown (a close frame is sent).
//!
//! Between sessions the shared loop waits a full-jitter exponential backoff (here at least
//! `MAINTENANCE_RECONNECT_MS` while Kraken reports `maintenance`), reset only after a session
//! that delivered data for at least `liveness`. Kraken restores nothing on a new connection,
//! so every session subscribes again. We send an application-level `ping` regularly (Kraken
//! expects some traffic from clients), but only the subscription's own frames keep the
//! session alive. A book whose checksum fails is resubscribed alone (`unsubscribe` then
//! `subscribe`), at once the first times, then at most every `BOOK_RESUBSCRIBE_BACKOFF_MS`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::book::Venue;
use common::bus::FeedState;
use common::Pair;
use tokio::task::JoinSet;
use tokio::time::{sleep, Instant};

use super::book::{KrakenBook, Precision};
use super::wire::{self, BookData, KrakenEvent, SystemStatus};
use crate::connector::ExchangeRest;
use crate::feed::{Feed, Tick};
use crate::venues::session::{Protocol, Step};

/// Settings of the connection loop.
#[derive(Debug, Clone)]
pub struct KrakenSettings {
    pub ws_url: String,
    pub pairs: Vec<Pair>,
    pub ack_timeout: Duration,
    /// Minimum wait between attempts while the exchange reports maintenance.
    pub maintenance_delay: Duration,
    /// Levels per side of each pair's `book` subscription (one of [`super::book::DEPTHS`]).
    pub book_depth: usize,
    /// How long a pair whose book keeps failing its checksum waits between resubscribes.
    pub book_resubscribe_backoff: Duration,
    /// The `ticker` channel's best bid/ask are the feed's rates (`RATES_FROM=ticker`); when
    /// false the rates come from the consolidated books and `ticker` only proves liveness.
    pub ticker_rates: bool,
}

pub struct KrakenConnector {
    settings: KrakenSettings,
    by_symbol: HashMap<String, Pair>,
    rest: Option<Arc<dyn ExchangeRest>>,
}

impl KrakenConnector {
    pub fn new(settings: KrakenSettings) -> Self {
        let by_symbol = settings
            .pairs
            .iter()
            .map(|p| (p.as_str().to_string(), p.clone()))
            .collect();
        KrakenConnector {
            settings,
            by_symbol,
            rest: None,
        }
    }

    /// With Kraken's REST API (`AssetPairs`, `Ticker`) for metadata and the cross-check.
    pub fn with_rest(mut self, rest: Arc<dyn ExchangeRest>) -> Self {
        self.rest = Some(rest);
        self
    }

    /// The `book` request for `symbols` (`subscribe` with a snapshot, or `unsubscribe`).
    pub fn book_request(&self, method: &str, symbols: &[&str], req_id: u64) -> String {
        let mut params = serde_json::json!({
            "channel": "book",
            "symbol": symbols,
            "depth": self.settings.book_depth,
        });
        if method == "subscribe" {
            params["snapshot"] = serde_json::Value::Bool(true);
        }
        serde_json::json!({"method": method, "params": params, "req_id": req_id}).to_string()
    }

    /// The subscribe request: all pairs in one message.
    pub fn subscribe_request(&self, req_id: u64) -> String {
        let symbols: Vec<&str> = self.settings.pairs.iter().map(Pair::as_str).collect();
        serde_json::json!({
            "method": "subscribe",
            "params": {
                "channel": "ticker",
                "symbol": symbols,
                "event_trigger": "bbo",
                "snapshot": true
            },
            "req_id": req_id
        })
        .to_string()
    }
}

/// One session's state: its books and the next request id.
pub struct KrakenSession {
    books: SessionBooks,
    req_id: u64,
}

/// What comes back into a session besides frames.
pub enum KrakenSide {
    /// `ack_timeout` has passed since the subscribe.
    AckDeadline,
}

impl Protocol for KrakenConnector {
    type Session = KrakenSession;
    type Side = KrakenSide;

    fn venue(&self) -> Venue {
        Venue::Kraken
    }

    fn url(&self) -> &str {
        &self.settings.ws_url
    }

    fn source(&self) -> &'static str {
        "kraken"
    }

    fn rest(&self) -> Option<Arc<dyn ExchangeRest>> {
        self.rest.clone()
    }

    fn connecting(&self, feed: &Feed) {
        if feed.connection_state() != FeedState::Down {
            feed.connecting();
        }
    }

    fn open(&self, feed: &Feed, side: &mut JoinSet<KrakenSide>) -> (KrakenSession, Vec<String>) {
        feed.connected();
        feed.subscribing();
        let symbols: Vec<&str> = self.settings.pairs.iter().map(Pair::as_str).collect();
        let requests = vec![
            self.subscribe_request(1),
            self.book_request("subscribe", &symbols, 2),
        ];
        let ack_timeout = self.settings.ack_timeout;
        side.spawn(async move {
            sleep(ack_timeout).await;
            KrakenSide::AckDeadline
        });
        let books = SessionBooks::new(
            feed,
            self.settings.book_depth,
            self.settings.book_resubscribe_backoff,
        );
        (KrakenSession { books, req_id: 2 }, requests)
    }

    fn on_text(
        &self,
        session: &mut KrakenSession,
        feed: &Feed,
        text: &str,
        _side: &mut JoinSet<KrakenSide>,
    ) -> Step {
        let handled = self.handle_text(feed, &mut session.books, text);
        Step {
            alive: handled.alive,
            data: handled.ticks,
            send: self.resubscribe_books(session),
            end: None,
        }
    }

    fn on_side(&self, _session: &mut KrakenSession, feed: &Feed, done: KrakenSide) -> Step {
        match done {
            KrakenSide::AckDeadline => {
                let unacked = feed.unacked_pairs();
                if unacked.len() == self.settings.pairs.len() {
                    return Step::end(format!(
                        "no subscribe ack within {} ms",
                        self.settings.ack_timeout.as_millis()
                    ));
                }
                for pair in unacked {
                    tracing::warn!(%pair, "no subscribe ack for pair; it stays silent");
                }
                Step::default()
            }
        }
    }

    /// Kraken expects some traffic from clients; a pong proves only the transport, so it does
    /// not count as alive.
    fn keepalive(&self, session: &mut KrakenSession) -> Option<String> {
        session.req_id += 1;
        Some(format!(
            r#"{{"method":"ping","req_id":{}}}"#,
            session.req_id
        ))
    }

    fn reconnect_floor(&self, feed: &Feed) -> Duration {
        if feed.connection_state() == FeedState::Maintenance {
            self.settings.maintenance_delay
        } else {
            Duration::ZERO
        }
    }

    fn ended(&self, feed: &Feed, reason: &str) {
        feed.disconnected(reason);
    }
}

impl KrakenConnector {
    /// The books that failed their checksum and are due: `unsubscribe` then `subscribe` for
    /// those symbols, so Kraken sends each a new snapshot.
    fn resubscribe_books(&self, session: &mut KrakenSession) -> Vec<String> {
        let pairs = session.books.due_resubscribes(Instant::now());
        if pairs.is_empty() {
            return Vec::new();
        }
        let symbols: Vec<&str> = pairs.iter().map(Pair::as_str).collect();
        ["unsubscribe", "subscribe"]
            .into_iter()
            .map(|method| {
                session.req_id += 1;
                self.book_request(method, &symbols, session.req_id)
            })
            .collect()
    }

    /// Translates one wire ticker into the normalized [`Tick`]; `None` for a symbol we did not
    /// subscribe to.
    pub fn normalize(&self, t: wire::Ticker<'_>, received_at: DateTime<Utc>) -> Option<Tick> {
        let pair = self.by_symbol.get(t.symbol.as_ref())?;
        Some(Tick {
            pair: pair.clone(),
            bid: t.bid,
            ask: t.ask,
            last: t.last,
            exchange_ts: t.timestamp,
            received_at,
            venues: Vec::new(),
        })
    }

    /// Handles one text frame.
    fn handle_text(&self, feed: &Feed, books: &mut SessionBooks, text: &str) -> Handled {
        let event = match wire::parse(text) {
            Ok(e) => e,
            Err(e) => {
                metrics::counter!("rategate_feed_bad_frames_total").increment(1);
                let head: String = text.chars().take(120).collect();
                tracing::warn!(error = %e, frame = %head, "unusable frame from kraken");
                return Handled::default();
            }
        };
        let alive = event.proves_subscription();
        match event {
            KrakenEvent::Ticker { .. } if !self.settings.ticker_rates => {
                return Handled { ticks: true, alive };
            }
            KrakenEvent::Ticker { tickers, .. } => {
                let received_at = Utc::now();
                for t in tickers {
                    match self.normalize(t, received_at) {
                        Some(tick) => {
                            let _ = feed.tick(tick);
                        }
                        None => tracing::debug!("ticker for a pair we did not ask for"),
                    }
                }
                return Handled { ticks: true, alive };
            }
            KrakenEvent::Status {
                system,
                connection_id,
            } => {
                let state = match system {
                    SystemStatus::Online => FeedState::Online,
                    SystemStatus::Maintenance => FeedState::Maintenance,
                    SystemStatus::CancelOnly => FeedState::CancelOnly,
                    SystemStatus::PostOnly => FeedState::PostOnly,
                };
                feed.exchange_state(state, connection_id);
                feed.books().system(Venue::Kraken, state);
            }
            KrakenEvent::Subscribed { symbol, channel } => {
                match symbol.as_deref().and_then(|s| self.by_symbol.get(s)) {
                    Some(pair) if channel == "ticker" || channel.is_empty() => {
                        feed.pair_acked(pair)
                    }
                    _ => tracing::debug!(?symbol, %channel, "ack for something we did not ask for"),
                }
            }
            KrakenEvent::RequestFailed {
                method,
                symbol,
                error,
                ..
            } => match symbol.as_deref().and_then(|s| self.by_symbol.get(s)) {
                // Subscribed already (e.g. a duplicate request): the subscription exists.
                Some(pair) if error.contains("Already subscribed") => feed.pair_acked(pair),
                Some(pair) => feed.pair_rejected(pair, &error),
                None => feed.request_error(&format!(
                    "{}: {error}",
                    method.as_deref().unwrap_or("request")
                )),
            },
            KrakenEvent::Heartbeat | KrakenEvent::Pong { .. } | KrakenEvent::OtherAck { .. } => {}
            KrakenEvent::Book {
                snapshot,
                books: data,
            } => {
                for d in &data {
                    match self.by_symbol.get(d.symbol.as_ref()) {
                        Some(pair) => books.apply(feed, pair, d, snapshot),
                        None => tracing::debug!("book for a pair we did not ask for"),
                    }
                }
            }
            KrakenEvent::Ignored { channel } => {
                tracing::debug!(?channel, "ignored frame");
            }
        }
        Handled {
            ticks: false,
            alive,
        }
    }
}

/// The books of one session, one per pair, from its `book` snapshot on.
struct SessionBooks {
    depth: usize,
    backoff: Duration,
    precision: HashMap<Pair, Precision>,
    books: HashMap<Pair, KrakenBook>,
    /// Pairs whose book failed its checksum, to resubscribe, and from when.
    resubscribe: Vec<(Pair, Instant)>,
}

impl SessionBooks {
    fn new(feed: &Feed, depth: usize, backoff: Duration) -> Self {
        // The pair's precision from its metadata (AssetPairs, or the fallbacks).
        let precision = feed
            .meta()
            .into_iter()
            .map(|m| {
                let p = Precision {
                    price: common::decimal::places_of(m.price_tick),
                    qty: common::decimal::places_of(m.amount_step),
                };
                (m.pair, p)
            })
            .collect();
        SessionBooks {
            depth,
            backoff,
            precision,
            books: HashMap::new(),
            resubscribe: Vec::new(),
        }
    }

    /// Applies one pair's book message; a mismatch drops the book and asks for a new
    /// snapshot. Updates before the snapshot (after a resubscribe) are ignored.
    fn apply(&mut self, feed: &Feed, pair: &Pair, data: &BookData<'_>, snapshot: bool) {
        if snapshot {
            let book = KrakenBook::new(self.depth, self.precision.get(pair).copied());
            self.books.insert(pair.clone(), book);
        }
        let Some(book) = self.books.get_mut(pair) else {
            return;
        };
        match book.apply(data, snapshot) {
            Ok(()) => feed.verified_book(Venue::Kraken, pair, book.book(), snapshot),
            Err(mismatch) => {
                self.books.remove(pair);
                let in_a_row = feed.book_check_failed(Venue::Kraken, pair);
                tracing::warn!(%pair, %mismatch, in_a_row, "kraken book checksum mismatch: resubscribing");
                // At once the first times; a pair that keeps failing is retried at most every
                // `book_resubscribe_backoff`, so a systematic mismatch cannot flood Kraken
                // with subscribe requests.
                let due = if in_a_row >= crate::books::UNHEALTHY_AFTER {
                    Instant::now() + self.backoff
                } else {
                    Instant::now()
                };
                if !self.resubscribe.iter().any(|(p, _)| p == pair) {
                    self.resubscribe.push((pair.clone(), due));
                }
            }
        }
    }
}

impl SessionBooks {
    /// The pairs whose resubscribe is due at `now`, taken off the list.
    fn due_resubscribes(&mut self, now: Instant) -> Vec<Pair> {
        let mut due = Vec::new();
        self.resubscribe.retain(|(pair, at)| {
            let ready = *at <= now;
            if ready {
                due.push(pair.clone());
            }
            !ready
        });
        due
    }
}

/// What one text frame told the session loop.
#[derive(Debug, Default, Clone, Copy)]
struct Handled {
    /// It carried ticks.
    ticks: bool,
    /// It proves the subscription is alive (resets the liveness deadline).
    alive: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_subscribe_for_all_pairs_with_bbo_and_snapshot() {
        let c = KrakenConnector::new(KrakenSettings {
            ws_url: "ws://127.0.0.1:1/v2".into(),
            pairs: Pair::parse_list("BTC/USD,ETH/USD").unwrap(),
            ack_timeout: Duration::from_secs(10),
            maintenance_delay: Duration::from_secs(5),
            book_depth: 25,
            book_resubscribe_backoff: Duration::from_secs(10),
            ticker_rates: true,
        });
        let req: serde_json::Value = serde_json::from_str(&c.subscribe_request(7)).unwrap();
        assert_eq!(
            req,
            serde_json::json!({"method":"subscribe","req_id":7,"params":{
                "channel":"ticker","symbol":["BTC/USD","ETH/USD"],"event_trigger":"bbo","snapshot":true}})
        );
    }
}
