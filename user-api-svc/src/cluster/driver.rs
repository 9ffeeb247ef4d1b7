//! The Socket.IO adapter's link between user-api-svc nodes: a [`Driver`] for
//! socketioxide-redis over Redis sharded pub/sub, or [`NodeDriver::Alone`] for the all-in-one
//! binary, where one process is the whole cluster.
//!
//! socketioxide-redis ships a fred driver, but it needs Redis up when the node starts (its
//! constructor waits for the first connection and fails without it) and a failed subscribe is
//! never retried. A node must start and serve without Redis and catch up when it is back, like
//! the rest of the service, so this driver:
//! - builds its subscriber client from the bus's own builder (reconnects forever), with RESP3
//!   so one connection both publishes and receives;
//! - answers `subscribe` at once and keeps trying `SSUBSCRIBE` in the background until it
//!   holds, and does so again for every channel after each reconnect and, on Redis Cluster,
//!   every 5 s, which follows a slot that moved to another master (fred's own
//!   `manage_subscriptions` first re-sends a plain `SUBSCRIBE` with no channel, which Redis
//!   refuses, and then gives up before the sharded ones);
//! - reports whether every channel is held ([`NodeDriver::state`]), for `/ready`;
//! - drops (and counts) a message whose handler is full instead of blocking every other
//!   channel.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use fred::clients::SubscriberClient;
use fred::prelude::*;
use fred::types::RespVersion;
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::mpsc;

/// How the adapter reaches the other nodes.
#[derive(Clone)]
pub enum NodeDriver {
    /// No other node (the in-process bus): nothing to publish, nothing to hear.
    Alone,
    Redis(Arc<RedisLink>),
}

/// The adapter's state for `/ready`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterState {
    /// One process: nothing to connect.
    InProcess,
    /// Every channel the adapter asked for is subscribed on Redis.
    Subscribed,
    /// Redis is away, or a subscription is still being made.
    Connecting,
}

impl AdapterState {
    pub fn as_str(self) -> &'static str {
        match self {
            AdapterState::InProcess => "in-process",
            AdapterState::Subscribed => "subscribed",
            AdapterState::Connecting => "connecting",
        }
    }
}

/// A Redis subscriber connection shared by every namespace's adapter.
pub struct RedisLink {
    client: SubscriberClient,
    handlers: RwLock<HashMap<String, mpsc::Sender<ChanItem>>>,
    /// Channels asked for and not yet subscribed.
    pending: AtomicUsize,
}

/// Why the driver could not do something (fred's words).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DriverError(String);

impl From<fred::error::Error> for DriverError {
    fn from(e: fred::error::Error) -> Self {
        DriverError(e.to_string())
    }
}

impl NodeDriver {
    /// A driver on the Redis that `bus` uses; starts connecting in the background.
    pub fn redis(bus: &common::bus::redis::RedisBus) -> anyhow::Result<NodeDriver> {
        let mut builder = bus.builder().clone();
        builder.with_config(|c| c.version = RespVersion::RESP3);
        let client = builder.build_subscriber_client()?;
        let link = Arc::new(RedisLink {
            client,
            handlers: RwLock::new(HashMap::new()),
            pending: AtomicUsize::new(0),
        });
        let messages = link.client.message_rx();
        tokio::spawn(dispatch(messages, Arc::downgrade(&link)));
        // On a cluster, also every few seconds: a slot that moved to another master takes its
        // channels' subscriptions with it, and nothing else says so.
        let follow = bus.keys().is_clustered().then_some(SHARD_FOLLOW);
        tokio::spawn(resubscribe_on_reconnect(
            link.client.reconnect_rx(),
            follow,
            Arc::downgrade(&link),
        ));
        common::bus::redis::stay_connected(&link.client);
        Ok(NodeDriver::Redis(link))
    }

    pub fn state(&self) -> AdapterState {
        match self {
            NodeDriver::Alone => AdapterState::InProcess,
            NodeDriver::Redis(link)
                if link.client.is_connected() && link.pending.load(Ordering::Relaxed) == 0 =>
            {
                AdapterState::Subscribed
            }
            NodeDriver::Redis(_) => AdapterState::Connecting,
        }
    }

    /// Closes the connection at shutdown.
    pub async fn quit(&self) {
        if let NodeDriver::Redis(link) = self {
            let _ = link.client.quit().await;
        }
    }
}

/// Hands every message to its channel's handler; a full handler loses that one message (the
/// adapter's broadcasts are at-most-once anyway), a missing one is ignored.
async fn dispatch(
    mut messages: tokio::sync::broadcast::Receiver<fred::types::Message>,
    link: std::sync::Weak<RedisLink>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let message = match messages.recv().await {
            Ok(m) => m,
            Err(RecvError::Lagged(n)) => {
                metrics::counter!("rategate_adapter_dropped_total").increment(n);
                tracing::warn!(lost = n, "Socket.IO adapter fell behind Redis");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let Some(link) = link.upgrade() else { return };
        let channel = message.channel.to_string();
        let Some(data) = message.value.into_owned_bytes() else {
            continue;
        };
        // A poisoned lock only means a handler panicked while inserting: the map is intact.
        let handlers = common::sync::read(&link.handlers);
        if let Some(tx) = handlers.get(&channel) {
            if tx.try_send((channel, data)).is_err() {
                metrics::counter!("rategate_adapter_dropped_total").increment(1);
            }
        }
    }
}

/// How often, on a cluster, every channel is asked for again.
const SHARD_FOLLOW: Duration = Duration::from_secs(5);

/// After every reconnect (a new connection holds no subscription), and every `follow` when
/// given, asks again for every channel that has a handler.
async fn resubscribe_on_reconnect(
    mut reconnects: tokio::sync::broadcast::Receiver<fred::types::config::Server>,
    follow: Option<Duration>,
    link: std::sync::Weak<RedisLink>,
) {
    use tokio::sync::broadcast::error::RecvError;
    let mut every = tokio::time::interval(follow.unwrap_or(Duration::from_secs(3600)));
    every.tick().await;
    loop {
        let reconnected = tokio::select! {
            heard = reconnects.recv() => match heard {
                Ok(_) | Err(RecvError::Lagged(_)) => true,
                Err(RecvError::Closed) => return,
            },
            _ = every.tick(), if follow.is_some() => false,
        };
        let Some(link) = link.upgrade() else { return };
        let channels: Vec<String> = common::sync::read(&link.handlers).keys().cloned().collect();
        if !reconnected {
            // Renewing subscriptions that hold: not counted as pending (`/ready` stays
            // `subscribed`); one that fails is retried until it holds.
            for channel in channels {
                if link.client.ssubscribe(channel.as_str()).await.is_err() {
                    link.pending.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(subscribe_until_held(link.clone(), channel));
                }
            }
            continue;
        }
        tracing::info!(
            channels = channels.len(),
            "Redis is back: the Socket.IO adapter subscribes again"
        );
        for channel in channels {
            link.pending.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(subscribe_until_held(link.clone(), channel));
        }
    }
}

/// Keeps asking Redis for `channel` until it holds (or the handler is gone).
async fn subscribe_until_held(link: Arc<RedisLink>, channel: String) {
    let mut delay = Duration::from_millis(50);
    loop {
        let wanted = common::sync::read(&link.handlers).contains_key(&channel);
        if !wanted {
            break;
        }
        match link.client.ssubscribe(channel.as_str()).await {
            Ok(()) => break,
            Err(e) => {
                tracing::debug!(error = %e, channel, "adapter subscription not made yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
        }
    }
    link.pending.fetch_sub(1, Ordering::Relaxed);
}

impl Driver for NodeDriver {
    type Error = DriverError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), DriverError> {
        match self {
            NodeDriver::Alone => Ok(()),
            NodeDriver::Redis(link) => {
                link.client.spublish::<(), _, _>(chan, val).await?;
                Ok(())
            }
        }
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, DriverError> {
        match self {
            NodeDriver::Alone => Ok(MessageStream::new_empty()),
            NodeDriver::Redis(link) => {
                // The handler first, so nothing heard right after SSUBSCRIBE is lost.
                let (tx, rx) = mpsc::channel(size.max(1));
                common::sync::write(&link.handlers).insert(chan.clone(), tx);
                link.pending.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(subscribe_until_held(link.clone(), chan));
                Ok(MessageStream::new(rx))
            }
        }
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), DriverError> {
        match self {
            NodeDriver::Alone => Ok(()),
            NodeDriver::Redis(link) => {
                common::sync::write(&link.handlers).remove(&chan);
                link.client.sunsubscribe(chan).await?;
                Ok(())
            }
        }
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, DriverError> {
        match self {
            NodeDriver::Alone => Ok(1),
            NodeDriver::Redis(link) => {
                let (_, n): (String, u16) = link.client.pubsub_shardnumsub(chan).await?;
                Ok(n)
            }
        }
    }
}
