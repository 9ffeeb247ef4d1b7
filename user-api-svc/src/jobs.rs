//! Scheduled jobs (tokio-cron-scheduler, ARCHITECTURE.md §9), each with metrics for its last run and
//! outcome: `purge` (every minute) removes expired refresh tokens, idle throttle keys, quotes
//! that expired unused more than an hour ago, and idempotency records older than 24 h.

use chrono::Utc;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

use common::telemetry::record_job as record;

use crate::state::AppState;

/// One purge pass; returns how many refresh tokens went.
pub async fn purge(state: &AppState) -> Option<u64> {
    state.throttle.shrink();
    let now = Utc::now();
    let money = state
        .store
        .purge_money(
            now - chrono::Duration::hours(1),
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

pub async fn start(state: AppState) -> Result<JobScheduler, JobSchedulerError> {
    let scheduler = JobScheduler::new().await?;
    scheduler
        .add(Job::new_async("0 * * * * *", move |_, _| {
            let state = state.clone();
            Box::pin(async move {
                purge(&state).await;
            })
        })?)
        .await?;
    scheduler.start().await?;
    Ok(scheduler)
}
