//! [`Pair`]: a trading pair checked at construction.
//!
//! The canonical form is `BASE/QUOTE` in upper case (`BTC/USD`, Kraken v2's spelling). Inputs may
//! use `/`, `_` or `-` as the separator and any case (`BTC_USD`, `btc-usd`), because URLs and the
//! original system's event keys use those. The wire key of the original system (`BTC_USD`) is
//! [`Pair::key`]. Cloning is cheap (an `Arc<str>`), because pairs travel with every tick.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest asset code we accept (Kraken's are at most 10 characters today).
const MAX_ASSET_LEN: usize = 16;

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pair {
    /// `BASE/QUOTE`, upper case.
    symbol: Arc<str>,
    /// Byte index of the `/` in `symbol`.
    slash: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pair {input:?}: expected BASE/QUOTE such as BTC/USD (or BTC_USD, btc-usd)")]
pub struct PairError {
    pub input: String,
}

impl Pair {
    /// Parses `BTC/USD`, `BTC_USD`, `btc-usd` and the like.
    pub fn parse(input: &str) -> Result<Pair, PairError> {
        let err = || PairError {
            input: input.chars().take(64).collect(),
        };
        let trimmed = input.trim();
        let mut parts = trimmed.split(['/', '_', '-']);
        let (Some(base), Some(quote), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(err());
        };
        let valid = |s: &str| {
            !s.is_empty()
                && s.len() <= MAX_ASSET_LEN
                && s.bytes().all(|b| b.is_ascii_alphanumeric())
        };
        if !valid(base) || !valid(quote) {
            return Err(err());
        }
        let symbol = format!(
            "{}/{}",
            base.to_ascii_uppercase(),
            quote.to_ascii_uppercase()
        );
        Ok(Pair {
            slash: base.len(),
            symbol: symbol.into(),
        })
    }

    /// `BTC/USD`.
    pub fn as_str(&self) -> &str {
        &self.symbol
    }

    /// `BTC`.
    pub fn base(&self) -> &str {
        &self.symbol[..self.slash]
    }

    /// `USD`.
    pub fn quote(&self) -> &str {
        &self.symbol[self.slash + 1..]
    }

    /// `BTC_USD`: the key used in `rates:live` payloads and `/api/rates`.
    pub fn key(&self) -> String {
        format!("{}_{}", self.base(), self.quote())
    }

    /// Parses a comma-separated list (`PAIRS`), rejecting duplicates and an empty list.
    pub fn parse_list(input: &str) -> Result<Vec<Pair>, PairError> {
        let mut pairs: Vec<Pair> = Vec::new();
        for item in crate::config::items(input) {
            let pair = Pair::parse(item)?;
            if !pairs.contains(&pair) {
                pairs.push(pair);
            }
        }
        if pairs.is_empty() {
            return Err(PairError {
                input: input.to_string(),
            });
        }
        Ok(pairs)
    }
}

impl fmt::Display for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.symbol)
    }
}

impl fmt::Debug for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pair({})", self.symbol)
    }
}

impl FromStr for Pair {
    type Err = PairError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Pair::parse(s)
    }
}

impl Serialize for Pair {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.symbol)
    }
}

/// In the OpenAPI documents: the canonical `BASE/QUOTE` string we send.
impl utoipa::PartialSchema for Pair {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("A pair as `BASE/QUOTE`, upper case."))
            .examples(["BTC/USD"])
            .into()
    }
}

impl utoipa::ToSchema for Pair {}

impl<'de> Deserialize<'de> for Pair {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(deserializer)?;
        Pair::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_spellings_users_and_urls_use() {
        // TC0: canonical, TC1: underscore key, TC2: lower case with dash, TC3: padded.
        for (input, base, quote) in [
            ("BTC/USD", "BTC", "USD"),
            ("BTC_USD", "BTC", "USD"),
            ("btc-usd", "BTC", "USD"),
            ("  eth/eur ", "ETH", "EUR"),
            ("USDT/USD", "USDT", "USD"),
        ] {
            let pair = Pair::parse(input).unwrap();
            assert_eq!(pair.base(), base, "{input}");
            assert_eq!(pair.quote(), quote, "{input}");
            assert_eq!(pair.as_str(), format!("{base}/{quote}"));
            assert_eq!(pair.key(), format!("{base}_{quote}"));
        }
    }

    #[test]
    fn rejects_what_is_not_a_pair() {
        for input in [
            "",
            "BTC",
            "BTCUSD",
            "BTC/",
            "/USD",
            "BTC/USD/EUR",
            "BT C/USD",
            "BTC/US$",
            "ÄBC/USD",
            "AAAAAAAAAAAAAAAAA/USD",
        ] {
            assert!(Pair::parse(input).is_err(), "{input:?} should be rejected");
        }
    }

    #[test]
    fn list_parsing_dedups_and_requires_one() {
        let pairs = Pair::parse_list("BTC/USD, eth_usd,BTC-USD,").unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[1].as_str(), "ETH/USD");
        assert!(Pair::parse_list(" , ").is_err());
        assert!(Pair::parse_list("BTC/USD,nope").is_err());
    }

    #[test]
    fn serde_round_trip_is_canonical() {
        let pair: Pair = serde_json::from_str("\"btc_usd\"").unwrap();
        assert_eq!(serde_json::to_string(&pair).unwrap(), "\"BTC/USD\"");
        assert!(serde_json::from_str::<Pair>("\"nope\"").is_err());
    }
}
