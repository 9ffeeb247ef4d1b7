//! The bus side of live rates: one loop ([`follow`]) over a [`BusSource`].
//!
//! A source yields what it heard: rates, status, metadata, another node's spread change, or
//! [`Heard::Resync`] when something may have been missed (pub/sub is at-most-once,
//! ARCHITECTURE.md §4); the loop then re-reads the last values, metadata and status
//! ([`BusSource::snapshot`]) into the hub. The sources:
//! - [`RedisSource`]: subscribes to `{prefix}rates`, `{prefix}status`, `{prefix}pairs` and
//!   `{prefix}spreads:changed` (retrying while Redis is away); resyncs once subscribed, after
//!   every reconnect or lag, and every minute as a backstop;
//! - [`MemorySource`]: the in-process bus of the all-in-one binary ([`common::membus`]);
//!   resyncs at start and whenever it lagged behind.
//!
//! [`BusLink`] is what the rest of the service holds: it announces spread changes and reports
//! whether the bus is reachable, whichever bus it is.

use std::sync::Arc;
use std::time::Duration;

use common::bus::{BusKeys, PairMeta, RateMsg, StatusMsg};
use common::membus::{BusEvent, MemoryBus};
use common::shutdown::Shutdown;
use fred::clients::SubscriberClient;
use fred::prelude::*;

use super::RateHub;

/// The channel on which nodes tell each other that spreads changed (payload: the node id).
pub fn spreads_channel(keys: &BusKeys) -> String {
    format!("{}spreads:changed", keys.prefix())
}

/// A client that reconnects forever and fails commands fast while Redis is away.
pub fn client_builder(url: &str) -> Result<Builder, Error> {
    let mut config = Config::from_url(url)?;
    config.fail_fast = false;
    let mut policy = ReconnectPolicy::new_exponential(0, 10, 2_000, 2);
    policy.set_jitter(20);
    let mut builder = Builder::from_config(config);
    builder
        .set_policy(policy)
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(2);
            c.max_command_attempts = 1;
        })
        .with_performance_config(|p| {
            p.default_command_timeout = Duration::from_secs(2);
            p.broadcast_channel_capacity = 1 << 14;
        });
    Ok(builder)
}

/// The bus as the rest of the service sees it.
#[derive(Clone)]
pub enum BusLink {
    Redis { client: Client, keys: BusKeys },
    Memory(MemoryBus),
}

impl BusLink {
    /// Whether the bus can be reached now (the in-process bus always can).
    pub fn is_connected(&self) -> bool {
        match self {
            BusLink::Redis { client, .. } => client.is_connected(),
            BusLink::Memory(_) => true,
        }
    }

    /// `redis connected`, `redis disconnected` or `in-process`, for `/ready`'s `bus`.
    pub fn describe(&self) -> &'static str {
        match self {
            BusLink::Memory(_) => "in-process",
            _ if self.is_connected() => "redis connected",
            _ => "redis disconnected",
        }
    }

    /// Tells the other nodes to reload spreads (best effort: they also reload on reconnect).
    pub async fn announce_spreads_changed(&self, node_id: &str) {
        match self {
            BusLink::Redis { client, keys } => {
                if let Err(e) = client
                    .publish::<(), _, _>(spreads_channel(keys), node_id)
                    .await
                {
                    tracing::warn!(error = %e, "could not announce the spread change to other nodes");
                }
            }
            BusLink::Memory(bus) => bus.announce_spreads_changed(node_id),
        }
    }

    pub async fn quit(&self) {
        if let BusLink::Redis { client, .. } = self {
            let _ = client.quit().await;
        }
    }
}

/// What a source heard.
pub enum Heard {
    Rate(RateMsg),
    Status(StatusMsg),
    Meta(Vec<PairMeta>),
    /// Another node changed spreads (its node id).
    SpreadsChanged(String),
    /// Something may have been missed: re-read the last values.
    Resync,
    /// The source is gone for good.
    Closed,
}

/// The bus's current state: what a consumer needs before any tick.
#[derive(Default)]
pub struct Snapshot {
    pub metas: Vec<PairMeta>,
    pub status: Option<StatusMsg>,
    pub rates: Vec<RateMsg>,
}

/// One bus, read by [`follow`].
#[async_trait::async_trait]
pub trait BusSource: Send + Sync {
    /// The next thing heard (subscribing first, and again after losing the bus).
    async fn next(&mut self) -> Heard;
    /// The last values, metadata and status as the bus holds them now.
    async fn snapshot(&self) -> Result<Snapshot, String>;
    /// Leaves the bus (unsubscribes) at shutdown.
    async fn close(&mut self) {}
}

/// Loads a snapshot into the hub; how many rates it held.
async fn load(source: &dyn BusSource, hub: &RateHub) -> Result<usize, String> {
    let snap = source.snapshot().await?;
    for m in snap.metas {
        hub.on_meta(m);
    }
    if let Some(s) = snap.status {
        hub.on_status(s);
    }
    let n = snap.rates.len();
    for r in snap.rates {
        hub.on_rate(r);
    }
    Ok(n)
}

/// Runs until shutdown (or the source closes); `on_spreads_changed` gets the id of a node that
/// changed spreads.
pub async fn follow<F, Fut>(
    mut source: Box<dyn BusSource>,
    hub: Arc<RateHub>,
    shutdown: Shutdown,
    on_spreads_changed: F,
) where
    F: Fn(String) -> Fut + Send + Sync,
    Fut: std::future::Future<Output = ()> + Send,
{
    loop {
        let heard = tokio::select! {
            _ = shutdown.wait() => break,
            heard = source.next() => heard,
        };
        match heard {
            Heard::Rate(r) => hub.on_rate(r),
            Heard::Status(s) => hub.on_status(s),
            Heard::Meta(metas) => metas.into_iter().for_each(|m| hub.on_meta(m)),
            Heard::SpreadsChanged(node) => on_spreads_changed(node).await,
            Heard::Resync => match load(source.as_ref(), &hub).await {
                Ok(n) => tracing::debug!(rates = n, "loaded the bus's last values"),
                Err(e) => {
                    tracing::warn!(error = %e, "reading the bus's last values failed; will retry")
                }
            },
            Heard::Closed => break,
        }
    }
    source.close().await;
}

/// What the subscription task reads from.
pub enum Subscription {
    Redis {
        client: Client,
        subscriber: SubscriberClient,
        keys: BusKeys,
    },
    Memory(MemoryBus),
}

impl Subscription {
    /// Runs until shutdown; `on_spreads_changed` gets the id of a node that changed spreads.
    pub async fn run<F, Fut>(self, hub: Arc<RateHub>, shutdown: Shutdown, on_spreads_changed: F)
    where
        F: Fn(String) -> Fut + Send + Sync,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let source: Box<dyn BusSource> = match self {
            Subscription::Redis {
                client,
                subscriber,
                keys,
            } => Box::new(RedisSource::new(client, subscriber, keys)),
            Subscription::Memory(bus) => Box::new(MemorySource::new(bus)),
        };
        follow(source, hub, shutdown, on_spreads_changed).await
    }
}

/// The in-process bus as a [`BusSource`].
pub struct MemorySource {
    bus: MemoryBus,
    events: tokio::sync::broadcast::Receiver<BusEvent>,
    started: bool,
}

impl MemorySource {
    /// Subscribes at once, so nothing published before the first snapshot is lost.
    pub fn new(bus: MemoryBus) -> Self {
        let events = bus.subscribe();
        MemorySource {
            bus,
            events,
            started: false,
        }
    }
}

#[async_trait::async_trait]
impl BusSource for MemorySource {
    async fn next(&mut self) -> Heard {
        use tokio::sync::broadcast::error::RecvError;
        if !self.started {
            self.started = true;
            tracing::info!("subscribed to the in-process bus");
            return Heard::Resync;
        }
        match self.events.recv().await {
            Ok(BusEvent::Rate(r)) => Heard::Rate(RateMsg::clone(&r)),
            Ok(BusEvent::Status(s)) => Heard::Status(StatusMsg::clone(&s)),
            Ok(BusEvent::PairsChanged) => Heard::Meta(self.bus.pairs()),
            Ok(BusEvent::SpreadsChanged(node)) => Heard::SpreadsChanged(node.to_string()),
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "bus subscriber lagged; re-reading the last values");
                metrics::counter!("rategate_bus_lagged_total").increment(1);
                Heard::Resync
            }
            Err(RecvError::Closed) => Heard::Closed,
        }
    }

    async fn snapshot(&self) -> Result<Snapshot, String> {
        Ok(Snapshot {
            metas: self.bus.pairs(),
            status: self.bus.status().map(|s| StatusMsg::clone(&s)),
            rates: self
                .bus
                .last_values()
                .iter()
                .map(|m| RateMsg::clone(m))
                .collect(),
        })
    }
}

/// Redis as a [`BusSource`].
pub struct RedisSource {
    redis: Client,
    subscriber: SubscriberClient,
    keys: BusKeys,
    channels: [String; 4],
    messages: tokio::sync::broadcast::Receiver<fred::types::Message>,
    reconnects: tokio::sync::broadcast::Receiver<fred::types::config::Server>,
    subscribed: bool,
    retry: tokio::time::Interval,
    backstop: tokio::time::Interval,
    _manager: tokio::task::JoinHandle<()>,
}

impl RedisSource {
    pub fn new(redis: Client, subscriber: SubscriberClient, keys: BusKeys) -> Self {
        let channels = [
            keys.rates(),
            keys.status(),
            spreads_channel(&keys),
            keys.pairs(),
        ];
        RedisSource {
            messages: subscriber.message_rx(),
            reconnects: subscriber.reconnect_rx(),
            _manager: subscriber.manage_subscriptions(),
            redis,
            subscriber,
            keys,
            channels,
            subscribed: false,
            retry: tokio::time::interval(Duration::from_millis(500)),
            // Metadata is refreshed hourly upstream and announced; a full re-read every minute
            // is the backstop for an announcement lost while we were away.
            backstop: tokio::time::interval(Duration::from_secs(60)),
        }
    }

    /// A message on one of our channels, parsed; `None` for anything unreadable (counted).
    fn parse(&self, m: fred::types::Message) -> Option<Heard> {
        let channel = m.channel.to_string();
        let text = m.value.as_str()?;
        let [rates, status, spreads, pairs] = &self.channels;
        let heard = if &channel == rates {
            serde_json::from_str::<RateMsg>(&text)
                .map(Heard::Rate)
                .map_err(|e| e.to_string())
        } else if &channel == status {
            serde_json::from_str::<StatusMsg>(&text)
                .map(Heard::Status)
                .map_err(|e| e.to_string())
        } else if &channel == spreads {
            Ok(Heard::SpreadsChanged(text.to_string()))
        } else if &channel == pairs {
            serde_json::from_str::<Vec<PairMeta>>(&text)
                .map(Heard::Meta)
                .map_err(|e| e.to_string())
        } else {
            return None;
        };
        match heard {
            Ok(h) => Some(h),
            Err(e) => {
                metrics::counter!("rategate_bus_bad_messages_total").increment(1);
                tracing::warn!(error = %e, %channel, "unreadable bus message");
                None
            }
        }
    }
}

#[async_trait::async_trait]
impl BusSource for RedisSource {
    async fn next(&mut self) -> Heard {
        loop {
            if !self.subscribed && self.subscriber.is_connected() {
                match self.subscriber.subscribe(self.channels.to_vec()).await {
                    Ok(()) => {
                        self.subscribed = true;
                        tracing::info!("subscribed to the bus");
                        return Heard::Resync;
                    }
                    Err(e) => tracing::warn!(error = %e, "subscribe failed; retrying"),
                }
            }
            tokio::select! {
                _ = self.retry.tick(), if !self.subscribed => {}
                Ok(_) = self.reconnects.recv() => {
                    tracing::info!("redis reconnected; re-reading rates:last");
                    metrics::counter!("rategate_bus_reconnects_total").increment(1);
                    return Heard::Resync;
                }
                _ = self.backstop.tick() => return Heard::Resync,
                msg = self.messages.recv() => match msg {
                    Ok(m) => {
                        if let Some(heard) = self.parse(m) {
                            return heard;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        // We fell behind the bus: the hash has the newest values.
                        tracing::warn!(missed = n, "bus subscriber lagged; re-reading rates:last");
                        return Heard::Resync;
                    }
                    Err(_) => return Heard::Closed,
                },
            }
        }
    }

    async fn snapshot(&self) -> Result<Snapshot, String> {
        let read = async {
            let metas: std::collections::HashMap<String, String> =
                self.redis.hgetall(self.keys.pairs()).await?;
            let status: Option<String> = self.redis.get(self.keys.status()).await?;
            let last: std::collections::HashMap<String, String> =
                self.redis.hgetall(self.keys.rates_last()).await?;
            Ok::<_, Error>((metas, status, last))
        };
        let (metas, status, last) = read.await.map_err(|e| e.to_string())?;
        let decode = |what: &str, e: serde_json::Error| {
            tracing::warn!(error = %e, "unreadable {what} on the bus");
        };
        Ok(Snapshot {
            metas: metas
                .values()
                .filter_map(|raw| {
                    serde_json::from_str(raw)
                        .map_err(|e| decode("pair metadata", e))
                        .ok()
                })
                .collect(),
            status: status.and_then(|s| {
                serde_json::from_str(&s)
                    .map_err(|e| decode("status", e))
                    .ok()
            }),
            rates: last
                .values()
                .filter_map(|raw| {
                    serde_json::from_str(raw)
                        .map_err(|e| decode("rate", e))
                        .ok()
                })
                .collect(),
        })
    }

    async fn close(&mut self) {
        let _ = self.subscriber.unsubscribe(self.channels.to_vec()).await;
    }
}
