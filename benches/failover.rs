//! Failover gap: two exchange-rate-svc (leader and hot standby) and one user-api-svc as real
//! processes on the local Redis and MariaDB, a Socket.IO client on the API node; SIGKILL the
//! leader and time until the client holds a BTC rate stamped after the kill. Repeated
//! `FAILOVER_TRIALS` times (default 10), the killed process replaced by a new standby each
//! time; prints min / median / max.
//!
//!   cargo bench --bench failover
//!
//! The lease TTL is the tests' 1 s unless `FEED_LEASE_TTL_MS` says otherwise (the deployment
//! default is 2 s): a standby takes over at most TTL + TTL/4 after the leader's last renewal.

use std::time::{Duration, Instant};

use testkit::cluster::{fresh_tick, lease_ttl_ms, Cluster};

#[tokio::main]
async fn main() {
    let trials: usize = testkit::bench::env_or("FAILOVER_TRIALS", 10);
    let mut cluster = Cluster::start(&testkit::services::redis_url(), 2, 1).await;
    let mut socket = cluster.socket(0, None).await;
    let mut gaps = Vec::new();
    for trial in 1..=trials {
        let leader = cluster.leader().await;
        // Settled: the socket is getting fresh rates from the leader.
        let settled = chrono::Utc::now();
        fresh_tick(&mut socket, settled, Duration::from_secs(5))
            .await
            .expect("rates before the kill");
        let killed_at = chrono::Utc::now();
        let start = Instant::now();
        cluster.feeds[leader].kill().await;
        let got = fresh_tick(&mut socket, killed_at, Duration::from_secs(10))
            .await
            .expect("a fresh rate after the failover");
        let gap = got.duration_since(start);
        println!("trial {trial}: {} ms", gap.as_millis());
        gaps.push(gap);
        cluster.respawn_feed(leader).await;
    }
    println!(
        "failover gap (lease TTL {} ms) {}",
        lease_ttl_ms(),
        testkit::bench::min_median_max(&mut gaps)
    );
    socket.close().await;
    cluster.stop().await;
}
