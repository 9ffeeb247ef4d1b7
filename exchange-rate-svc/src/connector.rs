//! The seam between exchanges and the rest of the service.
//!
//! A [`Connector`] owns its connection to one exchange and reports everything it learns into a
//! [`Feed`]; nothing else in the service knows which exchange it is. Adding an exchange means a
//! new folder beside `kraken/` with its wire types and one `Connector` impl.

use std::future::Future;
use std::pin::Pin;

use common::shutdown::Shutdown;

use crate::feed::Feed;

pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

pub trait Connector: Send + 'static {
    /// The `source` label on every message (`kraken`, `sim`).
    fn source(&self) -> &'static str;

    /// Runs until `shutdown`, reconnecting as needed; reports into `feed`.
    fn run(self: Box<Self>, feed: Feed, shutdown: Shutdown) -> BoxFuture;
}
