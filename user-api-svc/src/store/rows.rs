//! Rows to domain types, written once for both databases: each backend's [`Row`] decodes its own
//! column types, these functions decide what the values mean. Stored enum text that is not one
//! of ours (a role, a spread kind, a side) is corrupt data and an error, never a default.

use anyhow::anyhow;

use super::backend::Row;
use super::rules;
use super::{
    Balance, Order, PairLimits, Role, SpreadAudit, SpreadRow, StoreError, StoreResult, Trade, User,
};
use crate::pricing::{Spread, SpreadKind};
use common::Decimal;

/// The columns [`user`] reads.
pub const USER_COLUMNS: &str =
    "SELECT id, email, role, created_at, disabled_at, two_factor_required_at FROM users";

/// The columns [`order`] reads.
pub const ORDER_COLUMNS: &str =
    "SELECT id, quote_id, user_id, pair, side, amount, price, total, revenue, status, created_at FROM orders";

fn corrupt(what: String) -> StoreError {
    StoreError::Other(anyhow!(what))
}

pub fn user(r: &impl Row) -> StoreResult<User> {
    let role = r.text("role")?;
    Ok(User {
        id: r.id("id")?,
        email: r.text("email")?,
        role: Role::parse(&role).ok_or_else(|| corrupt(format!("unknown role {role:?}")))?,
        created_at: r.time("created_at")?,
        disabled: r.opt_time("disabled_at")?.is_some(),
        two_factor_required: r.opt_time("two_factor_required_at")?.is_some(),
    })
}

fn kind(text: &str) -> StoreResult<SpreadKind> {
    SpreadKind::parse(text).ok_or_else(|| corrupt(format!("unknown spread kind {text:?}")))
}

/// A spread stored in the columns `{prefix}kind`, `{prefix}buy`, `{prefix}sell`, all set or
/// all null.
pub fn opt_spread(r: &impl Row, prefix: &str) -> StoreResult<Option<Spread>> {
    let k = r.opt_text(&format!("{prefix}kind"))?;
    let buy = r.opt_dec(&format!("{prefix}buy"))?;
    let sell = r.opt_dec(&format!("{prefix}sell"))?;
    match (k, buy, sell) {
        (Some(k), Some(buy), Some(sell)) => Ok(Some(Spread {
            kind: kind(&k)?,
            buy,
            sell,
        })),
        _ => Ok(None),
    }
}

pub fn spread_row(r: &impl Row) -> StoreResult<SpreadRow> {
    Ok(SpreadRow {
        pair: r.text("pair")?,
        spread: Spread {
            kind: kind(&r.text("kind")?)?,
            buy: r.dec("buy")?,
            sell: r.dec("sell")?,
        },
        updated_at: r.time("updated_at")?,
        updated_by: r.id("updated_by")?,
    })
}

pub fn pair_limits(r: &impl Row) -> StoreResult<PairLimits> {
    let ladder = match r.opt_text("ladder")? {
        None => None,
        Some(text) => Some(
            text.split(',')
                .map(|a| {
                    a.parse::<Decimal>()
                        .map_err(|e| corrupt(format!("ladder amount {a:?}: {e}")))
                })
                .collect::<StoreResult<Vec<Decimal>>>()?,
        ),
    };
    Ok(PairLimits {
        pair: r.text("pair")?,
        max_amount: r.opt_dec("max_amount")?,
        ladder,
        updated_at: r.time("updated_at")?,
        updated_by: r.id("updated_by")?,
    })
}

pub fn audit(r: &impl Row) -> StoreResult<SpreadAudit> {
    Ok(SpreadAudit {
        id: r.id("id")?,
        pair: r.text("pair")?,
        action: r.text("action")?,
        actor_id: r.id("actor_id")?,
        actor_email: r.text("actor_email")?,
        at: r.time("at")?,
        old: opt_spread(r, "old_")?,
        new: opt_spread(r, "new_")?,
        reason: r.opt_text("reason")?,
    })
}

/// The trade of a quote's or an order's row.
pub fn trade(r: &impl Row) -> StoreResult<Trade> {
    Ok(Trade {
        user_id: r.id("user_id")?,
        pair: r.text("pair")?,
        side: rules::decode_side(&r.text("side")?).map_err(corrupt)?,
        amount: r.dec("amount")?,
        price: r.dec("price")?,
        total: r.dec("total")?,
    })
}

pub fn order(r: &impl Row) -> StoreResult<Order> {
    Ok(Order {
        id: r.text("id")?,
        quote_id: r.text("quote_id")?,
        trade: trade(r)?,
        revenue: r.dec("revenue")?,
        status: r.text("status")?,
        created_at: r.time("created_at")?,
    })
}

pub fn balance(r: &impl Row) -> StoreResult<Balance> {
    Ok(Balance {
        asset: r.text("asset")?,
        available: r.dec("available")?,
    })
}

/// Maps every row, stopping at the first that does not decode.
pub fn all<R: Row, T>(rows: &[R], f: fn(&R) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    rows.iter().map(f).collect()
}
