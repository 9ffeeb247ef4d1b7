//! [`ApiError`]: the one error type of the HTTP API, rendered as RFC 9457
//! `application/problem+json` with a stable machine `code`. Internal details are logged, never
//! returned.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `invalid_pair`: the path does not name a pair.
    #[error("{0}")]
    InvalidPair(String),
    /// 404 `unknown_pair`: a pair this service does not carry.
    #[error("pair {0} is not configured")]
    UnknownPair(String),
    /// 404 `not_found`: no such route.
    #[error("no such resource")]
    NotFound,
    /// 503 `rate_unavailable`: the pair has no rate yet.
    #[error("no rate received yet for {0}")]
    NoRateYet(String),
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    code: &'a str,
    detail: String,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::InvalidPair(_) => (StatusCode::BAD_REQUEST, "invalid_pair", "Invalid pair"),
            ApiError::UnknownPair(_) => (StatusCode::NOT_FOUND, "unknown_pair", "Unknown pair"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            ApiError::NoRateYet(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "rate_unavailable",
                "Rate unavailable",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, title) = self.parts();
        let body = Problem {
            kind: format!("https://rategate.dev/problems/{code}"),
            title,
            status: status.as_u16(),
            code,
            detail: self.to_string(),
        };
        let json = serde_json::to_string(&body).unwrap_or_default();
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            json,
        )
            .into_response()
    }
}
