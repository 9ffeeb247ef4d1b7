//! The Socket.IO namespace `/` (ARCHITECTURE.md §6).
//!
//! - Handshake `auth: {token}`: a valid access token of a live session joins the rooms
//!   `user:{id}` (private events) and `session:{sid}`; an invalid one, or a `token` that is not
//!   a string, refuses the connection; no `auth`, or no `token` in it, = public rates only.
//! - Private events never outlive the token that opened them: the socket is disconnected when
//!   its token expires, unless the client sends `auth:refresh` with a newer access token of the
//!   same account first (ack `{"ok": true, "expires_at": <unix s>}` or `{"error": "..."}`), and
//!   at once, on every node, when its session ends (logout) or every session of the account
//!   does (password change, two-factor change, account disabled).
//! - On connect the socket gets a full `rates:live` snapshot at once, then only changed pairs.
//! - `rates:subscribe` / `rates:unsubscribe` with a list of pairs narrow what it receives; the
//!   ack is `{"subscribed": [...], "unknown": [...]}`. Anything that is not a non-empty list of
//!   at most [`MAX_PAIRS_PER_REQUEST`] pair names (`42`, `null`, `{}`, nested lists) gets
//!   `{"error": "..."}` and leaves the subscription exactly as it was.

use std::collections::BTreeSet;

use common::Pair;
use serde::{Deserialize, Serialize};
use socketioxide::extract::{State, TryData};
use socketioxide::handler::ConnectHandler;

use crate::auth::Claims;
use crate::cluster::{Ack, Io, Socket};
use crate::rates::fanout::EVENT;
use crate::state::AppState;

/// Most pair names one subscribe or unsubscribe may carry.
pub const MAX_PAIRS_PER_REQUEST: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum HandshakeRefused {
    #[error("invalid token")]
    InvalidToken,
    #[error("auth must be an object whose token is a string")]
    Malformed,
}

/// Pairs sent with subscribe/unsubscribe: `["BTC/USD"]`, `"BTC/USD"` or `{"pairs": [...]}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PairList {
    Many(Vec<String>),
    One(String),
    Object { pairs: Vec<String> },
}

impl PairList {
    fn into_vec(self) -> Vec<String> {
        match self {
            PairList::Many(v) | PairList::Object { pairs: v } => v,
            PairList::One(s) => vec![s],
        }
    }
}

#[derive(Debug, Serialize)]
struct RequestError {
    error: String,
}

#[derive(Debug, Serialize)]
struct SubscriptionAck {
    /// Pairs this socket now receives (`BTC/USD` spelling).
    subscribed: Vec<String>,
    /// Names in the request that are not pairs this gateway carries.
    unknown: Vec<String>,
}

/// The room of a user's private events.
pub fn user_room(user_id: u64) -> String {
    format!("user:{user_id}")
}

/// The room of one session's sockets (a refresh-token family).
pub fn session_room(family: &str) -> String {
    format!("session:{family}")
}

/// Disconnects every socket in `room` on every node (through the cluster adapter), without
/// holding up the caller; if the other nodes cannot be reached, this node's own sockets are
/// still disconnected (the others lose their private events when their token expires).
pub fn end_sockets(state: &AppState, room: String) {
    let Some(io) = state.io().cloned() else {
        return;
    };
    tokio::spawn(async move {
        if let Err(e) = io.to(room.clone()).disconnect().await {
            metrics::counter!("rategate_session_ends_local_only_total").increment(1);
            tracing::warn!(error = %e, %room, "other nodes unreachable; this node's sockets of the session disconnected");
            let _ = io.local().to(room).disconnect().await;
        }
    });
}

/// Sends private events, in order, to every socket of user `uid` on every node (through the
/// cluster adapter), without holding up the caller: the HTTP answer never waits on Redis. If
/// the adapter cannot reach the other nodes, this node's own sockets still get the events.
pub fn send_private(state: &AppState, uid: u64, events: Vec<(&'static str, serde_json::Value)>) {
    use socketioxide::BroadcastError;
    let Some(io) = state.io().cloned() else {
        return;
    };
    let room = user_room(uid);
    tokio::spawn(async move {
        for (event, body) in events {
            match io.to(room.clone()).emit(event, &body).await {
                Ok(()) => {}
                Err(BroadcastError::Adapter(e)) => {
                    metrics::counter!("rategate_private_events_local_only_total").increment(1);
                    tracing::warn!(error = %e, event, "other nodes unreachable; private event sent to this node's sockets only");
                    let _ = io.local().to(room.clone()).emit(event, &body).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, event, "private event not delivered to every socket")
                }
            }
        }
    });
}

/// The handshake's token: `Ok(None)` for no `auth`, no `token` or an empty one (public only);
/// an error for anything that is not a string where the token should be. Pure, so the fuzzer
/// runs exactly what the handshake runs.
pub fn handshake_token(auth: &serde_json::Value) -> Result<Option<&str>, HandshakeRefused> {
    use serde_json::Value;
    let token = match auth {
        Value::Null => return Ok(None),
        Value::Object(fields) => fields.get("token"),
        _ => return Err(HandshakeRefused::Malformed),
    };
    match token {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(t)) if t.is_empty() => Ok(None),
        Some(Value::String(t)) => Ok(Some(t)),
        Some(_) => Err(HandshakeRefused::Malformed),
    }
}

/// An authenticated socket's session: whose it is, which session, until when.
pub struct SocketSession {
    user: u64,
    sid: std::sync::Mutex<String>,
    /// Unix seconds at which the token that opened (or last refreshed) the socket expires.
    expires: std::sync::atomic::AtomicI64,
    /// Wakes the expiry watch: a refresh moved the deadline, or the socket went.
    changed: tokio::sync::Notify,
}

/// A verified token of a live session, brought up to date with the account.
async fn live_claims(state: &AppState, token: &str) -> Option<Claims> {
    crate::auth::token_account(state, token).await.ok()
}

async fn authenticate(
    socket: Socket,
    State(state): State<AppState>,
    TryData(auth): TryData<serde_json::Value>,
) -> Result<(), HandshakeRefused> {
    // Packets a client sent together with its connect (before waiting for the ack, against
    // the protocol) are read by the engine while this yields, before the socket exists: they
    // are refused the same way every time (the engine closes the connection).
    tokio::task::yield_now().await;
    let auth = auth.map_err(|_| HandshakeRefused::Malformed)?;
    if let Some(token) = handshake_token(&auth)? {
        // The account and session as they are now: a removed user's, a disabled account's or
        // an ended session's token opens no private room.
        let claims = live_claims(&state, token)
            .await
            .ok_or(HandshakeRefused::InvalidToken)?;
        socket.extensions.insert(claims);
    }
    // Handlers before the socket joins the namespace and the ack goes out: an event a client
    // sends the moment it sees the ack always finds them (socketioxide runs the connect
    // handler only after sending the ack).
    socket.on("rates:subscribe", on_filter::<true>);
    socket.on("rates:unsubscribe", on_filter::<false>);
    socket.on("auth:refresh", on_auth_refresh);
    socket.on_disconnect(|socket: Socket, State(state): State<AppState>| async move {
        state.hub.fanout.remove(socket.id);
        if let Some(session) = socket.extensions.get::<std::sync::Arc<SocketSession>>() {
            session.changed.notify_one();
        }
    });
    Ok(())
}

/// Disconnects `socket` when its session's token expires, unless a refresh moved the deadline;
/// ends when the socket goes.
async fn watch_expiry(socket: Socket, session: std::sync::Arc<SocketSession>) {
    use std::sync::atomic::Ordering;
    loop {
        let left = session.expires.load(Ordering::Relaxed) - chrono::Utc::now().timestamp();
        if left <= 0 {
            break;
        }
        let wait = std::time::Duration::from_secs(left.unsigned_abs());
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = session.changed.notified() => {}
        }
        if !socket.connected() {
            return;
        }
    }
    metrics::counter!("rategate_sockets_token_expired_total").increment(1);
    tracing::debug!(
        user = session.user,
        "socket token expired without a refresh; disconnected"
    );
    let _ = socket.disconnect();
}

#[derive(Debug, Serialize)]
struct RefreshAck {
    ok: bool,
    expires_at: i64,
}

/// `auth:refresh {token}`: a newer access token of the same account keeps the socket's private
/// events past the old token's expiry (and moves it to the new token's session).
async fn on_auth_refresh(
    socket: Socket,
    State(state): State<AppState>,
    TryData(data): TryData<serde_json::Value>,
    ack: Ack,
) {
    use std::sync::atomic::Ordering;
    let refuse = |ack: Ack, error: &str| {
        let _ = ack.send(&RequestError {
            error: error.to_string(),
        });
    };
    let Some(session) = socket.extensions.get::<std::sync::Arc<SocketSession>>() else {
        return refuse(
            ack,
            "this socket was opened without a token; reconnect with one",
        );
    };
    let token = match data.as_ref().map(handshake_token) {
        Ok(Ok(Some(token))) => token.to_string(),
        _ => return refuse(ack, "expected {\"token\": \"<access token>\"}"),
    };
    let Some(claims) = live_claims(&state, &token).await else {
        return refuse(ack, "invalid token");
    };
    if claims.user_id() != Some(session.user) {
        return refuse(ack, "the token is another account's");
    }
    let previous = {
        let mut sid = common::sync::lock(&session.sid);
        std::mem::replace(&mut *sid, claims.sid.clone())
    };
    if previous != claims.sid {
        socket.leave(session_room(&previous));
        socket.join(session_room(&claims.sid));
    }
    session.expires.store(claims.exp, Ordering::Relaxed);
    session.changed.notify_one();
    let _ = ack.send(&RefreshAck {
        ok: true,
        expires_at: claims.exp,
    });
}

async fn on_connect(socket: Socket, State(state): State<AppState>) {
    if let Some(claims) = socket.extensions.get::<Claims>() {
        if let Some(id) = claims.user_id() {
            socket.join(user_room(id));
            socket.join(session_room(&claims.sid));
            let session = std::sync::Arc::new(SocketSession {
                user: id,
                sid: std::sync::Mutex::new(claims.sid.clone()),
                expires: std::sync::atomic::AtomicI64::new(claims.exp),
                changed: tokio::sync::Notify::new(),
            });
            socket.extensions.insert(session.clone());
            tokio::spawn(watch_expiry(socket.clone(), session));
        }
    }
    // Register first, then snapshot: a tick in between is not lost, and the snapshot is newest.
    state.hub.fanout.get_or_register(&socket);
    if let Some(snapshot) = state.hub.snapshot_payload(None) {
        let _ = socket.emit(EVENT, &snapshot);
    }
}

/// The names of a subscribe/unsubscribe request's argument, or why the request is refused.
/// Pure, so the fuzzer runs exactly what the handlers run.
pub fn request_names(data: serde_json::Value) -> Result<Vec<String>, String> {
    let names = serde_json::from_value::<PairList>(data)
        .map_err(|_| {
            "expected a list of pair names such as [\"BTC/USD\"], one name, or {\"pairs\": [...]}"
                .to_string()
        })?
        .into_vec();
    if names.is_empty() {
        return Err("name at least one pair".into());
    }
    if names.len() > MAX_PAIRS_PER_REQUEST {
        return Err(format!("at most {MAX_PAIRS_PER_REQUEST} pairs per request"));
    }
    Ok(names)
}

/// Splits names into known pairs and unknown names.
fn resolve(state: &AppState, names: Vec<String>) -> (BTreeSet<Pair>, Vec<String>) {
    let book = state.hub.book();
    let mut known = BTreeSet::new();
    let mut unknown = Vec::new();
    for name in names {
        match Pair::parse(&name) {
            Ok(p) if book.is_known(&p) => {
                known.insert(p);
            }
            _ => unknown.push(name.chars().take(64).collect()),
        }
    }
    (known, unknown)
}

/// The ack: the pairs this socket now receives, and the names that were not pairs we carry.
fn ack_body(filter: &BTreeSet<Pair>, unknown: Vec<String>) -> SubscriptionAck {
    SubscriptionAck {
        subscribed: filter.iter().map(|p| p.to_string()).collect(),
        unknown,
    }
}

/// `rates:subscribe` (`SUBSCRIBE`) and `rates:unsubscribe`: a refused request is answered with
/// its error; otherwise the socket's filter grows or shrinks by the named pairs we carry, the
/// ack lists the filter and the names we do not carry, and a subscribe gets the snapshot of
/// its new pairs.
async fn on_filter<const SUBSCRIBE: bool>(
    socket: Socket,
    State(state): State<AppState>,
    TryData(data): TryData<serde_json::Value>,
    ack: Ack,
) {
    let names = match data.map_err(|e| e.to_string()).and_then(request_names) {
        Ok(names) => names,
        Err(error) => {
            let _ = ack.send(&RequestError { error });
            return;
        }
    };
    let (known, unknown) = resolve(&state, names);
    let client = state.hub.fanout.get_or_register(&socket);
    let filter = match (SUBSCRIBE, client.filter()) {
        // From "everything" a subscribe narrows to the list; otherwise it adds to it.
        (true, None) => known.clone(),
        (true, Some(mut f)) => {
            f.extend(known.iter().cloned());
            f
        }
        (false, current) => {
            let mut f = current.unwrap_or_else(|| state.hub.book().known_pairs().clone());
            f.retain(|p| !known.contains(p));
            f
        }
    };
    state.hub.fanout.set_filter(&client, Some(filter.clone()));
    let _ = ack.send(&ack_body(&filter, unknown));
    if SUBSCRIBE {
        if let Some(snapshot) = state.hub.snapshot_payload(Some(&known)) {
            let _ = socket.emit(EVENT, &snapshot);
        }
    }
}

/// Sets up the namespace; its adapter joins the cluster's channels in the background (a node
/// serves its own sockets at once, and the others' events once Redis answers).
pub async fn register(io: &Io) -> anyhow::Result<()> {
    io.ns("/", on_connect.with(authenticate))
        .await
        .map_err(|e| anyhow::anyhow!("Socket.IO adapter: {e:?}"))
}
