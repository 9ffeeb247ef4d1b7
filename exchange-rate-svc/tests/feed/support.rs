//! Test support: a mock Kraken, a real Redis with a private key prefix, and the service under
//! test bound to port 0. Redis must be running (REDIS_URL or redis://127.0.0.1:6379): if it is
//! not, every test fails loudly; nothing is skipped.

use std::time::Duration;

use common::bus::{BusKeys, RateMsg, StatusMsg};
use exchange_rate_svc::{Application, Config};
use fred::prelude::*;
use kraken_mock::{MockConfig, MockKraken};
use tokio::sync::mpsc;

pub use testkit::services::{redis, redis_url};
pub use testkit::{eventually, recv_until};

pub struct TestEnv {
    pub mock: MockKraken,
    pub app: Option<Application>,
    pub keys: BusKeys,
    pub redis: Client,
    pub http: reqwest::Client,
    pub base: String,
}

/// Fast timings so fault tests take seconds, not minutes.
pub fn test_config(mock: &MockKraken, prefix: &str) -> Config {
    let mut c = Config::local();
    c.redis_url = redis_url();
    c.redis_prefix = prefix.to_string();
    c.http_addr = "127.0.0.1:0".parse().unwrap();
    c.kraken_ws_url = mock.ws_url();
    c.kraken_rest_url = mock.rest_url();
    c.pairs = common::Pair::parse_list("BTC/USD,ETH/USD").unwrap();
    // These tests drive the rate through Kraken's ticker; the venues' books have their own
    // (tests/feed/venues.rs).
    c.rates_from = exchange_rate_svc::config::RatesFrom::Ticker;
    // The mock heartbeats every second; 3 s leaves room for a loaded CI machine. Tests of the
    // deadline itself set a shorter one.
    c.liveness = Duration::from_millis(3_000);
    c.ack_timeout = Duration::from_secs(3);
    c.backoff_min = Duration::from_millis(50);
    c.backoff_max = Duration::from_millis(400);
    c.maintenance_delay = Duration::from_millis(300);
    c
}

/// The scenario both buses run: every connection to the exchange drops; the feed connects and
/// subscribes again, comes back online (`online` waits for that), and the next tick reaches
/// `rates`.
pub async fn comes_back_after_a_dropped_connection<F: std::future::Future<Output = ()>>(
    mock: &MockKraken,
    online: impl Fn() -> F,
    rates: &mut mpsc::UnboundedReceiver<RateMsg>,
) {
    mock.drop_connections();
    eventually("a second connection and subscribe", || async {
        let s = mock.stats();
        s.connections >= 2 && s.subscribes >= 2
    })
    .await;
    online().await;
    mock.push_ticker("BTC/USD", "65000.5", "65000.6");
    recv_until(rates, "tick after reconnect", |m| {
        m.bid.to_string() == "65000.5"
    })
    .await;
}

impl TestEnv {
    /// Starts a mock with `pairs` and the service with `tweak` applied to its config.
    pub async fn start(pairs: &[&str], tweak: impl FnOnce(&mut Config)) -> TestEnv {
        common::telemetry::init_for_tests();
        let redis = redis().await;
        let mock = MockKraken::start(MockConfig {
            pairs: pairs.iter().map(|s| s.to_string()).collect(),
            ..MockConfig::default()
        })
        .await
        .expect("mock kraken");
        let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
        let mut config = test_config(&mock, &prefix);
        tweak(&mut config);
        let app = Application::build(config).await.expect("app starts");
        let base = format!("http://{}", app.addr());
        TestEnv {
            mock,
            app: Some(app),
            keys: BusKeys::new(prefix),
            redis,
            http: reqwest::Client::new(),
            base,
        }
    }

    pub fn app(&self) -> &Application {
        self.app.as_ref().expect("app running")
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("http");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Subscribes to `{prefix}rates`; returns parsed messages.
    pub async fn subscribe_rates(&self) -> mpsc::UnboundedReceiver<RateMsg> {
        subscribe(&self.keys.rates()).await
    }

    pub async fn subscribe_status(&self) -> mpsc::UnboundedReceiver<StatusMsg> {
        subscribe(&self.keys.status()).await
    }

    pub async fn hget_rate(&self, pair: &str) -> Option<RateMsg> {
        let raw: Option<String> = self.redis.hget(self.keys.rates_last(), pair).await.unwrap();
        raw.map(|r| serde_json::from_str(&r).expect("rates:last holds bus messages"))
    }

    /// Waits until the feed is online with every listed pair acked.
    pub async fn wait_online(&self) {
        eventually("feed online", || async {
            let (_, s) = self.get_json("/status").await;
            s["state"] == "online"
        })
        .await;
    }

    /// Stops the service and removes this test's keys.
    pub async fn finish(mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await;
        }
        self.mock.stop();
        testkit::services::delete_bus_keys(&self.redis, self.keys.prefix()).await;
    }
}

pub async fn subscribe<T: serde::de::DeserializeOwned + Send + 'static>(
    channel: &str,
) -> mpsc::UnboundedReceiver<T> {
    let sub = Builder::from_config(fred::prelude::Config::from_url(&redis_url()).unwrap())
        .build_subscriber_client()
        .unwrap();
    sub.init()
        .await
        .expect("Redis must be running for the tests");
    let mut messages = sub.message_rx();
    sub.subscribe(channel).await.unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let _keep = sub;
        loop {
            let m = match messages.recv().await {
                Ok(m) => m,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    panic!("test subscriber lagged by {n} messages")
                }
                Err(_) => break,
            };
            let text: String = m.value.convert().unwrap();
            let parsed: T = serde_json::from_str(&text).expect("bus message parses");
            if tx.send(parsed).is_err() {
                break;
            }
        }
    });
    rx
}
