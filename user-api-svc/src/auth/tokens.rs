//! Access and refresh tokens.
//!
//! Every access token names its session (`sid`: the refresh-token family its login started), so
//! a session that ends (logout, password or two-factor change, a disabled account, a reused
//! refresh token) takes its access tokens with it at once: the per-request account read checks
//! that the family is still live (`Store::session_users`).
//!
//! Access tokens are short-lived HS256 JWTs. Decoding accepts HS256 only (so `alg: none` and
//! algorithm swaps fail) and requires and checks `exp`, `nbf`, `iss`, `aud` and `sub`.
//! Refresh tokens are 256 random bits, base64url; only their SHA-256 is stored.

use std::time::Duration;

use base64::Engine;
use chrono::Utc;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{Role, User};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub email: String,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// The session: the refresh-token family this token belongs to.
    pub sid: String,
    /// Good only for enrolling in two-factor sign-in (an account that must have it, and has
    /// not): every other endpoint answers 403 `two_factor_enrolment_required`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enrol_only: bool,
}

impl Claims {
    pub fn user_id(&self) -> Option<u64> {
        self.sub.parse().ok()
    }
}

#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    pub access_ttl: Duration,
}

impl TokenKeys {
    pub fn new(secret: &str, issuer: &str, audience: &str, access_ttl: Duration) -> TokenKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        // `sid` is required by the type itself: a token without one does not decode.
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = 5;
        TokenKeys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            issuer: issuer.into(),
            audience: audience.into(),
            access_ttl,
        }
    }

    /// An access token for `user` in session `sid` (good only for enrolling in two-factor
    /// sign-in if `enrol_only`).
    pub fn issue(
        &self,
        user: &User,
        sid: &str,
        enrol_only: bool,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user.id.to_string(),
            email: user.email.clone(),
            role: user.role,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            nbf: now,
            exp: now + self.access_ttl.as_secs() as i64,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: sid.to_string(),
            enrol_only,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// The claims of a valid token; `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|d| d.claims)
    }
}

/// A new refresh token and its hash.
pub fn new_refresh_token() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_refresh_token(&token);
    (token, hash)
}

pub fn hash_refresh_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(
            "0123456789abcdef0123456789abcdef",
            "rategate",
            "rategate-api",
            Duration::from_secs(300),
        )
    }

    fn user() -> User {
        User {
            id: 7,
            email: "a@b.c".into(),
            role: Role::User,
            created_at: Utc::now(),
            disabled: false,
            two_factor_required: false,
        }
    }

    fn b64(v: &serde_json::Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn issued_tokens_verify() {
        let k = keys();
        let t = k.issue(&user(), "s1", false).unwrap();
        let c = k.verify(&t).unwrap();
        assert_eq!(c.user_id(), Some(7));
        assert_eq!(c.role, Role::User);
    }

    #[test]
    fn tampered_foreign_expired_and_unsigned_tokens_are_refused() {
        let k = keys();
        let t = k.issue(&user(), "s1", false).unwrap();
        // TC0: flip the role in the payload, keep the signature.
        let parts: Vec<&str> = t.split('.').collect();
        let mut payload: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts[1])
                .unwrap(),
        )
        .unwrap();
        payload["role"] = "admin".into();
        let forged = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
        assert!(k.verify(&forged).is_none());
        // TC1: alg none.
        let none = format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg":"none","typ":"JWT"})),
            b64(&payload)
        );
        assert!(k.verify(&none).is_none());
        // TC2: another secret.
        let other = TokenKeys::new(
            "another-secret-another-secret-xx",
            "rategate",
            "rategate-api",
            Duration::from_secs(300),
        );
        assert!(k
            .verify(&other.issue(&user(), "s1", false).unwrap())
            .is_none());
        // TC3: expired (beyond leeway), TC4: not yet valid, TC5: wrong audience, TC6: no exp.
        let now = Utc::now().timestamp();
        let mk = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut c = serde_json::json!({"sub":"7","email":"a@b.c","role":"admin","iss":"rategate",
                "aud":"rategate-api","iat":now,"nbf":now,"exp":now+300,"jti":"x","sid":"s1"});
            f(&mut c);
            encode(
                &Header::new(Algorithm::HS256),
                &c,
                &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
            )
            .unwrap()
        };
        assert!(k.verify(&mk(&|_| {})).is_some(), "control case");
        assert!(k.verify(&mk(&|c| c["exp"] = (now - 60).into())).is_none());
        assert!(k.verify(&mk(&|c| c["nbf"] = (now + 600).into())).is_none());
        assert!(k
            .verify(&mk(&|c| c["aud"] = "someone-else".into()))
            .is_none());
        assert!(k
            .verify(&mk(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }))
            .is_none());
        assert!(k
            .verify(&mk(&|c| {
                c.as_object_mut().unwrap().remove("nbf");
            }))
            .is_none());
        assert!(
            k.verify(&mk(&|c| {
                c.as_object_mut().unwrap().remove("sid");
            }))
            .is_none(),
            "a token that names no session"
        );
        assert!(k.verify("garbage").is_none());
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let (a, ha) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash_refresh_token(&a), ha);
    }
}
