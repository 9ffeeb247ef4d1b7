//! A scaled-out rategate as real processes: a mock Kraken, N exchange-rate-svc and M
//! user-api-svc binaries on one Redis (the shared one, or a private one a test may restart)
//! and one fresh MariaDB database, each node with its own port. Used by the root package's
//! `tests/system/cluster.rs` and by its failover benchmark (`benches/failover.rs`).

use std::time::{Duration, Instant};

use crate::process::Service;
use crate::SioClient;
use kraken_mock::{MockConfig, MockKraken, MockVenue, VenueKind};
use serde_json::Value;

pub const SECRET: &str = "cluster-secret-cluster-secret-0123456789";
pub const ADMIN: (&str, &str) = ("cluster-admin@rategate.test", "Cluster-Admin-Passphrase-42");
pub const TRADER_PASSWORD: &str = crate::http::PASSWORD;
/// The feed lease in these runs (`FEED_LEASE_TTL_MS` overrides it, for the benchmark): 1 s
/// by default, so a dead leader is replaced in about 1.25 s.
pub fn lease_ttl_ms() -> u64 {
    std::env::var("FEED_LEASE_TTL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

pub struct Cluster {
    pub mock: MockKraken,
    /// Mock Coinbase and Bitstamp, when the feeds read all three venues' books
    /// ([`Cluster::start_on_venues`]).
    pub venues: Option<(MockVenue, MockVenue)>,
    pub feeds: Vec<Service>,
    pub apis: Vec<Service>,
    /// `REDIS_URL`, or the seeds of `REDIS_CLUSTER_NODES`.
    pub redis_url: String,
    pub prefix: String,
    pub db: String,
    feed_env: Vec<(&'static str, String)>,
    api_env: Vec<(&'static str, String)>,
    /// The HTTP API of each API node, by index (`cluster.web[0].quote(..)`).
    pub web: Vec<crate::http::Api>,
}

impl Cluster {
    /// Starts `feeds` feed nodes and `apis` API nodes at once (on an empty database: the API
    /// nodes race to create and migrate it), and waits until every API node is ready.
    pub async fn start(redis_url: &str, feeds: usize, apis: usize) -> Cluster {
        Cluster::start_with(url_env(redis_url), feeds, apis, false).await
    }

    /// As [`Cluster::start`], on a Redis Cluster reached through `seeds`
    /// (`REDIS_CLUSTER_NODES`).
    pub async fn start_on_redis_cluster(seeds: &str, feeds: usize, apis: usize) -> Cluster {
        let redis = vec![("REDIS_CLUSTER_NODES", seeds.to_string())];
        Cluster::start_with(redis, feeds, apis, false).await
    }

    /// As [`Cluster::start`], with the feeds reading three venues' books (a mock Kraken,
    /// Coinbase and Bitstamp) instead of Kraken's ticker.
    pub async fn start_on_venues(redis_url: &str, feeds: usize, apis: usize) -> Cluster {
        Cluster::start_with(url_env(redis_url), feeds, apis, true).await
    }

    async fn start_with(
        redis: Vec<(&'static str, String)>,
        feeds: usize,
        apis: usize,
        books: bool,
    ) -> Cluster {
        common::telemetry::init_for_tests();
        common::tls::install_crypto_provider();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mock = MockKraken::start(MockConfig {
            pairs: vec!["BTC/USD".into(), "ETH/USD".into()],
            rate: 20,
            ..MockConfig::default()
        })
        .await
        .expect("mock kraken");
        let prefix = format!("cluster:{id}:");
        let db = crate::services::unique_db_name(&id);
        let mut feed_env = redis.clone();
        feed_env.extend([
            ("REDIS_PREFIX", prefix.clone()),
            ("KRAKEN_WS_URL", mock.ws_url()),
            ("KRAKEN_REST_URL", mock.rest_url()),
            ("PAIRS", "BTC/USD,ETH/USD".into()),
            ("FEED_LEASE_TTL_MS", lease_ttl_ms().to_string()),
        ]);
        let venues = if books {
            let pairs = ["BTC/USD", "ETH/USD"];
            let coinbase = MockVenue::start(VenueKind::Coinbase, &pairs)
                .await
                .expect("mock coinbase");
            let bitstamp = MockVenue::start(VenueKind::Bitstamp, &pairs)
                .await
                .expect("mock bitstamp");
            feed_env.extend([
                ("COINBASE_WS_URL", coinbase.ws_url()),
                ("BITSTAMP_WS_URL", bitstamp.ws_url()),
                ("BITSTAMP_REST_URL", bitstamp.rest_url()),
                ("VENUE_STALE_MS", "1500".into()),
                ("BACKOFF_MIN_MS", "50".into()),
                ("BACKOFF_MAX_MS", "300".into()),
            ]);
            Some((coinbase, bitstamp))
        } else {
            feed_env.push(("RATES_FROM", "ticker".into()));
            None
        };
        let mut api_env = redis.clone();
        api_env.extend([
            ("REDIS_PREFIX", prefix.clone()),
            (
                "DATABASE_URL",
                format!("{}/{db}", crate::services::mysql_base()),
            ),
            ("JWT_SECRET", SECRET.into()),
            ("ADMIN_EMAIL", ADMIN.0.into()),
            ("ADMIN_PASSWORD", ADMIN.1.into()),
            ("ADMIN_REQUIRE_2FA", "false".into()),
            ("PAIRS", "BTC/USD,ETH/USD".into()),
            ("LOGIN_PER_ACCOUNT_PER_MIN", "3".into()),
            // Every test user comes from this one address.
            ("REGISTER_PER_IP_PER_MIN", "1000".into()),
            ("LOGIN_PER_IP_PER_MIN", "1000".into()),
        ]);
        let feeds_started = futures_util::future::join_all(
            (0..feeds).map(|_| Service::spawn("exchange-rate-svc", &feed_env)),
        );
        let apis = futures_util::future::join_all(
            (0..apis).map(|_| Service::spawn("user-api-svc", &api_env)),
        );
        let (feeds, apis) = tokio::join!(feeds_started, apis);
        let apis_web = apis
            .iter()
            .map(|api| crate::http::Api::new(api.base.clone()))
            .collect();
        let cluster = Cluster {
            mock,
            venues,
            feeds,
            apis,
            redis_url: redis[0].1.clone(),
            prefix,
            db,
            feed_env,
            api_env,
            web: apis_web,
        };
        for api in &cluster.apis {
            api.ready().await;
        }
        cluster
    }

    /// Logs in on `node`; panics unless it works.
    pub async fn login(&self, node: usize, email: &str, password: &str) -> String {
        self.web[node].token(email, password).await
    }

    /// Registers `email` on `node` and funds it with USD through node 0; returns its token.
    pub async fn funded_trader(&self, node: usize, email: &str) -> String {
        self.web[node].register(email).await;
        let admin = self.login(0, ADMIN.0, ADMIN.1).await;
        self.web[0].deposit(&admin, email, "USD", "100000.00").await;
        self.login(node, email, TRADER_PASSWORD).await
    }

    /// A quote on `node` and its order on the same node; returns the order.
    pub async fn trade(&self, node: usize, token: &str, key: &str) -> Value {
        self.trade_with_quote(node, token, key).await.1
    }

    /// [`Cluster::trade`], returning the quote too.
    pub async fn trade_with_quote(&self, node: usize, token: &str, key: &str) -> (Value, Value) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let quote = loop {
            let (code, body) = self.web[node].quote(token, "BTC/USD", "buy", "0.01").await;
            match code {
                201 => break body,
                _ if Instant::now() > deadline => panic!("no quote on node {node}: {body}"),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let quote_id = quote["id"].as_str().unwrap_or_default();
        let (code, order) = self.web[node].order(token, key, quote_id).await;
        assert_eq!(code, 201, "{order}");
        (quote, order)
    }

    /// Replaces feed node `i` (killed) with a fresh process, which joins as a standby.
    pub async fn respawn_feed(&mut self, i: usize) {
        self.feeds[i].kill().await;
        self.feeds[i] = Service::spawn("exchange-rate-svc", &self.feed_env).await;
    }

    /// Replaces API node `i` (killed with SIGKILL) with a fresh process on a new port, and
    /// waits until it is ready.
    pub async fn respawn_api(&mut self, i: usize) {
        self.apis[i].kill().await;
        self.apis[i] = Service::spawn("user-api-svc", &self.api_env).await;
        self.web[i] = crate::http::Api::new(self.apis[i].base.clone());
        self.apis[i].ready().await;
    }

    /// The feed node that says it leads, once exactly one does.
    pub async fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let mut leaders = Vec::new();
            for (i, feed) in self.feeds.iter().enumerate() {
                if feed.get("/status").await["role"] == "leader" {
                    leaders.push(i);
                }
            }
            match leaders[..] {
                [one] => return one,
                _ if Instant::now() > deadline => panic!("no single feed leader: {leaders:?}"),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// A Socket.IO client on API node `node`.
    pub async fn socket(&self, node: usize, token: Option<&str>) -> SioClient {
        SioClient::connect(&self.apis[node].base, token)
            .await
            .expect("socket connects")
    }

    /// Stops every process and drops the database.
    pub async fn stop(mut self) {
        for service in self.apis.iter_mut().chain(self.feeds.iter_mut()) {
            service.kill().await;
        }
        self.mock.stop();
        if let Some((coinbase, bitstamp)) = &self.venues {
            coinbase.stop();
            bitstamp.stop();
        }
        crate::services::drop_database(&self.db).await;
    }
}

fn url_env(redis_url: &str) -> Vec<(&'static str, String)> {
    vec![("REDIS_URL", redis_url.to_string())]
}

/// Whether `line` is a `rates:live` message with a BTC entry stamped after `after`.
pub fn is_fresh(line: &Value, after: chrono::DateTime<chrono::Utc>) -> bool {
    let ts = line["data"]["BTC_USD"]["ts"].as_str().and_then(|t| {
        chrono::DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    });
    line["event"] == "rates:live" && ts.is_some_and(|t| t > after)
}

/// Waits for a `rates:live` BTC entry on `socket` stamped after `after` (RFC 3339), at most
/// `within`; returns when it came.
pub async fn fresh_tick(
    socket: &mut SioClient,
    after: chrono::DateTime<chrono::Utc>,
    within: Duration,
) -> Option<std::time::Instant> {
    socket
        .next_within(within, |v| is_fresh(v, after))
        .await
        .map(|_| std::time::Instant::now())
}
