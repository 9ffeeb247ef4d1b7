//! `exchange-rate-svc`: reads config from the environment, runs until SIGTERM / Ctrl-C.

use exchange_rate_svc::{Application, Config};

/// mimalloc gives freed memory back to the system (glibc kept a burst's peak resident:
/// BENCHMARKS.md "Hardening").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    common::telemetry::init("info");
    let config = common::config::exit_on_error(Config::from_env());
    let app = common::config::or_exit("exchange-rate-svc", 1, Application::build(config).await);
    common::shutdown::trigger_on_signal(app.shutdown_handle());
    app.run_until_stopped().await;
}
