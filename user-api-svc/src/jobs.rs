//! Scheduled jobs (tokio-cron-scheduler, DESIGN §9), each with metrics for its last run and
//! outcome: `purge` (every minute) removes expired refresh tokens and idle throttle keys.
//! (Quotes and idempotency records join it with the orders.)

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
    match state.store.purge_expired_refresh_tokens(Utc::now()).await {
        Ok(n) => {
            record("purge", true);
            Some(n)
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
