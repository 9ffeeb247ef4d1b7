//! Scheduled jobs (tokio-cron-scheduler, ARCHITECTURE.md §9), each with metrics for its last run and
//! outcome (`rategate_job_last_run_timestamp_seconds{job}`, `rategate_job_runs_total{job,outcome}`):
//! - `pair_metadata` (hourly): refresh pair metadata from the exchange's REST API;
//! - `crosscheck` (every minute): compare live mids with the REST ticker's mids; a divergence above
//!   `CROSSCHECK_MAX_BPS` is logged, counted and shown in `/status`.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use common::bus::PairMeta;
use common::{Decimal, Pair};
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

use common::telemetry::record_job as record;

use crate::connector::ExchangeRest;
use crate::feed::{CrossCheck, Feed};

/// What the jobs share.
#[derive(Clone)]
pub struct JobContext {
    pub rest: Arc<dyn ExchangeRest>,
    pub feed: Feed,
    pub fallbacks: Arc<HashMap<Pair, PairMeta>>,
    pub max_bps: Decimal,
}

impl JobContext {
    /// Refreshes metadata (fallbacks where the exchange does not answer).
    pub async fn refresh_metadata(&self) -> bool {
        let ok = crate::metadata::refresh(self.rest.as_ref(), &self.feed, &self.fallbacks)
            .await
            .is_ok();
        record("pair_metadata", ok);
        ok
    }

    /// Compares live and REST mids for every pair with both.
    pub async fn crosscheck(&self) -> bool {
        let rest = match self.rest.tickers().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "crosscheck: REST ticker unavailable");
                record("crosscheck", false);
                return false;
            }
        };
        let two = Decimal::TWO;
        for (pair, bid, ask) in rest {
            let Some(live) = self.feed.last_value(&pair) else {
                continue;
            };
            let (Some(rest_mid), Some(live_mid)) = (
                bid.checked_add(ask).and_then(|s| s.checked_div(two)),
                live.bid
                    .checked_add(live.ask)
                    .and_then(|s| s.checked_div(two)),
            ) else {
                continue;
            };
            if live_mid <= Decimal::ZERO {
                continue;
            }
            let Some(bps) = (rest_mid - live_mid)
                .abs()
                .checked_mul(Decimal::from(10_000))
                .and_then(|x| x.checked_div(live_mid))
            else {
                continue;
            };
            let bps = bps.round_dp(2);
            let within_limit = bps <= self.max_bps;
            if !within_limit {
                metrics::counter!("rategate_crosscheck_divergence_total", "pair" => pair.to_string())
                    .increment(1);
                tracing::warn!(%pair, %bps, %rest_mid, %live_mid, "live rate diverges from REST ticker");
            }
            self.feed.set_crosscheck(
                &pair,
                CrossCheck {
                    divergence_bps: bps,
                    within_limit,
                    at: Utc::now(),
                },
            );
        }
        record("crosscheck", true);
        true
    }
}

/// Starts the scheduler with both jobs.
pub async fn start(
    ctx: JobContext,
    metadata_cron: &str,
    crosscheck_cron: &str,
) -> Result<JobScheduler, JobSchedulerError> {
    let scheduler = JobScheduler::new().await?;
    let c = ctx.clone();
    scheduler
        .add(Job::new_async(metadata_cron, move |_, _| {
            let c = c.clone();
            Box::pin(async move {
                c.refresh_metadata().await;
            })
        })?)
        .await?;
    let c = ctx;
    scheduler
        .add(Job::new_async(crosscheck_cron, move |_, _| {
            let c = c.clone();
            Box::pin(async move {
                c.crosscheck().await;
                // Once a minute: the peer faults counted meanwhile, as one DEBUG line.
                common::telemetry::log_peer_faults();
            })
        })?)
        .await?;
    scheduler.start().await?;
    Ok(scheduler)
}
