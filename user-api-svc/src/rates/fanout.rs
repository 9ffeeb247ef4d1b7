//! Delivery of `rates:live` to sockets: each update encoded once per subscription set, with
//! latest-value semantics (ARCHITECTURE.md §6).
//!
//! Sockets with the same subscription (every pair, or one exact set of pairs) form a *set*,
//! split into Socket.IO rooms of at most [`SHARD`] sockets (`rates:*#1`, `rates:BTC_USD,ETH_USD#1`,
//! ...). An update is serialized once per distinct set of pairs it carries and handed to
//! socketioxide's room broadcast, which encodes the packet once per room and queues the same
//! bytes on every socket in it: the cost per delivery is a queue push, not a serialization.
//!
//! A socket whose send buffer is full never builds a backlog. A room broadcast reports how
//! many sockets were full but not which, so that room is *settled* at once: the same message
//! goes to each of its sockets alone (the others see one repeated value), and a socket still
//! full leaves for the *slow lane*. There it collects the pairs it misses and gets their newest
//! values, in one message, as soon as its buffer has room ([`Fanout::flush_slow`]); then it
//! rejoins a room. Rooms are small so that settling one is cheap; a slow socket never slows
//! its room down.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};

use common::Pair;
use serde_json::value::RawValue;
use socketioxide::socket::Sid;
use socketioxide::{BroadcastError, SendError, SocketError};

use crate::cluster::{Io, Socket};

use common::sync::lock;

pub const EVENT: &str = "rates:live";

/// Sockets per room: settling a room after a full buffer resends to at most this many.
pub const SHARD: usize = 64;

/// The set a room belongs to: its name between `rates:` and `#` (see [`Registry::join`]).
fn key_of(room: &str) -> &str {
    room.strip_prefix("rates:")
        .and_then(|r| r.rsplit_once('#'))
        .map(|(key, _)| key)
        .unwrap_or_default()
}

/// The key of a subscription: `*` for every pair, else the sorted pair keys.
fn set_key(filter: Option<&BTreeSet<Pair>>) -> String {
    match filter {
        None => "*".to_string(),
        Some(pairs) => pairs.iter().map(Pair::key).collect::<Vec<_>>().join(","),
    }
}

fn wants(filter: Option<&BTreeSet<Pair>>, pair: &Pair) -> bool {
    filter.is_none_or(|f| f.contains(pair))
}

/// One connected socket.
pub struct RateSocket {
    socket: Socket,
    state: Mutex<SocketState>,
}

struct SocketState {
    /// `None` = every pair.
    filter: Option<BTreeSet<Pair>>,
    /// Where it gets updates.
    lane: Lane,
}

enum Lane {
    /// The room it is in.
    Room(String),
    /// Out of rooms, owing these pairs' newest values.
    Slow(BTreeSet<Pair>),
}

impl RateSocket {
    pub fn filter(&self) -> Option<BTreeSet<Pair>> {
        lock(&self.state).filter.clone()
    }
}

/// All sockets with one subscription.
struct SubscriptionSet {
    filter: Option<BTreeSet<Pair>>,
    /// Room name → its members.
    rooms: HashMap<String, Vec<Sid>>,
    next_room: u64,
}

#[derive(Default)]
struct Registry {
    sockets: HashMap<Sid, Arc<RateSocket>>,
    sets: HashMap<String, SubscriptionSet>,
    slow: Vec<Sid>,
}

impl Registry {
    /// Puts `client` in a room of its subscription's set (one with space, or a new one).
    fn join(&mut self, client: &RateSocket, filter: Option<BTreeSet<Pair>>) -> String {
        let key = set_key(filter.as_ref());
        let set = self
            .sets
            .entry(key.clone())
            .or_insert_with(|| SubscriptionSet {
                filter,
                rooms: HashMap::new(),
                next_room: 0,
            });
        let room = match set.rooms.iter().find(|(_, m)| m.len() < SHARD) {
            Some((name, _)) => name.clone(),
            None => {
                set.next_room += 1;
                format!("rates:{key}#{}", set.next_room)
            }
        };
        set.rooms
            .entry(room.clone())
            .or_default()
            .push(client.socket.id);
        client.socket.join(room.clone());
        room
    }

    fn leave(&mut self, client: &RateSocket, room: &str) {
        client.socket.leave(room.to_string());
        let key = key_of(room);
        let Some(set) = self.sets.get_mut(key) else {
            return;
        };
        if let Some(members) = set.rooms.get_mut(room) {
            members.retain(|s| *s != client.socket.id);
            if members.is_empty() {
                set.rooms.remove(room);
            }
        }
        if set.rooms.is_empty() {
            self.sets.remove(key);
        }
    }

    /// Rooms whose set wants any of `pairs`, grouped by the pairs each set is owed.
    fn owed(&self, pairs: &BTreeSet<Pair>) -> HashMap<BTreeSet<Pair>, Vec<String>> {
        let mut groups: HashMap<BTreeSet<Pair>, Vec<String>> = HashMap::new();
        for set in self.sets.values() {
            let owed: BTreeSet<Pair> = pairs
                .iter()
                .filter(|p| wants(set.filter.as_ref(), p))
                .cloned()
                .collect();
            if !owed.is_empty() {
                groups
                    .entry(owed)
                    .or_default()
                    .extend(set.rooms.keys().cloned());
            }
        }
        groups
    }

    /// Slow sockets add the pairs of `pairs` they want to what they are owed.
    fn owe_slow(&self, pairs: &BTreeSet<Pair>) {
        for sid in &self.slow {
            let Some(client) = self.sockets.get(sid) else {
                continue;
            };
            let mut state = lock(&client.state);
            let SocketState { filter, lane } = &mut *state;
            if let Lane::Slow(owed) = lane {
                owed.extend(pairs.iter().filter(|p| wants(filter.as_ref(), p)).cloned());
            }
        }
    }

    /// After a broadcast to `room` found full sockets: `body` to each member alone; those
    /// still full move to the slow lane, owing `pairs`.
    fn settle(&mut self, room: &str, pairs: &BTreeSet<Pair>, body: &RawValue) {
        let members: Vec<Arc<RateSocket>> = self
            .sets
            .get(key_of(room))
            .and_then(|set| set.rooms.get(room))
            .into_iter()
            .flatten()
            .filter_map(|sid| self.sockets.get(sid).cloned())
            .collect();
        for client in members {
            if let Err(SendError::Socket(SocketError::InternalChannelFull)) =
                client.socket.emit(EVENT, body)
            {
                {
                    let mut state = lock(&client.state);
                    let owed = pairs
                        .iter()
                        .filter(|p| wants(state.filter.as_ref(), p))
                        .cloned()
                        .collect();
                    state.lane = Lane::Slow(owed);
                }
                self.leave(&client, room);
                self.slow.push(client.socket.id);
                metrics::counter!("rategate_socket_slow_total").increment(1);
            }
        }
    }
}

#[derive(Default)]
pub struct Fanout {
    io: OnceLock<Io>,
    registry: Mutex<Registry>,
}

impl Fanout {
    /// Broadcasts go through `io` once it is built (the hub exists before it).
    pub fn attach(&self, io: Io) {
        let _ = self.io.set(io);
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        lock(&self.registry)
    }

    /// A new socket, subscribed to every pair.
    /// The socket's entry, registering it first if it has none (the socket's first event may
    /// come before its connect handler has run).
    pub fn get_or_register(&self, socket: &Socket) -> Arc<RateSocket> {
        let mut reg = self.registry();
        if let Some(client) = reg.sockets.get(&socket.id) {
            return client.clone();
        }
        let client = Arc::new(RateSocket {
            socket: socket.clone(),
            state: Mutex::new(SocketState {
                filter: None,
                lane: Lane::Slow(BTreeSet::new()),
            }),
        });
        reg.sockets.insert(client.socket.id, client.clone());
        let room = reg.join(&client, None);
        lock(&client.state).lane = Lane::Room(room);
        metrics::gauge!("rategate_sockets_connected").increment(1.0);
        client
    }

    pub fn remove(&self, sid: Sid) {
        let mut reg = self.registry();
        let Some(client) = reg.sockets.remove(&sid) else {
            return;
        };
        reg.slow.retain(|s| *s != sid);
        let room = match &lock(&client.state).lane {
            Lane::Room(room) => Some(room.clone()),
            Lane::Slow(_) => None,
        };
        if let Some(room) = room {
            reg.leave(&client, &room);
        }
        metrics::gauge!("rategate_sockets_connected").decrement(1.0);
    }

    pub fn get(&self, sid: Sid) -> Option<Arc<RateSocket>> {
        self.registry().sockets.get(&sid).cloned()
    }

    pub fn len(&self) -> usize {
        self.registry().sockets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Changes what a socket receives: it moves to a room of its new subscription (joining
    /// first, so it never misses an update in between).
    pub fn set_filter(&self, client: &RateSocket, filter: Option<BTreeSet<Pair>>) {
        let mut reg = self.registry();
        let old_room = {
            let mut state = lock(&client.state);
            if state.filter == filter {
                return;
            }
            state.filter = filter.clone();
            match &state.lane {
                Lane::Room(room) => room.clone(),
                // A slow socket joins its new set's room once it catches up.
                Lane::Slow(_) => return,
            }
        };
        let room = reg.join(client, filter);
        lock(&client.state).lane = Lane::Room(room);
        reg.leave(client, &old_room);
    }

    /// One pair's new value, already serialized, to every socket that wants it.
    pub fn deliver(&self, pair: &Pair, payload: &RawValue) {
        let mut reg = self.registry();
        let pairs = BTreeSet::from([pair.clone()]);
        let rooms: Vec<String> = reg.owed(&pairs).into_values().flatten().collect();
        self.broadcast(&mut reg, &rooms, &pairs, payload);
        reg.owe_slow(&pairs);
    }

    /// The newest values of `pairs` to every socket that wants any of them: one payload (from
    /// `payload_for`) per distinct set of pairs owed, one broadcast per room.
    pub fn send(
        &self,
        pairs: &BTreeSet<Pair>,
        payload_for: impl Fn(&BTreeSet<Pair>) -> Option<Box<RawValue>>,
    ) {
        if pairs.is_empty() {
            return;
        }
        let mut reg = self.registry();
        for (owed, rooms) in reg.owed(pairs) {
            if let Some(body) = payload_for(&owed) {
                self.broadcast(&mut reg, &rooms, &owed, &body);
            }
        }
        reg.owe_slow(pairs);
    }

    /// Slow sockets that can take a message now get what they owe (current values from
    /// `payload_for`) and rejoin a room.
    pub fn flush_slow(&self, payload_for: impl Fn(&BTreeSet<Pair>) -> Option<Box<RawValue>>) {
        let mut reg = self.registry();
        if reg.slow.is_empty() {
            return;
        }
        let mut cache: HashMap<BTreeSet<Pair>, Option<Box<RawValue>>> = HashMap::new();
        for sid in std::mem::take(&mut reg.slow) {
            let Some(client) = reg.sockets.get(&sid).cloned() else {
                continue;
            };
            let owed = match &lock(&client.state).lane {
                Lane::Slow(owed) => owed.clone(),
                Lane::Room(_) => continue,
            };
            let body = cache
                .entry(owed.clone())
                .or_insert_with(|| payload_for(&owed))
                .clone();
            let sent = match body {
                Some(body) => client.socket.emit(EVENT, &*body),
                None => Ok(()),
            };
            match sent {
                Ok(()) => {
                    let filter = lock(&client.state).filter.clone();
                    let room = reg.join(&client, filter);
                    lock(&client.state).lane = Lane::Room(room);
                }
                Err(SendError::Socket(SocketError::InternalChannelFull)) => reg.slow.push(sid),
                // Closed: its disconnect removes it.
                Err(_) => {}
            }
        }
    }

    /// `payload` to every room in `rooms`, one broadcast each (encoded once per room, the
    /// same bytes queued on each socket); a room with a full socket is settled at once.
    fn broadcast(
        &self,
        reg: &mut Registry,
        rooms: &[String],
        pairs: &BTreeSet<Pair>,
        payload: &RawValue,
    ) {
        let Some(io) = self.io.get() else {
            return;
        };
        for room in rooms {
            let op = io.local().to(room.clone());
            let mut emit = std::pin::pin!(op.emit(EVENT, payload));
            // The local adapter completes at once; a future that does not would be a bug.
            let result = match emit.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                Poll::Ready(r) => r,
                Poll::Pending => {
                    tracing::error!("socket broadcast did not complete at once; dropped");
                    continue;
                }
            };
            let full = match result {
                Ok(()) => 0,
                Err(BroadcastError::Socket(errors)) => errors
                    .iter()
                    .filter(|e| matches!(e, SocketError::InternalChannelFull))
                    .count(),
                Err(e) => {
                    tracing::warn!(error = %e, "socket broadcast failed");
                    0
                }
            };
            if full > 0 {
                metrics::counter!("rategate_socket_coalesced_total").increment(full as u64);
                reg.settle(room, pairs, payload);
            }
        }
    }
}
