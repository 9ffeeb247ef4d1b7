//! Feed leadership on Redis: any number of exchange-rate-svc may run, exactly one publishes
//! (ARCHITECTURE.md §4). The leader holds `{prefix}feed:leader`, whose value is its epoch,
//! with a TTL it renews well before expiry. Every write the leader makes is *fenced*: one Lua
//! script checks that the key still holds the writer's epoch and does the write in the same
//! atomic step, so a leader that stalled past its lease (a frozen VM, a long pause, a
//! partition) cannot publish once it has lost it, however late its write arrives. The write
//! itself is the Redis bus's one write script ([`super::redis`]), given our epoch as fence.

use std::sync::Arc;
use std::time::Duration;

use fred::prelude::*;

use super::{BusKeys, PairMeta, RateMsg, StatusMsg};

/// Takes the lease when it is free, renews it when it is ours: 1 if we hold it after the call.
const ACQUIRE_OR_RENEW: &str = r#"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"#;

/// Deletes the lease if it is ours.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// What a fenced write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fenced {
    /// We hold the lease: the write happened.
    Written,
    /// Someone else holds it (or nobody): nothing was written.
    NotLeader,
}

/// One process's claim on the feed leadership.
#[derive(Clone)]
pub struct Lease {
    client: Client,
    keys: BusKeys,
    epoch: Arc<str>,
    ttl: Duration,
}

impl Lease {
    /// A claim for `epoch` (this process's run id) on `{prefix}feed:leader`, held for `ttl`
    /// after each renewal.
    pub fn new(client: Client, keys: BusKeys, epoch: &str, ttl: Duration) -> Lease {
        Lease {
            client,
            keys,
            epoch: epoch.into(),
            ttl,
        }
    }

    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    fn ttl_ms(&self) -> String {
        self.ttl.as_millis().max(1).to_string()
    }

    /// Takes the lease if it is free, or renews it if it is ours. True if we hold it now.
    pub async fn acquire_or_renew(&self) -> Result<bool, Error> {
        let held: i64 = self
            .client
            .eval(
                ACQUIRE_OR_RENEW,
                vec![self.keys.feed_leader()],
                vec![self.epoch.to_string(), self.ttl_ms()],
            )
            .await?;
        Ok(held == 1)
    }

    /// Gives the lease up if it is ours (a clean stop hands over at once, not after the TTL).
    pub async fn release(&self) -> Result<(), Error> {
        let _: i64 = self
            .client
            .eval(
                RELEASE,
                vec![self.keys.feed_leader()],
                vec![self.epoch.to_string()],
            )
            .await?;
        Ok(())
    }

    /// The epoch that holds the lease now, if any.
    pub async fn holder(&self) -> Result<Option<String>, Error> {
        self.client.get(self.keys.feed_leader()).await
    }

    /// Writes metadata, status and rates (the newest per pair into `rates:last`, every one
    /// announced on `rates`) in one atomic step, only if we still hold the lease.
    pub async fn write(
        &self,
        rates: &[Arc<RateMsg>],
        meta: Option<&[PairMeta]>,
        status: Option<&StatusMsg>,
    ) -> Result<Fenced, Error> {
        super::redis::write(
            &self.client,
            &self.keys,
            Some(&self.epoch),
            rates,
            meta,
            status,
        )
        .await
    }
}
