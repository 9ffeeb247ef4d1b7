//! [`MemorySink`]: the bus in one process (the all-in-one binary without `REDIS_URL`), with
//! the Redis bus's order: last values before announcements, metadata when it changes, status.
//! It cannot lose a connection, so it never fails; a resync re-announces every pair's current
//! value, which is what brings live subscribers up to date after a queue overflow.

use std::sync::Arc;

use common::bus::{PairMeta, RateMsg, StatusMsg};
use common::membus::MemoryBus;

use super::BusSink;

pub struct MemorySink {
    bus: MemoryBus,
}

impl MemorySink {
    pub fn new(bus: MemoryBus) -> Self {
        MemorySink { bus }
    }
}

#[async_trait::async_trait]
impl BusSink for MemorySink {
    fn name(&self) -> &'static str {
        "in-process"
    }

    fn is_connected(&self) -> bool {
        true
    }

    async fn reconnected(&mut self) {
        std::future::pending::<()>().await
    }

    async fn publish_rates(
        &self,
        batch: &[Arc<RateMsg>],
        meta: Option<&[PairMeta]>,
    ) -> Result<(), String> {
        if let Some(meta) = meta {
            self.bus.set_pairs(meta.iter().cloned());
        }
        self.bus.publish_rates(batch);
        Ok(())
    }

    async fn publish_status(
        &self,
        status: &StatusMsg,
        meta: Option<&[PairMeta]>,
    ) -> Result<(), String> {
        if let Some(meta) = meta {
            self.bus.set_pairs(meta.iter().cloned());
        }
        self.bus.publish_status(status.clone());
        Ok(())
    }

    async fn resync(
        &self,
        last: &[Arc<RateMsg>],
        meta: &[PairMeta],
        status: &StatusMsg,
    ) -> Result<(), String> {
        self.bus.set_pairs(meta.iter().cloned());
        self.bus.publish_status(status.clone());
        if !last.is_empty() {
            self.bus.publish_rates(last);
        }
        metrics::counter!("rategate_bus_resyncs_total").increment(1);
        Ok(())
    }
}
