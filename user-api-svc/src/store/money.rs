//! Quotes, idempotency records, order execution, deposits and revenue: [`MoneyStore`] written
//! once over any [`Backend`] (ARCHITECTURE.md §8).
//!
//! Order execution is one write transaction: read the quote under a lock (owner, unused,
//! unexpired), debit the user if the balance covers it, credit the other asset, write a
//! balanced ledger transaction against the house, consume the quote, insert the order and
//! complete the idempotency record with the order as its 201 body. A transient conflict
//! (MariaDB deadlock or lock wait) is retried with backoff and counted, for orders and
//! deposits alike ([`rules::retrying`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use common::{Decimal, Pair};

use super::backend::{fetch_first_in, Backend, Row as _, SqlStore, Stmt};
use super::rows::{self, ORDER_COLUMNS};
use super::rules::{self, STALE_IN_FLIGHT_SECS};
use super::*;
use crate::money;

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
        let values = vec!["(?, ?, ?, ?)"; entries.len()].join(", ");
        let mut lines = Stmt::assembled(format!(
            "INSERT INTO ledger_entries (tx_id, account, asset, amount) VALUES {values}"
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

    async fn try_execute(
        &self,
        user_id: u64,
        quote_id: &str,
        idem_key: &str,
        now: DateTime<Utc>,
        render: RenderOrder<'_>,
    ) -> StoreResult<OrderOutcome> {
        let mut tx = self.db.begin().await?;
        let sql = format!(
            "SELECT user_id, pair, side, amount, price, total, revenue, expires_at, consumed_at
             FROM quotes WHERE id = ? {}",
            B::LOCK
        );
        let Some(q) = fetch_first_in::<B>(&mut tx, Stmt::assembled(sql).text(quote_id)).await?
        else {
            return Ok(OrderOutcome::QuoteNotFound);
        };
        if q.id("user_id")? != user_id {
            return Ok(OrderOutcome::QuoteNotFound);
        }
        if q.opt_time("consumed_at")?.is_some() {
            return Ok(OrderOutcome::QuoteUsed);
        }
        if q.time("expires_at")? <= now {
            return Ok(OrderOutcome::QuoteExpired);
        }
        let (Ok(pair), Ok(side)) = (
            Pair::parse(&q.text("pair")?),
            rules::decode_side(&q.text("side")?),
        ) else {
            return Err(corrupt(format!("corrupt quote {quote_id}")));
        };
        let (amount, price) = (q.dec("amount")?, q.dec("price")?);
        let (total, revenue) = (q.dec("total")?, q.dec("revenue")?);
        let legs = money::legs(&pair, side, amount, total);

        if !B::debit_if_funds(&mut tx, user_id, &legs.debit_asset, legs.debit, now).await? {
            return Ok(OrderOutcome::InsufficientFunds {
                asset: legs.debit_asset,
            });
        }
        B::credit(&mut tx, user_id, &legs.credit_asset, legs.credit, now).await?;
        let order_id = uuid::Uuid::new_v4().to_string();
        let user_account = format!("user:{user_id}");
        let ledger_id = Self::ledger(
            &mut tx,
            "trade",
            &order_id,
            &[
                (user_account.clone(), &legs.debit_asset, -legs.debit),
                ("house".to_string(), &legs.debit_asset, legs.debit),
                ("house".to_string(), &legs.credit_asset, -legs.credit),
                (user_account, &legs.credit_asset, legs.credit),
            ],
            now,
        )
        .await?;
        let consume = Stmt::new("UPDATE quotes SET consumed_at = ? WHERE id = ?")
            .time(now)
            .text(quote_id);
        B::execute_in(&mut tx, consume).await?;
        let order = Order {
            id: order_id,
            quote_id: quote_id.to_string(),
            user_id,
            pair: pair.to_string(),
            side,
            amount,
            price,
            total,
            revenue,
            status: "filled".into(),
            created_at: now,
        };
        let insert = Stmt::new(
            "INSERT INTO orders (id, quote_id, user_id, pair, side, amount, price, total, revenue,
                                 status, ledger_tx_id, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'filled', ?, ?)",
        )
        .text(&order.id)
        .text(quote_id)
        .id(user_id)
        .text(pair.as_str())
        .text(side.as_str())
        .dec(amount)
        .dec(price)
        .dec(total)
        .dec(revenue)
        .id(ledger_id)
        .time(now);
        B::execute_in(&mut tx, insert).await?;
        let body = render(&order);
        B::execute_in(&mut tx, finish_key(user_id, idem_key, 201, &body)).await?;
        let balances = rows::all(
            &B::fetch_in(&mut tx, balances_of(user_id)).await?,
            rows::balance,
        )?;
        B::commit(tx).await?;
        Ok(OrderOutcome::Filled {
            order: Box::new(order),
            balances,
            body,
        })
    }
}

fn finish_key(user_id: u64, key: &str, status: u16, body: &str) -> Stmt {
    Stmt::new(
        "UPDATE idempotency_keys SET state = 'done', response_status = ?, response_body = ?
         WHERE user_id = ? AND idem_key = ?",
    )
    .int(u32::from(status))
    .text(body)
    .id(user_id)
    .text(key)
}

#[async_trait]
impl<B: Backend> MoneyStore for SqlStore<B> {
    async fn insert_quote(&self, q: &NewQuote) -> StoreResult<()> {
        let stmt = Stmt::new(
            "INSERT INTO quotes (id, user_id, pair, side, amount, price, total, raw_bid, raw_ask,
                                 spread_kind, spread_buy, spread_sell, revenue, created_at,
                                 expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .text(&q.id)
        .id(q.user_id)
        .text(&q.pair)
        .text(q.side.as_str())
        .dec(q.amount)
        .dec(q.price)
        .dec(q.total)
        .dec(q.raw_bid)
        .dec(q.raw_ask)
        .text(q.spread.kind.as_str())
        .dec(q.spread.buy)
        .dec(q.spread.sell)
        .dec(q.revenue)
        .time(Utc::now())
        .time(q.expires_at);
        self.db.execute(stmt).await?;
        Ok(())
    }

    async fn begin_idempotency(
        &self,
        user_id: u64,
        key: &str,
        hash: &[u8; 32],
    ) -> StoreResult<IdemBegin> {
        let now = Utc::now();
        let insert = Stmt::new(
            "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, state, created_at)
             VALUES (?, ?, ?, 'in_flight', ?)",
        )
        .id(user_id)
        .text(key)
        .bytes(hash)
        .time(now);
        match self.db.execute(insert).await {
            Ok(_) => return Ok(IdemBegin::Started),
            Err(StoreError::Conflict) => {}
            Err(other) => return Err(other),
        }
        let stmt = Stmt::new(
            "SELECT request_hash, state, response_status, response_body FROM idempotency_keys
             WHERE user_id = ? AND idem_key = ?",
        )
        .id(user_id)
        .text(key);
        // Deleted between our insert and select (abandoned): in flight; a retry works.
        let Some(row) = self.fetch_first(stmt).await? else {
            return Ok(IdemBegin::InFlight);
        };
        if row.bytes("request_hash")?.as_slice() != hash.as_slice() {
            return Ok(IdemBegin::Mismatch);
        }
        if row.text("state")? != "done" {
            // A request that died with the database (its clean-up could not run either) leaves
            // its key in flight; after STALE_IN_FLIGHT_SECS the key may be taken over. One
            // conditional UPDATE, so two takers cannot both win.
            let stale = now - chrono::Duration::seconds(i64::from(STALE_IN_FLIGHT_SECS));
            let take = Stmt::new(
                "UPDATE idempotency_keys SET created_at = ?
                 WHERE user_id = ? AND idem_key = ? AND state = 'in_flight' AND created_at < ?",
            )
            .time(now)
            .id(user_id)
            .text(key)
            .time(stale);
            if self.db.execute(take).await?.rows_affected == 1 {
                return Ok(IdemBegin::Started);
            }
            return Ok(IdemBegin::InFlight);
        }
        Ok(IdemBegin::Replay {
            status: row.opt_status("response_status")?.unwrap_or(500),
            body: row.opt_text("response_body")?.unwrap_or_default(),
        })
    }

    async fn finish_idempotency(
        &self,
        user_id: u64,
        key: &str,
        status: u16,
        body: &str,
    ) -> StoreResult<()> {
        self.db
            .execute(finish_key(user_id, key, status, body))
            .await?;
        Ok(())
    }

    async fn abandon_idempotency(&self, user_id: u64, key: &str) -> StoreResult<()> {
        let stmt = Stmt::new(
            "DELETE FROM idempotency_keys WHERE user_id = ? AND idem_key = ? AND state = 'in_flight'",
        )
        .id(user_id)
        .text(key);
        self.db.execute(stmt).await?;
        Ok(())
    }

    async fn execute_order(
        &self,
        user_id: u64,
        quote_id: &str,
        idem_key: &str,
        now: DateTime<Utc>,
        render: RenderOrder<'_>,
    ) -> StoreResult<OrderOutcome> {
        rules::retrying("execute_order", is_transient, || {
            self.try_execute(user_id, quote_id, idem_key, now, render)
        })
        .await
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
