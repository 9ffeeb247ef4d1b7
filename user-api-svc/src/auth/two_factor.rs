//! Two-factor sign-in: time-based one-time codes (TOTP, RFC 6238: HMAC-SHA1, 6 digits, 30 s
//! steps, by `totp-rs`) and one-time recovery codes.
//!
//! Enrolment: a new 160-bit secret, shown as an `otpauth://` URI and its QR code (SVG, by the
//! `qrcode` crate), counts only once confirmed with a first code; confirming yields ten recovery
//! codes, shown once and stored as SHA-256 hashes. A code is accepted for its own step or one
//! step either side (clock drift), and never twice: [`matching_step`] says which step a code
//! belongs to and the store accepts each step once (`Store::use_two_factor_step`).
//! Pure: no I/O, no HTTP.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Secret, TOTP};

/// Seconds per code.
pub const STEP_SECS: u64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Recovery codes given at enrolment.
pub const RECOVERY_CODES: usize = 10;

/// What a person needs to add the account to an authenticator app.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// The secret in base32, for typing in by hand.
    pub secret: String,
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG image.
    pub qr_svg: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwoFactorError {
    #[error("the stored two-factor secret is unusable: {0}")]
    BadSecret(String),
}

/// A new random secret (160 bits, as RFC 4226 recommends).
pub fn new_secret() -> Vec<u8> {
    let mut bytes = vec![0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> Result<TOTP, TwoFactorError> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECS,
        secret.to_vec(),
        Some(issuer.replace(':', " ")),
        account.to_string(),
    )
    .map_err(|e| TwoFactorError::BadSecret(e.to_string()))
}

/// The enrolment of `account` (its email) at `issuer` with `secret`.
pub fn enrolment(secret: &[u8], issuer: &str, account: &str) -> Result<Enrolment, TwoFactorError> {
    let totp = totp(secret, issuer, account)?;
    let otpauth_uri = totp.get_url();
    let qr = qrcode::QrCode::new(otpauth_uri.as_bytes())
        .map_err(|e| TwoFactorError::BadSecret(e.to_string()))?;
    let qr_svg = qr
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok(Enrolment {
        secret: Secret::Raw(secret.to_vec()).to_encoded().to_string(),
        otpauth_uri,
        qr_svg,
    })
}

/// The QR code as a `data:` URL an `<img>` can show under our CSP (`img-src 'self' data:`).
pub fn qr_data_url(svg: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(svg.as_bytes());
    format!("data:image/svg+xml;base64,{b64}")
}

/// The step (unix seconds / 30) `code` is valid for at `now` (unix seconds): its own, the one
/// before or the one after; `None` if it is valid for none (or is not six digits).
pub fn matching_step(secret: &[u8], code: &str, now: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret, "rategate", "check").ok()?;
    let current = now / STEP_SECS;
    // `check` compares in constant time; with each step's own time it says which step matched.
    [current.checked_sub(1), Some(current), Some(current + 1)]
        .into_iter()
        .flatten()
        .find(|step| {
            TOTP {
                skew: 0,
                ..totp.clone()
            }
            .check(code, step * STEP_SECS)
        })
}

/// New recovery codes (`xxxxx-xxxxx`, 80 random bits each) with their hashes.
pub fn new_recovery_codes() -> Vec<(String, [u8; 32])> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 10];
            rand::rng().fill_bytes(&mut bytes);
            let text = Secret::Raw(bytes.to_vec())
                .to_encoded()
                .to_string()
                .to_lowercase();
            let code = format!("{}-{}", &text[..8], &text[8..16]);
            let hash = hash_recovery_code(&code);
            (code, hash)
        })
        .collect()
}

/// The stored form of a recovery code, however it was typed (case, dashes, spaces).
pub fn hash_recovery_code(code: &str) -> [u8; 32] {
    let canonical: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Sha256::digest(canonical.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 secret and vectors (8 digits there; the last 6 here).
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn codes_match_rfc_6238_and_name_their_step() {
        for (time, code) in [
            (59u64, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(
                matching_step(RFC_SECRET, code, time),
                Some(time / 30),
                "{time}"
            );
            // One step of drift either way is accepted, and says which step it was.
            assert_eq!(matching_step(RFC_SECRET, code, time + 30), Some(time / 30));
            assert_eq!(matching_step(RFC_SECRET, code, time - 30), Some(time / 30));
            assert_eq!(matching_step(RFC_SECRET, code, time + 90), None, "too late");
        }
        for bad in ["", "28708", "2870822", "28708a", " 287 082"] {
            assert_eq!(matching_step(RFC_SECRET, bad, 59), None, "{bad:?}");
        }
    }

    #[test]
    fn enrolment_is_an_otpauth_uri_with_a_qr_code() {
        let secret = new_secret();
        let e = enrolment(&secret, "rategate", "alice@x.io").unwrap();
        assert!(
            e.otpauth_uri
                .starts_with("otpauth://totp/rategate:alice%40x.io?"),
            "{}",
            e.otpauth_uri
        );
        assert!(e.otpauth_uri.contains(&format!("secret={}", e.secret)));
        assert_eq!(
            Secret::Encoded(e.secret.clone()).to_bytes().unwrap(),
            secret
        );
        assert!(e.qr_svg.contains("<svg"));
        assert!(qr_data_url(&e.qr_svg).starts_with("data:image/svg+xml;base64,"));
    }

    #[test]
    fn recovery_codes_are_distinct_and_hash_however_typed() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let mut texts: Vec<&String> = codes.iter().map(|(c, _)| c).collect();
        texts.dedup();
        assert_eq!(texts.len(), RECOVERY_CODES);
        let (code, hash) = &codes[0];
        assert_eq!(code.len(), 17);
        assert_eq!(
            hash_recovery_code(&code.to_uppercase().replace('-', " ")),
            *hash
        );
        assert_ne!(hash_recovery_code("something-else"), *hash);
    }
}
