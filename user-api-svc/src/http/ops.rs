//! `/health` (alive), `/ready` (database, bus and a fresh, online feed). `/metrics` is
//! `common::http::metrics`.

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::state::AppState;
use axum::routing::get;
use axum::Router;

/// `/health`, `/ready`, and `/metrics` unless it has a listener of its own.
pub fn router(with_metrics: bool) -> Router<AppState> {
    let router = Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready));
    if with_metrics {
        router.route("/metrics", get(common::http::metrics))
    } else {
        router
    }
}

pub async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

pub async fn ready(State(state): State<AppState>) -> Response {
    let db = state.store.ping().await.is_ok();
    let redis = state.bus.is_connected();
    let feed = state.hub.book().feed_state(Instant::now());
    let feed_ok = feed.is_some_and(|f| f.is_quotable());
    let ok = db && redis && feed_ok;
    let body = serde_json::json!({
        "ready": ok,
        "database": if db { "ok" } else { "unavailable" },
        "bus": state.bus.describe(),
        "feed": feed.map(|f| f.as_str()).unwrap_or("silent"),
    });
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}
