//! The HTTP API, one file per resource: each brings its own `router()` and [`router`] merges
//! them, with the pages. Find an endpoint by its path:
//!
//! - [`auth`]: `/api/auth/*` (register, login, refresh, logout, password, two-factor), `/api/me`.
//! - [`watchlist`]: the watchlist, `/api/watchlist`.
//! - [`rates`]: `/api/rates`, `/api/rates/{pair}`, the consolidated book `/api/book/{pair}`.
//! - [`candles`]: price history, `/api/candles`.
//! - [`spreads`]: `/api/spreads/*` (admin).
//! - [`orders`]: `/api/quotes`, `/api/orders`, `/api/balances`, and the private events a fill
//!   sends.
//! - [`ledger`]: the user's ledger, `/api/ledger`.
//! - [`admin`]: `/api/admin/*` (deposits, revenue, accounts).
//! - [`pairs`]: `/api/admin/pairs/*` (per-pair quote maximum and ladder amounts).
//! - [`extract`]: who is calling (`AuthUser`, `AdminUser`, `Trader`, ...).
//! - [`error`]: [`error::ApiError`], every error as problem+json, and the `ApiJson` extractor.
//! - [`socket_admission`]: Engine.IO sessions capped in all and per address, and Socket.IO
//!   requests' heads copied out of hyper's read buffer.
//! - [`fields`]: request field types shared by the handlers (`DecimalField`).
//! - [`ops`]: `/health`, `/ready`; `/metrics` (here, or on `METRICS_ADDR`).
//! - [`docs`]: `/openapi.json` (generated from the handlers) and `/docs`, Swagger UI over it.
//! - `/` and `/assets/*`: the web app, built from `web/` and embedded by the `web` crate.

pub mod admin;
pub mod auth;
pub mod candles;
pub mod docs;
pub mod error;
pub mod extract;
pub mod fields;
pub mod ledger;
pub mod ops;
pub mod orders;
pub mod pairs;
pub mod rates;
pub mod socket_admission;
pub mod spreads;
pub mod watchlist;

use axum::Router;

use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::http::error::ApiError;
use crate::state::AppState;

/// The documented API: every module's routes with their OpenAPI paths. Adding an endpoint is
/// its handler in its module and one `.routes(routes!(handler))` line in that module's router.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .merge(auth::router())
        .merge(watchlist::router())
        .merge(rates::router())
        .merge(candles::router())
        .merge(spreads::router())
        .merge(orders::router())
        .merge(admin::router())
        .merge(pairs::router())
        .merge(ledger::router())
        .split_for_parts();
    docs::Problems.modify(&mut doc);
    (router, doc)
}

/// Every route, merged here and nowhere else.
pub fn router(state: AppState) -> Router {
    let metrics_here = state.config.metrics_addr.is_none();
    let (api, doc) = api();
    Router::new()
        .route(
            "/",
            axum::routing::get(|| async { web::page("index.html") }),
        )
        .merge(web::router())
        .merge(api)
        .merge(ops::router(metrics_here))
        .merge(docs::router(&doc))
        .fallback(|| async { ApiError::NotFound("no such resource".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
}
