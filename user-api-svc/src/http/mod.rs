//! The HTTP API: routes, ops endpoints, OpenAPI and the pages.
//!
//! - [`rates`]: `/api/rates`, `/api/rates/{pair}`.
//! - [`ops`]: `/health`, `/ready`; `/metrics` (here, or on `METRICS_ADDR`).
//! - `/assets/*`: the pages' scripts and styles.
//! - [`docs`]: `/openapi.json` (generated from the handlers) and `/docs`, a self-contained page.
//! - `/`: the live rates page from `web/`.

pub mod docs;
pub mod ops;
pub mod rates;

use axum::extract::Path;
use axum::response::{Html, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;

use crate::auth::handlers as auth;
use crate::error::ApiError;
use crate::money::handlers as money;
use crate::spreads::handlers as spreads;
use crate::state::AppState;

const INDEX: &str = include_str!("../../../web/index.html");

/// The page's and the docs page's scripts and styles (no inline code: the CSP allows only our
/// own origin).
async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (kind, body) = match name.as_str() {
        "live.js" => (JS, include_str!("../../../web/live.js")),
        "live.css" => (CSS, include_str!("../../../web/live.css")),
        "docs.js" => (JS, include_str!("../../../web/docs.js")),
        "docs.css" => (CSS, include_str!("../../../web/docs.css")),
        _ => return Err(ApiError::NotFound("no such asset".into())),
    };
    Ok(common::http::asset(kind, body))
}
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

pub fn router(state: AppState) -> Router {
    let metrics_here = state.config.metrics_addr.is_none();
    let router = Router::new()
        .route("/", get(|| async { Html(INDEX) }))
        .route("/assets/{name}", get(asset))
        .route("/api/auth/register", post(auth::register))
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/refresh", post(auth::refresh))
        .route("/api/auth/logout", post(auth::logout))
        .route("/api/me", get(auth::me))
        .route("/api/rates", get(rates::all))
        .route("/api/rates/{pair}", get(rates::one))
        .route("/api/spreads", get(spreads::list))
        .route("/api/spreads/{pair}", put(spreads::put))
        .route("/api/spreads/{pair}", delete(spreads::delete))
        .route("/api/spreads/{pair}/history", get(spreads::history))
        .route("/api/quotes", post(money::create_quote))
        .route(
            "/api/orders",
            post(money::create_order).get(money::list_orders),
        )
        .route("/api/orders/{id}", get(money::get_order))
        .route("/api/balances", get(money::balances))
        .route("/api/admin/deposits", post(money::deposit))
        .route("/api/admin/revenue", get(money::revenue))
        .route("/api/admin/users", get(money::users))
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/openapi.json", get(docs::openapi_json))
        .route("/docs", get(docs::page));
    let router = if metrics_here {
        router.route("/metrics", get(common::http::metrics))
    } else {
        router
    };
    router
        .fallback(|| async { ApiError::NotFound("no such resource".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
}
