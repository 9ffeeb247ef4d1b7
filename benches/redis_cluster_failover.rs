//! A Redis Cluster master's death, as a trader sees it: a six-node cluster (three masters,
//! three replicas, node timeout 1 s) the bench starts, one exchange-rate-svc and one
//! user-api-svc as real processes on it (`REDIS_CLUSTER_NODES`), a Socket.IO client on the API
//! node. Each trial SIGKILLs the master serving BTC/USD's slot and times until the client holds
//! a BTC rate stamped after the kill; the killed node is then started again (it rejoins as a
//! replica) before the next trial. `FAILOVER_TRIALS` times (default 10); prints min / median /
//! max, beside the floor: the time until the cluster itself serves every slot again.
//!
//!   cargo bench --bench redis_cluster_failover

use std::time::{Duration, Instant};

use testkit::cluster::{fresh_tick, Cluster};
use testkit::redis_cluster::{RedisCluster, NODE_TIMEOUT_MS};

#[tokio::main]
async fn main() {
    let trials: usize = testkit::bench::env_or("FAILOVER_TRIALS", 10);
    let mut redis = RedisCluster::start().await;
    let cluster = Cluster::start_on_redis_cluster(&redis.seeds(), 1, 1).await;
    let mut socket = cluster.socket(0, None).await;
    let mut gaps = Vec::new();
    let mut floors = Vec::new();
    for trial in 1..=trials {
        let settled = chrono::Utc::now();
        fresh_tick(&mut socket, settled, Duration::from_secs(10))
            .await
            .expect("rates before the kill");
        let victim = redis.master_of("{BTC_USD}").await;
        let killed_at = chrono::Utc::now();
        let start = Instant::now();
        redis.kill(victim).await;
        // The floor: the cluster itself serving every slot again (polled every 50 ms).
        let promoted = async {
            redis.wait_healthy(3).await;
            Instant::now()
        };
        let fresh = fresh_tick(&mut socket, killed_at, Duration::from_secs(30));
        let (promoted, got) = tokio::join!(promoted, fresh);
        let got = got.expect("a fresh rate after the master's replica took over");
        let gap = got.duration_since(start);
        let floor = promoted.duration_since(start);
        println!(
            "trial {trial}: master :{victim} killed, replica promoted after {} ms, fresh BTC rate after {} ms",
            floor.as_millis(),
            gap.as_millis()
        );
        gaps.push(gap);
        floors.push(floor);
        redis.restart(victim).await;
    }
    println!(
        "floor, master SIGKILL → cluster serving every slot, {}",
        testkit::bench::min_median_max(&mut floors)
    );
    println!(
        "master SIGKILL → fresh rate at a socket (node timeout {NODE_TIMEOUT_MS} ms), {}",
        testkit::bench::min_median_max(&mut gaps)
    );
    socket.close().await;
    cluster.stop().await;
}
