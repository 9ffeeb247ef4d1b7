//! The HTTP API: each module brings its own `router()` (auth, rates, spreads, trading, admin,
//! ops, docs) and [`router`] merges them, with the pages.
//!
//! - [`rates`]: `/api/rates`, `/api/rates/{pair}`.
//! - [`fields`]: request field types shared by the handlers (`DecimalString`).
//! - [`ops`]: `/health`, `/ready`; `/metrics` (here, or on `METRICS_ADDR`).
//! - `/assets/*`: the pages' scripts and styles.
//! - [`docs`]: `/openapi.json` (generated from the handlers) and `/docs`, a self-contained page.
//! - `/`: the web app from `web/` (markets, trade, portfolio, admin, sign in).

pub mod docs;
pub mod fields;
pub mod ops;
pub mod rates;

use axum::extract::Path;
use axum::response::{Html, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

const INDEX: &str = include_str!("../../../web/index.html");

/// The page's and the docs page's scripts and styles (no inline code: the CSP allows only our
/// own origin).
async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (kind, body) = match name.as_str() {
        "app.js" => (JS, include_str!("../../../web/app.js")),
        "app.css" => (CSS, include_str!("../../../web/app.css")),
        "docs.js" => (JS, include_str!("../../../web/docs.js")),
        "docs.css" => (CSS, include_str!("../../../web/docs.css")),
        _ => return Err(ApiError::NotFound("no such asset".into())),
    };
    Ok(common::http::asset(kind, body))
}
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The live page and its assets.
fn pages() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Html(INDEX) }))
        .route("/assets/{name}", get(asset))
}

/// Every module's routes, merged here and nowhere else.
pub fn router(state: AppState) -> Router {
    let metrics_here = state.config.metrics_addr.is_none();
    Router::new()
        .merge(pages())
        .merge(crate::auth::handlers::router())
        .merge(crate::auth::watchlist::router())
        .merge(rates::router())
        .merge(crate::candles::handlers::router())
        .merge(crate::spreads::handlers::router())
        .merge(crate::money::trading::router())
        .merge(crate::money::admin::router())
        .merge(crate::money::ledger::router())
        .merge(ops::router(metrics_here))
        .merge(docs::router())
        .fallback(|| async { ApiError::NotFound("no such resource".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
}
