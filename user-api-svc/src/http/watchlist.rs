//! `GET /api/watchlist`, `PUT` and `DELETE /api/watchlist/{pair}`: the signed-in user's
//! favourite pairs, kept server-side so they follow the user to every device.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use common::Pair;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::AuthUser;
use super::orders::user_id;
use crate::http::error::{ApiError, ApiJson, Problem};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(add, remove))
}

#[derive(Serialize, ToSchema)]
pub struct Watchlist {
    /// `BTC/USD` spelling, in name order.
    pub pairs: Vec<String>,
}

async fn current(state: &AppState, uid: u64) -> Result<ApiJson<Watchlist>, ApiError> {
    Ok(ApiJson(Watchlist {
        pairs: state.store.watchlist(uid).await?,
    }))
}

/// Your favourite pairs.
#[utoipa::path(get, path = "/api/watchlist", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Watchlist), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<ApiJson<Watchlist>, ApiError> {
    current(&state, user_id(&claims)?).await
}

/// Adds a pair this gateway carries to your favourites; answers the whole list.
#[utoipa::path(put, path = "/api/watchlist/{pair}", tag = "auth", security(("bearer" = [])),
    params(("pair" = String, Path, description = "BTC_USD, BTC-USD or URL-encoded BTC/USD")),
    responses((status = 200, body = Watchlist), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 404, body = Problem)))]
pub async fn add(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(raw): Path<String>,
) -> Result<ApiJson<Watchlist>, ApiError> {
    let uid = user_id(&claims)?;
    let pair = super::extract::known_pair(&state, &raw)?;
    state.store.watch(uid, pair.as_str(), Utc::now()).await?;
    current(&state, uid).await
}

/// Removes a pair from your favourites; answers the whole list.
#[utoipa::path(delete, path = "/api/watchlist/{pair}", tag = "auth", security(("bearer" = [])),
    params(("pair" = String, Path, description = "BTC_USD, BTC-USD or URL-encoded BTC/USD")),
    responses((status = 200, body = Watchlist), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn remove(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(raw): Path<String>,
) -> Result<(StatusCode, ApiJson<Watchlist>), ApiError> {
    let uid = user_id(&claims)?;
    let pair = Pair::parse(&raw).map_err(|e| ApiError::InvalidPair(e.to_string()))?;
    state.store.unwatch(uid, pair.as_str()).await?;
    Ok((StatusCode::OK, current(&state, uid).await?))
}
