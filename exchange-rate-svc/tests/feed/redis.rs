//! mock Kraken → exchange-rate-svc → the real Redis: rates, status, metadata and every fault
//! the feed must survive. Each test has its own mock, its own service and its own key prefix.

use std::time::Duration;

use crate::support::{comes_back_after_a_dropped_connection, eventually, recv_until, TestEnv};
use common::bus::{FeedState, PairState};
use fred::prelude::*;
use kraken_mock::Silence;

#[tokio::test]
async fn exact_decimals_reach_subscribers_and_the_last_value_hash() {
    let env = TestEnv::start(&["BTC/USD", "ETH/USD"], |_| {}).await;
    let mut rates = env.subscribe_rates().await;
    env.wait_online().await;

    env.mock.push_ticker("BTC/USD", "97000.1", "97000.2");
    let msg = recv_until(&mut rates, "BTC tick", |m| m.bid.to_string() == "97000.1").await;
    assert_eq!(msg.pair.as_str(), "BTC/USD");
    assert_eq!(msg.ask.to_string(), "97000.2");
    assert_eq!(msg.source, "kraken");
    assert_eq!(msg.v, 1);

    // Trailing zeros are the exchange's precision and survive the whole way.
    env.mock
        .push_ticker("ETH/USD", "3450.10000000", "3450.20000000");
    let eth = recv_until(&mut rates, "ETH tick", |m| {
        m.pair.as_str() == "ETH/USD" && m.bid.to_string() == "3450.10000000"
    })
    .await;
    assert!(eth.seq > msg.seq, "seq increases");
    assert_eq!(eth.epoch, msg.epoch, "one publisher run, one epoch");

    // The hash holds the newest value per pair (written before the publish). Compared by
    // value: a reconnect under load would re-send the same prices with a new seq.
    let btc_last = env.hget_rate("BTC/USD").await.unwrap();
    assert_eq!((btc_last.bid, btc_last.ask), (msg.bid, msg.ask));
    let eth_last = env.hget_rate("ETH/USD").await.unwrap();
    assert_eq!(eth_last.bid.to_string(), "3450.10000000");

    // The raw JSON on the bus carries decimals as strings.
    let raw: String = env
        .redis
        .hget(env.keys.rates_last(), "ETH/USD")
        .await
        .unwrap();
    assert!(raw.contains(r#""bid":"3450.10000000""#), "{raw}");

    // Pair metadata from the (mock) AssetPairs, mapped from XBT/USD to BTC/USD.
    let meta: String = env.redis.hget(env.keys.pairs(), "BTC/USD").await.unwrap();
    let meta: common::bus::PairMeta = serde_json::from_str(&meta).unwrap();
    assert_eq!(meta.price_tick.to_string(), "0.1");
    assert_eq!(meta.amount_step.to_string(), "0.00000001");
    env.finish().await;
}

#[tokio::test]
async fn status_is_published_every_second_and_kept_with_a_ttl() {
    let env = TestEnv::start(&["BTC/USD", "ETH/USD"], |_| {}).await;
    let mut status = env.subscribe_status().await;
    env.wait_online().await;
    let first = recv_until(&mut status, "online status", |s| {
        s.state == FeedState::Online
    })
    .await;
    let started = tokio::time::Instant::now();
    let _second = recv_until(&mut status, "second status", |_| true).await;
    assert!(started.elapsed() < Duration::from_millis(2_500));
    assert_eq!(first.pairs.len(), 2);
    let ttl: i64 = env.redis.ttl(env.keys.status()).await.unwrap();
    assert!((1..=5).contains(&ttl), "status key TTL {ttl}");
    env.finish().await;
}

#[tokio::test]
async fn dropped_connection_reconnects_resubscribes_and_rates_flow_again() {
    let env = TestEnv::start(&["BTC/USD", "ETH/USD"], |_| {}).await;
    let mut rates = env.subscribe_rates().await;
    env.wait_online().await;
    assert_eq!(env.mock.stats().subscribes, 1);

    comes_back_after_a_dropped_connection(&env.mock, || env.wait_online(), &mut rates).await;
    let (_, status) = env.get_json("/status").await;
    assert!(status["disconnects"].as_u64().unwrap() >= 1);
    env.finish().await;
}

#[tokio::test]
async fn a_silent_exchange_is_abandoned_after_the_liveness_deadline() {
    let env = TestEnv::start(&["BTC/USD", "ETH/USD"], |c| {
        c.liveness = Duration::from_millis(600);
    })
    .await;
    let mut rates = env.subscribe_rates().await;
    env.wait_online().await;
    env.mock.set_silent(true);
    eventually("reconnect after silence", || async {
        env.mock.stats().connections >= 2
    })
    .await;
    let (_, status) = env.get_json("/status").await;
    assert!(
        status["last_disconnect"]
            .as_str()
            .unwrap_or("")
            .contains("no frame"),
        "{status}"
    );
    env.mock.set_silent(false);
    env.wait_online().await;
    env.mock.push_ticker("ETH/USD", "3000.01", "3000.02");
    recv_until(&mut rates, "tick after silence", |m| {
        m.bid.to_string() == "3000.01"
    })
    .await;
    env.finish().await;
}

#[tokio::test]
async fn a_dead_subscription_is_abandoned_even_while_pings_are_answered() {
    // The silent stall: the socket is fine (pings get pongs), the subscription is dead (no
    // ticks, no heartbeats). Pongs must not keep the session alive.
    let env = TestEnv::start(&["BTC/USD", "ETH/USD"], |c| {
        c.liveness = Duration::from_millis(600);
    })
    .await;
    env.wait_online().await;
    let connections = env.mock.stats().connections;
    let pings = env.mock.stats().pings;
    env.mock.set_silence(Silence::AnswerPings);
    eventually("reconnect although pongs keep coming", || async {
        env.mock.stats().connections > connections
    })
    .await;
    assert!(
        env.mock.stats().pings > pings,
        "the client pinged during the stall and the mock answered: {:?}",
        env.mock.stats()
    );
    let (_, status) = env.get_json("/status").await;
    assert!(
        status["last_disconnect"]
            .as_str()
            .unwrap_or("")
            .contains("no frame from the subscription"),
        "{status}"
    );
    // The session was given up (before the mock saw the new connection), so the feed is no
    // longer quotable; the silenced mock sends no status on the new connection either.
    assert_ne!(status["state"], "online", "{status}");
    env.mock.set_silence(Silence::Off);
    env.wait_online().await;
    env.finish().await;
}

#[tokio::test]
async fn maintenance_shows_in_status_on_http_and_on_the_bus() {
    let env = TestEnv::start(&["BTC/USD", "ETH/USD"], |_| {}).await;
    let mut status = env.subscribe_status().await;
    env.wait_online().await;
    env.mock.set_system("maintenance");
    recv_until(&mut status, "maintenance on the bus", |s| {
        s.state == FeedState::Maintenance
    })
    .await;
    let (_, s) = env.get_json("/status").await;
    assert_eq!(s["state"], "maintenance");
    let (code, ready) = env.get_json("/ready").await;
    assert_eq!(code, 503, "not ready in maintenance: {ready}");
    let key: String = env.redis.get(env.keys.status()).await.unwrap();
    assert!(key.contains(r#""state":"maintenance""#), "{key}");

    env.mock.set_system("online");
    recv_until(&mut status, "online again", |s| {
        s.state == FeedState::Online
    })
    .await;
    env.finish().await;
}

#[tokio::test]
async fn an_unknown_pair_is_rejected_while_the_others_flow() {
    let env = TestEnv::start(&["BTC/USD", "ETH/USD"], |c| {
        c.pairs = common::Pair::parse_list("BTC/USD,NOPE/USD").unwrap();
    })
    .await;
    let mut rates = env.subscribe_rates().await;
    env.wait_online().await;
    eventually("NOPE/USD rejected", || async {
        let (_, s) = env.get_json("/status").await;
        s["pairs"]["NOPE/USD"] == "rejected"
    })
    .await;
    let (_, s) = env.get_json("/status").await;
    assert_eq!(
        s["rejections"]["NOPE/USD"],
        "Currency pair not supported NOPE/USD"
    );
    env.mock.push_ticker("BTC/USD", "1.5", "1.6");
    recv_until(&mut rates, "BTC still flows", |m| {
        m.bid.to_string() == "1.5"
    })
    .await;
    let (_, s) = env.get_json("/status").await;
    assert_eq!(s["pairs"]["BTC/USD"], "ok");
    let status = env.app().feed().status();
    assert_eq!(
        status.pairs[&common::Pair::parse("NOPE/USD").unwrap()],
        PairState::Rejected
    );
    env.finish().await;
}

#[tokio::test]
async fn crossed_and_non_positive_ticks_never_reach_redis() {
    let env = TestEnv::start(&["BTC/USD", "ETH/USD"], |_| {}).await;
    let mut rates = env.subscribe_rates().await;
    env.wait_online().await;
    env.mock.push_ticker("BTC/USD", "100.2", "100.1"); // crossed
    env.mock.push_ticker("BTC/USD", "100.1", "100.1"); // locked
    env.mock.push_ticker("BTC/USD", "0", "100.1"); // zero bid
    env.mock.push_ticker("BTC/USD", "100.0", "100.1"); // fine
    let good = recv_until(&mut rates, "the valid tick", |m| {
        assert!(
            m.bid < m.ask && m.bid > common::Decimal::ZERO,
            "bad tick on the bus: {m:?}"
        );
        m.bid.to_string() == "100.0"
    })
    .await;
    assert_eq!(env.hget_rate("BTC/USD").await.unwrap(), good);
    let (_, s) = env.get_json("/status").await;
    assert_eq!(s["ticks_dropped"], 3);
    env.finish().await;
}

#[tokio::test]
async fn garbage_frames_are_survived_without_a_reconnect() {
    let env = TestEnv::start(&["BTC/USD", "ETH/USD"], |_| {}).await;
    let mut rates = env.subscribe_rates().await;
    env.wait_online().await;
    env.mock.send_garbage();
    env.mock.push_raw(
        r#"{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":"NaN","ask":1}]}"#,
    );
    env.mock.push_ticker("BTC/USD", "42.1", "42.2");
    recv_until(&mut rates, "tick after garbage", |m| {
        m.bid.to_string() == "42.1"
    })
    .await;
    assert_eq!(
        env.mock.stats().connections,
        1,
        "garbage must not cost a reconnect"
    );
    env.finish().await;
}

#[tokio::test]
async fn killed_redis_connection_resumes_publishing_with_a_current_hash() {
    let env = TestEnv::start(&["BTC/USD", "ETH/USD"], |_| {}).await;
    let mut rates = env.subscribe_rates().await;
    env.wait_online().await;
    env.mock.push_ticker("BTC/USD", "10.1", "10.2");
    recv_until(&mut rates, "first tick", |m| m.bid.to_string() == "10.1").await;

    let name = env.app().redis_client_name();
    let list: String = env
        .redis
        .client_list::<String, String>(None, None)
        .await
        .unwrap();
    let ids: Vec<String> = list
        .lines()
        .filter(|l| l.contains(&format!(" name={name} ")))
        .filter_map(|l| {
            l.split(' ')
                .find_map(|f| f.strip_prefix("id="))
                .map(str::to_string)
        })
        .collect();
    assert!(
        !ids.is_empty(),
        "our connection is in CLIENT LIST as {name}"
    );
    for id in ids {
        let _: Value = env
            .redis
            .client_kill(vec![fred::types::client::ClientKillFilter::ID(id)])
            .await
            .unwrap();
    }
    // Ticks during and after the outage: the newest must end up on the bus and in the hash.
    env.mock.push_ticker("BTC/USD", "11.1", "11.2");
    tokio::time::sleep(Duration::from_millis(100)).await;
    env.mock.push_ticker("BTC/USD", "12.1", "12.2");
    recv_until(&mut rates, "publishing resumed", |m| {
        m.bid.to_string() == "12.1"
    })
    .await;
    eventually("hash is current", || async {
        env.hget_rate("BTC/USD")
            .await
            .is_some_and(|m| m.bid.to_string() == "12.1")
    })
    .await;
    env.finish().await;
}

#[tokio::test]
async fn http_serves_rates_by_any_pair_spelling_and_problem_json_errors() {
    let env = TestEnv::start(&["BTC/USD", "ETH/USD"], |_| {}).await;
    env.wait_online().await;
    env.mock.push_ticker("BTC/USD", "97000.1", "97000.2");
    eventually("rate visible over HTTP", || async {
        env.get_json("/rates/BTC_USD").await.1["bid"] == "97000.1"
    })
    .await;
    for spelling in ["BTC-USD", "btc_usd", "BTC%2FUSD"] {
        let (code, body) = env.get_json(&format!("/rates/{spelling}")).await;
        assert_eq!(code, 200, "{spelling}");
        assert_eq!(body["pair"], "BTC/USD");
        assert!(body["age_ms"].as_i64().unwrap() >= 0);
    }
    let (code, all) = env.get_json("/rates").await;
    assert_eq!(code, 200);
    assert_eq!(all["rates"]["BTC_USD"]["ask"], "97000.2");

    let r = env
        .http
        .get(format!("{}/rates/DOGE_USD", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "unknown_pair");
    let (code, body) = env.get_json("/rates/not-a-pair-at-all").await;
    assert_eq!((code, body["code"].as_str()), (400, Some("invalid_pair")));

    assert_eq!(env.get_json("/health").await.0, 200);
    let (code, spec) = env.get_json("/openapi.json").await;
    assert_eq!(code, 200);
    assert!(spec["paths"]["/rates/{pair}"]["get"].is_object(), "{spec}");
    let docs = env
        .http
        .get(format!("{}/docs", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), 200);
    eventually("ready", || async { env.get_json("/ready").await.0 == 200 }).await;
    // Ticks that went out in the takeover's resync are not counted as published ticks; the
    // next one is.
    env.mock.push_ticker("BTC/USD", "65001.5", "65001.6");
    let url = format!("{}/metrics", env.base);
    eventually("a published tick is counted", || async {
        testkit::http::text(&env.http, &url)
            .await
            .contains("rategate_ticks_published_total")
    })
    .await;
    env.finish().await;
}

#[tokio::test]
async fn crosscheck_compares_live_rates_with_the_rest_ticker() {
    let env = TestEnv::start(&["BTC/USD", "ETH/USD"], |_| {}).await;
    env.wait_online().await;
    env.mock.push_ticker("BTC/USD", "50000.0", "50000.2");
    eventually("rate arrives", || async {
        env.get_json("/rates/BTC_USD").await.1["bid"] == "50000.0"
    })
    .await;
    assert!(env.app().crosscheck_now().await);
    let (_, s) = env.get_json("/status").await;
    assert_eq!(s["crosscheck"]["BTC/USD"]["divergence_bps"], "0");
    assert_eq!(s["crosscheck"]["BTC/USD"]["within_limit"], true);
    env.finish().await;
}

#[tokio::test]
async fn sim_feed_is_labelled_and_needs_no_exchange() {
    let env = TestEnv::start(&["BTC/USD"], |c| {
        c.feed = exchange_rate_svc::FeedKind::Sim;
        c.kraken_ws_url = "ws://127.0.0.1:9/unused".into();
        c.sim_interval = Duration::from_millis(20);
    })
    .await;
    let mut rates = env.subscribe_rates().await;
    let m = recv_until(&mut rates, "sim tick", |_| true).await;
    assert_eq!(m.source, "sim");
    assert!(m.bid < m.ask);
    assert_eq!(
        env.mock.stats().connections,
        0,
        "sim never touches the exchange"
    );
    env.finish().await;
}

#[tokio::test]
async fn reconnects_are_spaced_out_while_the_exchange_is_in_maintenance() {
    let env = TestEnv::start(&["BTC/USD", "ETH/USD"], |c| {
        c.maintenance_delay = Duration::from_millis(1_000);
    })
    .await;
    env.wait_online().await;
    // Online: a dropped connection comes back within the normal backoff (≤ 400 ms here).
    env.mock.drop_connections();
    let t0 = tokio::time::Instant::now();
    eventually("quick reconnect while online", || async {
        env.mock.stats().connections >= 2
    })
    .await;
    assert!(
        t0.elapsed() < Duration::from_millis(900),
        "online reconnect took {:?}",
        t0.elapsed()
    );
    env.wait_online().await;

    // Maintenance: the next reconnect waits at least the maintenance delay.
    env.mock.set_system("maintenance");
    eventually("maintenance seen", || async {
        env.get_json("/status").await.1["state"] == "maintenance"
    })
    .await;
    env.mock.drop_connections();
    let t1 = tokio::time::Instant::now();
    eventually("reconnect during maintenance", || async {
        env.mock.stats().connections >= 3
    })
    .await;
    assert!(
        t1.elapsed() >= Duration::from_millis(1_000),
        "reconnected after {:?} while Kraken reported maintenance",
        t1.elapsed()
    );
    env.finish().await;
}

#[tokio::test]
async fn http_errors_are_problem_json_behind_the_same_listener_limits() {
    let env = TestEnv::start(&["BTC/USD"], |c| {
        c.serve.header_read_timeout = Duration::from_millis(500);
    })
    .await;
    for (method, path, status) in [
        (reqwest::Method::DELETE, "/rates", 405),
        (reqwest::Method::GET, "/rates/%zz", 400),
        (reqwest::Method::GET, "/nothing", 404),
    ] {
        let r = env
            .http
            .request(method, format!("{}{path}", env.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["status"], status);
    }
    // A connection that never sends its request is closed by the header timeout.
    let mut idle = tokio::net::TcpStream::connect(env.app().addr())
        .await
        .unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut idle, &mut buf),
    )
    .await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "closed: {read:?}");
    env.finish().await;
}

/// The BTC/USD entry of `/status`'s `venues.kraken.pairs`, and the venue's failure count.
async fn kraken_book(env: &TestEnv) -> (serde_json::Value, u64) {
    let (_, status) = env.get_json("/status").await;
    let kraken = &status["venues"]["kraken"];
    (
        kraken["pairs"]["BTC/USD"].clone(),
        kraken["checksum_failures"].as_u64().unwrap_or(0),
    )
}

#[tokio::test]
async fn books_are_checksummed_a_bad_checksum_resubscribes_and_three_in_a_row_mark_the_pair_down() {
    let env = TestEnv::start(&["BTC/USD", "ETH/USD"], |c| {
        c.venue_stale = Duration::from_secs(30);
        c.book_resubscribe_backoff = Duration::from_millis(1500);
    })
    .await;
    env.wait_online().await;
    // Forty book updates, every one verified against the mock's checksum.
    for i in 0..40 {
        let bid = format!("97000.{}", i % 9);
        let ask = format!("97001.{}", i % 9);
        env.mock.push_ticker("BTC/USD", &bid, &ask);
    }
    eventually("the last update in the book, verified", || async {
        let (pair, failures) = kraken_book(&env).await;
        failures == 0 && pair["state"] == "fresh" && pair["bid"] == "97000.3"
    })
    .await;
    assert_eq!(env.mock.stats().book_subscribes, 1);
    let (pair, _) = kraken_book(&env).await;
    assert_eq!(pair["ask"], "97001.3");
    // The status on the bus carries the same venue health.
    let mut status = env.subscribe_status().await;
    let on_bus = recv_until(&mut status, "a status with the kraken book", |s| {
        s.venues
            .get(&common::book::Venue::Kraken)
            .and_then(|v| v.pairs.get(&common::Pair::parse("BTC/USD").unwrap()))
            .is_some_and(|p| p.state == common::bus::BookState::Fresh)
    })
    .await;
    let btc = &on_bus.venues[&common::book::Venue::Kraken].pairs
        [&common::Pair::parse("BTC/USD").unwrap()];
    assert_eq!(btc.bid.map(|b| b.to_string()).as_deref(), Some("97000.3"));

    // One wrong checksum: that symbol is unsubscribed and subscribed again, and its new
    // snapshot makes it fresh.
    env.mock.corrupt_checksums(1);
    env.mock.push_ticker("BTC/USD", "97002.0", "97002.5");
    eventually("a resubscribe after the mismatch", || async {
        env.mock.stats().book_subscribes == 2
    })
    .await;
    eventually("fresh again from the new snapshot", || async {
        let (pair, failures) = kraken_book(&env).await;
        failures == 1 && pair["state"] == "fresh" && pair["bid"] == "97002.0"
    })
    .await;

    // Two more failures (three with no verified update between): the pair is down on this
    // venue, and its resubscribes slow to one per BOOK_RESUBSCRIBE_BACKOFF_MS.
    env.mock.corrupt_checksums(u64::MAX);
    for i in 0..2 {
        let before = env.mock.stats().book_subscribes;
        env.mock.push_ticker(
            "BTC/USD",
            &format!("9700{}.0", 3 + i),
            &format!("9700{}.5", 3 + i),
        );
        eventually("the next resubscribe", || async {
            env.mock.stats().book_subscribes > before
        })
        .await;
    }
    eventually(
        "down after three failures with no good update between",
        || async {
            let (pair, failures) = kraken_book(&env).await;
            failures == 3 && pair["state"] == "down"
        },
    )
    .await;
    // The snapshot after that resubscribe verified, but a snapshot does not end the streak:
    // the next update fails again and its resubscribe waits for the backoff.
    let before = env.mock.stats().book_subscribes;
    env.mock.push_ticker("BTC/USD", "97006.0", "97006.5");
    eventually("the fourth failure", || async {
        kraken_book(&env).await.1 == 4
    })
    .await;
    assert_eq!(
        env.mock.stats().book_subscribes,
        before,
        "no resubscribe before the backoff"
    );
    // The venue heals: after the backoff the resubscribe comes, and a verified update brings
    // the pair back.
    env.mock.corrupt_checksums(0);
    eventually("the delayed resubscribe", || async {
        env.mock.stats().book_subscribes > before
    })
    .await;
    eventually("fresh after a verified update", || async {
        env.mock.push_ticker("BTC/USD", "97009.0", "97009.5");
        let (pair, _) = kraken_book(&env).await;
        pair["state"] == "fresh" && pair["bid"] == "97009.0"
    })
    .await;
    let (_, status) = env.get_json("/status").await;
    // ETH/USD's book never failed.
    assert_eq!(
        status["venues"]["kraken"]["pairs"]["ETH/USD"]["state"],
        "fresh"
    );
    env.finish().await;
}
