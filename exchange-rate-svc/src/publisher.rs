//! The Redis publisher (ARCHITECTURE.md §4).
//!
//! It drains the feed's queue in batches and sends each batch as one pipeline: first `HSET` of
//! the newest value per pair into `{prefix}rates:last`, then one `PUBLISH` per tick on
//! `{prefix}rates`, so a consumer that reads the hash after hearing a tick never sees an older
//! value. Batching is what keeps publishing from limiting throughput: the slower Redis answers,
//! the bigger the next batch.
//!
//! Redis going away never stops the feed: while the client is not connected the publisher keeps
//! draining (the feed holds every pair's last value), and once Redis is back (fred reconnects
//! by itself) it resyncs at once: the whole last-value hash, the pair metadata, the status, and
//! a publish of every pair's current value. Status goes out at least once a second and on every
//! change, both on the channel and as a key with a short TTL.

use std::sync::Arc;
use std::time::Duration;

use common::bus::{BusKeys, RateMsg};
use common::shutdown::Shutdown;
use fred::clients::Pipeline;
use fred::prelude::*;
use fred::types::Expiration;
use tokio::sync::mpsc;
use tokio::time::{interval, Instant, MissedTickBehavior};

use crate::feed::{newest_per_pair, Feed};

/// TTL of the `{prefix}status` key: long enough to bridge one missed beat, short enough that a
/// dead publisher is noticed.
const STATUS_TTL_SECS: i64 = 5;
/// Largest batch per pipeline.
const BATCH: usize = 4096;
/// How often to retry a resync while Redis is unhealthy.
const RESYNC_RETRY: Duration = Duration::from_millis(250);

pub struct Publisher {
    client: Client,
    keys: BusKeys,
    feed: Feed,
    rx: mpsc::Receiver<Arc<RateMsg>>,
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Our own plain structs with string keys: serialization cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

impl Publisher {
    pub fn new(
        client: Client,
        keys: BusKeys,
        feed: Feed,
        rx: mpsc::Receiver<Arc<RateMsg>>,
    ) -> Self {
        Publisher {
            client,
            keys,
            feed,
            rx,
        }
    }

    pub async fn run(mut self, shutdown: Shutdown) {
        let mut reconnects = self.client.reconnect_rx();
        let mut status_every = interval(Duration::from_secs(1));
        status_every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut buf: Vec<Arc<RateMsg>> = Vec::with_capacity(BATCH);
        // Start unhealthy: the first thing we do is write the full state.
        let mut healthy = false;
        let mut last_resync_try = Instant::now() - RESYNC_RETRY;
        loop {
            tokio::select! {
                biased;
                _ = shutdown.wait() => break,
                Ok(_) = reconnects.recv() => {
                    tracing::info!("redis reconnected; resyncing the bus");
                    healthy = false;
                }
                n = self.rx.recv_many(&mut buf, BATCH) => {
                    if n == 0 {
                        break;
                    }
                    if healthy && !self.feed.take_needs_resync() {
                        if let Err(e) = self.publish_batch(&buf).await {
                            self.unhealthy(&e);
                            healthy = false;
                        }
                    } else {
                        // The feed holds the last values; the resync below carries them.
                        healthy = false;
                    }
                    buf.clear();
                }
                _ = self.feed.changed() => {
                    if healthy {
                        if let Err(e) = self.publish_status().await {
                            self.unhealthy(&e);
                            healthy = false;
                        }
                    }
                }
                _ = status_every.tick() => {
                    if healthy {
                        if let Err(e) = self.publish_status().await {
                            self.unhealthy(&e);
                            healthy = false;
                        }
                    }
                }
            }
            if !healthy && last_resync_try.elapsed() >= RESYNC_RETRY && self.client.is_connected() {
                last_resync_try = Instant::now();
                match self.resync().await {
                    Ok(()) => {
                        healthy = true;
                        tracing::info!(prefix = self.keys.prefix(), "bus in sync with redis");
                    }
                    Err(e) => self.unhealthy(&e),
                }
            }
            if !healthy {
                // Wake up again soon even if nothing arrives, to retry the resync.
                tokio::select! {
                    _ = shutdown.wait() => break,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    Some(msg) = self.rx.recv() => buf.push(msg),
                }
                buf.clear();
            }
        }
        // Best effort: tell consumers we are going away.
        if healthy {
            let _ = self.publish_status().await;
        }
    }

    fn unhealthy(&self, e: &Error) {
        metrics::counter!("rategate_redis_errors_total").increment(1);
        tracing::warn!(error = %e, "redis publish failed; will resync when it is back");
    }

    async fn publish_batch(&self, batch: &[Arc<RateMsg>]) -> Result<(), Error> {
        let pipe = self.client.pipeline();
        let newest: Vec<(String, String)> = newest_per_pair(batch)
            .into_iter()
            .map(|(pair, msg)| (pair.as_str().to_string(), to_json(msg.as_ref())))
            .collect();
        let () = pipe.hset(self.keys.rates_last(), newest).await?;
        let channel = self.keys.rates();
        for msg in batch {
            let () = pipe
                .publish(channel.as_str(), to_json(msg.as_ref()))
                .await?;
        }
        if self.feed.take_meta_dirty() {
            self.queue_meta(&pipe).await?;
        }
        let _: Vec<Value> = pipe.all().await?;
        self.feed.count_published(batch.len() as u64);
        Ok(())
    }

    async fn queue_meta(&self, pipe: &Pipeline<Client>) -> Result<(), Error> {
        let all = self.feed.meta();
        let metas: Vec<(String, String)> = all
            .iter()
            .map(|m| (m.pair.as_str().to_string(), to_json(m)))
            .collect();
        if !metas.is_empty() {
            let () = pipe.hset(self.keys.pairs(), metas).await?;
            // Announced after the write, so a consumer that hears it finds the hash current.
            let () = pipe.publish(self.keys.pairs(), to_json(&all)).await?;
        }
        Ok(())
    }

    async fn queue_status(&self, pipe: &Pipeline<Client>) -> Result<(), Error> {
        let status = to_json(&self.feed.status());
        let () = pipe
            .set(
                self.keys.status(),
                status.as_str(),
                Some(Expiration::EX(STATUS_TTL_SECS)),
                None,
                false,
            )
            .await?;
        let () = pipe.publish(self.keys.status(), status).await?;
        Ok(())
    }

    async fn publish_status(&self) -> Result<(), Error> {
        let pipe = self.client.pipeline();
        if self.feed.take_meta_dirty() {
            self.queue_meta(&pipe).await?;
        }
        self.queue_status(&pipe).await?;
        let _: Vec<Value> = pipe.all().await?;
        Ok(())
    }

    /// Writes the complete current state: hash, metadata, status, and a publish of every
    /// pair's current value so live subscribers catch up too.
    async fn resync(&self) -> Result<(), Error> {
        self.feed.take_needs_resync();
        self.feed.take_meta_dirty();
        let last = self.feed.last_values();
        let pipe = self.client.pipeline();
        if !last.is_empty() {
            let entries: Vec<(String, String)> = last
                .iter()
                .map(|m| (m.pair.as_str().to_string(), to_json(m.as_ref())))
                .collect();
            let () = pipe.hset(self.keys.rates_last(), entries).await?;
        }
        self.queue_meta(&pipe).await?;
        self.queue_status(&pipe).await?;
        for msg in &last {
            let () = pipe
                .publish(self.keys.rates(), to_json(msg.as_ref()))
                .await?;
        }
        let _: Vec<Value> = pipe.all().await?;
        metrics::counter!("rategate_redis_resyncs_total").increment(1);
        Ok(())
    }
}

/// Builds a fred client that reconnects forever (fast at first, then every 2 s at most) and
/// never lets one command hang: a publish that cannot complete fails after `command_timeout`.
///
/// fred sleeps one policy delay even before the very first connection attempt, so the
/// policy starts at 10 ms with little jitter: startup is not held up, reconnects still back off.
pub fn redis_client(url: &str, command_timeout: Duration) -> Result<Client, Error> {
    let mut config = Config::from_url(url)?;
    config.fail_fast = false;
    let mut policy = ReconnectPolicy::new_exponential(0, 10, 2_000, 2);
    policy.set_jitter(20);
    Builder::from_config(config)
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
        })
        .build()
}
