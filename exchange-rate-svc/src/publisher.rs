//! The publisher (ARCHITECTURE.md §4): one loop, whatever the bus.
//!
//! It drains the feed's queue in batches and hands each batch to a [`BusSink`]: first the
//! newest value per pair into the last-value store, then one announcement per tick, so a
//! consumer that reads the store after hearing a tick never sees an older value. Batching is
//! what keeps publishing from limiting throughput: the slower the bus answers, the bigger the
//! next batch.
//!
//! A bus going away never stops the feed: while the sink is not connected the publisher keeps
//! draining (the feed holds every pair's last value), and once it is back it resyncs at once:
//! every last value, the pair metadata, the status, and an announcement of every pair's current
//! value. The same resync answers a queue overflow. Status goes out at least once a second and
//! on every change.
//!
//! The sink is whatever [`common::bus::Bus`] the service was given (Redis, or the all-in-one
//! binary's in-process bus).

use std::sync::Arc;
use std::time::Duration;

use common::bus::{Bus, BusSink, PairMeta, RateMsg};
use common::shutdown::Shutdown;
use tokio::sync::mpsc;
use tokio::time::{interval, Instant, MissedTickBehavior};

use crate::feed::Feed;

/// Largest batch per write.
const BATCH: usize = 4096;
/// How often to retry a resync while the bus is unhealthy.
const RESYNC_RETRY: Duration = Duration::from_millis(250);

pub struct Publisher {
    bus: Arc<dyn Bus>,
    sink: Box<dyn BusSink>,
    feed: Feed,
    rx: mpsc::Receiver<Arc<RateMsg>>,
}

impl Publisher {
    pub fn new(bus: Arc<dyn Bus>, feed: Feed, rx: mpsc::Receiver<Arc<RateMsg>>) -> Self {
        let sink = bus.sink();
        Publisher {
            bus,
            sink,
            feed,
            rx,
        }
    }

    pub async fn run(mut self, shutdown: Shutdown) {
        let mut status_every = interval(Duration::from_secs(1));
        status_every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut buf: Vec<Arc<RateMsg>> = Vec::with_capacity(BATCH);
        // Start unhealthy: the first thing we do is write the full state.
        let mut healthy = false;
        let mut last_resync_try = Instant::now() - RESYNC_RETRY;
        loop {
            tokio::select! {
                biased;
                _ = shutdown.wait() => break,
                _ = self.sink.reconnected() => {
                    tracing::info!(bus = self.bus.name(), "bus reconnected; resyncing");
                    healthy = false;
                }
                n = self.rx.recv_many(&mut buf, BATCH) => {
                    if n == 0 {
                        break;
                    }
                    if healthy && !self.feed.take_needs_resync() {
                        let meta = self.dirty_meta();
                        match self.sink.publish_rates(&buf, meta.as_deref()).await {
                            // Counted as published only when they went out as ticks.
                            Ok(()) => self.feed.count_published(n as u64),
                            Err(e) => healthy = self.unhealthy(&e),
                        }
                    } else {
                        // The feed holds the last values; the resync below carries them.
                        healthy = false;
                    }
                    buf.clear();
                }
                _ = self.feed.changed() => {
                    if healthy {
                        healthy = self.status().await;
                    }
                }
                _ = status_every.tick() => {
                    if healthy {
                        healthy = self.status().await;
                    }
                }
            }
            if !healthy && last_resync_try.elapsed() >= RESYNC_RETRY && self.bus.is_connected() {
                last_resync_try = Instant::now();
                self.feed.take_needs_resync();
                self.feed.take_meta_dirty();
                let last = self.feed.last_values();
                match self
                    .sink
                    .resync(&last, &self.feed.meta(), &self.feed.status())
                    .await
                {
                    Ok(()) => {
                        metrics::counter!("rategate_bus_resyncs_total", "bus" => self.bus.name())
                            .increment(1);
                        healthy = true;
                        tracing::info!(bus = self.bus.name(), "bus in sync");
                    }
                    Err(e) => healthy = self.unhealthy(&e),
                }
            }
            if !healthy {
                // Wake up again soon even if nothing arrives, to retry the resync.
                tokio::select! {
                    _ = shutdown.wait() => break,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    Some(msg) = self.rx.recv() => buf.push(msg),
                }
                buf.clear();
            }
        }
        // Best effort: tell consumers we are going away.
        if healthy {
            let _ = self.status().await;
        }
    }

    /// The metadata, if it changed since it was last written.
    fn dirty_meta(&self) -> Option<Vec<PairMeta>> {
        self.feed.take_meta_dirty().then(|| self.feed.meta())
    }

    /// Publishes the status (and changed metadata); false if the bus failed.
    async fn status(&self) -> bool {
        let meta = self.dirty_meta();
        match self
            .sink
            .publish_status(&self.feed.status(), meta.as_deref())
            .await
        {
            Ok(()) => true,
            Err(e) => self.unhealthy(&e),
        }
    }

    /// Logs and counts a failed write; always false (the new health).
    fn unhealthy(&self, e: &str) -> bool {
        metrics::counter!("rategate_bus_errors_total", "bus" => self.bus.name()).increment(1);
        tracing::warn!(error = %e, bus = self.bus.name(), "publish failed; will resync when the bus is back");
        false
    }
}
