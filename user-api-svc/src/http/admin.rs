//! The admin's money endpoints: deposits (through the ledger), revenue per pair, accounts.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use common::{Decimal, Pair};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::AdminUser;
use super::orders::notify_balances;
use crate::auth::email;
use crate::http::error::{ApiError, ApiJson, Problem};
use crate::http::fields::DecimalField;
use crate::state::AppState;
use common::decimal::DecimalString;

/// The admin's money endpoints.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(deposit))
        .routes(routes!(revenue))
        .routes(routes!(users))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
        .routes(routes!(venues))
}

/// One venue's book for one pair.
#[derive(Serialize, ToSchema)]
pub struct VenueBookHealth {
    /// `fresh`, `stale`, `resyncing`, `down`, `maintenance` or `excluded`.
    pub state: &'static str,
    /// Since the venue's last verified update; absent before the first.
    pub age_ms: Option<u64>,
    pub bid: Option<DecimalString>,
    pub ask: Option<DecimalString>,
}

/// One venue's health as the feed reports it.
#[derive(Serialize, ToSchema)]
pub struct VenueHealth {
    pub venue: String,
    /// As for a book, over the whole venue.
    pub state: &'static str,
    pub checksum_failures: u64,
    pub sequence_gaps: u64,
    pub pairs: std::collections::BTreeMap<String, VenueBookHealth>,
}

/// The venues behind the prices, from the feed's newest status.
#[derive(Serialize, ToSchema)]
pub struct VenuesView {
    /// The feed's state (`online`, ...), or `silent` when no status was heard lately.
    pub feed: &'static str,
    /// The epoch of the feed that publishes; absent while it is silent.
    pub feed_leader: Option<String>,
    pub venues: Vec<VenueHealth>,
}

/// The health of each venue and of its book per pair, as the feed last reported it (admin).
#[utoipa::path(get, path = "/api/admin/venues", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = VenuesView)))]
pub async fn venues(State(state): State<AppState>, _admin: AdminUser) -> ApiJson<VenuesView> {
    let book = state.hub.book();
    let Some(status) = book.feed_status(std::time::Instant::now()) else {
        return ApiJson(VenuesView {
            feed: "silent",
            feed_leader: None,
            venues: Vec::new(),
        });
    };
    let venues = status
        .venues
        .iter()
        .map(|(venue, v)| VenueHealth {
            venue: venue.to_string(),
            state: v.state.as_str(),
            checksum_failures: v.checksum_failures,
            sequence_gaps: v.sequence_gaps,
            pairs: v
                .pairs
                .iter()
                .map(|(pair, b)| {
                    let health = VenueBookHealth {
                        state: b.state.as_str(),
                        age_ms: b.age_ms,
                        bid: b.bid,
                        ask: b.ask,
                    };
                    (pair.to_string(), health)
                })
                .collect(),
        })
        .collect();
    ApiJson(VenuesView {
        feed: status.state.as_str(),
        feed_leader: Some(status.epoch.clone()),
        venues,
    })
}

#[derive(Deserialize, ToSchema)]
pub struct DepositRequest {
    pub email: String,
    /// Asset code, e.g. `USD`.
    pub asset: String,
    #[schema(value_type = DecimalString, example = "1000.00")]
    pub amount: DecimalField,
}

#[derive(Serialize, ToSchema)]
pub struct DepositView {
    pub transaction_id: u64,
    pub email: String,
    pub asset: String,
    pub amount: DecimalString,
    pub balance: DecimalString,
}

/// Fund a user's account (admin), through the ledger (external → user). Only assets of the
/// pairs this gateway carries, at most the asset's cap per deposit (`DEPOSIT_CAPS`), and never
/// to the admin's own account unless `ADMIN_SELF_DEPOSIT=true`.
#[utoipa::path(post, path = "/api/admin/deposits", tag = "admin", security(("bearer" = [])), request_body = DepositRequest,
    responses((status = 201, body = DepositView),
              (status = 403, body = Problem, description = "forbidden, or self_deposit")))]
pub async fn deposit(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiJson(body): ApiJson<DepositRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let email = email::normalize(&body.email)?;
    let asset = body.asset.trim().to_ascii_uppercase();
    if asset.is_empty() || asset.len() > 16 || !asset.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::Validation(
            "asset must be a code such as USD".into(),
        ));
    }
    if !state.config.carries_asset(&asset) {
        return Err(ApiError::Validation(format!(
            "{asset} is not an asset of any pair this gateway carries"
        )));
    }
    let amount = body.amount.parse("amount")?;
    if amount <= Decimal::ZERO {
        return Err(ApiError::Validation("amount must be positive".into()));
    }
    let cap = state.config.deposit_cap(&asset);
    if amount > cap {
        return Err(ApiError::Validation(format!(
            "one deposit of {asset} is at most {cap} (DEPOSIT_CAPS)"
        )));
    }
    if amount.scale() > state.precision.places(&asset) {
        return Err(ApiError::Validation(format!(
            "{asset} has {} decimal places at most",
            state.precision.places(&asset)
        )));
    }
    let user = state
        .store
        .credentials(&email)
        .await?
        .ok_or_else(|| ApiError::NotFound("no account with that email".into()))?
        .user;
    if Some(user.id) == admin.0.user_id() && !state.config.admin_self_deposit {
        return Err(ApiError::SelfDeposit);
    }
    let (tx, balance) = state.store.deposit(user.id, &asset, amount).await?;
    tracing::info!(admin = %admin.0.email, user = user.id, %asset, %amount, tx, "deposit");
    if let Ok(all) = state.store.balances(user.id).await {
        notify_balances(&state, user.id, &all);
    }
    Ok((
        StatusCode::CREATED,
        ApiJson(DepositView {
            transaction_id: tx,
            email,
            balance: state.precision.show(&asset, balance),
            amount: state.precision.show(&asset, amount),
            asset,
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct RevenueView {
    pub pair: String,
    /// The quote asset the revenue is in.
    pub asset: String,
    /// At least the asset's scale: the spread earned on a price below the asset's unit is kept
    /// exactly (`0.3798` USD), never rounded away.
    pub amount: DecimalString,
    pub orders: u64,
}

#[derive(Serialize, ToSchema)]
pub struct Revenue {
    pub revenue: Vec<RevenueView>,
}

/// Spread earned per pair (admin): what users paid above the raw ask or received below the raw
/// bid, times the amount, rounding included.
#[utoipa::path(get, path = "/api/admin/revenue", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Revenue)))]
pub async fn revenue(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<ApiJson<Revenue>, ApiError> {
    let rows = state.store.revenue().await?;
    Ok(ApiJson(Revenue {
        revenue: rows
            .into_iter()
            .map(|r| {
                let asset = Pair::parse(&r.pair)
                    .map(|p| p.quote().to_string())
                    .unwrap_or_default();
                RevenueView {
                    pair: r.pair,
                    amount: state.precision.show(&asset, r.amount),
                    asset,
                    orders: r.orders,
                }
            })
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<super::auth::UserView>,
}

/// Accounts (admin).
#[utoipa::path(get, path = "/api/admin/users", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = UserList)))]
pub async fn users(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<ApiJson<UserList>, ApiError> {
    let users = state.store.users(1000).await?;
    Ok(ApiJson(UserList {
        users: users.iter().map(Into::into).collect(),
    }))
}

/// Disable an account (admin): it can no longer sign in, and every session of it ends at once,
/// on every node (refresh tokens revoked, access tokens refused, sockets disconnected). An
/// admin cannot disable their own account.
#[utoipa::path(post, path = "/api/admin/users/{id}/disable", tag = "admin", security(("bearer" = [])),
    params(("id" = u64, Path, description = "the account's id")),
    responses((status = 204)))]
pub async fn disable_user(
    State(state): State<AppState>,
    admin: AdminUser,
    axum::extract::Path(id): axum::extract::Path<u64>,
) -> Result<StatusCode, ApiError> {
    if Some(id) == admin.0.user_id() {
        return Err(ApiError::Validation(
            "an admin cannot disable their own account".into(),
        ));
    }
    if !state
        .store
        .set_disabled(id, true, chrono::Utc::now())
        .await?
    {
        return Err(ApiError::NotFound("no account with that id".into()));
    }
    crate::socket::end_sockets(&state, crate::socket::user_room(id));
    tracing::info!(admin = %admin.0.email, user = id, "account disabled; every session ended");
    Ok(StatusCode::NO_CONTENT)
}

/// Enable a disabled account again (admin); its owner signs in anew.
#[utoipa::path(post, path = "/api/admin/users/{id}/enable", tag = "admin", security(("bearer" = [])),
    params(("id" = u64, Path, description = "the account's id")),
    responses((status = 204)))]
pub async fn enable_user(
    State(state): State<AppState>,
    admin: AdminUser,
    axum::extract::Path(id): axum::extract::Path<u64>,
) -> Result<StatusCode, ApiError> {
    if !state
        .store
        .set_disabled(id, false, chrono::Utc::now())
        .await?
    {
        return Err(ApiError::NotFound("no account with that id".into()));
    }
    tracing::info!(admin = %admin.0.email, user = id, "account enabled");
    Ok(StatusCode::NO_CONTENT)
}
