//! Socket.IO latency, fan-out and memory through the whole chain:
//! kraken-mock → exchange-rate-svc → Redis → user-api-svc (its own process) → N clients.
//!
//! ```text
//! ulimit -n 65536
//! cargo bench -p user-api-svc --bench socket_fanout                 # all three
//! BENCH_MODE=latency|fanout|memory cargo bench -p user-api-svc --bench socket_fanout
//! BENCH_CLIENTS=1000,2500,5000,10000 BENCH_SECS=10 ...              # fan-out steps
//! ```
//!
//! Latency is tick-to-client: the mock stamps each ticker frame with its own clock
//! (`timestamp`), which travels as `ts` through the bus to `rates:live`; a client subtracts it
//! from its receive time (same machine, same clock). Payloads that carry several pairs (a
//! coalesced flush for a slow client) count each pair's age: what the client sees is that old.
//!
//! The clients are a lean Engine.IO v4 / Socket.IO v5 WebSocket client (the same protocol the
//! browser page speaks), so that 10,000 of them fit beside the server on two cores.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

mod support;

use support::{cpu_secs, PAIRS};

const SHARDS: usize = 64;

struct Stats {
    recording: AtomicBool,
    connected: AtomicU64,
    messages: AtomicU64,
    hist: Vec<Mutex<Histogram<u64>>>,
}

impl Stats {
    fn new() -> Arc<Stats> {
        Arc::new(Stats {
            recording: AtomicBool::new(false),
            connected: AtomicU64::new(0),
            messages: AtomicU64::new(0),
            hist: (0..SHARDS)
                .map(|_| Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3).unwrap()))
                .collect(),
        })
    }
    fn reset(&self) {
        for h in &self.hist {
            h.lock().unwrap().reset();
        }
        self.messages.store(0, Ordering::Relaxed);
    }
    fn merged(&self) -> Histogram<u64> {
        let mut all = Histogram::new_with_bounds(1, 60_000_000, 3).unwrap();
        for h in &self.hist {
            all.add(&*h.lock().unwrap()).unwrap();
        }
        all
    }
}

fn micros_now() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// `"ts":"2026-11-22T00:00:00.123456Z"` occurrences → their ages in µs.
fn ages(text: &str, now: i64, out: &mut Vec<u64>) {
    let mut rest = text;
    while let Some(i) = rest.find("\"ts\":\"") {
        rest = &rest[i + 6..];
        let Some(end) = rest.find('"') else { break };
        if let Some(t) = exchange_rate_svc::kraken::wire::parse_timestamp(&rest[..end]) {
            out.push((now - t.timestamp_micros()).max(1) as u64);
        }
        rest = &rest[end..];
    }
}

async fn client(
    url: String,
    stats: Arc<Stats>,
    shard: usize,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let Ok((ws, _)) = tokio_tungstenite::connect_async(url.as_str()).await else {
        return;
    };
    let (mut tx, mut rx) = ws.split();
    let mut stop = stop;
    let mut buf = Vec::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            msg = rx.next() => {
                let Some(Ok(Message::Text(t))) = msg else {
                    if matches!(msg, None | Some(Err(_))) { break } else { continue }
                };
                let t = t.as_str();
                if t == "2" {
                    let _ = tx.send(Message::text("3")).await;
                } else if t.starts_with('0') {
                    let _ = tx.send(Message::text("40")).await;
                } else if t.starts_with("40") {
                    stats.connected.fetch_add(1, Ordering::Relaxed);
                } else if t.starts_with("42") && stats.recording.load(Ordering::Relaxed) {
                    buf.clear();
                    ages(t, micros_now(), &mut buf);
                    stats.messages.fetch_add(1, Ordering::Relaxed);
                    let mut h = stats.hist[shard].lock().unwrap();
                    for a in &buf {
                        let _ = h.record(*a);
                    }
                }
            }
        }
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct Chain {
    upstream: support::Upstream,
    api: Child,
    api_pid: u32,
    base: String,
}

async fn start_chain(rate: u64) -> Chain {
    let upstream = support::upstream(rate).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let api = Command::new(env!("CARGO_BIN_EXE_user-api-svc"))
        .env("REDIS_URL", support::redis_url())
        .env("REDIS_PREFIX", &upstream.prefix)
        .env(
            "DATABASE_URL",
            format!("{}/{}", support::mysql_base(), upstream.db),
        )
        .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("JWT_SECRET", "bench-secret-bench-secret-bench-secret-00")
        .env("PAIRS", PAIRS.join(","))
        .env(
            "RUST_LOG",
            std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .kill_on_drop(true)
        .spawn()
        .expect("user-api-svc binary");
    let api_pid = api.id().unwrap_or(0);
    let base = format!("127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if http
            .get(format!("http://{base}/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Chain {
        upstream,
        api,
        api_pid,
        base,
    }
}

async fn stop_chain(mut c: Chain) {
    let _ = c.api.kill().await;
    c.upstream.stop().await;
}

/// Connects `n` more clients (200 handshakes at a time) and waits until they have joined.
async fn connect_clients(
    base: &str,
    n: usize,
    stats: &Arc<Stats>,
    stop: &tokio::sync::watch::Receiver<bool>,
    offset: usize,
) {
    let url = format!("ws://{base}/socket.io/?EIO=4&transport=websocket");
    let target = stats.connected.load(Ordering::Relaxed) + n as u64;
    let sem = Arc::new(tokio::sync::Semaphore::new(200));
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let (url, stats, stop) = (url.clone(), stats.clone(), stop.clone());
        tokio::spawn(async move {
            let _permit = permit;
            // hold the permit only for the handshake
            let s2 = stats.clone();
            let before = s2.connected.load(Ordering::Relaxed);
            let task = tokio::spawn(client(url, stats, (offset + i) % SHARDS, stop));
            let t0 = Instant::now();
            while s2.connected.load(Ordering::Relaxed) == before
                && t0.elapsed() < Duration::from_secs(5)
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            drop(_permit);
            let _ = task.await;
        });
    }
    let t0 = Instant::now();
    while stats.connected.load(Ordering::Relaxed) < target
        && t0.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Measures for `secs`; also returns the CPU share (of one core) used by the server process
/// and by this process (mock, exchange-rate-svc and the clients).
async fn measure(
    stats: &Arc<Stats>,
    secs: u64,
    server_pid: u32,
) -> (Histogram<u64>, f64, f64, f64) {
    stats.reset();
    let (s0, b0) = (cpu_secs(&server_pid.to_string()), cpu_secs("self"));
    stats.recording.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stats.recording.store(false, Ordering::Relaxed);
    let (s1, b1) = (cpu_secs(&server_pid.to_string()), cpu_secs("self"));
    let msgs = stats.messages.load(Ordering::Relaxed) as f64 / secs as f64;
    (
        stats.merged(),
        msgs,
        (s1 - s0) / secs as f64 * 100.0,
        (b1 - b0) / secs as f64 * 100.0,
    )
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

async fn latency(secs: u64) {
    let chain = start_chain(100).await;
    let stats = Stats::new();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    connect_clients(&chain.base, 100, &stats, &stop, 0).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (h, msgs, server_cpu, bench_cpu) = measure(&stats, secs, chain.api_pid).await;
    println!("    cpu: user-api-svc {server_cpu:.0} %, bench process (mock + feed + clients) {bench_cpu:.0} %");
    println!(
        "(a) latency: 20 pairs, 100 ticks/s, 100 clients, {secs} s: {} samples, {msgs:.0} msgs/s received; \
         p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms (target p99 <= 5 ms)",
        h.len(), ms(h.value_at_quantile(0.5)), ms(h.value_at_quantile(0.9)), ms(h.value_at_quantile(0.99)),
        ms(h.value_at_quantile(0.999)), ms(h.max())
    );
    let _ = stop_tx.send(true);
    stop_chain(chain).await;
}

async fn fanout(steps: &[usize], secs: u64) {
    let chain = start_chain(200).await;
    let stats = Stats::new();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut have = 0;
    let mut best = 0;
    for &n in steps {
        connect_clients(&chain.base, n - have, &stats, &stop, have).await;
        have = n;
        let connected = stats.connected.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (h, msgs, server_cpu, bench_cpu) = measure(&stats, secs, chain.api_pid).await;
        println!("    cpu: user-api-svc {server_cpu:.0} %, bench process (mock + feed + clients) {bench_cpu:.0} %");
        let p99 = ms(h.value_at_quantile(0.99));
        if p99 <= 100.0 {
            best = n;
        }
        println!(
            "(b) fan-out: 20 pairs x 10 ticks/s, {connected} clients on all pairs: {msgs:.0} msgs/s delivered \
             ({:.1} per client per s); p50 {:.1} ms, p99 {p99:.1} ms, max {:.1} ms; server RSS {} MiB",
            msgs / connected.max(1) as f64, ms(h.value_at_quantile(0.5)), ms(h.max()), rss_kib(chain.api_pid) / 1024
        );
    }
    println!("(b) largest client count with p99 <= 100 ms: {best} (target >= 10000)");
    let _ = stop_tx.send(true);
    stop_chain(chain).await;
}

async fn memory(n: usize) {
    let chain = start_chain(0).await;
    let stats = Stats::new();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    // One client first so lazy per-process allocations are not billed to the 10,000.
    connect_clients(&chain.base, 10, &stats, &stop, 0).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(chain.api_pid);
    connect_clients(&chain.base, n, &stats, &stop, 10).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib(chain.api_pid);
    let connected = stats.connected.load(Ordering::Relaxed) - 10;
    println!(
        "(c) memory: {connected} idle connections: server RSS {before} KiB -> {after} KiB = {:.1} KiB per connection (target <= 20 KiB)",
        (after.saturating_sub(before)) as f64 / connected.max(1) as f64
    );
    let _ = stop_tx.send(true);
    stop_chain(chain).await;
}

#[tokio::main]
async fn main() {
    let mode = std::env::var("BENCH_MODE").unwrap_or_else(|_| "all".into());
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let steps: Vec<usize> = std::env::var("BENCH_CLIENTS")
        .unwrap_or_else(|_| "1000,2500,5000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    if mode == "latency" || mode == "all" {
        latency(secs).await;
    }
    if mode == "fanout" || mode == "all" {
        fanout(&steps, secs).await;
    }
    if mode == "memory" || mode == "all" {
        memory(*steps.last().unwrap_or(&10_000)).await;
    }
}
