//! `rategate`: the all-in-one gateway (see the library docs for what it sets up on first start).
//! Configuration problems exit with code 2, failures to start with code 1.

#[tokio::main]
async fn main() {
    common::telemetry::init("info");
    if std::env::args()
        .nth(1)
        .is_some_and(|a| a == "-h" || a == "--help")
    {
        println!(
            "usage: rategate\n  runs both services in one process; without REDIS_URL an in-process bus,\n  without DATABASE_URL an SQLite file in RATEGATE_DATA_DIR (./rategate-data).\n  FEED=sim for offline use. Every variable: .env.example"
        );
        return;
    }
    let settings = match rategate::Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rategate: {e:#}");
            std::process::exit(2);
        }
    };
    let gateway = match rategate::AllInOne::start(settings).await {
        Ok(g) => g,
        Err(e) => {
            eprintln!("rategate: {e:#}");
            std::process::exit(1);
        }
    };
    println!("{}", gateway.banner());
    // Offline machines are common in demos: say so instead of showing an empty page forever.
    let feed = gateway.feed.feed().clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(15)).await;
        if feed.source() == "kraken" && !feed.state().is_quotable() {
            eprintln!(
                "rategate: Kraken is still not reachable after 15 s (feed state: {}); \
                 without internet, run with FEED=sim for a labelled simulated feed",
                feed.state().as_str()
            );
        }
    });
    gateway.run_until_stopped().await;
}
