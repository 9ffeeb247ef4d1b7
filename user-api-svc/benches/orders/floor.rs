//! The floor of the order path: the same statements for the same orders, straight against the
//! database from Rust through a bare sqlx pool. No HTTP, no JSON, no batching, no store layer;
//! the same traders, concurrency and durability as the service run.
//!
//! Per order: the quote's insert (autocommit), then one transaction: the key's answer, the
//! quote read under lock, the user's balances read under lock, both balances written, the
//! ledger transaction and its four lines, the quote consumed, the order row, commit. SQLite
//! gets one writer connection (its single write lock, without polling for it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::Decimal;
use hdrhistogram::Histogram;
use sqlx::any::{AnyArguments, AnyPoolOptions};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Row};

/// What differs between the two databases' SQL.
struct Dialect {
    sqlite: bool,
}

impl Dialect {
    fn lock(&self) -> &'static str {
        if self.sqlite {
            ""
        } else {
            "FOR UPDATE"
        }
    }
    fn begin(&self) -> &'static str {
        if self.sqlite {
            "BEGIN IMMEDIATE"
        } else {
            "BEGIN"
        }
    }
    fn upsert(&self) -> &'static str {
        if self.sqlite {
            "ON CONFLICT (user_id, asset) DO UPDATE SET available = excluded.available, updated_at = excluded.updated_at"
        } else {
            "ON DUPLICATE KEY UPDATE available = VALUES(available), updated_at = VALUES(updated_at)"
        }
    }
    /// Now, as each store keeps times: microseconds on SQLite, `DATETIME(6)` text on MariaDB.
    fn now<'q>(&self, q: Query<'q, Any, AnyArguments>) -> Query<'q, Any, AnyArguments> {
        let now = Utc::now();
        if self.sqlite {
            q.bind(now.timestamp_micros())
        } else {
            q.bind(now.format("%Y-%m-%d %H:%M:%S%.6f").to_string())
        }
    }
}

/// What the floor measured.
pub struct FloorRun {
    pub tx_per_s: f64,
    pub p99_ms: f64,
    pub failures: u64,
}

fn sql(s: String) -> Query<'static, Any, AnyArguments> {
    sqlx::query(sqlx::AssertSqlSafe(s))
}

/// One order, as the floor runs it.
async fn one_order(pool: &AnyPool, d: &Dialect, user: i64, key: &str) -> Result<(), sqlx::Error> {
    let quote_id = uuid::Uuid::new_v4().to_string();
    let (amount, price, total) = ("0.0001", "97000.2", "9.71");
    let q = sql(
        "INSERT INTO quotes (id, user_id, pair, side, amount, price, total, raw_bid, raw_ask,
                             spread_kind, spread_buy, spread_sell, revenue, created_at, expires_at)
         VALUES (?, ?, 'BTC/USD', 'buy', ?, ?, ?, ?, ?, 'bps', '0', '0', '0.01', ?, ?)"
            .into(),
    )
    .bind(quote_id.clone())
    .bind(user)
    .bind(amount)
    .bind(price)
    .bind(total)
    .bind(price)
    .bind(price);
    d.now(d.now(q)).execute(pool).await?;

    let mut conn = pool.acquire().await?;
    sqlx::query(sqlx::AssertSqlSafe(d.begin()))
        .execute(&mut *conn)
        .await?;
    let body = format!(r#"{{"id":"{quote_id}","status":"filled"}}"#);
    let q = sql("INSERT INTO idempotency_keys
           (user_id, idem_key, request_hash, state, response_status, response_body, created_at)
         VALUES (?, ?, ?, 'done', 201, ?, ?)"
        .into())
    .bind(user)
    .bind(key.to_string())
    .bind(vec![7u8; 32])
    .bind(body);
    d.now(q).execute(&mut *conn).await?;
    sql(format!(
        "SELECT CAST(user_id AS CHAR) AS user_id, CAST(amount AS CHAR) AS amount,
                CAST(total AS CHAR) AS total, CAST(expires_at AS CHAR) AS expires_at,
                CAST(consumed_at AS CHAR) AS consumed_at
         FROM quotes WHERE id = ? {}",
        d.lock()
    ))
    .bind(quote_id.clone())
    .fetch_all(&mut *conn)
    .await?;
    let rows = sql(format!(
        "SELECT asset, CAST(available AS CHAR) AS available FROM balances WHERE user_id = ? {}",
        d.lock()
    ))
    .bind(user)
    .fetch_all(&mut *conn)
    .await?;
    let held = |asset: &str| -> Decimal {
        rows.iter()
            .find(|r| r.try_get::<String, _>("asset").ok().as_deref() == Some(asset))
            .and_then(|r| r.try_get::<String, _>("available").ok())
            .and_then(|s| s.parse().ok())
            .unwrap_or_default()
    };
    let (amount_d, total_d): (Decimal, Decimal) = (
        amount.parse().unwrap_or_default(),
        total.parse().unwrap_or_default(),
    );
    let q = sql(format!(
        "INSERT INTO balances (user_id, asset, available, updated_at) VALUES (?, 'USD', ?, ?), (?, 'BTC', ?, ?) {}",
        d.upsert()
    ))
    .bind(user)
    .bind((held("USD") - total_d).to_string());
    let q = d
        .now(q)
        .bind(user)
        .bind((held("BTC") + amount_d).to_string());
    d.now(q).execute(&mut *conn).await?;
    let order_id = uuid::Uuid::new_v4().to_string();
    let q = sql(
        "INSERT INTO ledger_transactions (kind, reference, created_at) VALUES ('trade', ?, ?)"
            .into(),
    )
    .bind(order_id.clone());
    let tx_id = d
        .now(q)
        .execute(&mut *conn)
        .await?
        .last_insert_id()
        .unwrap_or(0);
    // The Any driver reports no insert id for SQLite: its rowid, read back.
    let tx_id = if d.sqlite {
        sql("SELECT last_insert_rowid() AS id".into())
            .fetch_one(&mut *conn)
            .await?
            .try_get::<i64, _>("id")?
    } else {
        tx_id
    };
    let account = format!("user:{user}");
    sql("INSERT INTO ledger_entries (tx_id, account, asset, amount) VALUES (?, ?, 'USD', ?), (?, 'house', 'USD', ?), (?, 'house', 'BTC', ?), (?, ?, 'BTC', ?)".into())
        .bind(tx_id)
        .bind(account.clone())
        .bind(format!("-{total}"))
        .bind(tx_id)
        .bind(total)
        .bind(tx_id)
        .bind(format!("-{amount}"))
        .bind(tx_id)
        .bind(account)
        .bind(amount)
        .execute(&mut *conn)
        .await?;
    let q = sql("UPDATE quotes SET consumed_at = ? WHERE id = ?".into());
    d.now(q).bind(quote_id.clone()).execute(&mut *conn).await?;
    let q = sql(
        "INSERT INTO orders (id, quote_id, user_id, pair, side, amount, price, total, revenue,
                             status, ledger_tx_id, created_at)
         VALUES (?, ?, ?, 'BTC/USD', 'buy', ?, ?, ?, '0.01', 'filled', ?, ?)"
            .into(),
    )
    .bind(order_id)
    .bind(quote_id)
    .bind(user)
    .bind(amount)
    .bind(price)
    .bind(total)
    .bind(tx_id);
    d.now(q).execute(&mut *conn).await?;
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    Ok(())
}

/// Runs `traders` concurrent loops of [`one_order`] for `secs` on the database at `url`, for
/// the users `users` (funded, in USD, by the service run).
pub async fn run(url: &str, users: &[i64], secs: u64) -> FloorRun {
    sqlx::any::install_default_drivers();
    let sqlite = url.starts_with("sqlite:");
    let pool = AnyPoolOptions::new()
        .max_connections(if sqlite { 1 } else { users.len() as u32 + 1 })
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if sqlite {
                    use sqlx::Executor;
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000")
                        .await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .expect("floor pool");
    let dialect = Arc::new(Dialect { sqlite });
    let done = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let hist = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram"),
    ));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let tasks: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(t, user)| {
            let (pool, d, done, failures, hist, user) = (
                pool.clone(),
                Arc::clone(&dialect),
                Arc::clone(&done),
                Arc::clone(&failures),
                Arc::clone(&hist),
                *user,
            );
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    n += 1;
                    let t0 = Instant::now();
                    match one_order(&pool, &d, user, &format!("floor-{t}-{n}")).await {
                        Ok(()) => {
                            let us = t0.elapsed().as_micros() as u64;
                            if let Ok(mut h) = hist.lock() {
                                let _ = h.record(us);
                            }
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            if failures.fetch_add(1, Ordering::Relaxed) == 0 {
                                eprintln!("floor: first failure: {e}");
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    pool.close().await;
    let p99 = hist.lock().map(|h| h.value_at_quantile(0.99)).unwrap_or(0);
    FloorRun {
        tx_per_s: done.load(Ordering::Relaxed) as f64 / elapsed,
        p99_ms: p99 as f64 / 1000.0,
        failures: failures.load(Ordering::Relaxed),
    }
}
