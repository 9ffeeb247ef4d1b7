//! `GET /api/admin/pairs/limits` and `PUT /api/admin/pairs/{pair}/limits`: an admin's limits
//! per pair: the largest amount one quote may be for, and the amounts of the live
//! price-at-size ladder. Every node reloads them at once (the spreads' announcement).

use axum::extract::State;
use chrono::{DateTime, Utc};
use common::decimal::DecimalString;
use common::{Decimal, Pair};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{AdminUser, KnownPair};
use crate::http::error::{ApiError, ApiJson};
use crate::http::fields::DecimalField;
use crate::money::MAX_AMOUNT;
use crate::state::AppState;
use crate::store::PairLimits;

/// Most amounts a ladder may have.
pub const MAX_LADDER: usize = 10;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(set))
}

#[derive(Deserialize, ToSchema)]
pub struct LimitsRequest {
    /// The largest amount (base asset) one quote may be for; `null` for none beyond the
    /// book's depth (`QUOTE_MAX_DEPTH_FRACTION`).
    #[schema(value_type = Option<DecimalString>, example = "5")]
    pub max_amount: Option<DecimalField>,
    /// The ladder's amounts (base asset), ascending, at most 10; `null` for the default
    /// (the pair's minimum order × 10, × 100, × 1000).
    #[schema(value_type = Option<Vec<DecimalString>>, example = json!(["0.1", "1", "5"]))]
    pub ladder: Option<Vec<DecimalField>>,
}

#[derive(Serialize, ToSchema)]
pub struct LimitsView {
    pub pair: Pair,
    pub max_amount: Option<DecimalString>,
    /// The amounts the ladder shows now (the admin's, or the default).
    pub ladder: Vec<DecimalString>,
    /// Whether `ladder` is the admin's own (false: the default).
    pub ladder_set: bool,
    /// When an admin last set them (RFC 3339); `null` if never.
    pub updated_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LimitsList {
    pub pairs: Vec<LimitsView>,
}

fn view(state: &AppState, pair: &Pair, updated_at: Option<DateTime<Utc>>) -> LimitsView {
    let book = state.hub.book();
    let shown = |x: Decimal| DecimalString(x.normalize());
    LimitsView {
        pair: pair.clone(),
        max_amount: book.max_amount(pair).map(shown),
        ladder: book.ladder_amounts(pair).into_iter().map(shown).collect(),
        ladder_set: book.has_own_ladder(pair),
        updated_at: updated_at.as_ref().map(common::time::rfc3339_micros),
    }
}

/// Every pair this gateway carries, with its limits now.
#[utoipa::path(get, path = "/api/admin/pairs/limits", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = LimitsList)))]
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<ApiJson<LimitsList>, ApiError> {
    let stored = state.store.pair_limits().await?;
    let pairs: Vec<Pair> = state.hub.book().known_pairs().iter().cloned().collect();
    let pairs = pairs
        .iter()
        .map(|p| {
            let at = stored
                .iter()
                .find(|l| l.pair == p.as_str())
                .map(|l| l.updated_at);
            view(&state, p, at)
        })
        .collect();
    Ok(ApiJson(LimitsList { pairs }))
}

/// A positive amount no larger than an order may be, from a request field.
fn amount(field: &DecimalField, name: &str) -> Result<Decimal, ApiError> {
    let x = field.parse(name)?;
    if x <= Decimal::ZERO || x > MAX_AMOUNT {
        return Err(ApiError::Validation(format!(
            "{name} must be above 0 and at most {MAX_AMOUNT}"
        )));
    }
    Ok(x)
}

/// Sets a pair's quote maximum and ladder (admin). Every node uses them at once.
#[utoipa::path(put, path = "/api/admin/pairs/{pair}/limits", tag = "admin", security(("bearer" = [])),
    params(KnownPair),
    request_body = LimitsRequest,
    responses((status = 200, body = LimitsView)))]
pub async fn set(
    State(state): State<AppState>,
    admin: AdminUser,
    KnownPair(pair): KnownPair,
    ApiJson(body): ApiJson<LimitsRequest>,
) -> Result<ApiJson<LimitsView>, ApiError> {
    let max_amount = body
        .max_amount
        .as_ref()
        .map(|m| amount(m, "max_amount"))
        .transpose()?;
    let ladder = match &body.ladder {
        None => None,
        Some(list) => {
            if list.is_empty() || list.len() > MAX_LADDER {
                return Err(ApiError::Validation(format!(
                    "ladder must have 1 to {MAX_LADDER} amounts"
                )));
            }
            let amounts = list
                .iter()
                .map(|a| amount(a, "ladder amount"))
                .collect::<Result<Vec<_>, _>>()?;
            if amounts.windows(2).any(|w| w[0] >= w[1]) {
                return Err(ApiError::Validation(
                    "ladder amounts must rise, each above the one before".into(),
                ));
            }
            Some(amounts)
        }
    };
    let now = Utc::now();
    let limits = PairLimits {
        pair: pair.to_string(),
        max_amount,
        ladder,
        updated_at: now,
        updated_by: admin.0.user_id().unwrap_or_default(),
    };
    state.store.set_pair_limits(&limits).await?;
    state.reload_pair_limits().await?;
    state.announce_spreads_changed().await;
    tracing::info!(admin = %admin.0.email, %pair, ?max_amount, "pair limits set");
    Ok(ApiJson(view(&state, &pair, Some(now))))
}
