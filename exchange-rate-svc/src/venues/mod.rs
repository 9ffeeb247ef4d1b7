//! One folder per venue, each with its wire types and what keeps its L2 book in sync.
//!
//! - [`kraken`]: WebSocket v2 (`book` with its CRC32 checksum; `ticker`, the rate itself with
//!   `RATES_FROM=ticker`), REST `AssetPairs`/`Ticker`.
//! - [`coinbase`]: Advanced Trade `level2` + `heartbeats` frames and the per-connection
//!   `sequence_num` check.
//! - [`bitstamp`]: v2 `diff_order_book_{pair}` diffs, the REST snapshot, and the rule that
//!   joins them (diffs older than the snapshot are dropped).
//! - [`session`]: the session loop all three share; each brings only a
//!   [`session::Protocol`] (URL, requests, what a frame means).
//!
//! Every book is a [`common::book::Book`]: exact `Decimal` levels parsed from the wire's text.

pub mod bitstamp;
pub mod coinbase;
pub mod kraken;
pub mod session;

/// Why a venue's frame could not be read; every parser answers with one, never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("frame is not JSON")]
    NotJson,
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("bad number in field {field}: {text:?}")]
    BadNumber { field: &'static str, text: String },
    /// A value outside the field's known set (a `system` status, a `side`).
    #[error("unknown {field} {value:?}")]
    Unknown { field: &'static str, value: String },
}

/// A price or quantity from its wire text (a JSON number's raw text or a string), exactly.
pub(crate) fn number(field: &'static str, text: &str) -> Result<rust_decimal::Decimal, WireError> {
    common::decimal::from_json_number(text).map_err(|_| WireError::BadNumber {
        field,
        text: text.chars().take(40).collect(),
    })
}

/// A captured frame from `tests/fixtures/venues/`.
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/venues/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
