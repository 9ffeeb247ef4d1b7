//! Scheduled jobs (tokio-cron-scheduler, ARCHITECTURE.md §9), each with metrics for its last run and
//! outcome: `purge` (every minute) removes expired refresh tokens, idle throttle keys, quotes
//! that expired unused more than an hour ago, and idempotency records older than 24 h.

use chrono::Utc;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

use crate::state::AppState;

fn record(job: &'static str, ok: bool) {
    let outcome = if ok { "ok" } else { "error" };
    metrics::counter!("rategate_job_runs_total", "job" => job, "outcome" => outcome).increment(1);
    metrics::gauge!("rategate_job_last_run_timestamp_seconds", "job" => job)
        .set(Utc::now().timestamp() as f64);
}

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
