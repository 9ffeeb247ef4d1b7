//! The money half of [`SqliteStore`]: quotes, idempotency records, order execution, deposits.
//!
//! Order execution is one `BEGIN IMMEDIATE` transaction, the same steps as on MariaDB: check
//! the quote (owner, unused, unexpired), read the debited balance and refuse if it is short,
//! write both balances, a balanced ledger transaction against the house, consume the quote,
//! insert the order and complete the idempotency record. Holding the write lock from the first
//! statement is what makes the read-check-write safe; `CHECK (available NOT LIKE '-%')` refuses
//! a negative balance even if the code were wrong. There are no deadlocks to retry: a writer
//! waits for the lock (busy timeout), and past it the request answers 503.

use chrono::{DateTime, Utc};
use common::{Decimal, Pair};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};

use super::rules::{self, STALE_IN_FLIGHT_SECS};
use super::sqlite::{
    classify, db_id, decode_dec, decode_opt_time, decode_time, encode_dec, encode_time, id_column,
    SqliteStore,
};
use super::*;
use crate::money;

const ORDER_COLUMNS: &str =
    "SELECT id, quote_id, user_id, pair, side, amount, price, total, revenue, status, created_at";

fn order_from(r: &SqliteRow) -> Result<Order, sqlx::Error> {
    let s: String = r.try_get("side")?;
    Ok(Order {
        id: r.try_get("id")?,
        quote_id: r.try_get("quote_id")?,
        user_id: id_column(r, "user_id")?,
        pair: r.try_get("pair")?,
        side: rules::decode_side(&s).map_err(|e| sqlx::Error::Decode(e.into()))?,
        amount: decode_dec(r.try_get("amount")?)?,
        price: decode_dec(r.try_get("price")?)?,
        total: decode_dec(r.try_get("total")?)?,
        revenue: decode_dec(r.try_get("revenue")?)?,
        status: r.try_get("status")?,
        created_at: decode_time(r.try_get("created_at")?)?,
    })
}

async fn balance_in(
    tx: &mut Transaction<'static, Sqlite>,
    user_id: u64,
    asset: &str,
) -> Result<Option<Decimal>, sqlx::Error> {
    let row = sqlx::query("SELECT available FROM balances WHERE user_id = ? AND asset = ?")
        .bind(db_id(user_id))
        .bind(asset)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|r| decode_dec(r.try_get("available")?)).transpose()
}

/// Sets a balance to `available` (computed by the caller inside the same write transaction).
async fn put_balance(
    tx: &mut Transaction<'static, Sqlite>,
    user_id: u64,
    asset: &str,
    available: Decimal,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO balances (user_id, asset, available, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (user_id, asset) DO UPDATE SET available = excluded.available,
                                                    updated_at = excluded.updated_at",
    )
    .bind(db_id(user_id))
    .bind(asset)
    .bind(encode_dec(available))
    .bind(encode_time(now))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Adds `amount` to a balance (created at zero if missing); returns the new balance.
async fn credit(
    tx: &mut Transaction<'static, Sqlite>,
    user_id: u64,
    asset: &str,
    amount: Decimal,
    now: DateTime<Utc>,
) -> Result<Decimal, sqlx::Error> {
    let current = balance_in(tx, user_id, asset).await?.unwrap_or_default();
    let next = current
        .checked_add(amount)
        .ok_or_else(|| sqlx::Error::Protocol(format!("balance overflow in {asset}")))?;
    put_balance(tx, user_id, asset, next, now).await?;
    Ok(next)
}

/// A ledger transaction with entries `(account, asset, amount)` that sum to zero per asset.
async fn ledger(
    tx: &mut Transaction<'static, Sqlite>,
    kind: &str,
    reference: &str,
    entries: &[(String, &str, Decimal)],
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    // Never commit an unbalanced transaction, whatever the caller computed, in any build.
    rules::check_balanced(reference, entries).map_err(sqlx::Error::Protocol)?;
    let row = sqlx::query(
        "INSERT INTO ledger_transactions (kind, reference, created_at) VALUES (?, ?, ?) RETURNING id",
    )
    .bind(kind)
    .bind(reference)
    .bind(encode_time(now))
    .fetch_one(&mut **tx)
    .await?;
    let tx_id: i64 = row.try_get("id")?;
    let mut insert = sqlx::QueryBuilder::<Sqlite>::new(
        "INSERT INTO ledger_entries (tx_id, account, asset, amount) ",
    );
    insert.push_values(entries, |mut row, (account, asset, amount)| {
        row.push_bind(tx_id)
            .push_bind(account.clone())
            .push_bind(asset.to_string())
            .push_bind(encode_dec(*amount));
    });
    insert.build().execute(&mut **tx).await?;
    u64::try_from(tx_id).map_err(|_| sqlx::Error::Protocol("negative ledger id".into()))
}

#[async_trait::async_trait]
impl MoneyStore for SqliteStore {
    async fn insert_quote(&self, q: &NewQuote) -> StoreResult<()> {
        let _turn = self.turn().await;
        sqlx::query(
            "INSERT INTO quotes (id, user_id, pair, side, amount, price, total, raw_bid, raw_ask,
                                 spread_kind, spread_buy, spread_sell, revenue, created_at,
                                 expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&q.id)
        .bind(db_id(q.user_id))
        .bind(&q.pair)
        .bind(q.side.as_str())
        .bind(encode_dec(q.amount))
        .bind(encode_dec(q.price))
        .bind(encode_dec(q.total))
        .bind(encode_dec(q.raw_bid))
        .bind(encode_dec(q.raw_ask))
        .bind(q.spread.kind.as_str())
        .bind(encode_dec(q.spread.buy))
        .bind(encode_dec(q.spread.sell))
        .bind(encode_dec(q.revenue))
        .bind(encode_time(Utc::now()))
        .bind(encode_time(q.expires_at))
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
        let result: Result<IdemBegin, sqlx::Error> = async {
            let (_turn, mut tx) = self.write().await?;
            let now = Utc::now();
            let row = sqlx::query(
                "SELECT request_hash, state, response_status, response_body, created_at
                 FROM idempotency_keys WHERE user_id = ? AND idem_key = ?",
            )
            .bind(db_id(user_id))
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                sqlx::query(
                    "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, state, created_at)
                     VALUES (?, ?, ?, 'in_flight', ?)",
                )
                .bind(db_id(user_id))
                .bind(key)
                .bind(&hash[..])
                .bind(encode_time(now))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(IdemBegin::Started);
            };
            let stored: Vec<u8> = row.try_get("request_hash")?;
            if stored.as_slice() != hash.as_slice() {
                return Ok(IdemBegin::Mismatch);
            }
            let state: String = row.try_get("state")?;
            if state != "done" {
                // A request that died leaves its key in flight; after STALE_IN_FLIGHT_SECS the
                // key may be taken over (as on MariaDB).
                let created = decode_time(row.try_get("created_at")?)?;
                if now - created > chrono::Duration::seconds(i64::from(STALE_IN_FLIGHT_SECS)) {
                    sqlx::query(
                        "UPDATE idempotency_keys SET created_at = ? WHERE user_id = ? AND idem_key = ?",
                    )
                    .bind(encode_time(now))
                    .bind(db_id(user_id))
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    return Ok(IdemBegin::Started);
                }
                return Ok(IdemBegin::InFlight);
            }
            let status: Option<u16> = row.try_get("response_status")?;
            let body: Option<String> = row.try_get("response_body")?;
            Ok(IdemBegin::Replay {
                status: status.unwrap_or(500),
                body: body.unwrap_or_default(),
            })
        }
        .await;
        result.map_err(classify)
    }

    async fn finish_idempotency(
        &self,
        user_id: u64,
        key: &str,
        status: u16,
        body: &str,
    ) -> StoreResult<()> {
        let _turn = self.turn().await;
        sqlx::query(
            "UPDATE idempotency_keys SET state = 'done', response_status = ?, response_body = ?
             WHERE user_id = ? AND idem_key = ?",
        )
        .bind(status)
        .bind(body)
        .bind(db_id(user_id))
        .bind(key)
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn abandon_idempotency(&self, user_id: u64, key: &str) -> StoreResult<()> {
        let _turn = self.turn().await;
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE user_id = ? AND idem_key = ? AND state = 'in_flight'",
        )
        .bind(db_id(user_id))
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
        self.try_execute(user_id, quote_id, idem_key, now)
            .await
            .map_err(classify)
    }

    async fn deposit(
        &self,
        user_id: u64,
        asset: &str,
        amount: Decimal,
    ) -> StoreResult<(u64, Decimal)> {
        let result: Result<(u64, Decimal), sqlx::Error> = async {
            let now = Utc::now();
            let (_turn, mut tx) = self.write().await?;
            let balance = credit(&mut tx, user_id, asset, amount, now).await?;
            let ledger_id = ledger(
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
            tx.commit().await?;
            Ok((ledger_id, balance))
        }
        .await;
        result.map_err(classify)
    }

    async fn balances(&self, user_id: u64) -> StoreResult<Vec<Balance>> {
        let mut conn = self.pool().acquire().await.map_err(classify)?;
        balances_of(&mut conn, user_id).await.map_err(classify)
    }

    async fn orders(
        &self,
        user_id: u64,
        limit: u32,
        before: Option<(DateTime<Utc>, String)>,
    ) -> StoreResult<Vec<Order>> {
        let mut q = sqlx::QueryBuilder::<Sqlite>::new(format!(
            "{ORDER_COLUMNS} FROM orders WHERE user_id = "
        ));
        q.push_bind(db_id(user_id));
        if let Some((at, order_id)) = before {
            let at = encode_time(at);
            q.push(" AND (created_at < ").push_bind(at);
            q.push(" OR (created_at = ")
                .push_bind(at)
                .push(" AND id < ")
                .push_bind(order_id)
                .push("))");
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(limit);
        let rows = q.build().fetch_all(self.pool()).await.map_err(classify)?;
        rows.iter()
            .map(|r| order_from(r).map_err(classify))
            .collect()
    }

    async fn order(&self, user_id: u64, order_id: &str) -> StoreResult<Option<Order>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{ORDER_COLUMNS} FROM orders WHERE id = ? AND user_id = ?"
        )))
        .bind(order_id)
        .bind(db_id(user_id))
        .fetch_optional(self.pool())
        .await
        .map_err(classify)?;
        row.as_ref()
            .map(|r| order_from(r).map_err(classify))
            .transpose()
    }

    /// Sums in Rust: SQLite's SUM would go through floating point.
    async fn revenue(&self) -> StoreResult<Vec<RevenueRow>> {
        let rows = sqlx::query("SELECT pair, revenue FROM orders ORDER BY pair")
            .fetch_all(self.pool())
            .await
            .map_err(classify)?;
        let mut out: Vec<RevenueRow> = Vec::new();
        for r in &rows {
            let pair: String = r.try_get("pair").map_err(classify)?;
            let revenue = decode_dec(r.try_get("revenue").map_err(classify)?).map_err(classify)?;
            match out.last_mut() {
                Some(row) if row.pair == pair => {
                    row.amount = row.amount.checked_add(revenue).ok_or_else(|| {
                        StoreError::Other(anyhow::anyhow!("revenue overflow in {pair}"))
                    })?;
                    row.orders += 1;
                }
                _ => out.push(RevenueRow {
                    pair,
                    amount: revenue,
                    orders: 1,
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
        let _turn = self.turn().await;
        let quotes = sqlx::query("DELETE FROM quotes WHERE consumed_at IS NULL AND expires_at < ?")
            .bind(encode_time(quotes_before))
            .execute(self.pool())
            .await
            .map_err(classify)?
            .rows_affected();
        let keys = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < ?")
            .bind(encode_time(keys_before))
            .execute(self.pool())
            .await
            .map_err(classify)?
            .rows_affected();
        Ok((quotes, keys))
    }
}

async fn balances_of(
    conn: &mut sqlx::SqliteConnection,
    user_id: u64,
) -> Result<Vec<Balance>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT asset, available FROM balances WHERE user_id = ? ORDER BY asset")
            .bind(db_id(user_id))
            .fetch_all(conn)
            .await?;
    rows.iter()
        .map(|r| {
            Ok(Balance {
                asset: r.try_get("asset")?,
                available: decode_dec(r.try_get("available")?)?,
            })
        })
        .collect()
}

impl SqliteStore {
    async fn try_execute(
        &self,
        user_id: u64,
        quote_id: &str,
        idem_key: &str,
        now: DateTime<Utc>,
    ) -> Result<OrderOutcome, sqlx::Error> {
        let (_turn, mut tx) = self.write().await?;
        let row = sqlx::query(
            "SELECT user_id, pair, side, amount, price, total, revenue, expires_at, consumed_at
             FROM quotes WHERE id = ?",
        )
        .bind(quote_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(q) = row else {
            return Ok(OrderOutcome::QuoteNotFound);
        };
        if id_column(&q, "user_id")? != user_id {
            return Ok(OrderOutcome::QuoteNotFound);
        }
        if decode_opt_time(q.try_get("consumed_at")?)?.is_some() {
            return Ok(OrderOutcome::QuoteUsed);
        }
        if decode_time(q.try_get("expires_at")?)? <= now {
            return Ok(OrderOutcome::QuoteExpired);
        }
        let pair_text: String = q.try_get("pair")?;
        let side_text: String = q.try_get("side")?;
        let (Ok(pair), Ok(side)) = (Pair::parse(&pair_text), rules::decode_side(&side_text)) else {
            return Err(sqlx::Error::Protocol(format!("corrupt quote {quote_id}")));
        };
        let amount = decode_dec(q.try_get("amount")?)?;
        let price = decode_dec(q.try_get("price")?)?;
        let total = decode_dec(q.try_get("total")?)?;
        let revenue = decode_dec(q.try_get("revenue")?)?;
        let legs = money::legs(&pair, side, amount, total);

        let available = balance_in(&mut tx, user_id, &legs.debit_asset)
            .await?
            .unwrap_or_default();
        if available < legs.debit {
            return Ok(OrderOutcome::InsufficientFunds {
                asset: legs.debit_asset,
            });
        }
        put_balance(
            &mut tx,
            user_id,
            &legs.debit_asset,
            available - legs.debit,
            now,
        )
        .await?;
        credit(&mut tx, user_id, &legs.credit_asset, legs.credit, now).await?;
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
            now,
        )
        .await?;
        sqlx::query("UPDATE quotes SET consumed_at = ? WHERE id = ?")
            .bind(encode_time(now))
            .bind(quote_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO orders (id, quote_id, user_id, pair, side, amount, price, total, revenue,
                                 status, ledger_tx_id, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'filled', ?, ?)",
        )
        .bind(&order_id)
        .bind(quote_id)
        .bind(db_id(user_id))
        .bind(pair.as_str())
        .bind(side.as_str())
        .bind(encode_dec(amount))
        .bind(encode_dec(price))
        .bind(encode_dec(total))
        .bind(encode_dec(revenue))
        .bind(db_id(ledger_id))
        .bind(encode_time(now))
        .execute(&mut *tx)
        .await?;
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
        sqlx::query(
            "UPDATE idempotency_keys SET state = 'done', response_status = 201, response_body = ?
             WHERE user_id = ? AND idem_key = ?",
        )
        .bind(serde_json::to_string(&order).unwrap_or_default())
        .bind(db_id(user_id))
        .bind(idem_key)
        .execute(&mut *tx)
        .await?;
        let balances = balances_of(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok(OrderOutcome::Filled { order, balances })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a real SQLite file: an unbalanced ledger transaction is refused before a line is
    /// written (the check is an error in every build, not a debug assertion).
    #[tokio::test]
    async fn an_unbalanced_ledger_transaction_is_refused() {
        let path = std::env::temp_dir().join(format!(
            "rategate-ledger-{}.db",
            uuid::Uuid::new_v4().simple()
        ));
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display()), 2)
            .await
            .unwrap();
        {
            let (_turn, mut tx) = store.write().await.unwrap();
            let err = ledger(
                &mut tx,
                "test",
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
            tx.commit().await.unwrap();
        }
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
        let _ = std::fs::remove_file(&path);
    }
}
