//! Tracing, set up once per process from `RUST_LOG` (default `info`), and the process-wide
//! Prometheus recorder behind every `/metrics` (names start with `rategate_`).
//! `LOG_FORMAT=json` switches logs to one JSON object per line for log shippers.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{fmt, EnvFilter};

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder once (tests build many apps in one process) and returns its handle;
/// `None` when another recorder was installed first (e.g. by an embedding program).
pub fn prometheus() -> Option<PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => Some(handle),
            Err(e) => {
                tracing::warn!(error = %e, "metrics recorder not installed");
                None
            }
        })
        .clone()
}

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = fmt().with_env_filter(filter).with_target(true);
    // try_init fails only if a subscriber is already set (tests, or the all-in-one binary).
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// For tests: logs to the test writer at `RUST_LOG` or `warn`.
pub fn init_for_tests() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = fmt().with_env_filter(filter).with_test_writer().try_init();
}

/// Records a scheduled job's run: `rategate_job_runs_total{job,outcome}` and
/// `rategate_job_last_run_timestamp_seconds{job}`, the same on both services.
pub fn record_job(job: &'static str, ok: bool) {
    let outcome = if ok { "ok" } else { "error" };
    metrics::counter!("rategate_job_runs_total", "job" => job, "outcome" => outcome).increment(1);
    // Seconds since the epoch fit an f64 exactly for the next few million years.
    metrics::gauge!("rategate_job_last_run_timestamp_seconds", "job" => job)
        .set(chrono::Utc::now().timestamp() as f64);
}
