//! Accounts and authentication (ARCHITECTURE.md §7).
//!
//! - [`password`]: argon2id hashing off the runtime, and the password policy.
//! - [`tokens`]: short-lived access JWTs (strictly validated) and hashed refresh tokens.
//! - [`throttle`]: failed-login throttling per account and per IP.
//! - [`handlers`]: register, login, refresh, logout, me.
//! - [`cli`]: the `create-admin` command of both binaries.
//! - [`AuthUser`] / [`AdminUser`]: extractors that turn a `Bearer` token into the caller, or a
//!   401/403 problem.
//!
//! Roles are never taken from a request. The first admin comes from `ADMIN_EMAIL` /
//! `ADMIN_PASSWORD` ([`ensure_admin`]) or the `create-admin` subcommand.

pub mod cli;
pub mod handlers;
pub mod password;
pub mod throttle;
pub mod tokens;
pub mod watchlist;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Role, Store, StoreError};
pub use tokens::Claims;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Claims);

/// The authenticated caller, who is an admin.
#[derive(Debug, Clone)]
pub struct AdminUser(pub Claims);

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

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized)?;
        let claims = state.keys.verify(token).ok_or(ApiError::Unauthorized)?;
        current_account(state, claims).await.map(AuthUser)
    }
}

/// A verified token's claims brought up to date with the account as it is now in the database:
/// the role (and email) come from the account, never from the token, so a demoted admin loses
/// admin rights at once and a removed account's tokens stop working (401, never a 500 from a
/// foreign key further on). One primary-key read per authenticated request.
pub async fn current_account(state: &AppState, mut claims: Claims) -> Result<Claims, ApiError> {
    let id = claims.user_id().ok_or(ApiError::Unauthorized)?;
    let user = state.store.user(id).await?.ok_or(ApiError::Unauthorized)?;
    claims.role = user.role;
    claims.email = user.email;
    Ok(claims)
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

/// Invisible characters that change how text around them is shown: bidirectional controls
/// (an address that reads differently from how it is stored, `U+202E`), zero-width spaces and
/// joiners, the word joiner and invisible operators, the byte-order mark.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}'
        | '\u{FEFF}')
}

/// Lower-cases and checks an email address (a pragmatic check: one `@`, a dotted domain, no
/// spaces, control or invisible formatting characters, at most 254 characters).
pub fn normalize_email(raw: &str) -> Result<String, ApiError> {
    let email = raw.trim().to_lowercase();
    let bad = || ApiError::Validation("email is not a valid address".into());
    if email.len() > 254
        || email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_invisible_format(c))
    {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(bad());
    }
    Ok(email)
}

/// Creates the configured admin if there is no account with that email. An existing *user*
/// account with that email is never promoted (someone could have registered it first): that is
/// refused with an error, and an operator uses `create-admin` with another email.
pub async fn ensure_admin(store: &dyn Store, email: &str, password: &str) -> anyhow::Result<()> {
    let email = normalize_email(email).map_err(|e| anyhow::anyhow!("ADMIN_EMAIL: {e}"))?;
    if admin_present(store, &email).await? {
        return Ok(());
    }
    match create_admin(store, &email, password).await {
        Ok(()) => Ok(()),
        // Another node starting at the same moment created it first: fine if it is an admin.
        Err(e) if admin_present(store, &email).await? => {
            tracing::debug!(error = %e, "another node created the admin first");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// True if `email` is an admin's; an error if it is an ordinary user's (never promoted).
async fn admin_present(store: &dyn Store, email: &str) -> anyhow::Result<bool> {
    match store.credentials(email).await? {
        Some(existing) if existing.user.role == Role::Admin => {
            tracing::info!(%email, "admin account present");
            Ok(true)
        }
        Some(_) => anyhow::bail!(
            "ADMIN_EMAIL {email} belongs to an ordinary user account; refusing to promote it \
             (choose another ADMIN_EMAIL or use the create-admin subcommand)"
        ),
        None => Ok(false),
    }
}

/// Creates an admin account (policy-checked password).
pub async fn create_admin(store: &dyn Store, email: &str, password: &str) -> anyhow::Result<()> {
    let email = normalize_email(email).map_err(|e| anyhow::anyhow!("{e}"))?;
    password::check_policy(password, &email).map_err(|e| anyhow::anyhow!("admin password: {e}"))?;
    let hash = password::hash(password.to_string())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    match store.create_user(&email, &hash, Role::Admin).await {
        Ok(u) => {
            tracing::info!(email = %u.email, id = u.id, "admin account created");
            Ok(())
        }
        Err(StoreError::Conflict) => anyhow::bail!("an account with email {email} already exists"),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_or_refused() {
        assert_eq!(
            normalize_email("  Alice@Example.COM ").unwrap(),
            "alice@example.com"
        );
        for bad in [
            "",
            "alice",
            "@x.io",
            "a@b",
            "a@@b.io",
            "a b@c.io",
            "a@.io",
            "a@io.",
            &format!("{}@x.io", "a".repeat(250)),
            "alice\u{202E}moc.elpmaxe@x.io",
            "ali\u{200B}ce@x.io",
            "\u{2066}bob@x.io",
            "bob@x.io\u{FEFF}",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }
}
