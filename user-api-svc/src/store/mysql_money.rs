//! The money half of [`MySqlStore`]: quotes, idempotency records, order execution, deposits.
//!
//! Order execution is one transaction: lock the quote (`FOR UPDATE`), debit the user with a
//! conditional `UPDATE ... WHERE available >= ?` (the `CHECK (available >= 0)` backs it up),
//! credit the other asset, write a balanced ledger transaction against the house, consume the
//! quote, insert the order and complete the idempotency record. Deadlocks and lock-wait
//! timeouts are retried with a short backoff.

use chrono::{DateTime, Utc};
use common::{Decimal, Pair};
use sqlx::mysql::MySqlRow;
use sqlx::{MySql, Row, Transaction};

use super::mysql::{classify, MySqlStore};
use super::rules::{self, STALE_IN_FLIGHT_SECS};
use super::*;
use crate::money;

const ORDER_COLUMNS: &str =
    "SELECT id, quote_id, user_id, pair, side, amount, price, total, revenue, status, created_at";

fn is_retryable(e: &sqlx::Error) -> bool {
    match e {
        // 1213 deadlock (SQLSTATE 40001), 1205 lock wait timeout.
        sqlx::Error::Database(db) => {
            db.code().as_deref() == Some("40001") || db.message().contains("Lock wait timeout")
        }
        _ => false,
    }
}

fn order_from(r: &MySqlRow) -> Result<Order, sqlx::Error> {
    let s: String = r.try_get("side")?;
    let amount: Decimal = r.try_get("amount")?;
    let price: Decimal = r.try_get("price")?;
    let total: Decimal = r.try_get("total")?;
    let revenue: Decimal = r.try_get("revenue")?;
    Ok(Order {
        id: r.try_get("id")?,
        quote_id: r.try_get("quote_id")?,
        user_id: r.try_get("user_id")?,
        pair: r.try_get("pair")?,
        side: rules::decode_side(&s).map_err(|e| sqlx::Error::Decode(e.into()))?,
        amount: amount.normalize(),
        price: price.normalize(),
        total: total.normalize(),
        revenue: revenue.normalize(),
        status: r.try_get("status")?,
        created_at: r.try_get("created_at")?,
    })
}

async fn balances_in(
    conn: &mut sqlx::MySqlConnection,
    user_id: u64,
) -> Result<Vec<Balance>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT asset, available FROM balances WHERE user_id = ? ORDER BY asset")
            .bind(user_id)
            .fetch_all(conn)
            .await?;
    rows.iter()
        .map(|r| {
            let available: Decimal = r.try_get("available")?;
            Ok(Balance {
                asset: r.try_get("asset")?,
                available: available.normalize(),
            })
        })
        .collect()
}

async fn credit(
    tx: &mut Transaction<'static, MySql>,
    user_id: u64,
    asset: &str,
    amount: Decimal,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO balances (user_id, asset, available) VALUES (?, ?, ?)
         ON DUPLICATE KEY UPDATE available = available + VALUES(available)",
    )
    .bind(user_id)
    .bind(asset)
    .bind(amount)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A ledger transaction with entries `(account, asset, amount)` that must sum to zero per asset.
async fn ledger(
    tx: &mut Transaction<'static, MySql>,
    kind: &str,
    reference: &str,
    entries: &[(String, &str, Decimal)],
) -> Result<u64, sqlx::Error> {
    // Never commit an unbalanced transaction, whatever the caller computed, in any build.
    rules::check_balanced(reference, entries).map_err(sqlx::Error::Protocol)?;
    let id = sqlx::query("INSERT INTO ledger_transactions (kind, reference) VALUES (?, ?)")
        .bind(kind)
        .bind(reference)
        .execute(&mut **tx)
        .await?
        .last_insert_id();
    // One multi-row insert: one round trip for all lines.
    let mut insert = sqlx::QueryBuilder::<MySql>::new(
        "INSERT INTO ledger_entries (tx_id, account, asset, amount) ",
    );
    insert.push_values(entries, |mut row, (account, asset, amount)| {
        row.push_bind(id)
            .push_bind(account.as_str())
            .push_bind(*asset)
            .push_bind(*amount);
    });
    insert.build().execute(&mut **tx).await?;
    Ok(id)
}

#[async_trait::async_trait]
impl MoneyStore for MySqlStore {
    async fn insert_quote(&self, q: &NewQuote) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO quotes (id, user_id, pair, side, amount, price, total, raw_bid, raw_ask,
                                 spread_kind, spread_buy, spread_sell, revenue, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&q.id)
        .bind(q.user_id)
        .bind(&q.pair)
        .bind(q.side.as_str())
        .bind(q.amount)
        .bind(q.price)
        .bind(q.total)
        .bind(q.raw_bid)
        .bind(q.raw_ask)
        .bind(q.spread.kind.as_str())
        .bind(q.spread.buy)
        .bind(q.spread.sell)
        .bind(q.revenue)
        .bind(q.expires_at)
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn begin_idempotency(
        &self,
        user_id: u64,
        key: &str,
        hash: &[u8; 32],
    ) -> StoreResult<IdemBegin> {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, state) VALUES (?, ?, ?, 'in_flight')",
        )
        .bind(user_id)
        .bind(key)
        .bind(&hash[..])
        .execute(self.pool())
        .await;
        match inserted {
            Ok(_) => return Ok(IdemBegin::Started),
            Err(e) => match classify(e) {
                StoreError::Conflict => {}
                other => return Err(other),
            },
        }
        let row = sqlx::query(
            "SELECT request_hash, state, response_status, response_body FROM idempotency_keys
             WHERE user_id = ? AND idem_key = ?",
        )
        .bind(user_id)
        .bind(key)
        .fetch_optional(self.pool())
        .await
        .map_err(classify)?;
        // Deleted between our insert and select (abandoned): treat as in flight; a retry works.
        let Some(row) = row else {
            return Ok(IdemBegin::InFlight);
        };
        let stored: Vec<u8> = row.try_get("request_hash").map_err(classify)?;
        if stored.as_slice() != hash.as_slice() {
            return Ok(IdemBegin::Mismatch);
        }
        let state: String = row.try_get("state").map_err(classify)?;
        if state != "done" {
            // A request that died with the database (its clean-up could not run either) leaves
            // its key in flight; after STALE_IN_FLIGHT the key may be taken over.
            let taken = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE idempotency_keys SET created_at = CURRENT_TIMESTAMP(6)
                 WHERE user_id = ? AND idem_key = ? AND state = 'in_flight'
                   AND created_at < CURRENT_TIMESTAMP(6) - INTERVAL {STALE_IN_FLIGHT_SECS} SECOND"
            )))
            .bind(user_id)
            .bind(key)
            .execute(self.pool())
            .await
            .map_err(classify)?;
            if taken.rows_affected() == 1 {
                return Ok(IdemBegin::Started);
            }
            return Ok(IdemBegin::InFlight);
        }
        let status: Option<u16> = row.try_get("response_status").map_err(classify)?;
        let body: Option<String> = row.try_get("response_body").map_err(classify)?;
        Ok(IdemBegin::Replay {
            status: status.unwrap_or(500),
            body: body.unwrap_or_default(),
        })
    }

    async fn finish_idempotency(
        &self,
        user_id: u64,
        key: &str,
        status: u16,
        body: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE idempotency_keys SET state = 'done', response_status = ?, response_body = ?
             WHERE user_id = ? AND idem_key = ?",
        )
        .bind(status)
        .bind(body)
        .bind(user_id)
        .bind(key)
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn abandon_idempotency(&self, user_id: u64, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE user_id = ? AND idem_key = ? AND state = 'in_flight'")
            .bind(user_id)
            .bind(key)
            .execute(self.pool())
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn execute_order(
        &self,
        user_id: u64,
        quote_id: &str,
        idem_key: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<OrderOutcome> {
        rules::retrying("execute_order", is_retryable, || {
            self.try_execute(user_id, quote_id, idem_key, now)
        })
        .await
        .map_err(classify)
    }

    async fn deposit(
        &self,
        user_id: u64,
        asset: &str,
        amount: Decimal,
    ) -> StoreResult<(u64, Decimal)> {
        rules::retrying("deposit", is_retryable, || async {
            let mut tx = self.pool().begin().await?;
            credit(&mut tx, user_id, asset, amount).await?;
            let id = ledger(
                &mut tx,
                "deposit",
                &format!("deposit:{user_id}"),
                &[
                    ("external".to_string(), asset, -amount),
                    (format!("user:{user_id}"), asset, amount),
                ],
            )
            .await?;
            let balance: Decimal =
                sqlx::query("SELECT available FROM balances WHERE user_id = ? AND asset = ?")
                    .bind(user_id)
                    .bind(asset)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("available")?;
            tx.commit().await?;
            Ok((id, balance.normalize()))
        })
        .await
        .map_err(classify)
    }

    async fn balances(&self, user_id: u64) -> StoreResult<Vec<Balance>> {
        let mut conn = self.pool().acquire().await.map_err(classify)?;
        balances_in(&mut conn, user_id).await.map_err(classify)
    }

    async fn orders(
        &self,
        user_id: u64,
        limit: u32,
        before: Option<(DateTime<Utc>, String)>,
    ) -> StoreResult<Vec<Order>> {
        let mut q = sqlx::QueryBuilder::<MySql>::new(format!(
            "{ORDER_COLUMNS} FROM orders WHERE user_id = "
        ));
        q.push_bind(user_id);
        if let Some((at, id)) = before {
            q.push(" AND (created_at < ").push_bind(at);
            q.push(" OR (created_at = ")
                .push_bind(at)
                .push(" AND id < ")
                .push_bind(id)
                .push("))");
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(limit);
        let rows = q.build().fetch_all(self.pool()).await.map_err(classify)?;
        rows.iter()
            .map(|r| order_from(r).map_err(classify))
            .collect()
    }

    async fn order(&self, user_id: u64, id: &str) -> StoreResult<Option<Order>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{ORDER_COLUMNS} FROM orders WHERE id = ? AND user_id = ?"
        )))
        .bind(id)
        .bind(user_id)
        .fetch_optional(self.pool())
        .await
        .map_err(classify)?;
        row.as_ref()
            .map(|r| order_from(r).map_err(classify))
            .transpose()
    }

    async fn revenue(&self) -> StoreResult<Vec<RevenueRow>> {
        let rows = sqlx::query("SELECT pair, SUM(revenue) AS amount, COUNT(*) AS n FROM orders GROUP BY pair ORDER BY pair")
            .fetch_all(self.pool())
            .await
            .map_err(classify)?;
        rows.iter()
            .map(|r| {
                let amount: Decimal = r.try_get("amount").map_err(classify)?;
                let n: i64 = r.try_get("n").map_err(classify)?;
                Ok(RevenueRow {
                    pair: r.try_get("pair").map_err(classify)?,
                    amount: amount.normalize(),
                    orders: n.max(0) as u64,
                })
            })
            .collect()
    }

    async fn purge_money(
        &self,
        quotes_before: DateTime<Utc>,
        keys_before: DateTime<Utc>,
    ) -> StoreResult<(u64, u64)> {
        let quotes = sqlx::query("DELETE FROM quotes WHERE consumed_at IS NULL AND expires_at < ?")
            .bind(quotes_before)
            .execute(self.pool())
            .await
            .map_err(classify)?
            .rows_affected();
        let keys = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < ?")
            .bind(keys_before)
            .execute(self.pool())
            .await
            .map_err(classify)?
            .rows_affected();
        Ok((quotes, keys))
    }
}

impl MySqlStore {
    async fn try_execute(
        &self,
        user_id: u64,
        quote_id: &str,
        idem_key: &str,
        now: DateTime<Utc>,
    ) -> Result<OrderOutcome, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(
            "SELECT user_id, pair, side, amount, price, total, revenue, expires_at, consumed_at
             FROM quotes WHERE id = ? FOR UPDATE",
        )
        .bind(quote_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(q) = row else {
            return Ok(OrderOutcome::QuoteNotFound);
        };
        let owner: u64 = q.try_get("user_id")?;
        if owner != user_id {
            return Ok(OrderOutcome::QuoteNotFound);
        }
        let consumed: Option<DateTime<Utc>> = q.try_get("consumed_at")?;
        if consumed.is_some() {
            return Ok(OrderOutcome::QuoteUsed);
        }
        let expires_at: DateTime<Utc> = q.try_get("expires_at")?;
        if expires_at <= now {
            return Ok(OrderOutcome::QuoteExpired);
        }
        let pair_text: String = q.try_get("pair")?;
        let side_text: String = q.try_get("side")?;
        let (Ok(pair), Ok(side)) = (Pair::parse(&pair_text), rules::decode_side(&side_text)) else {
            return Err(sqlx::Error::Protocol(format!("corrupt quote {quote_id}")));
        };
        let amount: Decimal = q.try_get("amount")?;
        let price: Decimal = q.try_get("price")?;
        let total: Decimal = q.try_get("total")?;
        let revenue: Decimal = q.try_get("revenue")?;
        let legs = money::legs(&pair, side, amount, total);

        let debited = sqlx::query(
            "UPDATE balances SET available = available - ? WHERE user_id = ? AND asset = ? AND available >= ?",
        )
        .bind(legs.debit)
        .bind(user_id)
        .bind(&legs.debit_asset)
        .bind(legs.debit)
        .execute(&mut *tx)
        .await?;
        if debited.rows_affected() != 1 {
            return Ok(OrderOutcome::InsufficientFunds {
                asset: legs.debit_asset,
            });
        }
        credit(&mut tx, user_id, &legs.credit_asset, legs.credit).await?;
        let order_id = uuid::Uuid::new_v4().to_string();
        let user_account = format!("user:{user_id}");
        let ledger_id = ledger(
            &mut tx,
            "trade",
            &order_id,
            &[
                (user_account.clone(), &legs.debit_asset, -legs.debit),
                ("house".to_string(), &legs.debit_asset, legs.debit),
                ("house".to_string(), &legs.credit_asset, -legs.credit),
                (user_account, &legs.credit_asset, legs.credit),
            ],
        )
        .await?;
        sqlx::query("UPDATE quotes SET consumed_at = ? WHERE id = ?")
            .bind(now)
            .bind(quote_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO orders (id, quote_id, user_id, pair, side, amount, price, total, revenue, status, ledger_tx_id, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'filled', ?, ?)",
        )
        .bind(&order_id)
        .bind(quote_id)
        .bind(user_id)
        .bind(pair.as_str())
        .bind(side.as_str())
        .bind(amount)
        .bind(price)
        .bind(total)
        .bind(revenue)
        .bind(ledger_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let order = Order {
            id: order_id,
            quote_id: quote_id.to_string(),
            user_id,
            pair: pair.to_string(),
            side,
            amount: amount.normalize(),
            price: price.normalize(),
            total: total.normalize(),
            revenue: revenue.normalize(),
            status: "filled".into(),
            created_at: now,
        };
        sqlx::query(
            "UPDATE idempotency_keys SET state = 'done', response_status = 201, response_body = ?
             WHERE user_id = ? AND idem_key = ?",
        )
        .bind(serde_json::to_string(&order).unwrap_or_default())
        .bind(user_id)
        .bind(idem_key)
        .execute(&mut *tx)
        .await?;
        let balances = balances_in(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok(OrderOutcome::Filled { order, balances })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On the real MariaDB: an unbalanced ledger transaction is refused before a line is
    /// written (the check is an error in every build, not a debug assertion).
    #[tokio::test]
    async fn an_unbalanced_ledger_transaction_is_refused() {
        let db = testkit::services::unique_db_name(&uuid::Uuid::new_v4().simple().to_string());
        let store = MySqlStore::connect(&format!("{}/{db}", testkit::services::mysql_base()), 2)
            .await
            .expect("MariaDB must be running for the tests");
        let mut tx = store.pool().begin().await.unwrap();
        let err = ledger(
            &mut tx,
            "test",
            "skewed",
            &[
                ("user:1".to_string(), "USD", Decimal::new(-100, 0)),
                ("house".to_string(), "USD", Decimal::new(99, 0)),
            ],
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("unbalanced"), "{err}");
        tx.commit().await.unwrap();
        let lines: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ledger_entries")
            .fetch_one(store.pool())
            .await
            .unwrap();
        let txs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ledger_transactions")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!((lines, txs), (0, 0));
        store.pool().close().await;
        testkit::services::drop_database(&db).await;
    }
}
