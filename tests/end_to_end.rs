//! The whole chain, every part real except Kraken: kraken-mock (a real WebSocket) →
//! exchange-rate-svc → the real Redis → user-api-svc (with the real MariaDB) → a real Socket.IO
//! client (npm socket.io-client). The client must receive the spread-adjusted Kraken price,
//! exact to the tick.

use std::time::Duration;

use kraken_mock::{MockConfig, MockKraken};
use serde_json::json;
use testkit::{eventually, SioClient};

const SECRET: &str = "e2e-secret-e2e-secret-e2e-secret-0123456";
const ADMIN: (&str, &str) = ("e2e-admin@rategate.test", "E2e-Admin-Passphrase-42");

#[tokio::test]
async fn kraken_price_reaches_a_socket_spread_adjusted_exact_to_the_tick() {
    common::telemetry::init_for_tests();
    common::tls::install_crypto_provider();
    let redis = testkit::services::redis().await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("e2e:{id}:");
    let db = testkit::services::unique_db_name(&id);

    let mock = MockKraken::start(MockConfig {
        pairs: vec!["BTC/USD".into(), "ETH/USD".into()],
        ..MockConfig::default()
    })
    .await
    .unwrap();

    let mut feed_cfg = exchange_rate_svc::Config::local();
    feed_cfg.redis_url = testkit::services::redis_url();
    feed_cfg.redis_prefix = prefix.clone();
    feed_cfg.http_addr = "127.0.0.1:0".parse().unwrap();
    feed_cfg.kraken_ws_url = mock.ws_url();
    feed_cfg.kraken_rest_url = mock.rest_url();
    feed_cfg.pairs = common::Pair::parse_list("BTC/USD,ETH/USD").unwrap();
    let feed = exchange_rate_svc::Application::build(feed_cfg)
        .await
        .unwrap();

    let mut api_cfg = user_api_svc::Config::local(SECRET);
    api_cfg.redis_url = testkit::services::redis_url();
    api_cfg.redis_prefix = prefix.clone();
    api_cfg.database_url = format!("{}/{db}", testkit::services::mysql_base());
    api_cfg.http_addr = "127.0.0.1:0".parse().unwrap();
    api_cfg.pairs = common::Pair::parse_list("BTC/USD,ETH/USD").unwrap();
    api_cfg.admin_email = Some(ADMIN.0.into());
    api_cfg.admin_password = Some(ADMIN.1.into());
    let api = user_api_svc::Application::build(api_cfg).await.unwrap();
    let base = format!("http://{}", api.addr());
    let http = reqwest::Client::new();

    // The admin sets 25 bps on BTC/USD.
    let login: serde_json::Value = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": ADMIN.0, "password": ADMIN.1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = login["access_token"].as_str().unwrap();
    let r = http
        .put(format!("{base}/api/spreads/BTC_USD"))
        .bearer_auth(admin)
        .json(&json!({"kind": "bps", "buy": "25", "sell": "25", "reason": "e2e"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Wait until the whole chain is live (feed online, status heard by user-api-svc).
    eventually("user-api-svc ready", || async {
        http.get(format!("{base}/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;

    let mut socket = SioClient::connect(&base, None).await.unwrap();
    // Kraken's engine sends these exact numbers.
    mock.push_ticker("BTC/USD", "97000.1", "97000.2");
    let rate = socket
        .rate("BTC_USD", |r| r["original"]["sell"] == "97000.1")
        .await;
    // 97000.2 × 1.0025 = 97242.7005 → up to the 0.1 tick: 97242.8
    // 97000.1 × 0.9975 = 96757.59975 → down to the tick: 96757.5
    assert_eq!(
        rate["original"],
        json!({"buy": "97000.2", "sell": "97000.1"})
    );
    assert_eq!(
        rate["withSpread"],
        json!({"buy": "97242.8", "sell": "96757.5"})
    );
    assert_eq!(
        rate["currentSpread"],
        json!({"buy": "242.6", "sell": "242.6"})
    );
    assert_eq!(rate["stale"], false);
    assert_eq!(rate["source"], "kraken");

    // The same price over HTTP.
    let one: serde_json::Value = http
        .get(format!("{base}/api/rates/BTC-USD"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["withSpread"], rate["withSpread"]);

    // Kraken goes into maintenance: the client sees the rate turn stale.
    mock.set_system("maintenance");
    socket.rate("BTC_USD", |r| r["stale"] == true).await;

    socket.close().await;
    api.stop().await;
    feed.stop().await;
    mock.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    testkit::services::delete_bus_keys(&redis, &prefix).await;
    testkit::services::drop_database(&db).await;
}
