//! `GET /api/rates` and `GET /api/rates/{pair}`: the same objects as `rates:live`.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::extract::{Path, State};
use common::Pair;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::error::{ApiError, ApiJson, Problem};
use crate::rates::LiveRate;
use crate::state::AppState;
use axum::routing::get;
use axum::Router;

/// Spread-adjusted rates over HTTP.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/rates", get(all))
        .route("/api/rates/{pair}", get(one))
}

#[derive(Serialize, ToSchema)]
pub struct Rates {
    /// Keyed `BTC_USD`.
    pub rates: BTreeMap<String, LiveRate>,
}

/// Every pair's spread-adjusted rate.
#[utoipa::path(get, path = "/api/rates", tag = "rates", responses((status = 200, body = Rates)))]
pub async fn all(State(state): State<AppState>) -> ApiJson<Rates> {
    ApiJson(Rates {
        rates: state.hub.book().snapshot(None, Instant::now()),
    })
}

/// One pair's spread-adjusted rate.
#[utoipa::path(get, path = "/api/rates/{pair}", tag = "rates",
    params(("pair" = String, Path, description = "BTC_USD, BTC-USD or URL-encoded BTC/USD")),
    responses((status = 200, body = LiveRate), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 503, body = Problem)))]
pub async fn one(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<ApiJson<LiveRate>, ApiError> {
    let pair = Pair::parse(&raw).map_err(|e| ApiError::InvalidPair(e.to_string()))?;
    let book = state.hub.book();
    if !book.is_known(&pair) {
        return Err(ApiError::UnknownPair(pair.to_string()));
    }
    book.live(&pair, Instant::now())
        .map(ApiJson)
        .ok_or_else(|| ApiError::RateUnavailable(pair.to_string()))
}
