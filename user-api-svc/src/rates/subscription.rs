//! The bus side of live rates.
//!
//! On Redis: subscribe to `{prefix}rates`, `{prefix}status` and `{prefix}spreads:changed`;
//! bootstrap from `{prefix}rates:last`, `{prefix}pairs` and the status key at start and again
//! after every reconnect (pub/sub is at-most-once, ARCHITECTURE.md §4).
//!
//! On the in-process bus of the all-in-one binary ([`common::membus`]) the same loop runs over
//! a broadcast receiver: bootstrap from the last values at start, and again whenever this
//! subscriber lagged behind. [`BusLink`] is what the rest of the service holds: it announces
//! spread changes and reports whether the bus is reachable, whichever bus it is.

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
        match self {
            Subscription::Redis {
                client,
                subscriber,
                keys,
            } => run(hub, client, subscriber, keys, shutdown, on_spreads_changed).await,
            Subscription::Memory(bus) => run_memory(hub, bus, shutdown, on_spreads_changed).await,
        }
    }
}

/// Loads the in-process bus's last values, pair metadata and status into the hub.
pub fn bootstrap_memory(bus: &MemoryBus, hub: &RateHub) -> usize {
    for m in bus.pairs() {
        hub.on_meta(m);
    }
    if let Some(s) = bus.status() {
        hub.on_status(StatusMsg::clone(&s));
    }
    let last = bus.last_values();
    for m in &last {
        hub.on_rate(RateMsg::clone(m));
    }
    last.len()
}

/// Runs the in-process subscription until shutdown; `on_spreads_changed` as in [`run`].
pub async fn run_memory<F, Fut>(
    hub: Arc<RateHub>,
    bus: MemoryBus,
    shutdown: Shutdown,
    on_spreads_changed: F,
) where
    F: Fn(String) -> Fut + Send + Sync,
    Fut: std::future::Future<Output = ()> + Send,
{
    use tokio::sync::broadcast::error::RecvError;
    // Subscribe first, then read: nothing published in between is lost.
    let mut events = bus.subscribe();
    let n = bootstrap_memory(&bus, &hub);
    tracing::info!(rates = n, "subscribed to the in-process bus");
    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            event = events.recv() => match event {
                Ok(BusEvent::Rate(r)) => hub.on_rate(RateMsg::clone(&r)),
                Ok(BusEvent::Status(s)) => hub.on_status(StatusMsg::clone(&s)),
                Ok(BusEvent::PairsChanged) => {
                    for m in bus.pairs() {
                        hub.on_meta(m);
                    }
                }
                Ok(BusEvent::SpreadsChanged(node)) => on_spreads_changed(node.to_string()).await,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "bus subscriber lagged; re-reading the last values");
                    metrics::counter!("rategate_bus_lagged_total").increment(1);
                    bootstrap_memory(&bus, &hub);
                }
                Err(RecvError::Closed) => break,
            },
        }
    }
}

/// Reads the last values, pair metadata and status into the hub.
pub async fn bootstrap(redis: &Client, keys: &BusKeys, hub: &RateHub) -> Result<usize, Error> {
    let metas: std::collections::HashMap<String, String> = redis.hgetall(keys.pairs()).await?;
    for raw in metas.values() {
        match serde_json::from_str::<PairMeta>(raw) {
            Ok(m) => hub.on_meta(m),
            Err(e) => tracing::warn!(error = %e, "unreadable pair metadata on the bus"),
        }
    }
    let status: Option<String> = redis.get(keys.status()).await?;
    if let Some(s) = status.and_then(|s| serde_json::from_str::<StatusMsg>(&s).ok()) {
        hub.on_status(s);
    }
    let last: std::collections::HashMap<String, String> = redis.hgetall(keys.rates_last()).await?;
    let mut n = 0;
    for raw in last.values() {
        match serde_json::from_str::<RateMsg>(raw) {
            Ok(m) => {
                hub.on_rate(m);
                n += 1;
            }
            Err(e) => tracing::warn!(error = %e, "unreadable rate in rates:last"),
        }
    }
    Ok(n)
}

/// Runs the subscription until shutdown. `on_spreads_changed` is called with the sending node's
/// id when any node changed spreads.
pub async fn run<F, Fut>(
    hub: Arc<RateHub>,
    redis: Client,
    subscriber: SubscriberClient,
    keys: BusKeys,
    shutdown: Shutdown,
    on_spreads_changed: F,
) where
    F: Fn(String) -> Fut + Send + Sync,
    Fut: std::future::Future<Output = ()> + Send,
{
    let mut messages = subscriber.message_rx();
    let mut reconnects = subscriber.reconnect_rx();
    let (rates, status, spreads, pairs) = (
        keys.rates(),
        keys.status(),
        spreads_channel(&keys),
        keys.pairs(),
    );
    let _manager = subscriber.manage_subscriptions();
    let mut subscribed = false;
    let mut meta_every = tokio::time::interval(Duration::from_secs(60));
    let mut retry = tokio::time::interval(Duration::from_millis(500));
    loop {
        if !subscribed && subscriber.is_connected() {
            match subscriber
                .subscribe(vec![
                    rates.clone(),
                    status.clone(),
                    spreads.clone(),
                    pairs.clone(),
                ])
                .await
            {
                Ok(()) => {
                    subscribed = true;
                    match bootstrap(&redis, &keys, &hub).await {
                        Ok(n) => tracing::info!(
                            rates = n,
                            "subscribed to the bus and loaded last values"
                        ),
                        Err(e) => {
                            tracing::warn!(error = %e, "bootstrap from rates:last failed; will retry on reconnect")
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "subscribe failed; retrying"),
            }
        }
        tokio::select! {
            _ = shutdown.wait() => break,
            _ = retry.tick(), if !subscribed => {}
            Ok(_) = reconnects.recv() => {
                tracing::info!("redis reconnected; re-reading rates:last");
                metrics::counter!("rategate_bus_reconnects_total").increment(1);
                if let Err(e) = bootstrap(&redis, &keys, &hub).await {
                    tracing::warn!(error = %e, "bootstrap after reconnect failed");
                }
            }
            _ = meta_every.tick() => {
                // Metadata is refreshed hourly upstream; picking it up every minute is plenty.
                if let Ok(metas) = redis.hgetall::<std::collections::HashMap<String, String>, _>(keys.pairs()).await {
                    for m in metas.values().filter_map(|raw| serde_json::from_str::<PairMeta>(raw).ok()) {
                        hub.on_meta(m);
                    }
                }
            }
            msg = messages.recv() => match msg {
                Ok(m) => {
                    let channel = m.channel.to_string();
                    let Some(text) = m.value.as_str() else { continue };
                    if channel == rates {
                        match serde_json::from_str::<RateMsg>(&text) {
                            Ok(r) => hub.on_rate(r),
                            Err(e) => {
                                metrics::counter!("rategate_bus_bad_messages_total").increment(1);
                                tracing::warn!(error = %e, "unreadable rate message");
                            }
                        }
                    } else if channel == status {
                        match serde_json::from_str::<StatusMsg>(&text) {
                            Ok(s) => hub.on_status(s),
                            Err(e) => tracing::warn!(error = %e, "unreadable status message"),
                        }
                    } else if channel == spreads {
                        on_spreads_changed(text.to_string()).await;
                    } else if channel == pairs {
                        match serde_json::from_str::<Vec<PairMeta>>(&text) {
                            Ok(metas) => metas.into_iter().for_each(|m| hub.on_meta(m)),
                            Err(e) => tracing::warn!(error = %e, "unreadable pair metadata announcement"),
                        }
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    // We fell behind the bus: the hash has the newest values.
                    tracing::warn!(missed = n, "bus subscriber lagged; re-reading rates:last");
                    let _ = bootstrap(&redis, &keys, &hub).await;
                }
                Err(_) => break,
            },
        }
    }
    let _ = subscriber
        .unsubscribe(vec![rates, status, spreads, pairs])
        .await;
}
