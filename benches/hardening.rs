//! Floods an attacker can send, against the real all-in-one binary (`FEED=sim`, SQLite):
//! what they cost and what they leave behind.
//!
//! `cargo bench --bench hardening --no-run`, then `taskset -c 1 target/release/deps/hardening-*`
//! (the server runs on core 0, this load on core 1)
//! - `BENCH_MODE=sessions` (default): 20,000 Engine.IO long-polling handshakes from one address
//!   over 32 keep-alive connections; RSS of the server before, at the peak and once every
//!   session has expired (ping interval + timeout, 45 s); handshakes accepted and refused. Run
//!   once with the default caps and once with them lifted (`SOCKET_SESSIONS_PER_IP=100000`),
//!   which is what the server did before it had caps.
//! - `BENCH_MODE=quotes`: one trader floods `POST /api/quotes` from 32 loops for 10 s while
//!   another asks for one quote at a time; the flood's 201 / 429 counts and the other trader's
//!   latency (median, p99), beside the same trader alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

const ADMIN: (&str, &str) = ("bench-admin@rategate.test", "Bench-Admin-Passphrase-42");
const PASSWORD: &str = "correct horse battery staple";

struct Server {
    child: std::process::Child,
    base: String,
    _data: TempDir,
}

struct TempDir(std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

async fn start(env: &[(&str, &str)]) -> Server {
    let data = std::env::temp_dir().join(format!("rategate-hardening-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut cmd = std::process::Command::new("taskset");
    cmd.args(["-c", "0", env!("CARGO_BIN_EXE_rategate")])
        .env("FEED", "sim")
        .env("RATEGATE_DATA_DIR", &data)
        .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("ADMIN_EMAIL", ADMIN.0)
        .env("ADMIN_PASSWORD", ADMIN.1)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("taskset and the rategate binary");
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..300 {
        if reqwest::get(format!("{base}/api/rates"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Server {
        child,
        base,
        _data: TempDir(data),
    }
}

async fn sessions(caps: &str, env: &[(&str, &str)]) {
    let server = start(env).await;
    let pid = server.child.id();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = rss_mib(pid);
    let (ok, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();
    let url = format!("{}/socket.io/?EIO=4&transport=polling", server.base);
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (ok, refused, url) = (ok.clone(), refused.clone(), url.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .unwrap();
                for _ in 0..625 {
                    match http.get(&url).send().await {
                        Ok(r) if r.status() == 200 => {
                            let _ = r.bytes().await;
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => {
                            let _ = r.bytes().await;
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let flood = started.elapsed();
    let peak = rss_mib(pid);
    // Ping interval 25 s + ping timeout 20 s: every session that never answered has expired.
    tokio::time::sleep(Duration::from_secs(50)).await;
    let after = rss_mib(pid);
    println!(
        "sessions {caps}: 20000 handshakes in {:.1} s: {} accepted, {} refused; server RSS {before:.0} MiB before, {peak:.0} MiB at the peak, {after:.0} MiB 50 s later",
        flood.as_secs_f64(),
        ok.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
    );
    let mut child = server.child;
    let _ = child.kill();
    let _ = child.wait();
}

/// The access token of a login that must work (the client is shared, so connections are reused).
async fn login(http: &reqwest::Client, base: &str, email: &str, password: &str) -> String {
    let api = testkit::http::Api {
        http: http.clone(),
        base: base.to_string(),
    };
    api.token(email, password).await
}

async fn trader(http: &reqwest::Client, base: &str, admin: &str, email: &str) -> String {
    http.post(format!("{base}/api/auth/register"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    http.post(format!("{base}/api/admin/deposits"))
        .bearer_auth(admin)
        .json(&json!({"email": email, "asset": "USD", "amount": "1000000.00"}))
        .send()
        .await
        .unwrap();
    login(http, base, email, PASSWORD).await
}

/// One quote at a time for `secs`: latencies in µs, sorted.
async fn calm_quotes(http: &reqwest::Client, base: &str, token: &str, secs: u64) -> Vec<u64> {
    let body = json!({"pair": "BTC/USD", "side": "buy", "amount": "0.001"});
    let end = Instant::now() + Duration::from_secs(secs);
    let mut took = Vec::new();
    while Instant::now() < end {
        let t = Instant::now();
        let r = http
            .post(format!("{base}/api/quotes"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await;
        if let Ok(r) = r {
            let _ = r.bytes().await;
        }
        took.push(t.elapsed().as_micros() as u64);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    took.sort_unstable();
    took
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

async fn quotes() {
    let server = start(&[]).await;
    let http = reqwest::Client::new();
    let base = server.base.clone();
    let admin = login(&http, &base, ADMIN.0, ADMIN.1).await;
    let greedy = trader(&http, &base, &admin, "greedy@bench.test").await;
    let calm = trader(&http, &base, &admin, "calm@bench.test").await;
    let alone = calm_quotes(&http, &base, &calm, 5).await;
    let (created, throttled) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let stop = Instant::now() + Duration::from_secs(10);
    let flood: Vec<_> = (0..32)
        .map(|_| {
            let (created, throttled) = (created.clone(), throttled.clone());
            let (base, greedy) = (base.clone(), greedy.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let body = json!({"pair": "BTC/USD", "side": "buy", "amount": "0.001"});
                while Instant::now() < stop {
                    if let Ok(r) = http
                        .post(format!("{base}/api/quotes"))
                        .bearer_auth(&greedy)
                        .json(&body)
                        .send()
                        .await
                    {
                        match r.status().as_u16() {
                            201 => created.fetch_add(1, Ordering::Relaxed),
                            429 => throttled.fetch_add(1, Ordering::Relaxed),
                            _ => 0,
                        };
                        let _ = r.bytes().await;
                    }
                }
            })
        })
        .collect();
    let during = calm_quotes(&http, &base, &calm, 9).await;
    for t in flood {
        let _ = t.await;
    }
    println!(
        "quotes: the flood made {} quotes and was refused {} times (429) in 10 s; the other trader's quote alone: median {:.1} ms, p99 {:.1} ms; during the flood: median {:.1} ms, p99 {:.1} ms",
        created.load(Ordering::Relaxed),
        throttled.load(Ordering::Relaxed),
        pct(&alone, 0.5),
        pct(&alone, 0.99),
        pct(&during, 0.5),
        pct(&during, 0.99),
    );
    let mut child = server.child;
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::main]
async fn main() {
    common::tls::install_crypto_provider();
    match std::env::var("BENCH_MODE").as_deref() {
        Ok("quotes") => quotes().await,
        _ => {
            sessions("with the default caps (1,000 per address)", &[]).await;
            sessions(
                "with the caps lifted (as before)",
                &[
                    ("SOCKET_SESSIONS_PER_IP", "100000"),
                    ("SOCKET_SESSIONS_MAX", "100000"),
                ],
            )
            .await;
        }
    }
}
