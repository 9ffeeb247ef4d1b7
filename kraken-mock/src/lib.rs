//! A local Kraken v2 server for tests, demos and load.
//!
//! It speaks the real protocol over a real WebSocket (`/v2`): a `status` frame on connect
//! (with a `connection_id` that may exceed 2^63, as Kraken's do), one ack per subscribed symbol
//! or a per-symbol error (`Currency pair not supported XBT/USD`), a `snapshot` then `update`
//! frames, `heartbeat` every second once subscribed, and `pong` for `ping`. REST
//! `/0/public/AssetPairs` and `/0/public/Ticker` answer with Kraken's v1-style names.
//!
//! Scripted faults, from tests through [`MockKraken`] or over HTTP (`POST /mock/...`):
//! go silent (entirely, or still answering pings), drop every connection abruptly, send garbage, switch system status
//! (e.g. `maintenance`), push an exact ticker or any raw frame.
//!
//! Prices are a random walk per pair at `rate` ticks per second across all pairs (0 = only the
//! frames a test pushes). Frames are built once and fanned out to every connection.

mod frames;
mod rest;
mod server;

use common::sync::lock;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::sim::RandomWalk;
use common::Decimal;
use tokio::sync::{broadcast, watch};

pub use frames::ticker_frame;

/// Settings of a mock server.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Address to bind; port 0 picks a free one.
    pub addr: SocketAddr,
    /// Symbols the mock lists (`BTC/USD`); anything else is "not supported".
    pub pairs: Vec<String>,
    /// Generated ticks per second across all pairs; 0 = only pushed frames.
    pub rate: u64,
    /// Heartbeat interval once subscribed.
    pub heartbeat: Duration,
    /// Fan-out buffer per connection, in frames.
    pub buffer: usize,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            pairs: vec!["BTC/USD".into(), "ETH/USD".into()],
            rate: 0,
            heartbeat: Duration::from_secs(1),
            buffer: 1 << 16,
        }
    }
}

/// How much a silenced mock still says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Silence {
    /// Normal service.
    Off = 0,
    /// Nothing at all: no data, heartbeats, acks or pongs (a dead peer).
    Total = 1,
    /// The subscription is dead (no data, heartbeats or acks) but `ping` is still answered
    /// with `pong`: the transport is fine, the feed is not. The classic silent stall.
    AnswerPings = 2,
}

impl Silence {
    pub(crate) fn from_u8(v: u8) -> Silence {
        match v {
            1 => Silence::Total,
            2 => Silence::AnswerPings,
            _ => Silence::Off,
        }
    }
}

/// One frame for the fan-out: `symbol` set for ticker frames (sent only to subscribers).
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub symbol: Option<Arc<str>>,
    pub text: Arc<str>,
}

pub(crate) struct Shared {
    pub config: MockConfig,
    pub frames: broadcast::Sender<Outgoing>,
    pub walks: Mutex<HashMap<String, RandomWalk>>,
    /// Last (bid, ask) sent per symbol, for snapshots and REST.
    pub last: Mutex<HashMap<String, (Decimal, Decimal)>>,
    pub system: Mutex<String>,
    /// A [`Silence`] as its `u8`.
    pub silence: AtomicU8,
    /// Bumped to drop every open connection.
    pub drop_gen: watch::Sender<u64>,
    pub connections: AtomicU64,
    pub open_connections: AtomicU64,
    pub subscribes: AtomicU64,
    pub pings: AtomicU64,
    pub ticks_generated: AtomicU64,
    pub frames_sent: AtomicU64,
    pub frames_lagged: AtomicU64,
}

/// A running mock; dropping it does not stop it, call [`MockKraken::stop`].
#[derive(Clone)]
pub struct MockKraken {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

/// Counters a test or benchmark can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MockStats {
    pub connections: u64,
    pub open_connections: u64,
    pub subscribes: u64,
    pub pings: u64,
    pub ticks_generated: u64,
    pub frames_sent: u64,
    pub frames_lagged: u64,
}

impl MockKraken {
    pub async fn start(config: MockConfig) -> std::io::Result<MockKraken> {
        let (frames, _) = broadcast::channel(config.buffer.max(16));
        let walks = config
            .pairs
            .iter()
            .map(|s| (s.clone(), RandomWalk::for_symbol(s)))
            .collect::<HashMap<_, _>>();
        let last = walks.iter().map(|(s, w)| (s.clone(), w.quote())).collect();
        let shared = Arc::new(Shared {
            config,
            frames,
            walks: Mutex::new(walks),
            last: Mutex::new(last),
            system: Mutex::new("online".into()),
            silence: AtomicU8::new(Silence::Off as u8),
            drop_gen: watch::channel(0).0,
            connections: AtomicU64::new(0),
            open_connections: AtomicU64::new(0),
            subscribes: AtomicU64::new(0),
            pings: AtomicU64::new(0),
            ticks_generated: AtomicU64::new(0),
            frames_sent: AtomicU64::new(0),
            frames_lagged: AtomicU64::new(0),
        });
        let (stop, stop_rx) = watch::channel(false);
        let addr = server::serve(shared.clone(), stop_rx).await?;
        Ok(MockKraken { addr, shared, stop })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `ws://127.0.0.1:PORT/v2`
    pub fn ws_url(&self) -> String {
        format!("ws://{}/v2", self.addr)
    }
    /// `http://127.0.0.1:PORT` (REST base, like `https://api.kraken.com`)
    pub fn rest_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends a ticker update with exactly these numbers (as JSON number text) to subscribers.
    pub fn push_ticker(&self, symbol: &str, bid: &str, ask: &str) {
        if let (Ok(b), Ok(a)) = (bid.parse::<Decimal>(), ask.parse::<Decimal>()) {
            lock(&self.shared.last).insert(symbol.to_string(), (b, a));
        }
        let text = frames::ticker_text(symbol, bid, ask, false);
        self.push(Some(symbol), text);
    }

    /// Sends any text frame to every connection.
    pub fn push_raw(&self, text: &str) {
        self.push(None, text.to_string());
    }

    fn push(&self, symbol: Option<&str>, text: String) {
        let _ = self.shared.frames.send(Outgoing {
            symbol: symbol.map(Arc::from),
            text: Arc::from(text),
        });
    }

    /// While silent, connections send nothing at all (no data, heartbeats, acks or pongs).
    pub fn set_silent(&self, silent: bool) {
        self.set_silence(if silent { Silence::Total } else { Silence::Off });
    }

    /// Chooses how silent connections are: see [`Silence`].
    pub fn set_silence(&self, silence: Silence) {
        self.shared.silence.store(silence as u8, Ordering::SeqCst);
    }

    /// Drops every open connection without a close frame.
    pub fn drop_connections(&self) {
        self.shared.drop_gen.send_modify(|g| *g += 1);
    }

    /// Sends a non-JSON frame and a truncated JSON frame to every connection.
    pub fn send_garbage(&self) {
        self.push_raw("CloudFlare WebSocket proxy restarting");
        self.push_raw(r#"{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":"#);
    }

    /// Switches the system status (`online`, `maintenance`, `cancel_only`, `post_only`) and
    /// tells every connection, as Kraken's `status` channel does.
    pub fn set_system(&self, system: &str) {
        *lock(&self.shared.system) = system.to_string();
        self.push_raw(&frames::status_text(system, None));
    }

    pub fn stats(&self) -> MockStats {
        let s = &self.shared;
        MockStats {
            connections: s.connections.load(Ordering::Relaxed),
            open_connections: s.open_connections.load(Ordering::Relaxed),
            subscribes: s.subscribes.load(Ordering::Relaxed),
            pings: s.pings.load(Ordering::Relaxed),
            ticks_generated: s.ticks_generated.load(Ordering::Relaxed),
            frames_sent: s.frames_sent.load(Ordering::Relaxed),
            frames_lagged: s.frames_lagged.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting, generating and serving.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
        self.drop_connections();
    }
}
