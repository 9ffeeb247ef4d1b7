//! The bus side of live rates: one loop ([`follow`]) over whichever [`BusSource`] the
//! service's [`common::bus::Bus`] gave it (Redis or in-process).
//!
//! The source yields what it heard: rates, status, metadata, another node's spread change, or
//! [`Heard::Resync`] when something may have been missed (pub/sub is at-most-once,
//! ARCHITECTURE.md §4); the loop then re-reads the last values, metadata and status
//! ([`BusSource::snapshot`]) into the hub.

use std::sync::Arc;

use common::bus::{BusSource, Heard};
use common::shutdown::Shutdown;

use super::RateHub;

/// Loads a snapshot into the hub; how many rates it held.
async fn load(source: &dyn BusSource, hub: &RateHub) -> Result<usize, String> {
    let snap = source.snapshot().await?;
    for m in snap.metas {
        hub.on_meta(m);
    }
    if let Some(s) = snap.status {
        hub.on_status(s);
    }
    let n = snap.rates.len();
    for r in snap.rates {
        hub.on_rate(r);
    }
    for b in snap.books {
        hub.on_book(b);
    }
    Ok(n)
}

/// Runs until shutdown (or the source closes); `on_spreads_changed` gets the id of a node that
/// changed spreads.
pub async fn follow<F, Fut>(
    mut source: Box<dyn BusSource>,
    hub: Arc<RateHub>,
    shutdown: Shutdown,
    on_spreads_changed: F,
) where
    F: Fn(String) -> Fut + Send + Sync,
    Fut: std::future::Future<Output = ()> + Send,
{
    loop {
        let heard = tokio::select! {
            _ = shutdown.wait() => break,
            heard = source.next() => heard,
        };
        match heard {
            Heard::Rate(r) => hub.on_rate(r),
            Heard::Book(b) => hub.on_book(b),
            Heard::Status(s) => hub.on_status(s),
            Heard::Meta(metas) => metas.into_iter().for_each(|m| hub.on_meta(m)),
            Heard::SpreadsChanged(node) => on_spreads_changed(node).await,
            Heard::Resync => match load(source.as_ref(), &hub).await {
                Ok(n) => tracing::debug!(rates = n, "loaded the bus's last values"),
                Err(e) => {
                    tracing::warn!(error = %e, "reading the bus's last values failed; will retry")
                }
            },
            Heard::Closed => break,
        }
    }
    source.close().await;
}
