//! Shared by the benchmarks: the upstream half of the chain (kraken-mock → exchange-rate-svc →
//! Redis) under a fresh bus prefix, and a fresh database name.

#![allow(dead_code)]

use kraken_mock::{MockConfig, MockKraken};

pub const PAIRS: &[&str] = &[
    "BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD", "ADA/USD", "DOGE/USD", "LTC/USD", "USDT/USD",
    "ALGO/USD", "DOT/USD", "LINK/USD", "AVAX/USD", "ATOM/USD", "XLM/USD", "UNI/USD", "BCH/USD",
    "ETC/USD", "FIL/USD", "AAVE/USD", "NEAR/USD",
];

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn mysql_base() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

pub struct Upstream {
    pub mock: MockKraken,
    pub feed: exchange_rate_svc::Application,
    pub prefix: String,
    pub db: String,
}

/// Mock at `rate` ticks/s over `PAIRS`, and exchange-rate-svc publishing under a new prefix.
pub async fn upstream(rate: u64) -> Upstream {
    common::tls::install_crypto_provider();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("bench:{id}:");
    let db = format!("rg_bench_{}", &id[..12]);
    let mock = MockKraken::start(MockConfig {
        pairs: PAIRS.iter().map(|s| s.to_string()).collect(),
        rate,
        ..MockConfig::default()
    })
    .await
    .expect("mock");
    let mut cfg = exchange_rate_svc::Config::local();
    cfg.redis_url = redis_url();
    cfg.redis_prefix = prefix.clone();
    cfg.http_addr = "127.0.0.1:0".parse().expect("addr");
    cfg.kraken_ws_url = mock.ws_url();
    cfg.kraken_rest_url = mock.rest_url();
    cfg.pairs = common::Pair::parse_list(&PAIRS.join(",")).expect("pairs");
    let feed = exchange_rate_svc::Application::build(cfg)
        .await
        .expect("feed");
    Upstream {
        mock,
        feed,
        prefix,
        db,
    }
}

impl Upstream {
    pub async fn stop(self) {
        self.feed.stop().await;
        self.mock.stop();
        if let Ok(pool) = sqlx::MySqlPool::connect(&mysql_base()).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS `{}`",
                self.db
            )))
            .execute(&pool)
            .await;
        }
    }
}

/// CPU seconds (user + system) a process has used so far (`pid` or `self`).
pub fn cpu_secs(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0)
}

/// Publishes straight on the bus under `prefix`, through the same Redis sink exchange-rate-svc
/// uses: `pairs` each ticking `hz` times a second, spread evenly (`ts` = publish time, so a
/// client's age of a value is publish → receive), a status every second, the metadata up
/// front. Stops when the returned sender is dropped or set.
pub fn publish(prefix: &str, pairs: &[&str], hz: u64) -> tokio::sync::watch::Sender<bool> {
    use common::bus::{Bus, FeedState, PairMeta, PairState, RateMsg, StatusMsg};
    use common::{Decimal, Pair};
    use std::sync::Arc;
    let bus = common::bus::redis::RedisBus::connect(
        &redis_url(),
        prefix,
        std::time::Duration::from_secs(2),
    )
    .expect("redis");
    let pairs: Vec<Pair> = pairs
        .iter()
        .map(|p| Pair::parse(p).expect("pair"))
        .collect();
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let sink = bus.sink();
        let epoch = uuid::Uuid::new_v4().simple().to_string();
        let meta: Vec<PairMeta> = pairs
            .iter()
            .map(|p| {
                PairMeta::new(
                    p.clone(),
                    Decimal::new(1, 2),
                    Decimal::new(1, 8),
                    Decimal::new(1, 4),
                )
            })
            .collect();
        let status = StatusMsg {
            v: 1,
            source: "bench".into(),
            state: FeedState::Online,
            since: chrono::Utc::now(),
            pairs: pairs.iter().map(|p| (p.clone(), PairState::Ok)).collect(),
            epoch: epoch.clone(),
            role: common::bus::FeedRole::Leader,
        };
        while !bus.is_connected() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let _ = sink.write(&[], Some(&meta), Some(&status)).await;
        // Ticks spread evenly, one pair at a time (as an exchange sends them), each pair `hz`
        // times a second.
        let every = 1_000_000 / (hz.max(1) * pairs.len().max(1) as u64);
        let mut tick = tokio::time::interval(std::time::Duration::from_micros(every.max(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut beat = tokio::time::interval(std::time::Duration::from_secs(1));
        let mut seq = 0u64;
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = beat.tick() => { let _ = sink.write(&[], None, Some(&status)).await; }
                _ = tick.tick() => {
                    let pair = &pairs[seq as usize % pairs.len()];
                    seq += 1;
                    let now = chrono::Utc::now();
                    let bid = Decimal::new(6_500_000 + (seq % 1000) as i64, 2);
                    let msg = Arc::new(RateMsg {
                        v: 1,
                        source: "bench".into(),
                        pair: pair.clone(),
                        bid,
                        ask: bid + Decimal::new(1, 2),
                        last: None,
                        ts: now,
                        received_at: now,
                        seq,
                        epoch: epoch.clone(),
                    });
                    let _ = sink.write(&[msg], None, None).await;
                }
            }
        }
        bus.quit().await;
    });
    stop_tx
}

/// The socketioxide floor: the same axum + socketioxide with our buffer settings and no
/// application logic. It subscribes to `{REDIS_PREFIX}rates` and sends each message to every
/// socket with one namespace-wide `emit`, as it came. Runs in its own process (the bench
/// re-executes itself with `BENCH_ROLE=floor`), so it can be pinned like the real server.
pub async fn floor_server() {
    use fred::prelude::*;
    use socketioxide::SocketIo;
    let prefix = std::env::var("REDIS_PREFIX").expect("REDIS_PREFIX");
    let addr = std::env::var("HTTP_ADDR").expect("HTTP_ADDR");
    let (layer, io) = SocketIo::builder()
        .max_buffer_size(64)
        .ws_read_buffer_size(1024)
        .max_payload(16 * 1024)
        .build_layer();
    io.ns("/", async |_: socketioxide::extract::SocketRef| {});
    let config = Config::from_url(&redis_url()).expect("redis url");
    let subscriber = Builder::from_config(config)
        .with_performance_config(|p| p.broadcast_channel_capacity = 1 << 14)
        .build_subscriber_client()
        .expect("subscriber");
    subscriber.init().await.expect("redis");
    let mut messages = subscriber.message_rx();
    subscriber
        .subscribe(format!("{prefix}rates"))
        .await
        .expect("subscribe");
    let window: u64 = std::env::var("FLOOR_WINDOW_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let io2 = io.clone();
    tokio::spawn(async move {
        if window == 0 {
            // Each tick as it came, to every socket: one namespace-wide emit.
            while let Ok(m) = messages.recv().await {
                if let Some(raw) = m.value.as_str().and_then(|t| raw_json(t.to_string())) {
                    let _ = io2.emit("rates:live", &raw).await;
                }
            }
            return;
        }
        // The newest message per pair, sent as one object once per window.
        let mut newest: std::collections::BTreeMap<String, Box<serde_json::value::RawValue>> =
            Default::default();
        let mut every = tokio::time::interval(std::time::Duration::from_millis(window));
        loop {
            tokio::select! {
                m = messages.recv() => {
                    let Ok(m) = m else { break };
                    let Some(text) = m.value.as_str() else { continue };
                    let pair = text
                        .split("\"pair\":\"")
                        .nth(1)
                        .and_then(|r| r.split('"').next())
                        .unwrap_or_default()
                        .replace('/', "_");
                    if let Some(raw) = raw_json(text.to_string()) {
                        newest.insert(pair, raw);
                    }
                }
                _ = every.tick() => {
                    if !newest.is_empty() {
                        let batch = std::mem::take(&mut newest);
                        let _ = io2.emit("rates:live", &batch).await;
                    }
                }
            }
        }
    });
    let app = axum::Router::new()
        .route("/ready", axum::routing::get(|| async { "ok" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}

fn raw_json(text: String) -> Option<Box<serde_json::value::RawValue>> {
    serde_json::value::RawValue::from_string(text).ok()
}
