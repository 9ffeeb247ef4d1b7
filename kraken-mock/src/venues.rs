//! Mock Coinbase Advanced Trade and Bitstamp v2 servers: the book protocols the feed reads,
//! over a real WebSocket, with the faults a test scripts.
//!
//! - Coinbase (`/`): `subscribe` per channel; `level2` answers with a `subscriptions` frame
//!   and an `l2_data` snapshot per product, then `update`s; `heartbeats` every second; every
//!   frame of a connection carries `sequence_num` rising by one.
//! - Bitstamp (`/`): `bts:subscribe` to `diff_order_book_{market}` answers
//!   `bts:subscription_succeeded`, then diffs with a rising `microtimestamp`; `bts:heartbeat`
//!   is answered; REST `GET /api/v2/order_book/{market}` gives the whole book with the
//!   `microtimestamp` it is as of.
//!
//! A test moves a book with [`MockVenue::set_level`] (or replaces it with
//! [`MockVenue::set_book`]: a crossed or outlying book is just levels), and scripts faults:
//! [`MockVenue::drop_connections`], [`MockVenue::set_silent`], [`MockVenue::send_garbage`],
//! [`MockVenue::skip_sequence`] (Coinbase: a gap), [`MockVenue::request_reconnect`] (Bitstamp's
//! notice before maintenance) and [`MockVenue::stop`] (the venue is gone: nothing accepts).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use common::sim::RandomWalk;
use common::sync::lock;
use common::Decimal;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::{broadcast, watch};

/// Which venue a mock speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VenueKind {
    Coinbase,
    Bitstamp,
}

/// A book side as the mock keeps it: price → quantity.
type Side = BTreeMap<Decimal, Decimal>;

#[derive(Debug, Clone, Default)]
struct MockBook {
    bids: Side,
    asks: Side,
}

/// A change to send: `(pair, bids, asks)` with absolute quantities (zero deletes).
#[derive(Debug, Clone)]
enum Event {
    Levels {
        pair: Arc<str>,
        bids: Vec<(Decimal, Decimal)>,
        asks: Vec<(Decimal, Decimal)>,
        microtimestamp: u64,
    },
    Raw(Arc<str>),
}

struct Shared {
    kind: VenueKind,
    books: Mutex<HashMap<String, MockBook>>,
    events: broadcast::Sender<Event>,
    silent: AtomicBool,
    /// Sequence numbers each connection skips before its next frame (Coinbase).
    skip: AtomicU64,
    drop_gen: watch::Sender<u64>,
    /// Bitstamp's clock: every diff and snapshot is one microsecond after the last.
    micros: AtomicU64,
    connections: AtomicU64,
    subscribes: AtomicU64,
    snapshots_served: AtomicU64,
}

impl Shared {
    fn next_micros(&self) -> u64 {
        let now = chrono::Utc::now().timestamp_micros().max(0) as u64;
        let prev = self.micros.fetch_max(now, Ordering::SeqCst);
        if prev >= now {
            self.micros.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            now
        }
    }
}

/// Counters a test can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VenueStats {
    pub connections: u64,
    /// Subscribe requests (Coinbase: per channel; Bitstamp: per pair).
    pub subscribes: u64,
    /// Bitstamp REST snapshots served.
    pub snapshots_served: u64,
}

/// A running mock venue.
#[derive(Clone)]
pub struct MockVenue {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

impl MockVenue {
    /// Starts a mock of `kind` listing `pairs` (`BTC/USD`), each with a ten-level book around
    /// the same seed price the Kraken mock starts from, one tick apart, 1, 2, … 10 a level.
    pub async fn start(kind: VenueKind, pairs: &[&str]) -> std::io::Result<MockVenue> {
        let books = pairs
            .iter()
            .map(|p| {
                let walk = RandomWalk::for_symbol(p);
                let (bid, ask) = walk.quote();
                let tick = walk.tick_size();
                let mut book = MockBook::default();
                for i in 0..10u32 {
                    let qty = Decimal::from(i + 1);
                    book.bids.insert(bid - tick * Decimal::from(i), qty);
                    book.asks.insert(ask + tick * Decimal::from(i), qty);
                }
                (p.to_string(), book)
            })
            .collect();
        let shared = Arc::new(Shared {
            kind,
            books: Mutex::new(books),
            events: broadcast::channel(4096).0,
            silent: AtomicBool::new(false),
            skip: AtomicU64::new(0),
            drop_gen: watch::channel(0).0,
            micros: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            subscribes: AtomicU64::new(0),
            snapshots_served: AtomicU64::new(0),
        });
        let (addr, stop) = serve(shared.clone(), SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        Ok(MockVenue { addr, shared, stop })
    }

    /// Starts serving again on the same address after [`MockVenue::stop`], with the books as
    /// they were: the venue is back.
    pub async fn restart(&mut self) -> std::io::Result<()> {
        // The stopped server lets go of the port a moment after it is told to.
        let mut tries = 0;
        let stop = loop {
            match serve(self.shared.clone(), self.addr).await {
                Ok((_, stop)) => break stop,
                Err(_) if tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(e),
            }
        };
        self.stop = stop;
        Ok(())
    }

    /// `ws://127.0.0.1:PORT/`
    pub fn ws_url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// `http://127.0.0.1:PORT` (Bitstamp's REST base).
    pub fn rest_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets one level (a quantity of zero deletes it) and sends the change.
    pub fn set_level(&self, pair: &str, bid: bool, price: &str, qty: &str) {
        let (Ok(price), Ok(qty)) = (price.parse::<Decimal>(), qty.parse::<Decimal>()) else {
            return;
        };
        let mut bids = Vec::new();
        let mut asks = Vec::new();
        {
            let mut books = lock(&self.shared.books);
            let book = books.entry(pair.to_string()).or_default();
            let side = if bid { &mut book.bids } else { &mut book.asks };
            if qty.is_zero() {
                side.remove(&price);
            } else {
                side.insert(price, qty);
            }
        }
        if bid {
            bids.push((price, qty));
        } else {
            asks.push((price, qty));
        }
        self.send_levels(pair, bids, asks);
    }

    /// Replaces a pair's whole book (`(price, qty)` text per level) and sends the change as
    /// updates: every old level deleted, every new one set.
    pub fn set_book(&self, pair: &str, bids: &[(&str, &str)], asks: &[(&str, &str)]) {
        let parse = |levels: &[(&str, &str)]| -> Side {
            levels
                .iter()
                .filter_map(|(p, q)| Some((p.parse().ok()?, q.parse().ok()?)))
                .collect()
        };
        let new = MockBook {
            bids: parse(bids),
            asks: parse(asks),
        };
        let old = lock(&self.shared.books).insert(pair.to_string(), new.clone());
        let old = old.unwrap_or_default();
        let change = |old: &Side, new: &Side| -> Vec<(Decimal, Decimal)> {
            old.keys()
                .filter(|p| !new.contains_key(*p))
                .map(|p| (*p, Decimal::ZERO))
                .chain(new.iter().map(|(p, q)| (*p, *q)))
                .collect()
        };
        self.send_levels(
            pair,
            change(&old.bids, &new.bids),
            change(&old.asks, &new.asks),
        );
    }

    fn send_levels(
        &self,
        pair: &str,
        bids: Vec<(Decimal, Decimal)>,
        asks: Vec<(Decimal, Decimal)>,
    ) {
        let _ = self.shared.events.send(Event::Levels {
            pair: Arc::from(pair),
            bids,
            asks,
            microtimestamp: self.shared.next_micros(),
        });
    }

    /// While silent, connections send nothing at all.
    pub fn set_silent(&self, silent: bool) {
        self.shared.silent.store(silent, Ordering::SeqCst);
    }

    /// Drops every open connection without a close frame.
    pub fn drop_connections(&self) {
        self.shared.drop_gen.send_modify(|g| *g += 1);
    }

    /// Sends a non-JSON frame and a truncated JSON frame to every connection.
    pub fn send_garbage(&self) {
        for raw in ["502 Bad Gateway", r#"{"channel":"l2_data","events":[{"#] {
            let _ = self.shared.events.send(Event::Raw(Arc::from(raw)));
        }
    }

    /// Coinbase: every connection's next frame skips `n` sequence numbers (a gap).
    pub fn skip_sequence(&self, n: u64) {
        self.shared.skip.store(n, Ordering::SeqCst);
        // A heartbeat-sized nudge so the gap shows at once.
        let _ = self.shared.events.send(Event::Raw(Arc::from("")));
    }

    /// Bitstamp: asks every connection to reconnect, as before its maintenance.
    pub fn request_reconnect(&self) {
        let frame = r#"{"event":"bts:request_reconnect","channel":"","data":""}"#;
        let _ = self.shared.events.send(Event::Raw(Arc::from(frame)));
    }

    pub fn stats(&self) -> VenueStats {
        let s = &self.shared;
        VenueStats {
            connections: s.connections.load(Ordering::Relaxed),
            subscribes: s.subscribes.load(Ordering::Relaxed),
            snapshots_served: s.snapshots_served.load(Ordering::Relaxed),
        }
    }

    /// The venue is gone: nothing accepts, every connection drops.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
        self.drop_connections();
    }
}

/// Serves `shared` on `addr` until the returned sender says stop.
async fn serve(
    shared: Arc<Shared>,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, watch::Sender<bool>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/", get(upgrade))
        .route("/api/v2/order_book/{market}", get(order_book))
        .with_state(shared);
    let (stop, stop_rx) = watch::channel(false);
    crate::server::spawn_serving(listener, app, stop_rx);
    Ok((addr, stop))
}

fn levels_text(levels: &Side, best_first_desc: bool) -> Vec<[String; 2]> {
    let row = |(p, q): (&Decimal, &Decimal)| [p.to_string(), q.to_string()];
    if best_first_desc {
        levels.iter().rev().map(row).collect()
    } else {
        levels.iter().map(row).collect()
    }
}

fn market(pair: &str) -> String {
    pair.replace('/', "").to_ascii_lowercase()
}

async fn order_book(
    State(shared): State<Arc<Shared>>,
    Path(market_name): Path<String>,
) -> axum::response::Response {
    let books = lock(&shared.books).clone();
    let Some(book) = books
        .iter()
        .find(|(pair, _)| market(pair) == market_name)
        .map(|(_, b)| b)
    else {
        return (StatusCode::NOT_FOUND, "unknown market").into_response();
    };
    shared.snapshots_served.fetch_add(1, Ordering::Relaxed);
    let micros = shared.next_micros();
    let body = json!({
        "timestamp": (micros / 1_000_000).to_string(),
        "microtimestamp": micros.to_string(),
        "bids": levels_text(&book.bids, true),
        "asks": levels_text(&book.asks, false),
    });
    axum::Json(body).into_response()
}

async fn upgrade(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> impl IntoResponse {
    ws.on_upgrade(move |socket| connection(shared, socket))
}

/// One connection's subscriptions and, for Coinbase, its sequence.
struct Conn {
    /// Pairs (`BTC/USD`) with a book subscription.
    books: HashSet<String>,
    heartbeats: bool,
    sequence: u64,
}

impl Conn {
    fn seq(&mut self, shared: &Shared) -> u64 {
        self.sequence += shared.skip.swap(0, Ordering::SeqCst);
        let s = self.sequence;
        self.sequence += 1;
        s
    }
}

async fn connection(shared: Arc<Shared>, socket: WebSocket) {
    shared.connections.fetch_add(1, Ordering::Relaxed);
    let mut events = shared.events.subscribe();
    let mut drop_rx = shared.drop_gen.subscribe();
    drop_rx.mark_unchanged();
    let (mut tx, mut rx) = socket.split();
    let mut conn = Conn {
        books: HashSet::new(),
        heartbeats: false,
        sequence: 0,
    };
    let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
    heartbeat.tick().await;
    // Read at the moment of sending: a connection waiting in `select!` when the venue goes
    // silent must not send one more frame.
    let silent = || shared.silent.load(Ordering::SeqCst);
    loop {
        let out: Vec<String> = tokio::select! {
            _ = drop_rx.changed() => break,
            incoming = rx.next() => {
                let Some(Ok(msg)) = incoming else { break };
                match msg {
                    Message::Text(text) if !silent() => request(&shared, &mut conn, text.as_str()),
                    Message::Close(_) => break,
                    _ => Vec::new(),
                }
            }
            event = events.recv() => match event {
                Ok(_) if silent() => Vec::new(),
                Ok(Event::Raw(text)) if text.is_empty() => match shared.kind {
                    VenueKind::Coinbase if conn.heartbeats => vec![heartbeat_frame(&shared, &mut conn)],
                    _ => Vec::new(),
                },
                Ok(Event::Raw(text)) => vec![text.to_string()],
                Ok(Event::Levels { pair, bids, asks, microtimestamp }) if conn.books.contains(&*pair) => {
                    vec![update_frame(&shared, &mut conn, &pair, &bids, &asks, microtimestamp)]
                }
                Ok(_) => Vec::new(),
                Err(broadcast::error::RecvError::Lagged(_)) => break,
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = heartbeat.tick() => match shared.kind {
                VenueKind::Coinbase if conn.heartbeats && !silent() => vec![heartbeat_frame(&shared, &mut conn)],
                _ => Vec::new(),
            },
        };
        for text in out {
            if tx.send(Message::text(text)).await.is_err() {
                return;
            }
        }
    }
    // Dropping both halves closes the TCP connection without a close frame.
}

fn heartbeat_frame(shared: &Shared, conn: &mut Conn) -> String {
    json!({
        "channel": "heartbeats",
        "client_id": "",
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "sequence_num": conn.seq(shared),
        "events": [{"current_time": chrono::Utc::now().to_rfc3339(), "heartbeat_counter": conn.sequence}]
    })
    .to_string()
}

fn update_frame(
    shared: &Shared,
    conn: &mut Conn,
    pair: &str,
    bids: &[(Decimal, Decimal)],
    asks: &[(Decimal, Decimal)],
    microtimestamp: u64,
) -> String {
    match shared.kind {
        VenueKind::Coinbase => l2_frame(shared, conn, pair, "update", bids, asks),
        VenueKind::Bitstamp => {
            let rows = |l: &[(Decimal, Decimal)]| -> Vec<[String; 2]> {
                l.iter()
                    .map(|(p, q)| [p.to_string(), q.to_string()])
                    .collect()
            };
            json!({
                "data": {
                    "timestamp": (microtimestamp / 1_000_000).to_string(),
                    "microtimestamp": microtimestamp.to_string(),
                    "bids": rows(bids),
                    "asks": rows(asks),
                },
                "channel": format!("diff_order_book_{}", market(pair)),
                "event": "data"
            })
            .to_string()
        }
    }
}

fn l2_frame(
    shared: &Shared,
    conn: &mut Conn,
    pair: &str,
    kind: &str,
    bids: &[(Decimal, Decimal)],
    asks: &[(Decimal, Decimal)],
) -> String {
    let now = chrono::Utc::now().to_rfc3339();
    let updates: Vec<serde_json::Value> = bids
        .iter()
        .map(|l| ("bid", l))
        .chain(asks.iter().map(|l| ("offer", l)))
        .map(|(side, (p, q))| {
            json!({"side": side, "event_time": now, "price_level": p.to_string(), "new_quantity": q.to_string()})
        })
        .collect();
    json!({
        "channel": "l2_data",
        "client_id": "",
        "timestamp": now,
        "sequence_num": conn.seq(shared),
        "events": [{"type": kind, "product_id": pair.replace('/', "-"), "updates": updates}]
    })
    .to_string()
}

/// Answers one request from the client.
fn request(shared: &Shared, conn: &mut Conn, text: &str) -> Vec<String> {
    let Ok(req) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    match shared.kind {
        VenueKind::Coinbase => {
            if req["type"] != "subscribe" {
                return Vec::new();
            }
            shared.subscribes.fetch_add(1, Ordering::Relaxed);
            let products: Vec<String> = req["product_ids"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let pairs: Vec<String> = products.iter().map(|p| p.replace('-', "/")).collect();
            let mut out = Vec::new();
            match req["channel"].as_str() {
                Some("heartbeats") => conn.heartbeats = true,
                Some("level2") => {
                    let books = lock(&shared.books).clone();
                    for pair in &pairs {
                        conn.books.insert(pair.clone());
                    }
                    out.push(
                        json!({
                            "channel": "subscriptions",
                            "client_id": "",
                            "timestamp": chrono::Utc::now().to_rfc3339(),
                            "sequence_num": conn.seq(shared),
                            "events": [{"subscriptions": {"level2": products}}]
                        })
                        .to_string(),
                    );
                    for pair in &pairs {
                        if let Some(book) = books.get(pair) {
                            let bids: Vec<_> =
                                book.bids.iter().rev().map(|(p, q)| (*p, *q)).collect();
                            let asks: Vec<_> = book.asks.iter().map(|(p, q)| (*p, *q)).collect();
                            out.push(l2_frame(shared, conn, pair, "snapshot", &bids, &asks));
                        }
                    }
                }
                _ => {}
            }
            out
        }
        VenueKind::Bitstamp => match req["event"].as_str() {
            Some("bts:heartbeat") => {
                vec![r#"{"event":"bts:heartbeat","channel":"","data":{"status":"success"}}"#.into()]
            }
            Some("bts:subscribe") => {
                shared.subscribes.fetch_add(1, Ordering::Relaxed);
                let channel = req["data"]["channel"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let books = lock(&shared.books);
                let Some(pair) = books
                    .keys()
                    .find(|p| format!("diff_order_book_{}", market(p)) == channel)
                else {
                    return vec![json!({"event": "bts:error", "channel": channel, "data": {"code": null, "message": "Bad subscription string."}}).to_string()];
                };
                conn.books.insert(pair.clone());
                vec![
                    json!({"event": "bts:subscription_succeeded", "channel": channel, "data": {}})
                        .to_string(),
                ]
            }
            _ => Vec::new(),
        },
    }
}
