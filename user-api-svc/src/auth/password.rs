//! Passwords: argon2id with OWASP's parameters (19 MiB, 2 iterations, 1 lane), hashed and
//! verified on the blocking pool so the async runtime never stalls; and the password policy
//! (OWASP ASVS 2.1: at least 12 characters, at most 128, not common or guessable, judged by
//! zxcvbn with the user's email as context).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::ApiError;

pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 128;

fn hasher() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1. Constant, valid parameters.
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks the policy; the message says what to change.
pub fn check_policy(password: &str, email: &str) -> Result<(), ApiError> {
    let chars = password.chars().count();
    if chars < MIN_LEN {
        return Err(ApiError::WeakPassword(format!(
            "use at least {MIN_LEN} characters"
        )));
    }
    if chars > MAX_LEN {
        return Err(ApiError::WeakPassword(format!(
            "use at most {MAX_LEN} characters"
        )));
    }
    let local = email.split('@').next().unwrap_or(email);
    let entropy = zxcvbn::zxcvbn(password, &[email, local, "rategate"]);
    if u8::from(entropy.score()) < 3 {
        let hint = entropy
            .feedback()
            .and_then(|f| f.warning().map(|w| w.to_string()))
            .unwrap_or_else(|| "it is too easy to guess".into());
        return Err(ApiError::WeakPassword(format!(
            "choose a less guessable password: {hint}"
        )));
    }
    Ok(())
}

/// Hashes on the blocking pool.
pub async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        hasher()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ApiError::internal(anyhow::anyhow!("hashing failed: {e}")))
    })
    .await
    .map_err(ApiError::internal)?
}

/// Verifies on the blocking pool. With `None` (no such account) it verifies against a fixed
/// dummy hash, so the time taken does not reveal whether the account exists.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let (hash, real) = match stored {
            Some(h) => (h, true),
            None => (DUMMY.clone(), false),
        };
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        let ok = hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && real
    })
    .await
    .map_err(ApiError::internal)
}

static DUMMY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    hasher()
        .hash_password(b"not a password anyone has", &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_table() {
        // TC: too short, too long, common, email-derived, fine
        for (pw, ok) in [
            ("short", false),
            (&"x".repeat(129), false),
            ("password1234", false),
            ("alice@example.com1", false),
            ("qwertyuiop123", false),
            ("correct horse battery staple", true),
            ("vN3#kq9!Lz@w2Rb", true),
        ] {
            assert_eq!(check_policy(pw, "alice@example.com").is_ok(), ok, "{pw}");
        }
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let h = hash("correct horse battery staple".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(
            verify("correct horse battery staple".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong".into(), Some(h)).await.unwrap());
        assert!(!verify("anything".into(), None).await.unwrap());
        assert!(!verify("x".into(), Some("not a hash".into())).await.unwrap());
    }
}
