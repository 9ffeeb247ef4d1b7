//! Orders per second and latency with concurrent traders, on MariaDB and on SQLite, beside
//! the floor: the same orders' statements run straight against the same database.
//!
//! `cargo bench -p user-api-svc --bench orders` (env `BENCH_TRADERS`, default 64;
//! `BENCH_SECS`, default 10; `BENCH_STORE`, default `mariadb,sqlite`: the real MariaDB, and
//! the all-in-one binary's SQLite store in a file in the system's temporary directory;
//! `GROUP_COMMIT_MAX`, `_WAIT_US` and `_WORKERS` as for the service).
//!
//! Each trader loops: `POST /api/quotes` then `POST /api/orders` with a fresh
//! `Idempotency-Key`, over HTTP to user-api-svc (in this process), which files quotes and
//! executes orders in group-commit batches. Rates come from the real chain (kraken-mock →
//! exchange-rate-svc → Redis). Then the floor ([`floor`]) runs the same orders' statements
//! with the same number of traders. The last lines print, per store: orders/s, p99, the
//! floor's transactions/s and p99, and CPU per order (this process: the service with its
//! HTTP clients; and mariadbd).

mod floor;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{json, Value};

/// The allocator the shipped binaries use (`user-api-svc`, `rategate`), so the service is
/// measured as it runs (glibc's malloc and free were 14 % of this process's CPU).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ADMIN: (&str, &str) = ("bench-admin@rategate.test", "Bench-Admin-Passphrase-42");

fn mariadbd_pid() -> Option<String> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let name = e.file_name().to_string_lossy().to_string();
        let comm = std::fs::read_to_string(format!("/proc/{name}/comm")).ok()?;
        (comm.trim() == "mariadbd" || comm.trim() == "mysqld").then_some(name)
    })
}

/// CPU seconds of this process and of mariadbd so far.
fn cpu_now(db_pid: Option<&str>) -> (f64, f64) {
    (
        testkit::bench::cpu_secs("self"),
        db_pid.map(testkit::bench::cpu_secs).unwrap_or(0.0),
    )
}

/// One store's results.
struct StoreRun {
    store: &'static str,
    orders_per_s: f64,
    p99_ms: f64,
    /// CPU µs per order: this process, mariadbd.
    cpu: (f64, f64),
    floor: floor::FloorRun,
    floor_cpu: (f64, f64),
}

#[tokio::main]
async fn main() {
    let traders: usize = testkit::bench::env_or("BENCH_TRADERS", 64);
    let secs: u64 = testkit::bench::env_or("BENCH_SECS", 10);
    let stores = std::env::var("BENCH_STORE").unwrap_or_else(|_| "mariadb,sqlite".into());
    let mut runs = Vec::new();
    for store in stores.split(',').map(str::trim) {
        runs.push(run_store(store == "sqlite", traders, secs).await);
    }
    println!();
    println!("{traders} traders, {secs} s each; CPU per order = this process (service + HTTP clients) + mariadbd");
    for r in &runs {
        println!(
            "{:<7} orders/s {:>6.0}  p99 ms {:>6.1}  floor tx/s {:>6.0}  floor p99 ms {:>6.1}  cpu/order {:>5.0} µs ({:.0} + {:.0})  floor cpu/order {:>5.0} µs ({:.0} + {:.0})",
            r.store,
            r.orders_per_s,
            r.p99_ms,
            r.floor.tx_per_s,
            r.floor.p99_ms,
            r.cpu.0 + r.cpu.1,
            r.cpu.0,
            r.cpu.1,
            r.floor_cpu.0 + r.floor_cpu.1,
            r.floor_cpu.0,
            r.floor_cpu.1,
        );
    }
}

async fn run_store(sqlite: bool, traders: usize, secs: u64) -> StoreRun {
    let up = upstream(0).await;
    let mut cfg = user_api_svc::Config::local("bench-secret-bench-secret-bench-secret-00");
    cfg.redis_url = testkit::services::redis_url();
    cfg.redis_prefix = up.prefix.clone();
    let sqlite_file = std::env::temp_dir().join(format!("rategate-orders-bench-{}.db", up.db));
    let api_database_url = if sqlite {
        format!("sqlite://{}", sqlite_file.display())
    } else {
        format!("{}/{}", testkit::services::mysql_base(), up.db)
    };
    cfg.database_url = api_database_url.clone();
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
    // The service's own variables, for tuning the group commit from here.
    cfg.group_commit.max = testkit::bench::env_or("GROUP_COMMIT_MAX", cfg.group_commit.max);
    cfg.group_commit.workers =
        testkit::bench::env_or("GROUP_COMMIT_WORKERS", cfg.group_commit.workers);
    cfg.group_commit.wait = Duration::from_micros(testkit::bench::env_or(
        "GROUP_COMMIT_WAIT_US",
        cfg.group_commit.wait.as_micros() as u64,
    ));
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
    let admin = web.token(ADMIN.0, ADMIN.1).await;
    let mut tokens = Vec::new();
    for i in 0..traders {
        let email = format!("trader{i}@bench.test");
        tokens.push(web.funded_user(&admin, &email, "USD", "1000000.00").await);
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
    let (c0, d0) = cpu_now(db_pid.as_deref());
    // A profiler may start here (`perf record -p` on this process and mariadbd).
    eprintln!("load: {traders} traders for {secs} s");
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
    let (c1, d1) = cpu_now(db_pid.as_deref());
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
    let per_order = |cpu: f64, n: f64| if n > 0.0 { cpu / n * 1e6 } else { 0.0 };
    let cpu = (per_order(c1 - c0, n), per_order(d1 - d0, n));
    println!(
        "    cpu per order: this process {:.0} µs, mariadbd {:.0} µs",
        cpu.0, cpu.1
    );
    let database_url = api_database_url.clone();
    api.stop().await;

    // The floor, on the same database and the same funded traders.
    let users = trader_ids(&database_url, sqlite).await;
    let (c0, d0) = cpu_now(db_pid.as_deref());
    let floor = floor::run(&database_url, &users, secs).await;
    let (c1, d1) = cpu_now(db_pid.as_deref());
    let done = floor.tx_per_s * secs as f64;
    let floor_cpu = (per_order(c1 - c0, done), per_order(d1 - d0, done));
    println!(
        "    floor: {:.0} tx/s ({} failures), p99 {:.1} ms; cpu per order: this process {:.0} µs, mariadbd {:.0} µs",
        floor.tx_per_s, floor.failures, floor.p99_ms, floor_cpu.0, floor_cpu.1
    );
    up.stop().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", sqlite_file.display()));
    }
    StoreRun {
        store: if sqlite { "SQLite" } else { "MariaDB" },
        orders_per_s: n / elapsed,
        p99_ms: oh.value_at_quantile(0.99) as f64 / 1000.0,
        cpu,
        floor,
        floor_cpu,
    }
}

/// The ids of the bench's traders, for the floor.
async fn trader_ids(url: &str, sqlite: bool) -> Vec<i64> {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let cast = if sqlite { "id" } else { "CAST(id AS SIGNED)" };
    let pool = sqlx::AnyPool::connect(url).await.expect("database");
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {cast} AS id FROM users WHERE email LIKE 'trader%' ORDER BY id"
    )))
    .fetch_all(&pool)
    .await
    .expect("traders");
    pool.close().await;
    rows.iter()
        .filter_map(|r| r.try_get::<i64, _>("id").ok())
        .collect()
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
        testkit::services::drop_database(&self.db).await;
    }
}
