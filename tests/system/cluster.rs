//! Scaled out, as real processes: several user-api-svc and exchange-rate-svc binaries on one
//! Redis and one MariaDB database (README "Scaling out").
//! - two API nodes starting at once on an empty database both come up; a trade through one
//!   node reaches the trader's socket on the other; a logout through one ends the session's
//!   socket on the other; spreads cross nodes; the login budget is shared;
//! - two feeds: the leader killed with SIGKILL is replaced within 3 s, and sockets on every
//!   API node get fresh rates;
//! - HAProxy (deploy/haproxy.cfg, Debian's haproxy) in front: WebSocket and sticky polling
//!   work through it, and when an API node dies its clients continue on the other;
//! - a private Redis killed and restarted: leadership, the adapter and delivery come back on
//!   their own.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use testkit::cluster::{fresh_tick, is_fresh, Cluster, ADMIN, TRADER_PASSWORD};
use testkit::process::{Haproxy, RedisServer};
use testkit::{eventually, SioClient};

/// The private events of a trade made on `from` reach the trader's socket on `to`.
async fn trade_reaches_socket(cluster: &Cluster, from: usize, to: usize, email: &str) {
    let token = cluster.funded_trader(from, email).await;
    let mut socket = cluster.socket(to, Some(&token)).await;
    let order = cluster.trade(from, &token, &format!("{email}-1")).await;
    let filled = socket.next(|v| v["event"] == "order:filled").await;
    assert_eq!(filled["data"]["id"], order["id"], "{filled}");
    let balances = socket.next(|v| v["event"] == "balance:updated").await;
    assert!(balances["data"]["balances"].is_array(), "{balances}");
    socket.close().await;
}

#[tokio::test]
async fn two_api_nodes_share_private_events_spreads_and_the_login_budget() {
    let cluster = Cluster::start(&testkit::services::redis_url(), 1, 2).await;
    for api in &cluster.apis {
        let ready = api.get("/ready").await;
        assert_eq!(ready["adapter"], "subscribed", "{ready}");
        assert!(ready["feed_leader"].is_string(), "{ready}");
    }
    nodes_share_private_events_sessions_spreads_and_the_login_budget(&cluster).await;
    cluster.stop().await;
}

/// API nodes 0 and 1 of `cluster` share what crosses nodes: private events both ways, a
/// session's end, a spread change, the login budget.
pub(crate) async fn nodes_share_private_events_sessions_spreads_and_the_login_budget(
    cluster: &Cluster,
) {
    // A trade through node 0 reaches the trader's socket on node 1, and the other way round.
    trade_reaches_socket(cluster, 0, 1, "cross-a@x.io").await;
    trade_reaches_socket(cluster, 1, 0, "cross-b@x.io").await;

    // A session ended through node 0 ends on node 1 too: its token is refused there and its
    // socket there is disconnected; the account's other session carries on.
    let (_, ending) = cluster.web[0].login("cross-a@x.io", TRADER_PASSWORD).await;
    let ending_access = ending["access_token"].as_str().unwrap().to_string();
    let other_access = cluster.login(1, "cross-a@x.io", TRADER_PASSWORD).await;
    let mut on_node_1 = cluster.socket(1, Some(&ending_access)).await;
    let mut other_on_node_1 = cluster.socket(1, Some(&other_access)).await;
    let logout = json!({"refresh_token": ending["refresh_token"]});
    let (code, _) = cluster.web[0].post("/api/auth/logout", None, logout).await;
    assert_eq!(code, 204);
    on_node_1
        .next_within(Duration::from_secs(5), |v| v["type"] == "disconnect")
        .await
        .expect("the ended session's socket on the other node is disconnected");
    let (code, _) = cluster.web[1].get("/api/me", Some(&ending_access)).await;
    assert_eq!(code, 401);
    assert!(other_on_node_1
        .next_within(Duration::from_millis(500), |v| v["type"] == "disconnect")
        .await
        .is_none());
    other_on_node_1.close().await;

    // A spread set through node 0 prices the rates node 1 streams.
    let mut watcher = cluster.socket(1, None).await;
    let admin = cluster.login(0, ADMIN.0, ADMIN.1).await;
    let (code, body) = cluster.web[0]
        .set_spread(
            &admin,
            "BTC_USD",
            json!({"kind": "absolute", "buy": "1000", "sell": "0"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    watcher
        .rate("BTC_USD", |r| {
            // At the pair's tick (`1000.0`), whatever tick the feed described.
            r["currentSpread"]["buy"]
                .as_str()
                .and_then(|s| s.parse::<common::Decimal>().ok())
                == Some(common::Decimal::from(1000))
        })
        .await;

    // Failed logins spread over both nodes meet one budget (3 per account and address).
    // (An account nobody has logged into from here: successful logins count too.)
    let mut codes = Vec::new();
    for attempt in 0..4 {
        let node = &cluster.web[attempt % 2];
        codes.push(
            node.login("guessed@x.io", "not the password at all")
                .await
                .0,
        );
    }
    assert_eq!(codes, [401, 401, 401, 429]);
    // Another account from the same address is untouched.
    let (code, _) = cluster.web[1].login("cross-b@x.io", TRADER_PASSWORD).await;
    assert_eq!(code, 200);
    watcher.close().await;
}

#[tokio::test]
async fn a_killed_feed_leader_is_replaced_and_sockets_on_every_node_get_fresh_rates() {
    let mut cluster = Cluster::start(&testkit::services::redis_url(), 2, 2).await;
    let leader = cluster.leader().await;
    let mut sockets = vec![cluster.socket(0, None).await, cluster.socket(1, None).await];
    for s in &mut sockets {
        s.rate("BTC_USD", |r| r["stale"] == false).await;
    }

    let killed_at = chrono::Utc::now();
    let started = Instant::now();
    cluster.feeds[leader].kill().await;
    for (node, socket) in sockets.iter_mut().enumerate() {
        // Nothing on the way is marked stale: the gap is shorter than the staleness limit.
        let mut stale_seen = false;
        socket
            .next_within(Duration::from_secs(3), |v| {
                stale_seen |= v["event"] == "rates:live" && v["data"]["BTC_USD"]["stale"] == true;
                is_fresh(v, killed_at)
            })
            .await
            .unwrap_or_else(|| panic!("no fresh rate on API node {node} within 3 s"));
        assert!(
            !stale_seen,
            "node {node} marked BTC stale during the takeover"
        );
        eprintln!(
            "node {node}: first fresh tick {} ms after the SIGKILL",
            started.elapsed().as_millis()
        );
    }
    let standby = 1 - leader;
    assert_eq!(
        cluster.feeds[standby].get("/status").await["role"],
        "leader"
    );
    for s in sockets {
        s.close().await;
    }
    cluster.stop().await;
}

#[tokio::test]
async fn through_haproxy_websocket_and_polling_work_and_survive_an_api_node_dying() {
    let mut cluster = Cluster::start(&testkit::services::redis_url(), 1, 2).await;
    let listen = format!("127.0.0.1:{}", testkit::http::free_port());
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/haproxy.cfg");
    let addr = |i: usize| {
        cluster.apis[i]
            .base
            .trim_start_matches("http://")
            .to_string()
    };
    let _lb = Haproxy::start(
        config.as_ref(),
        &[
            ("LB_ADDR", listen.clone()),
            ("API_1", addr(0)),
            ("API_2", addr(1)),
        ],
        &listen,
    )
    .await;
    let lb = format!("http://{listen}");

    // REST through the balancer.
    let http = reqwest::Client::new();
    let (code, rates) =
        testkit::http::call(&http, &lb, Method::GET, "/api/rates", None, None).await;
    assert_eq!(code, 200, "{rates}");
    // WebSocket (an upgrade through HAProxy) and long-polling (many requests of one session,
    // which must all reach the same node) both get rates and acks.
    let mut ws = SioClient::connect_reconnecting(&lb, "websocket")
        .await
        .unwrap();
    let mut polling = SioClient::connect_reconnecting(&lb, "polling")
        .await
        .unwrap();
    for client in [&mut ws, &mut polling] {
        client.rate("BTC_USD", |r| r["stale"] == false).await;
        let ack = client
            .emit_with_ack("rates:subscribe", json!(["BTC/USD"]))
            .await;
        assert_eq!(ack["subscribed"], json!(["BTC/USD"]), "{ack}");
        // Several rounds of polling requests, all in one session.
        let since = chrono::Utc::now();
        assert!(fresh_tick(client, since, Duration::from_secs(5))
            .await
            .is_some());
    }
    // A client straight on node 1 as well.
    let mut direct = cluster.socket(1, None).await;

    // Node 0 dies. Clients of node 1 never notice; clients the balancer had sent to node 0
    // reconnect through it to node 1. Every client gets fresh rates again.
    cluster.apis[0].kill().await;
    let killed_at = chrono::Utc::now();
    for (name, client) in [
        ("direct", &mut direct),
        ("websocket", &mut ws),
        ("polling", &mut polling),
    ] {
        assert!(
            fresh_tick(client, killed_at, Duration::from_secs(10))
                .await
                .is_some(),
            "{name} client: no fresh rate after node 0 died"
        );
    }
    let (code, _) = testkit::http::call(&http, &lb, Method::GET, "/api/rates", None, None).await;
    assert_eq!(code, 200);
    for c in [direct, ws, polling] {
        c.close().await;
    }
    cluster.stop().await;
}

#[tokio::test]
async fn after_a_redis_restart_leadership_the_adapter_and_delivery_recover() {
    let mut redis = RedisServer::start().await;
    let cluster = Cluster::start(&redis.url(), 2, 2).await;
    cluster.leader().await;
    let token = cluster.funded_trader(0, "restart@x.io").await;
    let mut socket = cluster.socket(1, Some(&token)).await;
    socket.rate("BTC_USD", |r| r["stale"] == false).await;

    redis.kill().await;
    // Without Redis the rates go stale (nothing is heard), and the nodes say so.
    socket.rate("BTC_USD", |r| r["stale"] == true).await;
    redis.restart().await;

    // A leader again (the old lease died with Redis), fresh rates on the socket, adapters
    // subscribed again, and a private event crosses nodes again.
    cluster.leader().await;
    let back = chrono::Utc::now();
    assert!(
        fresh_tick(&mut socket, back, Duration::from_secs(10))
            .await
            .is_some(),
        "no fresh rate after the Redis restart"
    );
    for api in &cluster.apis {
        eventually("the adapter subscribed again", || async {
            api.get("/ready").await["adapter"] == "subscribed"
        })
        .await;
    }
    let order = cluster.trade(0, &token, "after-restart").await;
    let filled = socket.next(|v| v["event"] == "order:filled").await;
    assert_eq!(filled["data"]["id"], order["id"]);
    socket.close().await;
    cluster.stop().await;
    redis.kill().await;
}
