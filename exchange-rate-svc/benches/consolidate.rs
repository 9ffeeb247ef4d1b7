//! What consolidation costs per venue book update, on one core, beside the floor.
//!
//! `taskset -c 1 cargo bench -p exchange-rate-svc --bench consolidate`
//! (`BENCH_UPDATES`, default 200000; `BENCH_ONLY=consolidate` or `BENCH_ONLY=floor` runs one
//! part, for `valgrind --tool=callgrind` at two `BENCH_UPDATES`: the difference of the two
//! totals over the difference of updates is the instructions per update, setup excluded).
//!
//! - `consolidate`: one venue's verified book of 25 levels a side stored (its top copied),
//!   then the pair's consolidated book rebuilt from three venues (health judged, outliers
//!   checked against the median, levels merged by price, best bid/ask compared with the last
//!   rate): what the feed does after every verified update.
//! - `floor`: a bare merge of the same three sorted 25-level sides into the top 25, nothing
//!   else (no copy of the venue's book, no health, no outlier check).

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::book::{Book, Side, Venue};
use common::{Decimal, Pair};
use exchange_rate_svc::books::{BookRules, VenueBooks};
use exchange_rate_svc::consolidator::Consolidator;

const DEPTH: usize = 25;

fn venue_book(offset: i64) -> Book {
    let mut b = Book::new();
    for i in 0..DEPTH as i64 {
        let qty = Decimal::new(100 + i * 7, 2);
        b.set(Side::Bid, Decimal::new(970_000 - offset - i, 1), qty);
        b.set(Side::Ask, Decimal::new(970_001 + offset + i, 1), qty);
    }
    b
}

fn merge_floor(books: &[Vec<(Decimal, Decimal)>; 3]) -> Vec<(Decimal, Decimal, u8)> {
    let mut idx = [0usize; 3];
    let mut out = Vec::with_capacity(DEPTH);
    while out.len() < DEPTH {
        let mut best: Option<(usize, Decimal)> = None;
        for (v, book) in books.iter().enumerate() {
            if let Some((p, _)) = book.get(idx[v]) {
                if best.is_none_or(|(_, b)| *p < b) {
                    best = Some((v, *p));
                }
            }
        }
        let Some((v, _)) = best else { break };
        let (p, q) = books[v][idx[v]];
        out.push((p, q, v as u8));
        idx[v] += 1;
    }
    out
}

fn main() {
    let n: usize = std::env::var("BENCH_UPDATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let pair = Pair::parse("BTC/USD").expect("pair");
    let books = VenueBooks::new(BookRules {
        stale_after: Duration::from_secs(3600),
        depth: DEPTH,
        max_deviation_bps: Decimal::from(100),
    });
    let consolidator = Consolidator::new(std::slice::from_ref(&pair), 1);
    let mut venue_books: Vec<Book> = (0..3).map(venue_book).collect();
    for (v, venue) in Venue::ALL.into_iter().enumerate() {
        books.link_up(venue);
        books.verified(venue, &pair, &venue_books[v], true);
    }
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    // The updates: a quantity change near the top of one venue's book, round robin.
    let n_cons = if only == "floor" { 0 } else { n };
    let t0 = Instant::now();
    let mut rates = 0usize;
    for i in 0..n_cons {
        let v = i % 3;
        let side = if i % 2 == 0 { Side::Bid } else { Side::Ask };
        let (price, _) = venue_books[v].levels(side).nth(i % 5).expect("level");
        venue_books[v].set(side, price, Decimal::new(100 + (i % 97) as i64, 2));
        books.verified(Venue::ALL[v], &pair, &venue_books[v], false);
        let rebuilt = consolidator.rebuild(&books, &pair, std::time::Instant::now());
        rates += usize::from(rebuilt.rate.is_some());
    }
    let spent = t0.elapsed();
    let per = spent.as_nanos() as f64 / n as f64;
    println!("{n} updates, 3 venues x {DEPTH} levels a side, one core");
    println!(
        "consolidate  {:>9.0} updates/s  {per:>7.1} ns/update  ({rates} rates)",
        n as f64 / spent.as_secs_f64()
    );

    let sides: [Vec<(Decimal, Decimal)>; 3] =
        [0, 1, 2].map(|v| venue_book(v).levels(Side::Ask).collect());
    let n_floor = if only == "floor" || only.is_empty() {
        n
    } else {
        0
    };
    let t0 = Instant::now();
    for _ in 0..n_floor {
        // Both sides, as the consolidation merges both.
        black_box(merge_floor(black_box(&sides)));
        black_box(merge_floor(black_box(&sides)));
    }
    let floor = t0.elapsed().as_nanos() as f64 / n as f64;
    println!(
        "floor        {:>9.0} updates/s  {floor:>7.1} ns/update  (bare merge of both sides)",
        1e9 / floor
    );
    println!(
        "consolidate: {per:.0} ns per update, {:.1}x the floor",
        per / floor
    );
}
