//! `/api/auth/*` and `/api/me`.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{account_email, normalize_email, password, tokens, AuthUser};
use crate::error::{ApiError, ApiJson, Problem};
use crate::state::AppState;
use crate::store::{NewRefreshToken, Role, RotateOutcome, StoreError, User};
use axum::routing::{get, post};
use axum::Router;

/// Register, log in, refresh, log out, and the caller's account.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/refresh", post(refresh))
        .route("/api/auth/logout", post(logout))
        .route("/api/me", get(me))
        .route("/api/auth/password", post(change_password))
}

#[derive(Deserialize, ToSchema)]
pub struct CredentialsBody {
    pub email: String,
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshBody {
    pub refresh_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: u64,
    pub email: String,
    pub role: Role,
    /// Disabled by an admin: cannot sign in.
    pub disabled: bool,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id,
            email: u.email.clone(),
            role: u.role,
            disabled: u.disabled,
        }
    }
}

fn client_ip(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
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
    peer.ip()
}

/// A new access token with `rotated` (the next refresh token and its family, the rotation
/// already stored in its own transaction), or else a new refresh token of a new family: a new
/// session.
async fn issue_pair(
    state: &AppState,
    user: &User,
    rotated: Option<(String, String)>,
) -> Result<TokenPair, ApiError> {
    let (refresh_token, family) = match rotated {
        Some(pair) => pair,
        None => {
            let (token, hash) = tokens::new_refresh_token();
            let family = uuid::Uuid::new_v4().to_string();
            state
                .store
                .insert_refresh_token(&NewRefreshToken {
                    user_id: user.id,
                    family_id: family.clone(),
                    token_hash: hash,
                    expires_at: Utc::now() + state.config.refresh_ttl,
                })
                .await?;
            (token, family)
        }
    };
    let access_token = state
        .keys
        .issue(user, &family)
        .map_err(ApiError::internal)?;
    Ok(TokenPair {
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: state.keys.access_ttl.as_secs(),
    })
}

/// Register a trading account (always with role `user`).
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = CredentialsBody,
    responses((status = 201, body = UserView), (status = 409, body = Problem), (status = 422, body = Problem),
              (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CredentialsBody>,
) -> Result<impl IntoResponse, ApiError> {
    let ip = client_ip(&state, &headers, peer);
    if let Err(wait) = state.throttle.register(ip).await {
        metrics::counter!("rategate_registrations_throttled_total").increment(1);
        return Err(ApiError::TooManyAttempts(wait));
    }
    let identity = account_email(&body.email)?;
    password::check_policy(&body.password, &identity.normalized)?;
    // Hashed before the insert whether or not the email is taken: both answers take as long.
    let hash = state.hashing.hash(body.password).await?;
    // The store refuses the address and any look-alike of an existing one (its key is unique).
    let user = match state.store.create_user(&identity, &hash, Role::User).await {
        Ok(u) => u,
        Err(StoreError::Conflict) => return Err(ApiError::EmailTaken),
        Err(e) => return Err(e.into()),
    };
    metrics::counter!("rategate_registrations_total").increment(1);
    Ok((StatusCode::CREATED, ApiJson(UserView::from(&user))))
}

/// Log in: a short-lived access token and a rotating refresh token.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = CredentialsBody,
    responses((status = 200, body = TokenPair), (status = 401, body = Problem), (status = 429, body = Problem)))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CredentialsBody>,
) -> Result<ApiJson<TokenPair>, ApiError> {
    // A malformed email cannot match an account: same answer as a wrong password.
    let email = normalize_email(&body.email).unwrap_or_else(|_| body.email.trim().to_lowercase());
    let ip = client_ip(&state, &headers, peer);
    let creds = check_password(&state, &email, ip, body.password).await?;
    if creds.user.disabled {
        return Err(ApiError::AccountDisabled);
    }
    Ok(ApiJson(issue_pair(&state, &creds.user, None).await?))
}

/// One password attempt for `email` from `ip`: throttled, then checked (as long for an unknown
/// account as for a known one). The account's credentials, or `InvalidCredentials`.
async fn check_password(
    state: &AppState,
    email: &str,
    ip: IpAddr,
    password: String,
) -> Result<crate::store::Credentials, ApiError> {
    if let Err(wait) = state.throttle.attempt(email, ip).await {
        metrics::counter!("rategate_login_throttled_total").increment(1);
        return Err(ApiError::TooManyAttempts(wait));
    }
    let creds = state.store.credentials(email).await?;
    let ok = state
        .hashing
        .verify(password, creds.as_ref().map(|c| c.password_hash.clone()))
        .await?;
    creds.filter(|_| ok).ok_or_else(|| {
        metrics::counter!("rategate_login_failures_total").increment(1);
        ApiError::InvalidCredentials
    })
}

/// Exchange a refresh token for a new pair. A token already used revokes its whole family.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshBody,
    responses((status = 200, body = TokenPair), (status = 401, body = Problem)))]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> Result<ApiJson<TokenPair>, ApiError> {
    let presented = tokens::hash_refresh_token(&body.refresh_token);
    let (next, next_hash) = tokens::new_refresh_token();
    let now = Utc::now();
    match state
        .store
        .rotate_refresh_token(&presented, &next_hash, now + state.config.refresh_ttl, now)
        .await?
    {
        RotateOutcome::Rotated { user, family } => Ok(ApiJson(
            issue_pair(&state, &user, Some((next, family))).await?,
        )),
        RotateOutcome::Reused => {
            metrics::counter!("rategate_refresh_reuse_total").increment(1);
            tracing::warn!("refresh token reuse detected; its family is revoked");
            Err(ApiError::InvalidRefreshToken)
        }
        RotateOutcome::Invalid => Err(ApiError::InvalidRefreshToken),
    }
}

/// Log out: ends the session of the refresh token: its family is revoked, its access tokens stop
/// working at once and its sockets (on every node) are disconnected. Always 204 (says nothing
/// about the token).
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", request_body = RefreshBody,
    responses((status = 204)))]
pub async fn logout(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> Result<StatusCode, ApiError> {
    let presented = tokens::hash_refresh_token(&body.refresh_token);
    if let Some((_, family)) = state
        .store
        .revoke_refresh_family(&presented, Utc::now())
        .await?
    {
        crate::socket::end_sockets(&state, crate::socket::session_room(&family));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Change your password: the current one is checked (and throttled like a login), the new one
/// must meet the policy. Every session of the account ends at once (refresh tokens revoked,
/// access tokens refused, sockets disconnected on every node); this caller gets a new session.
#[utoipa::path(post, path = "/api/auth/password", tag = "auth", security(("bearer" = [])), request_body = PasswordChange,
    responses((status = 200, body = TokenPair), (status = 401, body = Problem), (status = 422, body = Problem),
              (status = 429, body = Problem)))]
pub async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    AuthUser(claims): AuthUser,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<ApiJson<TokenPair>, ApiError> {
    let id = claims.user_id().ok_or(ApiError::Unauthorized)?;
    let user = state.store.user(id).await?.ok_or(ApiError::Unauthorized)?;
    let ip = client_ip(&state, &headers, peer);
    check_password(&state, &user.email, ip, body.current_password).await?;
    password::check_policy(&body.new_password, &user.email)?;
    let hash = state.hashing.hash(body.new_password).await?;
    state.store.set_password(id, &hash, Utc::now()).await?;
    crate::socket::end_sockets(&state, crate::socket::user_room(id));
    tracing::info!(user = id, "password changed; every session ended");
    Ok(ApiJson(issue_pair(&state, &user, None).await?))
}

/// The caller's account.
#[utoipa::path(get, path = "/api/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = Problem)))]
pub async fn me(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<ApiJson<UserView>, ApiError> {
    let id = claims.user_id().ok_or(ApiError::Unauthorized)?;
    let user = state.store.user(id).await?.ok_or(ApiError::Unauthorized)?;
    Ok(ApiJson(UserView::from(&user)))
}
