//! Timestamps on the bus: RFC 3339, UTC, microsecond precision (`2026-09-25T17:48:26.844359Z`).

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats a time the way the bus carries it.
pub fn rfc3339_micros(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `#[serde(with = "common::time::micros")]` for `DateTime<Utc>`.
pub mod micros {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::rfc3339_micros(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}
