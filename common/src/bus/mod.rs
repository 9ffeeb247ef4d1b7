//! The bus between the services (ARCHITECTURE.md §4): what goes on it ([`messages`]), one
//! [`Bus`] trait, and its two implementations: [`redis::RedisBus`] for deployments and
//! [`memory::MemoryBus`] for the all-in-one binary, which keeps the Redis bus's semantics in
//! one process (last values written before each announcement, at-most-once delivery, a status
//! that expires). A service is handed an `Arc<dyn Bus>` at build time, the way it is handed its
//! store, and never knows which one it got.
//!
//! The bus gives each side its own handle:
//! - the publisher (exchange-rate-svc) writes through a [`BusSink`]: the newest value per pair
//!   then one announcement per tick, the status, the pair metadata, and a full resync after any
//!   loss;
//! - a consumer (user-api-svc) reads through a [`BusSource`]: what it [`Heard`], and a
//!   [`Snapshot`] of the last values, metadata and status to re-read whenever something may
//!   have been missed.
//!
//! Layout:
//! - [`messages`]: what goes on the bus, and the key and channel names ([`BusKeys`]).
//! - [`memory`]: the in-process bus of the all-in-one binary.
//! - [`redis`]: the bus on one Redis, with every publisher write fenced by the lease.
//! - [`redis_cluster`]: the same writes and subscriptions on Redis Cluster, one slot per script.
//! - [`lease`]: which of several exchange-rate-svc publishes, and the fence on its writes.

pub mod lease;
pub mod memory;
pub mod messages;
pub mod redis;
pub mod redis_cluster;

use std::collections::HashMap;
use std::sync::Arc;

pub use messages::*;

use crate::Pair;

/// One bus: how to publish to it, subscribe to it, and tell other nodes about spread changes.
#[async_trait::async_trait]
pub trait Bus: Send + Sync + 'static {
    /// `redis` or `in-process`: for logs and `/ready`.
    fn name(&self) -> &'static str;
    /// Whether the bus can be reached now (the in-process bus always can).
    fn is_connected(&self) -> bool;
    /// `redis connected`, `redis disconnected` or `in-process`, for `/ready`'s `bus`.
    fn describe(&self) -> &'static str {
        match (self.name(), self.is_connected()) {
            ("redis", true) => "redis connected",
            ("redis", false) => "redis disconnected",
            (name, _) => name,
        }
    }
    /// Whether the bus answers, and in words, for `/ready`: on Redis Cluster, whether every
    /// master answers.
    async fn health(&self) -> BusHealth {
        BusHealth::of(self)
    }
    /// The name our connection carries in Redis's `CLIENT LIST` (none in process).
    fn client_name(&self) -> Option<String> {
        None
    }
    /// A writer for the one publisher.
    fn sink(&self) -> Box<dyn BusSink>;
    /// For a bus several publishers share (Redis): the feed lease for `epoch`, held `ttl`
    /// after each renewal, and a writer whose every write is fenced by it. `None` where one
    /// process is the only publisher (the in-process bus).
    fn leader_sink(
        &self,
        _epoch: &str,
        _ttl: std::time::Duration,
    ) -> Option<(lease::Lease, Box<dyn BusSink>)> {
        None
    }
    /// The Redis bus, where nodes share more than rates through it (the Socket.IO adapter,
    /// login throttling, once-per-cluster jobs); `None` for the in-process bus, where one
    /// process is the whole cluster.
    fn as_redis(&self) -> Option<&redis::RedisBus> {
        None
    }
    /// A new subscription to rates, status, metadata and spread changes.
    fn subscribe(&self) -> anyhow::Result<Box<dyn BusSource>>;
    /// Tells the other nodes to reload spreads (best effort: they also reload on reconnect).
    async fn announce_spreads_changed(&self, node_id: &str);
    /// Closes the connections at shutdown.
    async fn quit(&self);
}

/// What `/ready` says about the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusHealth {
    pub ok: bool,
    /// `redis connected`, `in-process`, `redis cluster: 3 of 3 masters answer`, ...
    pub describe: String,
}

impl BusHealth {
    /// From [`Bus::is_connected`] and [`Bus::describe`].
    pub fn of<B: Bus + ?Sized>(bus: &B) -> BusHealth {
        BusHealth {
            ok: bus.is_connected(),
            describe: bus.describe().to_string(),
        }
    }
}

/// Why a write did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The bus failed (its own words, for the log); retry after a resync.
    #[error("{0}")]
    Bus(String),
    /// The feed lease is someone else's: this process must stand by.
    #[error("not the feed leader")]
    NotLeader,
}

/// One all-or-nothing write, in this order: `meta` written and announced, `status` set and
/// announced, then the newest of `rates` per pair into the last-value store and every one of
/// `rates` announced. Whatever is `None` or empty is left out.
#[derive(Debug, Clone, Copy, Default)]
pub struct Update<'a> {
    pub rates: &'a [Arc<RateMsg>],
    pub meta: Option<&'a [PairMeta]>,
    pub status: Option<&'a StatusMsg>,
}

impl<'a> Update<'a> {
    /// Ticks alone.
    pub fn rates(rates: &'a [Arc<RateMsg>]) -> Self {
        Update {
            rates,
            ..Update::default()
        }
    }
}

/// Where the publisher writes: the bus contract's three writes, each all-or-nothing as far as
/// the bus allows.
#[async_trait::async_trait]
pub trait BusSink: Send + Sync + 'static {
    /// Resolves when the connection came back after a loss (never, for a bus that cannot
    /// lose one).
    async fn reconnected(&mut self);
    /// One all-or-nothing [`Update`].
    async fn write(&self, update: Update<'_>) -> Result<(), SinkError>;

    /// A batch of ticks (and `meta`, when it changed).
    async fn publish_rates(
        &self,
        batch: &[Arc<RateMsg>],
        meta: Option<&[PairMeta]>,
    ) -> Result<(), SinkError> {
        self.write(Update {
            rates: batch,
            meta,
            status: None,
        })
        .await
    }
    /// The status (and `meta`, when it changed).
    async fn publish_status(
        &self,
        status: &StatusMsg,
        meta: Option<&[PairMeta]>,
    ) -> Result<(), SinkError> {
        self.write(Update {
            rates: &[],
            meta,
            status: Some(status),
        })
        .await
    }
    /// Consolidated books: each into the last-value store, then announced (fenced like every
    /// other write).
    async fn publish_books(&self, books: &[Arc<BookMsg>]) -> Result<(), SinkError>;
    /// The whole current state: the metadata, the status, and every last value stored and
    /// announced so live subscribers catch up too.
    async fn resync(
        &self,
        last: &[Arc<RateMsg>],
        meta: &[PairMeta],
        status: &StatusMsg,
    ) -> Result<(), SinkError> {
        self.write(Update {
            rates: last,
            meta: Some(meta),
            status: Some(status),
        })
        .await
    }
}

/// What a subscription heard.
#[derive(Debug)]
pub enum Heard {
    Rate(RateMsg),
    Book(BookMsg),
    Status(StatusMsg),
    Meta(Vec<PairMeta>),
    /// Another node changed spreads (its node id).
    SpreadsChanged(String),
    /// Something may have been missed: re-read the [`Snapshot`].
    Resync,
    /// The subscription is gone for good.
    Closed,
}

/// The bus's current state: what a consumer needs before any tick.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub metas: Vec<PairMeta>,
    pub status: Option<StatusMsg>,
    pub rates: Vec<RateMsg>,
    pub books: Vec<BookMsg>,
}

/// One subscription to the bus.
#[async_trait::async_trait]
pub trait BusSource: Send + Sync {
    /// The next thing heard (subscribing first, and again after losing the bus).
    async fn next(&mut self) -> Heard;
    /// The last values, metadata and status as the bus holds them now.
    async fn snapshot(&self) -> Result<Snapshot, String>;
    /// Leaves the bus (unsubscribes) at shutdown.
    async fn close(&mut self) {}
}

/// Groups ticks by pair, keeping the newest: what the last-value store needs from a batch.
pub fn newest_per_pair(batch: &[Arc<RateMsg>]) -> HashMap<&Pair, &Arc<RateMsg>> {
    let mut newest: HashMap<&Pair, &Arc<RateMsg>> = HashMap::new();
    for msg in batch {
        newest.insert(&msg.pair, msg);
    }
    newest
}
