//! Kraken frame parse + normalize throughput on one core.
//!
//! `cargo bench -p exchange-rate-svc --bench parse`
//!
//! Parses real-shaped ticker update frames (the fixture's BTC/USD update with `trades` and
//! `timestamp`, and the mock's frames) with `wire::parse`, then normalizes each ticker into a
//! `Tick` the way the connector does. Prints frames per second; target ≥ 1,000,000.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::Pair;
use exchange_rate_svc::venues::kraken::connector::{KrakenConnector, KrakenSettings};
use exchange_rate_svc::venues::kraken::wire::{self, KrakenEvent};

fn frames() -> Vec<String> {
    let fixture = include_str!("../tests/fixtures/kraken-v2-frames.txt");
    let mut frames: Vec<String> = fixture
        .lines()
        .filter(|l| l.contains(r#""channel":"ticker""#))
        .map(str::to_string)
        .collect();
    // Plus the mock's frames with prices varying as a live feed's do.
    for i in 0..64 {
        let bid = common::Decimal::new(9_700_000 + i, 1);
        let ask = bid + common::Decimal::new(1, 1);
        frames.push(kraken_mock::ticker_frame("BTC/USD", bid, ask, false));
    }
    frames
}

fn main() {
    let connector = KrakenConnector::new(KrakenSettings {
        ws_url: String::new(),
        pairs: Pair::parse_list("BTC/USD,ETH/USD,ALGO/USD,USDT/USD").unwrap(),
        ack_timeout: Duration::from_secs(5),
        maintenance_delay: Duration::from_secs(5),
        book_depth: 25,
        book_resubscribe_backoff: Duration::from_secs(10),
        ticker_rates: true,
    });
    let frames = frames();
    let received_at = Utc::now();
    let run = |n: usize| {
        let mut ticks = 0usize;
        for i in 0..n {
            let frame = &frames[i % frames.len()];
            if let Ok(KrakenEvent::Ticker { tickers, .. }) = wire::parse(black_box(frame)) {
                for t in tickers {
                    if let Some(tick) = connector.normalize(t, received_at) {
                        black_box(&tick);
                        ticks += 1;
                    }
                }
            }
        }
        ticks
    };
    run(200_000); // warm up
    let mut best = 0f64;
    for round in 1..=5 {
        let n = 2_000_000;
        let t = Instant::now();
        let ticks = run(n);
        let secs = t.elapsed().as_secs_f64();
        let rate = n as f64 / secs;
        best = best.max(rate);
        println!(
            "round {round}: {n} frames ({ticks} ticks) in {secs:.3} s = {:.0} frames/s, {:.0} ns/frame",
            rate,
            secs * 1e9 / n as f64
        );
    }
    println!("best: {best:.0} frames/s per core (target >= 1000000)");
}
