//! Socket.IO fan-out: freshness, CPU per delivery and memory per connection, for rategate and
//! for a socketioxide floor of our own, side by side under one harness.
//!
//! ```text
//! ulimit -n 65536
//! cargo bench -p user-api-svc --bench socket_fanout                      # everything
//! BENCH_MODE=latency|capacity|mix|memory|instructions|nodes BENCH_SERVER=rategate|floor ...
//! BENCH_MODE=nodes BENCH_NODE_CORES=0,0 ...                              # one node vs two
//! BENCH_CLIENTS=2500,5000,10000 BENCH_SECS=10 ...                         # capacity steps
//! BENCH_TARGET=127.0.0.1:8080 BENCH_CLIENTS=2000 ...                      # idle clients only
//! BENCH_SERVER_BIN=/tmp/user-api-svc-before BENCH_SERVER=rategate ...     # another build
//! ```
//!
//! The harness publishes straight on `{prefix}rates` through the same Redis sink as
//! exchange-rate-svc (no exchange, no feed in the loop), starts the server as its own process
//! pinned to core 0 (`taskset -c 0`) and pins itself (publisher + clients) to core 1. The
//! server is either user-api-svc or the floor (`floor::floor_server`: the same axum +
//! socketioxide with our buffer settings, one namespace-wide `emit` per tick, no application
//! logic), run from this very binary with `BENCH_ROLE=floor`.
//!
//! A client's age of a value is publish → receive (same clock); a message carrying several
//! pairs counts each pair. CPU per delivery is the server's CPU time over the messages the
//! clients received. The clients speak Engine.IO v4 / Socket.IO v5 over WebSocket (what the
//! browser speaks) with a frame reader that does no more than split frames, so that 10,000
//! of them fit on one core.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::process::{Child, Command};

mod floor;
mod publish;

use testkit::bench::{cpu_secs, PAIRS};

const SHARDS: usize = 64;
/// One client in this many records ages (all count messages).
const SAMPLE: usize = 8;

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
        if let Some(t) = exchange_rate_svc::venues::kraken::wire::parse_timestamp(&rest[..end]) {
            out.push((now - t.timestamp_micros()).max(1) as u64);
        }
        rest = &rest[end..];
    }
}

/// One client frame: text, FIN, masked with a zero key (legal, and the bytes stay readable).
fn client_frame(text: &str) -> Vec<u8> {
    let len = text.len();
    let mut out = vec![0x81];
    if len < 126 {
        out.push(0x80 | len as u8);
    } else {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(text.as_bytes());
    out
}

/// The next complete server frame in `buf` (unmasked, as servers send): its payload range and
/// total length; `None` until enough bytes are in.
fn next_frame(buf: &[u8]) -> Option<(std::ops::Range<usize>, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let (len, head) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b) as usize, 10)
        }
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    (buf.len() >= head + len).then_some((head..head + len, head + len))
}

/// A lean Engine.IO v4 / Socket.IO v5 client over a raw WebSocket: it answers pings, may
/// subscribe, counts `rates:live` messages and, for one client in [`SAMPLE`], records the age
/// of every value. Frames are split by their headers and never copied or validated: ten
/// thousand clients must cost the load generator less than they cost the server.
async fn client(
    addr: String,
    subscribe: Option<String>,
    stats: Arc<Stats>,
    shard: usize,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut tcp) = tokio::net::TcpStream::connect(&addr).await else {
        return;
    };
    let request = format!(
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    if tcp.write_all(request.as_bytes()).await.is_err() {
        return;
    }
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut upgraded = false;
    let mut ages_buf = Vec::new();
    let mut stop = stop;
    loop {
        let n = tokio::select! {
            _ = stop.changed() => break,
            n = tcp.read(&mut chunk) => match n { Ok(0) | Err(_) => break, Ok(n) => n },
        };
        buf.extend_from_slice(&chunk[..n]);
        if !upgraded {
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            buf.drain(..end + 4);
            upgraded = true;
        }
        let mut used = 0;
        let mut replies: Vec<u8> = Vec::new();
        while let Some((payload, len)) = next_frame(&buf[used..]) {
            let text = &buf[used + payload.start..used + payload.end];
            if text == b"2" {
                replies.extend(client_frame("3"));
            } else if text.first() == Some(&b'0') {
                replies.extend(client_frame("40"));
            } else if text.starts_with(b"40") {
                if let Some(pairs) = &subscribe {
                    replies.extend(client_frame(&format!("42[\"rates:subscribe\",{pairs}]")));
                }
                stats.connected.fetch_add(1, Ordering::Relaxed);
            } else if text.starts_with(b"42") && stats.recording.load(Ordering::Relaxed) {
                stats.messages.fetch_add(1, Ordering::Relaxed);
                if shard % SAMPLE == 0 {
                    ages_buf.clear();
                    ages(&String::from_utf8_lossy(text), micros_now(), &mut ages_buf);
                    let mut h = stats.hist[shard].lock().unwrap();
                    for a in &ages_buf {
                        let _ = h.record(*a);
                    }
                }
            }
            used += len;
        }
        buf.drain(..used);
        if !replies.is_empty() && tcp.write_all(&replies).await.is_err() {
            break;
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

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Server {
    Rategate,
    Floor,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Rategate => "rategate",
            Server::Floor => "socketioxide floor",
        }
    }
}

struct Running {
    child: Child,
    pid: u32,
    base: String,
    prefix: String,
    db: String,
}

/// Starts `server` on core 0 under a fresh bus prefix and waits until it answers. The floor
/// sends each tick at once (`window_ms` 0) or the newest value per pair once per window, as
/// rategate does under load, so that both send messages of the same size.
async fn start(server: Server, pairs: &[&str], window_ms: u64) -> Running {
    start_under(server, pairs, window_ms, &[]).await
}

/// [`start`], with the server run under `tool` (a command and its arguments, e.g. valgrind).
async fn start_under(server: Server, pairs: &[&str], window_ms: u64, tool: &[String]) -> Running {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("bench:{id}:");
    let db = format!("rg_bench_{}", &id[..12]);
    start_node(server, pairs, window_ms, tool, "0", &prefix, &db).await
}

/// One server process pinned to `core`, on bus `prefix` and database `db` (several nodes
/// share both).
async fn start_node(
    server: Server,
    pairs: &[&str],
    window_ms: u64,
    tool: &[String],
    core: &str,
    prefix: &str,
    db: &str,
) -> Running {
    let (prefix, db) = (prefix.to_string(), db.to_string());
    let port = testkit::http::free_port();
    let exe = match server {
        // BENCH_SERVER_BIN: another user-api-svc build (an earlier commit, for a before/after).
        Server::Rategate => std::env::var("BENCH_SERVER_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_user-api-svc").to_string()),
        Server::Floor => std::env::current_exe().unwrap().display().to_string(),
    };
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", core])
        .args(tool)
        .arg(&exe)
        .env(
            "BENCH_ROLE",
            if server == Server::Floor { "floor" } else { "" },
        )
        .env("REDIS_URL", testkit::services::redis_url())
        .env("REDIS_PREFIX", &prefix)
        .env(
            "DATABASE_URL",
            format!("{}/{db}", testkit::services::mysql_base()),
        )
        .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("JWT_SECRET", "bench-secret-bench-secret-bench-secret-00")
        // Every bench client comes from 127.0.0.1: the session caps would stop it at 1,000.
        .env("SOCKET_SESSIONS_MAX", "100000")
        .env("SOCKET_SESSIONS_PER_IP", "100000")
        .env("PAIRS", pairs.join(","))
        .env("FLOOR_WINDOW_MS", window_ms.to_string())
        .env(
            "RUST_LOG",
            std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .kill_on_drop(true);
    let child = cmd.spawn().expect("taskset and the server binary");
    // `taskset` execs the server in place: its pid is the server's.
    let pid = child.id().unwrap_or(0);
    let base = format!("127.0.0.1:{port}");
    let http = reqwest::Client::new();
    // Up to a minute: under valgrind the start (migrations included) is slow.
    for _ in 0..600 {
        if http
            .get(format!("http://{base}/ready"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Running {
        child,
        pid,
        base,
        prefix,
        db,
    }
}

async fn stop(mut r: Running) {
    let _ = r.child.kill().await;
    testkit::services::drop_database(&r.db).await;
}

/// Connects `n` more clients (200 handshakes at a time) and waits until they have joined.
/// `subscribe` picks each client's pairs (`None`: every pair).
async fn connect_clients(
    base: &str,
    n: usize,
    stats: &Arc<Stats>,
    stop: &tokio::sync::watch::Receiver<bool>,
    offset: usize,
    subscribe: impl Fn(usize) -> Option<String>,
) {
    let url = base.to_string();
    let target = stats.connected.load(Ordering::Relaxed) + n as u64;
    let sem = Arc::new(tokio::sync::Semaphore::new(200));
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let (url, stats, stop) = (url.clone(), stats.clone(), stop.clone());
        let pairs = subscribe(offset + i);
        tokio::spawn(async move {
            let s2 = stats.clone();
            let before = s2.connected.load(Ordering::Relaxed);
            let task = tokio::spawn(client(url, pairs, stats, (offset + i) % SHARDS, stop));
            // Hold the permit only for the handshake.
            let t0 = Instant::now();
            while s2.connected.load(Ordering::Relaxed) == before
                && t0.elapsed() < Duration::from_secs(5)
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            drop(permit);
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

struct Measured {
    hist: Histogram<u64>,
    msgs_per_sec: f64,
    server_cpu_pct: f64,
    bench_cpu_pct: f64,
}

impl Measured {
    /// Server CPU µs per message delivered.
    fn cpu_us_per_delivery(&self) -> f64 {
        self.server_cpu_pct / 100.0 * 1e6 / self.msgs_per_sec.max(1.0)
    }
    fn line(&self) -> String {
        let h = &self.hist;
        format!(
            "{:.0} msgs/s delivered; age p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms; server CPU {:.0} % of a core = {:.2} µs per delivery; load generator {:.0} %",
            self.msgs_per_sec,
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
            self.server_cpu_pct,
            self.cpu_us_per_delivery(),
            self.bench_cpu_pct
        )
    }
}

/// Measures for `secs`: the clients' ages, the messages they got, the CPU both sides used.
async fn measure(stats: &Arc<Stats>, secs: u64, server_pid: u32) -> Measured {
    measure_nodes(stats, secs, &[server_pid]).await
}

/// [`measure`], the servers' CPU summed over several nodes.
async fn measure_nodes(stats: &Arc<Stats>, secs: u64, server_pids: &[u32]) -> Measured {
    let servers_cpu = || {
        server_pids
            .iter()
            .map(|pid| cpu_secs(&pid.to_string()))
            .sum::<f64>()
    };
    stats.reset();
    let (s0, b0) = (servers_cpu(), cpu_secs("self"));
    stats.recording.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stats.recording.store(false, Ordering::Relaxed);
    let (s1, b1) = (servers_cpu(), cpu_secs("self"));
    Measured {
        hist: stats.merged(),
        msgs_per_sec: stats.messages.load(Ordering::Relaxed) as f64 / secs as f64,
        server_cpu_pct: (s1 - s0) / secs as f64 * 100.0,
        bench_cpu_pct: (b1 - b0) / secs as f64 * 100.0,
    }
}

/// A summary's p99 from the server's `/metrics`, in ms.
async fn p99_ms(base: &str, metric: &str) -> Option<f64> {
    let text = reqwest::get(format!("http://{base}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let prefix = format!("{metric}{{quantile=\"0.99\"}}");
    text.lines()
        .find(|l| l.starts_with(&prefix))
        .and_then(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .map(|s| s * 1000.0)
}

/// The in-server fan-out p99s: bus message in → last write queued (window wait included),
/// and the send alone.
async fn fanout_p99(base: &str) -> String {
    match (
        p99_ms(base, "rategate_fanout_seconds").await,
        p99_ms(base, "rategate_fanout_send_seconds").await,
    ) {
        (Some(all), Some(send)) => {
            format!("; in-server fan-out p99 {all:.1} ms (the send alone {send:.1} ms)")
        }
        (Some(all), None) => format!("; in-server fan-out p99 {all:.1} ms"),
        _ => String::new(),
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn servers() -> Vec<Server> {
    match std::env::var("BENCH_SERVER").as_deref() {
        Ok("rategate") => vec![Server::Rategate],
        Ok("floor") => vec![Server::Floor],
        _ => vec![Server::Rategate, Server::Floor],
    }
}

/// (a) Freshness at low load: 100 clients, one pair at 100 ticks/s.
async fn latency(server: Server, secs: u64) {
    let pairs = &PAIRS[..1];
    let r = start(server, pairs, 0).await;
    let stats = Stats::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let publisher = publish::publish(&r.prefix, pairs, 100);
    connect_clients(&r.base, 100, &stats, &stop_rx, 0, |_| None).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let m = measure(&stats, secs, r.pid).await;
    println!(
        "(a) {}: 100 clients x 100 ticks/s, 1 pair: {}",
        server.name(),
        m.line()
    );
    drop(publisher);
    let _ = stop_tx.send(true);
    stop(r).await;
}

/// 20 pairs x 10 ticks/s to clients added in `steps`, each subscribed as `subscribe` says:
/// (b) capacity, every client on every pair; (c) the realistic mix.
async fn conflated(
    label: &str,
    server: Server,
    steps: &[usize],
    secs: u64,
    subscribe: fn(usize) -> Option<String>,
) {
    let r = start(server, PAIRS, 50).await;
    let stats = Stats::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let publisher = publish::publish(&r.prefix, PAIRS, 10);
    let mut have = 0;
    for &n in steps {
        connect_clients(&r.base, n - have, &stats, &stop_rx, have, subscribe).await;
        have = n;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let m = measure(&stats, secs, r.pid).await;
        let fanout = fanout_p99(&r.base).await;
        println!(
            "{label} {}: 20 pairs x 10 Hz, {} clients: {}{fanout}; RSS {} MiB",
            server.name(),
            stats.connected.load(Ordering::Relaxed),
            m.line(),
            rss_kib(r.pid) / 1024
        );
    }
    drop(publisher);
    let _ = stop_tx.send(true);
    stop(r).await;
}

/// (f) The same load served by one user-api-svc node and by two on one bus and database, the
/// clients split evenly: 20 pairs x 10 Hz to every client. The nodes are pinned to
/// `BENCH_NODE_CORES` (default `0,0`: both on the server core, the same CPU budget as one node,
/// so the figures show what a second node costs; `0,1` gives the second node the load
/// generator's core as well).
async fn nodes(steps: &[usize], secs: u64) {
    let cores: Vec<String> = std::env::var("BENCH_NODE_CORES")
        .unwrap_or_else(|_| "0,0".into())
        .split(',')
        .map(|c| c.trim().to_string())
        .collect();
    for count in [1usize, 2] {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (prefix, db) = (format!("bench:{id}:"), format!("rg_bench_{}", &id[..12]));
        let mut running = Vec::new();
        for n in 0..count {
            let core = cores.get(n).map(String::as_str).unwrap_or("0");
            running.push(start_node(Server::Rategate, PAIRS, 50, &[], core, &prefix, &db).await);
        }
        let pids: Vec<u32> = running.iter().map(|r| r.pid).collect();
        let stats = Stats::new();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let publisher = publish::publish(&prefix, PAIRS, 10);
        let mut have = 0;
        for &n in steps {
            // The new clients split evenly over the nodes.
            let share = (n - have) / count;
            for (i, r) in running.iter().enumerate() {
                let extra = if i + 1 == count {
                    n - have - share * i
                } else {
                    share
                };
                connect_clients(&r.base, extra, &stats, &stop_rx, have + share * i, |_| None).await;
            }
            have = n;
            tokio::time::sleep(Duration::from_secs(2)).await;
            let m = measure_nodes(&stats, secs, &pids).await;
            let rss: u64 = pids.iter().map(|p| rss_kib(*p)).sum();
            println!(
                "(f) {count} node(s) on cores {}: 20 pairs x 10 Hz, {} clients: {}; RSS {} MiB in all",
                cores[..count.min(cores.len())].join(","),
                stats.connected.load(Ordering::Relaxed),
                m.line(),
                rss / 1024
            );
        }
        drop(publisher);
        let _ = stop_tx.send(true);
        for r in running {
            stop(r).await;
        }
    }
}

/// Client `i`'s 3 pairs of the 20, a fixed pseudo-random choice so that runs repeat.
fn three_random_pairs(i: usize) -> Option<String> {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut chosen = std::collections::BTreeSet::new();
    while chosen.len() < 3 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chosen.insert(PAIRS[(x % PAIRS.len() as u64) as usize]);
    }
    let names: Vec<String> = chosen.iter().map(|p| format!("\"{p}\"")).collect();
    Some(format!("[{}]", names.join(",")))
}

/// (d) Memory per idle connection.
async fn memory(server: Server, n: usize) {
    let r = start(server, PAIRS, 0).await;
    let stats = Stats::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // A few clients first so lazy per-process allocations are not billed to the n.
    connect_clients(&r.base, 10, &stats, &stop_rx, 0, |_| None).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(r.pid);
    connect_clients(&r.base, n, &stats, &stop_rx, 10, |_| None).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib(r.pid);
    let connected = stats.connected.load(Ordering::Relaxed) - 10;
    println!(
        "(d) {}: {connected} idle connections: RSS {before} KiB -> {after} KiB = {:.1} KiB per connection",
        server.name(),
        after.saturating_sub(before) as f64 / connected.max(1) as f64
    );
    let _ = stop_tx.send(true);
    stop(r).await;
}

/// (e) Instructions per delivery, in user space, counted by callgrind (they repeat where wall
/// time does not; `perf stat -e instructions` is not available in every VM): 20 clients, one
/// pair at 100 ticks/s, counted only while the clients record.
async fn instructions(server: Server, secs: u64) {
    let valgrind = Command::new("valgrind").arg("--version").output().await;
    if !valgrind.is_ok_and(|o| o.status.success()) {
        println!("(e) {}: skipped, valgrind is not installed", server.name());
        return;
    }
    let out = std::env::temp_dir().join(format!(
        "rategate-callgrind-{}.out",
        uuid::Uuid::new_v4().simple()
    ));
    let tool = [
        "valgrind".to_string(),
        "--tool=callgrind".to_string(),
        "--instr-atstart=no".to_string(),
        format!("--callgrind-out-file={}", out.display()),
    ];
    let pairs = &PAIRS[..1];
    let r = start_under(server, pairs, 0, &tool).await;
    let stats = Stats::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let publisher = publish::publish(&r.prefix, pairs, 100);
    connect_clients(&r.base, 20, &stats, &stop_rx, 0, |_| None).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let control = |arg: &'static str| {
        let pid = r.pid.to_string();
        async move {
            let _ = Command::new("callgrind_control")
                .args([arg, &pid])
                .output()
                .await;
        }
    };
    control("--instr=on").await;
    let m = measure(&stats, secs, r.pid).await;
    control("--instr=off").await;
    control("--dump").await;
    let deliveries = m.msgs_per_sec * secs as f64;
    let mut total = 0u64;
    let dir = out
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let stem = out
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with(&stem) {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            total += text
                .lines()
                .find_map(|l| l.strip_prefix("totals: "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
            let _ = std::fs::remove_file(entry.path());
        }
    }
    println!(
        "(e) {}: {total} instructions for {deliveries:.0} deliveries = {:.0} per delivery (callgrind, user space; 20 clients, 1 pair at 100/s)",
        server.name(),
        total as f64 / deliveries.max(1.0)
    );
    drop(publisher);
    let _ = stop_tx.send(true);
    stop(r).await;
}

/// Pins this process (all its threads, and the ones it starts) to core 1.
fn pin_to_core_1() {
    let pid = std::process::id().to_string();
    match std::process::Command::new("taskset")
        .args(["-a", "-pc", "1", &pid])
        .output()
    {
        Ok(out) if out.status.success() => {}
        _ => eprintln!("warning: could not pin the load generator to core 1 (taskset)"),
    }
}

fn main() {
    if std::env::var("BENCH_ROLE").as_deref() == Ok("floor") {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(floor::floor_server());
        return;
    }
    pin_to_core_1();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        common::tls::install_crypto_provider();
        let mode = std::env::var("BENCH_MODE").unwrap_or_else(|_| "all".into());
        let secs: u64 = std::env::var("BENCH_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10);
        let steps: Vec<usize> = std::env::var("BENCH_CLIENTS")
            .unwrap_or_else(|_| "2500,5000,10000".into())
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        if let Ok(target) = std::env::var("BENCH_TARGET") {
            // Clients only, against a server started by hand (under heaptrack, say): hold
            // BENCH_CLIENTS idle connections for BENCH_SECS.
            let n = *steps.last().unwrap_or(&1_000);
            let stats = Stats::new();
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            connect_clients(&target, n, &stats, &stop_rx, 0, |_| None).await;
            println!(
                "{} clients connected to {target}",
                stats.connected.load(Ordering::Relaxed)
            );
            // BENCH_TARGET_PREFIX: also publish one pair at 100 ticks/s on that bus prefix and
            // count what the clients get (for callgrind: instructions per delivery).
            let publisher = std::env::var("BENCH_TARGET_PREFIX")
                .ok()
                .map(|prefix| publish::publish(&prefix, &PAIRS[..1], 100));
            tokio::time::sleep(Duration::from_secs(2)).await;
            let m = measure(&stats, secs, 0).await;
            println!("{:.0} msgs/s received for {secs} s", m.msgs_per_sec);
            drop(publisher);
            let _ = stop_tx.send(true);
            return;
        }
        let all = mode == "all";
        for server in servers() {
            if all || mode == "latency" {
                latency(server, secs).await;
            }
            if all || mode == "capacity" {
                conflated("(b) on all pairs,", server, &steps, secs, |_| None).await;
            }
            if (all || mode == "mix") && server == Server::Rategate {
                conflated(
                    "(c) on 3 random pairs,",
                    server,
                    &[5_000],
                    secs,
                    three_random_pairs,
                )
                .await;
            }
            if all || mode == "memory" {
                memory(server, *steps.last().unwrap_or(&10_000)).await;
            }
            if all || mode == "instructions" {
                instructions(server, secs).await;
            }
        }
        if all || mode == "nodes" {
            nodes(&steps, secs).await;
        }
    });
}
