//! The Kraken v2 connection loop (ARCHITECTURE.md §3).
//!
//! One session = connect, one `subscribe` for all pairs (`ticker`, `event_trigger: bbo`,
//! `snapshot: true`), then read frames until something ends it:
//! - no sign of the subscription for `liveness` (default 5 s): no ticker data, heartbeat,
//!   status or ack. Pongs do not count: they prove the transport, not the subscription, and a
//!   server whose subscription died can answer pings forever (the silent stall);
//! - the server closes or the socket errors;
//! - no subscribe ack at all within `ack_timeout`;
//! - shutdown (a close frame is sent).
//!
//! Between sessions we wait a full-jitter exponential backoff (≥ 5 s while Kraken reports
//! `maintenance`), and the backoff only resets after a session that delivered ticks for at least
//! `liveness`, so a server that accepts and drops at once cannot make us storm it. Kraken
//! restores nothing on a new connection, so every session subscribes again. While idle we still send
//! an application-level `ping` every `liveness / 2` (Kraken expects some traffic from clients),
//! but only the subscription's own frames keep the session alive.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::book::Venue;
use common::bus::FeedState;
use common::shutdown::Shutdown;
use common::Pair;
use futures_util::{SinkExt, StreamExt};
use tokio::time::{sleep, sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::Message;

use super::book::{KrakenBook, Precision};
use super::wire::{self, BookData, KrakenEvent, SystemStatus};
use crate::backoff::Backoff;
use crate::connector::{BoxFuture, Connector, ExchangeRest};
use crate::feed::{Feed, Tick};

/// Settings of the connection loop.
#[derive(Debug, Clone)]
pub struct KrakenSettings {
    pub ws_url: String,
    pub pairs: Vec<Pair>,
    pub liveness: Duration,
    pub ack_timeout: Duration,
    pub connect_timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
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

/// How a session ended.
struct SessionEnd {
    reason: String,
    /// Delivered ticks for at least `liveness`: resets the backoff.
    healthy: bool,
}

impl Connector for KrakenConnector {
    fn source(&self) -> &'static str {
        "kraken"
    }

    fn rest(&self) -> Option<Arc<dyn ExchangeRest>> {
        self.rest.clone()
    }

    fn run(self: Box<Self>, feed: Feed, shutdown: Shutdown) -> BoxFuture {
        Box::pin(async move {
            let mut backoff = Backoff::new(self.settings.backoff_min, self.settings.backoff_max);
            loop {
                let end = self.session(&feed, &shutdown).await;
                let was_maintenance = feed.connection_state() == FeedState::Maintenance;
                feed.disconnected(&end.reason);
                if shutdown.is_triggered() {
                    break;
                }
                if end.healthy {
                    backoff.reset();
                }
                let mut delay = backoff.next_delay();
                if was_maintenance {
                    delay = delay.max(self.settings.maintenance_delay);
                }
                tracing::info!(delay_ms = delay.as_millis() as u64, reason = %end.reason, "kraken reconnect scheduled");
                metrics::counter!("rategate_feed_reconnects_total").increment(1);
                tokio::select! {
                    _ = shutdown.wait() => break,
                    _ = sleep(delay) => {}
                }
            }
        })
    }
}

impl KrakenConnector {
    async fn session(&self, feed: &Feed, shutdown: &Shutdown) -> SessionEnd {
        let s = &self.settings;
        let ended = |reason: String| SessionEnd {
            reason,
            healthy: false,
        };
        if feed.connection_state() != FeedState::Down {
            feed.connecting();
        }
        let connect = tokio::select! {
            _ = shutdown.wait() => return ended("shutdown".into()),
            r = timeout(s.connect_timeout, tokio_tungstenite::connect_async(s.ws_url.as_str())) => r,
        };
        let mut ws = match connect {
            Ok(Ok((ws, _response))) => ws,
            Ok(Err(e)) => return ended(format!("connect failed: {e}")),
            Err(_) => return ended("connect timed out".into()),
        };
        feed.connected();
        feed.books().link_up(Venue::Kraken);
        feed.subscribing();
        let mut req_id: u64 = 1;
        if let Err(e) = ws.send(Message::text(self.subscribe_request(req_id))).await {
            return ended(format!("subscribe send failed: {e}"));
        }
        req_id += 1;
        let symbols: Vec<&str> = s.pairs.iter().map(Pair::as_str).collect();
        let book_subscribe = self.book_request("subscribe", &symbols, req_id);
        if let Err(e) = ws.send(Message::text(book_subscribe)).await {
            return ended(format!("book subscribe send failed: {e}"));
        }
        let mut books = SessionBooks::new(feed, s.book_depth, s.book_resubscribe_backoff);
        for pair in &s.pairs {
            feed.books().expect(Venue::Kraken, pair);
        }

        let started = Instant::now();
        let mut first_tick_at: Option<Instant> = None;
        let mut deadline = Instant::now() + s.liveness;
        let ping_every = s.liveness / 2;
        let mut next_ping = Instant::now() + ping_every;
        let mut ack_deadline = Some(started + s.ack_timeout);
        let healthy = |first: Option<Instant>| first.is_some_and(|t| t.elapsed() >= s.liveness);

        let reason = loop {
            tokio::select! {
                _ = shutdown.wait() => {
                    let _ = ws.close(None).await;
                    break "shutdown".to_string();
                }
                _ = sleep_until(deadline) => {
                    metrics::counter!("rategate_feed_liveness_timeouts_total").increment(1);
                    break format!(
                        "no frame from the subscription for {} ms",
                        s.liveness.as_millis()
                    );
                }
                _ = sleep_until(next_ping) => {
                    req_id += 1;
                    let ping = format!(r#"{{"method":"ping","req_id":{req_id}}}"#);
                    if let Err(e) = ws.send(Message::text(ping)).await {
                        break format!("ping send failed: {e}");
                    }
                    next_ping = Instant::now() + ping_every;
                }
                _ = sleep_until(ack_deadline.unwrap_or(deadline)), if ack_deadline.is_some() => {
                    ack_deadline = None;
                    let unacked = feed.unacked_pairs();
                    if unacked.len() == s.pairs.len() {
                        break format!("no subscribe ack within {} ms", s.ack_timeout.as_millis());
                    }
                    for pair in unacked {
                        tracing::warn!(%pair, "no subscribe ack for pair; it stays silent");
                    }
                }
                frame = ws.next() => {
                    let Some(frame) = frame else { break "connection closed".to_string() };
                    let frame = match frame {
                        Ok(f) => f,
                        Err(e) => break format!("read failed: {e}"),
                    };
                    next_ping = Instant::now() + ping_every;
                    match frame {
                        Message::Text(text) => {
                            let handled = self.handle_text(feed, &mut books, text.as_str());
                            if handled.alive {
                                deadline = Instant::now() + s.liveness;
                                feed.books().alive(Venue::Kraken);
                            }
                            if handled.ticks {
                                first_tick_at.get_or_insert_with(Instant::now);
                            }
                            if let Err(e) = self.resubscribe_books(&mut ws, &mut books, &mut req_id).await {
                                break e;
                            }
                        }
                        Message::Close(close) => {
                            break format!("server closed: {close:?}");
                        }
                        // tungstenite answers pings itself; binary is not part of v2.
                        _ => {}
                    }
                }
            }
        };
        feed.venue_down(Venue::Kraken);
        SessionEnd {
            healthy: healthy(first_tick_at),
            reason,
        }
    }

    /// Resubscribes the books that failed their checksum: `unsubscribe` then `subscribe`
    /// for those symbols, so Kraken sends each a new snapshot.
    async fn resubscribe_books<S>(
        &self,
        ws: &mut S,
        books: &mut SessionBooks,
        req_id: &mut u64,
    ) -> Result<(), String>
    where
        S: futures_util::Sink<Message> + Unpin,
        S::Error: std::fmt::Display,
    {
        let pairs = books.due_resubscribes(Instant::now());
        if pairs.is_empty() {
            return Ok(());
        }
        let symbols: Vec<&str> = pairs.iter().map(Pair::as_str).collect();
        for method in ["unsubscribe", "subscribe"] {
            *req_id += 1;
            let request = self.book_request(method, &symbols, *req_id);
            ws.send(Message::text(request))
                .await
                .map_err(|e| format!("book {method} send failed: {e}"))?;
        }
        Ok(())
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
                let in_a_row = feed.books().checksum_failed(Venue::Kraken, pair);
                feed.venue_book_lost(Some(pair));
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
            liveness: Duration::from_secs(5),
            ack_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
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
