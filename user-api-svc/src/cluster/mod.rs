//! What user-api-svc nodes share beyond the rates (ARCHITECTURE.md §4, README "Scaling out").
//!
//! Any number of nodes may run on one Redis and one database. Each hears the rates itself
//! from the bus and emits them only to its own sockets (`io.local()`), so rate traffic does not
//! grow with the node count. Three things do cross nodes, each through Redis under the bus
//! prefix, and each with an in-process stand-in when the bus is in-process (the all-in-one
//! binary is a cluster of one):
//! - private Socket.IO events (`order:filled`, `balance:updated` to the room `user:{id}`) go
//!   through the socketioxide-redis adapter ([`driver`]), so a trade made through one node
//!   reaches the trader's sockets on every node;
//! - login and registration throttling counts in Redis (`auth::throttle`), so spreading
//!   attempts over N nodes does not buy N times the budget;
//! - a once-per-cluster job claims each scheduled run ([`Cluster::claim_run`]), so exactly one
//!   node runs it.
//!
//! Spread changes already cross nodes through the bus (`{prefix}spreads:changed`).

pub mod driver;

use std::time::Duration;

use common::bus::{Bus, BusKeys};
use fred::prelude::*;
use socketioxide::adapter::Emitter;
use socketioxide::extract::SocketRef;
use socketioxide::SocketIo;
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};

pub use driver::{AdapterState, NodeDriver};

/// The Socket.IO adapter every node uses: socketioxide-redis over [`NodeDriver`].
pub type NodeAdapter = CustomRedisAdapter<Emitter, NodeDriver>;
/// The Socket.IO server, with the cluster adapter.
pub type Io = SocketIo<NodeAdapter>;
/// One connected socket, with the cluster adapter.
pub type Socket = SocketRef<NodeAdapter>;
/// The acknowledgement of one socket message, with the cluster adapter.
pub type Ack = socketioxide::extract::AckSender<NodeAdapter>;

/// How long a remote adapter request (rooms, fetch sockets) may wait for the other nodes.
const ADAPTER_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// This node's links to the others.
pub struct Cluster {
    pub driver: NodeDriver,
    redis: Option<(Client, BusKeys)>,
}

impl Cluster {
    /// Links through `bus` when it is Redis; a cluster of one otherwise.
    pub fn new(bus: &dyn Bus) -> anyhow::Result<Cluster> {
        Ok(match bus.as_redis() {
            Some(redis) => Cluster {
                driver: NodeDriver::redis(redis)?,
                redis: Some((redis.client().clone(), redis.keys().clone())),
            },
            None => Cluster {
                driver: NodeDriver::Alone,
                redis: None,
            },
        })
    }

    /// The Redis client and key names the nodes share, when they share Redis.
    pub fn redis(&self) -> Option<(&Client, &BusKeys)> {
        self.redis.as_ref().map(|(c, k)| (c, k))
    }

    /// What the Socket.IO builder needs to make the adapter: the driver, and channel names
    /// under the bus prefix.
    pub fn adapter_state(&self) -> RedisAdapterCtr<NodeDriver> {
        let prefix = self
            .redis
            .as_ref()
            .map(|(_, keys)| keys.socketio())
            .unwrap_or_else(|| "socket.io".into());
        RedisAdapterCtr::new_with_driver(
            self.driver.clone(),
            RedisAdapterConfig::new()
                .with_prefix(prefix)
                .with_request_timeout(ADAPTER_REQUEST_TIMEOUT),
        )
    }

    /// Claims run `slot` of `job` for this node: true for exactly one node of the cluster
    /// (always true for a cluster of one). The claim is held for `hold`, longer than the
    /// job's period, so a late node cannot claim the same run again. If Redis cannot be
    /// asked, the run is skipped here: a missed run is caught up by the next one, a doubled
    /// run is what the claim exists to prevent.
    pub async fn claim_run(&self, job: &str, slot: i64, hold: Duration) -> bool {
        let Some((client, keys)) = &self.redis else {
            return true;
        };
        let claimed: Result<Option<String>, Error> = client
            .set(
                keys.job_run(job, slot),
                "1",
                Some(Expiration::PX(hold.as_millis().max(1) as i64)),
                Some(SetOptions::NX),
                false,
            )
            .await;
        match claimed {
            Ok(reply) => reply.is_some(),
            Err(e) => {
                tracing::warn!(error = %e, job, "cannot claim the job's run; skipping it here");
                false
            }
        }
    }

    /// Closes the adapter's connection at shutdown.
    pub async fn quit(&self) {
        self.driver.quit().await;
    }
}
