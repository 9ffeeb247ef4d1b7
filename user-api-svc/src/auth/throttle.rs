//! Throttling of the unauthenticated, expensive endpoints:
//! - login attempts per (account, client IP): the tight limit an attacker guessing one
//!   account's password from one place meets first;
//! - login attempts per account from all sources together: a looser cap, so a botnet spreading
//!   guesses over many IPs is still bounded, while one attacker hammering an account from one
//!   IP cannot lock its owner (who comes from another IP) out;
//! - login attempts per client IP (across accounts: credential stuffing);
//! - registrations per client IP.
//!
//! Where nodes share Redis, the counts live there ([`SharedBuckets`]: one Lua script, GCRA with
//! the same burst and rate as the in-process limiter), so an attacker spreading attempts over
//! N nodes gets the budget of one. In one process (the all-in-one binary) they live in memory
//! (governor). If Redis cannot answer, this node's own in-memory limits apply meanwhile: never
//! unlimited, never locked out.
//!
//! Accounts are keyed by the submitted email whether or not it exists, so a 429 reveals nothing;
//! in Redis the email is kept only as a hash. Every attempt counts; a legitimate user never
//! needs more than a few per minute.

use std::net::IpAddr;
use std::num::NonZeroU32;

use common::bus::BusKeys;
use fred::prelude::*;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

/// Attempts per minute allowed by each limiter.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleLimits {
    pub login_per_account_and_ip: u32,
    pub login_per_account: u32,
    pub login_per_ip: u32,
    pub register_per_ip: u32,
}

pub struct LoginThrottle {
    limits: ThrottleLimits,
    local: LocalBuckets,
    shared: Option<SharedBuckets>,
}

/// The in-process limiters (governor).
struct LocalBuckets {
    by_account_and_ip: DefaultKeyedRateLimiter<(String, IpAddr)>,
    by_account: DefaultKeyedRateLimiter<String>,
    by_ip: DefaultKeyedRateLimiter<IpAddr>,
    register_by_ip: DefaultKeyedRateLimiter<IpAddr>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

/// Seconds to wait, at least 1.
fn wait_secs(n: governor::NotUntil<<DefaultClock as Clock>::Instant>) -> u64 {
    n.wait_time_from(DefaultClock::default().now())
        .as_secs()
        .max(1)
}

impl LocalBuckets {
    fn new(limits: ThrottleLimits) -> LocalBuckets {
        LocalBuckets {
            by_account_and_ip: RateLimiter::keyed(per_minute(limits.login_per_account_and_ip)),
            by_account: RateLimiter::keyed(per_minute(limits.login_per_account)),
            by_ip: RateLimiter::keyed(per_minute(limits.login_per_ip)),
            register_by_ip: RateLimiter::keyed(per_minute(limits.register_per_ip)),
        }
    }

    fn attempt(&self, email: &str, ip: IpAddr) -> Result<(), u64> {
        self.by_ip.check_key(&ip).map_err(wait_secs)?;
        self.by_account_and_ip
            .check_key(&(email.to_string(), ip))
            .map_err(wait_secs)?;
        self.by_account
            .check_key(&email.to_string())
            .map_err(wait_secs)?;
        Ok(())
    }

    fn register(&self, ip: IpAddr) -> Result<(), u64> {
        self.register_by_ip.check_key(&ip).map_err(wait_secs)
    }

    fn shrink(&self) {
        self.by_account_and_ip.retain_recent();
        self.by_account.retain_recent();
        self.by_ip.retain_recent();
        self.register_by_ip.retain_recent();
    }
}

/// GCRA over several buckets, checked in order, each spent only if it allows (like the
/// in-process limiters). KEYS: the buckets. ARGV: each bucket's emission interval (ms), then
/// the period (ms) the burst spans. Returns 0, or the milliseconds to wait at the first bucket
/// that refuses. A bucket's key expires when it is full again, so idle keys clean themselves.
const GCRA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local period = tonumber(ARGV[#KEYS + 1])
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local allowed_at = tat + interval - period
  if allowed_at > now then return allowed_at - now end
  local next_tat = tat + interval
  redis.call('SET', key, next_tat, 'PX', math.max(1, next_tat - now))
end
return 0
"#;

const PERIOD_MS: u64 = 60_000;

/// The buckets every node shares, in Redis under `{prefix}throttle:` (also the per-account
/// trading budgets of `money::budget`).
pub struct SharedBuckets {
    client: Client,
    keys: BusKeys,
}

/// An email as a bucket name: a short hash, so Redis never holds the address.
fn account_key(email: &str) -> String {
    let digest = Sha256::digest(email.as_bytes());
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// At least 1 ms: a limit above 60,000 a minute would otherwise be an interval of 0, which the
/// script cannot expire a key by (`SET ... PX 0` is an error).
fn interval_ms(per_minute: u32) -> u64 {
    (PERIOD_MS / u64::from(per_minute.max(1))).max(1)
}

impl SharedBuckets {
    pub fn new(client: Client, keys: BusKeys) -> SharedBuckets {
        SharedBuckets { client, keys }
    }

    /// Per-minute buckets whose burst is their minute's count.
    async fn check(&self, buckets: &[(String, u32)]) -> Result<Result<(), u64>, Error> {
        let intervals: Vec<(String, u64)> = buckets
            .iter()
            .map(|(name, n)| (name.clone(), interval_ms(*n)))
            .collect();
        self.check_gcra(&intervals, PERIOD_MS).await
    }

    /// GCRA over `buckets` (name, emission interval in ms) whose burst spans `period_ms`:
    /// `Ok(Ok(()))` allowed, `Ok(Err(seconds))` refused, `Err` when Redis did not answer.
    pub async fn check_gcra(
        &self,
        buckets: &[(String, u64)],
        period_ms: u64,
    ) -> Result<Result<(), u64>, Error> {
        let keys: Vec<String> = buckets
            .iter()
            .map(|(name, _)| self.keys.throttle(name))
            .collect();
        let mut args: Vec<String> = buckets.iter().map(|(_, ms)| ms.to_string()).collect();
        args.push(period_ms.to_string());
        let wait_ms: u64 = self.client.eval(GCRA, keys, args).await?;
        Ok(match wait_ms {
            0 => Ok(()),
            ms => Err(ms.div_ceil(1000).max(1)),
        })
    }
}

impl LoginThrottle {
    /// In-process limits only.
    pub fn new(limits: ThrottleLimits) -> LoginThrottle {
        LoginThrottle {
            limits,
            local: LocalBuckets::new(limits),
            shared: None,
        }
    }

    /// Limits counted in Redis, shared by every node on `client` under `keys`' prefix.
    pub fn shared(limits: ThrottleLimits, client: Client, keys: BusKeys) -> LoginThrottle {
        LoginThrottle {
            shared: Some(SharedBuckets::new(client, keys)),
            ..LoginThrottle::new(limits)
        }
    }

    /// Asks the shared buckets, or this node's own when there are none or Redis is away.
    async fn check(
        &self,
        buckets: Vec<(String, u32)>,
        local: impl FnOnce(&LocalBuckets) -> Result<(), u64>,
    ) -> Result<(), u64> {
        if let Some(shared) = &self.shared {
            match shared.check(&buckets).await {
                Ok(verdict) => return verdict,
                Err(e) => {
                    metrics::counter!("rategate_throttle_fallbacks_total").increment(1);
                    tracing::warn!(error = %e, "shared throttle unavailable; this node's own limits apply");
                }
            }
        }
        local(&self.local)
    }

    /// Records a login attempt; `Err(seconds)` if it must wait.
    pub async fn attempt(&self, email: &str, ip: IpAddr) -> Result<(), u64> {
        let account = account_key(email);
        let l = self.limits;
        let buckets = vec![
            (format!("login-ip:{ip}"), l.login_per_ip),
            (
                format!("login-account-ip:{account}:{ip}"),
                l.login_per_account_and_ip,
            ),
            (format!("login-account:{account}"), l.login_per_account),
        ];
        self.check(buckets, |local| local.attempt(email, ip)).await
    }

    /// Records a registration attempt; `Err(seconds)` if it must wait.
    pub async fn register(&self, ip: IpAddr) -> Result<(), u64> {
        let buckets = vec![(format!("register-ip:{ip}"), self.limits.register_per_ip)];
        self.check(buckets, |local| local.register(ip)).await
    }

    /// Drops idle in-memory keys; called by the purge job (Redis keys expire on their own).
    pub fn shrink(&self) {
        self.local.shrink();
    }
}

#[cfg(test)]
mod tests {
    //! Every rule runs twice: in memory, and in Redis (the real one, a prefix per test).
    use super::*;

    fn limits() -> ThrottleLimits {
        ThrottleLimits {
            login_per_account_and_ip: 3,
            login_per_account: 6,
            login_per_ip: 5,
            register_per_ip: 2,
        }
    }

    fn prefix() -> String {
        format!("test-throttle-{}:", uuid::Uuid::new_v4())
    }

    async fn in_redis(prefix: &str) -> LoginThrottle {
        LoginThrottle::shared(
            limits(),
            testkit::services::redis().await,
            BusKeys::new(prefix),
        )
    }

    /// Runs `rule` on an in-memory throttle and on a Redis one.
    macro_rules! on_both {
        ($rule:ident) => {
            mod $rule {
                #[tokio::test]
                async fn in_memory() {
                    super::$rule(super::LoginThrottle::new(super::limits())).await;
                }
                #[tokio::test]
                async fn in_redis() {
                    super::$rule(super::in_redis(&super::prefix()).await).await;
                }
            }
        };
    }

    on_both!(engages_per_account_and_source_and_per_ip);
    async fn engages_per_account_and_source_and_per_ip(t: LoginThrottle) {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(t.attempt("a@x.io", ip).await.is_ok());
        }
        let wait = t.attempt("a@x.io", ip).await.unwrap_err();
        assert!((1..=60).contains(&wait), "wait {wait} s");
        // another account from the same IP still has IP budget left (5 − 4 used)
        assert!(t.attempt("b@x.io", ip).await.is_ok());
        assert!(t.attempt("c@x.io", ip).await.is_err(), "IP budget spent");
    }

    on_both!(an_attacker_on_one_ip_does_not_lock_the_owner_out);
    async fn an_attacker_on_one_ip_does_not_lock_the_owner_out(t: LoginThrottle) {
        let attacker: IpAddr = "10.0.0.66".parse().unwrap();
        let owner: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..3 {
            assert!(t.attempt("a@x.io", attacker).await.is_ok());
        }
        assert!(
            t.attempt("a@x.io", attacker).await.is_err(),
            "attacker throttled"
        );
        assert!(
            t.attempt("a@x.io", owner).await.is_ok(),
            "the owner, elsewhere, still logs in"
        );
    }

    on_both!(many_sources_together_meet_the_account_wide_cap);
    async fn many_sources_together_meet_the_account_wide_cap(t: LoginThrottle) {
        // The account-wide cap is 6; the per-source limit (3) never engages here.
        for i in 0..6 {
            let ip: IpAddr = format!("10.0.1.{i}").parse().unwrap();
            assert!(t.attempt("a@x.io", ip).await.is_ok(), "attempt {i}");
        }
        assert!(t
            .attempt("a@x.io", "10.0.1.99".parse().unwrap())
            .await
            .is_err());
    }

    on_both!(registrations_are_limited_per_ip);
    async fn registrations_are_limited_per_ip(t: LoginThrottle) {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(t.register(ip).await.is_ok());
        assert!(t.register(ip).await.is_ok());
        assert!(t.register(ip).await.is_err());
        assert!(t.register("10.0.0.2".parse().unwrap()).await.is_ok());
    }

    #[tokio::test]
    async fn nodes_on_one_redis_share_one_budget() {
        let prefix = prefix();
        let (node1, node2) = (in_redis(&prefix).await, in_redis(&prefix).await);
        let ip: IpAddr = "10.0.2.1".parse().unwrap();
        // 3 per (account, IP): spread over two nodes, still 3 in all.
        assert!(node1.attempt("a@x.io", ip).await.is_ok());
        assert!(node2.attempt("a@x.io", ip).await.is_ok());
        assert!(node1.attempt("a@x.io", ip).await.is_ok());
        assert!(node2.attempt("a@x.io", ip).await.is_err());
        assert!(node1.attempt("a@x.io", ip).await.is_err());
        // The email itself is not in Redis, only its hash.
        let keys: Vec<String> = testkit::services::redis()
            .await
            .custom(fred::cmd!("KEYS"), vec![format!("{prefix}throttle:*")])
            .await
            .unwrap();
        assert_eq!(keys.len(), 3, "{keys:?}");
        assert!(keys.iter().all(|k| !k.contains("a@x.io")), "{keys:?}");
    }

    /// Above 60,000 a minute the interval would round to 0 ms, which Redis cannot expire a key
    /// by (`SET ... PX 0` is an error, and the node would fall back to its own limits): the
    /// shared script must answer. The key itself lives 1 ms, too short to look for.
    #[tokio::test]
    async fn a_limit_above_one_a_millisecond_is_answered_by_redis() {
        let redis = testkit::services::redis().await;
        let buckets = SharedBuckets::new(redis, BusKeys::new(prefix()));
        let answer = buckets
            .check(&[("register-ip:10.0.4.1".to_string(), 100_000)])
            .await;
        assert!(matches!(answer, Ok(Ok(()))), "Redis answered {answer:?}");
    }

    #[tokio::test]
    async fn without_redis_the_nodes_own_limits_apply() {
        // A client whose Redis never answers (nothing listens on the port).
        let port = testkit::http::free_port();
        let mut config = Config::from_url(&format!("redis://127.0.0.1:{port}")).unwrap();
        config.fail_fast = true;
        let client = Builder::from_config(config)
            .with_performance_config(|p| {
                p.default_command_timeout = std::time::Duration::from_millis(300)
            })
            .build()
            .unwrap();
        drop(client.connect());
        let t = LoginThrottle::shared(limits(), client, BusKeys::new(prefix()));
        let ip: IpAddr = "10.0.3.1".parse().unwrap();
        for _ in 0..3 {
            assert!(t.attempt("a@x.io", ip).await.is_ok());
        }
        assert!(t.attempt("a@x.io", ip).await.is_err(), "still limited");
    }
}
