//! Orders per second and latency with concurrent traders on the real MariaDB.
//!
//! `cargo bench -p user-api-svc --bench orders` (env `BENCH_TRADERS`, default 64;
//! `BENCH_SECS`, default 10; `BENCH_STORE=sqlite` for the all-in-one binary's SQLite store, a
//! file in the system's temporary directory, instead of MariaDB).
//!
//! Each trader loops: `POST /api/quotes` then `POST /api/orders` with a fresh
//! `Idempotency-Key`, over HTTP to user-api-svc (in this process), which executes every order
//! as one MariaDB transaction (quote lock, debit, credit, four ledger lines, quote consumed,
//! order row, idempotency record). Rates come from the real chain (kraken-mock →
//! exchange-rate-svc → Redis). Reported: orders/s, order latency p50/p99 (the quote request
//! is timed separately), and CPU of this process and of mariadbd.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{json, Value};

const ADMIN: (&str, &str) = ("bench-admin@rategate.test", "Bench-Admin-Passphrase-42");

fn mariadbd_pid() -> Option<String> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let name = e.file_name().to_string_lossy().to_string();
        let comm = std::fs::read_to_string(format!("/proc/{name}/comm")).ok()?;
        (comm.trim() == "mariadbd" || comm.trim() == "mysqld").then_some(name)
    })
}

#[tokio::main]
async fn main() {
    let traders: usize = std::env::var("BENCH_TRADERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let up = upstream(0).await;
    let mut cfg = user_api_svc::Config::local("bench-secret-bench-secret-bench-secret-00");
    cfg.redis_url = testkit::services::redis_url();
    cfg.redis_prefix = up.prefix.clone();
    let sqlite = std::env::var("BENCH_STORE").is_ok_and(|s| s == "sqlite");
    let sqlite_file = std::env::temp_dir().join(format!("rategate-orders-bench-{}.db", up.db));
    cfg.database_url = if sqlite {
        format!("sqlite://{}", sqlite_file.display())
    } else {
        format!("{}/{}", testkit::services::mysql_base(), up.db)
    };
    cfg.http_addr = "127.0.0.1:0".parse().unwrap();
    cfg.pairs = common::Pair::parse_list("BTC/USD").unwrap();
    cfg.admin_email = Some(ADMIN.0.into());
    cfg.admin_password = Some(ADMIN.1.into());
    cfg.admin_require_2fa = false;
    cfg.throttle.login_per_ip = 100_000;
    cfg.throttle.register_per_ip = 100_000;
    cfg.db_max_connections = std::env::var("BENCH_DB_POOL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(80);
    cfg.quote_ttl = Duration::from_secs(60);
    let api = user_api_svc::Application::build(cfg).await.expect("api");
    let base = format!("http://{}", api.addr());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(traders * 2)
        .build()
        .unwrap();
    for _ in 0..300 {
        if http
            .get(format!("{base}/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let web = testkit::http::Api {
        http: http.clone(),
        base: base.clone(),
    };
    let login = |email: String, password: String| {
        let web = web.clone();
        async move { web.token(&email, &password).await }
    };
    let admin = login(ADMIN.0.into(), ADMIN.1.into()).await;
    let mut tokens = Vec::new();
    for i in 0..traders {
        let email = format!("trader{i}@bench.test");
        http.post(format!("{base}/api/auth/register"))
            .json(&json!({"email": email, "password": "correct horse battery staple"}))
            .send()
            .await
            .unwrap();
        http.post(format!("{base}/api/admin/deposits"))
            .bearer_auth(&admin)
            .json(&json!({"email": email, "asset": "USD", "amount": "100000000.00"}))
            .send()
            .await
            .unwrap();
        tokens.push(login(email, "correct horse battery staple".into()).await);
    }

    let orders = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let order_h = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap(),
    ));
    let quote_h = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap(),
    ));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let db_pid = mariadbd_pid();
    let (c0, d0) = (
        testkit::bench::cpu_secs("self"),
        db_pid
            .as_deref()
            .map(testkit::bench::cpu_secs)
            .unwrap_or(0.0),
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (t, token) in tokens.into_iter().enumerate() {
        let (http, base) = (http.clone(), base.clone());
        let (orders, failures, order_h, quote_h) = (
            orders.clone(),
            failures.clone(),
            order_h.clone(),
            quote_h.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let q = http
                    .post(format!("{base}/api/quotes"))
                    .bearer_auth(&token)
                    .json(&json!({"pair": "BTC/USD", "side": "buy", "amount": "0.0001"}))
                    .send()
                    .await;
                let Ok(q) = q else {
                    failures.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let q: Value = q.json().await.unwrap_or(Value::Null);
                quote_h
                    .lock()
                    .unwrap()
                    .record(t0.elapsed().as_micros() as u64)
                    .ok();
                let Some(qid) = q["id"].as_str() else {
                    failures.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                n += 1;
                let t1 = Instant::now();
                let r = http
                    .post(format!("{base}/api/orders"))
                    .bearer_auth(&token)
                    .header("Idempotency-Key", format!("b-{t}-{n}"))
                    .json(&json!({"quote_id": qid}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 201 => {
                        order_h
                            .lock()
                            .unwrap()
                            .record(t1.elapsed().as_micros() as u64)
                            .ok();
                        orders.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (c1, d1) = (
        testkit::bench::cpu_secs("self"),
        db_pid
            .as_deref()
            .map(testkit::bench::cpu_secs)
            .unwrap_or(0.0),
    );
    let (oh, qh) = (
        order_h.lock().unwrap().clone(),
        quote_h.lock().unwrap().clone(),
    );
    let n = orders.load(Ordering::Relaxed) as f64;
    println!("store: {}", if sqlite { "SQLite" } else { "MariaDB" });
    println!(
        "{traders} traders, {secs} s: {:.0} orders/s filled ({} failures); order latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
         quote latency p50 {:.1} ms, p99 {:.1} ms",
        n / elapsed,
        failures.load(Ordering::Relaxed),
        oh.value_at_quantile(0.5) as f64 / 1000.0,
        oh.value_at_quantile(0.99) as f64 / 1000.0,
        oh.max() as f64 / 1000.0,
        qh.value_at_quantile(0.5) as f64 / 1000.0,
        qh.value_at_quantile(0.99) as f64 / 1000.0,
    );
    println!(
        "    cpu: this process (user-api-svc + traders + feed) {:.0} %, mariadbd {:.0} % (target >= 1000 orders/s, p99 <= 50 ms)",
        (c1 - c0) / elapsed * 100.0,
        (d1 - d0) / elapsed * 100.0
    );
    api.stop().await;
    up.stop().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", sqlite_file.display()));
    }
}

/// The upstream half of the chain (kraken-mock → exchange-rate-svc → Redis) under a fresh
/// bus prefix, and a fresh database name.
pub struct Upstream {
    pub mock: kraken_mock::MockKraken,
    pub feed: exchange_rate_svc::Application,
    pub prefix: String,
    pub db: String,
}

/// Mock at `rate` ticks/s over `testkit::bench::PAIRS`, and exchange-rate-svc publishing under a new prefix.
pub async fn upstream(rate: u64) -> Upstream {
    common::tls::install_crypto_provider();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("bench:{id}:");
    let db = format!("rg_bench_{}", &id[..12]);
    let mock = kraken_mock::MockKraken::start(kraken_mock::MockConfig {
        pairs: testkit::bench::PAIRS
            .iter()
            .map(|s| s.to_string())
            .collect(),
        rate,
        ..kraken_mock::MockConfig::default()
    })
    .await
    .expect("mock");
    let mut cfg = exchange_rate_svc::Config::local();
    cfg.redis_url = testkit::services::redis_url();
    cfg.redis_prefix = prefix.clone();
    cfg.http_addr = "127.0.0.1:0".parse().expect("addr");
    cfg.kraken_ws_url = mock.ws_url();
    cfg.kraken_rest_url = mock.rest_url();
    cfg.pairs = common::Pair::parse_list(&testkit::bench::PAIRS.join(",")).expect("pairs");
    cfg.rates_from = exchange_rate_svc::config::RatesFrom::Ticker;
    let feed = exchange_rate_svc::Application::build(cfg)
        .await
        .expect("feed");
    Upstream {
        mock,
        feed,
        prefix,
        db,
    }
}

impl Upstream {
    pub async fn stop(self) {
        self.feed.stop().await;
        self.mock.stop();
        if let Ok(pool) = sqlx::MySqlPool::connect(&testkit::services::mysql_base()).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS `{}`",
                self.db
            )))
            .execute(&pool)
            .await;
        }
    }
}
