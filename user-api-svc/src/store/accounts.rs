//! Users, refresh-token families and spreads with their audit trail: [`AccountStore`] written
//! once over any [`Backend`]. Every multi-step change is one write transaction; times are the
//! application's clock (`Utc::now()`), bound explicitly, so both databases store the same
//! instants.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::backend::{fetch_first_in, Backend, Row as _, SqlStore, Stmt};
use super::rows::{self, USER_COLUMNS};
use super::*;

const SPREAD_COLUMNS: &[&str] = &["kind", "buy", "sell", "updated_by", "updated_at"];

fn user_by_id(id: u64) -> Stmt {
    Stmt::assembled(format!("{USER_COLUMNS} WHERE id = ?")).id(id)
}

/// Revokes every live refresh token of `user_id` (every session of the account).
fn revoke_all(user_id: u64, now: DateTime<Utc>) -> Stmt {
    Stmt::new("UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE user_id = ?")
        .time(now)
        .id(user_id)
}

impl<B: Backend> SqlStore<B> {
    /// The spread of `pair`, locked until the transaction ends.
    async fn lock_spread(tx: &mut B::Tx, pair: &str) -> StoreResult<Option<Spread>> {
        let sql = format!(
            "SELECT kind, buy, sell FROM spreads WHERE pair = ? {}",
            B::LOCK
        );
        match fetch_first_in::<B>(tx, Stmt::assembled(sql).text(pair)).await? {
            Some(row) => rows::opt_spread(&row, ""),
            None => Ok(None),
        }
    }

    async fn append_audit(
        tx: &mut B::Tx,
        pair: &str,
        action: &str,
        actor: &Actor,
        old: Option<Spread>,
        new: Option<Spread>,
        reason: Option<&str>,
    ) -> StoreResult<()> {
        let stmt = Stmt::new(
            "INSERT INTO spread_audit (pair, action, actor_id, actor_email, at, old_kind, old_buy,
                                       old_sell, new_kind, new_buy, new_sell, reason)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .text(pair)
        .text(action)
        .id(actor.id)
        .text(&actor.email)
        .time(Utc::now())
        .opt_text(old.map(|s| s.kind.as_str()))
        .opt_dec(old.map(|s| s.buy))
        .opt_dec(old.map(|s| s.sell))
        .opt_text(new.map(|s| s.kind.as_str()))
        .opt_dec(new.map(|s| s.buy))
        .opt_dec(new.map(|s| s.sell))
        .opt_text(reason);
        B::execute_in(tx, stmt).await?;
        Ok(())
    }

    fn insert_token(user_id: u64, family: &str, hash: &[u8], expires: DateTime<Utc>) -> Stmt {
        Stmt::new(
            "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at, created_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .id(user_id)
        .text(family)
        .bytes(hash)
        .time(expires)
        .time(Utc::now())
    }
}

#[async_trait]
impl<B: Backend> AccountStore for SqlStore<B> {
    async fn ping(&self) -> StoreResult<()> {
        self.db.fetch(Stmt::new("SELECT 1")).await?;
        Ok(())
    }

    async fn close(&self) {
        self.db.close().await;
    }

    async fn create_user(
        &self,
        email: &crate::auth::email::AccountEmail,
        password_hash: &str,
        role: Role,
    ) -> StoreResult<User> {
        let done = self
            .db
            .execute(
                Stmt::new(
                    "INSERT INTO users (email, email_key, password_hash, role, created_at)
                     VALUES (?, ?, ?, ?, ?)",
                )
                .text(&email.normalized)
                .bytes(&email.key)
                .text(password_hash)
                .text(role.as_str())
                .time(Utc::now()),
            )
            .await?;
        self.user(done.last_insert_id)
            .await?
            .ok_or_else(|| StoreError::Other(anyhow::anyhow!("user vanished after insert")))
    }

    async fn unkeyed_emails(&self) -> StoreResult<Vec<(u64, String)>> {
        let rows = self
            .db
            .fetch(Stmt::new(
                "SELECT id, email FROM users WHERE email_key IS NULL ORDER BY id",
            ))
            .await?;
        rows.iter()
            .map(|r| Ok((r.id("id")?, r.text("email")?)))
            .collect()
    }

    async fn set_email_key(&self, id: u64, key: &[u8; 32]) -> StoreResult<()> {
        self.db
            .execute(
                Stmt::new("UPDATE users SET email_key = ? WHERE id = ? AND email_key IS NULL")
                    .bytes(key)
                    .id(id),
            )
            .await?;
        Ok(())
    }

    async fn user_by_email_key(&self, key: &[u8; 32]) -> StoreResult<Option<User>> {
        let stmt = Stmt::assembled(format!("{USER_COLUMNS} WHERE email_key = ?")).bytes(key);
        self.fetch_first(stmt)
            .await?
            .as_ref()
            .map(rows::user)
            .transpose()
    }

    async fn credentials(&self, email: &str) -> StoreResult<Option<Credentials>> {
        let stmt = Stmt::new(
            "SELECT id, email, role, created_at, disabled_at, two_factor_required_at, password_hash
             FROM users WHERE email = ?",
        )
        .text(email);
        let Some(row) = self.fetch_first(stmt).await? else {
            return Ok(None);
        };
        Ok(Some(Credentials {
            user: rows::user(&row)?,
            password_hash: row.text("password_hash")?,
        }))
    }

    async fn user(&self, id: u64) -> StoreResult<Option<User>> {
        self.fetch_first(user_by_id(id))
            .await?
            .as_ref()
            .map(rows::user)
            .transpose()
    }

    async fn set_password(
        &self,
        user_id: u64,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        B::execute_in(
            &mut tx,
            Stmt::new("UPDATE users SET password_hash = ? WHERE id = ?")
                .text(password_hash)
                .id(user_id),
        )
        .await?;
        B::execute_in(&mut tx, revoke_all(user_id, now)).await?;
        B::commit(tx).await
    }

    async fn session_users(
        &self,
        sessions: &[(u64, String)],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Option<User>>> {
        if sessions.is_empty() {
            return Ok(Vec::new());
        }
        let families: Vec<&str> = sessions.iter().map(|(_, f)| f.as_str()).collect();
        let families = super::backend::padded(&families);
        let mut stmt = Stmt::assembled(format!(
            "SELECT DISTINCT u.id, u.email, u.role, u.created_at, u.disabled_at,
                    u.two_factor_required_at, r.family_id
             FROM refresh_tokens r JOIN users u ON u.id = r.user_id
             WHERE r.family_id IN ({}) AND r.revoked_at IS NULL AND r.expires_at > ?
               AND u.disabled_at IS NULL",
            super::backend::marks(families.len())
        ));
        for family in families {
            stmt = stmt.text(family);
        }
        let mut live = std::collections::HashMap::new();
        for row in self.db.fetch(stmt.time(now)).await? {
            let user = rows::user(&row)?;
            live.insert((user.id, row.text("family_id")?), user);
        }
        Ok(sessions.iter().map(|s| live.get(s).cloned()).collect())
    }

    async fn require_two_factor(&self, id: u64, now: DateTime<Utc>) -> StoreResult<()> {
        let stmt = Stmt::new(
            "UPDATE users SET two_factor_required_at = COALESCE(two_factor_required_at, ?)
             WHERE id = ?",
        )
        .time(now)
        .id(id);
        self.db.execute(stmt).await?;
        Ok(())
    }

    async fn two_factor(&self, user_id: u64) -> StoreResult<Option<TwoFactorRow>> {
        let stmt =
            Stmt::new("SELECT secret, confirmed_at, last_step FROM two_factor WHERE user_id = ?")
                .id(user_id);
        let Some(row) = self.fetch_first(stmt).await? else {
            return Ok(None);
        };
        Ok(Some(TwoFactorRow {
            secret: row.bytes("secret")?,
            confirmed: row.opt_time("confirmed_at")?.is_some(),
            last_step: row.count("last_step")?,
        }))
    }

    async fn start_two_factor(
        &self,
        user_id: u64,
        secret: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let sql = format!(
            "SELECT confirmed_at FROM two_factor WHERE user_id = ? {}",
            B::LOCK
        );
        if let Some(row) = fetch_first_in::<B>(&mut tx, Stmt::assembled(sql).id(user_id)).await? {
            if row.opt_time("confirmed_at")?.is_some() {
                return Ok(false);
            }
        }
        B::execute_in(
            &mut tx,
            Stmt::new("DELETE FROM two_factor WHERE user_id = ?").id(user_id),
        )
        .await?;
        B::execute_in(
            &mut tx,
            Stmt::new("INSERT INTO two_factor (user_id, secret, created_at) VALUES (?, ?, ?)")
                .id(user_id)
                .bytes(secret)
                .time(now),
        )
        .await?;
        B::commit(tx).await?;
        Ok(true)
    }

    async fn confirm_two_factor(
        &self,
        user_id: u64,
        step: u64,
        recovery_hashes: &[[u8; 32]],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let confirm = Stmt::new(
            "UPDATE two_factor SET confirmed_at = ?, last_step = ?
             WHERE user_id = ? AND confirmed_at IS NULL",
        )
        .time(now)
        .id(step)
        .id(user_id);
        if B::execute_in(&mut tx, confirm).await?.rows_affected != 1 {
            return Ok(false);
        }
        B::execute_in(
            &mut tx,
            Stmt::new("DELETE FROM recovery_codes WHERE user_id = ?").id(user_id),
        )
        .await?;
        for hash in recovery_hashes {
            B::execute_in(
                &mut tx,
                Stmt::new("INSERT INTO recovery_codes (user_id, code_hash) VALUES (?, ?)")
                    .id(user_id)
                    .bytes(hash),
            )
            .await?;
        }
        B::execute_in(&mut tx, revoke_all(user_id, now)).await?;
        B::commit(tx).await?;
        Ok(true)
    }

    async fn use_two_factor_step(&self, user_id: u64, step: u64) -> StoreResult<bool> {
        let stmt = Stmt::new(
            "UPDATE two_factor SET last_step = ?
             WHERE user_id = ? AND confirmed_at IS NOT NULL AND last_step < ?",
        )
        .id(step)
        .id(user_id)
        .id(step);
        Ok(self.db.execute(stmt).await?.rows_affected == 1)
    }

    async fn use_recovery_code(
        &self,
        user_id: u64,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let stmt = Stmt::new(
            "UPDATE recovery_codes SET used_at = ?
             WHERE user_id = ? AND code_hash = ? AND used_at IS NULL",
        )
        .time(now)
        .id(user_id)
        .bytes(hash);
        Ok(self.db.execute(stmt).await?.rows_affected == 1)
    }

    async fn remove_two_factor(&self, user_id: u64, now: DateTime<Utc>) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        for sql in [
            "DELETE FROM recovery_codes WHERE user_id = ?",
            "DELETE FROM two_factor WHERE user_id = ?",
        ] {
            B::execute_in(&mut tx, Stmt::new(sql).id(user_id)).await?;
        }
        B::execute_in(&mut tx, revoke_all(user_id, now)).await?;
        B::commit(tx).await
    }

    async fn set_disabled(&self, id: u64, disabled: bool, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let set = if disabled {
            Stmt::new("UPDATE users SET disabled_at = COALESCE(disabled_at, ?) WHERE id = ?")
                .time(now)
                .id(id)
        } else {
            Stmt::new("UPDATE users SET disabled_at = NULL WHERE id = ?").id(id)
        };
        B::execute_in(&mut tx, set).await?;
        let exists = fetch_first_in::<B>(&mut tx, user_by_id(id))
            .await?
            .is_some();
        if disabled {
            B::execute_in(&mut tx, revoke_all(id, now)).await?;
        }
        B::commit(tx).await?;
        Ok(exists)
    }

    async fn insert_refresh_token(&self, t: &NewRefreshToken) -> StoreResult<()> {
        let stmt = Self::insert_token(t.user_id, &t.family_id, &t.token_hash, t.expires_at);
        self.db.execute(stmt).await?;
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        presented: &[u8; 32],
        next_hash: &[u8; 32],
        next_expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<RotateOutcome> {
        let mut tx = self.db.begin().await?;
        // The lock serialises two concurrent uses of one token: the second sees it rotated.
        let sql = format!(
            "SELECT id, user_id, family_id, expires_at, rotated_at, revoked_at
             FROM refresh_tokens WHERE token_hash = ? {}",
            B::LOCK
        );
        let Some(token) =
            fetch_first_in::<B>(&mut tx, Stmt::assembled(sql).bytes(presented)).await?
        else {
            return Ok(RotateOutcome::Invalid);
        };
        let family = token.text("family_id")?;
        if token.opt_time("rotated_at")?.is_some() || token.opt_time("revoked_at")?.is_some() {
            let revoke = Stmt::new(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
            )
            .time(now)
            .text(&family);
            B::execute_in(&mut tx, revoke).await?;
            B::commit(tx).await?;
            return Ok(RotateOutcome::Reused);
        }
        if token.time("expires_at")? <= now {
            return Ok(RotateOutcome::Invalid);
        }
        let user_id = token.id("user_id")?;
        let rotate = Stmt::new("UPDATE refresh_tokens SET rotated_at = ? WHERE id = ?")
            .time(now)
            .id(token.id("id")?);
        B::execute_in(&mut tx, rotate).await?;
        B::execute_in(
            &mut tx,
            Self::insert_token(user_id, &family, next_hash, next_expires),
        )
        .await?;
        // Decoded before commit: if the answer cannot be built, the rotation does not happen
        // and the presented token stays valid for a retry.
        let user = match fetch_first_in::<B>(&mut tx, user_by_id(user_id)).await? {
            Some(row) => rows::user(&row)?,
            None => return Ok(RotateOutcome::Invalid),
        };
        if user.disabled {
            return Ok(RotateOutcome::Invalid);
        }
        B::commit(tx).await?;
        Ok(RotateOutcome::Rotated { user, family })
    }

    async fn revoke_refresh_family(
        &self,
        presented: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(u64, String)>> {
        let find = Stmt::new("SELECT user_id, family_id FROM refresh_tokens WHERE token_hash = ?")
            .bytes(presented);
        let Some(token) = self.fetch_first(find).await? else {
            return Ok(None);
        };
        let (user, family) = (token.id("user_id")?, token.text("family_id")?);
        let stmt = Stmt::new(
            "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE family_id = ?",
        )
        .time(now)
        .text(&family);
        self.db.execute(stmt).await?;
        Ok(Some((user, family)))
    }

    async fn purge_expired_refresh_tokens(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let stmt = Stmt::new("DELETE FROM refresh_tokens WHERE expires_at < ?").time(now);
        Ok(self.db.execute(stmt).await?.rows_affected)
    }

    async fn spreads(&self) -> StoreResult<Vec<SpreadRow>> {
        let stmt = Stmt::new(
            "SELECT pair, kind, buy, sell, updated_at, updated_by FROM spreads ORDER BY pair",
        );
        rows::all(&self.db.fetch(stmt).await?, rows::spread_row)
    }

    async fn set_spread(
        &self,
        pair: &str,
        spread: Spread,
        actor: &Actor,
        reason: Option<&str>,
    ) -> StoreResult<Option<Spread>> {
        let mut tx = self.db.begin().await?;
        let old = Self::lock_spread(&mut tx, pair).await?;
        let sql = format!(
            "INSERT INTO spreads (pair, kind, buy, sell, updated_by, updated_at)
             VALUES (?, ?, ?, ?, ?, ?) {}",
            B::upsert("pair", SPREAD_COLUMNS)
        );
        let upsert = Stmt::assembled(sql)
            .text(pair)
            .text(spread.kind.as_str())
            .dec(spread.buy)
            .dec(spread.sell)
            .id(actor.id)
            .time(Utc::now());
        B::execute_in(&mut tx, upsert).await?;
        Self::append_audit(&mut tx, pair, "set", actor, old, Some(spread), reason).await?;
        B::commit(tx).await?;
        Ok(old)
    }

    async fn delete_spread(
        &self,
        pair: &str,
        actor: &Actor,
        reason: Option<&str>,
    ) -> StoreResult<Option<Spread>> {
        let mut tx = self.db.begin().await?;
        let Some(old) = Self::lock_spread(&mut tx, pair).await? else {
            return Ok(None);
        };
        B::execute_in(
            &mut tx,
            Stmt::new("DELETE FROM spreads WHERE pair = ?").text(pair),
        )
        .await?;
        Self::append_audit(&mut tx, pair, "delete", actor, Some(old), None, reason).await?;
        B::commit(tx).await?;
        Ok(Some(old))
    }

    async fn spread_history(&self, pair: &str, limit: u32) -> StoreResult<Vec<SpreadAudit>> {
        let stmt = Stmt::new(
            "SELECT id, pair, action, actor_id, actor_email, at, old_kind, old_buy, old_sell,
                    new_kind, new_buy, new_sell, reason
             FROM spread_audit WHERE pair = ? ORDER BY id DESC LIMIT ?",
        )
        .text(pair)
        .int(limit);
        rows::all(&self.db.fetch(stmt).await?, rows::audit)
    }

    async fn pair_limits(&self) -> StoreResult<Vec<PairLimits>> {
        let stmt = Stmt::new(
            "SELECT pair, max_amount, ladder, updated_at, updated_by FROM pair_limits ORDER BY pair",
        );
        rows::all(&self.db.fetch(stmt).await?, rows::pair_limits)
    }

    async fn set_pair_limits(&self, limits: &PairLimits) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO pair_limits (pair, max_amount, ladder, updated_by, updated_at)
             VALUES (?, ?, ?, ?, ?) {}",
            B::upsert(
                "pair",
                &["max_amount", "ladder", "updated_by", "updated_at"]
            )
        );
        let ladder = limits.ladder.as_ref().map(|l| {
            l.iter()
                .map(|a| a.normalize().to_string())
                .collect::<Vec<_>>()
                .join(",")
        });
        let stmt = Stmt::assembled(sql)
            .text(limits.pair.as_str())
            .opt_dec(limits.max_amount)
            .opt_text(ladder.as_deref())
            .id(limits.updated_by)
            .time(limits.updated_at);
        self.db.execute(stmt).await?;
        Ok(())
    }

    async fn users(&self, limit: u32) -> StoreResult<Vec<User>> {
        let sql = format!("{USER_COLUMNS} ORDER BY id LIMIT ?");
        rows::all(
            &self.db.fetch(Stmt::assembled(sql).int(limit)).await?,
            rows::user,
        )
    }

    async fn watchlist(&self, user_id: u64) -> StoreResult<Vec<String>> {
        let stmt =
            Stmt::new("SELECT pair FROM watchlist WHERE user_id = ? ORDER BY pair").id(user_id);
        rows::all(&self.db.fetch(stmt).await?, |r| r.text("pair"))
    }

    async fn watch(&self, user_id: u64, pair: &str, now: DateTime<Utc>) -> StoreResult<()> {
        // Adding a pair twice keeps the first time it was added.
        let sql = format!(
            "INSERT INTO watchlist (user_id, pair, added_at) VALUES (?, ?, ?) {}",
            B::upsert("user_id, pair", &["user_id"])
        );
        let stmt = Stmt::assembled(sql).id(user_id).text(pair).time(now);
        self.db.execute(stmt).await?;
        Ok(())
    }

    async fn unwatch(&self, user_id: u64, pair: &str) -> StoreResult<()> {
        let stmt = Stmt::new("DELETE FROM watchlist WHERE user_id = ? AND pair = ?")
            .id(user_id)
            .text(pair);
        self.db.execute(stmt).await?;
        Ok(())
    }
}
