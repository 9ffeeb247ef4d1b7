//! [`Config`]: every setting of exchange-rate-svc, read once from the environment.
//! `.env.example` at the repository root documents each variable.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::book::Venue;
use common::bus::PairMeta;
use common::config::{millis_or, one_of, parse_or, var, ConfigError};
use common::{Decimal, Pair};

use crate::venues::kraken::connector::KrakenSettings;

/// Which upstream to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedKind {
    /// The real Kraken WebSocket v2 feed (the default).
    Kraken,
    /// A labelled random walk for offline demos.
    Sim,
}

/// Where the feed's rates come from on the live venues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RatesFrom {
    /// The venues' L2 books, consolidated (the default).
    Books,
    /// Kraken's `ticker` alone: one venue's top of book, the behaviour before the books.
    Ticker,
}

/// The venues read by default.
pub const DEFAULT_VENUES: &str = "kraken,coinbase,bitstamp";

pub const DEFAULT_PAIRS: &str = "BTC/USD,ETH/USD,SOL/USD,XRP/USD,ADA/USD,DOGE/USD";

#[derive(Debug, Clone)]
pub struct Config {
    pub redis_url: String,
    /// `REDIS_CLUSTER_NODES`: seed nodes of a Redis Cluster; when set, `redis_url` is unused.
    pub redis_cluster_nodes: Option<String>,
    pub redis_prefix: String,
    pub http_addr: SocketAddr,
    pub feed: FeedKind,
    pub kraken_ws_url: String,
    pub kraken_rest_url: String,
    /// `RATES_FROM`: `books` (default) or `ticker`.
    pub rates_from: RatesFrom,
    /// `VENUES`: the venues whose books make the price (default kraken,coinbase,bitstamp).
    pub venues: Vec<Venue>,
    pub coinbase_ws_url: String,
    pub bitstamp_ws_url: String,
    pub bitstamp_rest_url: String,
    /// A pair is quotable while at least this many venues contribute (`MIN_VENUES`, 1).
    pub min_venues: usize,
    /// A venue whose mid is further than this from the others' median is excluded
    /// (`VENUE_MAX_DEVIATION_BPS`, 100).
    pub venue_max_deviation_bps: Decimal,
    /// Consolidated books are published at most this often per pair (`BOOK_PUBLISH_HZ`, 10).
    pub book_publish_hz: u32,
    pub pairs: Vec<Pair>,
    /// No frame for this long ends the connection (`FEED_LIVENESS_MS`, default 5000).
    pub liveness: Duration,
    /// Per-symbol subscribe acks must arrive within this (`ACK_TIMEOUT_MS`, default 10000).
    pub ack_timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub maintenance_delay: Duration,
    /// A pair with no tick for this long is `silent` (`PAIR_SILENT_AFTER_MS`, default 60000).
    pub silent_after: Duration,
    /// Kraken `book` depth (`BOOK_DEPTH`: 10, 25, 100, 500 or 1000; default 25).
    pub book_depth: usize,
    /// A pair whose book failed its checksum 3 times in a row is resubscribed at most this
    /// often (`BOOK_RESUBSCRIBE_BACKOFF_MS`, default 10000).
    pub book_resubscribe_backoff: Duration,
    /// A venue's pair with no verified book update for this long is `stale`
    /// (`VENUE_STALE_MS`, default 1500).
    pub venue_stale: Duration,
    /// `FEED=sim`: time between two ticks of one pair (`SIM_INTERVAL_MS`, default 250).
    pub sim_interval: Duration,
    pub rest_timeout: Duration,
    pub redis_command_timeout: Duration,
    /// Cron expressions (with seconds) of the scheduled jobs.
    pub metadata_cron: String,
    pub crosscheck_cron: String,
    /// Live vs REST mid divergence that is reported (`CROSSCHECK_MAX_BPS`, default 50).
    pub crosscheck_max_bps: Decimal,
    pub fallbacks: HashMap<Pair, PairMeta>,
    /// Ticks the publisher may be behind before it switches to resync mode.
    pub publish_queue: usize,
    /// How long the feed lease lasts without renewal (`FEED_LEASE_TTL_MS`): a standby takes
    /// over within about this long (plus a quarter) of the leader's death.
    pub feed_lease_ttl: Duration,
    /// Timeouts and connection caps of the HTTP listener.
    pub serve: common::serve::ServeLimits,
    /// CORS allow-list (off by default).
    pub http_policy: common::http::HttpPolicy,
    /// Serve `/metrics` on this address instead of the API's (`METRICS_ADDR`).
    pub metrics_addr: Option<SocketAddr>,
}

impl Config {
    /// The Redis this service uses: the cluster when `REDIS_CLUSTER_NODES` is set, else
    /// `REDIS_URL`.
    pub fn redis_target(&self) -> anyhow::Result<common::bus::redis::RedisTarget> {
        common::bus::redis::RedisTarget::pick(&self.redis_url, self.redis_cluster_nodes.as_deref())
            .map_err(anyhow::Error::msg)
    }

    /// Defaults for local use: Redis on localhost, the real Kraken feed.
    pub fn local() -> Config {
        Config {
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_cluster_nodes: None,
            redis_prefix: "rategate:".into(),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8081)),
            feed: FeedKind::Kraken,
            kraken_ws_url: "wss://ws.kraken.com/v2".into(),
            kraken_rest_url: "https://api.kraken.com".into(),
            rates_from: RatesFrom::Books,
            venues: Venue::ALL.to_vec(),
            coinbase_ws_url: crate::venues::coinbase::connector::DEFAULT_WS_URL.into(),
            bitstamp_ws_url: crate::venues::bitstamp::connector::DEFAULT_WS_URL.into(),
            bitstamp_rest_url: crate::venues::bitstamp::connector::DEFAULT_REST_URL.into(),
            min_venues: 1,
            venue_max_deviation_bps: Decimal::from(100),
            book_publish_hz: 10,
            // The default list is valid by construction.
            pairs: Pair::parse_list(DEFAULT_PAIRS).unwrap_or_default(),
            liveness: Duration::from_secs(5),
            ack_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            maintenance_delay: Duration::from_secs(5),
            silent_after: Duration::from_secs(60),
            book_depth: 25,
            book_resubscribe_backoff: Duration::from_secs(10),
            venue_stale: Duration::from_millis(1500),
            sim_interval: Duration::from_millis(250),
            rest_timeout: Duration::from_secs(5),
            redis_command_timeout: Duration::from_secs(2),
            metadata_cron: "0 0 * * * *".into(),
            crosscheck_cron: "0 * * * * *".into(),
            crosscheck_max_bps: Decimal::from(50),
            fallbacks: HashMap::new(),
            publish_queue: 65_536,
            feed_lease_ttl: Duration::from_secs(2),
            serve: common::serve::ServeLimits::default(),
            http_policy: common::http::HttpPolicy::default(),
            metrics_addr: None,
        }
    }

    pub fn from_env() -> Result<Config, ConfigError> {
        let d = Config::local();
        let feed = one_of(
            "FEED",
            &[("kraken", FeedKind::Kraken), ("sim", FeedKind::Sim)],
        )?;
        let pairs = match var("PAIRS") {
            None => d.pairs,
            Some(list) => Pair::parse_list(&list).map_err(|e| ConfigError::new("PAIRS", e))?,
        };
        let fallbacks = match var("PAIR_FALLBACKS") {
            None => HashMap::new(),
            Some(spec) => crate::metadata::parse_fallbacks(&spec)?,
        };
        let crosscheck_max_bps: Decimal = parse_or("CROSSCHECK_MAX_BPS", d.crosscheck_max_bps)?;
        if crosscheck_max_bps < Decimal::ZERO {
            return Err(ConfigError::new("CROSSCHECK_MAX_BPS", "must be >= 0"));
        }
        let book_depth: usize = parse_or("BOOK_DEPTH", d.book_depth)?;
        if !crate::venues::kraken::book::DEPTHS.contains(&book_depth) {
            return Err(ConfigError::new(
                "BOOK_DEPTH",
                format!("{book_depth} is not one of Kraken's depths 10, 25, 100, 500, 1000"),
            ));
        }
        let rates_from = one_of(
            "RATES_FROM",
            &[("books", RatesFrom::Books), ("ticker", RatesFrom::Ticker)],
        )?;
        let venues = parse_venues(var("VENUES").as_deref().unwrap_or(DEFAULT_VENUES))?;
        let venue_max_deviation_bps: Decimal =
            parse_or("VENUE_MAX_DEVIATION_BPS", d.venue_max_deviation_bps)?;
        if venue_max_deviation_bps <= Decimal::ZERO {
            return Err(ConfigError::new("VENUE_MAX_DEVIATION_BPS", "must be > 0"));
        }
        let min_venues: usize = parse_or("MIN_VENUES", d.min_venues)?;
        if min_venues == 0 || min_venues > venues.len() {
            return Err(ConfigError::new(
                "MIN_VENUES",
                format!(
                    "must be between 1 and the {} venues of VENUES",
                    venues.len()
                ),
            ));
        }
        let book_publish_hz: u32 = parse_or("BOOK_PUBLISH_HZ", d.book_publish_hz)?;
        if !(1..=1000).contains(&book_publish_hz) {
            return Err(ConfigError::new(
                "BOOK_PUBLISH_HZ",
                "must be from 1 to 1000",
            ));
        }
        let cfg = Config {
            redis_url: var("REDIS_URL").unwrap_or(d.redis_url),
            redis_cluster_nodes: common::config::redis_cluster_nodes(
                &var("REDIS_PREFIX").unwrap_or(d.redis_prefix.clone()),
            )?,
            redis_prefix: var("REDIS_PREFIX").unwrap_or(d.redis_prefix),
            http_addr: parse_or("HTTP_ADDR", d.http_addr)?,
            feed,
            kraken_ws_url: var("KRAKEN_WS_URL").unwrap_or(d.kraken_ws_url),
            kraken_rest_url: var("KRAKEN_REST_URL").unwrap_or(d.kraken_rest_url),
            rates_from,
            venues,
            coinbase_ws_url: var("COINBASE_WS_URL").unwrap_or(d.coinbase_ws_url),
            bitstamp_ws_url: var("BITSTAMP_WS_URL").unwrap_or(d.bitstamp_ws_url),
            bitstamp_rest_url: var("BITSTAMP_REST_URL").unwrap_or(d.bitstamp_rest_url),
            min_venues,
            venue_max_deviation_bps,
            book_publish_hz,
            pairs,
            liveness: millis_or("FEED_LIVENESS_MS", 5_000, 200)?,
            ack_timeout: millis_or("ACK_TIMEOUT_MS", 10_000, 100)?,
            backoff_min: millis_or("BACKOFF_MIN_MS", 500, 10)?,
            backoff_max: millis_or("BACKOFF_MAX_MS", 30_000, 10)?,
            maintenance_delay: millis_or("MAINTENANCE_RECONNECT_MS", 5_000, 0)?,
            silent_after: millis_or("PAIR_SILENT_AFTER_MS", 60_000, 100)?,
            book_depth,
            book_resubscribe_backoff: millis_or("BOOK_RESUBSCRIBE_BACKOFF_MS", 10_000, 100)?,
            venue_stale: millis_or("VENUE_STALE_MS", 1_500, 10)?,
            sim_interval: millis_or("SIM_INTERVAL_MS", 250, 1)?,
            rest_timeout: millis_or("KRAKEN_REST_TIMEOUT_MS", 5_000, 100)?,
            redis_command_timeout: millis_or("REDIS_COMMAND_TIMEOUT_MS", 2_000, 50)?,
            metadata_cron: var("METADATA_CRON").unwrap_or(d.metadata_cron),
            crosscheck_cron: var("CROSSCHECK_CRON").unwrap_or(d.crosscheck_cron),
            crosscheck_max_bps,
            fallbacks,
            publish_queue: parse_or("PUBLISH_QUEUE", d.publish_queue)?,
            feed_lease_ttl: millis_or("FEED_LEASE_TTL_MS", 2_000, 200)?,
            serve: common::serve::ServeLimits::from_env_over(d.serve)?,
            http_policy: common::http::HttpPolicy::from_env()?,
            metrics_addr: match var("METRICS_ADDR") {
                None => None,
                Some(_) => Some(parse_or("METRICS_ADDR", d.http_addr)?),
            },
        };
        for (name, url) in [
            ("REDIS_URL", &cfg.redis_url),
            ("KRAKEN_WS_URL", &cfg.kraken_ws_url),
            ("COINBASE_WS_URL", &cfg.coinbase_ws_url),
            ("BITSTAMP_WS_URL", &cfg.bitstamp_ws_url),
            ("BITSTAMP_REST_URL", &cfg.bitstamp_rest_url),
        ] {
            if !url.contains("://") {
                return Err(ConfigError::new(name, format!("{url:?} is not a URL")));
            }
        }
        if cfg.backoff_max < cfg.backoff_min {
            return Err(ConfigError::new(
                "BACKOFF_MAX_MS",
                "must be >= BACKOFF_MIN_MS",
            ));
        }
        Ok(cfg)
    }

    pub fn kraken_settings(&self) -> KrakenSettings {
        KrakenSettings {
            ws_url: self.kraken_ws_url.clone(),
            pairs: self.pairs.clone(),
            ack_timeout: self.ack_timeout,
            maintenance_delay: self.maintenance_delay,
            book_depth: self.book_depth,
            book_resubscribe_backoff: self.book_resubscribe_backoff,
            ticker_rates: self.rates_from == RatesFrom::Ticker,
        }
    }

    /// The settings of the session loop every venue shares.
    pub fn session_settings(&self) -> crate::venues::session::SessionSettings {
        crate::venues::session::SessionSettings {
            liveness: self.liveness,
            keepalive_every: (self.liveness / 2).min(self.venue_stale / 3),
            connect_timeout: Duration::from_secs(10),
            backoff_min: self.backoff_min,
            backoff_max: self.backoff_max,
        }
    }

    /// How the venues' books are judged and merged.
    pub fn book_rules(&self) -> crate::books::BookRules {
        crate::books::BookRules {
            stale_after: self.venue_stale,
            depth: self.book_depth,
            max_deviation_bps: self.venue_max_deviation_bps,
        }
    }

    /// Whether the price is the venues' consolidated books (`None`: one venue's ticker), and
    /// how many venues a pair needs.
    pub fn consolidation(&self) -> Option<usize> {
        match (self.feed, self.rates_from) {
            (FeedKind::Kraken, RatesFrom::Ticker) => None,
            (FeedKind::Sim, _) => Some(1),
            (FeedKind::Kraken, RatesFrom::Books) => Some(self.min_venues),
        }
    }
}

/// `VENUES`: a comma-separated list of known venues, each once, at least one.
pub fn parse_venues(list: &str) -> Result<Vec<Venue>, ConfigError> {
    let mut venues = Vec::new();
    for name in common::config::items(list) {
        let venue = Venue::parse(&name.to_ascii_lowercase()).ok_or_else(|| {
            ConfigError::new("VENUES", format!("{name:?} is not one of {DEFAULT_VENUES}"))
        })?;
        if venues.contains(&venue) {
            return Err(ConfigError::new(
                "VENUES",
                format!("{name} is listed twice"),
            ));
        }
        venues.push(venue);
    }
    if venues.is_empty() {
        return Err(ConfigError::new("VENUES", "names no venue"));
    }
    Ok(venues)
}
