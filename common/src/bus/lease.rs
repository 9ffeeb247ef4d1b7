//! Feed leadership on Redis: any number of exchange-rate-svc may run, exactly one publishes
//! (ARCHITECTURE.md §4). The leader holds `{prefix}feed:leader`, whose value is its epoch,
//! with a TTL it renews well before expiry. Every write the leader makes is *fenced*: one Lua
//! script checks that the key still holds the writer's epoch and does the write in the same
//! atomic step, so a leader that stalled past its lease (a frozen VM, a long pause, a
//! partition) cannot publish once it has lost it, however late its write arrives. The write
//! itself is the Redis bus's one write script ([`super::redis`]), given our epoch as fence.
//!
//! On Redis Cluster one script cannot reach both the lease and a pair's state (they live in
//! different slots), so the lease also grants a *term*: a number that only grows, kept in the
//! lease's slot (`{feed}:term`) and raised on every grant to at least the lease master's clock
//! in milliseconds. Each pair keeps the newest term that wrote it beside its state
//! (`{BTC_USD}:fence`), and the pair's script refuses a write under an older term, or under the
//! same term from another epoch ([`super::redis_cluster`]). A new leader's first act is a resync
//! that writes every pair, raising every fence to its term, so from then on nothing of a deposed
//! leader is accepted in any slot, wherever that slot's master is. Status and metadata live in
//! the lease's own slot and are checked against the lease itself, as on one Redis.
//!
//! When the lease's master fails, asynchronous replication can lose the newest renewal (the
//! promoted replica holds a lease that expires earlier, so a standby may take over early: the
//! old leader's next renewal finds the lease another's and it stands by, and its writes are
//! refused as soon as the new leader's resync raised the fences) or even the newest grant with
//! its term. Then the next grant's term comes from the promoted master's clock, which is past
//! the lost term as long as the masters' clocks differ by less than the failover takes (the
//! cluster's node timeout, seconds); and should two epochs still end up with one term, the
//! pair's script accepts only the epoch that wrote it first, so they never both publish.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fred::prelude::*;

use super::{BusKeys, Update};

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

/// The cluster's variant: as [`ACQUIRE_OR_RENEW`], but a grant also raises the term (to the
/// master's clock in ms, or one past the newest term when that is ahead) and both answers give
/// the term we hold the lease under; 0 when we do not hold it. KEYS: lease, term.
const ACQUIRE_OR_RENEW_TERM: &str = r#"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('GET', KEYS[2]) or '0')
end
if holder then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local term = tonumber(redis.call('GET', KEYS[2]) or '0')
if now > term then term = now else term = term + 1 end
redis.call('SET', KEYS[2], string.format('%d', term))
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return term
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

impl Fenced {
    /// What a fenced Lua script returned: 1 written, 0 refused.
    pub(crate) fn from_script(written: i64) -> Fenced {
        if written == 1 {
            Fenced::Written
        } else {
            Fenced::NotLeader
        }
    }
}

/// One process's claim on the feed leadership.
#[derive(Clone)]
pub struct Lease {
    client: Client,
    keys: BusKeys,
    epoch: Arc<str>,
    ttl: Duration,
    /// The term of our newest grant (cluster only; 0 before any).
    term: Arc<AtomicU64>,
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
            term: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The term we last held the lease under (cluster only; 0 before any grant).
    pub fn term(&self) -> u64 {
        self.term.load(Ordering::Relaxed)
    }

    fn ttl_ms(&self) -> String {
        self.ttl.as_millis().max(1).to_string()
    }

    /// Takes the lease if it is free, or renews it if it is ours. True if we hold it now.
    pub async fn acquire_or_renew(&self) -> Result<bool, Error> {
        if self.keys.is_clustered() {
            let term: u64 = self
                .client
                .eval(
                    ACQUIRE_OR_RENEW_TERM,
                    vec![self.keys.feed_leader(), self.keys.feed_term()],
                    vec![self.epoch.to_string(), self.ttl_ms()],
                )
                .await?;
            if term > 0 {
                self.term.store(term, Ordering::Relaxed);
            }
            return Ok(term > 0);
        }
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
    pub async fn write(&self, update: Update<'_>) -> Result<Fenced, Error> {
        let to = super::redis::Target {
            client: &self.client,
            keys: &self.keys,
            fence: Some(self),
        };
        to.write(update).await
    }
}
