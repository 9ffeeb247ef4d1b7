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
//! on every change. Consolidated books that changed go out at most `BOOK_PUBLISH_HZ` times a
//! second per pair (conflated: only the newest of each pair), fenced like every other write.
//!
//! The sink is whatever [`common::bus::Bus`] the service was given (Redis, or the all-in-one
//! binary's in-process bus).
//!
//! On a bus several exchange-rate-svc share (Redis), only the holder of the feed lease
//! publishes ([`common::bus::lease`]). Every instance keeps its exchange connection and its
//! last values warm; a standby tries to take the lease every quarter TTL and, once it has it,
//! resyncs everything under its own epoch at once. The leader renews every quarter TTL and
//! stands by as soon as it learns the lease is not its own: a renewal that fails, no renewal
//! for a whole TTL, or a write the lease refused (every write is fenced, so a leader that
//! stalled past its lease publishes nothing, whatever it believes).

use std::sync::Arc;
use std::time::Duration;

use common::bus::lease::Lease;
use common::bus::{Bus, BusSink, FeedRole, PairMeta, RateMsg, SinkError};
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
    /// The feed lease, on a bus several publishers share.
    lease: Option<Lease>,
    lease_ttl: Duration,
    /// Consolidated books go out at most once per this, per pair.
    book_every: Duration,
}

impl Publisher {
    /// On a shared bus the publisher starts as a standby and leads once it holds the feed
    /// lease (`lease_ttl`); on the in-process bus it leads from the start.
    pub fn new(
        bus: Arc<dyn Bus>,
        feed: Feed,
        rx: mpsc::Receiver<Arc<RateMsg>>,
        lease_ttl: Duration,
        book_every: Duration,
    ) -> Self {
        let (lease, sink) = match bus.leader_sink(feed.epoch(), lease_ttl) {
            Some((lease, sink)) => {
                feed.set_role(FeedRole::Standby);
                (Some(lease), sink)
            }
            None => (None, bus.sink()),
        };
        Publisher {
            bus,
            sink,
            feed,
            rx,
            lease,
            lease_ttl,
            book_every,
        }
    }

    fn leads(&self) -> bool {
        self.feed.role() == FeedRole::Leader
    }

    pub async fn run(mut self, shutdown: Shutdown) {
        let mut status_every = interval(Duration::from_secs(1));
        status_every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut buf: Vec<Arc<RateMsg>> = Vec::with_capacity(BATCH);
        // Start unhealthy: the first thing we do is write the full state. Healthy only while
        // leading: it turns true only in a resync, which a standby never runs, and every step
        // down turns it false. So a standby drains ticks and sends no status below.
        let mut healthy = false;
        let mut last_resync_try = Instant::now() - RESYNC_RETRY;
        let mut lease_every = interval(self.lease_ttl / 4);
        lease_every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut renewed = Instant::now();
        let mut books_every = interval(self.book_every);
        books_every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let consolidates = self.feed.consolidates();
        loop {
            tokio::select! {
                biased;
                _ = shutdown.wait() => break,
                _ = lease_every.tick(), if self.lease.is_some() => {
                    healthy = self.hold_lease(&mut renewed, healthy).await;
                }
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
                            Err(e) => healthy = self.failed(&e),
                        }
                    } else {
                        // The feed holds the last values; the resync (after a takeover, for a
                        // standby) carries them.
                        healthy = false;
                    }
                    buf.clear();
                }
                _ = self.feed.changed() => {
                    if healthy {
                        healthy = self.status().await && self.books().await;
                    }
                }
                _ = status_every.tick() => {
                    if healthy {
                        healthy = self.status().await;
                    }
                }
                _ = books_every.tick(), if consolidates => {
                    if healthy {
                        healthy = self.books().await;
                    }
                }
            }
            if !self.leads() {
                continue;
            }
            if !healthy && last_resync_try.elapsed() >= RESYNC_RETRY && self.bus.is_connected() {
                last_resync_try = Instant::now();
                self.feed.take_needs_resync();
                self.feed.take_meta_dirty();
                let last = self.feed.last_values();
                let books = self.feed.all_books();
                let written = match self
                    .sink
                    .resync(&last, &self.feed.meta(), &self.feed.status())
                    .await
                {
                    Ok(()) if books.is_empty() => Ok(()),
                    Ok(()) => self.sink.publish_books(&books).await,
                    Err(e) => Err(e),
                };
                match written {
                    Ok(()) => {
                        metrics::counter!("rategate_bus_resyncs_total", "bus" => self.bus.name())
                            .increment(1);
                        healthy = true;
                        tracing::info!(bus = self.bus.name(), "bus in sync");
                    }
                    Err(e) => healthy = self.failed(&e),
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
        // Best effort: tell consumers we are going away, and hand the lease over at once.
        if healthy {
            let _ = self.status().await;
        }
        if let (Some(lease), true) = (&self.lease, self.leads()) {
            let _ = lease.release().await;
        }
    }

    /// Renews the feed lease (as the leader) or tries to take it (as a standby); returns the
    /// new health (false after a takeover: the next step resyncs under our epoch).
    async fn hold_lease(&self, renewed: &mut Instant, healthy: bool) -> bool {
        let Some(lease) = &self.lease else {
            return healthy;
        };
        match lease.acquire_or_renew().await {
            Ok(true) => {
                *renewed = Instant::now();
                if !self.leads() {
                    self.feed.set_role(FeedRole::Leader);
                    metrics::counter!("rategate_feed_takeovers_total").increment(1);
                    tracing::info!(epoch = lease.epoch(), "took the feed lease: publishing");
                    return false;
                }
                healthy
            }
            Ok(false) => {
                if self.leads() {
                    self.stand_by("the feed lease is another's");
                }
                false
            }
            Err(e) => {
                if self.leads() && renewed.elapsed() >= self.lease_ttl {
                    self.stand_by("could not renew the feed lease within its TTL");
                    return false;
                }
                tracing::warn!(error = %e, "feed lease check failed");
                healthy
            }
        }
    }

    fn stand_by(&self, why: &str) {
        self.feed.set_role(FeedRole::Standby);
        metrics::counter!("rategate_feed_step_downs_total").increment(1);
        tracing::warn!(reason = why, "standing by: not publishing");
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
            Err(e) => self.failed(&e),
        }
    }

    /// Publishes the consolidated books that changed; false if the bus failed.
    async fn books(&self) -> bool {
        let books = self.feed.take_dirty_books();
        if books.is_empty() {
            return true;
        }
        match self.sink.publish_books(&books).await {
            Ok(()) => true,
            Err(e) => self.failed(&e),
        }
    }

    /// Logs and counts a failed write, standing by if the lease refused it; always false (the
    /// new health).
    fn failed(&self, e: &SinkError) -> bool {
        if *e == SinkError::NotLeader {
            self.stand_by("a write was refused: the feed lease is another's");
            return false;
        }
        metrics::counter!("rategate_bus_errors_total", "bus" => self.bus.name()).increment(1);
        tracing::warn!(error = %e, bus = self.bus.name(), "publish failed; will resync when the bus is back");
        false
    }
}
