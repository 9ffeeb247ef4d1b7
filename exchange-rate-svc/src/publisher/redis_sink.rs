//! [`RedisSink`]: the bus on Redis. Each write is one pipeline: `HSET {prefix}rates:last` with
//! the newest value per pair, then one `PUBLISH {prefix}rates` per tick; metadata as
//! `HSET {prefix}pairs` announced on the `{prefix}pairs` channel; status as a key with a short
//! TTL and on the `{prefix}status` channel.

use std::sync::Arc;
use std::time::Duration;

use common::bus::{BusKeys, PairMeta, RateMsg, StatusMsg};
use fred::clients::Pipeline;
use fred::prelude::*;
use fred::types::Expiration;

use super::BusSink;
use crate::feed::newest_per_pair;

/// TTL of the `{prefix}status` key: long enough to bridge one missed beat, short enough that a
/// dead publisher is noticed.
const STATUS_TTL_SECS: i64 = 5;

pub struct RedisSink {
    client: Client,
    keys: BusKeys,
    reconnects: tokio::sync::broadcast::Receiver<fred::types::config::Server>,
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Our own plain structs with string keys: serialization cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

impl RedisSink {
    pub fn new(client: Client, keys: BusKeys) -> Self {
        let reconnects = client.reconnect_rx();
        RedisSink {
            client,
            keys,
            reconnects,
        }
    }

    async fn queue_meta(&self, pipe: &Pipeline<Client>, all: &[PairMeta]) -> Result<(), Error> {
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

    async fn queue_status(&self, pipe: &Pipeline<Client>, status: &StatusMsg) -> Result<(), Error> {
        let status = to_json(status);
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

    async fn queue_rates(
        &self,
        pipe: &Pipeline<Client>,
        batch: &[Arc<RateMsg>],
    ) -> Result<(), Error> {
        let newest: Vec<(String, String)> = newest_per_pair(batch)
            .into_iter()
            .map(|(pair, msg)| (pair.as_str().to_string(), to_json(msg.as_ref())))
            .collect();
        if !newest.is_empty() {
            let () = pipe.hset(self.keys.rates_last(), newest).await?;
        }
        let channel = self.keys.rates();
        for msg in batch {
            let () = pipe
                .publish(channel.as_str(), to_json(msg.as_ref()))
                .await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl BusSink for RedisSink {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn is_connected(&self) -> bool {
        self.client.is_connected()
    }

    async fn reconnected(&mut self) {
        // Lagged or closed: treat as a reconnect (the resync is harmless); closed never ends.
        if self.reconnects.recv().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    async fn publish_rates(
        &self,
        batch: &[Arc<RateMsg>],
        meta: Option<&[PairMeta]>,
    ) -> Result<(), String> {
        let result: Result<(), Error> = async {
            let pipe = self.client.pipeline();
            self.queue_rates(&pipe, batch).await?;
            if let Some(meta) = meta {
                self.queue_meta(&pipe, meta).await?;
            }
            let _: Vec<Value> = pipe.all().await?;
            Ok(())
        }
        .await;
        result.map_err(|e| e.to_string())
    }

    async fn publish_status(
        &self,
        status: &StatusMsg,
        meta: Option<&[PairMeta]>,
    ) -> Result<(), String> {
        let result: Result<(), Error> = async {
            let pipe = self.client.pipeline();
            if let Some(meta) = meta {
                self.queue_meta(&pipe, meta).await?;
            }
            self.queue_status(&pipe, status).await?;
            let _: Vec<Value> = pipe.all().await?;
            Ok(())
        }
        .await;
        result.map_err(|e| e.to_string())
    }

    async fn resync(
        &self,
        last: &[Arc<RateMsg>],
        meta: &[PairMeta],
        status: &StatusMsg,
    ) -> Result<(), String> {
        let result: Result<(), Error> = async {
            let pipe = self.client.pipeline();
            // The hash, then metadata and status, then every value announced.
            if !last.is_empty() {
                let entries: Vec<(String, String)> = last
                    .iter()
                    .map(|m| (m.pair.as_str().to_string(), to_json(m.as_ref())))
                    .collect();
                let () = pipe.hset(self.keys.rates_last(), entries).await?;
            }
            self.queue_meta(&pipe, meta).await?;
            self.queue_status(&pipe, status).await?;
            for msg in last {
                let () = pipe
                    .publish(self.keys.rates(), to_json(msg.as_ref()))
                    .await?;
            }
            let _: Vec<Value> = pipe.all().await?;
            Ok(())
        }
        .await;
        metrics::counter!("rategate_redis_resyncs_total").increment(1);
        result.map_err(|e| e.to_string())
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
