//! The publisher for the in-process bus (the all-in-one binary without `REDIS_URL`).
//!
//! Same duties as the Redis [`crate::publisher`], in the same order: the newest value per pair
//! goes into the last-value map before the ticks are announced, pair metadata is written when
//! it changes, and status goes out at least once a second and on every change. There is no
//! connection to lose, so there is no resync: a queue overflow is answered by re-announcing
//! every pair's current value, which is what a resync does for live subscribers.

use std::sync::Arc;
use std::time::Duration;

use common::bus::RateMsg;
use common::membus::MemoryBus;
use common::shutdown::Shutdown;
use tokio::sync::mpsc;
use tokio::time::{interval, MissedTickBehavior};

use crate::feed::Feed;

/// Largest batch taken from the queue at once.
const BATCH: usize = 4096;

pub struct MemoryPublisher {
    bus: MemoryBus,
    feed: Feed,
    rx: mpsc::Receiver<Arc<RateMsg>>,
}

impl MemoryPublisher {
    pub fn new(bus: MemoryBus, feed: Feed, rx: mpsc::Receiver<Arc<RateMsg>>) -> Self {
        MemoryPublisher { bus, feed, rx }
    }

    pub async fn run(mut self, shutdown: Shutdown) {
        let mut status_every = interval(Duration::from_secs(1));
        status_every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut buf: Vec<Arc<RateMsg>> = Vec::with_capacity(BATCH);
        self.write_meta(true);
        self.bus.publish_status(self.feed.status());
        loop {
            tokio::select! {
                biased;
                _ = shutdown.wait() => break,
                n = self.rx.recv_many(&mut buf, BATCH) => {
                    if n == 0 {
                        break;
                    }
                    self.write_meta(false);
                    if self.feed.take_needs_resync() {
                        // The queue overflowed: some ticks were never queued. Every pair's
                        // current value brings subscribers up to date.
                        self.bus.publish_rates(&self.feed.last_values());
                        metrics::counter!("rategate_bus_resyncs_total").increment(1);
                    } else {
                        self.bus.publish_rates(&buf);
                        // Counted like the Redis publisher: ticks published as ticks.
                        self.feed.count_published(n as u64);
                    }
                    buf.clear();
                }
                _ = self.feed.changed() => self.status(),
                _ = status_every.tick() => self.status(),
            }
        }
        // Tell consumers we are going away with a last status.
        self.status();
    }

    fn status(&self) {
        self.write_meta(false);
        self.bus.publish_status(self.feed.status());
    }

    fn write_meta(&self, force: bool) {
        if self.feed.take_meta_dirty() || force {
            self.bus.set_pairs(self.feed.meta());
        }
    }
}
