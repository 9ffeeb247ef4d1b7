//! The seam between exchanges and the rest of the service.
//!
//! A [`Connector`] owns its connection to one exchange and reports everything it learns into a
//! [`Feed`]; its [`ExchangeRest`] answers the request/response questions (pair metadata, a
//! price snapshot for the cross-check). Nothing else in the service knows which exchange it is:
//! adding an exchange means a new folder under `venues/` beside `kraken/` with its wire types, one `Connector`
//! and, if it has one, one `ExchangeRest`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use common::bus::PairMeta;
use common::shutdown::Shutdown;
use common::{Decimal, Pair};

use crate::feed::Feed;

pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// An exchange's request/response API.
#[async_trait::async_trait]
pub trait ExchangeRest: Send + Sync + 'static {
    /// Metadata of those of `pairs` the exchange lists (the others are left out).
    async fn pair_metadata(&self, pairs: &[Pair]) -> Result<Vec<PairMeta>, String>;
    /// `(pair, bid, ask)` for the pairs the last [`ExchangeRest::pair_metadata`] found.
    async fn tickers(&self) -> Result<Vec<(Pair, Decimal, Decimal)>, String>;
}

pub trait Connector: Send + 'static {
    /// The `source` label on every message (`kraken`, `sim`).
    fn source(&self) -> &'static str;

    /// The exchange's request/response API; `None` for a source without one (the simulation),
    /// which then runs on configured pair metadata and no cross-check.
    fn rest(&self) -> Option<Arc<dyn ExchangeRest>>;

    /// Runs until `shutdown`, reconnecting as needed; reports into `feed`.
    fn run(self: Box<Self>, feed: Feed, shutdown: Shutdown) -> BoxFuture;
}

/// A connector that streams nothing and only lends its REST side (pair metadata).
pub struct RestOnly(pub Arc<dyn ExchangeRest>);

impl Connector for RestOnly {
    fn source(&self) -> &'static str {
        "rest"
    }

    fn rest(&self) -> Option<Arc<dyn ExchangeRest>> {
        Some(self.0.clone())
    }

    fn run(self: Box<Self>, _feed: Feed, _shutdown: Shutdown) -> BoxFuture {
        Box::pin(async {})
    }
}
