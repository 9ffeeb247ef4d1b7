//! The SQLite [`Store`] of the all-in-one binary: one file, no server, the same guarantees.
//!
//! How it keeps MariaDB's guarantees without MariaDB's types:
//! - Decimals are TEXT in canonical `rust_decimal` form and all arithmetic happens in Rust;
//!   SQLite would otherwise turn them into floats. Times are INTEGER microseconds (UTC).
//! - Every change runs in a `BEGIN IMMEDIATE` transaction: it takes SQLite's single write lock
//!   up front, so a read-check-write (a balance, a quote, a refresh token) cannot interleave
//!   with another writer: that is what `FOR UPDATE` does on MariaDB. Readers keep reading (WAL).
//!   Writers of this process first queue on a mutex (FIFO), so they do not poll the lock;
//!   the busy timeout remains for another process on the same file.
//! - `CHECK`s and triggers in `migrations/sqlite` refuse negative balances and history rewrites
//!   in the database too.
//! - `synchronous = FULL`: a committed order survives a power cut.
//!
//! The money half lives in `sqlite_money.rs`.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use common::Decimal;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

use super::*;
use crate::pricing::SpreadKind;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Writers queue here, in order, instead of polling SQLite's lock (its busy handler
    /// sleeps and retries, which is unfair and gives long tails under contention).
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// Connection-level failures and a busy database are "unavailable" (503, retry); a broken
/// uniqueness rule is a conflict; everything else is a bug or a rule.
pub(crate) fn classify(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.into()),
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        sqlx::Error::Database(db) if is_busy(db.code().as_deref()) => {
            StoreError::Unavailable(e.into())
        }
        _ => StoreError::Other(e.into()),
    }
}

/// SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
fn is_busy(code: Option<&str>) -> bool {
    code.and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

/// Microseconds since the epoch: how times are stored.
pub(crate) fn encode_time(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn decode_time(us: i64) -> Result<DateTime<Utc>, sqlx::Error> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| sqlx::Error::Decode(format!("time out of range: {us}").into()))
}

pub(crate) fn decode_opt_time(us: Option<i64>) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    us.map(decode_time).transpose()
}

/// A stored decimal.
pub(crate) fn decode_dec(text: &str) -> Result<Decimal, sqlx::Error> {
    Decimal::from_str(text)
        .map(|d| d.normalize())
        .map_err(|e| sqlx::Error::Decode(format!("bad decimal {text:?}: {e}").into()))
}

/// A decimal to store: canonical text, `-0` never written.
pub(crate) fn encode_dec(d: Decimal) -> String {
    d.normalize().to_string()
}

/// Our ids are SQLite rowids, which are `i64`; an id beyond that cannot exist.
pub(crate) fn db_id(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn id_column(row: &SqliteRow, col: &str) -> Result<u64, sqlx::Error> {
    let v: i64 = row.try_get(col)?;
    u64::try_from(v).map_err(|_| sqlx::Error::Decode(format!("negative id in {col}").into()))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path/to/file.db`) and applies
    /// the migrations.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)?
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
        Ok(SqliteStore {
            pool,
            writer: Default::default(),
        })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A write transaction holding SQLite's write lock from its first statement, and this
    /// process's writer turn (keep the guard until the transaction ends).
    pub(crate) async fn write(
        &self,
    ) -> Result<(WriterTurn<'_>, Transaction<'static, Sqlite>), sqlx::Error> {
        let turn = self.writer.lock().await;
        Ok((turn, self.pool.begin_with("BEGIN IMMEDIATE").await?))
    }

    /// This process's writer turn, for single-statement writes.
    pub(crate) async fn turn(&self) -> WriterTurn<'_> {
        self.writer.lock().await
    }
}

fn kind(s: &str) -> Result<SpreadKind, sqlx::Error> {
    SpreadKind::parse(s).ok_or_else(|| sqlx::Error::Decode(format!("spread kind {s:?}").into()))
}

pub(crate) fn user_from(row: &SqliteRow) -> StoreResult<User> {
    decode_user(row).map_err(classify)
}

fn decode_user(row: &SqliteRow) -> Result<User, sqlx::Error> {
    let r: String = row.try_get("role")?;
    Ok(User {
        id: id_column(row, "id")?,
        email: row.try_get("email")?,
        role: Role::parse(&r)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown role {r:?} in database").into()))?,
        created_at: decode_time(row.try_get("created_at")?)?,
    })
}

fn opt_spread(
    k: Option<String>,
    b: Option<String>,
    s: Option<String>,
) -> Result<Option<Spread>, sqlx::Error> {
    match (k, b, s) {
        (Some(k), Some(buy), Some(sell)) => Ok(Some(Spread {
            kind: kind(&k)?,
            buy: decode_dec(&buy)?,
            sell: decode_dec(&sell)?,
        })),
        _ => Ok(None),
    }
}

async fn current_spread(
    tx: &mut Transaction<'static, Sqlite>,
    pair: &str,
) -> Result<Option<Spread>, sqlx::Error> {
    let row = sqlx::query("SELECT kind, buy, sell FROM spreads WHERE pair = ?")
        .bind(pair)
        .fetch_optional(&mut **tx)
        .await?;
    match row {
        None => Ok(None),
        Some(r) => opt_spread(r.try_get("kind")?, r.try_get("buy")?, r.try_get("sell")?),
    }
}

async fn audit(
    tx: &mut Transaction<'static, Sqlite>,
    pair: &str,
    action: &str,
    actor: &Actor,
    old: Option<Spread>,
    new: Option<Spread>,
    reason: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO spread_audit (pair, action, actor_id, actor_email, at, old_kind, old_buy,
                                   old_sell, new_kind, new_buy, new_sell, reason)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(pair)
    .bind(action)
    .bind(db_id(actor.id))
    .bind(&actor.email)
    .bind(encode_time(Utc::now()))
    .bind(old.map(|s| s.kind.as_str()))
    .bind(old.map(|s| encode_dec(s.buy)))
    .bind(old.map(|s| encode_dec(s.sell)))
    .bind(new.map(|s| s.kind.as_str()))
    .bind(new.map(|s| encode_dec(s.buy)))
    .bind(new.map(|s| encode_dec(s.sell)))
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) type WriterTurn<'a> = tokio::sync::MutexGuard<'a, ()>;

const USER_COLUMNS: &str = "SELECT id, email, role, created_at FROM users";

#[async_trait]
impl AccountStore for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn create_user(&self, email: &str, password_hash: &str, role: Role) -> StoreResult<User> {
        let _turn = self.turn().await;
        let row = sqlx::query(
            "INSERT INTO users (email, password_hash, role, created_at) VALUES (?, ?, ?, ?)
             RETURNING id, email, role, created_at",
        )
        .bind(email)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(encode_time(Utc::now()))
        .fetch_one(&self.pool)
        .await
        .map_err(classify)?;
        user_from(&row)
    }

    async fn credentials(&self, email: &str) -> StoreResult<Option<Credentials>> {
        let row = sqlx::query(
            "SELECT id, email, role, created_at, password_hash FROM users WHERE email = ?",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some(Credentials {
                user: user_from(&r)?,
                password_hash: r.try_get("password_hash").map_err(classify)?,
            })),
        }
    }

    async fn user(&self, user_id: u64) -> StoreResult<Option<User>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{USER_COLUMNS} WHERE id = ?")))
            .bind(db_id(user_id))
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.as_ref().map(user_from).transpose()
    }

    async fn insert_refresh_token(&self, t: &NewRefreshToken) -> StoreResult<()> {
        let _turn = self.turn().await;
        sqlx::query(
            "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at, created_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(db_id(t.user_id))
        .bind(&t.family_id)
        .bind(&t.token_hash[..])
        .bind(encode_time(t.expires_at))
        .bind(encode_time(Utc::now()))
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        presented: &[u8; 32],
        next_hash: &[u8; 32],
        next_expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<RotateOutcome> {
        let result: Result<RotateOutcome, sqlx::Error> = async {
            // The write lock serialises two concurrent uses of one token: the second sees it
            // rotated.
            let (_turn, mut tx) = self.write().await?;
            let row = sqlx::query(
                "SELECT id, user_id, family_id, expires_at, rotated_at, revoked_at
                 FROM refresh_tokens WHERE token_hash = ?",
            )
            .bind(&presented[..])
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Ok(RotateOutcome::Invalid);
            };
            let token_id: i64 = row.try_get("id")?;
            let user_id: i64 = row.try_get("user_id")?;
            let family: String = row.try_get("family_id")?;
            let expires_at = decode_time(row.try_get("expires_at")?)?;
            let rotated: Option<i64> = row.try_get("rotated_at")?;
            let revoked: Option<i64> = row.try_get("revoked_at")?;
            if rotated.is_some() || revoked.is_some() {
                sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = ?
                     WHERE family_id = ? AND revoked_at IS NULL",
                )
                .bind(encode_time(now))
                .bind(&family)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(RotateOutcome::Reused);
            }
            if expires_at <= now {
                return Ok(RotateOutcome::Invalid);
            }
            sqlx::query("UPDATE refresh_tokens SET rotated_at = ? WHERE id = ?")
                .bind(encode_time(now))
                .bind(token_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at, created_at)
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(user_id)
            .bind(&family)
            .bind(&next_hash[..])
            .bind(encode_time(next_expires))
            .bind(encode_time(now))
            .execute(&mut *tx)
            .await?;
            let user = sqlx::query(sqlx::AssertSqlSafe(format!("{USER_COLUMNS} WHERE id = ?")))
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            // Decoded after commit: a decode error must not undo a rotation already made.
            Ok(RotateOutcome::Rotated {
                user: decode_user(&user)?,
            })
        }
        .await;
        result.map_err(classify)
    }

    async fn revoke_refresh_family(
        &self,
        presented: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let _turn = self.turn().await;
        let done = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, ?)
             WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = ?)",
        )
        .bind(encode_time(now))
        .bind(&presented[..])
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() > 0)
    }

    async fn purge_expired_refresh_tokens(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let _turn = self.turn().await;
        let done = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < ?")
            .bind(encode_time(now))
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected())
    }

    async fn spreads(&self) -> StoreResult<Vec<SpreadRow>> {
        let rows = sqlx::query(
            "SELECT pair, kind, buy, sell, updated_at, updated_by FROM spreads ORDER BY pair",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.iter()
            .map(|r| {
                let k: String = r.try_get("kind")?;
                let buy: String = r.try_get("buy")?;
                let sell: String = r.try_get("sell")?;
                Ok(SpreadRow {
                    pair: r.try_get("pair")?,
                    spread: Spread {
                        kind: kind(&k)?,
                        buy: decode_dec(&buy)?,
                        sell: decode_dec(&sell)?,
                    },
                    updated_at: decode_time(r.try_get("updated_at")?)?,
                    updated_by: id_column(r, "updated_by")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(classify)
    }

    async fn set_spread(
        &self,
        pair: &str,
        spread: Spread,
        actor: &Actor,
        reason: Option<&str>,
    ) -> StoreResult<Option<Spread>> {
        let result: Result<Option<Spread>, sqlx::Error> = async {
            let (_turn, mut tx) = self.write().await?;
            let old = current_spread(&mut tx, pair).await?;
            sqlx::query(
                "INSERT INTO spreads (pair, kind, buy, sell, updated_by, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (pair) DO UPDATE SET kind = excluded.kind, buy = excluded.buy,
                    sell = excluded.sell, updated_by = excluded.updated_by,
                    updated_at = excluded.updated_at",
            )
            .bind(pair)
            .bind(spread.kind.as_str())
            .bind(encode_dec(spread.buy))
            .bind(encode_dec(spread.sell))
            .bind(db_id(actor.id))
            .bind(encode_time(Utc::now()))
            .execute(&mut *tx)
            .await?;
            audit(&mut tx, pair, "set", actor, old, Some(spread), reason).await?;
            tx.commit().await?;
            Ok(old)
        }
        .await;
        result.map_err(classify)
    }

    async fn delete_spread(
        &self,
        pair: &str,
        actor: &Actor,
        reason: Option<&str>,
    ) -> StoreResult<Option<Spread>> {
        let result: Result<Option<Spread>, sqlx::Error> = async {
            let (_turn, mut tx) = self.write().await?;
            let Some(old) = current_spread(&mut tx, pair).await? else {
                return Ok(None);
            };
            sqlx::query("DELETE FROM spreads WHERE pair = ?")
                .bind(pair)
                .execute(&mut *tx)
                .await?;
            audit(&mut tx, pair, "delete", actor, Some(old), None, reason).await?;
            tx.commit().await?;
            Ok(Some(old))
        }
        .await;
        result.map_err(classify)
    }

    async fn spread_history(&self, pair: &str, limit: u32) -> StoreResult<Vec<SpreadAudit>> {
        let rows = sqlx::query(
            "SELECT id, pair, action, actor_id, actor_email, at, old_kind, old_buy, old_sell,
                    new_kind, new_buy, new_sell, reason
             FROM spread_audit WHERE pair = ? ORDER BY id DESC LIMIT ?",
        )
        .bind(pair)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.iter()
            .map(|r| {
                Ok(SpreadAudit {
                    id: id_column(r, "id")?,
                    pair: r.try_get("pair")?,
                    action: r.try_get("action")?,
                    actor_id: id_column(r, "actor_id")?,
                    actor_email: r.try_get("actor_email")?,
                    at: decode_time(r.try_get("at")?)?,
                    old: opt_spread(
                        r.try_get("old_kind")?,
                        r.try_get("old_buy")?,
                        r.try_get("old_sell")?,
                    )?,
                    new: opt_spread(
                        r.try_get("new_kind")?,
                        r.try_get("new_buy")?,
                        r.try_get("new_sell")?,
                    )?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(classify)
    }

    async fn users(&self, limit: u32) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{USER_COLUMNS} ORDER BY id LIMIT ?"
        )))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.iter().map(user_from).collect()
    }
}
