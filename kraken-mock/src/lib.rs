//! A local Kraken v2 server for tests, demos and load; and mock Coinbase and Bitstamp book
//! feeds ([`MockVenue`]), so the feed's three venues can all be tested without internet.
//!
//! It speaks the real protocol over a real WebSocket (`/v2`): a `status` frame on connect
//! (with a `connection_id` that may exceed 2^63, as Kraken's do), one ack per subscribed symbol
//! or a per-symbol error (`Currency pair not supported XBT/USD`), a `snapshot` then `update`
//! frames, `heartbeat` every second once subscribed, and `pong` for `ping`. The `book`
//! channel (any of Kraken's depths) gets a snapshot then updates of the levels that changed,
//! each with Kraken's CRC32 checksum; `unsubscribe` from `book` is answered too. REST
//! `/0/public/AssetPairs` and `/0/public/Ticker` answer with Kraken's v1-style names.
//!
//! Scripted faults, from tests through [`MockKraken`] or over HTTP (`POST /mock/...`):
//! go silent (entirely, or still answering pings), drop every connection abruptly, send garbage, switch system status
//! (e.g. `maintenance`), push an exact ticker or any raw frame, send wrong book checksums.
//!
//! Prices are a random walk per pair at `rate` ticks per second across all pairs (0 = only the
//! frames a test pushes). Frames are built once and fanned out to every connection.
//!
//! Layout:
//! - `server`: the HTTP server: WebSocket `/v2`, REST, the `/mock/*` controls and the tick loop.
//! - `frames`: Kraken v2 frame text, shaped like the captures.
//! - `book`: the mock's order books and their checksums.
//! - `rest`: `AssetPairs` and `Ticker` in Kraken's shapes.
//! - `venues`: the mock Coinbase and Bitstamp servers ([`MockVenue`]).

mod book;
mod frames;
mod rest;
mod server;
mod venues;

use common::sync::lock;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::sim::RandomWalk;
use common::Decimal;
use rand::SeedableRng;
use tokio::sync::{broadcast, watch};

pub use frames::ticker_frame;
pub use venues::{MockVenue, VenueKind, VenueStats};

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
    /// Price levels per side of each book (at most 10, Kraken's smallest depth).
    pub book_levels: usize,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            pairs: vec!["BTC/USD".into(), "ETH/USD".into()],
            rate: 0,
            heartbeat: Duration::from_secs(1),
            buffer: 1 << 16,
            book_levels: 10,
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

/// The channel a frame belongs to: only that channel's subscribers get it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    Ticker,
    Book,
}

/// One frame for the fan-out: `symbol` set for channel data (sent only to that channel's
/// subscribers of the symbol), `None` for frames every connection gets.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub symbol: Option<(Channel, Arc<str>)>,
    pub text: Arc<str>,
}

pub(crate) struct Shared {
    pub config: MockConfig,
    pub frames: broadcast::Sender<Outgoing>,
    pub walks: Mutex<HashMap<String, RandomWalk>>,
    /// Last (bid, ask) sent per symbol, for snapshots and REST.
    pub last: Mutex<HashMap<String, (Decimal, Decimal)>>,
    pub books: Mutex<HashMap<String, book::MockBook>>,
    /// Book frames still to send with a wrong checksum (a scripted fault).
    pub corrupt_checksums: AtomicU64,
    pub system: Mutex<String>,
    /// A [`Silence`] as its `u8`.
    pub silence: AtomicU8,
    /// Bumped to drop every open connection.
    pub drop_gen: watch::Sender<u64>,
    pub connections: AtomicU64,
    pub open_connections: AtomicU64,
    pub subscribes: AtomicU64,
    pub book_subscribes: AtomicU64,
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
    /// `subscribe` requests other than `book` (the ticker's).
    pub subscribes: u64,
    /// `book` subscribe requests (a resubscribe after a bad checksum is one more).
    pub book_subscribes: u64,
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
        let last: HashMap<String, (Decimal, Decimal)> =
            walks.iter().map(|(s, w)| (s.clone(), w.quote())).collect();
        let mut rng = rand::rngs::SmallRng::from_os_rng();
        let levels = config.book_levels.clamp(1, 10);
        let books = walks
            .iter()
            .map(|(s, w)| {
                let (bid, ask) = w.quote();
                let book = book::MockBook::new(bid, ask, w.tick_size(), levels, &mut rng);
                (s.clone(), book)
            })
            .collect();
        let shared = Arc::new(Shared {
            config,
            frames,
            walks: Mutex::new(walks),
            last: Mutex::new(last),
            books: Mutex::new(books),
            corrupt_checksums: AtomicU64::new(0),
            system: Mutex::new("online".into()),
            silence: AtomicU8::new(Silence::Off as u8),
            drop_gen: watch::channel(0).0,
            connections: AtomicU64::new(0),
            open_connections: AtomicU64::new(0),
            subscribes: AtomicU64::new(0),
            book_subscribes: AtomicU64::new(0),
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
        self.push(Some((Channel::Ticker, symbol)), text);
        if let (Ok(b), Ok(a)) = (bid.parse::<Decimal>(), ask.parse::<Decimal>()) {
            server::move_book(&self.shared, symbol, b, a, &mut rand::rng());
        }
    }

    /// The next `n` book frames carry a wrong checksum.
    pub fn corrupt_checksums(&self, n: u64) {
        self.shared.corrupt_checksums.store(n, Ordering::SeqCst);
    }

    /// Sends any text frame to every connection.
    pub fn push_raw(&self, text: &str) {
        self.push(None, text.to_string());
    }

    fn push(&self, symbol: Option<(Channel, &str)>, text: String) {
        let _ = self.shared.frames.send(Outgoing {
            symbol: symbol.map(|(c, s)| (c, Arc::from(s))),
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
            book_subscribes: s.book_subscribes.load(Ordering::Relaxed),
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
