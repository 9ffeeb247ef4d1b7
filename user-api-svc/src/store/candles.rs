//! Candles ([`CandleStore`]) written once over any [`Backend`]: a closed minute is stored as
//! its 1 m row and merged into the 5 m and 1 h rows it belongs to, all in one write
//! transaction. Saving a minute that is already stored changes nothing, so a repeated save
//! cannot count ticks twice.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::backend::{fetch_first_in, Backend, Row, SqlStore, Stmt};
use super::rows;
use super::*;
use crate::candles::{Candle, Interval};

const CANDLE_COLUMNS: &str = "SELECT pair, span, start, open, high, low, close, ticks FROM candles";

fn candle<R: Row>(row: &R) -> StoreResult<Candle> {
    let bad = |what: String| StoreError::Other(anyhow::anyhow!(what));
    // Unsigned 64-bit columns, read as the backends read ids.
    let span = row.id("span")?;
    let interval = u32::try_from(span)
        .ok()
        .and_then(Interval::from_seconds)
        .ok_or_else(|| bad(format!("candle span {span} is not 60, 300 or 3600")))?;
    let pair = row.text("pair")?;
    Ok(Candle {
        pair: common::Pair::parse(&pair).map_err(|e| bad(format!("candle pair {pair}: {e}")))?,
        interval,
        start: row.time("start")?,
        open: row.dec("open")?,
        high: row.dec("high")?,
        low: row.dec("low")?,
        close: row.dec("close")?,
        ticks: row.id("ticks")?,
    })
}

fn key(sql: String, c: &Candle) -> Stmt {
    Stmt::assembled(sql)
        .text(c.pair.as_str())
        .int(c.interval.seconds())
        .time(c.start)
}

impl<B: Backend> SqlStore<B> {
    /// The stored candle with `c`'s key, locked until the transaction ends.
    async fn lock_candle(tx: &mut B::Tx, c: &Candle) -> StoreResult<Option<Candle>> {
        let sql = format!(
            "{CANDLE_COLUMNS} WHERE pair = ? AND span = ? AND start = ? {}",
            B::LOCK
        );
        match fetch_first_in::<B>(tx, key(sql, c)).await? {
            Some(row) => Ok(Some(candle(&row)?)),
            None => Ok(None),
        }
    }

    async fn insert_candle(tx: &mut B::Tx, c: &Candle) -> StoreResult<()> {
        let stmt = Stmt::new(
            "INSERT INTO candles (pair, span, start, open, high, low, close, ticks)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .text(c.pair.as_str())
        .int(c.interval.seconds())
        .time(c.start)
        .dec(c.open)
        .dec(c.high)
        .dec(c.low)
        .dec(c.close)
        // A tick count, bound as the backends bind unsigned 64-bit integers.
        .id(c.ticks);
        B::execute_in(tx, stmt).await?;
        Ok(())
    }

    async fn update_candle(tx: &mut B::Tx, c: &Candle) -> StoreResult<()> {
        let stmt = Stmt::new(
            "UPDATE candles SET high = ?, low = ?, close = ?, ticks = ?
             WHERE pair = ? AND span = ? AND start = ?",
        )
        .dec(c.high)
        .dec(c.low)
        .dec(c.close)
        .id(c.ticks)
        .text(c.pair.as_str())
        .int(c.interval.seconds())
        .time(c.start);
        B::execute_in(tx, stmt).await?;
        Ok(())
    }
}

#[async_trait]
impl<B: Backend> CandleStore for SqlStore<B> {
    async fn save_candles(&self, minutes: &[Candle]) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        for minute in minutes {
            if Self::lock_candle(&mut tx, minute).await?.is_some() {
                continue;
            }
            Self::insert_candle(&mut tx, minute).await?;
            for longer in [Interval::M5, Interval::H1] {
                let part = minute.rolled_into(longer);
                match Self::lock_candle(&mut tx, &part).await? {
                    Some(mut stored) => {
                        stored.absorb(minute);
                        Self::update_candle(&mut tx, &stored).await?;
                    }
                    None => Self::insert_candle(&mut tx, &part).await?,
                }
            }
        }
        B::commit(tx).await
    }

    async fn candles(
        &self,
        pair: &str,
        interval: Interval,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Candle>> {
        let stmt = Stmt::assembled(format!(
            "{CANDLE_COLUMNS} WHERE pair = ? AND span = ? AND start >= ? AND start < ?
             ORDER BY start LIMIT ?"
        ))
        .text(pair)
        .int(interval.seconds())
        .time(from)
        .time(to)
        .int(limit);
        rows::all(&self.db.fetch(stmt).await?, candle)
    }

    async fn purge_candles(&self, interval: Interval, before: DateTime<Utc>) -> StoreResult<u64> {
        let stmt = Stmt::new("DELETE FROM candles WHERE span = ? AND start < ?")
            .int(interval.seconds())
            .time(before);
        Ok(self.db.execute(stmt).await?.rows_affected)
    }
}
