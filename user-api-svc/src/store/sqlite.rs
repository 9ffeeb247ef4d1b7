//! SQLite as a [`Backend`], for the all-in-one binary: one file, no server, the same guarantees
//! as MariaDB without MariaDB's types. The flows are the shared ones in `accounts.rs` and
//! `money.rs`; this file holds the connection, the codec and the deposit's credit.
//!
//! - Decimals are TEXT in canonical `rust_decimal` form and all arithmetic happens in Rust;
//!   SQLite would otherwise turn them into floats. Times are INTEGER microseconds (UTC).
//! - Every transaction is `BEGIN IMMEDIATE`: it takes SQLite's single write lock up front, so a
//!   read-check-write (a balance, a quote, a refresh token) cannot interleave with another
//!   writer: that is what `FOR UPDATE` does on MariaDB. Readers keep reading (WAL). Writers of
//!   this process first queue on a mutex (FIFO), so they do not poll the lock; the busy timeout
//!   remains for another process on the same file.
//! - `CHECK`s and triggers in `migrations/sqlite` refuse negative balances and history rewrites
//!   in the database too.
//! - `synchronous = FULL`: a committed order survives a power cut.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use common::Decimal;
use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteQueryResult, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row as _, Sqlite, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::backend::{self, Backend, Done, Row, SqlStore, Stmt, Value};
use super::{StoreError, StoreResult};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// The SQLite pool and this process's writer queue.
pub struct SqliteDb {
    pool: SqlitePool,
    /// Writers queue here, in order, instead of polling SQLite's lock (its busy handler
    /// sleeps and retries, which is unfair and gives long tails under contention).
    writer: Arc<Mutex<()>>,
}

/// The store on SQLite.
pub type SqliteStore = SqlStore<SqliteDb>;

/// A write transaction and the writer turn it holds. Fields drop in order: the transaction
/// (rolled back if not committed) before the turn is handed on.
pub struct SqliteTx {
    tx: Transaction<'static, Sqlite>,
    _turn: OwnedMutexGuard<()>,
}

impl SqlStore<SqliteDb> {
    /// Opens (creating if needed) the database at `url` (`sqlite://path/to/file.db`) and applies
    /// the migrations.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)?;
        if !url.contains(":memory:") {
            make_private(options.get_filename())?;
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // A writer waits this long for the write lock before the request answers 503.
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.clamp(1, 16))
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(SqlStore::new(SqliteDb {
            pool,
            writer: Default::default(),
        }))
    }
}

/// The database holds password hashes and two-factor secrets: it is created readable by its
/// owner only (0600), like the credentials file, and an existing one (or its WAL and shared
/// memory files, which SQLite creates with the database's mode) is narrowed to that.
fn make_private(path: &std::path::Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if !path.exists() {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
        }
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            if meta.permissions().mode() & 0o077 != 0 {
                if let Err(e) =
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                {
                    tracing::warn!(file = %file.display(), error = %e, "cannot make the database private (0600)");
                }
            }
        }
    }
    Ok(())
}

impl SqliteDb {
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// A busy database is "unavailable" (503, retry later: the busy timeout has already waited).
/// The rest as on every database ([`backend::classify`]).
fn classify(e: sqlx::Error) -> StoreError {
    backend::classify(e, |db| {
        is_busy(db.code().as_deref()).then_some(StoreError::Unavailable as fn(_) -> _)
    })
}

/// SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
fn is_busy(code: Option<&str>) -> bool {
    code.and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

/// A decimal to store: canonical text, `-0` never written.
fn encode_dec(d: Decimal) -> String {
    d.normalize().to_string()
}

/// Our ids are SQLite rowids, which are `i64`; an id beyond that cannot exist.
fn encode_id(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Binds with this codec: decimals as canonical text, times as microseconds, ids as `i64`.
fn query(stmt: Stmt) -> Query<'static, Sqlite, SqliteArguments> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(stmt.sql));
    for v in stmt.args {
        q = match v {
            Value::Text(s) => q.bind(s),
            Value::OptText(s) => q.bind(s),
            Value::Bytes(b) => q.bind(b),
            Value::Dec(d) => q.bind(encode_dec(d)),
            Value::OptDec(d) => q.bind(d.map(encode_dec)),
            Value::Time(t) => q.bind(t.timestamp_micros()),
            Value::Id(id) => q.bind(encode_id(id)),
            Value::Int(n) => q.bind(n),
        };
    }
    q
}

/// A write's outcome, or its error classified.
fn done(r: Result<SqliteQueryResult, sqlx::Error>) -> StoreResult<Done> {
    let r = r.map_err(classify)?;
    Ok(Done {
        rows_affected: r.rows_affected(),
        last_insert_id: u64::try_from(r.last_insert_rowid()).unwrap_or_default(),
    })
}

fn get<T>(row: &SqliteRow, col: &str) -> StoreResult<T>
where
    T: for<'r> sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(col).map_err(classify)
}

fn decode_err(what: String) -> StoreError {
    StoreError::Other(anyhow::anyhow!(what))
}

fn decode_dec(text: &str) -> StoreResult<Decimal> {
    Decimal::from_str(text)
        .map(|d| d.normalize())
        .map_err(|e| decode_err(format!("bad decimal {text:?}: {e}")))
}

fn decode_time(us: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| decode_err(format!("time out of range: {us}")))
}

impl Row for SqliteRow {
    backend::plain_getters!();
    fn dec(&self, col: &str) -> StoreResult<Decimal> {
        decode_dec(&get::<String>(self, col)?)
    }
    fn opt_dec(&self, col: &str) -> StoreResult<Option<Decimal>> {
        get::<Option<String>>(self, col)?
            .as_deref()
            .map(decode_dec)
            .transpose()
    }
    fn time(&self, col: &str) -> StoreResult<DateTime<Utc>> {
        decode_time(get(self, col)?)
    }
    fn opt_time(&self, col: &str) -> StoreResult<Option<DateTime<Utc>>> {
        get::<Option<i64>>(self, col)?.map(decode_time).transpose()
    }
    fn id(&self, col: &str) -> StoreResult<u64> {
        self.count(col)
    }
    fn count(&self, col: &str) -> StoreResult<u64> {
        let v: i64 = get(self, col)?;
        u64::try_from(v).map_err(|_| decode_err(format!("negative {col}")))
    }
}

impl SqliteDb {
    async fn balance(tx: &mut SqliteTx, user_id: u64, asset: &str) -> StoreResult<Decimal> {
        let stmt = Stmt::new("SELECT available FROM balances WHERE user_id = ? AND asset = ?")
            .id(user_id)
            .text(asset);
        match Self::fetch_in(tx, stmt).await?.first() {
            Some(row) => row.dec("available"),
            None => Ok(Decimal::ZERO),
        }
    }

    /// Sets a balance computed in Rust inside the same write transaction.
    async fn put_balance(
        tx: &mut SqliteTx,
        user_id: u64,
        asset: &str,
        available: Decimal,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let stmt = Stmt::new(
            "INSERT INTO balances (user_id, asset, available, updated_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (user_id, asset) DO UPDATE SET available = excluded.available,
                                                        updated_at = excluded.updated_at",
        )
        .id(user_id)
        .text(asset)
        .dec(available)
        .time(now);
        Self::execute_in(tx, stmt).await?;
        Ok(())
    }
}

#[async_trait]
impl Backend for SqliteDb {
    type Row = SqliteRow;
    type Tx = SqliteTx;

    /// The write transaction already holds the only write lock.
    const LOCK: &'static str = "";
    const EXACT_SUM: bool = false;

    async fn close(&self) {
        self.pool.close().await;
    }

    fn upsert_head(key: &str) -> String {
        format!("ON CONFLICT ({key}) DO UPDATE SET")
    }
    fn inserted(column: &str) -> String {
        format!("excluded.{column}")
    }

    async fn fetch(&self, stmt: Stmt) -> StoreResult<Vec<SqliteRow>> {
        query(stmt).fetch_all(&self.pool).await.map_err(classify)
    }

    /// Takes this process's writer turn for the statement.
    async fn execute(&self, stmt: Stmt) -> StoreResult<Done> {
        let _turn = self.writer.lock().await;
        done(query(stmt).execute(&self.pool).await)
    }

    async fn begin(&self) -> StoreResult<SqliteTx> {
        let turn = Arc::clone(&self.writer).lock_owned().await;
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(classify)?;
        Ok(SqliteTx { tx, _turn: turn })
    }

    async fn commit(tx: SqliteTx) -> StoreResult<()> {
        tx.tx.commit().await.map_err(classify)
    }

    async fn fetch_in(tx: &mut SqliteTx, stmt: Stmt) -> StoreResult<Vec<SqliteRow>> {
        query(stmt).fetch_all(&mut *tx.tx).await.map_err(classify)
    }

    async fn execute_in(tx: &mut SqliteTx, stmt: Stmt) -> StoreResult<Done> {
        done(query(stmt).execute(&mut *tx.tx).await)
    }

    async fn credit(
        tx: &mut SqliteTx,
        user_id: u64,
        asset: &str,
        amount: Decimal,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let next = Self::balance(tx, user_id, asset)
            .await?
            .checked_add(amount)
            .ok_or_else(|| decode_err(format!("balance overflow in {asset}")))?;
        Self::put_balance(tx, user_id, asset, next, now).await
    }
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn a_database_is_created_private_and_an_open_one_is_narrowed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("rategate-mode-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let fresh = dir.join("fresh.db");
        super::make_private(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o600);
        let old = dir.join("old.db");
        let wal = dir.join("old.db-wal");
        for file in [&old, &wal] {
            std::fs::write(file, b"").unwrap();
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        super::make_private(&old).unwrap();
        assert_eq!((mode(&old), mode(&wal)), (0o600, 0o600));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
