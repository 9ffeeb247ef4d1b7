//! `/health` (alive), `/ready` (database, bus, the cluster adapter, and a fresh, online feed
//! with the leader it comes from). `/metrics` is `common::http::metrics`.

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::cluster::AdapterState;
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
    let (db, bus) = tokio::join!(state.store.ping(), state.bus.health());
    let db = db.is_ok();
    let redis = bus.ok;
    let adapter = state.cluster.driver.state();
    let adapter_ok = adapter != AdapterState::Connecting;
    let (feed, leader) = {
        let book = state.hub.book();
        let now = Instant::now();
        (
            book.feed_state(now),
            book.feed_leader(now).map(str::to_owned),
        )
    };
    let feed_ok = feed.is_some_and(|f| f.is_quotable());
    let ok = db && redis && adapter_ok && feed_ok;
    let body = serde_json::json!({
        "ready": ok,
        "database": if db { "ok" } else { "unavailable" },
        "bus": bus.describe,
        "adapter": adapter.as_str(),
        "feed": feed.map(|f| f.as_str()).unwrap_or("silent"),
        "feed_leader": leader,
    });
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}
