//! The Socket.IO namespace `/` (DESIGN §6).
//!
//! - Handshake `auth: {token}`: a valid access token joins the room `user:{id}` (private events);
//!   an invalid one refuses the connection; no token = public rates only.
//! - On connect the socket gets a full `rates:live` snapshot at once, then only changed pairs.
//! - `rates:subscribe` / `rates:unsubscribe` with a list of pairs narrow what it receives; the
//!   ack is `{"subscribed": [...], "unknown": [...]}`.

use std::collections::BTreeSet;

use common::Pair;
use serde::{Deserialize, Serialize};
use socketioxide::extract::{AckSender, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::SocketIo;

use crate::auth::Claims;
use crate::rates::fanout::EVENT;
use crate::state::AppState;

#[derive(Debug, Deserialize, Default)]
struct Handshake {
    token: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid token")]
struct InvalidToken;

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

async fn authenticate(
    socket: SocketRef,
    State(state): State<AppState>,
    TryData(auth): TryData<Handshake>,
) -> Result<(), InvalidToken> {
    let token = auth.ok().and_then(|h| h.token).filter(|t| !t.is_empty());
    if let Some(token) = token {
        let claims = state.keys.verify(&token).ok_or(InvalidToken)?;
        socket.extensions.insert(claims);
    }
    Ok(())
}

async fn on_connect(socket: SocketRef, State(state): State<AppState>) {
    if let Some(claims) = socket.extensions.get::<Claims>() {
        if let Some(id) = claims.user_id() {
            socket.join(user_room(id));
        }
    }
    // Register first, then snapshot: a tick in between is not lost, and the snapshot is newest.
    state.hub.fanout.register(socket.clone());
    if let Some(snapshot) = state.hub.snapshot_payload(None) {
        let _ = socket.emit(EVENT, &snapshot);
    }
    socket.on("rates:subscribe", on_subscribe);
    socket.on("rates:unsubscribe", on_unsubscribe);
    socket.on_disconnect(
        |socket: SocketRef, State(state): State<AppState>| async move {
            state.hub.fanout.remove(socket.id);
        },
    );
}

/// Splits names into known pairs and unknown names.
fn resolve(state: &AppState, names: Vec<String>) -> (BTreeSet<Pair>, Vec<String>) {
    let book = state.hub.book();
    let mut known = BTreeSet::new();
    let mut unknown = Vec::new();
    for name in names.into_iter().take(256) {
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

async fn on_subscribe(
    socket: SocketRef,
    State(state): State<AppState>,
    TryData(data): TryData<PairList>,
    ack: AckSender,
) {
    let names = data.map(PairList::into_vec).unwrap_or_default();
    let (known, unknown) = resolve(&state, names);
    let Some(client) = state.hub.fanout.get(socket.id) else {
        return;
    };
    // From "everything" a subscribe narrows to the list; otherwise it adds to it.
    let filter = match client.filter() {
        None => known.clone(),
        Some(mut f) => {
            f.extend(known.iter().cloned());
            f
        }
    };
    client.set_filter(Some(filter.clone()));
    let _ = ack.send(&ack_body(&filter, unknown));
    if let Some(snapshot) = state.hub.snapshot_payload(Some(&known)) {
        let _ = socket.emit(EVENT, &snapshot);
    }
}

async fn on_unsubscribe(
    socket: SocketRef,
    State(state): State<AppState>,
    TryData(data): TryData<PairList>,
    ack: AckSender,
) {
    let names = data.map(PairList::into_vec).unwrap_or_default();
    let (known, unknown) = resolve(&state, names);
    let Some(client) = state.hub.fanout.get(socket.id) else {
        return;
    };
    let mut filter = client
        .filter()
        .unwrap_or_else(|| state.hub.book().known_pairs().clone());
    filter.retain(|p| !known.contains(p));
    client.set_filter(Some(filter.clone()));
    let _ = ack.send(&ack_body(&filter, unknown));
}

/// Sets up the namespace.
pub fn register(io: &SocketIo) {
    io.ns("/", on_connect.with(authenticate));
}
