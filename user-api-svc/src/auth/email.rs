//! Email addresses as account identities: one spelling per address, and no account that looks
//! like another.
//!
//! [`parse`] turns what a person typed into the form stored and compared: NFKC, then lower case
//! (so `ＡＤＭＩＮ@…` is `admin@…`). It refuses what is not an address (RFC 5322 `atext` in the
//! local part, letter-digit-hyphen labels in the domain), any character UTS #39 does not allow
//! in identifiers (invisible and default-ignorable code points: soft hyphen, fillers, tags,
//! variation selectors, blank braille...), a combining mark on a plain ASCII letter, and a
//! local part or domain label that mixes scripts (`rategatе` with a Cyrillic `е`).
//!
//! [`AccountEmail::key`] is the SHA-256 of the address's UTS #39 skeleton with combining marks
//! removed: two addresses that look alike (`admın@…` with a dotless `ı`, `0` and `O`, `rn` and
//! `m`) share it. The store keeps it unique, so the second of two look-alikes is refused.
//! Pure: no I/O, no HTTP.

use sha2::{Digest, Sha256};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;
use unicode_security::{GeneralSecurityProfile, MixedScript};

/// Longest address accepted, in bytes (RFC 5321's path limit less the brackets).
pub const MAX_LEN: usize = 254;

/// An address in its one stored spelling, with its look-alike key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountEmail {
    pub normalized: String,
    pub key: [u8; 32],
}

/// Why an address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("it is longer than {MAX_LEN} bytes")]
    TooLong,
    #[error("{0}")]
    Syntax(&'static str),
    #[error("it contains U+{:04X}, which is invisible or not allowed in an address", u32::from(*.0))]
    Character(char),
    #[error("it puts a combining mark on a plain letter")]
    CombiningMark,
    #[error("\"{0}\" mixes letters of different scripts")]
    MixedScript(String),
}

/// Characters RFC 5322 allows in an unquoted local part besides letters and digits.
const LOCAL_PUNCTUATION: &str = "!#$%&'*+-/=?^_`{|}~.";

/// The stored spelling of `raw`, or why it is not an address.
pub fn normalize(raw: &str) -> Result<String, EmailError> {
    // NFKC folds compatibility forms (fullwidth, ligatures); lower-casing can leave a string
    // that is not in NFKC again, so normalize once more.
    let folded: String = raw.trim().nfkc().collect::<String>().to_lowercase();
    let email: String = folded.nfkc().collect();
    if email.len() > MAX_LEN {
        return Err(EmailError::TooLong);
    }
    let mut previous_ascii = false;
    for c in email.chars() {
        if is_combining_mark(c) && previous_ascii {
            return Err(EmailError::CombiningMark);
        }
        let allowed = c == '@'
            || LOCAL_PUNCTUATION.contains(c)
            || ((c.is_alphanumeric() || is_combining_mark(c)) && c.identifier_allowed());
        if !allowed {
            return Err(EmailError::Character(c));
        }
        previous_ascii = c.is_ascii_alphanumeric();
    }
    let (local, domain) = email
        .split_once('@')
        .ok_or(EmailError::Syntax("it has no @"))?;
    check_local(local)?;
    check_domain(domain)?;
    Ok(email)
}

fn check_local(local: &str) -> Result<(), EmailError> {
    if local.is_empty() || local.len() > 64 {
        return Err(EmailError::Syntax(
            "the part before @ must be 1 to 64 bytes",
        ));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(EmailError::Syntax(
            "the part before @ cannot start or end with a dot or have two in a row",
        ));
    }
    if !local.is_single_script() {
        return Err(EmailError::MixedScript(local.to_string()));
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), EmailError> {
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(EmailError::Syntax(
            "the domain needs a dot, as in example.com",
        ));
    }
    for label in &labels {
        let letters_digits_hyphens = label
            .chars()
            .all(|c| c == '-' || c.is_alphanumeric() || is_combining_mark(c));
        if label.is_empty()
            || label.len() > 63
            || !letters_digits_hyphens
            || label.starts_with('-')
            || label.ends_with('-')
        {
            return Err(EmailError::Syntax(
                "each part of the domain is 1 to 63 letters, digits or inner hyphens",
            ));
        }
        if !label.is_single_script() {
            return Err(EmailError::MixedScript(label.to_string()));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(EmailError::Syntax("the domain cannot end in a number"));
    }
    Ok(())
}

/// The look-alike key of an already normalized address.
pub fn lookalike_key(normalized: &str) -> [u8; 32] {
    let skeleton: String = unicode_security::skeleton(normalized).collect();
    let bare: String = skeleton
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .collect::<String>()
        .to_lowercase();
    Sha256::digest(bare.as_bytes()).into()
}

/// What a person typed, as an account identity.
pub fn parse(raw: &str) -> Result<AccountEmail, EmailError> {
    let normalized = normalize(raw)?;
    let key = lookalike_key(&normalized);
    Ok(AccountEmail { normalized, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = "admin@rategate.local";

    #[test]
    fn spellings_fold_to_one_address() {
        for (raw, stored) in [
            ("  Alice@Example.COM ", "alice@example.com"),
            ("ＡＤＭＩＮ@rategate.local", ADMIN),
            ("ａdmin@rategate.local", ADMIN),
            ("o'brien+fx@mail.example.ie", "o'brien+fx@mail.example.ie"),
            ("jürgen@example.de", "jürgen@example.de"),
            // A decomposed ü composes into the same address.
            ("ju\u{0308}rgen@example.de", "jürgen@example.de"),
            ("δοκιμή@παράδειγμα.δοκιμή", "δοκιμή@παράδειγμα.δοκιμή"),
            ("用户@例子.广告", "用户@例子.广告"),
        ] {
            assert_eq!(normalize(raw).as_deref(), Ok(stored), "{raw:?}");
        }
    }

    /// Every spelling reported against the live binary, and the classic syntax failures.
    #[test]
    fn invisible_mixed_script_and_malformed_addresses_are_refused() {
        let invisible = testkit::spellings::INVISIBLE_REPORTED.into_iter().chain([
            '\u{200B}', '\u{200D}', '\u{2060}', '\u{FEFF}', '\u{202E}', '\u{2066}', '\u{FE0F}',
        ]);
        for c in invisible {
            for raw in [format!("{ADMIN}{c}"), format!("ad{c}min@rategate.local")] {
                assert!(normalize(&raw).is_err(), "U+{:04X} in {raw:?}", c as u32);
            }
        }
        assert_eq!(
            normalize("admin@rategate.local\u{0308}"),
            Err(EmailError::CombiningMark)
        );
        assert_eq!(
            normalize("admin@rategat\u{0435}.local"),
            Err(EmailError::MixedScript("rategat\u{0435}".into()))
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
            "a@-x.io",
            "a@x-.io",
            "a..b@x.io",
            ".a@x.io",
            "a.@x.io",
            "a@x.123",
            "<img>@example.com",
            "\"quoted\"@example.com",
            "a@[127.0.0.1]",
            "a@x_y.io",
            "a\u{0000}@x.io",
            &format!("{}@x.io", "a".repeat(65)),
            &format!("a@{}.io", "b".repeat(250)),
        ] {
            assert!(normalize(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn look_alikes_share_a_key_and_different_addresses_do_not() {
        let admin = parse(ADMIN).unwrap().key;
        // Dotless ı is single-script Latin, so only its skeleton gives it away.
        for twin in [
            "adm\u{0131}n@rategate.local",
            "admín@rategate.local",
            "ADMIN@RATEGATE.LOCAL",
        ] {
            assert_eq!(parse(twin).unwrap().key, admin, "{twin:?}");
        }
        assert_eq!(
            parse("user0@x.io").unwrap().key,
            parse("usero@x.io").unwrap().key
        );
        assert_eq!(
            parse("modern@x.io").unwrap().key,
            parse("modem@x.io").unwrap().key
        );
        for other in ["admins@rategate.local", "admin@rategate.locale", "bob@x.io"] {
            assert_ne!(parse(other).unwrap().key, admin, "{other:?}");
        }
    }
}
