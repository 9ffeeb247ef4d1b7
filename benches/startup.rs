//! Startup of the all-in-one binary, measured from outside like a user would see it.
//!
//! For each run: a fresh data directory and a mock Kraken (real WebSocket, no ticks until told),
//! then the release `rategate` binary is spawned with no `REDIS_URL` and no `DATABASE_URL`
//! (in-process bus, SQLite). Recorded per run:
//! - spawn → HTTP listening (includes creating the SQLite file and hashing the bootstrapped
//!   admin's password with argon2id);
//! - spawn → subscribed upstream;
//! - the feed's first tick → the first `GET /api/rates/BTC_USD` that serves it (the target:
//!   under a second), and → the first one that serves it as fresh (`stale: false`).
//!
//! Run: `cargo bench --bench startup` (set `STARTUP_RUNS`, default 10).

use std::process::Stdio;
use std::time::{Duration, Instant};

use kraken_mock::{MockConfig, MockKraken};

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn report(name: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{name:<40} min {:>10}  median {:>10}  max {:>10}",
        ms(v[0]),
        ms(pct(&v, 0.5)),
        ms(v[v.len() - 1])
    );
}

async fn run_once(http: &reqwest::Client, n: usize) -> [Duration; 4] {
    let mock = MockKraken::start(MockConfig {
        pairs: vec!["BTC/USD".into(), "ETH/USD".into()],
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let data = std::env::temp_dir().join(format!("rategate-startup-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let port = testkit::http::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let spawned = Instant::now();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rategate"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RATEGATE_DATA_DIR", &data)
        .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("KRAKEN_WS_URL", mock.ws_url())
        .env("RATES_FROM", "ticker")
        .env("KRAKEN_REST_URL", mock.rest_url())
        .env("PAIRS", "BTC/USD,ETH/USD")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the rategate binary");
    let deadline = spawned + Duration::from_secs(30);
    let listening = loop {
        if http.get(format!("{base}/health")).send().await.is_ok() {
            break spawned.elapsed();
        }
        assert!(Instant::now() < deadline, "rategate did not listen");
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let subscribed = loop {
        if mock.stats().subscribes >= 1 {
            break spawned.elapsed();
        }
        assert!(Instant::now() < deadline, "rategate did not subscribe");
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let bid = format!("97{n:03}.1");
    let tick = Instant::now();
    mock.push_ticker("BTC/USD", &bid, "99999.9");
    let mut served = None;
    let fresh = loop {
        let r = http
            .get(format!("{base}/api/rates/BTC_USD"))
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            let v: serde_json::Value = r.json().await.unwrap();
            if v["original"]["sell"] == bid.as_str() {
                served.get_or_insert(tick.elapsed());
                if v["stale"] == false {
                    break tick.elapsed();
                }
            }
        }
        assert!(Instant::now() < deadline, "no rate page");
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let _ = child.kill().await;
    mock.stop();
    let _ = std::fs::remove_dir_all(&data);
    [listening, subscribed, served.unwrap_or(fresh), fresh]
}

#[tokio::main]
async fn main() {
    common::tls::install_crypto_provider();
    let runs: usize = std::env::var("STARTUP_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut all: [Vec<Duration>; 4] = Default::default();
    for n in 0..runs {
        let r = run_once(&http, n).await;
        for (i, d) in r.into_iter().enumerate() {
            all[i].push(d);
        }
    }
    println!("rategate all-in-one startup, {runs} runs (fresh data directory each):");
    let [a, b, c, d] = all;
    report("spawn -> HTTP listening", a);
    report("spawn -> subscribed upstream", b);
    report("first tick -> rate page serves it", c);
    report("first tick -> rate page serves it fresh", d);
}
