//! The MySQL/MariaDB [`Store`]: sqlx with runtime-checked queries (no database needed at build
//! time) and the migrations in `migrations/mysql`, embedded and applied at start.

use anyhow::anyhow;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use common::Decimal;
use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use sqlx::{MySql, Row, Transaction};

use super::*;
use crate::pricing::SpreadKind;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/mysql");

#[derive(Clone)]
pub struct MySqlStore {
    pool: MySqlPool,
}

/// Connection-level failures are "unavailable" (503); everything else is a bug or a rule.
pub(crate) fn classify(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.into()),
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        _ => StoreError::Other(e.into()),
    }
}

impl MySqlStore {
    /// Creates the database if needed, connects and applies migrations.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<MySqlStore> {
        use sqlx::migrate::MigrateDatabase;
        if !MySql::database_exists(url).await? {
            MySql::create_database(url).await?;
            tracing::info!("created the database");
        }
        let pool = MySqlPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(3))
            .connect(url)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(MySqlStore { pool })
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, MySql>> {
        self.pool.begin().await.map_err(classify)
    }
}

fn role(s: &str) -> StoreResult<Role> {
    Role::parse(s).ok_or_else(|| StoreError::Other(anyhow!("unknown role {s:?} in database")))
}

fn kind(s: &str) -> StoreResult<SpreadKind> {
    SpreadKind::parse(s).ok_or_else(|| StoreError::Other(anyhow!("unknown spread kind {s:?}")))
}

fn user_from(row: &sqlx::mysql::MySqlRow) -> StoreResult<User> {
    let r: String = row.try_get("role").map_err(classify)?;
    Ok(User {
        id: row.try_get("id").map_err(classify)?,
        email: row.try_get("email").map_err(classify)?,
        role: role(&r)?,
        created_at: row.try_get("created_at").map_err(classify)?,
    })
}

fn opt_spread(
    k: Option<String>,
    b: Option<Decimal>,
    s: Option<Decimal>,
) -> StoreResult<Option<Spread>> {
    match (k, b, s) {
        (Some(k), Some(buy), Some(sell)) => Ok(Some(Spread {
            kind: kind(&k)?,
            buy: buy.normalize(),
            sell: sell.normalize(),
        })),
        _ => Ok(None),
    }
}

async fn lock_spread(
    tx: &mut Transaction<'static, MySql>,
    pair: &str,
) -> StoreResult<Option<Spread>> {
    let row = sqlx::query("SELECT kind, buy, sell FROM spreads WHERE pair = ? FOR UPDATE")
        .bind(pair)
        .fetch_optional(&mut **tx)
        .await
        .map_err(classify)?;
    match row {
        None => Ok(None),
        Some(r) => opt_spread(
            r.try_get("kind").map_err(classify)?,
            r.try_get("buy").map_err(classify)?,
            r.try_get("sell").map_err(classify)?,
        ),
    }
}

async fn audit(
    tx: &mut Transaction<'static, MySql>,
    pair: &str,
    action: &str,
    actor: &Actor,
    old: Option<Spread>,
    new: Option<Spread>,
    reason: Option<&str>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO spread_audit (pair, action, actor_id, actor_email, old_kind, old_buy, old_sell,
                                   new_kind, new_buy, new_sell, reason)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(pair)
    .bind(action)
    .bind(actor.id)
    .bind(&actor.email)
    .bind(old.map(|s| s.kind.as_str()))
    .bind(old.map(|s| s.buy))
    .bind(old.map(|s| s.sell))
    .bind(new.map(|s| s.kind.as_str()))
    .bind(new.map(|s| s.buy))
    .bind(new.map(|s| s.sell))
    .bind(reason)
    .execute(&mut **tx)
    .await
    .map_err(classify)?;
    Ok(())
}

#[async_trait]
impl AccountStore for MySqlStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn create_user(&self, email: &str, password_hash: &str, role: Role) -> StoreResult<User> {
        let done = sqlx::query("INSERT INTO users (email, password_hash, role) VALUES (?, ?, ?)")
            .bind(email)
            .bind(password_hash)
            .bind(role.as_str())
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        self.user(done.last_insert_id())
            .await?
            .ok_or_else(|| StoreError::Other(anyhow!("user vanished after insert")))
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

    async fn user(&self, id: u64) -> StoreResult<Option<User>> {
        let row = sqlx::query("SELECT id, email, role, created_at FROM users WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.as_ref().map(user_from).transpose()
    }

    async fn insert_refresh_token(&self, t: &NewRefreshToken) -> StoreResult<()> {
        sqlx::query("INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) VALUES (?, ?, ?, ?)")
            .bind(t.user_id)
            .bind(&t.family_id)
            .bind(&t.token_hash[..])
            .bind(t.expires_at)
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
        let mut tx = self.begin().await?;
        // FOR UPDATE serialises two concurrent uses of one token: the second sees it rotated.
        let row = sqlx::query(
            "SELECT id, user_id, family_id, expires_at, rotated_at, revoked_at
             FROM refresh_tokens WHERE token_hash = ? FOR UPDATE",
        )
        .bind(&presented[..])
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
        let Some(row) = row else {
            return Ok(RotateOutcome::Invalid);
        };
        let id: u64 = row.try_get("id").map_err(classify)?;
        let user_id: u64 = row.try_get("user_id").map_err(classify)?;
        let family: String = row.try_get("family_id").map_err(classify)?;
        let expires_at: DateTime<Utc> = row.try_get("expires_at").map_err(classify)?;
        let rotated: Option<DateTime<Utc>> = row.try_get("rotated_at").map_err(classify)?;
        let revoked: Option<DateTime<Utc>> = row.try_get("revoked_at").map_err(classify)?;
        if rotated.is_some() || revoked.is_some() {
            sqlx::query("UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL")
                .bind(now)
                .bind(&family)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
            tx.commit().await.map_err(classify)?;
            return Ok(RotateOutcome::Reused);
        }
        if expires_at <= now {
            return Ok(RotateOutcome::Invalid);
        }
        sqlx::query("UPDATE refresh_tokens SET rotated_at = ? WHERE id = ?")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        sqlx::query("INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) VALUES (?, ?, ?, ?)")
            .bind(user_id)
            .bind(&family)
            .bind(&next_hash[..])
            .bind(next_expires)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        let user = sqlx::query("SELECT id, email, role, created_at FROM users WHERE id = ?")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(classify)?;
        let user = user_from(&user)?;
        tx.commit().await.map_err(classify)?;
        Ok(RotateOutcome::Rotated { user })
    }

    async fn revoke_refresh_family(
        &self,
        presented: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, ?)
             WHERE family_id = (SELECT family_id FROM (SELECT family_id FROM refresh_tokens WHERE token_hash = ?) t)",
        )
        .bind(now)
        .bind(&presented[..])
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() > 0)
    }

    async fn purge_expired_refresh_tokens(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < ?")
            .bind(now)
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
                let k: String = r.try_get("kind").map_err(classify)?;
                let buy: Decimal = r.try_get("buy").map_err(classify)?;
                let sell: Decimal = r.try_get("sell").map_err(classify)?;
                Ok(SpreadRow {
                    pair: r.try_get("pair").map_err(classify)?,
                    spread: Spread {
                        kind: kind(&k)?,
                        buy: buy.normalize(),
                        sell: sell.normalize(),
                    },
                    updated_at: r.try_get("updated_at").map_err(classify)?,
                    updated_by: r.try_get("updated_by").map_err(classify)?,
                })
            })
            .collect()
    }

    async fn set_spread(
        &self,
        pair: &str,
        spread: Spread,
        actor: &Actor,
        reason: Option<&str>,
    ) -> StoreResult<Option<Spread>> {
        let mut tx = self.begin().await?;
        let old = lock_spread(&mut tx, pair).await?;
        sqlx::query(
            "INSERT INTO spreads (pair, kind, buy, sell, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, CURRENT_TIMESTAMP(6))
             ON DUPLICATE KEY UPDATE kind = VALUES(kind), buy = VALUES(buy), sell = VALUES(sell),
                                     updated_by = VALUES(updated_by), updated_at = VALUES(updated_at)",
        )
        .bind(pair)
        .bind(spread.kind.as_str())
        .bind(spread.buy)
        .bind(spread.sell)
        .bind(actor.id)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        audit(&mut tx, pair, "set", actor, old, Some(spread), reason).await?;
        tx.commit().await.map_err(classify)?;
        Ok(old)
    }

    async fn delete_spread(
        &self,
        pair: &str,
        actor: &Actor,
        reason: Option<&str>,
    ) -> StoreResult<Option<Spread>> {
        let mut tx = self.begin().await?;
        let Some(old) = lock_spread(&mut tx, pair).await? else {
            return Ok(None);
        };
        sqlx::query("DELETE FROM spreads WHERE pair = ?")
            .bind(pair)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        audit(&mut tx, pair, "delete", actor, Some(old), None, reason).await?;
        tx.commit().await.map_err(classify)?;
        Ok(Some(old))
    }

    async fn users(&self, limit: u32) -> StoreResult<Vec<User>> {
        let rows = sqlx::query("SELECT id, email, role, created_at FROM users ORDER BY id LIMIT ?")
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        rows.iter().map(user_from).collect()
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
                    id: r.try_get("id").map_err(classify)?,
                    pair: r.try_get("pair").map_err(classify)?,
                    action: r.try_get("action").map_err(classify)?,
                    actor_id: r.try_get("actor_id").map_err(classify)?,
                    actor_email: r.try_get("actor_email").map_err(classify)?,
                    at: r.try_get("at").map_err(classify)?,
                    old: opt_spread(
                        r.try_get("old_kind").map_err(classify)?,
                        r.try_get("old_buy").map_err(classify)?,
                        r.try_get("old_sell").map_err(classify)?,
                    )?,
                    new: opt_spread(
                        r.try_get("new_kind").map_err(classify)?,
                        r.try_get("new_buy").map_err(classify)?,
                        r.try_get("new_sell").map_err(classify)?,
                    )?,
                    reason: r.try_get("reason").map_err(classify)?,
                })
            })
            .collect()
    }
}
