//! Quotes, idempotency records, order execution, deposits and revenue: [`MoneyStore`] written
//! once over any [`Backend`] (ARCHITECTURE.md §8).
//!
//! Orders and quotes are executed in batches (group commit), in `order_batch.rs`. A deposit is
//! one write transaction: credit, a balanced ledger transaction from the external account, the
//! new balance. A transient conflict (MariaDB deadlock or lock wait) is retried with backoff
//! and counted, for orders and deposits alike ([`rules::retrying`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use common::Decimal;

use super::backend::{fetch_first_in, rows_of, Backend, Row as _, SqlStore, Stmt};
use super::rows::{self, ORDER_COLUMNS};
use super::rules;
use super::*;

fn balances_of(user_id: u64) -> Stmt {
    Stmt::new("SELECT asset, available FROM balances WHERE user_id = ? ORDER BY asset").id(user_id)
}

fn is_transient(e: &StoreError) -> bool {
    matches!(e, StoreError::Transient(_))
}

fn corrupt(what: String) -> StoreError {
    StoreError::Other(anyhow::anyhow!(what))
}

impl<B: Backend> SqlStore<B> {
    /// Writes a ledger transaction with entries `(account, asset, amount)`; refuses, before a
    /// line is written and in every build, one that does not sum to zero per asset.
    pub(crate) async fn ledger(
        tx: &mut B::Tx,
        kind: &str,
        reference: &str,
        entries: &[(String, &str, Decimal)],
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        rules::check_balanced(reference, entries).map_err(corrupt)?;
        let head = Stmt::new(
            "INSERT INTO ledger_transactions (kind, reference, created_at) VALUES (?, ?, ?)",
        )
        .text(kind)
        .text(reference)
        .time(now);
        let id = B::execute_in(tx, head).await?.last_insert_id;
        // One multi-row insert: one round trip for all lines.
        let mut lines = Stmt::assembled(format!(
            "INSERT INTO ledger_entries (tx_id, account, asset, amount) VALUES {}",
            rows_of(entries.len(), 4)
        ));
        for (account, asset, amount) in entries {
            lines = lines
                .id(id)
                .text(account.as_str())
                .text(*asset)
                .dec(*amount);
        }
        B::execute_in(tx, lines).await?;
        Ok(id)
    }

    async fn try_deposit(
        &self,
        user_id: u64,
        asset: &str,
        amount: Decimal,
    ) -> StoreResult<(u64, Decimal)> {
        let now = Utc::now();
        let mut tx = self.db.begin().await?;
        B::credit(&mut tx, user_id, asset, amount, now).await?;
        let id = Self::ledger(
            &mut tx,
            "deposit",
            &format!("deposit:{user_id}"),
            &[
                ("external".to_string(), asset, -amount),
                (format!("user:{user_id}"), asset, amount),
            ],
            now,
        )
        .await?;
        let balance = Stmt::new("SELECT available FROM balances WHERE user_id = ? AND asset = ?")
            .id(user_id)
            .text(asset);
        let balance = match fetch_first_in::<B>(&mut tx, balance).await? {
            Some(row) => row.dec("available")?,
            None => return Err(corrupt(format!("no {asset} balance after a deposit"))),
        };
        B::commit(tx).await?;
        Ok((id, balance))
    }
}

#[async_trait]
impl<B: Backend> MoneyStore for SqlStore<B> {
    async fn file_quotes(&self, quotes: &[QuoteJob]) -> StoreResult<Vec<Filed>> {
        self.run_quotes(quotes).await
    }

    async fn execute_orders(
        &self,
        jobs: &[OrderJob],
        now: DateTime<Utc>,
        render: RenderAnswer<'_>,
    ) -> StoreResult<Vec<Executed>> {
        self.run_orders(jobs, now, render).await
    }

    async fn deposit(
        &self,
        user_id: u64,
        asset: &str,
        amount: Decimal,
    ) -> StoreResult<(u64, Decimal)> {
        rules::retrying("deposit", is_transient, || {
            self.try_deposit(user_id, asset, amount)
        })
        .await
    }

    async fn balances(&self, user_id: u64) -> StoreResult<Vec<Balance>> {
        rows::all(&self.db.fetch(balances_of(user_id)).await?, rows::balance)
    }

    async fn ledger(&self, user_id: u64) -> StoreResult<Vec<LedgerLine>> {
        let stmt = Stmt::new(
            "SELECT e.id, t.created_at, t.kind, t.reference, e.asset, e.amount
             FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.tx_id
             WHERE e.account = ? ORDER BY e.id",
        )
        .text(format!("user:{user_id}"));
        rows::all(&self.db.fetch(stmt).await?, |r| {
            Ok(LedgerLine {
                id: r.id("id")?,
                at: r.time("created_at")?,
                kind: r.text("kind")?,
                reference: r.text("reference")?,
                asset: r.text("asset")?,
                amount: r.dec("amount")?,
            })
        })
    }

    async fn orders(
        &self,
        user_id: u64,
        limit: u32,
        before: Option<(DateTime<Utc>, String)>,
    ) -> StoreResult<Vec<Order>> {
        let stmt = match before {
            None => Stmt::assembled(format!(
                "{ORDER_COLUMNS} WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT ?"
            ))
            .id(user_id),
            Some((at, id)) => Stmt::assembled(format!(
                "{ORDER_COLUMNS} WHERE user_id = ?
                   AND (created_at < ? OR (created_at = ? AND id < ?))
                 ORDER BY created_at DESC, id DESC LIMIT ?"
            ))
            .id(user_id)
            .time(at)
            .time(at)
            .text(id),
        };
        rows::all(&self.db.fetch(stmt.int(limit)).await?, rows::order)
    }

    async fn order(&self, user_id: u64, id: &str) -> StoreResult<Option<Order>> {
        let stmt = Stmt::assembled(format!("{ORDER_COLUMNS} WHERE id = ? AND user_id = ?"))
            .text(id)
            .id(user_id);
        self.fetch_first(stmt)
            .await?
            .as_ref()
            .map(rows::order)
            .transpose()
    }

    /// Summed in SQL where `SUM` is exact (`DECIMAL`), in Rust where it would go through
    /// floating point (SQLite); the same fold handles both shapes of rows.
    async fn revenue(&self) -> StoreResult<Vec<RevenueRow>> {
        let sql = if B::EXACT_SUM {
            "SELECT pair, SUM(revenue) AS revenue, COUNT(*) AS n FROM orders GROUP BY pair ORDER BY pair"
        } else {
            "SELECT pair, revenue, 1 AS n FROM orders ORDER BY pair"
        };
        let mut out: Vec<RevenueRow> = Vec::new();
        for r in self.db.fetch(Stmt::new(sql)).await? {
            let (pair, revenue, n) = (r.text("pair")?, r.dec("revenue")?, r.count("n")?);
            match out.last_mut() {
                Some(row) if row.pair == pair => {
                    row.amount = row
                        .amount
                        .checked_add(revenue)
                        .ok_or_else(|| corrupt(format!("revenue overflow in {pair}")))?;
                    row.orders += n;
                }
                _ => out.push(RevenueRow {
                    pair,
                    amount: revenue,
                    orders: n,
                }),
            }
        }
        for row in &mut out {
            row.amount = row.amount.normalize();
        }
        Ok(out)
    }

    async fn purge_money(
        &self,
        quotes_before: DateTime<Utc>,
        keys_before: DateTime<Utc>,
    ) -> StoreResult<(u64, u64)> {
        let quotes = Stmt::new("DELETE FROM quotes WHERE consumed_at IS NULL AND expires_at < ?")
            .time(quotes_before);
        // A refused order's record goes with the quotes: a retry would be refused again anyway.
        let keys = Stmt::new(
            "DELETE FROM idempotency_keys WHERE created_at < ?
                OR (created_at < ? AND state = 'done' AND response_status >= 400)",
        )
        .time(keys_before)
        .time(quotes_before);
        Ok((
            self.db.execute(quotes).await?.rows_affected,
            self.db.execute(keys).await?.rows_affected,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::mysql::MySqlStore;
    use crate::store::sqlite::SqliteStore;

    /// An unbalanced ledger transaction is refused before a line is written: the check is an
    /// error in every build (this test passes under `cargo test --release` too), never a
    /// debug assertion.
    async fn refuses_unbalanced<B: Backend>(store: &SqlStore<B>) {
        let mut tx = store.db.begin().await.unwrap();
        let err = SqlStore::<B>::ledger(
            &mut tx,
            "deposit",
            "skewed",
            &[
                ("user:1".to_string(), "USD", Decimal::new(-100, 0)),
                ("house".to_string(), "USD", Decimal::new(99, 0)),
            ],
            Utc::now(),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("unbalanced"), "{err}");
        B::commit(tx).await.unwrap();
        for table in ["ledger_entries", "ledger_transactions"] {
            let sql = format!("SELECT COUNT(*) AS n FROM {table}");
            let rows = store.db.fetch(Stmt::assembled(sql)).await.unwrap();
            assert_eq!(rows[0].count("n").unwrap(), 0, "{table}");
        }
    }

    #[tokio::test]
    async fn an_unbalanced_ledger_transaction_is_refused_on_mariadb() {
        let db = testkit::services::unique_db_name(&uuid::Uuid::new_v4().simple().to_string());
        let url = format!("{}/{db}", testkit::services::mysql_base());
        let store = MySqlStore::connect(&url, 2)
            .await
            .expect("MariaDB must be running for the tests");
        refuses_unbalanced(&store).await;
        store.backend().pool().close().await;
        testkit::services::drop_database(&db).await;
    }

    #[tokio::test]
    async fn an_unbalanced_ledger_transaction_is_refused_on_sqlite() {
        let path = std::env::temp_dir().join(format!(
            "rategate-ledger-{}.db",
            uuid::Uuid::new_v4().simple()
        ));
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display()), 2)
            .await
            .unwrap();
        refuses_unbalanced(&store).await;
        store.backend().pool().close().await;
        let _ = std::fs::remove_file(&path);
    }
}
