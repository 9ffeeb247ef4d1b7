//! Venue failover gap: one exchange-rate-svc reading a mock Kraken, Coinbase and Bitstamp, one
//! user-api-svc, as real processes on the local Redis and MariaDB, a Socket.IO client on the
//! API node. A venue's mock is killed (its listener stopped and every connection dropped
//! without a close frame) and we time until the client holds a BTC rate made without it;
//! then the mock comes back and we wait until the venue is in the price again. Repeated
//! `FAILOVER_TRIALS` times (default 10), alternating Coinbase and Bitstamp; then the same with
//! the venue going silent instead (its socket open, nothing sent), which only
//! `VENUE_STALE_MS` (1500 here, the default) can notice. Prints min / median / max of each.
//!
//!   cargo bench --bench venue_failover

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::cluster::Cluster;
use testkit::SioClient;

fn venues_are(v: &Value, venues: &[&str]) -> bool {
    v["event"] == "rates:live" && v["data"]["BTC_USD"]["venues"] == json!(venues)
}

async fn wait_for(socket: &mut SioClient, venues: &[&str], within: Duration) -> Option<Instant> {
    socket
        .next_within(within, |v| venues_are(v, venues))
        .await
        .map(|_| Instant::now())
}

/// The time from `start` to `got`, printed under `what`.
fn gap(what: &str, start: Instant, got: Instant) -> Duration {
    let gap = got.duration_since(start);
    println!("{what}: {:.1} ms", gap.as_secs_f64() * 1000.0);
    gap
}

fn summary(what: &str, gaps: &mut [Duration]) {
    println!("{what} {}", testkit::bench::min_median_max(gaps));
}

#[tokio::main]
async fn main() {
    let trials: usize = testkit::bench::env_or("FAILOVER_TRIALS", 10);
    let mut cluster = Cluster::start_on_venues(&testkit::services::redis_url(), 1, 1).await;
    let mut socket = cluster.socket(0, None).await;
    let all = ["kraken", "coinbase", "bitstamp"];
    wait_for(&mut socket, &all, Duration::from_secs(15))
        .await
        .expect("a price from all three venues");
    let (mut killed, mut silenced) = (Vec::new(), Vec::new());
    for trial in 1..=trials {
        let (without, name) = if trial % 2 == 1 {
            (["kraken", "bitstamp"], "coinbase")
        } else {
            (["kraken", "coinbase"], "bitstamp")
        };
        let Some((coinbase, bitstamp)) = cluster.venues.as_mut() else {
            panic!("the cluster runs on venues");
        };
        let venue = if trial % 2 == 1 { coinbase } else { bitstamp };
        let start = Instant::now();
        venue.stop();
        let got = wait_for(&mut socket, &without, Duration::from_secs(10))
            .await
            .expect("the price without the killed venue");
        killed.push(gap(&format!("kill {name} (trial {trial})"), start, got));
        venue.restart().await.expect("the venue comes back");
        wait_for(&mut socket, &all, Duration::from_secs(15))
            .await
            .expect("the venue back in the price");
    }
    for trial in 1..=trials {
        let Some((coinbase, _)) = cluster.venues.as_ref() else {
            panic!("the cluster runs on venues");
        };
        let start = Instant::now();
        coinbase.set_silent(true);
        let got = wait_for(
            &mut socket,
            &["kraken", "bitstamp"],
            Duration::from_secs(10),
        )
        .await
        .expect("the price without the silent venue");
        silenced.push(gap(
            &format!("silence coinbase (trial {trial})"),
            start,
            got,
        ));
        coinbase.set_silent(false);
        coinbase.drop_connections();
        wait_for(&mut socket, &all, Duration::from_secs(15))
            .await
            .expect("coinbase back in the price");
    }
    summary(
        "killed venue → price without it at a Socket.IO client",
        &mut killed,
    );
    summary(
        "silent venue → price without it (VENUE_STALE_MS 1500)",
        &mut silenced,
    );
    socket.close().await;
    cluster.stop().await;
}
