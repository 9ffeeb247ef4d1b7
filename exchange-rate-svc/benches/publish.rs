//! End-to-end publish rate: kraken-mock → exchange-rate-svc → Redis → a subscriber.
//!
//! `cargo bench -p exchange-rate-svc --bench publish`
//! (env: `BENCH_RATE` ticks/s, default 100000; `BENCH_SECS`, default 10; `BENCH_PAIRS`, default
//! 10; `REDIS_URL`; `BENCH_REDIS=cluster` for a six-node Redis Cluster the bench starts, three
//! masters). The mock generates ticks at the given rate over a real WebSocket; the service
//! parses, validates and publishes them to Redis; a subscriber counts what arrives and checks
//! `seq` for gaps (over every pair's shard channel on the cluster, where pairs on different
//! shards interleave, so the check is that every `seq` of the window arrived). Nothing dropped
//! means: no `seq` missing, no frame the mock could not send, no tick the service published
//! only as part of a resync. Redis's CPU per tick is read from `/proc` (every master on the
//! cluster; the local `redis-server` on one Redis).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use exchange_rate_svc::{Application, Config};
use fred::prelude::*;
use kraken_mock::{MockConfig, MockKraken};

const SYMBOLS: &[&str] = &[
    "BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD", "ADA/USD", "DOGE/USD", "LTC/USD", "USDT/USD",
    "ALGO/USD", "DOT/USD", "LINK/USD", "AVAX/USD", "ATOM/USD", "XLM/USD", "UNI/USD", "BCH/USD",
    "ETC/USD", "FIL/USD", "AAVE/USD", "NEAR/USD",
];

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seq_of(msg: &str) -> Option<u64> {
    let at = msg.find("\"seq\":")? + 6;
    let digits: String = msg[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

#[tokio::main]
async fn main() {
    let rate = env_u64("BENCH_RATE", 100_000);
    let secs = env_u64("BENCH_SECS", 10);
    let npairs = env_u64("BENCH_PAIRS", 10).clamp(1, SYMBOLS.len() as u64) as usize;
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let pairs: Vec<String> = SYMBOLS[..npairs].iter().map(|s| s.to_string()).collect();
    let on_cluster = std::env::var("BENCH_REDIS").is_ok_and(|v| v == "cluster");
    let cluster = if on_cluster {
        Some(testkit::redis_cluster::RedisCluster::start().await)
    } else {
        None
    };

    let mock = MockKraken::start(MockConfig {
        pairs: pairs.clone(),
        rate,
        ..MockConfig::default()
    })
    .await
    .expect("mock");
    let prefix = format!("bench:{}:", uuid::Uuid::new_v4().simple());
    let mut config = Config::local();
    config.redis_url = redis_url.clone();
    config.redis_cluster_nodes = cluster.as_ref().map(|c| c.seeds());
    config.redis_prefix = prefix.clone();
    config.http_addr = "127.0.0.1:0".parse().unwrap();
    config.kraken_ws_url = mock.ws_url();
    config.kraken_rest_url = mock.rest_url();
    config.pairs = common::Pair::parse_list(&pairs.join(",")).unwrap();
    // Ticks through the ticker path: this measures parse → publish, not consolidation.
    config.rates_from = exchange_rate_svc::config::RatesFrom::Ticker;
    let target = config.redis_target().unwrap();
    let keys = target.keys(&prefix).unwrap();

    // Subscribe before the service starts, so the first tick is counted too.
    let sub = common::bus::redis::client_builder(&target, Duration::from_secs(5))
        .unwrap()
        .with_performance_config(|p| p.broadcast_channel_capacity = 1 << 18)
        .build_subscriber_client()
        .unwrap();
    sub.init().await.expect("Redis must be running");
    let seqs = Arc::new(Mutex::new(Vec::<u64>::with_capacity(1 << 22)));
    let sub_lagged = Arc::new(AtomicU64::new(0));
    let mut rx = sub.message_rx();
    if on_cluster {
        for pair in &config.pairs {
            sub.ssubscribe(keys.pair_rates(pair)).await.unwrap();
        }
    } else {
        sub.subscribe(keys.rates()).await.unwrap();
    }
    {
        let (seqs, sub_lagged) = (seqs.clone(), sub_lagged.clone());
        tokio::spawn(async move {
            loop {
                let m = match rx.recv().await {
                    Ok(m) => m,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        // The bench's own subscriber fell behind: not the service's loss.
                        sub_lagged.fetch_add(n, Ordering::Relaxed);
                        continue;
                    }
                    Err(_) => break,
                };
                let text: String = m.value.convert().unwrap_or_default();
                if let Some(seq) = seq_of(&text) {
                    seqs.lock().unwrap().push(seq);
                }
            }
        });
    }
    let received = || seqs.lock().unwrap().len() as u64;
    // Redis's processes: every master of the cluster, or the local redis-server.
    let redis_pids: Vec<String> = match &cluster {
        Some(c) => {
            let mut pids = Vec::new();
            for m in c.masters().await {
                pids.extend(c.pid(m.port).map(|p| p.to_string()));
            }
            pids
        }
        None => std::process::Command::new("pgrep")
            .args(["-f", "redis-server .*:6379"])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    };
    let redis_cpu = || -> Vec<f64> {
        redis_pids
            .iter()
            .map(|p| testkit::bench::cpu_secs(p))
            .collect()
    };

    let app = Application::build(config).await.expect("service starts");
    // Warm up: connection, subscribe, Redis connect.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (r0, m0, c0, t0) = (received(), mock.stats(), redis_cpu(), Instant::now());
    let mut per_second = Vec::new();
    let mut prev = r0;
    for _ in 0..secs {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = received();
        per_second.push(now - prev);
        prev = now;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let (r1, m1, c1) = (received(), mock.stats(), redis_cpu());
    // Every seq from the window's lowest to its highest arrived (stragglers from either side of
    // the window count as arrived: they were only reordered across shards).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let gaps = {
        let all = seqs.lock().unwrap();
        let window = &all[r0 as usize..r1 as usize];
        let (lo, hi) = (
            window.iter().min().copied().unwrap_or(0),
            window.iter().max().copied().unwrap_or(0),
        );
        let seen: std::collections::HashSet<u64> = all
            .iter()
            .copied()
            .filter(|s| (lo..=hi).contains(s))
            .collect();
        (hi - lo + 1).saturating_sub(seen.len() as u64)
    };
    let status = app.feed().status_view();
    let got = (r1 - r0) as f64 / elapsed;
    let sent = (m1.frames_sent - m0.frames_sent) as f64 / elapsed;
    per_second.sort_unstable();
    let redis_name = if on_cluster {
        "a 3-master cluster"
    } else {
        "one Redis"
    };
    println!("pairs {npairs}, mock rate {rate}/s, {secs} s measured, on {redis_name}");
    println!(
        "  mock frames sent       {sent:>10.0}/s (lagged frames: {})",
        m1.frames_lagged
    );
    println!(
        "  received from Redis    {got:>10.0}/s (slowest second {}, fastest {})",
        per_second[0],
        per_second[per_second.len() - 1]
    );
    println!("  seqs missing           {gaps:>10} (during the measured window)");
    let per_tick = |secs: f64| secs * 1e6 / (r1 - r0).max(1) as f64;
    let used: Vec<f64> = c1.iter().zip(&c0).map(|(b, a)| b - a).collect();
    println!(
        "  Redis CPU              {:>10.2} µs per tick in all, {:.2} µs in the busiest of {} process(es)",
        per_tick(used.iter().sum()),
        per_tick(used.iter().copied().fold(0.0, f64::max)),
        redis_pids.len()
    );
    println!(
        "  subscriber-side lag    {:>10} (bench client too slow, not counted as loss)",
        sub_lagged.load(Ordering::Relaxed)
    );
    println!("  ticks dropped (invalid){:>10}", status.ticks_dropped);
    println!("  publish queue overflows{:>10}", status.queue_overflows);
    println!("  service seq            {:>10}", status.seq);
    let nothing_dropped = gaps == 0 && m1.frames_lagged == 0 && status.queue_overflows == 0;
    println!(
        "RESULT: {got:.0} ticks/s end to end, nothing dropped: {nothing_dropped} (target >= 100000/s)"
    );
    app.stop().await;
    mock.stop();
    if on_cluster {
        return;
    }
    let cleanup = Builder::from_config(fred::prelude::Config::from_url(&redis_url).unwrap())
        .build()
        .unwrap();
    if cleanup.init().await.is_ok() {
        let _: Result<i64, _> = cleanup
            .del(vec![
                format!("{prefix}rates:last"),
                format!("{prefix}status"),
                format!("{prefix}pairs"),
            ])
            .await;
    }
}
