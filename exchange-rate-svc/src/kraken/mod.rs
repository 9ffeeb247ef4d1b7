//! The Kraken WebSocket v2 connector.
//!
//! - [`wire`]: frame types and parsing (borrowed, exact decimals, tolerant of the real feed).
//! - [`connector`]: the connection loop: subscribe, liveness deadline, ping, acks, backoff.
//! - [`rest`]: `AssetPairs` (pair metadata) and `Ticker` (cross-check) over REST.

pub mod connector;
pub mod rest;
pub mod wire;

pub use connector::KrakenConnector;
