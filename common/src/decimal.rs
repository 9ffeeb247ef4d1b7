//! Decimals on the wire, never through `f64`.
//!
//! - [`string`]: `#[serde(with = "common::decimal::string")]` writes a `Decimal` as a JSON string
//!   (`"97000.1"`) and reads only strings. Every interface we own uses it (ARCHITECTURE.md §2), so no
//!   client's JSON parser can round a price.
//! - [`opt_string`]: the same for `Option<Decimal>`.
//! - [`from_json_number`]: reads the raw text of an exchange's JSON number (`0.10000000`,
//!   `1e-5`) exactly. serde_json's `arbitrary_precision` feature would do this too, but it is
//!   unified across the whole build and breaks untagged/flattened deserialization everywhere, so
//!   we read the raw token (`serde_json::value::RawValue`) instead.

use std::str::FromStr;

use rust_decimal::Decimal;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("not a decimal number: {0:?}")]
    Invalid(String),
    /// A well-formed number with more significant digits than a `Decimal` keeps (28): parsing
    /// it would round it silently, so it is refused instead.
    #[error("{0:?} has more significant digits than can be kept exactly")]
    TooPrecise(String),
}

/// Parses the text of a JSON number (or of a JSON string holding a number) exactly.
///
/// Accepts plain (`65972.8`, `-0.00017`) and scientific (`1.5e-7`) forms; keeps the scale the
/// exchange sent (`0.10000000` stays at 8 decimal places).
pub fn from_json_number(raw: &str) -> Result<Decimal, DecimalError> {
    let text = raw.trim();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    let err = || DecimalError::Invalid(text.chars().take(40).collect());
    if text.is_empty() || text.len() > 64 {
        return Err(err());
    }
    if let Some(d) = plain_short(text) {
        return Ok(d);
    }
    if text.bytes().any(|b| b == b'e' || b == b'E') {
        Decimal::from_scientific(text).map_err(|_| err())
    } else {
        Decimal::from_str(text).map_err(|_| err())
    }
}

/// The common case of a venue's number, read without the general parser: unsigned digits
/// with at most one point and at most 18 digits in all (`62807.0`, `0.00000000`), giving the
/// same value and scale `Decimal::from_str` would. Anything else is `None`.
fn plain_short(text: &str) -> Option<Decimal> {
    let mut mantissa: i64 = 0;
    let mut digits = 0u32;
    let mut scale: Option<u32> = None;
    for b in text.bytes() {
        match b {
            b'0'..=b'9' => {
                digits += 1;
                if digits > 18 {
                    return None;
                }
                mantissa = mantissa * 10 + i64::from(b - b'0');
                if let Some(s) = scale.as_mut() {
                    *s += 1;
                }
            }
            b'.' if scale.is_none() => scale = Some(0),
            _ => return None,
        }
    }
    // At least one digit on each side of a point, as JSON and `from_str` would want.
    match scale {
        _ if digits == 0 => None,
        Some(0) => None,
        _ if text.starts_with('.') => None,
        s => Some(Decimal::new(mantissa, s.unwrap_or(0))),
    }
}

/// `Decimal` as a JSON string, both ways.
pub mod string {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(deserializer)?;
        super::parse_plain(&s).map_err(serde::de::Error::custom)
    }
}

/// `Option<Decimal>` as an optional JSON string.
pub mod opt_string {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => serializer.collect_str(v),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Decimal>, D::Error> {
        let s = Option::<std::borrow::Cow<str>>::deserialize(deserializer)?;
        s.map(|s| super::parse_plain(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// A decimal as every answer we send shows it: a JSON string in plain notation
/// ([`DECIMAL_SYNTAX`]), read back strictly ([`parse_plain`]). Its OpenAPI schema,
/// `DecimalString`, is that string with [`DECIMAL_PATTERN`], so one definition documents every
/// price and amount instead of an attribute pair on each field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DecimalString(pub Decimal);

/// [`DECIMAL_SYNTAX`] as a regular expression (the schema's `pattern`).
pub const DECIMAL_PATTERN: &str = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$";

impl From<Decimal> for DecimalString {
    fn from(d: Decimal) -> DecimalString {
        DecimalString(d)
    }
}

impl std::fmt::Display for DecimalString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl serde::Serialize for DecimalString {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        string::serialize(&self.0, serializer)
    }
}

impl<'de> serde::Deserialize<'de> for DecimalString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        string::deserialize(deserializer).map(DecimalString)
    }
}

impl utoipa::PartialSchema for DecimalString {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(DECIMAL_PATTERN))
            .description(Some(format!(
                "A decimal as a JSON string; {DECIMAL_SYNTAX}."
            )))
            .examples(["97000.10"])
            .into()
    }
}

impl utoipa::ToSchema for DecimalString {}

/// `x` with at least `places` decimals, for display: trailing zeros are added or removed,
/// never a significant digit (`1000` at 2 is `1000.00`, `7.5000` at 2 is `7.50`, `0.125` at 2
/// stays `0.125`). Every amount and price we send goes through it, at its asset's scale or its
/// pair's tick, so one figure reads the same in every answer.
pub fn at_scale(x: Decimal, places: u32) -> Decimal {
    let mut y = x.normalize();
    if y.scale() < places {
        y.rescale(places);
    }
    y
}

/// The decimal places of a price tick or amount step (`0.10` → 1, `1` → 0).
pub fn places_of(unit: Decimal) -> u32 {
    unit.normalize().scale()
}

/// What a decimal string may look like on every interface we own (the OpenAPI documents say
/// so): an optional `-`, an integer part without leading zeros (`0`, `12`, not `012`), and an
/// optional fraction with at least one digit (`0.5`, not `.5` or `5.`).
pub const DECIMAL_SYNTAX: &str = "decimal strings are plain notation: an optional -, an integer \
    part without leading zeros, and an optional . with at least one digit after it \
    (\"0.5\", \"1200\", \"97000.10\"; not \"01\", \".5\", \"5.\", \"1e3\")";

/// Strict parse of a decimal string from a client or the bus: plain notation only
/// ([`DECIMAL_SYNTAX`]), and exact: a number `Decimal` cannot hold to the last digit
/// (`0.00010000000000000000000000000001`) is [`DecimalError::TooPrecise`], never rounded.
pub fn parse_plain(s: &str) -> Result<Decimal, DecimalError> {
    let head = || s.chars().take(40).collect::<String>();
    let err = || DecimalError::Invalid(head());
    let digits = s.strip_prefix('-').unwrap_or(s);
    let plain = !digits.is_empty()
        && s.len() <= 64
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|b| *b == b'.').count() <= 1
        && digits.bytes().any(|b| b.is_ascii_digit());
    let (int, frac) = match digits.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (digits, None),
    };
    let shaped = !int.is_empty()
        && (int == "0" || !int.starts_with('0'))
        && frac.is_none_or(|f| !f.is_empty());
    if !plain || !shaped {
        return Err(err());
    }
    let d = Decimal::from_str(s).map_err(|_| err())?;
    if d.normalize().to_string() != canonical(s) {
        return Err(DecimalError::TooPrecise(head()));
    }
    Ok(d)
}

/// The shortest text of a plain decimal (`-007.50` → `-7.5`, `-0.0` → `0`), as
/// `Decimal::normalize` displays it, to tell whether parsing kept every digit.
fn canonical(s: &str) -> String {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let body = if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    };
    if negative && body != "0" {
        format!("-{body}")
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers_keep_their_exact_text() {
        // TC0..: (raw token, expected Display)
        for (raw, shown) in [
            ("0.10000000", "0.10000000"),
            ("65972.8", "65972.8"),
            ("-0.00017", "-0.00017"),
            ("1087605.70466858", "1087605.70466858"),
            ("\"0.99980\"", "0.99980"),
            ("1.5e-7", "0.00000015"),
            ("2E3", "2000"),
            ("740.0", "740.0"),
        ] {
            assert_eq!(from_json_number(raw).unwrap().to_string(), shown, "{raw}");
        }
    }

    #[test]
    fn a_figure_is_shown_at_its_scale_without_losing_a_digit() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        for (x, places, shown) in [
            ("1000", 2, "1000.00"),
            ("7.5000", 2, "7.50"),
            ("96764100000000", 2, "96764100000000.00"),
            ("0.125", 2, "0.125"),
            ("0.01", 8, "0.01000000"),
            ("-974.8", 2, "-974.80"),
            ("0", 2, "0.00"),
            ("3001.6", 0, "3001.6"),
        ] {
            assert_eq!(at_scale(d(x), places).to_string(), shown, "{x} at {places}");
        }
        assert_eq!(
            (
                places_of(d("0.10")),
                places_of(d("1")),
                places_of(d("0.00000001"))
            ),
            (1, 0, 8)
        );
    }

    #[test]
    fn a_decimal_string_is_a_string_both_ways_and_matches_its_pattern() {
        let d: DecimalString = serde_json::from_str(r#""-974.80""#).unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), r#""-974.80""#);
        assert!(
            serde_json::from_str::<DecimalString>("1.5").is_err(),
            "a JSON number"
        );
        assert!(serde_json::from_str::<DecimalString>(r#"".5""#).is_err());
        let pattern = regex::Regex::new(DECIMAL_PATTERN).unwrap();
        for ok in ["0", "-974.80", "97000.10", "0.00000001"] {
            assert!(pattern.is_match(ok) && parse_plain(ok).is_ok(), "{ok}");
        }
        for bad in ["01", ".5", "5.", "1e3", "+1", "", "-"] {
            assert!(!pattern.is_match(bad) && parse_plain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for raw in [
            "", "abc", "1.2.3", "\"\"", "null", "true", "1e99999", "--1", "[1]",
        ] {
            assert!(from_json_number(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn string_serde_round_trips_and_refuses_numbers() {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct T {
            #[serde(with = "super::string")]
            p: Decimal,
        }
        let t: T = serde_json::from_str(r#"{"p":"97000.10"}"#).unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"p":"97000.10"}"#);
        assert!(serde_json::from_str::<T>(r#"{"p":97000.1}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"p":" 1"}"#).is_err());
        for bad in ["1e5", "1_000", "+1", "", ".", "-", "1.2.3", "0x10"] {
            let json = format!(r#"{{"p":"{bad}"}}"#);
            assert!(serde_json::from_str::<T>(&json).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn plain_parsing_is_exact_or_refuses() {
        // TC0..: text that parses to exactly its value
        for (text, shown) in [
            ("0.0001", "0.0001"),
            ("97000.10", "97000.10"),
            ("-0.0", "0.0"),
            ("0", "0"),
            ("7.50", "7.50"),
            (
                "0.0000000000000000000000000001",
                "0.0000000000000000000000000001",
            ),
            (
                "1.000000000000000000000000000000000",
                "1.0000000000000000000000000000",
            ),
        ] {
            assert_eq!(parse_plain(text).unwrap().to_string(), shown, "{text}");
        }
        // TC..: not the documented shape (leading zeros, a bare dot, exponents): refused
        for text in [
            "007.50", "01", "00", "1.", ".5", "-.5", "-", ".", "1e3", "1.2.3", "+1", " 1",
        ] {
            assert!(
                matches!(parse_plain(text), Err(DecimalError::Invalid(_))),
                "{text}"
            );
        }
        // TC..: text a Decimal would round: refused, not rounded
        for text in [
            "0.00010000000000000000000000000001",
            "0.00000000000000000000000000001",
            "12345678901234567890.123456789012",
        ] {
            assert!(
                matches!(parse_plain(text), Err(DecimalError::TooPrecise(_))),
                "{text}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn plain_parsing_accepts_every_decimal_it_can_print(mantissa in proptest::num::i64::ANY, scale in 0u32..=28) {
            let d = Decimal::new(mantissa, scale);
            proptest::prop_assert_eq!(parse_plain(&d.to_string()).unwrap(), d);
        }

        #[test]
        fn any_decimal_survives_json_number_text(mantissa in proptest::num::i64::ANY, scale in 0u32..=18) {
            let d = Decimal::new(mantissa, scale);
            let text = d.to_string();
            proptest::prop_assert_eq!(from_json_number(&text).unwrap(), d);
            proptest::prop_assert_eq!(from_json_number(&text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn the_short_plain_path_gives_exactly_what_from_str_gives() {
        use std::str::FromStr;
        for text in [
            "0",
            "7",
            "007",
            "62807.0",
            "0.00000000",
            "0.65540712",
            "105944.20",
            "0.12275",
            "123456789012345678",
            "1234567890.12345678",
            "4294967295",
            "0.1",
        ] {
            let fast = super::plain_short(text).unwrap_or_else(|| panic!("{text} not fast"));
            let slow = Decimal::from_str(text).unwrap();
            assert_eq!(
                (fast, fast.scale(), fast.to_string()),
                (slow, slow.scale(), slow.to_string()),
                "{text}"
            );
        }
        for text in [
            "",
            ".",
            "1.",
            ".5",
            "-1",
            "1.2.3",
            "1e3",
            "1234567890123456789",
            "+1",
            " 1",
        ] {
            assert!(super::plain_short(text).is_none(), "{text}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_short_plain_number_reads_as_from_str_reads_it(int in "[0-9]{1,10}", frac in proptest::option::of("[0-9]{1,8}")) {
            use std::str::FromStr;
            let text = match &frac { Some(f) => format!("{int}.{f}"), None => int.clone() };
            let fast = from_json_number(&text).unwrap();
            let slow = Decimal::from_str(&text).unwrap();
            proptest::prop_assert_eq!((fast, fast.scale()), (slow, slow.scale()));
        }
    }
}
