//! Scheduled jobs (tokio-cron-scheduler, ARCHITECTURE.md §9), each with metrics for its last run and
//! outcome: `purge` (every minute) removes expired refresh tokens, quotes that expired unused
//! more than `QUOTE_PURGE_AFTER_S` ago (2 min), the idempotency records of refused orders as
//! old, and every other idempotency record after 24 h, once per cluster: each
//! minute's run is claimed by one node ([`crate::cluster::Cluster::claim_run`]). The deletes
//! are idempotent too, so a run repeated by accident would do no harm. Every node drops its
//! own idle in-memory throttle keys.
//!
//! `candles` (2 s past every minute) closes the minute that ended: every node takes its closed
//! minutes out of its recorder, and the node that claims the minute stores them (with their
//! 5 m and 1 h roll-ups) and purges candles past `CANDLE_RETENTION_DAYS`. A node that started
//! during that minute holds only part of it; if it wins the claim, that minute's candle is
//! partial (the roll-ups stay right in high/low only for what it saw).

use chrono::{DateTime, Utc};
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

use common::telemetry::record_job as record;

use crate::state::AppState;

/// How long a claim on one run is kept: well past the minute it belongs to.
const CLAIM_HOLD: std::time::Duration = std::time::Duration::from_secs(300);

/// The scheduled purge: this node's own housekeeping, then the database purge if this node
/// claims this minute's run. `None` when another node has it.
pub async fn scheduled_purge(state: &AppState) -> Option<u64> {
    state.throttle.shrink();
    state.budgets.shrink();
    // This node's peer faults of the last minute, as one DEBUG line (common::telemetry).
    common::telemetry::log_peer_faults();
    let slot = Utc::now().timestamp().div_euclid(60);
    if !state.cluster.claim_run("purge", slot, CLAIM_HOLD).await {
        return None;
    }
    purge(state).await
}

/// One purge pass; returns how many refresh tokens went.
pub async fn purge(state: &AppState) -> Option<u64> {
    let now = Utc::now();
    let money = state
        .store
        .purge_money(
            now - state.config.quote_purge_after,
            now - chrono::Duration::hours(24),
        )
        .await;
    if let Ok((quotes, keys)) = money {
        tracing::debug!(quotes, keys, "purged old quotes and idempotency records");
    }
    match state.store.purge_expired_refresh_tokens(now).await {
        Ok(n) if money.is_ok() => {
            record("purge", true);
            Some(n)
        }
        Ok(_) => {
            record("purge", false);
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "purge failed");
            record("purge", false);
            None
        }
    }
}

/// The scheduled candle close at `now`: `Some(candles stored)` on the node that claimed the
/// minute, `None` elsewhere or on failure.
pub async fn close_candles(state: &AppState, now: DateTime<Utc>) -> Option<usize> {
    use crate::candles::Interval;
    let closed = common::sync::lock(&state.hub.candles).take_closed(now);
    let slot = Interval::M1.start_of(now).timestamp().div_euclid(60);
    if !state.cluster.claim_run("candles", slot, CLAIM_HOLD).await {
        return None;
    }
    if let Err(e) = state.store.save_candles(&closed).await {
        tracing::warn!(error = %e, candles = closed.len(), "storing the closed minute failed");
        record("candles", false);
        return None;
    }
    let keep = chrono::Duration::from_std(state.config.candle_retention).unwrap_or_default();
    for (interval, factor) in [(Interval::M1, 1), (Interval::M5, 5), (Interval::H1, 60)] {
        if let Err(e) = state
            .store
            .purge_candles(interval, now - keep * factor)
            .await
        {
            tracing::warn!(error = %e, "purging old candles failed");
        }
    }
    record("candles", true);
    Some(closed.len())
}

pub async fn start(state: AppState) -> Result<JobScheduler, JobSchedulerError> {
    let scheduler = JobScheduler::new().await?;
    let closer = state.clone();
    scheduler
        .add(Job::new_async("2 * * * * *", move |_, _| {
            let state = closer.clone();
            Box::pin(async move {
                close_candles(&state, Utc::now()).await;
            })
        })?)
        .await?;
    scheduler
        .add(Job::new_async("0 * * * * *", move |_, _| {
            let state = state.clone();
            Box::pin(async move {
                scheduled_purge(&state).await;
            })
        })?)
        .await?;
    scheduler.start().await?;
    Ok(scheduler)
}
