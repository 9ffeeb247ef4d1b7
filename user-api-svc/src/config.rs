//! [`Config`]: every setting of user-api-svc, read once from the environment
//! (documented in `.env.example`). Secrets are never logged: `Debug` redacts them.

use std::net::SocketAddr;
use std::time::Duration;

use common::config::{millis_or, parse_or, var, ConfigError};
use common::Pair;

#[derive(Clone)]
pub struct Config {
    pub redis_url: String,
    /// `REDIS_CLUSTER_NODES`: seed nodes of a Redis Cluster; when set, `redis_url` is unused.
    pub redis_cluster_nodes: Option<String>,
    pub redis_prefix: String,
    pub database_url: String,
    pub http_addr: SocketAddr,
    /// Pairs users may see, subscribe to and get spreads for (others appear if the bus has them).
    pub pairs: Vec<Pair>,
    pub jwt_secret: String,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
    /// No status from the feed for this long: every rate is stale (ARCHITECTURE.md §4: 3 s).
    pub stale_after: Duration,
    /// Login and registration attempts per minute before 429 (see `auth::throttle`).
    pub throttle: crate::auth::throttle::ThrottleLimits,
    /// Password hashes (argon2id, 19 MiB each) allowed at once, and how long a request may wait
    /// for a turn before `503 busy`.
    pub hash_concurrency: usize,
    pub hash_max_wait: Duration,
    /// Take the client IP from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    pub quote_ttl: Duration,
    /// At most this share of a side's visible depth in the consolidated book is quotable
    /// (`QUOTE_MAX_DEPTH_FRACTION`, default 0.5; 0 < f ≤ 1).
    pub quote_max_depth_fraction: common::Decimal,
    /// Engine.IO sessions at once, in all and per client address (`SOCKET_SESSIONS_MAX`,
    /// `SOCKET_SESSIONS_PER_IP`).
    pub socket_sessions: crate::socket_sessions::SessionLimits,
    /// Admins without two-factor sign-in may sign in only to enrol (`ADMIN_REQUIRE_2FA`).
    pub admin_require_2fa: bool,
    /// Per-account budgets for quotes and orders (`money::budget`).
    pub quote_budget: crate::money::budget::Budget,
    pub order_budget: crate::money::budget::Budget,
    /// Quotes that expired unused, and orders refused, are forgotten this long after
    /// (`QUOTE_PURGE_AFTER_S`); successful orders' idempotency records are kept 24 h.
    pub quote_purge_after: Duration,
    /// Largest single deposit per asset (`DEPOSIT_CAPS`), and for any other asset of a
    /// configured pair (`DEPOSIT_CAP_DEFAULT`).
    pub deposit_caps: std::collections::HashMap<String, common::Decimal>,
    pub deposit_cap_default: common::Decimal,
    /// Whether an admin may deposit to their own account (`ADMIN_SELF_DEPOSIT`).
    pub admin_self_deposit: bool,
    /// How long 1 m candles are kept (5 m candles 5 times, 1 h candles 60 times as long).
    pub candle_retention: Duration,
    pub db_max_connections: u32,
    /// Group commit of quotes and orders (`GROUP_COMMIT_MAX`, `GROUP_COMMIT_WAIT_US`,
    /// `GROUP_COMMIT_WORKERS`; `crate::batch`).
    pub group_commit: crate::batch::BatchConfig,
    /// Socket fan-out: immediate below the budget, conflated windows above it.
    pub fanout: crate::rates::FanoutSettings,
    /// Timeouts and connection caps of the HTTP listener.
    pub serve: common::serve::ServeLimits,
    /// CORS allow-list (off by default).
    pub http_policy: common::http::HttpPolicy,
    /// Serve `/metrics` on this address instead of the API's (`METRICS_ADDR`).
    pub metrics_addr: Option<SocketAddr>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("redis_cluster_nodes", &self.redis_cluster_nodes)
            .field("redis_prefix", &self.redis_prefix)
            .field("http_addr", &self.http_addr)
            .field("pairs", &self.pairs)
            .field("jwt_secret", &"<redacted>")
            .field("admin_email", &self.admin_email)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// Memory that password hashing may use at once by default (MiB): with 19 MiB per hash, 6 at
/// most, and never more than one per core.
pub const DEFAULT_HASH_MEMORY_MIB: usize = 128;

/// Minimum length of `JWT_SECRET` in bytes (HS256 wants at least 256 bits).
pub const MIN_SECRET_LEN: usize = 32;

/// Quotes (and orders) per account: 50 a second sustained, 200 at once.
pub const DEFAULT_TRADING_BUDGET: crate::money::budget::Budget = crate::money::budget::Budget {
    per_second: 50,
    burst: 200,
};

/// `{KIND}_PER_ACCOUNT_PER_S` and `{KIND}_PER_ACCOUNT_BURST` over `d`.
fn budget(
    kind: &str,
    d: crate::money::budget::Budget,
) -> Result<crate::money::budget::Budget, ConfigError> {
    Ok(crate::money::budget::Budget {
        per_second: parse_or(&format!("{kind}_PER_ACCOUNT_PER_S"), d.per_second)?.max(1),
        burst: parse_or(&format!("{kind}_PER_ACCOUNT_BURST"), d.burst)?.max(1),
    })
}

/// Group commit: batches of up to 64 quotes or orders, gathered from what is already waiting
/// (no added wait), one batch of each in flight (the next gathers while it runs). Measured with
/// the orders bench at 64 traders: one worker gave 1,117–1,205 orders/s, two 921, four 904;
/// fewer, larger batches cost less CPU per order.
pub const DEFAULT_GROUP_COMMIT: crate::batch::BatchConfig = crate::batch::BatchConfig {
    max: 64,
    wait: Duration::ZERO,
    workers: 1,
};

/// Per-asset deposit caps unless `DEPOSIT_CAPS` says otherwise.
pub const DEFAULT_DEPOSIT_CAPS: &str = "USD=10000000,EUR=10000000,BTC=1000,ETH=10000";

fn parse_cap(raw: &str) -> Result<common::Decimal, String> {
    match common::decimal::parse_plain(raw.trim()) {
        Ok(d) if d > common::Decimal::ZERO => Ok(d),
        _ => Err(format!("{raw:?} is not a positive decimal")),
    }
}

/// `ASSET=amount,ASSET=amount` (assets upper-cased).
pub fn parse_caps(
    list: &str,
) -> Result<std::collections::HashMap<String, common::Decimal>, String> {
    common::config::items(list)
        .map(|item| {
            let (asset, cap) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?} is not ASSET=amount"))?;
            let asset = asset.trim().to_ascii_uppercase();
            if asset.is_empty() || !asset.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!("{asset:?} is not an asset code"));
            }
            Ok((asset, parse_cap(cap)?))
        })
        .collect()
}

impl Config {
    /// The Redis this service uses: the cluster when `REDIS_CLUSTER_NODES` is set, else
    /// `REDIS_URL`.
    pub fn redis_target(&self) -> anyhow::Result<common::bus::redis::RedisTarget> {
        common::bus::redis::RedisTarget::pick(&self.redis_url, self.redis_cluster_nodes.as_deref())
            .map_err(anyhow::Error::msg)
    }

    /// The largest single deposit of `asset`.
    pub fn deposit_cap(&self, asset: &str) -> common::Decimal {
        self.deposit_caps
            .get(asset)
            .copied()
            .unwrap_or(self.deposit_cap_default)
    }

    /// Whether `asset` is the base or quote of a configured pair.
    pub fn carries_asset(&self, asset: &str) -> bool {
        self.pairs
            .iter()
            .any(|p| p.base() == asset || p.quote() == asset)
    }

    /// Local defaults; `jwt_secret` must still be set (tests pass their own).
    pub fn local(jwt_secret: &str) -> Config {
        Config {
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_cluster_nodes: None,
            redis_prefix: "rategate:".into(),
            database_url: "mysql://root@127.0.0.1:3306/rategate".into(),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            pairs: Pair::parse_list("BTC/USD,ETH/USD,SOL/USD,XRP/USD,ADA/USD,DOGE/USD")
                .unwrap_or_default(),
            jwt_secret: jwt_secret.to_string(),
            jwt_issuer: "rategate".into(),
            jwt_audience: "rategate-api".into(),
            access_ttl: Duration::from_secs(300),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            admin_email: None,
            admin_password: None,
            stale_after: Duration::from_secs(3),
            throttle: crate::auth::throttle::ThrottleLimits {
                login_per_account_and_ip: 5,
                login_per_account: 50,
                login_per_ip: 30,
                register_per_ip: 10,
            },
            hash_concurrency: crate::auth::password::HashGate::default_concurrency(
                DEFAULT_HASH_MEMORY_MIB,
            ),
            hash_max_wait: Duration::from_secs(2),
            trust_forwarded_for: false,
            quote_ttl: Duration::from_secs(10),
            quote_max_depth_fraction: crate::rates::book::DEFAULT_MAX_DEPTH_FRACTION,
            socket_sessions: crate::socket_sessions::SessionLimits {
                total: 15_000,
                per_ip: 1_000,
            },
            admin_require_2fa: true,
            quote_budget: DEFAULT_TRADING_BUDGET,
            order_budget: DEFAULT_TRADING_BUDGET,
            quote_purge_after: Duration::from_secs(120),
            deposit_caps: parse_caps(DEFAULT_DEPOSIT_CAPS).unwrap_or_default(),
            deposit_cap_default: common::Decimal::from(1_000_000),
            admin_self_deposit: false,
            candle_retention: Duration::from_secs(7 * 24 * 3600),
            db_max_connections: 16,
            group_commit: DEFAULT_GROUP_COMMIT,
            fanout: crate::rates::FanoutSettings::default(),
            serve: common::serve::ServeLimits::default(),
            http_policy: common::http::HttpPolicy::default(),
            metrics_addr: None,
        }
    }

    /// The standalone service's config: `JWT_SECRET` is required.
    pub fn from_env() -> Result<Config, ConfigError> {
        let jwt_secret = var("JWT_SECRET").ok_or_else(|| {
            ConfigError::new("JWT_SECRET", "is required (at least 32 random bytes)")
        })?;
        Config::from_env_over(Config::local(&jwt_secret))
    }

    /// Reads every variable that is set over `d` (the all-in-one binary passes its own defaults:
    /// an SQLite file, a generated secret).
    pub fn from_env_over(d: Config) -> Result<Config, ConfigError> {
        let jwt_secret = var("JWT_SECRET").unwrap_or_else(|| d.jwt_secret.clone());
        if jwt_secret.len() < MIN_SECRET_LEN {
            return Err(ConfigError::new(
                "JWT_SECRET",
                format!("must be at least {MIN_SECRET_LEN} bytes"),
            ));
        }
        let admin_email = var("ADMIN_EMAIL").or(d.admin_email);
        let admin_password = var("ADMIN_PASSWORD").or(d.admin_password);
        if admin_email.is_some() != admin_password.is_some() {
            return Err(ConfigError::new(
                "ADMIN_EMAIL",
                "ADMIN_EMAIL and ADMIN_PASSWORD go together",
            ));
        }
        let access_ttl = Duration::from_secs(parse_or("ACCESS_TOKEN_TTL_S", 300u64)?);
        if access_ttl.is_zero() || access_ttl > Duration::from_secs(3600) {
            return Err(ConfigError::new(
                "ACCESS_TOKEN_TTL_S",
                "must be 1..=3600 seconds",
            ));
        }
        let pairs = match var("PAIRS") {
            None => d.pairs,
            Some(list) => Pair::parse_list(&list).map_err(|e| ConfigError::new("PAIRS", e))?,
        };
        let database_url = var("DATABASE_URL").unwrap_or(d.database_url);
        if !["mysql://", "mariadb://", "sqlite:"]
            .iter()
            .any(|scheme| database_url.starts_with(scheme))
        {
            return Err(ConfigError::new(
                "DATABASE_URL",
                "must be a mysql:// or sqlite:// URL",
            ));
        }
        let quote_max_depth_fraction: common::Decimal =
            parse_or("QUOTE_MAX_DEPTH_FRACTION", d.quote_max_depth_fraction)?;
        if quote_max_depth_fraction <= common::Decimal::ZERO
            || quote_max_depth_fraction > common::Decimal::ONE
        {
            return Err(ConfigError::new(
                "QUOTE_MAX_DEPTH_FRACTION",
                "must be above 0 and at most 1",
            ));
        }
        Ok(Config {
            redis_url: var("REDIS_URL").unwrap_or(d.redis_url),
            redis_cluster_nodes: common::config::redis_cluster_nodes(
                &var("REDIS_PREFIX").unwrap_or(d.redis_prefix.clone()),
            )?,
            redis_prefix: var("REDIS_PREFIX").unwrap_or(d.redis_prefix),
            database_url,
            http_addr: parse_or("HTTP_ADDR", d.http_addr)?,
            pairs,
            jwt_secret,
            jwt_issuer: d.jwt_issuer,
            jwt_audience: d.jwt_audience,
            access_ttl,
            refresh_ttl: Duration::from_secs(parse_or("REFRESH_TOKEN_TTL_S", 30u64 * 24 * 3600)?),
            admin_email,
            admin_password,
            stale_after: millis_or("STALE_AFTER_MS", 3_000, 500)?,
            throttle: crate::auth::throttle::ThrottleLimits {
                login_per_account_and_ip: parse_or(
                    "LOGIN_PER_ACCOUNT_PER_MIN",
                    d.throttle.login_per_account_and_ip,
                )?
                .max(1),
                login_per_account: parse_or(
                    "LOGIN_PER_ACCOUNT_ALL_SOURCES_PER_MIN",
                    d.throttle.login_per_account,
                )?
                .max(1),
                login_per_ip: parse_or("LOGIN_PER_IP_PER_MIN", d.throttle.login_per_ip)?.max(1),
                register_per_ip: parse_or("REGISTER_PER_IP_PER_MIN", d.throttle.register_per_ip)?
                    .max(1),
            },
            hash_concurrency: match var("PASSWORD_HASH_CONCURRENCY") {
                Some(_) => parse_or("PASSWORD_HASH_CONCURRENCY", 1usize)?.max(1),
                None => crate::auth::password::HashGate::default_concurrency(parse_or(
                    "PASSWORD_HASH_MEMORY_MIB",
                    DEFAULT_HASH_MEMORY_MIB,
                )?),
            },
            hash_max_wait: millis_or("PASSWORD_HASH_MAX_WAIT_MS", 2_000, 1)?,
            trust_forwarded_for: parse_or("TRUST_X_FORWARDED_FOR", false)?,
            quote_ttl: millis_or("QUOTE_TTL_MS", 10_000, 1_000)?,
            quote_max_depth_fraction,
            socket_sessions: crate::socket_sessions::SessionLimits {
                total: parse_or("SOCKET_SESSIONS_MAX", d.socket_sessions.total)?.max(1),
                per_ip: parse_or("SOCKET_SESSIONS_PER_IP", d.socket_sessions.per_ip)?.max(1),
            },
            admin_require_2fa: parse_or("ADMIN_REQUIRE_2FA", d.admin_require_2fa)?,
            quote_budget: budget("QUOTES", d.quote_budget)?,
            order_budget: budget("ORDERS", d.order_budget)?,
            quote_purge_after: Duration::from_secs(
                parse_or("QUOTE_PURGE_AFTER_S", d.quote_purge_after.as_secs())?.max(1),
            ),
            deposit_caps: match var("DEPOSIT_CAPS") {
                None => d.deposit_caps,
                Some(list) => parse_caps(&list).map_err(|e| ConfigError::new("DEPOSIT_CAPS", e))?,
            },
            deposit_cap_default: match var("DEPOSIT_CAP_DEFAULT") {
                None => d.deposit_cap_default,
                Some(v) => parse_cap(&v).map_err(|e| ConfigError::new("DEPOSIT_CAP_DEFAULT", e))?,
            },
            admin_self_deposit: parse_or("ADMIN_SELF_DEPOSIT", d.admin_self_deposit)?,
            candle_retention: Duration::from_secs(
                parse_or("CANDLE_RETENTION_DAYS", 7u64)?.clamp(1, 3650) * 24 * 3600,
            ),
            db_max_connections: parse_or("DB_MAX_CONNECTIONS", 16u32)?.max(1),
            group_commit: crate::batch::BatchConfig {
                max: parse_or("GROUP_COMMIT_MAX", d.group_commit.max)?.clamp(1, 1000),
                wait: Duration::from_micros(parse_or(
                    "GROUP_COMMIT_WAIT_US",
                    d.group_commit.wait.as_micros() as u64,
                )?),
                workers: parse_or("GROUP_COMMIT_WORKERS", d.group_commit.workers)?.clamp(1, 64),
            },
            fanout: crate::rates::FanoutSettings {
                immediate_budget: parse_or("FANOUT_IMMEDIATE_BUDGET", 100_000u64)?,
                window: millis_or("FANOUT_WINDOW_MS", 50, 5)?,
                delivery_cost: std::time::Duration::from_micros(parse_or(
                    "FANOUT_DELIVERY_COST_US",
                    10u64,
                )?),
            },
            serve: common::serve::ServeLimits::from_env_over(d.serve)?,
            http_policy: common::http::HttpPolicy::from_env()?,
            metrics_addr: match var("METRICS_ADDR") {
                None => d.metrics_addr,
                Some(_) => Some(parse_or("METRICS_ADDR", d.http_addr)?),
            },
        })
    }
}
