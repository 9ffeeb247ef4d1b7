//! [`DecimalField`]: a decimal field of a request body. Every interface we own takes decimals
//! as JSON strings (`"0.01"`); this type accepts any JSON there, so a number or a wrong type is
//! answered with the field's name (422), not as a malformed body (400), and parses the string
//! exactly (`common::decimal::parse_plain`): never rounded.

use common::decimal::{parse_plain, DecimalError};
use common::Decimal;
use serde::Deserialize;

use crate::http::error::ApiError;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct DecimalField(serde_json::Value);

/// Why a decimal field was refused.
#[derive(Debug)]
pub enum FieldError {
    /// Well formed, but with more digits than can be kept exactly: a caller that knows the
    /// allowed step says so; otherwise it is a plain validation error.
    TooPrecise(String),
    Invalid(ApiError),
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> ApiError {
        match e {
            FieldError::TooPrecise(name) => {
                ApiError::Validation(format!("{name} has more decimal places than allowed"))
            }
            FieldError::Invalid(e) => e,
        }
    }
}

impl DecimalField {
    /// The value, or why `name` is refused.
    pub fn parse(&self, name: &str) -> Result<Decimal, FieldError> {
        let invalid = || {
            FieldError::Invalid(ApiError::Validation(format!(
                "{name} must be a decimal string such as \"0.5\" ({})",
                common::decimal::DECIMAL_SYNTAX
            )))
        };
        match &self.0 {
            serde_json::Value::String(s) => parse_plain(s).map_err(|e| match e {
                DecimalError::TooPrecise(_) => FieldError::TooPrecise(name.to_string()),
                DecimalError::Invalid(_) => invalid(),
            }),
            _ => Err(invalid()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(json: &str) -> DecimalField {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn strings_parse_exactly_and_everything_else_is_named() {
        assert_eq!(
            field(r#""0.01""#).parse("amount").unwrap().to_string(),
            "0.01"
        );
        for bad in [
            "0.01", "null", "[]", r#""1e5""#, r#""""#, r#""01""#, r#""1.""#, r#"".5""#,
        ] {
            match field(bad).parse("amount") {
                Err(FieldError::Invalid(ApiError::Validation(m))) => {
                    assert!(m.starts_with("amount "), "{m}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert!(matches!(
            field(r#""0.00010000000000000000000000000001""#).parse("amount"),
            Err(FieldError::TooPrecise(_))
        ));
    }
}
