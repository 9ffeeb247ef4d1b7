//! Shared by the benchmarks: the upstream half of the chain (kraken-mock → exchange-rate-svc →
//! Redis) under a fresh bus prefix, and a fresh database name.

#![allow(dead_code)]

use kraken_mock::{MockConfig, MockKraken};

pub const PAIRS: &[&str] = &[
    "BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD", "ADA/USD", "DOGE/USD", "LTC/USD", "USDT/USD",
    "ALGO/USD", "DOT/USD", "LINK/USD", "AVAX/USD", "ATOM/USD", "XLM/USD", "UNI/USD", "BCH/USD",
    "ETC/USD", "FIL/USD", "AAVE/USD", "NEAR/USD",
];

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn mysql_base() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

pub struct Upstream {
    pub mock: MockKraken,
    pub feed: exchange_rate_svc::Application,
    pub prefix: String,
    pub db: String,
}

/// Mock at `rate` ticks/s over `PAIRS`, and exchange-rate-svc publishing under a new prefix.
pub async fn upstream(rate: u64) -> Upstream {
    common::tls::install_crypto_provider();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("bench:{id}:");
    let db = format!("rg_bench_{}", &id[..12]);
    let mock = MockKraken::start(MockConfig {
        pairs: PAIRS.iter().map(|s| s.to_string()).collect(),
        rate,
        ..MockConfig::default()
    })
    .await
    .expect("mock");
    let mut cfg = exchange_rate_svc::Config::local();
    cfg.redis_url = redis_url();
    cfg.redis_prefix = prefix.clone();
    cfg.http_addr = "127.0.0.1:0".parse().expect("addr");
    cfg.kraken_ws_url = mock.ws_url();
    cfg.kraken_rest_url = mock.rest_url();
    cfg.pairs = common::Pair::parse_list(&PAIRS.join(",")).expect("pairs");
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
        if let Ok(pool) = sqlx::MySqlPool::connect(&mysql_base()).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS `{}`",
                self.db
            )))
            .execute(&pool)
            .await;
        }
    }
}

/// CPU seconds (user + system) a process has used so far (`pid` or `self`).
pub fn cpu_secs(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0)
}
