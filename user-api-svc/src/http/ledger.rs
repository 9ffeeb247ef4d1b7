//! `GET /api/ledger`: the signed-in user's own ledger account, newest first, each line with
//! the balance of its asset right after it (deposits and trades alike).

use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use common::decimal::DecimalString;
use common::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::AuthUser;
use super::orders::user_id;
use crate::http::error::{ApiError, ApiJson};
use crate::money::AssetPrecision;
use crate::state::AppState;
use crate::store::LedgerLine;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ledger))
}

#[derive(Deserialize, IntoParams)]
pub struct LedgerQuery {
    /// Page size (default 50, at most 200).
    pub limit: Option<u32>,
    /// `next_before` of the previous page: lines older than that one.
    pub before: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct LedgerEntryView {
    pub id: u64,
    pub at: DateTime<Utc>,
    /// `deposit` or `trade`.
    pub kind: String,
    /// The order id of a trade.
    pub reference: String,
    pub asset: String,
    /// Positive in, negative out; at the asset's scale.
    pub amount: DecimalString,
    /// The asset's balance right after this line.
    pub balance: DecimalString,
}

#[derive(Serialize, ToSchema)]
pub struct LedgerPage {
    pub entries: Vec<LedgerEntryView>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<u64>,
}

/// Running balances per asset over lines oldest first, then the page asked for, newest first.
/// Exact decimal sums in Rust, so both stores give the same figures; each shown at its asset's
/// scale.
pub fn page(
    precision: &AssetPrecision,
    lines: Vec<LedgerLine>,
    before: Option<u64>,
    limit: usize,
) -> Result<LedgerPage, ApiError> {
    let mut running: std::collections::HashMap<String, Decimal> = Default::default();
    let mut all = Vec::with_capacity(lines.len());
    for line in lines {
        let balance = running.entry(line.asset.clone()).or_default();
        *balance = balance
            .checked_add(line.amount)
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("ledger sum overflows")))?;
        let balance = precision.show(&line.asset, *balance);
        all.push(LedgerEntryView {
            id: line.id,
            at: line.at,
            kind: line.kind,
            reference: line.reference,
            amount: precision.show(&line.asset, line.amount),
            asset: line.asset,
            balance,
        });
    }
    let mut newest_first: Vec<_> = all
        .into_iter()
        .rev()
        .filter(|e| before.is_none_or(|b| e.id < b))
        .take(limit + 1)
        .collect();
    let more = newest_first.len() > limit;
    newest_first.truncate(limit);
    Ok(LedgerPage {
        next_before: more.then(|| newest_first.last().map(|e| e.id)).flatten(),
        entries: newest_first,
    })
}

/// Your ledger: every deposit and trade leg, newest first, with the running balance.
#[utoipa::path(get, path = "/api/ledger", tag = "trading", security(("bearer" = [])), params(LedgerQuery),
    responses((status = 200, body = LedgerPage)))]
pub async fn ledger(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Query(q): Query<LedgerQuery>,
) -> Result<ApiJson<LedgerPage>, ApiError> {
    let lines = state.store.ledger(user_id(&claims)?).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200) as usize;
    Ok(ApiJson(page(&state.precision, lines, q.before, limit)?))
}
