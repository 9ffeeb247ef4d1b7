//! Admin-set spreads (ARCHITECTURE.md §5, §7): what a spread may be; `http::spreads` serves
//! them.
//!
//! A spread is per pair (`BTC/USD`) or `default`, per side, `absolute` or `bps`, values ≥ 0
//! given as decimal strings. Every change is one transaction with its audit row (the database
//! refuses updates and deletes of audit rows), then pushed to connected clients at once and
//! announced to the other nodes.

use common::{Decimal, Pair};

use crate::pricing::{Spread, SpreadKind};

/// Why a spread or its target is refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpreadError {
    /// Neither `default` nor a pair.
    #[error("{0}")]
    InvalidTarget(String),
    /// An unknown kind, a value out of range, a reason too long.
    #[error("{0}")]
    Invalid(String),
}

/// The key of the default spread.
pub const DEFAULT: &str = "default";
/// Largest spread in bps: 100 %. More is meaningless (the sell price would be negative).
pub const MAX_BPS: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);
/// Largest absolute spread, in quote units.
pub const MAX_ABSOLUTE: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);
pub const MAX_REASON: usize = 500;

/// What `{pair}` in a spreads path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpreadTarget {
    Default,
    Pair(Pair),
}

impl SpreadTarget {
    pub fn parse(raw: &str) -> Result<SpreadTarget, SpreadError> {
        if raw.eq_ignore_ascii_case(DEFAULT) {
            return Ok(SpreadTarget::Default);
        }
        Pair::parse(raw)
            .map(SpreadTarget::Pair)
            .map_err(|e| SpreadError::InvalidTarget(e.to_string()))
    }

    /// The key stored in the database.
    pub fn key(&self) -> String {
        match self {
            SpreadTarget::Default => DEFAULT.to_string(),
            SpreadTarget::Pair(p) => p.as_str().to_string(),
        }
    }
}

fn side(name: &str, d: Decimal, kind: SpreadKind) -> Result<Decimal, SpreadError> {
    let invalid = |why: &str| SpreadError::Invalid(format!("{name} {why}"));
    if d.is_sign_negative() && !d.is_zero() {
        return Err(invalid("must be zero or more"));
    }
    if d.scale() > 18 {
        return Err(invalid("has more than 18 decimal places"));
    }
    let max = match kind {
        SpreadKind::Bps => MAX_BPS,
        SpreadKind::Absolute => MAX_ABSOLUTE,
    };
    // A sell spread of 100 % or more leaves no positive sell price at any rate.
    if kind == SpreadKind::Bps && name == "sell" && d >= MAX_BPS {
        return Err(invalid(&format!("must be below {MAX_BPS} bps")));
    }
    if d > max {
        return Err(invalid(&format!(
            "must be at most {max} for kind {}",
            kind.as_str()
        )));
    }
    Ok(d.normalize())
}

/// A spread of `kind` with these sides, and the reason given for it, checked.
pub fn validate(
    kind: &str,
    buy: Decimal,
    sell: Decimal,
    reason: Option<&str>,
) -> Result<Spread, SpreadError> {
    let kind = SpreadKind::parse(kind)
        .ok_or_else(|| SpreadError::Invalid("kind must be \"absolute\" or \"bps\"".into()))?;
    if reason.is_some_and(|r| r.chars().count() > MAX_REASON) {
        return Err(SpreadError::Invalid(format!(
            "reason must be at most {MAX_REASON} characters"
        )));
    }
    Ok(Spread {
        kind,
        buy: side("buy", buy, kind)?,
        sell: side("sell", sell, kind)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validation_table() {
        // TC: (kind, buy, sell, ok)
        let cases = [
            ("bps", json!("25"), json!("30.5"), true),
            ("absolute", json!("0.5"), json!("0"), true),
            ("bps", json!("10000"), json!("0"), true),
            ("bps", json!("0"), json!("10000"), false),
            ("bps", json!("0"), json!("9999.99"), true),
            ("bps", json!("10000.01"), json!("0"), false),
            ("bps", json!(25), json!("1"), false),
            ("bps", json!("-1"), json!("1"), false),
            ("bps", json!("1e3"), json!("1"), false),
            ("percent", json!("1"), json!("1"), false),
            (
                "absolute",
                json!("0.0000000000000000001"),
                json!("0"),
                false,
            ),
            ("absolute", json!(null), json!("0"), false),
        ];
        // As the endpoint does: the fields parsed first, strictly, from strings only (a number
        // or `1e3` is refused there).
        let field = |v: serde_json::Value| {
            v.as_str()
                .and_then(|s| common::decimal::parse_plain(s).ok())
        };
        for (i, (kind, buy, sell, ok)) in cases.into_iter().enumerate() {
            let checked = match (field(buy), field(sell)) {
                (Some(buy), Some(sell)) => validate(kind, buy, sell, None).is_ok(),
                _ => false,
            };
            assert_eq!(checked, ok, "TC{i}");
        }
        let one = Decimal::ONE;
        assert!(validate("bps", one, one, Some(&"x".repeat(501))).is_err());
    }

    #[test]
    fn targets() {
        assert_eq!(
            SpreadTarget::parse("DEFAULT").unwrap(),
            SpreadTarget::Default
        );
        assert_eq!(SpreadTarget::parse("btc_usd").unwrap().key(), "BTC/USD");
        assert!(SpreadTarget::parse("nope").is_err());
    }
}
