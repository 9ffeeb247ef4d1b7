//! Tracing, set up once per process from `RUST_LOG` (default `info`), and the process-wide
//! Prometheus recorder behind every `/metrics` (names start with `rategate_`).
//! `LOG_FORMAT=json` switches logs to one JSON object per line for log shippers.
//!
//! **Peer faults** are not the server's: a client's bad Socket.IO packets, an HTTP/2 peer
//! resetting streams too fast. The libraries that see them (socketioxide, engineioxide, h2,
//! hyper) log each one at WARN or ERROR, so one client could write thousands of lines a second.
//! Their events are kept out of the log unless `RUST_LOG` names the library; every WARN/ERROR
//! of theirs is counted instead (`rategate_peer_faults_total{source}`), and
//! [`log_peer_faults`] writes one DEBUG line with the counts per interval (the services call it
//! every minute).

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// Libraries whose WARN and ERROR events are peer faults (see the module doc).
pub const PEER_FAULT_SOURCES: [&str; 4] = ["socketioxide", "engineioxide", "h2", "hyper"];

/// Peer faults counted since the last [`log_peer_faults`], per source.
static PEER_FAULTS: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());

/// Counts the peer-fault sources' WARN and ERROR events (it writes nothing).
pub struct PeerFaultCounter;

impl<S: tracing::Subscriber> Layer<S> for PeerFaultCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() > tracing::Level::WARN {
            return;
        }
        let target = meta.target();
        let Some(source) = PEER_FAULT_SOURCES.iter().find(|s| {
            target
                .strip_prefix(**s)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        }) else {
            return;
        };
        metrics::counter!("rategate_peer_faults_total", "source" => *source).increment(1);
        let mut counts = crate::sync::lock(&PEER_FAULTS);
        *counts.entry(source).or_default() += 1;
    }
}

/// `RUST_LOG` (or `default_filter`), with the peer-fault sources off unless it names them.
pub fn filter_for(spec: &str) -> EnvFilter {
    let mut filter = EnvFilter::new(spec);
    for source in PEER_FAULT_SOURCES {
        if !spec.contains(source) {
            if let Ok(off) = format!("{source}=off").parse() {
                filter = filter.add_directive(off);
            }
        }
    }
    filter
}

/// Writes the peer faults counted since the last call as one DEBUG line (nothing if none);
/// returns them.
pub fn log_peer_faults() -> BTreeMap<&'static str, u64> {
    let counts = std::mem::take(&mut *crate::sync::lock(&PEER_FAULTS));
    if !counts.is_empty() {
        tracing::debug!(target: "rategate::peer_faults", ?counts, "peer faults since the last report (their own log lines are off)");
    }
    counts
}

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
    let spec = std::env::var("RUST_LOG").unwrap_or_else(|_| default_filter.to_string());
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let output = if json {
        fmt::layer().json().with_target(true).boxed()
    } else {
        fmt::layer().with_target(true).boxed()
    };
    // try_init fails only if a subscriber is already set (tests, or the all-in-one binary).
    let _ = tracing_subscriber::registry()
        .with(PeerFaultCounter)
        .with(output.with_filter(filter_for(&spec)))
        .try_init();
}

/// For tests: logs to the test writer at `RUST_LOG` or `warn`.
pub fn init_for_tests() {
    let spec = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_string());
    let _ = tracing_subscriber::registry()
        .with(PeerFaultCounter)
        .with(
            fmt::layer()
                .with_test_writer()
                .with_filter(filter_for(&spec)),
        )
        .try_init();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Collects what the formatting layer writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_flood_of_peer_faults_is_counted_not_written() {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::registry().with(PeerFaultCounter).with(
            fmt::layer()
                .with_writer(move || writer.clone())
                .with_filter(filter_for("info")),
        );
        tracing::subscriber::with_default(subscriber, || {
            log_peer_faults();
            for _ in 0..1000 {
                tracing::error!(target: "socketioxide::client", "error while sending invalid namespace packet");
            }
            tracing::warn!(target: "h2::proto::streams::streams", "locally-reset streams reached limit");
            tracing::info!(target: "socketioxide::client", "not a fault");
            tracing::error!(target: "rategate::server", "a fault of ours");
        });
        let written = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(written.lines().count(), 1, "{written}");
        assert!(written.contains("a fault of ours"));
        let counts = log_peer_faults();
        assert_eq!(counts.get("socketioxide"), Some(&1000));
        assert_eq!(counts.get("h2"), Some(&1));
        assert!(
            log_peer_faults().is_empty(),
            "counts restart after each report"
        );
        // An operator who asks for a library's logs gets them.
        let spec = filter_for("info,socketioxide=debug").to_string();
        assert!(!spec.contains("socketioxide=off"), "{spec}");
    }
}
