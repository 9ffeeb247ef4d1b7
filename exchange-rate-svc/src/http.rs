//! The HTTP API of exchange-rate-svc: rates, feed status and ops endpoints.
//!
//! - `GET /rates` → `{"rates": {"BTC_USD": <bus message + age_ms>, ...}}`
//! - `GET /rates/{pair}` → one bus message plus `age_ms` (`{pair}` as `BTC_USD`, `BTC-USD` or
//!   URL-encoded `BTC/USD`)
//! - `GET /status` → the bus status plus operator details
//! - `GET /health` (process alive), `GET /ready` (Redis connected and feed online), `GET /metrics`
//! - `GET /openapi.json` (generated from these handlers) and `GET /docs` (the shared docs page)

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use common::bus::{Bus, RateMsg};
use common::Pair;
use serde::Serialize;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::error::ApiError;
use crate::feed::{Feed, StatusView};

#[derive(Clone)]
pub struct AppState {
    pub feed: Feed,
    pub bus: Arc<dyn Bus>,
}

/// A rate as the HTTP API shows it: the bus message and its age.
#[derive(Serialize)]
pub struct RateView {
    #[serde(flatten)]
    pub msg: RateMsg,
    pub age_ms: i64,
}

impl RateView {
    fn new(msg: &Arc<RateMsg>) -> Self {
        RateView {
            age_ms: (Utc::now() - msg.received_at).num_milliseconds().max(0),
            msg: msg.as_ref().clone(),
        }
    }
}

#[derive(Serialize)]
struct Rates {
    rates: BTreeMap<String, RateView>,
}

/// The API; `/metrics` too unless it has a listener of its own. Each handler's route and its
/// OpenAPI path come from its own `#[utoipa::path]`.
pub fn router(state: AppState, with_metrics: bool) -> Router {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(rates))
        .routes(routes!(rate))
        .routes(routes!(status))
        .routes(routes!(health))
        .routes(routes!(ready))
        .split_for_parts();
    common::openapi::document_problems(&mut doc);
    let doc = Arc::new(doc);
    let router = router
        .route("/openapi.json", get(move || async move { Json(doc) }))
        .route("/docs", get(|| async { web::page("docs.html") }))
        .merge(web::router());
    let router = if with_metrics {
        router.route("/metrics", get(metrics))
    } else {
        router
    };
    router
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
}

/// Every pair's last bus message, keyed `BTC_USD`, each with `age_ms`.
#[utoipa::path(get, path = "/rates", tag = "rates",
    responses((status = 200, body = serde_json::Value, description = "{\"rates\": {\"BTC_USD\": {...}}}")))]
async fn rates(State(s): State<AppState>) -> Json<Rates> {
    let rates = s
        .feed
        .last_values()
        .iter()
        .map(|m| (m.pair.key(), RateView::new(m)))
        .collect();
    Json(Rates { rates })
}

/// One pair's last bus message plus `age_ms` (`BTC_USD`, `BTC-USD` or URL-encoded `BTC/USD`).
#[utoipa::path(get, path = "/rates/{pair}", tag = "rates", params(("pair" = String, Path)),
    responses((status = 200, body = serde_json::Value), (status = 400, description = "invalid_pair"),
              (status = 404, description = "unknown_pair"), (status = 503, description = "rate_unavailable")))]
async fn rate(
    State(s): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<RateView>, ApiError> {
    let pair = Pair::parse(&raw).map_err(|e| ApiError::InvalidPair(e.to_string()))?;
    if !s.feed.has_pair(&pair) {
        return Err(ApiError::UnknownPair(pair.to_string()));
    }
    let msg = s
        .feed
        .last_value(&pair)
        .ok_or_else(|| ApiError::NoRateYet(pair.to_string()))?;
    Ok(Json(RateView::new(&msg)))
}

/// Feed state, per-pair state, rejections, counters and cross-check results.
#[utoipa::path(get, path = "/status", tag = "ops", responses((status = 200, body = serde_json::Value)))]
async fn status(State(s): State<AppState>) -> Json<StatusView> {
    Json(s.feed.status_view())
}

/// The process is alive.
#[utoipa::path(get, path = "/health", tag = "ops", responses((status = 200, body = serde_json::Value)))]
async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// The bus reachable and the feed online (503 otherwise, with the reason).
#[utoipa::path(get, path = "/ready", tag = "ops",
    responses((status = 200, body = serde_json::Value), (status = 503, body = serde_json::Value)))]
async fn ready(State(s): State<AppState>) -> Response {
    let bus = s.bus.health().await;
    let feed = s.feed.state();
    let ok = bus.ok && feed.is_quotable();
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "ready": ok,
        "bus": bus.describe,
        "role": s.feed.role(),
        "feed": feed.as_str(),
    });
    (code, Json(body)).into_response()
}

/// Prometheus metrics (`rategate_*`).
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics() -> Response {
    common::http::metrics().await
}

/// The document's header, and `/metrics` (served only where it has no listener of its own,
/// documented always).
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "rategate exchange-rate-svc", description = "Raw best bid/ask from the exchange, as \
        published on the Redis bus. Decimals are JSON strings; errors are application/problem+json."),
    paths(metrics),
    tags((name = "rates"), (name = "ops"))
)]
struct ApiDoc;
