//! Group commit: a batch of orders executed in one write transaction, and a batch of quotes
//! filed in one insert (ARCHITECTURE.md §8).
//!
//! A batch costs the same handful of statements whatever its size:
//! 1. the batch's keys already answered are read (a replay answers again, nothing executes);
//! 2. the batch's quotes are read and locked, then every balance of their owners;
//! 3. each order is decided in Rust, in arrival order, against those locked rows: refused
//!    (quote not found, used, expired; funds short) or filled, with the balances it leaves for
//!    the next order of the same user. A refusal writes nothing, so it cannot undo the others:
//!    no savepoint is needed;
//! 4. one multi-row write each: balances, ledger transactions (their ids come back by
//!    `RETURNING`), ledger lines, quotes consumed, orders, and every key's answer;
//! 5. one commit, one fsync, for the whole batch.
//!
//! A key answered by a concurrent request on another node makes the answers' insert fail on
//! the primary key (MariaDB holds the second insert until the first commits): the batch rolls
//! back and runs again, and that key now replays. A deadlock or lock wait is retried the same
//! way ([`rules::retrying`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use common::{Decimal, Pair};

use super::backend::{marks, padded, pow2_chunks, rows_of, Backend, Row as _, SqlStore, Stmt};
use super::rules;
use super::*;
use crate::money;

/// Attempts of a batch whose answers collided with another node's on the same key.
const KEY_RACE_ATTEMPTS: u32 = 3;

fn corrupt(what: String) -> StoreError {
    StoreError::Other(anyhow::anyhow!(what))
}

/// A quote as an order reads it.
struct LockedQuote {
    trade: Trade,
    /// The trade's pair, parsed.
    pair: Pair,
    revenue: Decimal,
    expires_at: DateTime<Utc>,
    consumed: bool,
}

/// A filled order of the batch, before it is written.
struct Fill {
    job: usize,
    order: Order,
    legs: money::Legs,
}

impl<B: Backend> SqlStore<B> {
    /// The stored request hash and answer of the batch's keys, by (user, key); no answer for
    /// a key still in flight.
    async fn answered(
        &self,
        jobs: &[OrderJob],
    ) -> StoreResult<HashMap<(u64, String), (Vec<u8>, Option<Answer>)>> {
        let keys: Vec<(u64, &str)> = jobs.iter().map(|j| (j.user_id, j.key.as_str())).collect();
        let keys = padded(&keys);
        let mut stmt = Stmt::assembled(format!(
            "SELECT user_id, idem_key, request_hash, state, response_status, response_body
             FROM idempotency_keys WHERE {}",
            vec!["(user_id = ? AND idem_key = ?)"; keys.len()].join(" OR ")
        ));
        for (user, key) in keys {
            stmt = stmt.id(user).text(key);
        }
        let mut out = HashMap::new();
        for row in self.db.fetch(stmt).await? {
            // A key left in flight by a request of an older version: answered as in progress
            // until the purge removes it.
            let answer = if row.text("state")? == "done" {
                Some(Answer {
                    status: row.opt_status("response_status")?.unwrap_or(500),
                    body: row.opt_text("response_body")?.unwrap_or_default(),
                })
            } else {
                None
            };
            out.insert(
                (row.id("user_id")?, row.text("idem_key")?),
                (row.bytes("request_hash")?, answer),
            );
        }
        Ok(out)
    }

    async fn lock_quotes(
        tx: &mut B::Tx,
        ids: &[&str],
    ) -> StoreResult<HashMap<String, LockedQuote>> {
        let ids = padded(ids);
        let mut stmt = Stmt::assembled(format!(
            "SELECT id, user_id, pair, side, amount, price, total, revenue, expires_at, consumed_at
             FROM quotes WHERE id IN ({}) {}",
            marks(ids.len()),
            B::LOCK
        ));
        for id in ids {
            stmt = stmt.text(id);
        }
        let mut out = HashMap::new();
        for q in B::fetch_in(tx, stmt).await? {
            let id = q.text("id")?;
            let trade = rows::trade(&q)?;
            let Ok(pair) = Pair::parse(&trade.pair) else {
                return Err(corrupt(format!("corrupt quote {id}")));
            };
            out.insert(
                id,
                LockedQuote {
                    trade,
                    pair,
                    revenue: q.dec("revenue")?,
                    expires_at: q.time("expires_at")?,
                    consumed: q.opt_time("consumed_at")?.is_some(),
                },
            );
        }
        Ok(out)
    }

    /// Every balance of `users`, locked, by user then asset.
    async fn lock_balances(
        tx: &mut B::Tx,
        users: &[u64],
    ) -> StoreResult<BTreeMap<u64, BTreeMap<String, Decimal>>> {
        let mut out: BTreeMap<u64, BTreeMap<String, Decimal>> =
            users.iter().map(|u| (*u, BTreeMap::new())).collect();
        if users.is_empty() {
            return Ok(out);
        }
        let users = padded(users);
        let mut stmt = Stmt::assembled(format!(
            "SELECT user_id, asset, available FROM balances WHERE user_id IN ({}) {}",
            marks(users.len()),
            B::LOCK
        ));
        for u in users {
            stmt = stmt.id(u);
        }
        for row in B::fetch_in(tx, stmt).await? {
            out.entry(row.id("user_id")?)
                .or_default()
                .insert(row.text("asset")?, row.dec("available")?);
        }
        Ok(out)
    }

    /// One attempt at a batch; `Ok(None)` when another request answered one of its keys
    /// meanwhile (rolled back: run it again).
    async fn try_orders(
        &self,
        jobs: &[OrderJob],
        now: DateTime<Utc>,
        render: RenderAnswer<'_>,
    ) -> StoreResult<Option<Vec<Executed>>> {
        let answered = self.answered(jobs).await?;
        let mut seen = HashSet::new();
        // Each job's result; `None` until it is executed below.
        let mut results: Vec<Option<Executed>> = jobs
            .iter()
            .map(|job| {
                let id = (job.user_id, job.key.clone());
                if let Some((hash, answer)) = answered.get(&id) {
                    return Some(match answer {
                        _ if hash.as_slice() != job.hash.as_slice() => Executed::KeyReused,
                        None => Executed::InFlight,
                        Some(answer) => Executed::Replay(answer.clone()),
                    });
                }
                // The same key twice in one batch: the first one executes.
                (!seen.insert(id)).then_some(Executed::InFlight)
            })
            .collect();
        let to_run: Vec<usize> = (0..jobs.len()).filter(|i| results[*i].is_none()).collect();
        if to_run.is_empty() {
            return Ok(Some(settled(results)));
        }

        let mut tx = self.db.begin().await?;
        let ids: Vec<&str> = to_run.iter().map(|i| jobs[*i].quote_id.as_str()).collect();
        let mut quotes = Self::lock_quotes(&mut tx, &ids).await?;
        let mut users: Vec<u64> = to_run
            .iter()
            .filter(|i| {
                quotes.get(&jobs[**i].quote_id).map(|q| q.trade.user_id) == Some(jobs[**i].user_id)
            })
            .map(|i| jobs[*i].user_id)
            .collect();
        users.sort_unstable();
        users.dedup();
        let mut balances = Self::lock_balances(&mut tx, &users).await?;
        let mut touched: BTreeMap<(u64, String), Decimal> = BTreeMap::new();
        let mut fills: Vec<Fill> = Vec::new();
        let mut refused: Vec<(usize, OrderOutcome)> = Vec::new();
        for &i in &to_run {
            let job = &jobs[i];
            let outcome = match quotes.get_mut(&job.quote_id) {
                None => OrderOutcome::QuoteNotFound,
                Some(q) if q.trade.user_id != job.user_id => OrderOutcome::QuoteNotFound,
                Some(q) if q.consumed => OrderOutcome::QuoteUsed,
                Some(q) if q.expires_at <= now => OrderOutcome::QuoteExpired,
                Some(q) => {
                    let legs = money::legs(&q.pair, q.trade.side, q.trade.amount, q.trade.total);
                    let held = balances.entry(job.user_id).or_default();
                    let have = held.get(&legs.debit_asset).copied().unwrap_or_default();
                    if have < legs.debit {
                        OrderOutcome::InsufficientFunds {
                            asset: legs.debit_asset,
                        }
                    } else {
                        let credited = held
                            .get(&legs.credit_asset)
                            .copied()
                            .unwrap_or_default()
                            .checked_add(legs.credit)
                            .ok_or_else(|| {
                                corrupt(format!("balance overflow in {}", legs.credit_asset))
                            })?;
                        let debited = have - legs.debit;
                        held.insert(legs.debit_asset.clone(), debited);
                        held.insert(legs.credit_asset.clone(), credited);
                        touched.insert((job.user_id, legs.debit_asset.clone()), debited);
                        touched.insert((job.user_id, legs.credit_asset.clone()), credited);
                        q.consumed = true;
                        fills.push(Fill {
                            job: i,
                            order: Order {
                                id: super::new_row_id(),
                                quote_id: job.quote_id.clone(),
                                trade: q.trade.clone(),
                                revenue: q.revenue,
                                status: "filled".into(),
                                created_at: now,
                            },
                            legs,
                        });
                        continue;
                    }
                }
            };
            refused.push((i, outcome));
        }

        if !fills.is_empty() {
            Self::write_fills(&mut tx, &fills, &touched, now).await?;
        }
        let filled = fills.into_iter().map(|fill| {
            let balances = balances
                .get(&fill.order.trade.user_id)
                .map(|held| {
                    held.iter()
                        .map(|(asset, available)| Balance {
                            asset: asset.clone(),
                            available: available.normalize(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let order = Box::new(fill.order);
            (fill.job, OrderOutcome::Filled { order, balances })
        });
        let mut answered_now = Vec::new();
        for (i, outcome) in filled.chain(refused) {
            let answer = render(&outcome);
            results[i] = Some(Executed::Done { outcome, answer });
            answered_now.push(i);
        }

        // Every executed key's answer, in one insert; a key another request answered first
        // fails it on the primary key.
        let rows: Vec<(&OrderJob, &Answer)> = answered_now
            .iter()
            .filter_map(|&i| match &results[i] {
                Some(Executed::Done { answer, .. }) => Some((&jobs[i], answer)),
                _ => None,
            })
            .collect();
        for chunk in pow2_chunks(&rows) {
            let mut stmt = Stmt::assembled(format!(
                "INSERT INTO idempotency_keys
                   (user_id, idem_key, request_hash, state, response_status, response_body, created_at)
                 VALUES {}",
                vec!["(?, ?, ?, 'done', ?, ?, ?)"; chunk.len()].join(", ")
            ));
            for (job, answer) in chunk {
                stmt = stmt
                    .id(job.user_id)
                    .text(job.key.as_str())
                    .bytes(&job.hash)
                    .int(u32::from(answer.status))
                    .text(answer.body.as_str())
                    .time(now);
            }
            match B::execute_in(&mut tx, stmt).await {
                Ok(_) => {}
                Err(StoreError::Conflict) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        B::commit(tx).await?;
        Ok(Some(settled(results)))
    }

    /// The batch's fills, one multi-row statement per table (per power-of-two chunk).
    async fn write_fills(
        tx: &mut B::Tx,
        fills: &[Fill],
        touched: &BTreeMap<(u64, String), Decimal>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        // Balances: the values computed above under the rows' locks.
        let touched: Vec<(&(u64, String), &Decimal)> = touched.iter().collect();
        for chunk in pow2_chunks(&touched) {
            let mut stmt = Stmt::assembled(format!(
                "INSERT INTO balances (user_id, asset, available, updated_at) VALUES {} {}",
                rows_of(chunk.len(), 4),
                B::upsert("user_id, asset", &["available", "updated_at"])
            ));
            for ((user, asset), available) in chunk {
                stmt = stmt
                    .id(*user)
                    .text(asset.as_str())
                    .dec(**available)
                    .time(now);
            }
            B::execute_in(tx, stmt).await?;
        }

        for chunk in pow2_chunks(fills) {
            Self::write_trades(tx, chunk, now).await?;
        }

        let ids: Vec<&str> = fills.iter().map(|f| f.order.quote_id.as_str()).collect();
        let ids = padded(&ids);
        let mut stmt = Stmt::assembled(format!(
            "UPDATE quotes SET consumed_at = ? WHERE id IN ({})",
            marks(ids.len())
        ))
        .time(now);
        for id in ids {
            stmt = stmt.text(id);
        }
        B::execute_in(tx, stmt).await?;
        Ok(())
    }

    /// Fills' ledger transactions (ids back by `RETURNING`), their lines and the order rows.
    async fn write_trades(tx: &mut B::Tx, fills: &[Fill], now: DateTime<Utc>) -> StoreResult<()> {
        let mut stmt = Stmt::assembled(format!(
            "INSERT INTO ledger_transactions (kind, reference, created_at) VALUES {}
             RETURNING id, reference",
            vec!["('trade', ?, ?)"; fills.len()].join(", ")
        ));
        for fill in fills {
            stmt = stmt.text(fill.order.id.as_str()).time(now);
        }
        let mut ledger_ids = HashMap::new();
        for row in B::fetch_in(tx, stmt).await? {
            ledger_ids.insert(row.text("reference")?, row.id("id")?);
        }
        let ledger_id = |fill: &Fill| {
            ledger_ids
                .get(&fill.order.id)
                .copied()
                .ok_or_else(|| corrupt(format!("no ledger id for order {}", fill.order.id)))
        };

        let mut stmt = Stmt::assembled(format!(
            "INSERT INTO ledger_entries (tx_id, account, asset, amount) VALUES {}",
            rows_of(fills.len() * 4, 4)
        ));
        for fill in fills {
            let legs = &fill.legs;
            let user = format!("user:{}", fill.order.trade.user_id);
            let entries = [
                (user.clone(), legs.debit_asset.as_str(), -legs.debit),
                ("house".to_string(), legs.debit_asset.as_str(), legs.debit),
                (
                    "house".to_string(),
                    legs.credit_asset.as_str(),
                    -legs.credit,
                ),
                (user, legs.credit_asset.as_str(), legs.credit),
            ];
            rules::check_balanced(&fill.order.id, &entries).map_err(corrupt)?;
            let id = ledger_id(fill)?;
            for (account, asset, amount) in entries {
                stmt = stmt.id(id).text(account).text(asset).dec(amount);
            }
        }
        B::execute_in(tx, stmt).await?;

        let mut stmt = Stmt::assembled(format!(
            "INSERT INTO orders (id, quote_id, user_id, pair, side, amount, price, total, revenue,
                                 status, ledger_tx_id, created_at)
             VALUES {}",
            vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, 'filled', ?, ?)"; fills.len()].join(", ")
        ));
        for fill in fills {
            let o = &fill.order;
            stmt = stmt
                .text(o.id.as_str())
                .text(o.quote_id.as_str())
                .trade(&o.trade)
                .dec(o.revenue)
                .id(ledger_id(fill)?)
                .time(now);
        }
        B::execute_in(tx, stmt).await?;
        Ok(())
    }

    /// Executes a batch of orders in one transaction (see the module doc); one result per job,
    /// in order.
    pub(crate) async fn run_orders(
        &self,
        jobs: &[OrderJob],
        now: DateTime<Utc>,
        render: RenderAnswer<'_>,
    ) -> StoreResult<Vec<Executed>> {
        for _ in 0..KEY_RACE_ATTEMPTS {
            let attempt = rules::retrying(
                "execute_orders",
                |e| matches!(e, StoreError::Transient(_)),
                || self.try_orders(jobs, now, render),
            )
            .await?;
            if let Some(done) = attempt {
                return Ok(done);
            }
            metrics::counter!("rategate_store_retries_total", "op" => "order_key_race")
                .increment(1);
        }
        Err(StoreError::Transient(anyhow::anyhow!(
            "an order batch lost {KEY_RACE_ATTEMPTS} races for its keys"
        )))
    }

    /// Files a batch of quotes: each is refused if its owner's balance cannot pay for it now
    /// (read once for the whole batch), the rest inserted in one statement.
    pub(crate) async fn run_quotes(&self, quotes: &[QuoteJob]) -> StoreResult<Vec<Filed>> {
        let mut users: Vec<u64> = quotes.iter().map(|q| q.quote.trade.user_id).collect();
        users.sort_unstable();
        users.dedup();
        let users = padded(&users);
        let mut stmt = Stmt::assembled(format!(
            "SELECT user_id, asset, available FROM balances WHERE user_id IN ({})",
            marks(users.len())
        ));
        for u in &users {
            stmt = stmt.id(*u);
        }
        let mut held: HashMap<(u64, String), Decimal> = HashMap::new();
        for row in self.db.fetch(stmt).await? {
            held.insert(
                (row.id("user_id")?, row.text("asset")?),
                row.dec("available")?,
            );
        }
        let filed: Vec<Filed> = quotes
            .iter()
            .map(|q| {
                let have = held
                    .get(&(q.quote.trade.user_id, q.pays_asset.clone()))
                    .copied()
                    .unwrap_or_default();
                if have < q.pays {
                    Filed::Unaffordable
                } else {
                    Filed::Filed
                }
            })
            .collect();
        let keep: Vec<&NewQuote> = quotes
            .iter()
            .zip(&filed)
            .filter(|(_, f)| **f == Filed::Filed)
            .map(|(q, _)| &q.quote)
            .collect();
        if keep.is_empty() {
            return Ok(filed);
        }
        let now = Utc::now();
        // One commit for the whole batch: several chunks share a transaction.
        let chunks = pow2_chunks(&keep);
        let mut tx = match chunks.len() {
            1 => None,
            _ => Some(self.db.begin().await?),
        };
        for chunk in chunks {
            let mut stmt = Stmt::assembled(format!(
                "INSERT INTO quotes (id, user_id, pair, side, amount, price, total, raw_bid,
                                     raw_ask, spread_kind, spread_buy, spread_sell, revenue,
                                     created_at, expires_at)
                 VALUES {}",
                rows_of(chunk.len(), 15)
            ));
            for q in chunk {
                stmt = stmt
                    .text(q.id.as_str())
                    .trade(&q.trade)
                    .dec(q.raw_bid)
                    .dec(q.raw_ask)
                    .text(q.spread.kind.as_str())
                    .dec(q.spread.buy)
                    .dec(q.spread.sell)
                    .dec(q.revenue)
                    .time(now)
                    .time(q.expires_at);
            }
            match tx.as_mut() {
                Some(tx) => B::execute_in(tx, stmt).await?,
                None => self.db.execute(stmt).await?,
            };
        }
        if let Some(tx) = tx {
            B::commit(tx).await?;
        }
        Ok(filed)
    }
}

/// Every job's result; a job left without one (none is) reads as in flight: nothing of it
/// was done.
fn settled(results: Vec<Option<Executed>>) -> Vec<Executed> {
    results
        .into_iter()
        .map(|r| r.unwrap_or(Executed::InFlight))
        .collect()
}
