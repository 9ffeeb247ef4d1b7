//! L2 book updates applied per second on one core, per venue parser, beside the floor.
//!
//! `taskset -c 1 cargo bench -p exchange-rate-svc --bench book`
//!
//! - `kraken`: v2 `book` update frames (one or two levels each, as the live feed sends them)
//!   parsed, applied to a depth-25 book, truncated, and the CRC32 checksum verified, every
//!   frame. The frames are generated up front from the live BTC/USDT depth-25 snapshot, each
//!   with the checksum Kraken would send.
//! - `kraken (no parse)`: the same levels already parsed: apply + truncate + checksum.
//! - `coinbase`: `l2_data` update frames parsed and applied, `sequence_num` checked.
//! - `bitstamp`: `diff_order_book` frames parsed and applied after the snapshot.
//! - `floor`: the same level updates into a bare `BTreeMap<Decimal, Decimal>` per side
//!   (insert, or remove on zero, then truncate): no parsing, no checksum.
//!
//! Prints level updates per second (target ≥ 2,000,000 for Kraken, checksum included).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use common::book::Side;
use exchange_rate_svc::venues::kraken::book::{checksum, KrakenBook, Precision};
use exchange_rate_svc::venues::kraken::wire::{self, BookData, KrakenEvent};
use exchange_rate_svc::venues::{bitstamp, coinbase};
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

const DEPTH: usize = 25;
const FRAMES: usize = 20_000;
const PRECISION: Precision = Precision { price: 1, qty: 8 };

/// One level update: side, price, new qty (zero deletes).
type Update = (Side, Decimal, Decimal);

fn snapshot_text() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/venues/kraken-book-snapshot-depth25-btcusdt.json"
    );
    std::fs::read_to_string(path).expect("fixture")
}

/// Random updates around the snapshot's top of book: mostly quantity changes at the top,
/// some deletes and new levels, as a live book moves.
fn updates(snapshot: &BookData<'_>) -> Vec<Vec<Update>> {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    let mid = (snapshot.bids[0].0 + snapshot.asks[0].0) / Decimal::TWO;
    (0..FRAMES)
        .map(|_| {
            let n = rng.random_range(1..=2);
            (0..n)
                .map(|_| {
                    let side = if rng.random_bool(0.5) {
                        Side::Bid
                    } else {
                        Side::Ask
                    };
                    let offset = Decimal::new(rng.random_range(1..=60), 1);
                    let price = match side {
                        Side::Bid => mid - offset,
                        Side::Ask => mid + offset,
                    }
                    .round_dp(1);
                    let qty = if rng.random_bool(0.2) {
                        Decimal::new(0, 8)
                    } else {
                        Decimal::new(rng.random_range(1..=500_000_000), 8)
                    };
                    (side, price, qty)
                })
                .collect()
        })
        .collect()
}

fn level_json(price: Decimal, qty: Decimal) -> String {
    format!(r#"{{"price":{price},"qty":{qty:.8}}}"#)
}

/// Kraken update frames for `updates`, each with the checksum of the book after it.
fn kraken_frames(snapshot: &BookData<'_>, updates: &[Vec<Update>]) -> Vec<String> {
    let mut mirror = KrakenBook::new(DEPTH, Some(PRECISION));
    mirror.apply(snapshot, true).expect("snapshot verifies");
    let mut frames = Vec::with_capacity(updates.len());
    for u in updates {
        let side = |s: Side| -> Vec<(Decimal, Decimal)> {
            u.iter().filter(|l| l.0 == s).map(|l| (l.1, l.2)).collect()
        };
        let mut data = BookData {
            symbol: "BTC/USDT".into(),
            bids: side(Side::Bid),
            asks: side(Side::Ask),
            checksum: 0,
            timestamp: None,
        };
        // Apply once to learn the checksum, then again on a copy to confirm it.
        let mut probe = mirror.clone();
        let _ = probe.apply(&data, false);
        data.checksum = checksum(probe.book(), Some(PRECISION));
        mirror
            .apply(&data, false)
            .expect("generated checksum verifies");
        let list = |levels: &[(Decimal, Decimal)]| {
            levels
                .iter()
                .map(|&(p, q)| level_json(p, q))
                .collect::<Vec<_>>()
                .join(",")
        };
        frames.push(format!(
            r#"{{"channel":"book","type":"update","data":[{{"symbol":"BTC/USDT","bids":[{}],"asks":[{}],"checksum":{},"timestamp":"2026-12-03T21:00:00.000000Z"}}]}}"#,
            list(&data.bids),
            list(&data.asks),
            data.checksum
        ));
    }
    frames
}

fn coinbase_frames(updates: &[Vec<Update>]) -> Vec<String> {
    updates
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let levels: Vec<String> = u
                .iter()
                .map(|(side, p, q)| {
                    let side = if *side == Side::Bid { "bid" } else { "offer" };
                    format!(
                        r#"{{"side":"{side}","event_time":"2026-12-03T21:00:00.000000Z","price_level":"{p}","new_quantity":"{q:.8}"}}"#
                    )
                })
                .collect();
            format!(
                r#"{{"channel":"l2_data","client_id":"","timestamp":"2026-12-03T21:00:00.000000Z","sequence_num":{},"events":[{{"type":"update","product_id":"BTC-USD","updates":[{}]}}]}}"#,
                i + 1,
                levels.join(",")
            )
        })
        .collect()
}

fn bitstamp_frames(updates: &[Vec<Update>]) -> Vec<String> {
    updates
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let side = |s: Side| -> String {
                u.iter()
                    .filter(|l| l.0 == s)
                    .map(|(_, p, q)| format!(r#"["{p}","{q:.8}"]"#))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            format!(
                r#"{{"data":{{"timestamp":"1764795600","microtimestamp":"{}","bids":[{}],"asks":[{}]}},"channel":"diff_order_book_btcusd","event":"data"}}"#,
                1_764_795_600_000_000u64 + i as u64 + 1,
                side(Side::Bid),
                side(Side::Ask)
            )
        })
        .collect()
}

/// Runs `round` (which applies every frame once and returns the level updates it applied)
/// until about a second has passed, five times; prints the best rate.
fn measure(name: &str, mut round: impl FnMut() -> usize) -> f64 {
    round(); // warm up
    let mut best = 0f64;
    for _ in 0..5 {
        let t = Instant::now();
        let mut levels = 0usize;
        while t.elapsed().as_secs_f64() < 1.0 {
            levels += round();
        }
        let rate = levels as f64 / t.elapsed().as_secs_f64();
        best = best.max(rate);
    }
    println!(
        "{name:<20} {best:>12.0} level updates/s  {:>7.1} ns/level",
        1e9 / best
    );
    best
}

fn main() {
    let text = snapshot_text();
    let KrakenEvent::Book { books, .. } = wire::parse(&text).expect("snapshot parses") else {
        panic!("not a book")
    };
    let snapshot = &books[0];
    let updates = updates(snapshot);
    let levels_per_round: usize = updates.iter().map(Vec::len).sum();
    let kraken = kraken_frames(snapshot, &updates);
    let coinbase = coinbase_frames(&updates);
    let bitstamp = bitstamp_frames(&updates);
    println!(
        "{FRAMES} frames, {levels_per_round} level updates per round, depth {DEPTH}, one core"
    );

    let kraken_rate = measure("kraken", || {
        let mut book = KrakenBook::new(DEPTH, Some(PRECISION));
        book.apply(snapshot, true).expect("snapshot");
        let mut n = 0;
        for frame in &kraken {
            let Ok(KrakenEvent::Book { books, .. }) = wire::parse(black_box(frame)) else {
                panic!("frame does not parse")
            };
            for data in &books {
                book.apply(data, false).expect("checksum verifies");
                n += data.bids.len() + data.asks.len();
            }
        }
        black_box(book.book().best(Side::Bid));
        n
    });

    let parsed: Vec<BookData<'_>> = kraken
        .iter()
        .map(|f| match wire::parse(f) {
            Ok(KrakenEvent::Book { mut books, .. }) => books.remove(0),
            _ => panic!("frame does not parse"),
        })
        .collect();
    measure("kraken (no parse)", || {
        let mut book = KrakenBook::new(DEPTH, Some(PRECISION));
        book.apply(snapshot, true).expect("snapshot");
        for data in &parsed {
            book.apply(black_box(data), false)
                .expect("checksum verifies");
        }
        black_box(book.book().best(Side::Bid));
        levels_per_round
    });

    measure("coinbase", || {
        let mut books = coinbase::Books::default();
        let mut n = 0;
        for frame in &coinbase {
            let event = coinbase::wire::parse(black_box(frame)).expect("frame parses");
            books.apply(&event).expect("no gap");
            if let coinbase::wire::CoinbaseEvent::L2 { events, .. } = &event {
                n += events.iter().map(|e| e.updates.len()).sum::<usize>();
            }
        }
        black_box(books.book("BTC-USD").map(|b| b.best(Side::Ask)));
        n
    });

    measure("bitstamp", || {
        let mut book = bitstamp::SyncedBook::default();
        book.snapshot(bitstamp::wire::BookLevels {
            microtimestamp: 1_764_795_600_000_000,
            bids: snapshot.bids.clone(),
            asks: snapshot.asks.clone(),
        });
        let mut n = 0;
        for frame in &bitstamp {
            let Ok(bitstamp::wire::BitstampEvent::Diff { diff, .. }) =
                bitstamp::wire::parse(black_box(frame))
            else {
                panic!("frame does not parse")
            };
            n += diff.bids.len() + diff.asks.len();
            book.diff(diff);
        }
        black_box(book.book().map(|b| b.best(Side::Ask)));
        n
    });

    let floor_rate = measure("floor (BTreeMap)", || {
        let mut bids: BTreeMap<Decimal, Decimal> = snapshot.bids.iter().copied().collect();
        let mut asks: BTreeMap<Decimal, Decimal> = snapshot.asks.iter().copied().collect();
        for u in &updates {
            for &(side, price, qty) in black_box(u) {
                let levels = if side == Side::Bid {
                    &mut bids
                } else {
                    &mut asks
                };
                if qty.is_zero() {
                    levels.remove(&price);
                } else {
                    levels.insert(price, qty);
                }
            }
            while bids.len() > DEPTH {
                bids.pop_first();
            }
            while asks.len() > DEPTH {
                asks.pop_last();
            }
        }
        black_box((bids.len(), asks.len()));
        levels_per_round
    });
    println!(
        "kraken: {kraken_rate:.0} level updates/s (target >= 2000000), {:.1}x the floor's time",
        floor_rate / kraken_rate
    );
}
