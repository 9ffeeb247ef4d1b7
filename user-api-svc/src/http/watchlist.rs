//! `GET /api/watchlist`, `PUT` and `DELETE /api/watchlist/{pair}`: the signed-in user's
//! favourite pairs, kept server-side so they follow the user to every device.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::extract::{AuthUser, KnownPair, PathPair};
use super::orders::user_id;
use crate::http::error::{ApiError, ApiJson};
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
    responses((status = 200, body = Watchlist)))]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<ApiJson<Watchlist>, ApiError> {
    current(&state, user_id(&claims)?).await
}

/// Adds a pair this gateway carries to your favourites; answers the whole list.
#[utoipa::path(put, path = "/api/watchlist/{pair}", tag = "auth", security(("bearer" = [])),
    params(KnownPair),
    responses((status = 200, body = Watchlist)))]
pub async fn add(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    KnownPair(pair): KnownPair,
) -> Result<ApiJson<Watchlist>, ApiError> {
    let uid = user_id(&claims)?;
    state.store.watch(uid, pair.as_str(), Utc::now()).await?;
    current(&state, uid).await
}

/// Removes a pair from your favourites; answers the whole list.
#[utoipa::path(delete, path = "/api/watchlist/{pair}", tag = "auth", security(("bearer" = [])),
    params(PathPair),
    responses((status = 200, body = Watchlist)))]
pub async fn remove(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    PathPair(pair): PathPair,
) -> Result<(StatusCode, ApiJson<Watchlist>), ApiError> {
    let uid = user_id(&claims)?;
    state.store.unwatch(uid, pair.as_str()).await?;
    Ok((StatusCode::OK, current(&state, uid).await?))
}
