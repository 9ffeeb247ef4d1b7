//! Types and helpers shared by rategate's services.
//!
//! A guided tour:
//! - [`pair`]: [`Pair`], a validated trading pair (`BTC/USD`) that knows its base and quote.
//! - [`decimal`]: decimals as JSON strings on every interface we own, and exact parsing of
//!   exchange JSON numbers without going through `f64`.
//! - [`book`]: order books with exact levels, the walk that prices an amount against a side,
//!   and the consolidated book of several venues (each level keeps its venue).
//! - [`kraken_checksum`]: the CRC32 Kraken sends with every `book` message.
//! - [`bus`]: the bus between the services (ARCHITECTURE.md §4): its versioned messages and key
//!   names, the [`bus::Bus`] trait, and its two implementations, Redis and in-process.
//! - [`config`]: small helpers for reading configuration from the environment; bad config is a
//!   one-line message and exit code 2.
//! - [`telemetry`]: tracing set up once per process.
//! - [`http`]: problem+json, security headers, CORS, `/metrics`: what both HTTP APIs share.
//! - [`openapi`]: every error response documented as problem+json in both OpenAPI documents.
//! - [`drain`]: request bodies a handler left unread are read and discarded, so an early
//!   answer keeps the keep-alive connection.
//! - [`parse_errors`]: hyper's own answers to requests it cannot parse, as problem+json.
//! - [`serve`]: the HTTP listener both services use, with header/body/idle timeouts,
//!   connection caps and accept back-off.
//! - [`shutdown`]: one shutdown signal (SIGTERM / Ctrl-C) shared by servers and tasks.
//! - [`sim`]: the random walk behind `FEED=sim` and the mock exchange.
//! - [`sync`]: mutex and read-write locks taken even after a panic poisoned them.
//! - [`time`]: RFC 3339 timestamps with microseconds, as on the bus.
//! - [`tls`]: one process-wide rustls crypto provider, installed before any TLS client.

pub mod book;
pub mod bus;
pub mod config;
pub mod decimal;
pub mod drain;
pub mod http;
pub mod kraken_checksum;
pub mod openapi;
pub mod pair;
pub mod parse_errors;
pub mod serve;
pub mod shutdown;
pub mod sim;
pub mod sync;
pub mod telemetry;
pub mod time;
pub mod tls;

pub use pair::Pair;
pub use rust_decimal::Decimal;
