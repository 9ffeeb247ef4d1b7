//! mock Kraken → exchange-rate-svc → the in-process bus of the all-in-one binary: the same
//! contract as on Redis (exact decimals, last value written before the tick is heard, status
//! at least once a second, pair metadata, recovery after a dropped connection).

use std::time::Duration;

use crate::support::{comes_back_after_a_dropped_connection, eventually, recv_until};
use common::bus::memory::{BusEvent, MemoryBus};
use common::bus::{FeedState, RateMsg, StatusMsg};
use exchange_rate_svc::Application;
use kraken_mock::{MockConfig, MockKraken};
use tokio::sync::mpsc;

struct MemEnv {
    mock: MockKraken,
    app: Option<Application>,
    bus: MemoryBus,
    base: String,
}

impl MemEnv {
    async fn start() -> MemEnv {
        common::telemetry::init_for_tests();
        let mock = MockKraken::start(MockConfig {
            pairs: vec!["BTC/USD".into(), "ETH/USD".into()],
            ..MockConfig::default()
        })
        .await
        .expect("mock kraken");
        let bus = MemoryBus::default();
        let mut config = crate::support::test_config(&mock, "unused:");
        config.redis_url = "redis://unused.invalid:1".into();
        let app = Application::build_with_bus(config, std::sync::Arc::new(bus.clone()))
            .await
            .expect("app starts");
        let base = format!("http://{}", app.addr());
        MemEnv {
            mock,
            app: Some(app),
            bus,
            base,
        }
    }

    /// Rates and statuses as two streams, the way a consumer hears them.
    fn subscribe(
        &self,
    ) -> (
        mpsc::UnboundedReceiver<RateMsg>,
        mpsc::UnboundedReceiver<StatusMsg>,
    ) {
        let mut events = self.bus.subscribe();
        let (rates_tx, rates) = mpsc::unbounded_channel();
        let (status_tx, status) = mpsc::unbounded_channel();
        let bus = self.bus.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(BusEvent::Rate(r)) => {
                        // The last value is never older than what was just heard.
                        let last = bus
                            .last_values()
                            .into_iter()
                            .find(|m| m.pair == r.pair)
                            .expect("last value written before the tick");
                        assert!(last.seq >= r.seq, "last value older than the tick heard");
                        let _ = rates_tx.send(RateMsg::clone(&r));
                    }
                    Ok(BusEvent::Status(s)) => {
                        let _ = status_tx.send(StatusMsg::clone(&s));
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        panic!("test subscriber lagged by {n}")
                    }
                    Err(_) => break,
                }
            }
        });
        (rates, status)
    }

    async fn get_json(&self, path: &str) -> serde_json::Value {
        reqwest::get(format!("{}{path}", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn wait_online(&self) {
        eventually("feed online", || async {
            self.get_json("/status").await["state"] == "online"
        })
        .await;
    }

    async fn finish(mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await;
        }
        self.mock.stop();
    }
}

#[tokio::test]
async fn exact_decimals_status_and_metadata_reach_the_in_process_bus() {
    let env = MemEnv::start().await;
    let (mut rates, mut status) = env.subscribe();
    env.wait_online().await;

    env.mock
        .push_ticker("ETH/USD", "3450.10000000", "3450.20000000");
    let eth = recv_until(&mut rates, "ETH tick", |m| {
        m.bid.to_string() == "3450.10000000"
    })
    .await;
    assert_eq!(eth.ask.to_string(), "3450.20000000");
    assert_eq!((eth.v, eth.source.as_str()), (1, "kraken"));
    let last = env.bus.last_values();
    let eth_last = last.iter().find(|m| m.pair.as_str() == "ETH/USD").unwrap();
    assert_eq!(eth_last.bid, eth.bid);

    // Status: online, every pair listed, at least once a second, readable without a
    // subscription (the status key).
    let first = recv_until(&mut status, "online status", |s| {
        s.state == FeedState::Online
    })
    .await;
    assert_eq!(first.pairs.len(), 2);
    let started = tokio::time::Instant::now();
    recv_until(&mut status, "next status", |_| true).await;
    assert!(started.elapsed() < Duration::from_millis(2_500));
    assert_eq!(env.bus.status().unwrap().state, FeedState::Online);

    // Metadata from the (mock) AssetPairs, XBT/USD mapped to BTC/USD.
    let btc = env
        .bus
        .pairs()
        .into_iter()
        .find(|m| m.pair.as_str() == "BTC/USD")
        .expect("BTC/USD metadata");
    assert_eq!(btc.price_tick.to_string(), "0.1");

    let ready = env.get_json("/ready").await;
    assert_eq!(ready["bus"], "in-process", "{ready}");
    assert_eq!(ready["ready"], true, "{ready}");
    env.finish().await;
}

#[tokio::test]
async fn crossed_ticks_never_reach_the_bus_and_a_dropped_feed_comes_back() {
    let env = MemEnv::start().await;
    let (mut rates, _status) = env.subscribe();
    env.wait_online().await;
    env.mock.push_ticker("BTC/USD", "100.2", "100.1"); // crossed
    env.mock.push_ticker("BTC/USD", "0", "100.1"); // zero bid
    env.mock.push_ticker("BTC/USD", "100.0", "100.1");
    recv_until(&mut rates, "the valid tick", |m| {
        assert!(m.bid < m.ask && m.bid > common::Decimal::ZERO, "{m:?}");
        m.bid.to_string() == "100.0"
    })
    .await;

    comes_back_after_a_dropped_connection(&env.mock, || env.wait_online(), &mut rates).await;
    env.finish().await;
}
