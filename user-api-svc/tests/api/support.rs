//! Test support for user-api-svc: the service on port 0 on one of two [`Backend`]s, a stand-in
//! for exchange-rate-svc that writes the bus exactly as it does, and real Socket.IO clients
//! (npm socket.io-client, run by Node).
//!
//! - [`Backend::MariaDbRedis`]: the real MariaDB (a database per test) and the real Redis (a
//!   key prefix per test), as deployed.
//! - [`Backend::SqliteInProcess`]: an SQLite file per test and an in-process bus per test, as
//!   in the all-in-one binary.
//!
//! [`on_both_backends!`] turns one test body into a test per backend. If MariaDB, Redis or
//! Node's client package is missing, tests fail with a message saying so.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::book::{Level, Venue};
use common::bus::memory::MemoryBus;
use common::bus::{BookMsg, BusKeys, FeedState, PairState, RateMsg, StatusMsg};
use common::{Decimal, Pair};
use fred::prelude::*;
use serde_json::Value;
use user_api_svc::{Application, Config as ApiConfig};

pub const ADMIN_EMAIL: &str = "root-admin@rategate.test";
pub const ADMIN_PASSWORD: &str = "Adm1n-Passphrase-For-Tests";
pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";

pub use testkit::services::{mysql_base, redis, redis_url};
pub use testkit::SioClient;

/// The two setups every storage, API and bus test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// MariaDB + Redis: the deployment.
    MariaDbRedis,
    /// SQLite + the in-process bus: the all-in-one binary.
    SqliteInProcess,
}

/// One test body, run once per [`Backend`]: `on_both_backends!(name);` makes the tests
/// `name::mariadb_redis` and `name::sqlite_in_process` that call `name(backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn mariadb_redis() {
                super::$name($crate::support::Backend::MariaDbRedis).await
            }
            #[tokio::test]
            async fn sqlite_in_process() {
                super::$name($crate::support::Backend::SqliteInProcess).await
            }
        }
    )+};
}

/// Where the fake feed writes.
pub enum Sink {
    Redis { redis: Client, keys: BusKeys },
    Memory(MemoryBus),
}

/// Writes the bus the way exchange-rate-svc does: the last value first, then the tick.
pub struct FakeFeed {
    pub sink: Sink,
    seq: AtomicU64,
    epoch: String,
}

impl FakeFeed {
    /// The next bus message for `pair` (seq increments, this feed's epoch).
    fn msg(&self, pair: &str, bid: &str, ask: &str) -> RateMsg {
        self.msg_at(pair, bid, ask, Utc::now())
    }

    /// [`FakeFeed::msg`] with the exchange's time `ts`.
    fn msg_at(&self, pair: &str, bid: &str, ask: &str, ts: DateTime<Utc>) -> RateMsg {
        RateMsg {
            v: 1,
            source: "kraken".into(),
            pair: Pair::parse(pair).unwrap(),
            bid: bid.parse::<Decimal>().unwrap(),
            ask: ask.parse::<Decimal>().unwrap(),
            last: None,
            ts,
            received_at: Utc::now(),
            seq: self.seq.fetch_add(1, Ordering::SeqCst) + 1,
            epoch: self.epoch.clone(),
            venues: vec![],
        }
    }

    pub async fn rate(&self, pair: &str, bid: &str, ask: &str) -> RateMsg {
        self.rate_at(pair, bid, ask, Utc::now()).await
    }

    /// A tick stamped with the exchange's time `ts`.
    pub async fn rate_at(&self, pair: &str, bid: &str, ask: &str, ts: DateTime<Utc>) -> RateMsg {
        self.publish(self.msg_at(pair, bid, ask, ts)).await
    }

    /// A consolidated rate, as a feed on several venues' books publishes it.
    pub async fn venue_rate(&self, pair: &str, bid: &str, ask: &str, venues: &[Venue]) -> RateMsg {
        let mut msg = self.msg(pair, bid, ask);
        msg.source = "consolidated".into();
        msg.venues = venues.to_vec();
        self.publish(msg).await
    }

    /// `msg` into the last values, then announced.
    async fn publish(&self, msg: RateMsg) -> RateMsg {
        match &self.sink {
            Sink::Redis { redis, keys } => {
                let json = serde_json::to_string(&msg).unwrap();
                let () = redis
                    .hset(keys.rates_last(), (msg.pair.as_str(), json.as_str()))
                    .await
                    .unwrap();
                let () = redis.publish(keys.rates(), json).await.unwrap();
            }
            Sink::Memory(bus) => bus.publish_rates(&[Arc::new(msg.clone())]),
        }
        msg
    }

    /// A consolidated book: `(price, qty, venue)` per level, best first.
    pub async fn book(
        &self,
        pair: &str,
        bids: &[(&str, &str, Venue)],
        asks: &[(&str, &str, Venue)],
    ) {
        let levels = |l: &[(&str, &str, Venue)]| -> Vec<Level> {
            l.iter()
                .map(|(p, q, v)| Level {
                    price: p.parse().unwrap(),
                    qty: q.parse().unwrap(),
                    venue: *v,
                })
                .collect()
        };
        let mut venues: Vec<Venue> = bids.iter().chain(asks).map(|l| l.2).collect();
        venues.sort();
        venues.dedup();
        let msg = BookMsg {
            v: 1,
            pair: Pair::parse(pair).unwrap(),
            book: common::book::Consolidated {
                bids: levels(bids),
                asks: levels(asks),
            },
            venues,
            ts: Utc::now(),
            seq: self.seq.fetch_add(1, Ordering::SeqCst) + 1,
            epoch: self.epoch.clone(),
        };
        match &self.sink {
            Sink::Redis { redis, keys } => {
                let json = serde_json::to_string(&msg).unwrap();
                let () = redis
                    .hset(keys.books_last(), (pair, json.as_str()))
                    .await
                    .unwrap();
                let () = redis.publish(keys.books(), json).await.unwrap();
            }
            Sink::Memory(bus) => bus.publish_books(&[Arc::new(msg)]),
        }
    }

    /// Many ticks for one pair as fast as the bus takes them; returns the last bid.
    pub async fn burst(&self, pair: &str, n: u64) -> String {
        let mut last_bid = String::new();
        let mut msgs = Vec::new();
        for i in 0..n {
            let bid = format!("{}.0", 1000 + i);
            msgs.push(self.msg(pair, &bid, &format!("{}.5", 1000 + i)));
            last_bid = bid;
        }
        match &self.sink {
            Sink::Redis { redis, keys } => {
                let pipe = redis.pipeline();
                for msg in &msgs {
                    let json = serde_json::to_string(msg).unwrap();
                    let () = pipe
                        .hset(keys.rates_last(), (pair, json.as_str()))
                        .await
                        .unwrap();
                    let () = pipe.publish(keys.rates(), json).await.unwrap();
                }
                let _: Vec<fred::types::Value> = pipe.all().await.unwrap();
            }
            Sink::Memory(bus) => {
                // In batches, as the publisher drains its queue.
                let msgs: Vec<Arc<RateMsg>> = msgs.into_iter().map(Arc::new).collect();
                for chunk in msgs.chunks(512) {
                    bus.publish_rates(chunk);
                    tokio::task::yield_now().await;
                }
            }
        }
        last_bid
    }

    /// In-process bus only: `n` ticks in one publish, so a subscriber on this (current-thread)
    /// runtime cannot run in between and must lag when `n` exceeds the bus's capacity.
    /// Returns the last bid.
    pub fn flood_in_one_publish(&self, pair: &str, n: u64) -> String {
        let Sink::Memory(bus) = &self.sink else {
            panic!("flood_in_one_publish is for the in-process bus")
        };
        let msgs: Vec<Arc<RateMsg>> = (0..n)
            .map(|i| {
                Arc::new(self.msg(pair, &format!("{}.0", 1000 + i), &format!("{}.5", 1000 + i)))
            })
            .collect();
        bus.publish_rates(&msgs);
        format!("{}.0", 1000 + n - 1)
    }

    pub async fn status(&self, state: FeedState, pairs: &[&str]) {
        self.status_with_venues(state, pairs, Default::default())
            .await
    }

    /// A status that also reports each venue's books.
    pub async fn status_with_venues(
        &self,
        state: FeedState,
        pairs: &[&str],
        venues: std::collections::BTreeMap<common::book::Venue, common::bus::VenueStatus>,
    ) {
        let msg = StatusMsg {
            v: 1,
            source: "kraken".into(),
            state,
            since: Utc::now(),
            pairs: pairs
                .iter()
                .map(|p| (Pair::parse(p).unwrap(), PairState::Ok))
                .collect(),
            epoch: self.epoch.clone(),
            role: common::bus::FeedRole::Leader,
            venues,
        };
        match &self.sink {
            Sink::Redis { redis, keys } => {
                let json = serde_json::to_string(&msg).unwrap();
                let () = redis
                    .set(
                        keys.status(),
                        json.as_str(),
                        Some(fred::types::Expiration::EX(5)),
                        None,
                        false,
                    )
                    .await
                    .unwrap();
                let () = redis.publish(keys.status(), json).await.unwrap();
            }
            Sink::Memory(bus) => bus.publish_status(msg),
        }
    }

    pub async fn meta(&self, pair: &str, tick: &str) {
        let m = common::bus::PairMeta::new(
            Pair::parse(pair).unwrap(),
            tick.parse().unwrap(),
            "0.00000001".parse().unwrap(),
            "0.0001".parse().unwrap(),
        );
        match &self.sink {
            Sink::Redis { redis, keys } => {
                let () = redis
                    .hset(keys.pairs(), (pair, serde_json::to_string(&m).unwrap()))
                    .await
                    .unwrap();
                // Announced, as exchange-rate-svc does after every metadata write.
                let () = redis
                    .publish(keys.pairs(), serde_json::to_string(&[&m]).unwrap())
                    .await
                    .unwrap();
            }
            Sink::Memory(bus) => bus.set_pairs([m]),
        }
    }
}

/// Publishes an `online` status every 500 ms until dropped (what a healthy feed does).
pub struct StatusPump {
    stop: tokio::sync::watch::Sender<bool>,
}

impl Drop for StatusPump {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

pub struct TestApi {
    pub app: Option<Application>,
    /// Its HTTP API (`api.get(..)`, `api.base`, through `Deref`).
    pub api: testkit::http::Api,
    pub feed: Arc<FakeFeed>,
    pub backend: Backend,
    /// The database's URL (a MariaDB database or an SQLite file of this test's own).
    pub database_url: String,
    pub db_name: String,
}

impl std::ops::Deref for TestApi {
    type Target = testkit::http::Api;
    fn deref(&self) -> &testkit::http::Api {
        &self.api
    }
}

impl TestApi {
    /// On MariaDB + Redis.
    pub async fn start(tweak: impl FnOnce(&mut ApiConfig)) -> TestApi {
        TestApi::start_on(Backend::MariaDbRedis, tweak).await
    }

    pub async fn start_on(backend: Backend, tweak: impl FnOnce(&mut ApiConfig)) -> TestApi {
        common::telemetry::init_for_tests();
        common::tls::install_crypto_provider();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let db_name = testkit::services::unique_db_name(&id);
        let mut config = ApiConfig::local(SECRET);
        let sink = match backend {
            Backend::MariaDbRedis => {
                let keys = BusKeys::new(format!("test:{id}:"));
                config.redis_url = redis_url();
                config.redis_prefix = keys.prefix().to_string();
                config.database_url = format!("{}/{db_name}", mysql_base());
                Sink::Redis {
                    redis: redis().await,
                    keys,
                }
            }
            Backend::SqliteInProcess => {
                let bus = MemoryBus::default();
                config.redis_url = "redis://unused.invalid:1".into();
                config.database_url = format!("sqlite://{}", sqlite_path(&db_name).display());
                Sink::Memory(bus)
            }
        };
        config.http_addr = "127.0.0.1:0".parse().unwrap();
        config.pairs = Pair::parse_list("BTC/USD,ETH/USD").unwrap();
        config.admin_email = Some(ADMIN_EMAIL.into());
        config.admin_password = Some(ADMIN_PASSWORD.into());
        // Tests register many accounts from 127.0.0.1; the registration limit's own test
        // sets it back down.
        config.throttle.register_per_ip = 100_000;
        // The admin signs in with a password alone here; two-factor's own tests turn it on.
        config.admin_require_2fa = false;
        tweak(&mut config);
        let database_url = config.database_url.clone();
        let built = match &sink {
            Sink::Redis { .. } => Application::build(config).await,
            Sink::Memory(bus) => {
                let store = user_api_svc::store::open(&database_url, config.db_max_connections)
                    .await
                    .expect("the SQLite store opens");
                Application::build_with(config, store, Arc::new(bus.clone())).await
            }
        };
        let app = built.unwrap_or_else(|e| {
            panic!("user-api-svc did not start on {backend:?} ({e:#}); for MariaDB at {}, start it (scripts/services.sh)", mysql_base())
        });
        let api = testkit::http::Api::new(format!("http://{}", app.addr()));
        TestApi {
            app: Some(app),
            api,
            feed: Arc::new(FakeFeed {
                sink,
                seq: AtomicU64::new(0),
                epoch: format!("test-{id}"),
            }),
            backend,
            database_url,
            db_name,
        }
    }

    /// A connection pool straight to this test's database (MariaDB or SQLite, by its URL).
    async fn raw_pool(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(&self.database_url).await.unwrap()
    }

    /// Runs one statement directly on this test's database; the error's text on failure.
    pub async fn sql_exec(&self, sql: &str) -> Result<u64, String> {
        let done = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&self.raw_pool().await)
            .await;
        done.map(|d| d.rows_affected()).map_err(|e| e.to_string())
    }

    /// Rows of text columns from this test's database (cast decimals to text in `sql`).
    pub async fn sql_rows(&self, sql: &str) -> Vec<Vec<String>> {
        use sqlx::Row;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_all(&self.raw_pool().await)
            .await
            .unwrap();
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.get::<Option<String>, _>(i).unwrap_or_default())
                    .collect()
            })
            .collect()
    }

    pub fn app(&self) -> &Application {
        self.app.as_ref().unwrap()
    }

    pub fn status_pump(&self, pairs: &[&str]) -> StatusPump {
        let (stop, mut rx) = tokio::sync::watch::channel(false);
        let feed = self.feed.clone();
        let pairs: Vec<String> = pairs.iter().map(|s| s.to_string()).collect();
        tokio::spawn(async move {
            loop {
                let refs: Vec<&str> = pairs.iter().map(String::as_str).collect();
                feed.status(FeedState::Online, &refs).await;
                tokio::select! {
                    _ = rx.changed() => break,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        });
        StatusPump { stop }
    }

    pub async fn admin_token(&self) -> String {
        self.token(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// A real Socket.IO client connected to this service.
    pub async fn socket(&self, token: Option<&str>) -> Result<SioClient, String> {
        SioClient::connect(&self.base, token).await
    }

    pub async fn finish(mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await;
        }
        match &self.feed.sink {
            Sink::Redis { redis, keys } => {
                testkit::services::delete_bus_keys(redis, keys.prefix()).await;
                testkit::services::drop_database(&self.db_name).await;
            }
            Sink::Memory(_) => {
                let path = sqlite_path(&self.db_name);
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
        }
    }
}

/// This test's SQLite file, in a directory of the system's temporary space.
pub fn sqlite_path(db_name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join("rategate-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{db_name}.db"))
}

/// Asserts an answer is the problem+json `problem` with HTTP `status`.
#[track_caller]
pub fn assert_problem(code: u16, body: &Value, status: u16, problem: &str) {
    assert_eq!(
        (code, body["code"].as_str()),
        (status, Some(problem)),
        "{body}"
    );
}
