//! The bus on Redis ([`RedisBus`]). Names under one prefix (`BusKeys`):
//! - [`RedisSink`] writes each batch as one Lua script, atomically: metadata as
//!   `HSET {prefix}pairs` announced on the `{prefix}pairs` channel; status as a key with a short
//!   TTL and on the `{prefix}status` channel; `HSET {prefix}rates:last` with the newest value
//!   per pair, then one `PUBLISH {prefix}rates` per tick. With a feed lease the same script
//!   first checks that the lease is still ours ([`super::lease`]).
//! - [`RedisSource`] subscribes to `{prefix}rates`, `{prefix}status`, `{prefix}pairs` and
//!   `{prefix}spreads:changed` (retrying while Redis is away) and asks for a resync once
//!   subscribed, after every reconnect or lag, and every minute as a backstop. On a cluster it
//!   also makes its shard subscriptions again every 5 s and when the slots change, which
//!   follows a slot that moved to another master.
//!
//! On Redis Cluster (`REDIS_CLUSTER_NODES`, a [`RedisTarget::Cluster`]) the names carry hash
//! tags and the writes and subscriptions go per slot ([`super::redis_cluster`]).
//!
//! Every client is built by [`client_builder`]: it reconnects forever and never lets one
//! command hang; [`stay_connected`] runs its connection task for as long as the process.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fred::clients::SubscriberClient;
use fred::prelude::*;

use super::lease::{Fenced, Lease};
use super::redis_cluster::{Carries, Channels};
use super::{
    newest_per_pair, BookMsg, Bus, BusKeys, BusSink, BusSource, Heard, PairMeta, RateMsg,
    SinkError, Snapshot, StatusMsg, Update,
};
use crate::Pair;

/// TTL of the `{prefix}status` key: long enough to bridge one missed beat, short enough that a
/// dead publisher is noticed.
pub(crate) const STATUS_TTL_SECS: i64 = 5;

/// Which Redis: one server (`REDIS_URL`), or a cluster through its seed nodes
/// (`REDIS_CLUSTER_NODES`, which wins when set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    Url(String),
    Cluster(Vec<(String, u16)>),
}

impl RedisTarget {
    /// The cluster when `cluster_nodes` is set (`host:port,host:port,...`), else `url`.
    pub fn pick(url: &str, cluster_nodes: Option<&str>) -> Result<RedisTarget, String> {
        let Some(nodes) = cluster_nodes.filter(|n| !n.trim().is_empty()) else {
            return Ok(RedisTarget::Url(url.to_string()));
        };
        let parsed = crate::config::items(nodes)
            .map(|node| {
                let (host, port) = node
                    .rsplit_once(':')
                    .ok_or_else(|| format!("REDIS_CLUSTER_NODES: {node:?} is not host:port"))?;
                let port = port
                    .parse::<u16>()
                    .map_err(|_| format!("REDIS_CLUSTER_NODES: {node:?} has no valid port"))?;
                if host.is_empty() {
                    return Err(format!("REDIS_CLUSTER_NODES: {node:?} has no host"));
                }
                Ok((host.trim_matches(['[', ']']).to_string(), port))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(RedisTarget::Cluster(parsed))
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, RedisTarget::Cluster(_))
    }

    /// The names under `prefix` for this kind of Redis. A cluster's prefix may not hold a
    /// brace: it would change the hash tags every name relies on.
    pub fn keys(&self, prefix: &str) -> Result<BusKeys, String> {
        match self {
            RedisTarget::Url(_) => Ok(BusKeys::new(prefix)),
            RedisTarget::Cluster(_) if prefix.contains(['{', '}']) => Err(format!(
                "REDIS_PREFIX {prefix:?} may not contain braces on Redis Cluster"
            )),
            RedisTarget::Cluster(_) => Ok(BusKeys::clustered(prefix)),
        }
    }
}

/// Builds fred clients that reconnect forever (fast at first, then every 2 s at most, every
/// 100 ms on a cluster) and fail a command that cannot complete within `command_timeout`.
///
/// fred sleeps one policy delay even before the very first connection attempt, so the policy
/// starts at 10 ms with little jitter: startup is not held up, reconnects still back off.
pub fn client_builder(target: &RedisTarget, command_timeout: Duration) -> Result<Builder, Error> {
    let mut config = match target {
        RedisTarget::Url(url) => Config::from_url(url)?,
        RedisTarget::Cluster(nodes) => Config {
            server: ServerConfig::new_clustered(nodes.clone()),
            ..Config::default()
        },
    };
    config.fail_fast = false;
    // On a cluster a reconnect is what finds a promoted replica: retry at least every 100 ms
    // so rates resume soon after the promotion (BENCHMARKS.md, "Redis Cluster").
    let max_delay = if target.is_cluster() { 100 } else { 2_000 };
    let mut policy = ReconnectPolicy::new_exponential(0, 10, max_delay, 2);
    policy.set_jitter(20);
    let mut builder = Builder::from_config(config);
    builder
        .set_policy(policy)
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(2);
            c.internal_command_timeout = Duration::from_secs(2);
            // One attempt: a command in flight when a connection drops fails rather than runs
            // twice. On a cluster, two: an ASK redirection (its slot is being migrated) spends
            // an attempt on ASKING, and fred 10 answers an ASK with none left by ending the
            // client's whole connection task.
            c.max_command_attempts = if target.is_cluster() { 2 } else { 1 };
            // Named connections, so operators (and the tests) can find ours in CLIENT LIST.
            c.auto_client_setname = true;
            c.unresponsive.max_timeout = Some(Duration::from_secs(3));
        })
        .with_performance_config(|p| {
            p.default_command_timeout = command_timeout;
        });
    Ok(builder)
}

/// Runs `client`'s connection task in the background, and starts it again if it ends with an
/// error. fred ends that task on some failures that are not the connection's (a cluster
/// redirection that cannot be followed); without a new one every later command only times
/// out. A `QUIT` ends it for good.
pub fn stay_connected<C>(client: &C)
where
    C: ClientLike + Clone + Send + Sync + 'static,
{
    let client = client.clone();
    tokio::spawn(async move {
        loop {
            match client.connect().await {
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "Redis connection task ended; starting it again");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(Ok(())) | Err(_) => return,
            }
        }
    });
}

/// Redis as the bus: one client for writes and reads, and a subscriber client per
/// subscription.
pub struct RedisBus {
    builder: Builder,
    client: Client,
    keys: BusKeys,
}

impl RedisBus {
    /// Starts connecting in the background (nothing waits for Redis: the services run without
    /// it and catch up when it is back).
    pub fn connect(
        target: &RedisTarget,
        prefix: &str,
        command_timeout: Duration,
    ) -> anyhow::Result<RedisBus> {
        let keys = target.keys(prefix).map_err(anyhow::Error::msg)?;
        let builder = client_builder(target, command_timeout).map_err(|e| match target {
            RedisTarget::Url(_) => anyhow::anyhow!("invalid REDIS_URL: {e}"),
            RedisTarget::Cluster(_) => anyhow::anyhow!("invalid REDIS_CLUSTER_NODES: {e}"),
        })?;
        let client = builder.build()?;
        stay_connected(&client);
        Ok(RedisBus {
            builder,
            client,
            keys,
        })
    }

    /// On a cluster, how many masters answer a `PING` (within a second each) of how many the
    /// client knows; `None` on one Redis.
    pub async fn shards(&self) -> Option<(usize, usize)> {
        if !self.keys.is_clustered() {
            return None;
        }
        let masters = self
            .client
            .cached_cluster_state()
            .map(|state| state.unique_primary_nodes())
            .unwrap_or_default();
        let pings = masters.iter().map(|server| async move {
            let node = self.client.with_cluster_node(server);
            let ping = node.ping::<String>(None);
            matches!(
                tokio::time::timeout(Duration::from_secs(1), ping).await,
                Ok(Ok(_))
            )
        });
        let answering = futures_util::future::join_all(pings)
            .await
            .into_iter()
            .filter(|ok| *ok)
            .count();
        Some((answering, masters.len()))
    }

    /// The shared client for commands (it reconnects on its own).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The builder every client of this bus comes from (same URL, same reconnect policy).
    pub fn builder(&self) -> &Builder {
        &self.builder
    }

    /// The names under this bus's prefix.
    pub fn keys(&self) -> &BusKeys {
        &self.keys
    }
}

#[async_trait::async_trait]
impl Bus for RedisBus {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn is_connected(&self) -> bool {
        self.client.is_connected()
    }

    fn client_name(&self) -> Option<String> {
        Some(self.client.id().to_string())
    }

    async fn health(&self) -> super::BusHealth {
        match self.shards().await {
            None => super::BusHealth::of(self),
            Some((answering, masters)) => super::BusHealth {
                ok: masters > 0 && answering == masters,
                describe: format!("redis cluster: {answering} of {masters} masters answer"),
            },
        }
    }

    fn as_redis(&self) -> Option<&RedisBus> {
        Some(self)
    }

    fn sink(&self) -> Box<dyn BusSink> {
        Box::new(RedisSink::new(self.client.clone(), self.keys.clone()))
    }

    fn leader_sink(&self, epoch: &str, ttl: Duration) -> Option<(Lease, Box<dyn BusSink>)> {
        let lease = Lease::new(self.client.clone(), self.keys.clone(), epoch, ttl);
        let mut sink = RedisSink::new(self.client.clone(), self.keys.clone());
        sink.fence = Some(lease.clone());
        Some((lease, Box::new(sink)))
    }

    fn subscribe(&self) -> anyhow::Result<Box<dyn BusSource>> {
        let mut builder = self.builder.clone();
        builder.with_performance_config(|p| p.broadcast_channel_capacity = 1 << 14);
        let subscriber = builder.build_subscriber_client()?;
        stay_connected(&subscriber);
        Ok(Box::new(RedisSource::new(
            self.client.clone(),
            subscriber,
            self.keys.clone(),
        )))
    }

    async fn announce_spreads_changed(&self, node_id: &str) {
        let channel = self.keys.spreads_changed();
        let sent = if self.keys.is_clustered() {
            self.client.spublish::<(), _, _>(channel, node_id).await
        } else {
            self.client.publish::<(), _, _>(channel, node_id).await
        };
        if let Err(e) = sent {
            tracing::warn!(error = %e, "could not announce the spread change to other nodes");
        }
    }

    async fn quit(&self) {
        let _ = self.client.quit().await;
    }
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Our own plain structs with string keys: serialization cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

/// The publisher's handle on Redis: each write is one atomic script ([`write`]).
pub struct RedisSink {
    client: Client,
    keys: BusKeys,
    /// When set, every write is one Lua script that checks the feed lease first.
    fence: Option<Lease>,
    reconnects: tokio::sync::broadcast::Receiver<fred::types::config::Server>,
}

impl RedisSink {
    pub fn new(client: Client, keys: BusKeys) -> Self {
        let reconnects = client.reconnect_rx();
        RedisSink {
            client,
            keys,
            fence: None,
            reconnects,
        }
    }
}

#[async_trait::async_trait]
impl BusSink for RedisSink {
    async fn reconnected(&mut self) {
        // Lagged or closed: treat as a reconnect (the resync is harmless); closed never ends.
        if self.reconnects.recv().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    async fn write(&self, update: Update<'_>) -> Result<(), SinkError> {
        sink_result(self.target().write(update).await)
    }

    async fn publish_books(&self, books: &[Arc<BookMsg>]) -> Result<(), SinkError> {
        sink_result(self.target().write_books(books).await)
    }
}

impl RedisSink {
    fn target(&self) -> Target<'_> {
        Target {
            client: &self.client,
            keys: &self.keys,
            fence: self.fence.as_ref(),
        }
    }
}

/// Where a write goes: the client, the key names, and the lease that fences it (none for a
/// writer that holds no lease: the in-process feed, a bench).
#[derive(Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) client: &'a Client,
    pub(crate) keys: &'a BusKeys,
    pub(crate) fence: Option<&'a Lease>,
}

/// A fenced write's outcome as the sink reports it.
fn sink_result(written: Result<Fenced, Error>) -> Result<(), SinkError> {
    match written {
        Ok(Fenced::Written) => Ok(()),
        Ok(Fenced::NotLeader) => Err(SinkError::NotLeader),
        Err(e) => Err(SinkError::Bus(e.to_string())),
    }
}

/// A Lua script that first checks the feed lease (KEYS[1]) against ARGV[1], the epoch that
/// must hold it, or "" for a writer without a lease; refused (0) when it does not hold.
macro_rules! fenced_script {
    ($($body:expr),+ $(,)?) => {
        concat!(
            "if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end\n",
            $($body),+
        )
    };
}
pub(crate) use fenced_script;

/// The part of both feed scripts (one Redis's [`WRITE`], the cluster's feed-slot script) that
/// announces the metadata (ARGV[3], a JSON array or "") on KEYS[2] and sets and announces the
/// status (ARGV[4] or "", for ARGV[2] seconds) on KEYS[3], with the publish command each uses.
macro_rules! announce_meta_and_status {
    ($publish:literal) => {
        concat!(
            "if ARGV[3] ~= '' then redis.call('",
            $publish,
            "', KEYS[2], ARGV[3]) end\n",
            "if ARGV[4] ~= '' then\n",
            "  redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[2])\n",
            "  redis.call('",
            $publish,
            "', KEYS[3], ARGV[4])\n",
            "end",
        )
    };
}
pub(crate) use announce_meta_and_status;

/// Consolidated books, fenced like [`WRITE`]: each into `books:last`, then announced.
/// KEYS: lease, books:last, books. ARGV: fence or "", then n × (pair, book JSON).
const WRITE_BOOKS: &str = fenced_script!(
    r#"
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  redis.call('PUBLISH', KEYS[3], ARGV[i + 1])
end
return 1
"#
);

/// One write to the bus, in one Lua script so that it is atomic, and fenced when `fence`
/// (an epoch) is given: nothing happens unless the feed lease holds that epoch.
/// KEYS: lease, pairs, status, rates:last, rates.
/// ARGV: fence or "", status TTL (s), metadata JSON array or "", status JSON or "",
///       n, then n × (pair, metadata JSON), m, then m × (pair, rate JSON) for the hash,
///       k, then k × rate JSON to publish.
const WRITE: &str = fenced_script!(
    r#"
local i = 5
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]); i = i + 2
end
"#,
    announce_meta_and_status!("PUBLISH"),
    r#"
local m = tonumber(ARGV[i]); i = i + 1
for _ = 1, m do
  redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1]); i = i + 2
end
local k = tonumber(ARGV[i]); i = i + 1
for _ = 1, k do
  redis.call('PUBLISH', KEYS[5], ARGV[i]); i = i + 1
end
return 1
"#
);

/// The first arguments of both write scripts (one Redis's [`WRITE`], the cluster's feed-slot
/// script): fence or "", status TTL (s), metadata JSON array or "", status JSON or "", n, then
/// n × (pair, metadata JSON).
pub(crate) fn meta_and_status_args(
    fence: Option<&Lease>,
    meta: &[PairMeta],
    status: Option<&StatusMsg>,
) -> Vec<String> {
    let mut args: Vec<String> = vec![
        fence.map(Lease::epoch).unwrap_or_default().to_string(),
        STATUS_TTL_SECS.to_string(),
        if meta.is_empty() {
            String::new()
        } else {
            to_json(&meta)
        },
        status.map(to_json).unwrap_or_default(),
        meta.len().to_string(),
    ];
    for m in meta {
        args.push(m.pair.as_str().to_string());
        args.push(to_json(m));
    }
    args
}

impl Target<'_> {
    /// Metadata (written, then announced as one array), status (the key with its short TTL,
    /// and announced), then rates (the newest per pair into `rates:last`, then every one
    /// announced): the order the bus contract promises, in one atomic step.
    pub(crate) async fn write(self, update: Update<'_>) -> Result<Fenced, Error> {
        if self.keys.is_clustered() {
            return super::redis_cluster::write(self, update).await;
        }
        let Update {
            rates,
            meta,
            status,
        } = update;
        let mut args = meta_and_status_args(self.fence, meta.unwrap_or_default(), status);
        let newest = newest_per_pair(rates);
        args.push(newest.len().to_string());
        for (pair, msg) in newest {
            args.push(pair.as_str().to_string());
            args.push(to_json(msg.as_ref()));
        }
        args.push(rates.len().to_string());
        args.extend(rates.iter().map(|m| to_json(m.as_ref())));
        let keys = &self.keys;
        let names = vec![
            keys.feed_leader(),
            keys.pairs(),
            keys.status(),
            keys.rates_last(),
            keys.rates(),
        ];
        let written: i64 = self.client.eval(WRITE, names, args).await?;
        Ok(Fenced::from_script(written))
    }

    /// One fenced write of consolidated books (see [`WRITE_BOOKS`]).
    pub(crate) async fn write_books(self, books: &[Arc<BookMsg>]) -> Result<Fenced, Error> {
        if books.is_empty() {
            return Ok(Fenced::Written);
        }
        if self.keys.is_clustered() {
            return super::redis_cluster::write_books(self, books).await;
        }
        let mut args: Vec<String> = Vec::with_capacity(1 + books.len() * 2);
        args.push(self.fence.map(Lease::epoch).unwrap_or_default().to_string());
        for b in books {
            args.push(b.pair.as_str().to_string());
            args.push(to_json(b.as_ref()));
        }
        let keys = vec![
            self.keys.feed_leader(),
            self.keys.books_last(),
            self.keys.books(),
        ];
        let written: i64 = self.client.eval(WRITE_BOOKS, keys, args).await?;
        Ok(Fenced::from_script(written))
    }
}

/// How often a cluster subscriber makes its shard subscriptions again (a few commands).
const SHARD_FOLLOW: Duration = Duration::from_secs(5);

/// A subscription on Redis.
pub struct RedisSource {
    redis: Client,
    subscriber: SubscriberClient,
    keys: BusKeys,
    channels: Channels,
    messages: tokio::sync::broadcast::Receiver<fred::types::Message>,
    reconnects: tokio::sync::broadcast::Receiver<fred::types::config::Server>,
    subscribed: bool,
    retry: tokio::time::Interval,
    backstop: tokio::time::Interval,
    /// Cluster: how often the shard subscriptions are made again, which follows a slot that
    /// moved to another master (its old owner drops the subscription; nothing else says so).
    follow: tokio::time::Interval,
    /// Cluster: the client's view of the slots changed (a failover, a resharding it noticed).
    cluster_changes: tokio::sync::broadcast::Receiver<Vec<fred::types::ClusterStateChange>>,
    /// fred's resubscription after a reconnect (one Redis; a cluster's shard channels are
    /// subscribed again by [`RedisSource::next`] itself).
    _manager: Option<tokio::task::JoinHandle<()>>,
}

impl RedisSource {
    pub fn new(redis: Client, subscriber: SubscriberClient, keys: BusKeys) -> Self {
        let manager = (!keys.is_clustered()).then(|| subscriber.manage_subscriptions());
        RedisSource {
            cluster_changes: subscriber.cluster_change_rx(),
            messages: subscriber.message_rx(),
            reconnects: subscriber.reconnect_rx(),
            _manager: manager,
            channels: Channels::new(&keys),
            redis,
            subscriber,
            keys,
            subscribed: false,
            retry: tokio::time::interval(Duration::from_millis(500)),
            follow: tokio::time::interval(SHARD_FOLLOW),
            // Metadata is refreshed hourly upstream and announced; a full re-read every minute
            // is the backstop for an announcement lost while we were away.
            backstop: tokio::time::interval(Duration::from_secs(60)),
        }
    }

    /// Subscribes to every channel: on one Redis the fixed five; on a cluster the feed's shard
    /// channels, then those of every pair the bus has metadata for.
    async fn subscribe_all(&mut self) -> Result<(), Error> {
        if !self.keys.is_clustered() {
            return self.subscriber.subscribe(self.channels.all()).await;
        }
        for pair in super::redis_cluster::known_pairs(&self.redis, &self.keys).await? {
            self.channels.add_pair(&pair);
        }
        super::redis_cluster::subscribe_all(&self.subscriber, &self.channels).await
    }

    /// On a cluster, follows the channels of pairs first heard of in `metas`.
    async fn follow_new_pairs(&mut self, metas: &[PairMeta]) {
        if !self.keys.is_clustered() {
            return;
        }
        for m in metas {
            if self.channels.add_pair(&m.pair) {
                let channels = self.channels.of_pair(&m.pair);
                if let Err(e) = self.subscriber.ssubscribe(channels).await {
                    tracing::warn!(error = %e, pair = %m.pair, "cannot follow the pair; retrying");
                    self.subscribed = false;
                }
            }
        }
    }

    /// A message on one of our channels, parsed; `None` for anything unreadable (counted).
    fn parse(&self, m: fred::types::Message) -> Option<Heard> {
        let channel = m.channel.to_string();
        let text = m.value.as_str()?;
        let heard = match self.channels.carries(&channel)? {
            Carries::Rates => serde_json::from_str::<RateMsg>(&text).map(Heard::Rate),
            Carries::Books => serde_json::from_str::<BookMsg>(&text).map(Heard::Book),
            Carries::Status => serde_json::from_str::<StatusMsg>(&text).map(Heard::Status),
            Carries::Spreads => Ok(Heard::SpreadsChanged(text.to_string())),
            Carries::Pairs => serde_json::from_str::<Vec<PairMeta>>(&text).map(Heard::Meta),
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

/// Every value of a hash that decodes; the rest are logged and skipped.
fn decode_all<T: serde::de::DeserializeOwned>(what: &str, raw: HashMap<String, String>) -> Vec<T> {
    raw.values()
        .filter_map(|v| match serde_json::from_str(v) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(error = %e, "unreadable {what} on the bus");
                None
            }
        })
        .collect()
}

#[async_trait::async_trait]
impl BusSource for RedisSource {
    async fn next(&mut self) -> Heard {
        loop {
            if !self.subscribed && self.subscriber.is_connected() {
                match self.subscribe_all().await {
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
                    if self.keys.is_clustered() {
                        // A new connection holds no shard subscription: make them again
                        // (the resync follows once they hold).
                        self.subscribed = false;
                        continue;
                    }
                    return Heard::Resync;
                }
                _ = self.follow.tick(), if self.subscribed && self.keys.is_clustered() => {
                    if let Err(e) = self.subscribe_all().await {
                        tracing::warn!(error = %e, "shard subscriptions not renewed; retrying");
                        self.subscribed = false;
                    }
                }
                Ok(_) = self.cluster_changes.recv() => {
                    tracing::info!("the cluster's slots changed; subscribing again");
                    self.subscribed = false;
                }
                _ = self.backstop.tick() => {
                    if self.keys.is_clustered() {
                        // Slots may have moved: subscribing again follows them.
                        self.subscribed = false;
                        continue;
                    }
                    return Heard::Resync;
                }
                msg = self.messages.recv() => match msg {
                    Ok(m) => {
                        if let Some(heard) = self.parse(m) {
                            if let Heard::Meta(metas) = &heard {
                                self.follow_new_pairs(metas).await;
                            }
                            return heard;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        // We fell behind the bus: the hash has the newest values.
                        tracing::warn!(missed = n, "bus subscriber lagged; re-reading rates:last");
                        metrics::counter!("rategate_bus_lagged_total").increment(1);
                        return Heard::Resync;
                    }
                    Err(_) => return Heard::Closed,
                },
            }
        }
    }

    async fn snapshot(&self) -> Result<Snapshot, String> {
        let read = async {
            let metas: HashMap<String, String> = self.redis.hgetall(self.keys.pairs()).await?;
            let status: Option<String> = self.redis.get(self.keys.status()).await?;
            let (last, books) = if self.keys.is_clustered() {
                let pairs: Vec<Pair> = metas.keys().filter_map(|p| Pair::parse(p).ok()).collect();
                super::redis_cluster::last_values(&self.redis, &self.keys, &pairs).await?
            } else {
                let last: HashMap<String, String> =
                    self.redis.hgetall(self.keys.rates_last()).await?;
                let books: HashMap<String, String> =
                    self.redis.hgetall(self.keys.books_last()).await?;
                (last, books)
            };
            Ok::<_, Error>((metas, status, last, books))
        };
        let (metas, status, last, books) = read.await.map_err(|e| e.to_string())?;
        Ok(Snapshot {
            metas: decode_all("pair metadata", metas),
            status: status.and_then(|s| {
                serde_json::from_str(&s)
                    .map_err(|e| tracing::warn!(error = %e, "unreadable status on the bus"))
                    .ok()
            }),
            rates: decode_all("rate", last),
            books: decode_all("book", books),
        })
    }

    async fn close(&mut self) {
        if self.keys.is_clustered() {
            let _ = self.subscriber.sunsubscribe(self.channels.all()).await;
        } else {
            let _ = self.subscriber.unsubscribe(self.channels.all()).await;
        }
        let _ = self.subscriber.quit().await;
    }
}
