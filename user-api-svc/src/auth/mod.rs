//! Accounts and authentication (ARCHITECTURE.md §7); their endpoints are `http::auth` and
//! `http::watchlist`.
//!
//! - [`email`]: addresses as identities: one spelling each, no look-alikes (UTS #39).
//! - [`password`]: argon2id hashing off the runtime, and the password policy.
//! - [`tokens`]: short-lived access JWTs (strictly validated) and hashed refresh tokens.
//! - [`two_factor`]: TOTP codes (RFC 6238) and recovery codes, the pure part of two-factor
//!   sign-in; `http::auth` enrols, confirms, checks at login and turns it off.
//! - [`throttle`]: failed-login throttling per account and per IP.
//! - [`cli`]: the `create-admin` command of both binaries.
//! - [`token_account`]: a token's live session and account as they are now (the extractors of
//!   `http::extract` and the socket handshake use it), read in batches by [`SessionCheck`].
//!
//! Roles are never taken from a request. The first admin comes from `ADMIN_EMAIL` /
//! `ADMIN_PASSWORD` ([`ensure_admin`]) or the `create-admin` subcommand.

pub mod cli;
pub mod email;
pub mod password;
pub mod throttle;
pub mod tokens;
pub mod two_factor;

use crate::state::AppState;
use crate::store::{Role, Store, StoreError};
pub use tokens::Claims;

/// The live-session reads of concurrent requests, batched into one query
/// ([`crate::batch`]): at low load a request's read runs alone at once.
pub struct SessionCheck {
    reads: crate::batch::Batcher<(u64, String), Result<Option<crate::store::User>, StoreError>>,
}

impl SessionCheck {
    pub fn start(
        store: std::sync::Arc<dyn Store>,
        config: crate::batch::BatchConfig,
    ) -> SessionCheck {
        let reads = crate::batch::Batcher::start(
            "sessions",
            config,
            move |sessions: Vec<(u64, String)>| {
                let store = std::sync::Arc::clone(&store);
                async move {
                    let n = sessions.len();
                    let users = store.session_users(&sessions, chrono::Utc::now()).await;
                    crate::store::per_job(users, n)
                }
            },
        );
        SessionCheck { reads }
    }

    /// The account, if it is enabled and its session `family` is live now.
    pub async fn live(
        &self,
        id: u64,
        family: &str,
    ) -> Result<Option<crate::store::User>, StoreError> {
        self.reads
            .submit((id, family.to_string()))
            .await
            .unwrap_or_else(|| {
                Err(StoreError::Unavailable(anyhow::anyhow!(
                    "the session check has stopped"
                )))
            })
    }
}

/// Why a token does not stand for a live session of an account.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Not a valid access token, or its account or session is gone or disabled.
    #[error("not a valid token of a live session")]
    NotLive,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The claims of a valid access token of a live session, with the account as it is now (the
/// handshake of a socket, `auth:refresh`, and every extractor of `http::extract`).
pub async fn token_account(state: &AppState, token: &str) -> Result<Claims, SessionError> {
    let claims = state.keys.verify(token).ok_or(SessionError::NotLive)?;
    current_account(state, claims).await
}

/// A verified token's claims brought up to date with the account as it is now in the database:
/// the role (and email) come from the account, never from the token, so a demoted admin loses
/// admin rights at once, and a removed or disabled account's tokens, or those of a session that
/// ended (logout, password change, reuse), stop working at once (401, never a 500 from a foreign
/// key further on). One indexed read per authenticated request, shared by the requests that
/// arrive together ([`SessionCheck`]).
pub async fn current_account(state: &AppState, mut claims: Claims) -> Result<Claims, SessionError> {
    let id = claims.user_id().ok_or(SessionError::NotLive)?;
    let user = state
        .session_check
        .live(id, &claims.sid)
        .await?
        .ok_or(SessionError::NotLive)?;
    claims.role = user.role;
    claims.email = user.email;
    Ok(claims)
}

/// What the startup check of existing accounts found ([`audit_emails`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct EmailAudit {
    /// Accounts that got their look-alike key now.
    pub keyed: u64,
    /// `(id, email, why)`: accounts whose stored address today's rules refuse.
    pub refused: Vec<(u64, String, String)>,
    /// `(id, email, id of the older look-alike)`: accounts that look like an older one.
    pub lookalikes: Vec<(u64, String, u64)>,
    /// `(id, email as stored, normalized spelling)`: accounts stored in another spelling than
    /// today's; they sign in only by their stored spelling's normal form.
    pub unnormalized: Vec<(u64, String, String)>,
}

/// Checks every account written before look-alike keys existed, oldest first: each gets its
/// key unless an older account already holds it. Nothing is rewritten or removed; whatever
/// does not pass today's rules is logged (WARN) for an operator to decide on, at every start
/// until it is resolved.
pub async fn audit_emails(store: &dyn Store) -> anyhow::Result<EmailAudit> {
    let mut audit = EmailAudit::default();
    for (id, stored) in store.unkeyed_emails().await? {
        let identity = match email::parse(&stored) {
            Ok(identity) => identity,
            Err(why) => {
                tracing::warn!(id, email = %stored.escape_debug(), %why, "account email fails today's rules; left as it is");
                audit.refused.push((id, stored, why.to_string()));
                continue;
            }
        };
        if identity.normalized != stored {
            tracing::warn!(id, email = %stored.escape_debug(), normalized = %identity.normalized, "account email is not in its normal spelling; left as it is");
            audit
                .unnormalized
                .push((id, stored.clone(), identity.normalized.clone()));
        }
        match store.set_email_key(id, &identity.key).await {
            Ok(()) => audit.keyed += 1,
            Err(StoreError::Conflict) => {
                let older = store
                    .user_by_email_key(&identity.key)
                    .await?
                    .map(|u| u.id)
                    .unwrap_or_default();
                tracing::warn!(id, email = %stored.escape_debug(), looks_like = older, "account email looks like an older account's; left as it is");
                audit.lookalikes.push((id, stored, older));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(audit)
}

/// Creates the configured admin if there is no account with that email. An existing *user*
/// account with that email is never promoted (someone could have registered it first): that is
/// refused with an error, and an operator uses `create-admin` with another email.
pub async fn ensure_admin(store: &dyn Store, email: &str, password: &str) -> anyhow::Result<()> {
    let email = email::normalize(email).map_err(|e| anyhow::anyhow!("ADMIN_EMAIL: {e}"))?;
    if admin_present(store, &email).await? {
        return Ok(());
    }
    match create_admin(store, &email, password, false).await {
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

/// Creates an admin account (policy-checked password); with `require_two_factor` it may sign in
/// only to enrol in two-factor sign-in until it has (admins made by `create-admin`).
pub async fn create_admin(
    store: &dyn Store,
    email: &str,
    password: &str,
    require_two_factor: bool,
) -> anyhow::Result<()> {
    let identity = email::parse(email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let email = identity.normalized.clone();
    password::check_policy(password, &email).map_err(|e| anyhow::anyhow!("admin password: {e}"))?;
    let hash = password::hash(password.to_string())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    match store.create_user(&identity, &hash, Role::Admin).await {
        Ok(u) => {
            if require_two_factor {
                store.require_two_factor(u.id, chrono::Utc::now()).await?;
            }
            tracing::info!(email = %u.email, id = u.id, require_two_factor, "admin account created");
            Ok(())
        }
        Err(StoreError::Conflict) => {
            anyhow::bail!(
                "an account with email {email}, or one that looks like it, already exists"
            )
        }
        Err(e) => Err(e.into()),
    }
}
