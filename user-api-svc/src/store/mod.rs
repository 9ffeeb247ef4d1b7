//! Storage behind a small trait, so handlers never see SQL. [`open`] picks the database by the
//! `DATABASE_URL` scheme: MariaDB for deployments, SQLite for the all-in-one binary.
//!
//! The store is written once ([`backend::SqlStore`]): the flows and their SQL in `accounts`,
//! `money`, `order_batch` (group commit) and `candles`, row mapping in `rows`, the invariants
//! in [`rules`]. Each database is only a [`backend::Backend`]: its connection, its codec for
//! decimals, times and ids, and the deposit's credit ([`mysql`], [`sqlite`]). Both keep the
//! same money guarantees (ARCHITECTURE.md §8) and run the same test suites.

mod accounts;
pub mod backend;
mod candles;
mod money;
pub mod mysql;
mod order_batch;
mod rows;
pub mod rules;
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::money::Side;
use crate::pricing::Spread;
use common::Decimal;

/// Opens the store `url` names: `sqlite://file.db` (created if missing) or `mysql://…`
/// (`mariadb://` too; the database is created if missing). Migrations are applied.
pub async fn open(url: &str, max_connections: u32) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or_default();
    match scheme {
        "sqlite" => Ok(std::sync::Arc::new(
            sqlite::SqliteStore::connect(url, max_connections).await?,
        )),
        "mysql" | "mariadb" => Ok(std::sync::Arc::new(
            mysql::MySqlStore::connect(&url.replacen("mariadb:", "mysql:", 1), max_connections)
                .await?,
        )),
        _ => anyhow::bail!("DATABASE_URL must start with sqlite:// or mysql://"),
    }
}

/// What a user may do (also as the access token's `role` claim; the API shows it as
/// `http::auth::RoleView`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// An account as stored (the API shows it as `http::auth::UserView`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: u64,
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// Disabled by an admin: cannot sign in, holds no session.
    pub disabled: bool,
    /// Must enrol in two-factor sign-in before anything else (admins made by create-admin).
    pub two_factor_required: bool,
}

/// An account's two-factor state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwoFactorRow {
    pub secret: Vec<u8>,
    /// Enrolment confirmed with a first code: sign-in asks for a code.
    pub confirmed: bool,
    /// The newest 30 s step a code was accepted for.
    pub last_step: u64,
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
    Rotated { user: User, family: String },
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

/// An admin's limits for one pair: the largest amount a quote may be for, and the ladder's
/// amounts (`None`: the defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairLimits {
    pub pair: String,
    pub max_amount: Option<Decimal>,
    pub ladder: Option<Vec<Decimal>>,
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
    /// A deadlock or lock-wait timeout: the store retries the transaction; if it persists the
    /// caller answers 503.
    #[error("transient conflict: {0}")]
    Transient(#[source] anyhow::Error),
    #[error(transparent)]
    Other(anyhow::Error),
}

/// A batch's result as one result per job: each job gets its own value, or, if the batch
/// failed, the batch's error (nothing of it was committed).
pub fn per_job<R>(result: StoreResult<Vec<R>>, jobs: usize) -> Vec<StoreResult<R>> {
    match result {
        Ok(done) => done.into_iter().map(Ok).collect(),
        Err(e) => {
            tracing::warn!(error = %e, jobs, "a batch failed; nothing of it was committed");
            (0..jobs).map(|_| Err(e.for_each_job())).collect()
        }
    }
}

impl StoreError {
    /// The same kind of failure with the same text, for each of the jobs a failed batch
    /// answers (the error itself cannot be cloned).
    fn for_each_job(&self) -> StoreError {
        let text = || anyhow::anyhow!(self.to_string());
        match self {
            StoreError::Unavailable(_) => StoreError::Unavailable(text()),
            StoreError::Conflict => StoreError::Conflict,
            StoreError::Transient(_) => StoreError::Transient(text()),
            StoreError::Other(_) => StoreError::Other(text()),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A new id for a row that is inserted often and found by its id (quotes, orders): a UUIDv7,
/// which begins with its creation time, so each batch's new keys land side by side at the end
/// of the table's index instead of one random page of it each (a random v4 dirtied a page per
/// row per index: SQLite's commit wrote them all, InnoDB split pages). 74 random bits remain,
/// and every lookup checks the owner, so the order in which ids are made reveals nothing more
/// than `created_at` does.
pub fn new_row_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// What a quote fixes and its order fills: who trades which pair, which way, how much, at
/// what price per unit and for what total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trade {
    pub user_id: u64,
    pub pair: String,
    pub side: Side,
    pub amount: Decimal,
    pub price: Decimal,
    pub total: Decimal,
}

/// A firm quote to store.
#[derive(Debug, Clone)]
pub struct NewQuote {
    pub id: String,
    pub trade: Trade,
    pub raw_bid: Decimal,
    pub raw_ask: Decimal,
    pub spread: Spread,
    pub revenue: Decimal,
    pub expires_at: DateTime<Utc>,
}

/// The answer kept with an `Idempotency-Key`: what a replay returns, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// How the caller answers an order's outcome (its HTTP status and body), so the answer can be
/// stored with the key in the order's own transaction.
pub type RenderAnswer<'a> = &'a (dyn Fn(&OrderOutcome) -> Answer + Send + Sync);

/// One order of a batch: who asks, which quote, under which key (and the request's hash, so
/// the key cannot be reused for another request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderJob {
    pub user_id: u64,
    pub quote_id: String,
    pub key: String,
    pub hash: [u8; 32],
}

/// How one order of a batch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executed {
    /// Executed now (filled or refused), its answer recorded with its key in the same commit.
    Done {
        outcome: OrderOutcome,
        answer: Answer,
    },
    /// The key was answered before for the same request: this answer again.
    Replay(Answer),
    /// The key was used before for another request.
    KeyReused,
    /// The same key is being executed right now.
    InFlight,
}

/// A quote to file, refused if its owner cannot pay `pays` of `pays_asset` now.
#[derive(Debug, Clone)]
pub struct QuoteJob {
    pub quote: NewQuote,
    pub pays_asset: String,
    pub pays: Decimal,
}

/// How filing a quote ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filed {
    Filed,
    Unaffordable,
}

/// A filled order, as stored (the API shows it as `http::orders::OrderView`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub quote_id: String,
    /// Exactly the quote's.
    pub trade: Trade,
    pub revenue: Decimal,
    /// Always `filled`: an order either executes in full at the quoted price or not at all.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub asset: String,
    pub available: Decimal,
}

/// One line of a user's ledger account: what moved, when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerLine {
    /// The entry's id (rising with time).
    pub id: u64,
    pub at: DateTime<Utc>,
    /// `deposit` or `trade`.
    pub kind: String,
    /// The order id of a trade, the deposit's reference otherwise.
    pub reference: String,
    pub asset: String,
    /// Positive in, negative out.
    pub amount: Decimal,
}

/// How executing a quote ended. Only `Filled` changed anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderOutcome {
    Filled {
        order: Box<Order>,
        /// Every balance of the user after the fill, as the transaction wrote them.
        balances: Vec<Balance>,
    },
    QuoteNotFound,
    QuoteUsed,
    QuoteExpired,
    InsufficientFunds {
        asset: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevenueRow {
    pub pair: String,
    pub amount: Decimal,
    pub orders: u64,
}

/// Everything a store does: accounts and spreads ([`AccountStore`], in `accounts.rs`), money
/// ([`MoneyStore`], in `money.rs`).
pub trait Store: AccountStore + MoneyStore + CandleStore {}

impl<T: AccountStore + MoneyStore + CandleStore> Store for T {}

/// Price history (`crate::candles`).
#[async_trait]
pub trait CandleStore: Send + Sync + 'static {
    /// Stores closed minutes, each merged into its 5 m and 1 h candles, in one transaction;
    /// a minute already stored is left as it is.
    async fn save_candles(&self, minutes: &[crate::candles::Candle]) -> StoreResult<()>;
    /// The candles of `pair` (`BTC/USD`) and `interval` starting in `[from, to)`, oldest
    /// first, at most `limit`.
    async fn candles(
        &self,
        pair: &str,
        interval: crate::candles::Interval,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<crate::candles::Candle>>;
    /// Deletes the candles of `interval` that started before `before`; returns how many.
    async fn purge_candles(
        &self,
        interval: crate::candles::Interval,
        before: DateTime<Utc>,
    ) -> StoreResult<u64>;
}

#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    async fn ping(&self) -> StoreResult<()>;
    /// Ends every database connection (the last step of a stop).
    async fn close(&self);

    /// Creates a user; [`StoreError::Conflict`] if the email, or its look-alike key, is taken.
    async fn create_user(
        &self,
        email: &crate::auth::email::AccountEmail,
        password_hash: &str,
        role: Role,
    ) -> StoreResult<User>;
    /// Accounts whose look-alike key is not set yet (written before keys existed), oldest
    /// first: `(id, email as stored)`.
    async fn unkeyed_emails(&self) -> StoreResult<Vec<(u64, String)>>;
    /// Sets an account's look-alike key if it has none; [`StoreError::Conflict`] if another
    /// account already holds that key.
    async fn set_email_key(&self, id: u64, key: &[u8; 32]) -> StoreResult<()>;
    /// The account holding a look-alike key.
    async fn user_by_email_key(&self, key: &[u8; 32]) -> StoreResult<Option<User>>;
    async fn credentials(&self, email: &str) -> StoreResult<Option<Credentials>>;
    async fn user(&self, id: u64) -> StoreResult<Option<User>>;
    /// For each `(user id, session family)`: the user, if the account is enabled and that
    /// session (a refresh-token family) is still live at `now`. One read for every
    /// authenticated request that arrives together (`auth::SessionCheck`).
    async fn session_users(
        &self,
        sessions: &[(u64, String)],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Option<User>>>;
    /// Disables (or enables) an account; disabling revokes every refresh token of it in the
    /// same transaction. False if there is no such account.
    async fn set_disabled(&self, id: u64, disabled: bool, now: DateTime<Utc>) -> StoreResult<bool>;
    /// Marks the account as one that must enrol in two-factor sign-in.
    async fn require_two_factor(&self, id: u64, now: DateTime<Utc>) -> StoreResult<()>;
    async fn two_factor(&self, user_id: u64) -> StoreResult<Option<TwoFactorRow>>;
    /// Starts (or restarts) enrolment with `secret`; false if two-factor is already confirmed.
    async fn start_two_factor(
        &self,
        user_id: u64,
        secret: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Confirms enrolment at `step`, stores the recovery codes' hashes and ends every session of
    /// the account, in one transaction; false if there was no enrolment to confirm.
    async fn confirm_two_factor(
        &self,
        user_id: u64,
        step: u64,
        recovery_hashes: &[[u8; 32]],
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Accepts a code of `step` once: false if a code of that step or a newer one was already
    /// accepted (a replay).
    async fn use_two_factor_step(&self, user_id: u64, step: u64) -> StoreResult<bool>;
    /// Spends a recovery code; false if it is unknown or used.
    async fn use_recovery_code(
        &self,
        user_id: u64,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Turns two-factor sign-in off (secret and recovery codes deleted) and ends every session
    /// of the account, in one transaction.
    async fn remove_two_factor(&self, user_id: u64, now: DateTime<Utc>) -> StoreResult<()>;
    /// Replaces the user's password hash and revokes every refresh token of the user, in one
    /// transaction (a changed password signs every other session out).
    async fn set_password(
        &self,
        user_id: u64,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> StoreResult<()>;
    /// Atomically rotates `presented` into `next` (same family), or detects reuse.
    async fn rotate_refresh_token(
        &self,
        presented: &[u8; 32],
        next_hash: &[u8; 32],
        next_expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<RotateOutcome>;
    /// Revokes the family of `presented`: `(user id, family id)`, or `None` if the token is
    /// unknown.
    async fn revoke_refresh_family(
        &self,
        presented: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(u64, String)>>;
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

    /// Every pair's admin-set limits, by pair.
    async fn pair_limits(&self) -> StoreResult<Vec<PairLimits>>;
    /// Sets one pair's limits (replacing what was there).
    async fn set_pair_limits(&self, limits: &PairLimits) -> StoreResult<()>;

    async fn users(&self, limit: u32) -> StoreResult<Vec<User>>;

    /// The user's favourite pairs (`BTC/USD`), in name order.
    async fn watchlist(&self, user_id: u64) -> StoreResult<Vec<String>>;
    /// Adds `pair` to the user's favourites (already there: nothing changes).
    async fn watch(&self, user_id: u64, pair: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// Removes `pair` from the user's favourites (not there: nothing changes).
    async fn unwatch(&self, user_id: u64, pair: &str) -> StoreResult<()>;
}

/// Quotes, orders, balances and the ledger (ARCHITECTURE.md §8).
#[async_trait]
pub trait MoneyStore: Send + Sync + 'static {
    /// Files a batch of quotes in one insert (group commit); one result per quote, in order.
    async fn file_quotes(&self, quotes: &[QuoteJob]) -> StoreResult<Vec<Filed>>;
    /// Executes a batch of orders in one transaction (group commit): per order, the quote
    /// locked and consumed, balances, ledger, the order row and the key's answer
    /// (`render(outcome)`); a refusal writes only its answer. Retried whole on deadlock. One
    /// result per job, in order.
    async fn execute_orders(
        &self,
        jobs: &[OrderJob],
        now: DateTime<Utc>,
        render: RenderAnswer<'_>,
    ) -> StoreResult<Vec<Executed>>;
    /// Credits `amount` of `asset` to a user from the external account; returns the ledger
    /// transaction id and the new balance.
    async fn deposit(
        &self,
        user_id: u64,
        asset: &str,
        amount: Decimal,
    ) -> StoreResult<(u64, Decimal)>;
    async fn balances(&self, user_id: u64) -> StoreResult<Vec<Balance>>;
    /// Every ledger line of the user's account, oldest first.
    async fn ledger(&self, user_id: u64) -> StoreResult<Vec<LedgerLine>>;
    /// Newest first, strictly before `before` (created_at, id) when given.
    async fn orders(
        &self,
        user_id: u64,
        limit: u32,
        before: Option<(DateTime<Utc>, String)>,
    ) -> StoreResult<Vec<Order>>;
    async fn order(&self, user_id: u64, id: &str) -> StoreResult<Option<Order>>;
    async fn revenue(&self) -> StoreResult<Vec<RevenueRow>>;
    /// Deletes unconsumed quotes expired before `quotes_before`, the idempotency records of
    /// refused orders made before it, and every idempotency record older than `keys_before`;
    /// returns both counts.
    async fn purge_money(
        &self,
        quotes_before: DateTime<Utc>,
        keys_before: DateTime<Utc>,
    ) -> StoreResult<(u64, u64)>;
}

#[cfg(test)]
mod tests {
    /// The property the indexes rely on: ids made later sort after earlier ones, even within
    /// one millisecond, and each is a well-formed UUIDv7.
    #[test]
    fn row_ids_sort_in_the_order_they_were_made() {
        let ids: Vec<String> = (0..1000).map(|_| super::new_row_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids out of order");
        for id in &ids {
            let parsed = uuid::Uuid::parse_str(id).expect("a UUID");
            assert_eq!(parsed.get_version_num(), 7, "{id}");
        }
    }
}
