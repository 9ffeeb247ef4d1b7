//! The bus on Redis ([`RedisBus`]). Names under one prefix (`BusKeys`):
//! - [`RedisSink`] writes each batch as one Lua script, atomically: metadata as
//!   `HSET {prefix}pairs` announced on the `{prefix}pairs` channel; status as a key with a short
//!   TTL and on the `{prefix}status` channel; `HSET {prefix}rates:last` with the newest value
//!   per pair, then one `PUBLISH {prefix}rates` per tick. With a feed lease the same script
//!   first checks that the lease is still ours ([`super::lease`]).
//! - [`RedisSource`] subscribes to `{prefix}rates`, `{prefix}status`, `{prefix}pairs` and
//!   `{prefix}spreads:changed` (retrying while Redis is away) and asks for a resync once
//!   subscribed, after every reconnect or lag, and every minute as a backstop.
//!
//! Every client is built by [`client_builder`]: it reconnects forever and never lets one
//! command hang.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fred::clients::SubscriberClient;
use fred::prelude::*;

use super::lease::{Fenced, Lease};
use super::{
    newest_per_pair, BookMsg, Bus, BusKeys, BusSink, BusSource, Heard, PairMeta, RateMsg,
    SinkError, Snapshot, StatusMsg,
};

/// TTL of the `{prefix}status` key: long enough to bridge one missed beat, short enough that a
/// dead publisher is noticed.
const STATUS_TTL_SECS: i64 = 5;

/// Builds fred clients that reconnect forever (fast at first, then every 2 s at most) and fail
/// a command that cannot complete within `command_timeout`.
///
/// fred sleeps one policy delay even before the very first connection attempt, so the policy
/// starts at 10 ms with little jitter: startup is not held up, reconnects still back off.
pub fn client_builder(url: &str, command_timeout: Duration) -> Result<Builder, Error> {
    let mut config = Config::from_url(url)?;
    config.fail_fast = false;
    let mut policy = ReconnectPolicy::new_exponential(0, 10, 2_000, 2);
    policy.set_jitter(20);
    let mut builder = Builder::from_config(config);
    builder
        .set_policy(policy)
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(2);
            c.internal_command_timeout = Duration::from_secs(2);
            c.max_command_attempts = 1;
            // Named connections, so operators (and the tests) can find ours in CLIENT LIST.
            c.auto_client_setname = true;
            c.unresponsive.max_timeout = Some(Duration::from_secs(3));
        })
        .with_performance_config(|p| {
            p.default_command_timeout = command_timeout;
        });
    Ok(builder)
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
    pub fn connect(url: &str, prefix: &str, command_timeout: Duration) -> anyhow::Result<RedisBus> {
        let builder = client_builder(url, command_timeout)
            .map_err(|e| anyhow::anyhow!("invalid REDIS_URL: {e}"))?;
        let client = builder.build()?;
        // The connection task runs on its own; dropping a JoinHandle detaches it.
        drop(client.connect());
        Ok(RedisBus {
            builder,
            client,
            keys: BusKeys::new(prefix),
        })
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
        drop(subscriber.connect());
        Ok(Box::new(RedisSource::new(
            self.client.clone(),
            subscriber,
            self.keys.clone(),
        )))
    }

    async fn announce_spreads_changed(&self, node_id: &str) {
        if let Err(e) = self
            .client
            .publish::<(), _, _>(self.keys.spreads_changed(), node_id)
            .await
        {
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

    async fn write(
        &self,
        rates: &[Arc<RateMsg>],
        meta: Option<&[PairMeta]>,
        status: Option<&StatusMsg>,
    ) -> Result<(), SinkError> {
        let fence = self.fence.as_ref().map(Lease::epoch);
        sink_result(write(&self.client, &self.keys, fence, rates, meta, status).await)
    }

    async fn publish_books(&self, books: &[Arc<BookMsg>]) -> Result<(), SinkError> {
        let fence = self.fence.as_ref().map(Lease::epoch);
        sink_result(write_books(&self.client, &self.keys, fence, books).await)
    }
}

/// A fenced write's outcome as the sink reports it.
fn sink_result(written: Result<Fenced, Error>) -> Result<(), SinkError> {
    match written {
        Ok(Fenced::Written) => Ok(()),
        Ok(Fenced::NotLeader) => Err(SinkError::NotLeader),
        Err(e) => Err(SinkError::Bus(e.to_string())),
    }
}

/// Consolidated books, fenced like [`WRITE`]: each into `books:last`, then announced.
/// KEYS: lease, books:last, books. ARGV: fence or "", then n × (pair, book JSON).
const WRITE_BOOKS: &str = r#"
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  redis.call('PUBLISH', KEYS[3], ARGV[i + 1])
end
return 1
"#;

/// One fenced write of consolidated books (see [`WRITE_BOOKS`]).
pub(crate) async fn write_books(
    client: &Client,
    keys: &BusKeys,
    fence: Option<&str>,
    books: &[Arc<BookMsg>],
) -> Result<Fenced, Error> {
    if books.is_empty() {
        return Ok(Fenced::Written);
    }
    let mut args: Vec<String> = Vec::with_capacity(1 + books.len() * 2);
    args.push(fence.unwrap_or_default().to_string());
    for b in books {
        args.push(b.pair.as_str().to_string());
        args.push(to_json(b.as_ref()));
    }
    let keys = vec![keys.feed_leader(), keys.books_last(), keys.books()];
    let written: i64 = client.eval(WRITE_BOOKS, keys, args).await?;
    Ok(if written == 1 {
        Fenced::Written
    } else {
        Fenced::NotLeader
    })
}

/// One write to the bus, in one Lua script so that it is atomic, and fenced when `fence`
/// (an epoch) is given: nothing happens unless the feed lease holds that epoch.
/// KEYS: lease, pairs, status, rates:last, rates.
/// ARGV: fence or "", status TTL (s), metadata JSON array or "", status JSON or "",
///       n, then n × (pair, metadata JSON), m, then m × (pair, rate JSON) for the hash,
///       k, then k × rate JSON to publish.
const WRITE: &str = r#"
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local i = 5
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]); i = i + 2
end
if ARGV[3] ~= '' then redis.call('PUBLISH', KEYS[2], ARGV[3]) end
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[2])
  redis.call('PUBLISH', KEYS[3], ARGV[4])
end
local m = tonumber(ARGV[i]); i = i + 1
for _ = 1, m do
  redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1]); i = i + 2
end
local k = tonumber(ARGV[i]); i = i + 1
for _ = 1, k do
  redis.call('PUBLISH', KEYS[5], ARGV[i]); i = i + 1
end
return 1
"#;

/// Metadata (written, then announced as one array), status (the key with its short TTL, and
/// announced), then rates (the newest per pair into `rates:last`, then every one announced):
/// the order the bus contract promises, in one atomic step.
pub(crate) async fn write(
    client: &Client,
    keys: &BusKeys,
    fence: Option<&str>,
    rates: &[Arc<RateMsg>],
    meta: Option<&[PairMeta]>,
    status: Option<&StatusMsg>,
) -> Result<Fenced, Error> {
    let meta = meta.unwrap_or_default();
    let mut args: Vec<String> = vec![
        fence.unwrap_or_default().to_string(),
        STATUS_TTL_SECS.to_string(),
        if meta.is_empty() {
            String::new()
        } else {
            to_json(&meta)
        },
        status.map(to_json).unwrap_or_default(),
    ];
    args.push(meta.len().to_string());
    for m in meta {
        args.push(m.pair.as_str().to_string());
        args.push(to_json(m));
    }
    let newest = newest_per_pair(rates);
    args.push(newest.len().to_string());
    for (pair, msg) in newest {
        args.push(pair.as_str().to_string());
        args.push(to_json(msg.as_ref()));
    }
    args.push(rates.len().to_string());
    args.extend(rates.iter().map(|m| to_json(m.as_ref())));
    let keys = vec![
        keys.feed_leader(),
        keys.pairs(),
        keys.status(),
        keys.rates_last(),
        keys.rates(),
    ];
    let written: i64 = client.eval(WRITE, keys, args).await?;
    Ok(if written == 1 {
        Fenced::Written
    } else {
        Fenced::NotLeader
    })
}

/// A subscription on Redis.
pub struct RedisSource {
    redis: Client,
    subscriber: SubscriberClient,
    keys: BusKeys,
    channels: [String; 5],
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
            keys.spreads_changed(),
            keys.pairs(),
            keys.books(),
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
        let [rates, status, spreads, pairs, books] = &self.channels;
        let heard = if &channel == rates {
            serde_json::from_str::<RateMsg>(&text).map(Heard::Rate)
        } else if &channel == books {
            serde_json::from_str::<BookMsg>(&text).map(Heard::Book)
        } else if &channel == status {
            serde_json::from_str::<StatusMsg>(&text).map(Heard::Status)
        } else if &channel == spreads {
            Ok(Heard::SpreadsChanged(text.to_string()))
        } else if &channel == pairs {
            serde_json::from_str::<Vec<PairMeta>>(&text).map(Heard::Meta)
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
            let last: HashMap<String, String> = self.redis.hgetall(self.keys.rates_last()).await?;
            let books: HashMap<String, String> = self.redis.hgetall(self.keys.books_last()).await?;
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
        let _ = self.subscriber.unsubscribe(self.channels.to_vec()).await;
        let _ = self.subscriber.quit().await;
    }
}
