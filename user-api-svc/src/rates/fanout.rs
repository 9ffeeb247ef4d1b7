//! Delivery of `rates:live` to sockets with latest-value semantics.
//!
//! Each tick is serialized once and emitted to every socket that wants its pair. A socket
//! whose send buffer is full does not queue the tick: the pair is marked *pending* for that
//! socket, and [`Fanout::flush`] later sends the pair's **current** value (all pending pairs in
//! one message). So a slow client's backlog never grows past its buffer, and what it eventually
//! receives is the newest price, never a queue of old ones.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use common::Pair;
use serde_json::value::RawValue;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use socketioxide::{SendError, SocketError};

pub const EVENT: &str = "rates:live";

/// One connected socket.
pub struct RateSocket {
    socket: SocketRef,
    /// `None` = every pair.
    filter: RwLock<Option<BTreeSet<Pair>>>,
    pending: Mutex<BTreeSet<Pair>>,
    has_pending: AtomicBool,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}
fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RateSocket {
    pub fn wants(&self, pair: &Pair) -> bool {
        read(&self.filter).as_ref().is_none_or(|f| f.contains(pair))
    }

    pub fn filter(&self) -> Option<BTreeSet<Pair>> {
        read(&self.filter).clone()
    }

    pub fn set_filter(&self, filter: Option<BTreeSet<Pair>>) {
        *write(&self.filter) = filter;
    }

    fn mark_pending(&self, pairs: impl IntoIterator<Item = Pair>) {
        lock(&self.pending).extend(pairs);
        self.has_pending.store(true, Ordering::Release);
    }

    /// Emits now, or remembers the pairs for the next flush if the socket is backed up.
    fn send(&self, payload: &RawValue, pairs: impl IntoIterator<Item = Pair>) -> Delivery {
        match self.socket.emit(EVENT, payload) {
            Ok(()) => Delivery::Sent,
            Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                self.mark_pending(pairs);
                metrics::counter!("rategate_socket_coalesced_total").increment(1);
                Delivery::Deferred
            }
            Err(_) => Delivery::Gone,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Delivery {
    Sent,
    Deferred,
    Gone,
}

#[derive(Default)]
pub struct Fanout {
    clients: RwLock<HashMap<Sid, Arc<RateSocket>>>,
}

impl Fanout {
    pub fn register(&self, socket: SocketRef) -> Arc<RateSocket> {
        let client = Arc::new(RateSocket {
            socket: socket.clone(),
            filter: RwLock::new(None),
            pending: Mutex::new(BTreeSet::new()),
            has_pending: AtomicBool::new(false),
        });
        write(&self.clients).insert(socket.id, client.clone());
        metrics::gauge!("rategate_sockets_connected").increment(1.0);
        client
    }

    pub fn remove(&self, sid: Sid) {
        if write(&self.clients).remove(&sid).is_some() {
            metrics::gauge!("rategate_sockets_connected").decrement(1.0);
        }
    }

    pub fn get(&self, sid: Sid) -> Option<Arc<RateSocket>> {
        read(&self.clients).get(&sid).cloned()
    }

    pub fn len(&self) -> usize {
        read(&self.clients).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One pair's new value to every socket that wants it.
    pub fn deliver(&self, pair: &Pair, payload: &RawValue) {
        let clients = read(&self.clients);
        for client in clients.values() {
            if !client.wants(pair) {
                continue;
            }
            if client.has_pending.load(Ordering::Acquire) {
                // Already behind: join the pending set so it gets this pair's newest value.
                client.mark_pending([pair.clone()]);
                continue;
            }
            client.send(payload, [pair.clone()]);
        }
    }

    /// Marks `pairs` pending for every socket that wants any of them (the next flush sends the
    /// current values, one message per socket).
    pub fn mark_all_pending(&self, pairs: &[Pair]) {
        let clients = read(&self.clients);
        for client in clients.values() {
            let wanted: Vec<Pair> = pairs.iter().filter(|p| client.wants(p)).cloned().collect();
            if !wanted.is_empty() {
                client.mark_pending(wanted);
            }
        }
    }

    /// Sends each backed-up socket its pending pairs' current values, built by `payload_for`.
    pub fn flush(&self, payload_for: impl Fn(&BTreeSet<Pair>) -> Option<Box<RawValue>>) {
        let clients = read(&self.clients);
        for client in clients.values() {
            if !client.has_pending.swap(false, Ordering::AcqRel) {
                continue;
            }
            let pending = std::mem::take(&mut *lock(&client.pending));
            if pending.is_empty() {
                continue;
            }
            if let Some(payload) = payload_for(&pending) {
                client.send(&payload, pending);
            }
        }
    }
}
