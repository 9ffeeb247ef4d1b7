//! [`ApiError`]: the one error type of the HTTP API, rendered as RFC 9457
//! `application/problem+json` with a stable machine `code`. Internal details are logged, never
//! returned.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

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
    /// 405 `method_not_allowed`.
    #[error("this method is not allowed on this resource")]
    MethodNotAllowed,
    /// 503 `rate_unavailable`: the pair has no rate yet.
    #[error("no rate received yet for {0}")]
    NoRateYet(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::InvalidPair(_) => (StatusCode::BAD_REQUEST, "invalid_pair", "Invalid pair"),
            ApiError::UnknownPair(_) => (StatusCode::NOT_FOUND, "unknown_pair", "Unknown pair"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
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
        common::http::problem(status, code, title, &self.to_string())
    }
}
