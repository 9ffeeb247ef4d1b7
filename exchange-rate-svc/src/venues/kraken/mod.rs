//! The Kraken WebSocket v2 connector.
//!
//! - [`wire`]: frame types and parsing (borrowed, exact decimals, tolerant of the real feed);
//!   `fast_book` reads the live feed's compact `book` frames without serde's general scan.
//! - [`connector`](mod@connector): Kraken as a `Protocol` on the shared session loop: the
//!   subscribes, acks and their deadline, ping, book resubscribes, the longer wait during
//!   maintenance.
//! - [`book`]: one symbol's L2 book from `book` snapshots and updates, checked against the
//!   CRC32 checksum Kraken sends with each.
//! - [`rest`]: `AssetPairs` (pair metadata) and `Ticker` (cross-check) over REST, as the
//!   connector's `ExchangeRest`.
//! - [`connector()`]: the connector with its REST side, from the configuration.

pub mod book;
pub mod connector;
mod fast_book;
pub mod rest;
pub mod wire;

pub use connector::KrakenConnector;

/// Kraken's connector as `config` describes it, with its REST side ([`rest::KrakenExchangeRest`]).
pub fn connector(
    config: &crate::config::Config,
) -> anyhow::Result<Box<dyn crate::connector::Connector>> {
    let rest = rest::KrakenRest::new(&config.kraken_rest_url, config.rest_timeout)
        .map_err(|e| anyhow::anyhow!("cannot build the REST client: {e}"))?;
    let kraken = KrakenConnector::new(config.kraken_settings())
        .with_rest(std::sync::Arc::new(rest::KrakenExchangeRest::new(rest)));
    Ok(Box::new(crate::venues::session::VenueConnector::new(
        kraken,
        config.session_settings(),
    )))
}

/// Kraken's REST side alone (pair metadata, the cross-check) when its books are not read.
pub fn rest_only(
    config: &crate::config::Config,
) -> anyhow::Result<Box<dyn crate::connector::Connector>> {
    let rest = rest::KrakenRest::new(&config.kraken_rest_url, config.rest_timeout)
        .map_err(|e| anyhow::anyhow!("cannot build the REST client: {e}"))?;
    Ok(Box::new(crate::connector::RestOnly(std::sync::Arc::new(
        rest::KrakenExchangeRest::new(rest),
    ))))
}
