//! The mock's HTTP server: WebSocket `/v2`, REST `/0/public/*`, control `/mock/*`, and the tick
//! generator.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use common::Decimal;
use futures_util::{SinkExt, StreamExt};
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use tokio::sync::{broadcast, watch};

use crate::{frames, lock, Channel, MockKraken, Outgoing, Shared, Silence};

/// Serves `app` on `listener` until `stop` says so. Frames go out at once (no Nagle), as a
/// real exchange's would.
pub(crate) fn spawn_serving(
    listener: tokio::net::TcpListener,
    app: Router,
    mut stop: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
    });
}

pub(crate) async fn serve(
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(shared.config.addr).await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/v2", get(upgrade))
        .route("/0/public/AssetPairs", get(crate::rest::asset_pairs))
        .route("/0/public/Ticker", get(crate::rest::ticker))
        .route("/mock/silent/{on}", post(silent))
        .route("/mock/drop", post(drop_all))
        .route("/mock/garbage", post(garbage))
        .route("/mock/system/{system}", post(system))
        .route("/mock/bad-checksums/{n}", post(bad_checksums))
        .route("/mock/stats", get(stats))
        .with_state(shared.clone());
    spawn_serving(listener, app, stop.clone());
    if shared.config.rate > 0 {
        let gen = shared.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = generate(gen) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        });
    }
    Ok(addr)
}

/// Emits `rate` ticks per second, spread over the pairs round-robin, in 10 ms batches.
async fn generate(shared: Arc<Shared>) {
    let rate = shared.config.rate;
    let symbols: Vec<Arc<str>> = shared
        .config
        .pairs
        .iter()
        .map(|s| Arc::from(s.as_str()))
        .collect();
    if symbols.is_empty() {
        return;
    }
    let (period, per_period) = if rate >= 100 {
        (Duration::from_millis(10), rate / 100)
    } else {
        (Duration::from_micros(1_000_000 / rate.max(1)), 1)
    };
    let mut rng = rand::rngs::SmallRng::from_os_rng();
    let mut every = tokio::time::interval(period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut next = 0usize;
    loop {
        every.tick().await;
        for _ in 0..per_period {
            let symbol = symbols[next % symbols.len()].clone();
            next = next.wrapping_add(1);
            let quote = {
                let mut walks = lock(&shared.walks);
                walks.get_mut(&*symbol).map(|w| w.step(&mut rng))
            };
            let Some((bid, ask)) = quote else { continue };
            lock(&shared.last).insert(symbol.to_string(), (bid, ask));
            let text = frames::ticker_frame(&symbol, bid, ask, false);
            shared.ticks_generated.fetch_add(1, Ordering::Relaxed);
            let _ = shared.frames.send(Outgoing {
                symbol: Some((Channel::Ticker, symbol.clone())),
                text: Arc::from(text),
            });
            move_book(&shared, &symbol, bid, ask, &mut rng);
        }
        // Yield a little randomness into timing so several mocks do not beat in step.
        if rng.random_bool(0.001) {
            tokio::task::yield_now().await;
        }
    }
}

/// Moves `symbol`'s book to a new best bid and ask and sends the update to its `book`
/// subscribers (with a wrong checksum while a fault asks for one).
pub(crate) fn move_book(
    shared: &Shared,
    symbol: &str,
    bid: Decimal,
    ask: Decimal,
    rng: &mut impl Rng,
) {
    let text = {
        let mut books = lock(&shared.books);
        let Some(book) = books.get_mut(symbol) else {
            return;
        };
        let changes = book.move_to(bid, ask, rng);
        let corrupt = shared
            .corrupt_checksums
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        book.update_frame(symbol, &changes, u32::from(corrupt))
    };
    let _ = shared.frames.send(Outgoing {
        symbol: Some((Channel::Book, Arc::from(symbol))),
        text: Arc::from(text),
    });
}

async fn upgrade(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> impl IntoResponse {
    ws.on_upgrade(move |socket| connection(shared, socket))
}

#[derive(Deserialize)]
struct Request {
    method: Option<String>,
    #[serde(default)]
    params: Option<Params>,
    #[serde(default)]
    req_id: Option<u64>,
}

#[derive(Deserialize)]
struct Params {
    channel: Option<String>,
    #[serde(default)]
    symbol: Vec<String>,
    #[serde(default)]
    depth: Option<u64>,
}

struct Conn {
    subscribed: HashSet<String>,
    books: HashSet<String>,
}

impl Conn {
    fn wants(&self, symbol: &Option<(Channel, Arc<str>)>) -> bool {
        match symbol {
            None => true,
            Some((Channel::Ticker, s)) => self.subscribed.contains(&**s),
            Some((Channel::Book, s)) => self.books.contains(&**s),
        }
    }
}

async fn connection(shared: Arc<Shared>, socket: WebSocket) {
    shared.connections.fetch_add(1, Ordering::Relaxed);
    shared.open_connections.fetch_add(1, Ordering::Relaxed);
    let mut frames_rx = shared.frames.subscribe();
    let mut drop_rx = shared.drop_gen.subscribe();
    drop_rx.mark_unchanged();
    let (mut tx, mut rx) = socket.split();
    let mut conn = Conn {
        subscribed: HashSet::new(),
        books: HashSet::new(),
    };
    let silence = || Silence::from_u8(shared.silence.load(Ordering::SeqCst));
    let silent = || silence() != Silence::Off;

    // Kraken greets every connection with its status; connection ids exceed 2^63 at times.
    let system = lock(&shared.system).clone();
    let id: u64 = rand::rng().random();
    if !silent() {
        let _ = tx
            .send(Message::text(frames::status_text(&system, Some(id))))
            .await;
    }
    let mut heartbeat = tokio::time::interval(shared.config.heartbeat);
    heartbeat.tick().await;

    loop {
        let mut out: Vec<String> = Vec::new();
        tokio::select! {
            _ = drop_rx.changed() => break,
            incoming = rx.next() => {
                let Some(Ok(msg)) = incoming else { break };
                match msg {
                    Message::Text(text) => match silence() {
                        Silence::Off => out = handle_request(&shared, &mut conn, text.as_str()),
                        Silence::AnswerPings => out = answer_ping_only(&shared, text.as_str()),
                        Silence::Total => {}
                    },
                    Message::Close(_) => break,
                    _ => {}
                }
            }
            frame = frames_rx.recv() => match frame {
                Ok(f) => {
                    let wanted = conn.wants(&f.symbol);
                    if wanted && !silent() {
                        if tx.feed(Message::text(f.text.to_string())).await.is_err() {
                            break;
                        }
                        shared.frames_sent.fetch_add(1, Ordering::Relaxed);
                        // Send whatever else is ready in the same flush.
                        let mut sent_batch = 0;
                        while sent_batch < 256 {
                            let Ok(f) = frames_rx.try_recv() else { break };
                            if conn.wants(&f.symbol) {
                                if tx.feed(Message::text(f.text.to_string())).await.is_err() {
                                    break;
                                }
                                shared.frames_sent.fetch_add(1, Ordering::Relaxed);
                            }
                            sent_batch += 1;
                        }
                        if tx.flush().await.is_err() {
                            break;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    shared.frames_lagged.fetch_add(n, Ordering::Relaxed);
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = heartbeat.tick() => {
                let subscribed = !conn.subscribed.is_empty() || !conn.books.is_empty();
                if subscribed && !silent() {
                    out.push(frames::HEARTBEAT.to_string());
                }
            }
        }
        for text in out {
            if tx.send(Message::text(text)).await.is_err() {
                shared.open_connections.fetch_sub(1, Ordering::Relaxed);
                return;
            }
        }
    }
    shared.open_connections.fetch_sub(1, Ordering::Relaxed);
    // Dropping both halves closes the TCP connection without a close frame.
}

/// While the subscription is silenced: a `ping` still gets its `pong`, anything else nothing.
fn answer_ping_only(shared: &Shared, text: &str) -> Vec<String> {
    match serde_json::from_str::<Request>(text) {
        Ok(req) if req.method.as_deref() == Some("ping") => {
            shared.pings.fetch_add(1, Ordering::Relaxed);
            vec![frames::pong(req.req_id)]
        }
        _ => Vec::new(),
    }
}

fn handle_request(shared: &Shared, conn: &mut Conn, text: &str) -> Vec<String> {
    let Ok(req) = serde_json::from_str::<Request>(text) else {
        return vec![frames::error_frame("", "Malformed request", None, None)];
    };
    let req_id = req.req_id;
    match req.method.as_deref() {
        Some("ping") => {
            shared.pings.fetch_add(1, Ordering::Relaxed);
            vec![frames::pong(req_id)]
        }
        Some("subscribe") => {
            let Some(params) = req.params else {
                shared.subscribes.fetch_add(1, Ordering::Relaxed);
                return vec![frames::error_frame(
                    "subscribe",
                    "Missing params",
                    None,
                    req_id,
                )];
            };
            if params.channel.as_deref() == Some("book") {
                return subscribe_books(shared, conn, params, req_id);
            }
            shared.subscribes.fetch_add(1, Ordering::Relaxed);
            if params.channel.as_deref() != Some("ticker") {
                return vec![frames::error_frame(
                    "subscribe",
                    "Unsupported event",
                    None,
                    req_id,
                )];
            }
            let listed = &shared.config.pairs;
            subscribe_symbols(
                listed,
                &mut conn.subscribed,
                params.symbol,
                req_id,
                |symbol| {
                    let mut out = vec![frames::subscribe_ack(symbol, req_id)];
                    if let Some((bid, ask)) = lock(&shared.last).get(symbol).copied() {
                        out.push(frames::ticker_frame(symbol, bid, ask, true));
                    }
                    out
                },
            )
        }
        Some("unsubscribe") => match req.params {
            Some(params) if params.channel.as_deref() == Some("book") => params
                .symbol
                .iter()
                .map(|symbol| {
                    if conn.books.remove(symbol) {
                        frames::book_ack("unsubscribe", symbol, params.depth.unwrap_or(10), req_id)
                    } else {
                        frames::error_frame(
                            "unsubscribe",
                            "Subscription Not Found",
                            Some(symbol),
                            req_id,
                        )
                    }
                })
                .collect(),
            _ => vec![frames::error_frame(
                "unsubscribe",
                "Unsupported event",
                None,
                req_id,
            )],
        },
        Some(other) => vec![frames::error_frame(
            other,
            "Unsupported event",
            None,
            req_id,
        )],
        None => vec![frames::error_frame("", "Missing method", None, req_id)],
    }
}

/// `subscribe` to `book`: Kraken's depths only, an ack and a snapshot per listed symbol.
fn subscribe_books(
    shared: &Shared,
    conn: &mut Conn,
    params: Params,
    req_id: Option<u64>,
) -> Vec<String> {
    shared.book_subscribes.fetch_add(1, Ordering::Relaxed);
    let depth = params.depth.unwrap_or(10);
    if ![10, 25, 100, 500, 1000].contains(&depth) {
        // As Kraken answers it (captured): no symbol, no req_id echo needed.
        return vec![frames::error_frame(
            "subscribe",
            "Subscription depth not supported",
            None,
            req_id,
        )];
    }
    let listed = &shared.config.pairs;
    subscribe_symbols(listed, &mut conn.books, params.symbol, req_id, |symbol| {
        let mut out = vec![frames::book_ack("subscribe", symbol, depth, req_id)];
        if let Some(book) = lock(&shared.books).get(symbol) {
            out.push(book.snapshot_frame(symbol));
        }
        out
    })
}

/// Subscribes each of `symbols` into `subscribed`: Kraken's per-symbol refusals for a pair
/// it does not list or one already subscribed, else what `accepted` answers (ack, snapshot).
fn subscribe_symbols(
    listed: &[String],
    subscribed: &mut HashSet<String>,
    symbols: Vec<String>,
    req_id: Option<u64>,
    accepted: impl Fn(&str) -> Vec<String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for symbol in symbols {
        let refusal = if !listed.contains(&symbol) {
            Some(format!("Currency pair not supported {symbol}"))
        } else if !subscribed.insert(symbol.clone()) {
            Some("Already subscribed".to_string())
        } else {
            None
        };
        match refusal {
            Some(error) => out.push(frames::error_frame(
                "subscribe",
                &error,
                Some(&symbol),
                req_id,
            )),
            None => out.extend(accepted(&symbol)),
        }
    }
    out
}

// ---- control API ----------------------------------------------------------------------

fn handle(shared: &Arc<Shared>) -> MockKraken {
    // A handle without a stop sender of its own: control routes never stop the server.
    MockKraken {
        addr: shared.config.addr,
        shared: shared.clone(),
        stop: watch::channel(false).0,
    }
}

async fn silent(State(s): State<Arc<Shared>>, Path(on): Path<String>) -> StatusCode {
    let silence = match on.as_str() {
        "on" | "true" => Silence::Total,
        "pings" => Silence::AnswerPings,
        "off" | "false" => Silence::Off,
        _ => return StatusCode::BAD_REQUEST,
    };
    handle(&s).set_silence(silence);
    StatusCode::NO_CONTENT
}

async fn drop_all(State(s): State<Arc<Shared>>) -> StatusCode {
    handle(&s).drop_connections();
    StatusCode::NO_CONTENT
}

async fn garbage(State(s): State<Arc<Shared>>) -> StatusCode {
    handle(&s).send_garbage();
    StatusCode::NO_CONTENT
}

async fn system(State(s): State<Arc<Shared>>, Path(system): Path<String>) -> StatusCode {
    if !["online", "maintenance", "cancel_only", "post_only"].contains(&system.as_str()) {
        return StatusCode::BAD_REQUEST;
    }
    handle(&s).set_system(&system);
    StatusCode::NO_CONTENT
}

async fn bad_checksums(State(s): State<Arc<Shared>>, Path(n): Path<u64>) -> StatusCode {
    handle(&s).corrupt_checksums(n);
    StatusCode::NO_CONTENT
}

async fn stats(State(s): State<Arc<Shared>>) -> Json<crate::MockStats> {
    Json(handle(&s).stats())
}
