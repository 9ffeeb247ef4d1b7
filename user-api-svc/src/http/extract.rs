//! Who is calling: extractors that turn an `Authorization: Bearer` token into the caller, or a
//! 401/403 problem. [`AuthUser`] (any signed-in account), [`EnrollingUser`] (also a token good
//! only for enrolling in two-factor sign-in), [`AdminUser`], and [`Trader`] (a quote or an order,
//! whose per-account budget is spent before the account is read). [`ClientIp`]: the caller's
//! address, as the throttles count it. [`PathPair`] and [`KnownPair`]: the `{pair}` of a path,
//! parsed (and carried), documented once for every path that has one.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};
use common::Pair;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::Required;
use utoipa::{IntoParams, PartialSchema};

use crate::auth::{current_account, token_account, Claims, SessionError};
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::store::Role;

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> ApiError {
        match e {
            SessionError::NotLive => ApiError::Unauthorized,
            SessionError::Store(e) => e.into(),
        }
    }
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Claims);

/// The authenticated caller, also with a token good only for enrolling in two-factor sign-in
/// (for `/api/me` and `/api/auth/2fa/*`).
#[derive(Debug, Clone)]
pub struct EnrollingUser(pub Claims);

/// The authenticated caller of a quote or an order, whose per-account budget for it was spent
/// right after the token's signature was checked, before the account is read: a flood over the
/// budget costs the server a signature check per request, not a database read.
#[derive(Debug, Clone)]
pub struct Trader<const KIND: u8>(pub Claims);

/// A caller asking for a quote.
pub type QuoteTrader = Trader<{ crate::money::budget::QUOTES }>;
/// A caller placing an order.
pub type OrderTrader = Trader<{ crate::money::budget::ORDERS }>;

/// The caller's address: the peer's, or with `TRUST_X_FORWARDED_FOR` the first of
/// `X-Forwarded-For`.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(
            state,
            &parts.headers,
            &parts.extensions,
        )))
    }
}

/// [`ClientIp`] of a request's parts (`0.0.0.0` for a request served without its peer's
/// address, which only a test does).
pub(crate) fn client_ip(state: &AppState, headers: &HeaderMap, extensions: &Extensions) -> IpAddr {
    if state.config.trust_forwarded_for {
        if let Some(ip) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
        {
            return ip;
        }
    }
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// The authenticated caller, who is an admin.
#[derive(Debug, Clone)]
pub struct AdminUser(pub Claims);

impl<const KIND: u8> FromRequestParts<AppState> for Trader<KIND> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized)?;
        let claims = state.keys.verify(token).ok_or(ApiError::Unauthorized)?;
        let kind = crate::money::budget::Kind::from_code(KIND);
        let uid = claims.user_id().ok_or(ApiError::Unauthorized)?;
        // The budget (Redis) and the session (the database) are asked at once; a request over
        // its budget is refused first, as if the session had not been read.
        let (spent, account) = tokio::join!(
            state.budgets.spend(kind, uid),
            current_account(state, claims)
        );
        spent.map_err(|secs| {
            metrics::counter!("rategate_trading_throttled_total", "kind" => kind.as_str())
                .increment(1);
            ApiError::TooManyRequests {
                what: kind.as_str(),
                secs,
            }
        })?;
        full_access(account?).map(Trader)
    }
}

/// The token of an `Authorization: Bearer <token>` header, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// `claims`, unless the token is good only for enrolling in two-factor sign-in.
fn full_access(claims: Claims) -> Result<Claims, ApiError> {
    if claims.enrol_only {
        return Err(ApiError::TwoFactorEnrolmentRequired);
    }
    Ok(claims)
}

impl FromRequestParts<AppState> for EnrollingUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized)?;
        Ok(EnrollingUser(token_account(state, token).await?))
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let EnrollingUser(claims) = EnrollingUser::from_request_parts(parts, state).await?;
        full_access(claims).map(AuthUser)
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let AuthUser(claims) = AuthUser::from_request_parts(parts, state).await?;
        if claims.role != Role::Admin {
            return Err(ApiError::Forbidden);
        }
        Ok(AdminUser(claims))
    }
}

/// A pair named in a request (`BTC/USD`, `BTC_USD`, `btc-usd`) that this gateway carries:
/// 400 `invalid_pair` when it is not a pair, 404 `unknown_pair` when it is not carried.
pub fn known_pair(state: &AppState, raw: &str) -> Result<Pair, ApiError> {
    let pair = parse_pair(raw)?;
    if !state.hub.book().is_known(&pair) {
        return Err(ApiError::UnknownPair(pair.to_string()));
    }
    Ok(pair)
}

fn parse_pair(raw: &str) -> Result<Pair, ApiError> {
    Pair::parse(raw).map_err(|e| ApiError::InvalidPair(e.to_string()))
}

/// The `{pair}` of the path, parsed: 400 `invalid_pair` when it is not a pair. For a path that
/// may name a pair no longer carried (taking it off a watchlist).
#[derive(Debug, Clone)]
pub struct PathPair(pub Pair);

/// The `{pair}` of the path, a pair this gateway carries ([`known_pair`]).
#[derive(Debug, Clone)]
pub struct KnownPair(pub Pair);

async fn path_text(parts: &mut Parts, state: &AppState) -> Result<String, ApiError> {
    let Path(raw) = Path::<String>::from_request_parts(parts, state)
        .await
        .map_err(|e| ApiError::InvalidPair(e.body_text()))?;
    Ok(raw)
}

impl FromRequestParts<AppState> for PathPair {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        parse_pair(&path_text(parts, state).await?).map(PathPair)
    }
}

impl FromRequestParts<AppState> for KnownPair {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        known_pair(state, &path_text(parts, state).await?).map(KnownPair)
    }
}

/// The `{pair}` path parameter as the OpenAPI document shows it.
fn pair_parameter() -> Vec<Parameter> {
    vec![ParameterBuilder::new()
        .name("pair")
        .parameter_in(ParameterIn::Path)
        .description(Some("BTC_USD, BTC-USD or URL-encoded BTC/USD"))
        .required(Required::True)
        .schema(Some(String::schema()))
        .build()]
}

impl IntoParams for PathPair {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        pair_parameter()
    }
}

impl IntoParams for KnownPair {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        pair_parameter()
    }
}
