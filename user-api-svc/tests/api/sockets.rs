//! Socket.IO with a real client (npm socket.io-client under Node) against the real Redis and
//! MariaDB: snapshot on connect, priced ticks, spread changes pushed at once, subscriptions,
//! staleness, handshake auth and private rooms.

use std::time::Duration;

use crate::support::{Backend, TestApi};
use serde_json::json;

async fn ready(api: &TestApi) -> crate::support::StatusPump {
    let pump = api.status_pump(&["BTC/USD", "ETH/USD"]);
    api.feed.meta("BTC/USD", "0.1").await;
    api.feed.meta("ETH/USD", "0.01").await;
    pump
}

async fn a_new_socket_gets_a_full_snapshot_at_once(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let _pump = ready(&api).await;
    api.feed.rate("BTC/USD", "97000.1", "97000.2").await;
    api.feed.rate("ETH/USD", "3000.00", "3000.10").await;
    // wait until the service has both
    for _ in 0..100 {
        if api.get("/api/rates", None).await.1["rates"]
            .as_object()
            .is_some_and(|m| m.len() == 2)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut s = api.socket(None).await.unwrap();
    let first = s.next(|v| v["type"] == "event").await;
    assert_eq!(first["event"], "rates:live");
    let data = &first["data"];
    assert_eq!(
        data["BTC_USD"]["original"],
        json!({"buy": "97000.2", "sell": "97000.1"})
    );
    assert_eq!(data["ETH_USD"]["pair"], "ETH/USD");
    assert_eq!(data["BTC_USD"]["source"], "kraken");
    s.close().await;
    api.finish().await;
}

async fn a_raw_rate_on_redis_arrives_spread_adjusted_and_spread_changes_arrive_at_once(
    backend: Backend,
) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let _pump = ready(&api).await;
    let admin = api.admin_token().await;
    api.set_spread(
        &admin,
        "BTC_USD",
        json!({"kind": "absolute", "buy": "10", "sell": "5"}),
    )
    .await;
    let mut s = api.socket(None).await.unwrap();

    api.feed.rate("BTC/USD", "65000.1", "65000.2").await;
    let r = s
        .rate("BTC_USD", |r| r["original"]["sell"] == "65000.1")
        .await;
    assert_eq!(
        r["withSpread"],
        json!({"buy": "65010.2", "sell": "64995.1"})
    );
    assert_eq!(
        r["currentSpread"],
        json!({"buy": "10.0", "sell": "5.0"}),
        "at the 0.1 tick"
    );

    // No new tick: the admin's change alone must reach the client.
    api.set_bps_spread(&admin, "BTC_USD", "100").await;
    let r = s
        .rate("BTC_USD", |r| r["currentSpread"]["buy"] != "10.0")
        .await;
    // 65000.2 × 1.01 = 65650.202 → up to 65650.3; 65000.1 × 0.99 = 64350.099 → down to 64350.0
    assert_eq!(
        r["withSpread"],
        json!({"buy": "65650.3", "sell": "64350.0"})
    );
    s.close().await;
    api.finish().await;
}

async fn subscribe_narrows_and_acks_unknown_pairs(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let _pump = ready(&api).await;
    let mut s = api.socket(None).await.unwrap();
    let ack = s
        .emit_with_ack(
            "rates:subscribe",
            json!(["BTC_USD", "NOPE/USD", "garbage!"]),
        )
        .await;
    assert_eq!(ack["subscribed"], json!(["BTC/USD"]));
    assert_eq!(ack["unknown"], json!(["NOPE/USD", "garbage!"]));

    api.feed.rate("ETH/USD", "3000.00", "3000.10").await;
    api.feed.rate("BTC/USD", "1.0", "1.1").await;
    s.rate("BTC_USD", |r| r["original"]["sell"] == "1.0").await;
    api.feed.rate("ETH/USD", "3001.00", "3001.10").await;
    api.feed.rate("BTC/USD", "2.0", "2.1").await;
    let seen = s.drain(Duration::from_millis(700)).await;
    assert!(
        seen.iter()
            .all(|v| v["event"] != "rates:live" || v["data"].get("ETH_USD").is_none()),
        "ETH must not reach a BTC-only socket: {seen:?}"
    );
    assert!(seen
        .iter()
        .any(|v| v["data"]["BTC_USD"]["original"]["sell"] == "2.0"));

    let ack = s
        .emit_with_ack("rates:unsubscribe", json!(["BTC/USD"]))
        .await;
    assert_eq!(ack["subscribed"], json!([]));
    api.feed.rate("BTC/USD", "3.0", "3.1").await;
    let seen = s.drain(Duration::from_millis(500)).await;
    assert!(seen.iter().all(|v| v["event"] != "rates:live"), "{seen:?}");
    s.close().await;
    api.finish().await;
}

async fn stale_turns_on_when_status_stops_and_off_when_it_returns(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let pump = ready(&api).await;
    let mut s = api.socket(None).await.unwrap();
    api.feed.rate("BTC/USD", "10.0", "10.1").await;
    s.rate("BTC_USD", |r| r["stale"] == false).await;
    drop(pump); // the feed goes quiet
    let started = tokio::time::Instant::now();
    s.rate("BTC_USD", |r| r["stale"] == true).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(2_000),
        "stale only after ~3 s of silence, was {waited:?}"
    );
    let (_, r) = api.get("/api/rates/BTC_USD", None).await;
    assert_eq!(r["stale"], true);
    let _pump = api.status_pump(&["BTC/USD", "ETH/USD"]);
    s.rate("BTC_USD", |r| r["stale"] == false).await;
    // a feed in maintenance is stale even while it talks
    drop(_pump);
    api.feed
        .status(common::bus::FeedState::Maintenance, &["BTC/USD"])
        .await;
    s.rate("BTC_USD", |r| r["stale"] == true).await;
    s.close().await;
    api.finish().await;
}

async fn a_bad_token_is_refused_and_a_good_one_joins_the_users_room(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let err = api
        .socket(Some("not-a-token"))
        .await
        .err()
        .expect("refused");
    assert!(err.contains("invalid token"), "{err}");

    let token = api.user_token("sock@x.io").await;
    let (_, me) = api.get("/api/me", Some(&token)).await;
    let id = me["id"].as_u64().unwrap();
    let mut s = api.socket(Some(&token)).await.unwrap();
    let mut anon = api.socket(None).await.unwrap();
    let io = api.app().state().io().unwrap().clone();
    let room = user_api_svc::socket::user_room(id);
    io.to(room)
        .emit("balance:updated", &json!({"probe": true}))
        .await
        .unwrap();
    let got = s.next(|v| v["event"] == "balance:updated").await;
    assert_eq!(got["data"]["probe"], true);
    let seen = anon.drain(Duration::from_millis(400)).await;
    assert!(
        seen.iter().all(|v| v["event"] != "balance:updated"),
        "private events stay private"
    );
    s.close().await;
    anon.close().await;
    api.finish().await;
}

async fn a_slow_client_gets_the_newest_price_not_a_backlog(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let _pump = ready(&api).await;
    let mut s = api.socket(None).await.unwrap();
    api.feed.rate("BTC/USD", "1.0", "1.5").await;
    s.rate("BTC_USD", |r| r["original"]["sell"] == "1.0").await;
    // The client stops reading while 20,000 ticks (≈8 MB) go by: far more than its socket
    // buffer (64 packets) and the kernel's socket buffers hold.
    s.pause(2_500).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let n = 20_000;
    let last_bid = api.feed.burst("BTC/USD", n).await;
    let received = s.drain(Duration::from_secs(6)).await;
    let ticks: Vec<&serde_json::Value> = received
        .iter()
        .filter(|v| v["event"] == "rates:live" && !v["data"]["BTC_USD"].is_null())
        .collect();
    let newest =
        ticks.last().expect("some rates arrived")["data"]["BTC_USD"]["original"]["sell"].clone();
    assert_eq!(
        newest,
        serde_json::Value::String(last_bid),
        "the last message is the newest price"
    );
    assert!(
        (ticks.len() as u64) < n / 2,
        "a slow client must not be replayed a backlog: got {} messages for {n} ticks",
        ticks.len()
    );
    s.close().await;
    api.finish().await;
}

async fn under_load_ticks_are_conflated_into_windows_ending_on_the_newest_values(backend: Backend) {
    let api = TestApi::start_on(backend, |c| {
        c.fanout.immediate_budget = 1; // any load counts as heavy
        c.fanout.window = Duration::from_millis(100);
    })
    .await;
    let _pump = ready(&api).await;
    let mut s = api.socket(None).await.unwrap();
    // ~100 ticks/s over two pairs for 3 s; the hub switches to windows after its first
    // one-second estimate.
    let feed = api.feed.clone();
    let producer = tokio::spawn(async move {
        for i in 0..300 {
            let pair = if i % 2 == 0 { "BTC/USD" } else { "ETH/USD" };
            feed.rate(pair, &format!("{}.0", 100 + i), &format!("{}.5", 100 + i))
                .await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    // Consume (not just wait out) the first 1.5 s, so the measured second starts clean.
    s.drain(Duration::from_millis(1_500)).await;
    let window: Vec<serde_json::Value> = s
        .drain(Duration::from_secs(1))
        .await
        .into_iter()
        .filter(|v| v["event"] == "rates:live")
        .collect();
    producer.await.unwrap();
    assert!(
        api.app().state().hub.is_batched(),
        "heavy load switches to windows"
    );
    assert!(
        window.len() <= 15,
        "about 10 messages per second with 100 ms windows, got {}",
        window.len()
    );
    assert!(
        window
            .iter()
            .any(|v| v["data"].as_object().is_some_and(|m| m.len() == 2)),
        "a window carries every pair that changed"
    );
    // After the last tick, the next window delivers the newest values of both pairs.
    s.rate("BTC_USD", |r| r["original"]["sell"] == "398.0")
        .await;
    s.close().await;
    api.finish().await;
}

/// In-process bus: a subscriber that falls more than the bus's capacity behind hears `Lagged`,
/// re-reads the last values and keeps going; sockets end on the newest price, not a stale one.
#[tokio::test]
async fn an_in_process_subscriber_that_lags_catches_up_on_the_newest_value() {
    let api = TestApi::start_on(Backend::SqliteInProcess, |_| {}).await;
    let _pump = ready(&api).await;
    api.feed.rate("BTC/USD", "97000.1", "97000.2").await;
    let mut s = api.socket(None).await.unwrap();
    s.rate("BTC_USD", |r| r["original"]["sell"] == "97000.1")
        .await;
    let lagged_before = lagged_total(&api).await;
    // More than the default capacity (16,384) in one go.
    let newest = api.feed.flood_in_one_publish("BTC/USD", 20_000);
    s.rate("BTC_USD", |r| r["original"]["sell"] == newest.as_str())
        .await;
    assert!(
        lagged_total(&api).await > lagged_before,
        "the flood did not make the subscriber lag: the test is not testing the lag path"
    );
    // And it is still subscribed: the next tick arrives as usual.
    api.feed.rate("BTC/USD", "98000.1", "98000.2").await;
    s.rate("BTC_USD", |r| r["original"]["sell"] == "98000.1")
        .await;
    s.close().await;
    api.finish().await;
}

async fn lagged_total(api: &TestApi) -> u64 {
    let text = testkit::http::text(&api.http, &format!("{}/metrics", api.base)).await;
    text.lines()
        .find(|l| l.starts_with("rategate_bus_lagged_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or(0)
}

/// A bare Engine.IO v4 / Socket.IO v5 WebSocket client that keeps every frame's exact text.
struct RawSocket {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl RawSocket {
    async fn connect(base: &str) -> RawSocket {
        let url = format!(
            "{}/socket.io/?EIO=4&transport=websocket",
            base.replacen("http", "ws", 1)
        );
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut s = RawSocket { ws };
        s.until(|t| t.starts_with('0')).await;
        s.send("40").await;
        s.until(|t| t.starts_with("40")).await;
        s
    }

    async fn send(&mut self, text: &str) {
        use futures_util::SinkExt;
        let msg = tokio_tungstenite::tungstenite::Message::text(text);
        self.ws.send(msg).await.unwrap();
    }

    /// The next text frame matching `pred` (answering pings meanwhile).
    async fn until(&mut self, pred: impl Fn(&str) -> bool) -> String {
        use futures_util::StreamExt;
        loop {
            let next = tokio::time::timeout(Duration::from_secs(5), self.ws.next()).await;
            let Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t)))) = next else {
                panic!("no matching frame: {next:?}");
            };
            if t.as_str() == "2" {
                self.send("3").await;
            } else if pred(t.as_str()) {
                return t.to_string();
            }
        }
    }
}

async fn one_update_reaches_every_socket_of_a_subscription_set_as_the_same_bytes(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let _pump = ready(&api).await;
    api.feed.rate("BTC/USD", "1.0", "1.5").await;
    api.feed.rate("ETH/USD", "3000.0", "3000.5").await;
    let mut everything = Vec::new();
    for _ in 0..3 {
        let mut s = RawSocket::connect(&api.base).await;
        s.until(|t| t.starts_with("42[\"rates:live\"") && t.contains("1.5"))
            .await;
        everything.push(s);
    }
    let mut eth_only = RawSocket::connect(&api.base).await;
    eth_only.send(r#"420["rates:subscribe",["ETH/USD"]]"#).await;
    eth_only.until(|t| t.starts_with("430")).await;

    api.feed.rate("BTC/USD", "2.0", "2.5").await;
    let mut frames = Vec::new();
    for s in &mut everything {
        frames.push(s.until(|t| t.contains("\"2.5\"")).await);
    }
    assert!(frames[0].contains("BTC_USD"), "{}", frames[0]);
    assert!(
        frames.iter().all(|f| f == &frames[0]),
        "every socket of the set gets the same bytes: {frames:#?}"
    );
    api.feed.rate("ETH/USD", "3001.0", "3001.5").await;
    // Its subscribe snapshot, then the update; BTC never (it came in between).
    let snapshot = eth_only.until(|t| t.starts_with("42[")).await;
    let eth = eth_only.until(|t| t.starts_with("42[")).await;
    assert!(eth.contains("3001.5"), "{eth}");
    assert!(
        !snapshot.contains("BTC_USD") && !eth.contains("BTC_USD"),
        "{snapshot} {eth}"
    );
    api.finish().await;
}

async fn a_polling_client_gets_room_broadcasts_subscribes_and_its_snapshot(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let _pump = ready(&api).await;
    api.feed.rate("BTC/USD", "1.0", "1.5").await;
    api.feed.rate("ETH/USD", "3000.0", "3000.5").await;
    let mut s = testkit::sio::SioClient::connect_polling(&api.base, None)
        .await
        .unwrap();
    s.rate("ETH_USD", |r| r["original"]["buy"] == "3000.50")
        .await;
    api.feed.rate("BTC/USD", "2.0", "2.5").await;
    s.rate("BTC_USD", |r| r["original"]["buy"] == "2.5").await;
    let ack = s.emit_with_ack("rates:subscribe", json!(["ETH/USD"])).await;
    assert_eq!(ack["subscribed"], json!(["ETH/USD"]));
    api.feed.rate("BTC/USD", "3.0", "3.5").await;
    api.feed.rate("ETH/USD", "3001.0", "3001.5").await;
    s.rate("ETH_USD", |r| r["original"]["buy"] == "3001.50")
        .await;
    let seen = s.drain(Duration::from_millis(300)).await;
    assert!(
        seen.iter().all(|v| v["data"].get("BTC_USD").is_none()),
        "BTC after unsubscribing from it: {seen:?}"
    );
    s.close().await;
    api.finish().await;
}

/// python-socketio, on WebSocket and on long-polling: snapshot, broadcast, subscribe.
async fn python_socketio_gets_snapshots_broadcasts_and_acks_on_both_transports(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let _pump = ready(&api).await;
    api.feed.rate("ETH/USD", "3000.0", "3000.5").await;
    for transport in ["websocket", "polling"] {
        let mut s = testkit::sio::SioClient::connect_python(&api.base, transport)
            .await
            .unwrap();
        s.rate("ETH_USD", |r| r["original"]["buy"] == "3000.50")
            .await;
        let ack = s.emit_with_ack("rates:subscribe", json!(["BTC/USD"])).await;
        assert_eq!(ack["subscribed"], json!(["BTC/USD"]), "{transport}");
        api.feed.rate("BTC/USD", "7.0", "7.5").await;
        s.rate("BTC_USD", |r| r["original"]["buy"] == "7.5").await;
        s.close().await;
    }
    api.finish().await;
}

/// What a raw WebSocket client gets for an event it sends in the same breath as its connect
/// (`40` then `421[...]`, without waiting for the ack): within 2 s either the ack of the event or
/// the connection closed by the server, never silence (it used to be dropped unanswered at
/// random). And an event sent the moment the ack arrives is always answered.
async fn an_event_sent_before_or_at_the_connect_ack_is_never_dropped_unanswered(backend: Backend) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let api = TestApi::start_on(backend, |_| {}).await;
    let _pump = ready(&api).await;
    let url = format!(
        "ws://{}/socket.io/?EIO=4&transport=websocket",
        api.app().addr()
    );
    let subscribe = r#"421["rates:subscribe",["BTC/USD"]]"#;
    let (mut acked, mut closed) = (0, 0);
    for early in [true; 50].into_iter().chain([false; 30]) {
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        let open = ws.next().await.unwrap().unwrap();
        assert!(open.to_text().unwrap().starts_with('0'));
        ws.send(Message::text("40")).await.unwrap();
        if early {
            ws.send(Message::text(subscribe)).await.unwrap();
        }
        let outcome = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(frame) = ws.next().await {
                let Ok(Message::Text(text)) = frame else {
                    return "closed";
                };
                if text.as_str() == "1" {
                    return "closed";
                }
                if text.starts_with("40") && !early {
                    let _ = ws.send(Message::text(subscribe)).await;
                }
                if text.starts_with("431[") {
                    assert!(text.contains("\"subscribed\":[\"BTC/USD\"]"), "{text}");
                    return "acked";
                }
            }
            "closed"
        })
        .await
        .unwrap_or_else(|_| panic!("early={early}: no ack and no close within 2 s"));
        assert!(
            early || outcome == "acked",
            "an event sent at the ack was refused"
        );
        match outcome {
            "acked" => acked += 1,
            _ => closed += 1,
        }
    }
    assert_eq!(acked + closed, 80, "acked {acked}, closed {closed}");
    api.finish().await;
}

/// On the multi-threaded runtime the binary runs on: there the connect and the next packet race.
mod an_event_sent_before_or_at_the_connect_ack {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mariadb_redis() {
        super::an_event_sent_before_or_at_the_connect_ack_is_never_dropped_unanswered(
            super::Backend::MariaDbRedis,
        )
        .await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_in_process() {
        super::an_event_sent_before_or_at_the_connect_ack_is_never_dropped_unanswered(
            super::Backend::SqliteInProcess,
        )
        .await
    }
}

on_both_backends!(
    a_new_socket_gets_a_full_snapshot_at_once,
    a_raw_rate_on_redis_arrives_spread_adjusted_and_spread_changes_arrive_at_once,
    subscribe_narrows_and_acks_unknown_pairs,
    stale_turns_on_when_status_stops_and_off_when_it_returns,
    a_bad_token_is_refused_and_a_good_one_joins_the_users_room,
    a_slow_client_gets_the_newest_price_not_a_backlog,
    under_load_ticks_are_conflated_into_windows_ending_on_the_newest_values,
    one_update_reaches_every_socket_of_a_subscription_set_as_the_same_bytes,
    a_polling_client_gets_room_broadcasts_subscribes_and_its_snapshot,
    python_socketio_gets_snapshots_broadcasts_and_acks_on_both_transports,
);
