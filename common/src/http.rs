//! HTTP pieces both services share, so their APIs behave alike:
//!
//! - [`problem`]: an RFC 9457 `application/problem+json` response with a stable `code`.
//! - [`harden`]: the layers every router gets last: any error response that is not yet
//!   problem+json (axum's plain-text rejections of a query or path, an empty 405, tower's 408
//!   for a body that did not arrive) is rewritten into one, keeping its message; a 408 or 413
//!   also says `Connection: close`, because the rest of that body was never read; security
//!   headers (`X-Content-Type-Options`, a `Content-Security-Policy` allowing only our own origin
//!   with `frame-ancestors 'none'`, `Referrer-Policy`, `Cache-Control: no-store` unless a
//!   handler chose otherwise); CORS, off unless origins are allowed by name; and a tracing span
//!   per request (method, path, `x-request-id`: the client's, or a new UUID, echoed back).
//! - [`metrics`](fn@metrics): the Prometheus `/metrics` handler, and [`metrics_router`] to serve
//!   it on a listener of its own (`METRICS_ADDR`).

use axum::body::Body;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::config::{var, ConfigError};

/// RFC 9457 problem details: the body of every error both services return, and the `Problem`
/// schema of both OpenAPI documents ([`crate::openapi::document_problems`]).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(description = "RFC 9457 problem details")]
pub struct Problem {
    /// a URI naming the problem type
    #[serde(rename = "type")]
    pub kind: String,
    /// short summary
    pub title: String,
    #[schema(minimum = 400)]
    pub status: u16,
    /// stable machine-readable code, e.g. `quote_expired`
    pub code: String,
    /// what happened, for people
    pub detail: String,
}

/// The problem+json text for `status`, `code`, `title` and `detail`.
pub fn problem_json(status: StatusCode, code: &str, title: &str, detail: &str) -> String {
    let body = Problem {
        kind: format!("https://rategate.dev/problems/{code}"),
        title: title.to_string(),
        status: status.as_u16(),
        code: code.to_string(),
        detail: detail.to_string(),
    };
    serde_json::to_string(&body).unwrap_or_default()
}

/// A problem+json response.
pub fn problem(status: StatusCode, code: &str, title: &str, detail: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, PROBLEM_JSON)],
        problem_json(status, code, title, detail),
    )
        .into_response()
}

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The code and title of a status that reached [`harden`] without a problem body.
fn generic(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("invalid_request", "Invalid request"),
        401 => ("unauthorized", "Unauthorized"),
        403 => ("forbidden", "Forbidden"),
        404 => ("not_found", "Not found"),
        405 => ("method_not_allowed", "Method not allowed"),
        408 => ("request_timeout", "Request timeout"),
        413 => ("payload_too_large", "Payload too large"),
        415 => ("unsupported_media_type", "Unsupported media type"),
        422 => ("validation_failed", "Validation failed"),
        429 => ("too_many_requests", "Too many requests"),
        503 => ("unavailable", "Service unavailable"),
        s if s >= 500 => ("internal", "Internal error"),
        _ => ("invalid_request", "Invalid request"),
    }
}

/// Rewrites an error response that is not problem+json into one (see the module doc).
async fn errors_as_problems(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    let mut response = if is_problem {
        response
    } else {
        let (mut parts, body) = response.into_parts();
        // Rejection messages are short; anything longer is not a message worth keeping.
        let text = axum::body::to_bytes(body, 2048).await.unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let (code, title) = generic(status);
        let detail = if text.trim().is_empty() || status.is_server_error() {
            title.to_string()
        } else {
            text.trim().to_string()
        };
        parts.headers.remove(header::CONTENT_LENGTH);
        parts
            .headers
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        Response::from_parts(
            parts,
            Body::from(problem_json(status, code, title, &detail)),
        )
    };
    if matches!(status.as_u16(), 408 | 413) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// True if `error` (or anything in its source chain) is the body timeout of
/// [`crate::serve`]: the client did not send its body in time. Extractors turn it into a 408.
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// Security and CORS settings of a service's HTTP API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpPolicy {
    /// Origins (`https://app.example.com`) allowed to call the API from a browser; empty = CORS
    /// off (same-origin only), the default.
    pub cors_allowed_origins: Vec<String>,
}

impl HttpPolicy {
    /// `CORS_ALLOWED_ORIGINS`: a comma-separated list of `scheme://host[:port]`.
    pub fn from_env() -> Result<HttpPolicy, ConfigError> {
        let mut origins = Vec::new();
        for origin in crate::config::items(&var("CORS_ALLOWED_ORIGINS").unwrap_or_default()) {
            let (scheme, rest) = origin.split_once("://").unwrap_or(("", ""));
            let valid = matches!(scheme, "http" | "https")
                && !rest.is_empty()
                && !rest.contains('/')
                && HeaderValue::from_str(origin).is_ok();
            if !valid {
                return Err(ConfigError::new(
                    "CORS_ALLOWED_ORIGINS",
                    format!("{origin:?} is not an origin like https://app.example.com"),
                ));
            }
            origins.push(origin.to_string());
        }
        Ok(HttpPolicy {
            cors_allowed_origins: origins,
        })
    }
}

/// Pages load scripts, styles and data from this origin only; nothing may frame them.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// Adds the error rewriting, security headers and CORS of the module doc to `router`.
pub fn harden(router: Router, policy: &HttpPolicy) -> Router {
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    let router = router
        .layer(axum::middleware::map_response(errors_as_problems))
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
        .layer(set(header::REFERRER_POLICY, "no-referrer"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(header::CACHE_CONTROL, "no-store"));
    // Outermost first: the id is set, the span opened with it, and the id echoed back.
    let router = router
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid));
    if policy.cors_allowed_origins.is_empty() {
        return router;
    }
    let origins: Vec<HeaderValue> = policy
        .cors_allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    router.layer(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// The span every request's logs carry.
fn request_span(req: &axum::http::Request<Body>) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
}

/// Prometheus metrics (`rategate_*`).
pub async fn metrics() -> Response {
    match crate::telemetry::prometheus() {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            "metrics recorder not installed",
        ),
    }
}

/// `/metrics` alone, for a listener of its own.
pub fn metrics_router() -> Router {
    Router::new().route("/metrics", get(metrics))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn plain_error_responses_become_problems_keeping_their_message() {
        let plain = (
            StatusCode::BAD_REQUEST,
            "Failed to deserialize query string",
        )
            .into_response();
        let r = errors_as_problems(plain).await;
        assert_eq!(r.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let body = axum::body::to_bytes(r.into_body(), 4096).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["status"], 400);
        assert_eq!(v["code"], "invalid_request");
        assert_eq!(v["detail"], "Failed to deserialize query string");

        let empty = StatusCode::METHOD_NOT_ALLOWED.into_response();
        let r = errors_as_problems(empty).await;
        let body = axum::body::to_bytes(r.into_body(), 4096).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["code"], "method_not_allowed");

        let too_large = StatusCode::PAYLOAD_TOO_LARGE.into_response();
        let r = errors_as_problems(too_large).await;
        assert_eq!(r.headers()[header::CONNECTION], "close");

        let ok = StatusCode::OK.into_response();
        assert!(errors_as_problems(ok)
            .await
            .headers()
            .get(header::CONTENT_TYPE)
            .is_none());
    }

    #[test]
    fn cors_origins_are_validated() {
        // The variable is process-wide; one test owns it.
        std::env::set_var(
            "CORS_ALLOWED_ORIGINS",
            "https://app.example.com, http://localhost:5173",
        );
        assert_eq!(
            HttpPolicy::from_env().unwrap().cors_allowed_origins,
            vec!["https://app.example.com", "http://localhost:5173"]
        );
        for bad in ["*", "app.example.com", "https://x.io/path", "ftp://x.io"] {
            std::env::set_var("CORS_ALLOWED_ORIGINS", bad);
            assert!(HttpPolicy::from_env().is_err(), "{bad}");
        }
        std::env::remove_var("CORS_ALLOWED_ORIGINS");
        assert!(HttpPolicy::from_env()
            .unwrap()
            .cors_allowed_origins
            .is_empty());
    }
}
