//! `rategate`: the all-in-one gateway (see the library docs for what it sets up on first start).
//! Configuration problems exit with code 2, failures to start with code 1.

/// mimalloc gives freed memory back to the system (glibc kept a burst's peak resident:
/// BENCHMARKS.md "Hardening").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    common::telemetry::init("info");
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => {}
        Some("-h" | "--help") => {
            println!(
                "usage: rategate [create-admin --email EMAIL]\n  runs both services in one process; without REDIS_URL an in-process bus,\n  without DATABASE_URL an SQLite file in RATEGATE_DATA_DIR (./rategate-data).\n  FEED=sim for offline use. Every variable: .env.example\n  create-admin: adds an admin to the same store (password from ADMIN_PASSWORD or stdin)"
            );
            return;
        }
        Some("create-admin") => {
            let url = rategate::store_url_from_env;
            std::process::exit(user_api_svc::auth::cli::run("rategate", &args[1..], url).await);
        }
        Some(other) => {
            eprintln!("unknown command {other:?}; usage: rategate [create-admin --email EMAIL]");
            std::process::exit(2);
        }
    }
    let settings = common::config::or_exit("rategate", 2, rategate::Settings::from_env());
    let gateway = common::config::or_exit("rategate", 1, rategate::AllInOne::start(settings).await);
    println!("{}", gateway.banner());
    // Offline machines are common in demos: say so instead of showing an empty page forever.
    let feed = gateway.feed.feed().clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(15)).await;
        // Real venues only (one, or consolidated from several); the simulated feed is local.
        if feed.source() != "sim" && !feed.state().is_quotable() {
            eprintln!(
                "rategate: no venue is reachable after 15 s (feed state: {}); \
                 without internet, run with FEED=sim for labelled simulated venues",
                feed.state().as_str()
            );
        }
    });
    gateway.run_until_stopped().await;
}
