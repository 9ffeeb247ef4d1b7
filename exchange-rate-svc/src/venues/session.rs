//! One session loop for every venue (Kraken, Coinbase, Bitstamp): connect, subscribe, read
//! frames until something ends the session, wait a full-jitter backoff, again
//! (ARCHITECTURE.md §3).
//!
//! A venue supplies only what is its own, as a [`Protocol`]: its URL, the requests that open a
//! session, what a text frame means, and an optional keep-alive request. Everything else is
//! here, once:
//! - liveness comes from the subscription itself: only frames the protocol says prove it
//!   (book data, heartbeats) push the deadline back; a socket that answers pings but sends no
//!   data is ended after `liveness`;
//! - side work a protocol starts (Bitstamp's REST snapshot) runs as a task whose result comes
//!   back into the same loop, so frames keep being read meanwhile;
//! - on any end (close, error, deadline, the protocol's own reason such as a sequence gap) the
//!   venue's books leave the consolidated book at once ([`Feed::venue_down`]) and come back
//!   only with the next session's snapshots;
//! - the backoff resets only after a session that delivered data for a whole `liveness`, so a
//!   server that accepts and drops at once cannot make us storm it; a venue may ask for a
//!   longer wait (Kraken while it reports maintenance).

use std::time::Duration;

use common::book::Venue;
use common::shutdown::Shutdown;
use futures_util::{SinkExt, StreamExt};
use tokio::task::JoinSet;
use tokio::time::{sleep, sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::Message;

use crate::backoff::Backoff;
use crate::connector::{BoxFuture, Connector, ExchangeRest};
use crate::feed::Feed;

/// Settings every session loop shares.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub liveness: Duration,
    /// How long a quiet session waits before sending the venue's keep-alive: well inside
    /// both `liveness` and `VENUE_STALE_MS`, since its answer is what keeps a quiet venue
    /// (Bitstamp has no heartbeats) fresh.
    pub keepalive_every: Duration,
    pub connect_timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

/// What one frame (or one finished side task) asks of the loop.
#[derive(Debug, Default)]
pub struct Step {
    /// It proves the subscription alive.
    pub alive: bool,
    /// It carried data (book levels, ticks): what makes a session count as healthy.
    pub data: bool,
    /// Requests to send now.
    pub send: Vec<String>,
    /// End the session, for this reason.
    pub end: Option<String>,
}

impl Step {
    pub fn alive() -> Step {
        Step {
            alive: true,
            ..Step::default()
        }
    }
    pub fn data() -> Step {
        Step {
            alive: true,
            data: true,
            ..Step::default()
        }
    }
    pub fn end(reason: impl Into<String>) -> Step {
        Step {
            end: Some(reason.into()),
            ..Step::default()
        }
    }
}

/// What makes a venue a venue.
pub trait Protocol: Send + Sync + 'static {
    /// One session's state (its books, its sequence).
    type Session: Send;
    /// The result of a side task (Bitstamp: a pair's REST snapshot).
    type Side: Send + 'static;

    fn venue(&self) -> Venue;
    fn url(&self) -> &str;
    /// The `source` label when this venue alone makes the rate (`kraken` with
    /// `RATES_FROM=ticker`).
    fn source(&self) -> &'static str {
        self.venue().as_str()
    }
    /// The venue's request/response API, if the feed should use it (pair metadata).
    fn rest(&self) -> Option<std::sync::Arc<dyn ExchangeRest>> {
        None
    }
    /// A connection attempt is about to start.
    fn connecting(&self, _feed: &Feed) {}
    /// A new session's state, and the requests that open it; `side` takes any task whose
    /// result should come back into the session (a deadline, a REST snapshot).
    fn open(&self, feed: &Feed, side: &mut JoinSet<Self::Side>) -> (Self::Session, Vec<String>);
    /// The session ended (after its books left the price).
    fn ended(&self, _feed: &Feed, _reason: &str) {}
    /// The least wait before the next session (e.g. while the venue reports maintenance);
    /// asked before [`Protocol::ended`].
    fn reconnect_floor(&self, _feed: &Feed) -> Duration {
        Duration::ZERO
    }
    /// One text frame.
    fn on_text(
        &self,
        session: &mut Self::Session,
        feed: &Feed,
        text: &str,
        side: &mut JoinSet<Self::Side>,
    ) -> Step;
    /// A side task finished.
    fn on_side(&self, _session: &mut Self::Session, _feed: &Feed, _done: Self::Side) -> Step {
        Step::default()
    }
    /// A request to send every `keepalive_every` (a venue that expects traffic, or whose
    /// answer proves the session: Bitstamp).
    fn keepalive(&self, _session: &mut Self::Session) -> Option<String> {
        None
    }
}

/// A venue's [`Connector`]: the shared loop around its [`Protocol`].
pub struct VenueConnector<P: Protocol> {
    protocol: P,
    settings: SessionSettings,
}

impl<P: Protocol> VenueConnector<P> {
    pub fn new(protocol: P, settings: SessionSettings) -> Self {
        VenueConnector { protocol, settings }
    }
}

impl<P: Protocol> Connector for VenueConnector<P> {
    fn source(&self) -> &'static str {
        self.protocol.source()
    }

    fn rest(&self) -> Option<std::sync::Arc<dyn ExchangeRest>> {
        self.protocol.rest()
    }

    fn run(self: Box<Self>, feed: Feed, shutdown: Shutdown) -> BoxFuture {
        Box::pin(async move {
            let venue = self.protocol.venue();
            let mut backoff = Backoff::new(self.settings.backoff_min, self.settings.backoff_max);
            loop {
                let (reason, healthy) = self.session(&feed, &shutdown).await;
                let floor = self.protocol.reconnect_floor(&feed);
                feed.venue_down(venue);
                self.protocol.ended(&feed, &reason);
                if shutdown.is_triggered() {
                    break;
                }
                if healthy {
                    backoff.reset();
                }
                let delay = backoff.next_delay().max(floor);
                tracing::warn!(%venue, %reason, delay_ms = delay.as_millis() as u64, "venue session ended; reconnecting");
                metrics::counter!("rategate_venue_reconnects_total", "venue" => venue.as_str())
                    .increment(1);
                tokio::select! {
                    _ = shutdown.wait() => break,
                    _ = sleep(delay) => {}
                }
            }
        })
    }
}

impl<P: Protocol> VenueConnector<P> {
    /// One session: why it ended, and whether it stayed alive for a whole `liveness`.
    async fn session(&self, feed: &Feed, shutdown: &Shutdown) -> (String, bool) {
        let p = &self.protocol;
        let s = &self.settings;
        p.connecting(feed);
        let connect = tokio::select! {
            _ = shutdown.wait() => return ("shutdown".into(), false),
            r = timeout(s.connect_timeout, tokio_tungstenite::connect_async(p.url())) => r,
        };
        let mut ws = match connect {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(e)) => return (format!("connect failed: {e}"), false),
            Err(_) => return ("connect timed out".into(), false),
        };
        feed.books().link_up(p.venue());
        for pair in feed.pairs() {
            feed.books().expect(p.venue(), &pair);
        }
        let mut side: JoinSet<P::Side> = JoinSet::new();
        let (mut session, requests) = p.open(feed, &mut side);
        for request in requests {
            if let Err(e) = ws.send(Message::text(request)).await {
                return (format!("subscribe send failed: {e}"), false);
            }
        }
        let started = Instant::now();
        let mut data_since: Option<Instant> = None;
        let mut deadline = started + s.liveness;
        let ping_every = s.keepalive_every;
        let mut next_ping = started + ping_every;
        let reason = loop {
            let step = tokio::select! {
                _ = shutdown.wait() => {
                    let _ = ws.close(None).await;
                    break "shutdown".to_string();
                }
                _ = sleep_until(deadline) => {
                    metrics::counter!("rategate_feed_liveness_timeouts_total").increment(1);
                    break format!("no frame from the subscription for {} ms", s.liveness.as_millis());
                }
                _ = sleep_until(next_ping) => {
                    next_ping = Instant::now() + ping_every;
                    match p.keepalive(&mut session) {
                        Some(ping) => Step { send: vec![ping], ..Step::default() },
                        None => Step::default(),
                    }
                }
                Some(done) = side.join_next(), if !side.is_empty() => match done {
                    Ok(done) => p.on_side(&mut session, feed, done),
                    Err(e) => Step::end(format!("side task failed: {e}")),
                },
                frame = ws.next() => match frame {
                    None => break "connection closed".to_string(),
                    Some(Err(e)) => break format!("read failed: {e}"),
                    Some(Ok(Message::Text(text))) => p.on_text(&mut session, feed, text.as_str(), &mut side),
                    Some(Ok(Message::Close(close))) => break format!("server closed: {close:?}"),
                    // tungstenite answers pings itself; nobody sends us binary.
                    Some(Ok(_)) => Step::default(),
                },
            };
            if step.alive {
                deadline = Instant::now() + s.liveness;
                feed.books().alive(p.venue());
            }
            if step.data {
                data_since.get_or_insert_with(Instant::now);
            }
            if let Some(end) = step.end {
                let _ = ws.close(None).await;
                break end;
            }
            let mut failed = None;
            for request in step.send {
                if let Err(e) = ws.send(Message::text(request)).await {
                    failed = Some(format!("send failed: {e}"));
                    break;
                }
            }
            if let Some(failed) = failed {
                break failed;
            }
        };
        side.abort_all();
        let healthy = data_since.is_some_and(|t| t.elapsed() >= s.liveness);
        (reason, healthy)
    }
}

/// Counts and logs a frame a venue sent that we could not read (never a panic).
pub(crate) fn bad_frame(venue: Venue, error: &dyn std::fmt::Display, text: &str) {
    metrics::counter!("rategate_feed_bad_frames_total", "venue" => venue.as_str()).increment(1);
    let head: String = text.chars().take(120).collect();
    tracing::warn!(%venue, %error, frame = %head, "unusable frame");
}
