//! `/api/auth/*` and `/api/me`.

use std::net::IpAddr;
use utoipa_axum::{router::OpenApiRouter, routes};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{AuthUser, ClientIp, EnrollingUser};
use crate::auth::{email, password, tokens, two_factor};
use crate::http::error::{ApiError, ApiJson, Problem};
use crate::state::AppState;
use crate::store::{NewRefreshToken, Role, RotateOutcome, StoreError, User};

/// Register, log in, refresh, log out, and the caller's account.
impl From<email::EmailError> for ApiError {
    fn from(e: email::EmailError) -> ApiError {
        ApiError::Validation(format!("email is not a valid address: {e}"))
    }
}

impl From<password::PasswordError> for ApiError {
    fn from(e: password::PasswordError) -> ApiError {
        match e {
            password::PasswordError::Weak(why) => ApiError::WeakPassword(why),
            password::PasswordError::Busy(secs) => ApiError::Busy(secs),
            password::PasswordError::Failed(cause) => ApiError::Internal(cause),
        }
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(change_password))
        .routes(routes!(enrol_two_factor))
        .routes(routes!(confirm_two_factor))
        .routes(routes!(disable_two_factor))
}

#[derive(Deserialize, ToSchema)]
pub struct CredentialsBody {
    pub email: String,
    pub password: String,
}

/// Email and password, and once two-factor sign-in is on, a code.
#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
    /// The six digits the authenticator app shows now (accounts with two-factor sign-in).
    #[serde(default)]
    pub totp_code: Option<String>,
    /// Instead of `totp_code`: one of the account's recovery codes (each works once).
    #[serde(default)]
    pub recovery_code: Option<String>,
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
    /// `enabled`; `off`; `recommended` (an admin without it: enrol under Account); or
    /// `enrolment_required`: this access token is good only for `/api/me` and
    /// `/api/auth/2fa/*` until the account has enrolled.
    pub two_factor: TwoFactorStatus,
}

#[derive(Serialize, ToSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum TwoFactorStatus {
    Enabled,
    Off,
    Recommended,
    EnrolmentRequired,
}

/// What a user may do.
#[derive(Serialize, ToSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[schema(as = Role)]
#[serde(rename_all = "snake_case")]
pub enum RoleView {
    User,
    Admin,
}

impl From<Role> for RoleView {
    fn from(r: Role) -> RoleView {
        match r {
            Role::User => RoleView::User,
            Role::Admin => RoleView::Admin,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: u64,
    pub email: String,
    pub role: RoleView,
    /// Disabled by an admin: cannot sign in.
    pub disabled: bool,
}

/// The caller's account, with its two-factor state.
#[derive(Serialize, ToSchema)]
pub struct MeView {
    #[serde(flatten)]
    pub user: UserView,
    pub two_factor: TwoFactorStatus,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id,
            email: u.email.clone(),
            role: u.role.into(),
            disabled: u.disabled,
        }
    }
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
    let two_factor = two_factor_status(state, user).await?;
    let enrol_only = two_factor == TwoFactorStatus::EnrolmentRequired;
    let access_token = state
        .keys
        .issue(user, &family, enrol_only)
        .map_err(ApiError::internal)?;
    Ok(TokenPair {
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: state.keys.access_ttl.as_secs(),
        two_factor,
    })
}

/// Whether `user` has two-factor sign-in, and if not whether it must (or should) enrol.
async fn two_factor_status(state: &AppState, user: &User) -> Result<TwoFactorStatus, ApiError> {
    let enabled = state
        .store
        .two_factor(user.id)
        .await?
        .is_some_and(|t| t.confirmed);
    let admin = user.role == Role::Admin;
    Ok(if enabled {
        TwoFactorStatus::Enabled
    } else if user.two_factor_required || (admin && state.config.admin_require_2fa) {
        TwoFactorStatus::EnrolmentRequired
    } else if admin {
        TwoFactorStatus::Recommended
    } else {
        TwoFactorStatus::Off
    })
}

/// A two-factor code (or recovery code) for `user`, accepted once; `InvalidTwoFactorCode` for
/// a wrong, expired or replayed one, `TwoFactorRequired` when neither was given.
async fn check_second_factor(
    state: &AppState,
    user_id: u64,
    secret: &[u8],
    totp_code: Option<&str>,
    recovery_code: Option<&str>,
) -> Result<(), ApiError> {
    let now = Utc::now();
    match (totp_code, recovery_code) {
        (Some(code), _) => {
            let now_s = u64::try_from(now.timestamp()).unwrap_or_default();
            let step = two_factor::matching_step(secret, code, now_s)
                .ok_or(ApiError::InvalidTwoFactorCode)?;
            if !state.store.use_two_factor_step(user_id, step).await? {
                metrics::counter!("rategate_two_factor_replays_total").increment(1);
                return Err(ApiError::InvalidTwoFactorCode);
            }
            Ok(())
        }
        (None, Some(code)) => {
            let hash = two_factor::hash_recovery_code(code);
            if !state.store.use_recovery_code(user_id, &hash, now).await? {
                return Err(ApiError::InvalidTwoFactorCode);
            }
            tracing::info!(user = user_id, "recovery code used");
            Ok(())
        }
        (None, None) => Err(ApiError::TwoFactorRequired),
    }
}

/// Register a trading account (always with role `user`).
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = CredentialsBody,
    responses((status = 201, body = UserView), (status = 409, body = Problem, description = "email_taken"),
              (status = 422, body = Problem, description = "validation_failed, or weak_password")))]
pub async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<CredentialsBody>,
) -> Result<impl IntoResponse, ApiError> {
    if let Err(wait) = state.throttle.register(ip).await {
        metrics::counter!("rategate_registrations_throttled_total").increment(1);
        return Err(ApiError::TooManyAttempts(wait));
    }
    let identity = email::parse(&body.email)?;
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

/// Log in: a short-lived access token and a rotating refresh token. With two-factor sign-in on,
/// the password alone answers 401 `two_factor_required`; send it again with `totp_code` (or a
/// `recovery_code`). Every attempt, code or not, counts against the login throttle.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = TokenPair),
              (status = 401, body = Problem, description = "invalid_credentials, two_factor_required or invalid_two_factor_code"),
              (status = 403, body = Problem, description = "account_disabled")))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<ApiJson<TokenPair>, ApiError> {
    // A malformed email cannot match an account: same answer as a wrong password.
    let email = email::normalize(&body.email).unwrap_or_else(|_| body.email.trim().to_lowercase());
    let creds = check_password(&state, &email, ip, body.password).await?;
    if creds.user.disabled {
        return Err(ApiError::AccountDisabled);
    }
    if let Some(tf) = state.store.two_factor(creds.user.id).await? {
        if tf.confirmed {
            check_second_factor(
                &state,
                creds.user.id,
                &tf.secret,
                body.totp_code.as_deref(),
                body.recovery_code.as_deref(),
            )
            .await?;
        }
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
    responses((status = 200, body = TokenPair), (status = 401, body = Problem, description = "invalid_refresh_token")))]
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
    responses((status = 200, body = TokenPair),
              (status = 401, body = Problem, description = "unauthorized, or invalid_credentials: the current password is wrong"),
              (status = 422, body = Problem, description = "validation_failed, or weak_password")))]
pub async fn change_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AuthUser(claims): AuthUser,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<ApiJson<TokenPair>, ApiError> {
    let id = claims.user_id().ok_or(ApiError::Unauthorized)?;
    let user = state.store.user(id).await?.ok_or(ApiError::Unauthorized)?;
    check_password(&state, &user.email, ip, body.current_password).await?;
    password::check_policy(&body.new_password, &user.email)?;
    let hash = state.hashing.hash(body.new_password).await?;
    state.store.set_password(id, &hash, Utc::now()).await?;
    crate::socket::end_sockets(&state, crate::socket::user_room(id));
    tracing::info!(user = id, "password changed; every session ended");
    Ok(ApiJson(issue_pair(&state, &user, None).await?))
}

/// The caller's account, with its two-factor state (also with an enrol-only token).
#[utoipa::path(get, path = "/api/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = MeView)))]
pub async fn me(
    State(state): State<AppState>,
    EnrollingUser(claims): EnrollingUser,
) -> Result<ApiJson<MeView>, ApiError> {
    let id = claims.user_id().ok_or(ApiError::Unauthorized)?;
    let user = state.store.user(id).await?.ok_or(ApiError::Unauthorized)?;
    Ok(ApiJson(MeView {
        two_factor: two_factor_status(&state, &user).await?,
        user: UserView::from(&user),
    }))
}

/// A new two-factor secret, to scan or type into an authenticator app.
#[derive(Serialize, ToSchema)]
pub struct EnrolmentView {
    /// The secret in base32 (to type in by hand).
    pub secret: String,
    pub otpauth_uri: String,
    /// The `otpauth_uri` as a QR code: a `data:image/svg+xml` URL for an `<img>`.
    pub qr_code: String,
}

#[derive(Deserialize, ToSchema)]
pub struct CodeBody {
    /// Six digits from the authenticator app.
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct Confirmed {
    /// One-time codes for when the authenticator app is lost; shown only now.
    pub recovery_codes: Vec<String>,
    /// Every other session ended; this is the caller's new one.
    pub tokens: TokenPair,
}

#[derive(Deserialize, ToSchema)]
pub struct DisableTwoFactor {
    pub password: String,
    /// A code from the authenticator app, or `recovery_code` instead.
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub recovery_code: Option<String>,
}

/// Start enrolling in two-factor sign-in: a new secret (replacing an unconfirmed one). It counts
/// once confirmed with a first code (`/api/auth/2fa/confirm`).
#[utoipa::path(post, path = "/api/auth/2fa/enrol", tag = "auth", security(("bearer" = [])),
    responses((status = 201, body = EnrolmentView),
              (status = 409, body = Problem, description = "two_factor_enabled")))]
pub async fn enrol_two_factor(
    State(state): State<AppState>,
    EnrollingUser(claims): EnrollingUser,
) -> Result<impl IntoResponse, ApiError> {
    let id = claims.user_id().ok_or(ApiError::Unauthorized)?;
    let secret = two_factor::new_secret();
    if !state
        .store
        .start_two_factor(id, &secret, Utc::now())
        .await?
    {
        return Err(ApiError::TwoFactorEnabled);
    }
    let e = two_factor::enrolment(&secret, &state.config.jwt_issuer, &claims.email)
        .map_err(ApiError::internal)?;
    Ok((
        StatusCode::CREATED,
        ApiJson(EnrolmentView {
            qr_code: two_factor::qr_data_url(&e.qr_svg),
            secret: e.secret,
            otpauth_uri: e.otpauth_uri,
        }),
    ))
}

/// Confirm enrolment with a first code: two-factor sign-in is on, every other session of the
/// account ends, and the recovery codes are shown (once). Throttled like a login.
#[utoipa::path(post, path = "/api/auth/2fa/confirm", tag = "auth", security(("bearer" = [])), request_body = CodeBody,
    responses((status = 200, body = Confirmed),
              (status = 401, body = Problem, description = "unauthorized, or invalid_two_factor_code"),
              (status = 409, body = Problem, description = "two_factor_not_enabled (nothing to confirm), or two_factor_enabled")))]
pub async fn confirm_two_factor(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    EnrollingUser(claims): EnrollingUser,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<ApiJson<Confirmed>, ApiError> {
    let id = claims.user_id().ok_or(ApiError::Unauthorized)?;
    if let Err(wait) = state.throttle.attempt(&claims.email, ip).await {
        return Err(ApiError::TooManyAttempts(wait));
    }
    let pending = state
        .store
        .two_factor(id)
        .await?
        .filter(|t| !t.confirmed)
        .ok_or(ApiError::TwoFactorNotEnabled(
            "there is no enrolment to confirm: start one with POST /api/auth/2fa/enrol",
        ))?;
    let now = Utc::now();
    let step = two_factor::matching_step(
        &pending.secret,
        &body.code,
        u64::try_from(now.timestamp()).unwrap_or_default(),
    )
    .ok_or(ApiError::InvalidTwoFactorCode)?;
    let codes = two_factor::new_recovery_codes();
    let hashes: Vec<[u8; 32]> = codes.iter().map(|(_, h)| *h).collect();
    if !state
        .store
        .confirm_two_factor(id, step, &hashes, now)
        .await?
    {
        return Err(ApiError::TwoFactorEnabled);
    }
    crate::socket::end_sockets(&state, crate::socket::user_room(id));
    tracing::info!(
        user = id,
        "two-factor sign-in on; every other session ended"
    );
    let user = state.store.user(id).await?.ok_or(ApiError::Unauthorized)?;
    Ok(ApiJson(Confirmed {
        recovery_codes: codes.into_iter().map(|(c, _)| c).collect(),
        tokens: issue_pair(&state, &user, None).await?,
    }))
}

/// Turn two-factor sign-in off: needs the password and a code (or a recovery code). Every
/// session of the account ends; the caller gets a new one.
#[utoipa::path(post, path = "/api/auth/2fa/disable", tag = "auth", security(("bearer" = [])), request_body = DisableTwoFactor,
    responses((status = 200, body = TokenPair),
              (status = 401, body = Problem, description = "unauthorized, invalid_credentials, two_factor_required or invalid_two_factor_code"),
              (status = 409, body = Problem, description = "two_factor_not_enabled")))]
pub async fn disable_two_factor(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AuthUser(claims): AuthUser,
    ApiJson(body): ApiJson<DisableTwoFactor>,
) -> Result<ApiJson<TokenPair>, ApiError> {
    let id = claims.user_id().ok_or(ApiError::Unauthorized)?;
    let creds = check_password(&state, &claims.email, ip, body.password).await?;
    let tf = state
        .store
        .two_factor(id)
        .await?
        .filter(|t| t.confirmed)
        .ok_or(ApiError::TwoFactorNotEnabled(
            "two-factor sign-in is not on",
        ))?;
    check_second_factor(
        &state,
        id,
        &tf.secret,
        body.code.as_deref(),
        body.recovery_code.as_deref(),
    )
    .await?;
    state.store.remove_two_factor(id, Utc::now()).await?;
    crate::socket::end_sockets(&state, crate::socket::user_room(id));
    tracing::info!(user = id, "two-factor sign-in off; every session ended");
    Ok(ApiJson(issue_pair(&state, &creds.user, None).await?))
}
