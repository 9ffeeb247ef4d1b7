//! `/api/spreads` (admin only).

use std::collections::BTreeMap;
use utoipa_axum::{router::OpenApiRouter, routes};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::AdminUser;
use crate::http::error::{ApiError, ApiJson, Problem};
use crate::http::fields::DecimalField;
use crate::pricing::{Spread, SpreadKind};
use crate::spreads::{validate, SpreadError, SpreadTarget};
use crate::state::AppState;
use crate::store::{Actor, SpreadAudit};
use common::decimal::DecimalString;

/// The admin's spread endpoints.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(put, delete))
        .routes(routes!(history))
        .routes(routes!(preview))
}

#[derive(Serialize, ToSchema, Clone, Copy)]
pub struct SpreadValue {
    pub kind: SpreadKind,
    pub buy: DecimalString,
    pub sell: DecimalString,
}

impl From<Spread> for SpreadValue {
    fn from(s: Spread) -> Self {
        SpreadValue {
            kind: s.kind,
            buy: s.buy.into(),
            sell: s.sell.into(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SpreadView {
    pub pair: String,
    #[serde(flatten)]
    pub value: SpreadValue,
    pub updated_at: DateTime<Utc>,
    pub updated_by: u64,
}

#[derive(Serialize, ToSchema)]
pub struct SpreadList {
    /// Applies to pairs without their own spread; `null` = zero.
    pub default: Option<SpreadView>,
    pub pairs: BTreeMap<String, SpreadView>,
}

#[derive(Deserialize, ToSchema)]
pub struct SpreadBody {
    /// `absolute` (quote-currency units) or `bps`.
    pub kind: String,
    /// Decimal string ≥ 0.
    #[schema(value_type = DecimalString, example = "25")]
    pub buy: DecimalField,
    #[schema(value_type = DecimalString, example = "25")]
    pub sell: DecimalField,
    pub reason: Option<String>,
}

#[derive(Deserialize, IntoParams, ToSchema, Default)]
pub struct DeleteQuery {
    pub reason: Option<String>,
}

#[derive(Deserialize, IntoParams)]
pub struct HistoryQuery {
    /// At most this many entries, newest first (default 50, at most 500).
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditActor {
    pub id: u64,
    pub email: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: u64,
    /// `set` or `delete`.
    pub action: String,
    pub actor: AuditActor,
    pub at: DateTime<Utc>,
    pub old: Option<SpreadValue>,
    pub new: Option<SpreadValue>,
    pub reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct History {
    pub pair: String,
    pub entries: Vec<AuditEntry>,
}

impl From<SpreadAudit> for AuditEntry {
    fn from(a: SpreadAudit) -> Self {
        AuditEntry {
            id: a.id,
            action: a.action,
            actor: AuditActor {
                id: a.actor_id,
                email: a.actor_email,
            },
            at: a.at,
            old: a.old.map(Into::into),
            new: a.new.map(Into::into),
            reason: a.reason,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct PreviewBody {
    /// The pair to price on now (`BTC/USD`, `BTC_USD`, ...).
    pub pair: String,
    /// `absolute` (quote-currency units) or `bps`.
    pub kind: String,
    #[schema(value_type = DecimalString, example = "25")]
    pub buy: DecimalField,
    #[schema(value_type = DecimalString, example = "25")]
    pub sell: DecimalField,
}

/// What a spread would make of a pair's current rate.
#[derive(Serialize, ToSchema)]
pub struct SpreadPreview {
    pub pair: String,
    /// The raw best ask and bid now.
    pub ask: DecimalString,
    pub bid: DecimalString,
    /// The pair's price tick, to which both prices are rounded (buy up, sell down).
    pub tick: DecimalString,
    /// What users would pay per unit.
    pub buy: Option<DecimalString>,
    /// What users would receive per unit; `null` when the spread leaves no positive price.
    pub sell: Option<DecimalString>,
    /// Why the pair would not be quotable (`spread_too_wide`, ...); `null` when it would be.
    pub unquotable: Option<&'static str>,
}

impl From<SpreadError> for ApiError {
    fn from(e: SpreadError) -> ApiError {
        match e {
            SpreadError::InvalidTarget(why) => ApiError::InvalidPair(why),
            SpreadError::Invalid(why) => ApiError::Validation(why),
        }
    }
}

/// A target this gateway carries (or `default`).
fn target(state: &AppState, raw: &str) -> Result<SpreadTarget, ApiError> {
    let target = SpreadTarget::parse(raw)?;
    if let SpreadTarget::Pair(pair) = &target {
        if !state.hub.book().is_known(pair) {
            return Err(ApiError::UnknownPair(pair.to_string()));
        }
    }
    Ok(target)
}

fn actor(admin: &AdminUser) -> Result<Actor, ApiError> {
    Ok(Actor {
        id: admin.0.user_id().ok_or(ApiError::Unauthorized)?,
        email: admin.0.email.clone(),
    })
}

/// What a spread would make of a pair's current rate, priced and rounded exactly as quotes
/// are (admin; nothing is saved).
#[utoipa::path(post, path = "/api/spreads/preview", tag = "spreads", security(("bearer" = [])),
    request_body = PreviewBody,
    responses((status = 200, body = SpreadPreview),
              (status = 503, body = Problem, description = "rate_unavailable: no rate for the pair yet")))]
pub async fn preview(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiJson(body): ApiJson<PreviewBody>,
) -> Result<ApiJson<SpreadPreview>, ApiError> {
    let SpreadTarget::Pair(pair) = target(&state, &body.pair)? else {
        return Err(ApiError::InvalidPair(
            "preview on a pair, not the default".into(),
        ));
    };
    let (buy, sell) = (body.buy.parse("buy")?, body.sell.parse("sell")?);
    let spread = validate(&body.kind, buy, sell, None)?;
    let book = state.hub.book();
    let (raw, tick, priced) = book
        .preview_spread(&pair, spread)
        .ok_or_else(|| ApiError::RateUnavailable(pair.to_string()))?;
    let (buy, sell, unquotable) = match priced {
        Ok(p) => (Some(p.buy.into()), Some(p.sell.into()), None),
        Err(e) => (None, None, Some(e.reason())),
    };
    Ok(ApiJson(SpreadPreview {
        pair: pair.to_string(),
        ask: crate::pricing::show_price(raw.ask, Some(tick)),
        bid: crate::pricing::show_price(raw.bid, Some(tick)),
        tick: tick.into(),
        buy,
        sell,
        unquotable,
    }))
}

/// Every spread (admin).
#[utoipa::path(get, path = "/api/spreads", tag = "spreads", security(("bearer" = [])),
    responses((status = 200, body = SpreadList)))]
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<ApiJson<SpreadList>, ApiError> {
    let mut out = SpreadList {
        default: None,
        pairs: BTreeMap::new(),
    };
    for row in state.store.spreads().await? {
        let view = SpreadView {
            pair: row.pair.clone(),
            value: row.spread.into(),
            updated_at: row.updated_at,
            updated_by: row.updated_by,
        };
        if row.pair == crate::spreads::DEFAULT {
            out.default = Some(view);
        } else {
            out.pairs.insert(row.pair, view);
        }
    }
    Ok(ApiJson(out))
}

/// Set a pair's (or the `default`) spread (admin). Applies to clients at once.
#[utoipa::path(put, path = "/api/spreads/{pair}", tag = "spreads", security(("bearer" = [])),
    params(("pair" = String, Path, description = "BTC_USD, BTC-USD, BTC%2FUSD or default")),
    request_body = SpreadBody,
    responses((status = 200, body = SpreadValue),
              (status = 422, body = Problem, description = "validation_failed, or unquotable_spread: the spread would leave the pair (or, for the default, a pair it applies to) with no positive sell price at the current rate")))]
pub async fn put(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<SpreadBody>,
) -> Result<ApiJson<SpreadValue>, ApiError> {
    let target = target(&state, &raw)?;
    let (buy, sell) = (body.buy.parse("buy")?, body.sell.parse("sell")?);
    let spread = validate(&body.kind, buy, sell, body.reason.as_deref())?;
    let own_pair = match &target {
        SpreadTarget::Pair(p) => Some(p),
        SpreadTarget::Default => None,
    };
    if let Err((pair, e)) = state.hub.book().check_spread(own_pair, spread) {
        return Err(ApiError::UnquotableSpread(format!(
            "this spread would leave {pair} unquotable at its current rate: {e}"
        )));
    }
    let actor = actor(&admin)?;
    let old = state
        .store
        .set_spread(&target.key(), spread, &actor, body.reason.as_deref())
        .await?;
    tracing::info!(pair = %target.key(), admin = %actor.email, ?old, new = ?spread, "spread set");
    state.reload_spreads().await?;
    state.announce_spreads_changed().await;
    Ok(ApiJson(spread.into()))
}

/// Remove a pair's (or the default) spread (admin).
#[utoipa::path(delete, path = "/api/spreads/{pair}", tag = "spreads", security(("bearer" = [])),
    params(("pair" = String, Path), DeleteQuery),
    responses((status = 204)))]
pub async fn delete(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(raw): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<StatusCode, ApiError> {
    let target = target(&state, &raw)?;
    let actor = actor(&admin)?;
    let removed = state
        .store
        .delete_spread(&target.key(), &actor, q.reason.as_deref())
        .await?;
    if removed.is_none() {
        return Err(ApiError::NotFound(format!(
            "no spread is set for {}",
            target.key()
        )));
    }
    tracing::info!(pair = %target.key(), admin = %actor.email, "spread deleted");
    state.reload_spreads().await?;
    state.announce_spreads_changed().await;
    Ok(StatusCode::NO_CONTENT)
}

/// The audit trail of a pair's (or the default) spread, newest first (admin).
#[utoipa::path(get, path = "/api/spreads/{pair}/history", tag = "spreads", security(("bearer" = [])),
    params(("pair" = String, Path), HistoryQuery),
    responses((status = 200, body = History)))]
pub async fn history(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(raw): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<ApiJson<History>, ApiError> {
    let target = target(&state, &raw)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let entries = state.store.spread_history(&target.key(), limit).await?;
    Ok(ApiJson(History {
        pair: target.key(),
        entries: entries.into_iter().map(Into::into).collect(),
    }))
}
