//! Storage behind a small trait, so handlers never see SQL and an embedded SQLite store can be
//! added beside [`mysql::MySqlStore`] without touching them.
//!
//! Every multi-step change (refresh-token rotation, spread change + audit row) is one database
//! transaction inside the store.

pub mod mysql;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::pricing::Spread;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: u64,
    pub email: String,
    pub role: Role,
    #[serde(skip)]
    pub created_at: DateTime<Utc>,
}

/// A user with the password hash, for login only.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

/// A refresh token to store (only its hash).
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub user_id: u64,
    pub family_id: String,
    pub token_hash: [u8; 32],
    pub expires_at: DateTime<Utc>,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// Valid: it is now rotated and `new` is stored in the same family.
    Rotated { user: User },
    /// Already rotated or revoked: the whole family is now revoked.
    Reused,
    /// Unknown or expired.
    Invalid,
}

/// A stored spread: `pair` is `BTC/USD` or `default`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpreadRow {
    pub pair: String,
    pub spread: Spread,
    pub updated_at: DateTime<Utc>,
    pub updated_by: u64,
}

/// Who made a change, for the audit trail.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: u64,
    pub email: String,
}

/// One row of the append-only spread audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpreadAudit {
    pub id: u64,
    pub pair: String,
    pub action: String,
    pub actor_id: u64,
    pub actor_email: String,
    pub at: DateTime<Utc>,
    pub old: Option<Spread>,
    pub new: Option<Spread>,
    pub reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached (or timed out): the caller answers 503.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] anyhow::Error),
    /// A uniqueness rule was hit.
    #[error("conflict")]
    Conflict,
    #[error(transparent)]
    Other(anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn ping(&self) -> StoreResult<()>;

    /// Creates a user; [`StoreError::Conflict`] if the email is taken.
    async fn create_user(&self, email: &str, password_hash: &str, role: Role) -> StoreResult<User>;
    async fn credentials(&self, email: &str) -> StoreResult<Option<Credentials>>;
    async fn user(&self, id: u64) -> StoreResult<Option<User>>;

    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> StoreResult<()>;
    /// Atomically rotates `presented` into `next` (same family), or detects reuse.
    async fn rotate_refresh_token(
        &self,
        presented: &[u8; 32],
        next_hash: &[u8; 32],
        next_expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<RotateOutcome>;
    /// Revokes the family of `presented`; false if the token is unknown.
    async fn revoke_refresh_family(
        &self,
        presented: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Deletes refresh tokens expired before `now`; returns how many.
    async fn purge_expired_refresh_tokens(&self, now: DateTime<Utc>) -> StoreResult<u64>;

    async fn spreads(&self) -> StoreResult<Vec<SpreadRow>>;
    /// Sets `pair`'s spread and appends the audit row, in one transaction. Returns the old value.
    async fn set_spread(
        &self,
        pair: &str,
        spread: Spread,
        actor: &Actor,
        reason: Option<&str>,
    ) -> StoreResult<Option<Spread>>;
    /// Deletes `pair`'s spread and appends the audit row; `None` if there was none.
    async fn delete_spread(
        &self,
        pair: &str,
        actor: &Actor,
        reason: Option<&str>,
    ) -> StoreResult<Option<Spread>>;
    /// Newest first.
    async fn spread_history(&self, pair: &str, limit: u32) -> StoreResult<Vec<SpreadAudit>>;
}
