//! `kraken-mock --addr 127.0.0.1:9001 --pairs BTC/USD,ETH/USD --rate 100`
//!
//! Runs the mock Kraken v2 server until Ctrl-C, with mock Coinbase and Bitstamp book feeds
//! beside it (on free ports); prints the variables that point exchange-rate-svc at all three.

use std::net::SocketAddr;

use kraken_mock::{MockConfig, MockKraken};

const USAGE: &str =
    "usage: kraken-mock [--addr 127.0.0.1:9001] [--pairs BTC/USD,ETH/USD] [--rate TICKS_PER_SEC]";

fn parse_args() -> Result<MockConfig, String> {
    let mut config = MockConfig {
        addr: SocketAddr::from(([127, 0, 0, 1], 9001)),
        rate: 10,
        ..MockConfig::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--addr" => config.addr = value()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--pairs" => {
                config.pairs = common::Pair::parse_list(&value()?)
                    .map_err(|e| format!("--pairs: {e}"))?
                    .iter()
                    .map(|p| p.as_str().to_string())
                    .collect()
            }
            "--rate" => config.rate = value()?.parse().map_err(|e| format!("--rate: {e}"))?,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(config)
}

#[tokio::main]
async fn main() {
    common::telemetry::init("info");
    let config = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let (pairs, rate) = (config.pairs.join(","), config.rate);
    let mock = match MockKraken::start(config).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("kraken-mock: cannot start: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "kraken-mock listening: ws {} rest {} pairs {pairs} rate {rate}/s",
        mock.ws_url(),
        mock.rest_url()
    );
    println!("faults: curl -X POST {}/mock/{{drop,garbage,silent/on,silent/pings,silent/off,system/maintenance,system/online,bad-checksums/3}}", mock.rest_url());
    // Coinbase and Bitstamp books around the same prices, so the feed's three venues all
    // have a peer here.
    let pairs: Vec<&str> = pairs.split(',').collect();
    let (coinbase, bitstamp) = match (
        kraken_mock::MockVenue::start(kraken_mock::VenueKind::Coinbase, &pairs).await,
        kraken_mock::MockVenue::start(kraken_mock::VenueKind::Bitstamp, &pairs).await,
    ) {
        (Ok(c), Ok(b)) => (c, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("kraken-mock: cannot start the Coinbase or Bitstamp mock: {e}");
            std::process::exit(1);
        }
    };
    println!("point exchange-rate-svc (or rategate) at all three with:");
    println!(
        "  KRAKEN_WS_URL={} KRAKEN_REST_URL={} COINBASE_WS_URL={} BITSTAMP_WS_URL={} BITSTAMP_REST_URL={}",
        mock.ws_url(),
        mock.rest_url(),
        coinbase.ws_url(),
        bitstamp.ws_url(),
        bitstamp.rest_url()
    );
    common::shutdown::wait_for_signal().await;
    mock.stop();
    coinbase.stop();
    bitstamp.stop();
}
