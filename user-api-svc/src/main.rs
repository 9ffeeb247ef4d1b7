//! `user-api-svc`            run the service (config from the environment)
//! `user-api-svc create-admin --email EMAIL`   create an admin; the password comes from
//!                           `ADMIN_PASSWORD` or, if unset, one line on standard input.

use user_api_svc::{Application, Config};

/// mimalloc gives freed memory back to the system (glibc kept a burst's peak resident:
/// BENCHMARKS.md "Hardening").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    common::telemetry::init("info");
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => serve().await,
        Some("create-admin") => create_admin(&args[1..]).await,
        Some("-h" | "--help") => {
            println!("usage: user-api-svc [create-admin --email EMAIL]");
        }
        Some(other) => {
            eprintln!(
                "unknown command {other:?}; usage: user-api-svc [create-admin --email EMAIL]"
            );
            std::process::exit(2);
        }
    }
}

async fn serve() {
    let config = common::config::exit_on_error(Config::from_env());
    let app = common::config::or_exit("user-api-svc", 1, Application::build(config).await);
    common::shutdown::trigger_on_signal(app.shutdown_handle());
    app.run_until_stopped().await;
}

async fn create_admin(args: &[String]) {
    let url = || {
        Ok(common::config::var("DATABASE_URL")
            .unwrap_or_else(|| "mysql://root@127.0.0.1:3306/rategate".into()))
    };
    std::process::exit(user_api_svc::auth::cli::run("user-api-svc", args, url).await);
}
