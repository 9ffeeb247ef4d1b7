//! What a database must supply so the store's flows can be written once (ARCHITECTURE.md §8):
//! a way to run a [`Stmt`] on the pool or inside a write transaction, a [`Row`] that decodes
//! decimals, times and ids from its own column types, and the deposit's credit, whose SQL
//! cannot be shared (MariaDB does the addition on `DECIMAL` in SQL under a row lock; SQLite
//! keeps decimals as text and does it in Rust under its single write lock). Orders compute
//! their balances in Rust on both, from rows the batch has locked (`order_batch.rs`).
//!
//! A statement is SQL plus typed [`Value`]s. Both dialects use `?` placeholders, so the SQL in
//! `accounts.rs` and `money.rs` is one text; where the dialects differ (the upsert clause, row
//! locks, exact sums) the backend supplies the fragment. Each backend binds a value with its
//! codec: MariaDB binds `DECIMAL`/`DATETIME(6)` natively, SQLite binds canonical text and
//! integer microseconds.

use std::borrow::Cow;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use common::Decimal;

use super::{StoreError, StoreResult};

/// One value to bind, typed so each backend can encode it its own way.
#[derive(Debug, Clone)]
pub enum Value {
    Text(String),
    OptText(Option<String>),
    Bytes(Vec<u8>),
    Dec(Decimal),
    OptDec(Option<Decimal>),
    Time(DateTime<Utc>),
    /// A row id or user id (`BIGINT UNSIGNED` on MariaDB, a rowid on SQLite).
    Id(u64),
    /// A small count: a `LIMIT`, an HTTP status.
    Int(u32),
}

/// SQL and its arguments, in placeholder order.
#[derive(Debug, Clone)]
pub struct Stmt {
    pub sql: Cow<'static, str>,
    pub args: Vec<Value>,
}

impl Stmt {
    pub fn new(sql: &'static str) -> Stmt {
        Stmt {
            sql: Cow::Borrowed(sql),
            args: Vec::new(),
        }
    }

    /// SQL assembled at run time. Only from constant fragments and placeholders: every value
    /// from a request is bound, never formatted in.
    pub fn assembled(sql: String) -> Stmt {
        Stmt {
            sql: Cow::Owned(sql),
            args: Vec::new(),
        }
    }

    pub fn text(mut self, v: impl Into<String>) -> Stmt {
        self.args.push(Value::Text(v.into()));
        self
    }
    pub fn opt_text(mut self, v: Option<&str>) -> Stmt {
        self.args.push(Value::OptText(v.map(str::to_string)));
        self
    }
    pub fn bytes(mut self, v: &[u8]) -> Stmt {
        self.args.push(Value::Bytes(v.to_vec()));
        self
    }
    pub fn dec(mut self, v: Decimal) -> Stmt {
        self.args.push(Value::Dec(v));
        self
    }
    pub fn opt_dec(mut self, v: Option<Decimal>) -> Stmt {
        self.args.push(Value::OptDec(v));
        self
    }
    pub fn time(mut self, v: DateTime<Utc>) -> Stmt {
        self.args.push(Value::Time(v));
        self
    }
    pub fn id(mut self, v: u64) -> Stmt {
        self.args.push(Value::Id(v));
        self
    }
    pub fn int(mut self, v: u32) -> Stmt {
        self.args.push(Value::Int(v));
        self
    }
    /// A trade's columns in their table order: user_id, pair, side, amount, price, total.
    pub fn trade(self, t: &super::Trade) -> Stmt {
        self.id(t.user_id)
            .text(t.pair.as_str())
            .text(t.side.as_str())
            .dec(t.amount)
            .dec(t.price)
            .dec(t.total)
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy)]
pub struct Done {
    pub rows_affected: u64,
    /// The id an `AUTO_INCREMENT` / rowid insert assigned (0 otherwise).
    pub last_insert_id: u64,
}

/// A result row, read by column name through the backend's codec. Decimals come back
/// normalized (`1.50` → `1.5`), whatever scale the column stores.
pub trait Row: Send + Sync + 'static {
    fn text(&self, col: &str) -> StoreResult<String>;
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>>;
    fn bytes(&self, col: &str) -> StoreResult<Vec<u8>>;
    fn dec(&self, col: &str) -> StoreResult<Decimal>;
    fn opt_dec(&self, col: &str) -> StoreResult<Option<Decimal>>;
    fn time(&self, col: &str) -> StoreResult<DateTime<Utc>>;
    fn opt_time(&self, col: &str) -> StoreResult<Option<DateTime<Utc>>>;
    fn id(&self, col: &str) -> StoreResult<u64>;
    /// A `COUNT(*)` or another non-negative integer.
    fn count(&self, col: &str) -> StoreResult<u64>;
    fn opt_status(&self, col: &str) -> StoreResult<Option<u16>>;
}

/// One database: how to run statements, and the few primitives whose SQL differs.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    type Row: Row;
    /// A write transaction: it holds whatever makes a read-check-write safe on this database
    /// (row locks taken by [`Backend::LOCK`] reads on MariaDB; the write lock on SQLite).
    /// Dropping it rolls back.
    type Tx: Send;

    /// Appended to a `SELECT` of a row the transaction will then change.
    const LOCK: &'static str;
    /// Whether `SUM()` over amounts is exact in SQL (`DECIMAL`), or must happen in Rust.
    const EXACT_SUM: bool;

    /// How an upsert starts when `key` exists (`ON ... UPDATE`), and how it names the value
    /// the insert would have written to `column`.
    fn upsert_head(key: &str) -> String;
    fn inserted(column: &str) -> String;

    /// The clause after `VALUES (...)` that turns an insert into an update of `columns` when
    /// `key` exists.
    fn upsert(key: &str, columns: &[&str]) -> String {
        let set: Vec<String> = columns
            .iter()
            .map(|c| format!("{c} = {}", Self::inserted(c)))
            .collect();
        format!("{} {}", Self::upsert_head(key), set.join(", "))
    }

    /// Closes the pool: open connections end now, new requests fail.
    async fn close(&self);

    /// Runs a read on the pool.
    async fn fetch(&self, stmt: Stmt) -> StoreResult<Vec<Self::Row>>;
    /// Runs a single-statement write on the pool (atomic on its own).
    async fn execute(&self, stmt: Stmt) -> StoreResult<Done>;

    async fn begin(&self) -> StoreResult<Self::Tx>;
    async fn commit(tx: Self::Tx) -> StoreResult<()>;
    async fn fetch_in(tx: &mut Self::Tx, stmt: Stmt) -> StoreResult<Vec<Self::Row>>;
    async fn execute_in(tx: &mut Self::Tx, stmt: Stmt) -> StoreResult<Done>;

    /// Adds `amount` of `asset` to the user's balance, creating it at zero if missing.
    async fn credit(
        tx: &mut Self::Tx,
        user_id: u64,
        asset: &str,
        amount: Decimal,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
}

/// The store: every flow in `accounts.rs` and `money.rs`, over one [`Backend`].
pub struct SqlStore<B> {
    pub(crate) db: B,
}

impl<B: Backend> SqlStore<B> {
    pub fn new(db: B) -> SqlStore<B> {
        SqlStore { db }
    }

    pub fn backend(&self) -> &B {
        &self.db
    }

    /// The first row of a read on the pool, if any.
    pub(crate) async fn fetch_first(&self, stmt: Stmt) -> StoreResult<Option<B::Row>> {
        Ok(self.db.fetch(stmt).await?.into_iter().next())
    }
}

/// The [`Row`] getters whose Rust type each driver decodes as it is, written once: expanded
/// inside a backend's `impl Row`, over that backend's own `get(row, col)`.
macro_rules! plain_getters {
    () => {
        fn text(&self, col: &str) -> StoreResult<String> {
            get(self, col)
        }
        fn opt_text(&self, col: &str) -> StoreResult<Option<String>> {
            get(self, col)
        }
        fn bytes(&self, col: &str) -> StoreResult<Vec<u8>> {
            get(self, col)
        }
        fn opt_status(&self, col: &str) -> StoreResult<Option<u16>> {
            get(self, col)
        }
    };
}
pub(crate) use plain_getters;

/// sqlx's errors as the store's, alike on every database: connection-level failures are
/// "unavailable" (the caller answers 503), a broken uniqueness rule is a conflict, a database
/// error that `own_rule` recognises is what it says (`Transient`: the store retries it), and
/// everything else is a bug or a rule.
pub(crate) fn classify(
    e: sqlx::Error,
    own_rule: impl FnOnce(&dyn sqlx::error::DatabaseError) -> Option<fn(anyhow::Error) -> StoreError>,
) -> StoreError {
    let kind = match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable,
        sqlx::Error::Database(db) if db.is_unique_violation() => return StoreError::Conflict,
        sqlx::Error::Database(db) => own_rule(db.as_ref()).unwrap_or(StoreError::Other),
        _ => StoreError::Other,
    };
    kind(e.into())
}

/// `?, ?, ?` for `n` values: an `IN (...)` list's placeholders.
pub fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// `(?, ?, ?), (?, ?, ?)`: the placeholders of a multi-row insert, `rows` rows of `cols` values.
pub fn rows_of(rows: usize, cols: usize) -> String {
    vec![format!("({})", marks(cols)); rows].join(", ")
}

/// `items` padded to the next power of two by repeating the last one, for an `IN (...)` list:
/// a batch's statements then come in a few sizes, so the prepared-statement cache of a
/// connection keeps them all. A cache that churns closes and re-prepares statements, and sqlx
/// sends the close without waiting for an answer, so the next request waits out the server's
/// delayed ACK (40 ms) behind Nagle.
pub fn padded<T: Clone>(items: &[T]) -> Vec<T> {
    let mut out = items.to_vec();
    if let Some(last) = items.last() {
        out.resize(items.len().next_power_of_two(), last.clone());
    }
    out
}

/// `items` in chunks whose sizes are powers of two, largest first (13 → 8, 4, 1): a multi-row
/// insert in a few statement sizes, for the same reason as [`padded`].
pub fn pow2_chunks<T>(mut items: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    while !items.is_empty() {
        let n = 1usize << (usize::BITS - 1 - items.len().leading_zeros());
        let (head, rest) = items.split_at(n);
        out.push(head);
        items = rest;
    }
    out
}

/// The first row of a read inside a transaction, if any.
pub(crate) async fn fetch_first_in<B: Backend>(
    tx: &mut B::Tx,
    stmt: Stmt,
) -> StoreResult<Option<B::Row>> {
    Ok(B::fetch_in(tx, stmt).await?.into_iter().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_come_in_powers_of_two() {
        assert_eq!(padded(&[1, 2, 3]), vec![1, 2, 3, 3]);
        assert_eq!(padded(&[7]), vec![7]);
        assert!(padded::<u8>(&[]).is_empty());
        let items: Vec<u32> = (0..13).collect();
        let sizes: Vec<usize> = pow2_chunks(&items).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![8, 4, 1]);
        assert_eq!(pow2_chunks(&items).concat(), items);
        assert!(pow2_chunks::<u8>(&[]).is_empty());
    }
}
