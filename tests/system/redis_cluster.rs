//! On a real Redis Cluster (six `redis-server --cluster-enabled yes` processes the test starts:
//! three masters, three replicas), with the services as real processes on
//! `REDIS_CLUSTER_NODES`:
//! - two feeds and two API nodes: rates reach sockets on both nodes, exactly one feed publishes,
//!   the prefix's keys and rate channels are spread over several masters, private events, a
//!   session's end, spread changes and the login budget cross nodes; a master killed with SIGKILL: once its replica is promoted, rates flow again
//!   on both nodes, `/ready` recovers, private events cross again, and no tick of a deposed
//!   epoch follows a newer one;
//! - the feed leader killed, then the lease's own master killed: the standby takes over each
//!   time, and no epoch comes back once deposed;
//! - slots moved to another master (resharding): a pair's rates keep reaching sockets and
//!   private events keep crossing nodes;
//! - fencing per slot: a lease holder whose lease was lost (deleted, or its grant and term lost
//!   as an asynchronous failover can) is refused in every pair's slot once the new holder wrote.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use common::bus::lease::{Fenced, Lease};
use common::bus::redis::{RedisBus, RedisTarget};
use common::bus::{Bus, Heard, PairMeta, Update};
use common::{Decimal, Pair};
use fred::prelude::*;
use testkit::cluster::{fresh_tick, Cluster, TRADER_PASSWORD};
use testkit::redis_cluster::RedisCluster;
use testkit::{eventually, SioClient};

/// Every tick heard on the cluster under `prefix`, through the bus's own subscriber (which
/// follows the pairs' shard channels and subscribes again after a failover): (epoch, pair).
struct Observer {
    heard: Arc<Mutex<Vec<(String, String)>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Observer {
    fn start(seeds: &str, prefix: &str) -> Observer {
        let target = RedisTarget::pick("", Some(seeds)).expect("seeds");
        let bus = RedisBus::connect(&target, prefix, Duration::from_secs(2)).expect("bus");
        let mut source = bus.subscribe().expect("subscription");
        let heard = Arc::new(Mutex::new(Vec::new()));
        let into = heard.clone();
        let task = tokio::spawn(async move {
            let _bus = bus;
            loop {
                match source.next().await {
                    Heard::Rate(r) => {
                        common::sync::lock(&into).push((r.epoch.clone(), r.pair.to_string()))
                    }
                    Heard::Closed => return,
                    _ => {}
                }
            }
        });
        Observer { heard, _task: task }
    }

    /// The epochs heard, in order.
    fn epochs(&self) -> Vec<String> {
        let heard = common::sync::lock(&self.heard);
        heard.iter().map(|(e, _)| e.clone()).collect()
    }

    /// The pairs heard.
    fn pairs(&self) -> HashSet<String> {
        let heard = common::sync::lock(&self.heard);
        heard.iter().map(|(_, p)| p.clone()).collect()
    }

    /// Once an epoch gave way to another, it never appears again.
    fn assert_no_deposed_epoch_came_back(&self) {
        let epochs = self.epochs();
        let mut order: Vec<&String> = Vec::new();
        for e in &epochs {
            if order.last() != Some(&e) {
                assert!(
                    !order.contains(&e),
                    "epoch {e} published again after it was deposed: {order:?}"
                );
                order.push(e);
            }
        }
    }
}

async fn ready_on_the_cluster(cluster: &Cluster) {
    for api in &cluster.apis {
        eventually("the API node is ready on every master", || async {
            let ready = api.get("/ready").await;
            ready["ready"] == true
                && ready["bus"] == "redis cluster: 3 of 3 masters answer"
                && ready["adapter"] == "subscribed"
        })
        .await;
    }
}

async fn fresh_on_every_socket(sockets: &mut [SioClient], after: chrono::DateTime<Utc>) {
    for (node, socket) in sockets.iter_mut().enumerate() {
        assert!(
            fresh_tick(socket, after, Duration::from_secs(20))
                .await
                .is_some(),
            "no fresh rate on API node {node}"
        );
    }
}

/// A trade by `token` on `from` reaches the trader's socket on `to`.
async fn trade_crosses(cluster: &Cluster, token: &str, from: usize, to: usize, key: &str) {
    let mut socket = cluster.socket(to, Some(token)).await;
    let order = cluster.trade(from, token, key).await;
    let filled = socket.next(|v| v["event"] == "order:filled").await;
    assert_eq!(filled["data"]["id"], order["id"], "{filled}");
    socket.close().await;
}

#[tokio::test]
async fn on_a_redis_cluster_rates_and_private_events_flow_and_survive_a_masters_death() {
    let mut redis = RedisCluster::start().await;
    let cluster = Cluster::start_on_redis_cluster(&redis.seeds(), 2, 2).await;
    let observer = Observer::start(&redis.seeds(), &cluster.prefix);
    let leader = cluster.leader().await;
    let epoch = cluster.feeds[leader].get("/status").await["epoch"].clone();
    ready_on_the_cluster(&cluster).await;
    let feed_ready = cluster.feeds[leader].get("/ready").await;
    assert_eq!(
        feed_ready["bus"], "redis cluster: 3 of 3 masters answer",
        "{feed_ready}"
    );

    let mut sockets = vec![cluster.socket(0, None).await, cluster.socket(1, None).await];
    for s in &mut sockets {
        s.rate("BTC_USD", |r| r["stale"] == false).await;
        s.rate("ETH_USD", |r| r["stale"] == false).await;
    }

    // Exactly one feed publishes: every tick heard carries the leader's epoch.
    eventually("ticks of both pairs heard on their shards", || async {
        observer.pairs().len() == 2
    })
    .await;
    let epochs: HashSet<String> = observer.epochs().into_iter().collect();
    assert_eq!(
        epochs,
        HashSet::from([epoch.as_str().unwrap().to_string()]),
        "only the leader publishes"
    );

    // The prefix's keys and its rate channels live on more than one master.
    let masters = redis.masters().await;
    let mut with_keys = 0;
    let mut with_channels = 0;
    for m in &masters {
        if !redis.keys_on(m.port, &cluster.prefix).await.is_empty() {
            with_keys += 1;
        }
        let channels = redis.shard_channels_on(m.port, &cluster.prefix).await;
        if channels.iter().any(|c| c.ends_with(":rates")) {
            with_channels += 1;
        }
    }
    assert!(with_keys >= 2, "keys on {with_keys} master(s)");
    assert!(
        with_channels >= 2,
        "rate channels on {with_channels} master(s)"
    );

    // Private events, a session's end, spreads and the login budget cross nodes through the
    // cluster as through one Redis.
    crate::cluster::nodes_share_private_events_sessions_spreads_and_the_login_budget(&cluster)
        .await;

    // SIGKILL the master that serves BTC's slot; its replica takes over.
    let victim = redis.master_of("{BTC_USD}").await;
    redis.kill(victim).await;
    let killed_at = Utc::now();
    redis.wait_healthy(3).await;
    fresh_on_every_socket(&mut sockets, killed_at).await;
    ready_on_the_cluster(&cluster).await;
    // (A trader of the shared checks, whose login budget has room left.)
    let token = cluster.login(1, "cross-b@x.io", TRADER_PASSWORD).await;
    trade_crosses(&cluster, &token, 1, 0, "after-failover").await;
    observer.assert_no_deposed_epoch_came_back();

    for s in sockets {
        s.close().await;
    }
    cluster.stop().await;
}

#[tokio::test]
async fn on_a_redis_cluster_the_standby_takes_over_from_a_dead_leader_and_a_dead_lease_master() {
    let mut redis = RedisCluster::start().await;
    let mut cluster = Cluster::start_on_redis_cluster(&redis.seeds(), 2, 1).await;
    let observer = Observer::start(&redis.seeds(), &cluster.prefix);
    let first = cluster.leader().await;
    let mut sockets = vec![cluster.socket(0, None).await];
    sockets[0].rate("BTC_USD", |r| r["stale"] == false).await;

    // The leader dies: the standby takes the lease on the cluster and publishes.
    let killed_at = Utc::now();
    cluster.feeds[first].kill().await;
    fresh_on_every_socket(&mut sockets, killed_at).await;
    let second = cluster.leader().await;
    assert_ne!(first, second);
    cluster.respawn_feed(first).await;

    // The lease's own master dies: whoever holds the lease after the promotion publishes,
    // and nothing of an epoch that lost it comes back.
    let victim = redis.master_of("{feed}").await;
    redis.kill(victim).await;
    let killed_at = Utc::now();
    redis.wait_healthy(3).await;
    cluster.leader().await;
    fresh_on_every_socket(&mut sockets, killed_at).await;
    ready_on_the_cluster(&cluster).await;
    observer.assert_no_deposed_epoch_came_back();
    let epochs: HashSet<String> = observer.epochs().into_iter().collect();
    assert!(epochs.len() >= 2, "the takeover shows a second epoch");

    for s in sockets {
        s.close().await;
    }
    cluster.stop().await;
}

/// Moves the slot of `key` to a master other than the one serving it now.
async fn move_elsewhere(redis: &RedisCluster, key: &str) -> u16 {
    let slot = redis.slot_of(key).await;
    let from = redis.master_of(key).await;
    let to = redis
        .masters()
        .await
        .into_iter()
        .find(|m| m.port != from)
        .expect("another master")
        .port;
    redis.move_slot(slot, to).await;
    assert_eq!(redis.master_of(key).await, to);
    to
}

#[tokio::test]
async fn on_a_redis_cluster_slots_that_move_to_another_master_keep_rates_and_private_events_flowing(
) {
    let redis = RedisCluster::start().await;
    let cluster = Cluster::start_on_redis_cluster(&redis.seeds(), 1, 2).await;
    ready_on_the_cluster(&cluster).await;
    let mut sockets = vec![cluster.socket(0, None).await];
    sockets[0].rate("BTC_USD", |r| r["stale"] == false).await;

    // BTC's slot moves: the old owner drops the API node's subscription to BTC's channel; it
    // subscribes again at the new owner and fresh BTC rates reach the socket.
    let to = move_elsewhere(&redis, "{BTC_USD}").await;
    let moved_at = Utc::now();
    fresh_on_every_socket(&mut sockets, moved_at).await;
    let channels = redis.shard_channels_on(to, &cluster.prefix).await;
    assert!(
        channels.iter().any(|c| c.contains("{BTC_USD}")),
        "BTC's channels are followed on the new owner: {channels:?}"
    );

    // Every Socket.IO adapter channel's slot moves: private events still cross nodes.
    let mut adapter = Vec::new();
    for m in redis.masters().await {
        let prefix = format!("{}socket.io", cluster.prefix);
        adapter.extend(redis.shard_channels_on(m.port, &prefix).await);
    }
    assert!(
        !adapter.is_empty(),
        "the adapter's shard channels are subscribed"
    );
    for channel in &adapter {
        move_elsewhere(&redis, channel).await;
    }
    let token = cluster.funded_trader(0, "moved@x.io").await;
    // Longer than the 5 s in which every subscription is made again.
    tokio::time::sleep(Duration::from_secs(6)).await;
    trade_crosses(&cluster, &token, 0, 1, "after-the-move").await;
    ready_on_the_cluster(&cluster).await;
    for s in sockets {
        s.close().await;
    }
    cluster.stop().await;
}

use testkit::bus::rate as tick;

fn metas() -> Vec<PairMeta> {
    ["BTC/USD", "ETH/USD", "SOL/USD"]
        .iter()
        .map(|p| {
            PairMeta::new(
                Pair::parse(p).unwrap(),
                Decimal::new(1, 1),
                Decimal::new(1, 8),
                Decimal::new(1, 4),
            )
        })
        .collect()
}

#[tokio::test]
async fn on_a_redis_cluster_an_older_term_is_refused_in_every_pairs_slot() {
    let redis = RedisCluster::start().await;
    let prefix = format!("fence:{}:", uuid::Uuid::new_v4().simple());
    let target = RedisTarget::pick("", Some(&redis.seeds())).unwrap();
    let bus = RedisBus::connect(&target, &prefix, Duration::from_secs(2)).unwrap();
    let client = bus.client().clone();
    client.wait_for_connect().await.unwrap();
    let keys = bus.keys().clone();
    let ttl = Duration::from_secs(30);
    let pairs: Vec<Pair> = metas().into_iter().map(|m| m.pair).collect();
    // The three pairs' state lives on more than one master.
    let mut masters = HashSet::new();
    for p in &pairs {
        masters.insert(redis.master_of(&format!("{{{}}}", p.key())).await);
    }
    assert!(masters.len() >= 2, "pairs all on one master: {masters:?}");

    let a = Lease::new(client.clone(), keys.clone(), "epoch-a", ttl);
    assert!(a.acquire_or_renew().await.unwrap());
    let ticks: Vec<_> = pairs
        .iter()
        .map(|p| tick(p.as_str(), "1.5", "epoch-a"))
        .collect();
    assert_eq!(
        a.write(Update {
            rates: &ticks,
            meta: Some(&metas()),
            status: None
        })
        .await
        .unwrap(),
        Fenced::Written
    );

    // a's lease is lost (as after a pause longer than its TTL); b takes it and resyncs. (The
    // term is set an hour ahead first, so that c below can be handed b's very term.)
    let ahead = (a.term() + 3_600_000).to_string();
    let _: () = client
        .set(keys.feed_term(), ahead, None, None, false)
        .await
        .unwrap();
    let _: i64 = client.del(keys.feed_leader()).await.unwrap();
    let b = Lease::new(client.clone(), keys.clone(), "epoch-b", ttl);
    assert!(b.acquire_or_renew().await.unwrap());
    assert!(b.term() > a.term(), "{} > {}", b.term(), a.term());
    assert_eq!(
        b.write(Update {
            meta: Some(&metas()),
            ..Update::default()
        })
        .await
        .unwrap(),
        Fenced::Written
    );
    // a's late write of rates alone (no metadata, so only the pairs' slots are asked) is
    // refused in every slot, and the pairs keep what they held.
    for p in &pairs {
        let late = a
            .write(Update::rates(&[tick(p.as_str(), "9.9", "epoch-a")]))
            .await;
        assert_eq!(late.unwrap(), Fenced::NotLeader, "{p}");
        let last: String = client.get(keys.pair_rate_last(p)).await.unwrap();
        assert!(last.contains("\"1.5\""), "{p}: {last}");
    }
    assert_eq!(
        b.write(Update::rates(&[tick("BTC/USD", "2.5", "epoch-b")]))
            .await
            .unwrap(),
        Fenced::Written
    );

    // A failover that loses b's grant together with its term: c is granted the same term
    // (the term key is put back, the lease is gone). The pairs b wrote accept only b.
    let _: () = client
        .set(
            keys.feed_term(),
            (b.term() - 1).to_string(),
            None,
            None,
            false,
        )
        .await
        .unwrap();
    let _: i64 = client.del(keys.feed_leader()).await.unwrap();
    let c = Lease::new(client.clone(), keys.clone(), "epoch-c", ttl);
    assert!(c.acquire_or_renew().await.unwrap());
    assert_eq!(c.term(), b.term());
    let same_term = [tick("BTC/USD", "7.7", "epoch-c")];
    let refused = c.write(Update::rates(&same_term)).await.unwrap();
    assert_eq!(refused, Fenced::NotLeader);
    let last: String = client.get(keys.pair_rate_last(&pairs[0])).await.unwrap();
    assert!(last.contains("\"2.5\""), "{last}");
    bus.quit().await;
}
