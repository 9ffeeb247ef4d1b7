//! [`ApiError`]: the one error type of user-api-svc. Every variant documents its status and
//! stable machine `code`; responses are RFC 9457 `application/problem+json`. Internal errors
//! (database, Redis) are logged with their cause and returned as an opaque 500/503.
//!
//! [`ApiJson`] is the JSON extractor to use in handlers: a malformed body becomes our
//! problem+json (`invalid_body`), never axum's plain-text rejection.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `invalid_body`: the JSON body is malformed or has wrong types.
    #[error("{0}")]
    InvalidBody(String),
    /// 422 `validation_failed`: the body is well-formed but a value is not acceptable.
    #[error("{0}")]
    Validation(String),
    /// 422 `weak_password`: the password does not meet the policy.
    #[error("{0}")]
    WeakPassword(String),
    /// 400 `invalid_pair`.
    #[error("{0}")]
    InvalidPair(String),
    /// 404 `unknown_pair`.
    #[error("pair {0} is not carried by this gateway")]
    UnknownPair(String),
    /// 401 `unauthorized`: no or invalid access token.
    #[error("authentication required")]
    Unauthorized,
    /// 401 `invalid_credentials`: email or password wrong (never says which).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// 401 `invalid_refresh_token`: unknown, expired, revoked or reused refresh token.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// 401 `two_factor_required`: the password was right; now the code from the authenticator
    /// app (`totp_code`) or a recovery code (`recovery_code`) is needed.
    #[error("enter the code from your authenticator app, or a recovery code")]
    TwoFactorRequired,
    /// 401 `invalid_two_factor_code`: the code is wrong, expired, or was already used.
    #[error("the code is wrong, expired or already used")]
    InvalidTwoFactorCode,
    /// 403 `two_factor_enrolment_required`: this account must enrol in two-factor sign-in
    /// (`POST /api/auth/2fa/enrol`) before anything else.
    #[error("enrol in two-factor sign-in first (POST /api/auth/2fa/enrol)")]
    TwoFactorEnrolmentRequired,
    /// 409 `two_factor_enabled`: two-factor sign-in is already on for this account.
    #[error("two-factor sign-in is already on; turn it off first to enrol again")]
    TwoFactorEnabled,
    /// 409 `two_factor_not_enabled`: there is no enrolment to confirm, or nothing to turn off.
    #[error("{0}")]
    TwoFactorNotEnabled(&'static str),
    /// 403 `account_disabled`: the password was right but an admin has disabled the account.
    #[error("this account is disabled")]
    AccountDisabled,
    /// 403 `forbidden`: authenticated but not allowed.
    #[error("you are not allowed to do this")]
    Forbidden,
    /// 404 `not_found`.
    #[error("{0}")]
    NotFound(String),
    /// 405 `method_not_allowed`.
    #[error("this method is not allowed on this resource")]
    MethodNotAllowed,
    /// 408 `request_timeout`: the body did not arrive in time (the connection is then closed).
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// 413 `payload_too_large`: the body is over the limit (the connection is then closed).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 409 `email_taken`.
    #[error("an account with this email cannot be created")]
    EmailTaken,
    /// 429 `too_many_attempts`, with `Retry-After`.
    #[error("too many attempts; retry in {0} s")]
    TooManyAttempts(u64),
    /// 503 `rate_unavailable`: no rate for the pair yet.
    #[error("no rate available yet for {0}")]
    RateUnavailable(String),
    /// 503 `rates_stale`: no fresh, quotable rate (stale, feed not online, or unpriceable).
    #[error("{0}")]
    RatesStale(String),
    /// 422 `unquotable`: the pair has a fresh rate but cannot be priced (the spread leaves no
    /// positive sell price, or pricing overflows); `rates:live` says why in `unpricedReason`.
    #[error("{0}")]
    Unquotable(String),
    /// 422 `unquotable_spread`: a spread that would leave a pair with no positive sell price at
    /// the current rate is refused when it is set.
    #[error("{0}")]
    UnquotableSpread(String),
    /// 429 `too_many_requests`, with `Retry-After`: this account's quote or order budget is
    /// spent for now.
    #[error("too many {what}; retry in {secs} s")]
    TooManyRequests { what: &'static str, secs: u64 },
    /// 403 `self_deposit`: an admin may not fund their own account (unless
    /// `ADMIN_SELF_DEPOSIT=true`).
    #[error("an admin cannot deposit to their own account")]
    SelfDeposit,
    /// 404 `quote_not_found`: no such quote, or not yours.
    #[error("no such quote")]
    QuoteNotFound,
    /// 410 `quote_expired`.
    #[error("the quote has expired; ask for a new one")]
    QuoteExpired,
    /// 409 `quote_used`: the quote was already executed.
    #[error("the quote was already used")]
    QuoteUsed,
    /// 422 `insufficient_liquidity`: the consolidated book cannot fill this amount now; the
    /// problem carries `max_amount`, the most that can be quoted now.
    #[error("not enough liquidity for this amount now: at most {0} can be quoted")]
    InsufficientLiquidity(common::Decimal),
    /// 422 `insufficient_funds`.
    #[error("insufficient {0} balance")]
    InsufficientFunds(String),
    /// 400 `idempotency_key_required`.
    #[error("an Idempotency-Key header (1-255 visible characters) is required")]
    IdempotencyKeyRequired,
    /// 422 `idempotency_key_reused`: the key was used with another request body.
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    /// 409 `request_in_progress`: the same key's request is still executing.
    #[error("a request with this Idempotency-Key is still in progress")]
    RequestInProgress,
    /// 503 `busy`, with `Retry-After`: too much expensive work (password hashing) at once.
    #[error("the server is busy; retry in {0} s")]
    Busy(u64),
    /// 503 `unavailable`: a dependency (database, Redis) is down.
    #[error("service temporarily unavailable")]
    Unavailable,
    /// 500 `internal`: logged, never detailed to the client.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn internal(e: impl Into<anyhow::Error>) -> ApiError {
        ApiError::Internal(e.into())
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use ApiError::*;
        match self {
            InvalidBody(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "Invalid request body",
            ),
            Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Validation failed",
            ),
            WeakPassword(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "weak_password",
                "Password too weak",
            ),
            InvalidPair(_) => (StatusCode::BAD_REQUEST, "invalid_pair", "Invalid pair"),
            UnknownPair(_) => (StatusCode::NOT_FOUND, "unknown_pair", "Unknown pair"),
            Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid credentials",
            ),
            InvalidRefreshToken => (
                StatusCode::UNAUTHORIZED,
                "invalid_refresh_token",
                "Invalid refresh token",
            ),
            Forbidden => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            TwoFactorRequired => (
                StatusCode::UNAUTHORIZED,
                "two_factor_required",
                "Two-factor code required",
            ),
            InvalidTwoFactorCode => (
                StatusCode::UNAUTHORIZED,
                "invalid_two_factor_code",
                "Invalid two-factor code",
            ),
            TwoFactorEnrolmentRequired => (
                StatusCode::FORBIDDEN,
                "two_factor_enrolment_required",
                "Two-factor enrolment required",
            ),
            TwoFactorEnabled => (
                StatusCode::CONFLICT,
                "two_factor_enabled",
                "Two-factor sign-in already on",
            ),
            TwoFactorNotEnabled(_) => (
                StatusCode::CONFLICT,
                "two_factor_not_enabled",
                "Two-factor sign-in not on",
            ),
            AccountDisabled => (
                StatusCode::FORBIDDEN,
                "account_disabled",
                "Account disabled",
            ),
            NotFound(_) => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
            RequestTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "Request timeout",
            ),
            PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
            ),
            EmailTaken => (StatusCode::CONFLICT, "email_taken", "Email taken"),
            TooManyAttempts(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "Too many attempts",
            ),
            RateUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "rate_unavailable",
                "Rate unavailable",
            ),
            Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy", "Busy"),
            Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            RatesStale(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "rates_stale",
                "Rates stale",
            ),
            Unquotable(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "unquotable",
                "Pair cannot be priced",
            ),
            UnquotableSpread(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "unquotable_spread",
                "Spread would make the pair unquotable",
            ),
            TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "Too many requests",
            ),
            SelfDeposit => (
                StatusCode::FORBIDDEN,
                "self_deposit",
                "Self deposit refused",
            ),
            QuoteNotFound => (StatusCode::NOT_FOUND, "quote_not_found", "Quote not found"),
            QuoteExpired => (StatusCode::GONE, "quote_expired", "Quote expired"),
            QuoteUsed => (StatusCode::CONFLICT, "quote_used", "Quote already used"),
            InsufficientLiquidity(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "insufficient_liquidity",
                "Insufficient liquidity",
            ),
            InsufficientFunds(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "insufficient_funds",
                "Insufficient funds",
            ),
            IdempotencyKeyRequired => (
                StatusCode::BAD_REQUEST,
                "idempotency_key_required",
                "Idempotency key required",
            ),
            IdempotencyKeyReused => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "Idempotency key reused",
            ),
            RequestInProgress => (
                StatusCode::CONFLICT,
                "request_in_progress",
                "Request in progress",
            ),
            Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(e) | StoreError::Transient(e) => {
                tracing::warn!(error.cause_chain = ?e, "database unavailable");
                ApiError::Unavailable
            }
            StoreError::Conflict => ApiError::Validation("conflicting change".into()),
            StoreError::Other(e) => ApiError::Internal(e),
        }
    }
}

/// The RFC 9457 body every error has, as the OpenAPI annotations name it.
pub use common::http::Problem;

impl ApiError {
    /// The status and problem+json body, e.g. to store as an idempotent response.
    pub fn problem(&self) -> (StatusCode, String) {
        let (status, code, title) = self.parts();
        let mut body = common::http::problem_json(status, code, title, &self.to_string());
        if let ApiError::InsufficientLiquidity(max) = self {
            // The one extension member: how much can be quoted now.
            if let Ok(serde_json::Value::Object(mut problem)) = serde_json::from_str(&body) {
                problem.insert("max_amount".into(), max.normalize().to_string().into());
                body = serde_json::Value::Object(problem).to_string();
            }
        }
        (status, body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(e) = &self {
            tracing::error!(error.cause_chain = ?e, "internal error");
        }
        let (status, body) = self.problem();
        let mut response = (
            status,
            [(header::CONTENT_TYPE, common::http::PROBLEM_JSON)],
            body,
        )
            .into_response();
        if let ApiError::TooManyAttempts(secs)
        | ApiError::Busy(secs)
        | ApiError::TooManyRequests { secs, .. } = self
        {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// `Json<T>` whose rejection is an [`ApiError`].
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge(rejection.body_text()))
            }
            Err(rejection) if common::http::is_body_timeout(&rejection) => {
                Err(ApiError::RequestTimeout)
            }
            Err(rejection) => Err(ApiError::InvalidBody(rejection.body_text())),
        }
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}
