//! What pricing at depth costs, beside the floor.
//!
//! `taskset -c 1 cargo bench -p user-api-svc --bench depth` (`BENCH_QUOTES`, default 2000;
//! `BENCH_PART=live|live_floor|quote|quote_floor` with `BENCH_ITERS=N` runs that one
//! in-process loop alone, for `valgrind --tool=callgrind` at two `N`: the difference of the
//! totals over the difference of `N` is the instructions per call)
//!
//! 1. In-process, one core, no I/O:
//!    - `live` with a ladder: one pair's `rates:live` object with its three-rung ladder priced
//!      against a consolidated book of 3 venues × 25 levels a side (what every tick and book
//!      costs the fan-out per distinct payload); floor: the same object without a book.
//!    - `price_quote` at depth: a quote that walks 10 levels; floor: the same quote priced at the
//!      top of the book (no book).
//! 2. Over HTTP: `POST /api/quotes` latency (p50/p99, one client at a time) for an amount
//!    inside the best level and for one that walks 10 levels, on the all-in-one shape (SQLite,
//!    in-process bus): the database insert of the quote dominates both.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::book::{Level, Venue};
use common::bus::memory::MemoryBus;
use common::bus::{BookMsg, FeedState, PairMeta, PairState, RateMsg, StatusMsg};
use common::{Decimal, Pair};
use hdrhistogram::Histogram;
use serde_json::json;
use user_api_svc::money::quote::price_quote;
use user_api_svc::money::Side;
use user_api_svc::rates::RateBook;

const ADMIN: (&str, &str) = ("depth-admin@rategate.test", "Depth-Admin-Passphrase-42");

use testkit::d;

fn book(pair: &Pair) -> BookMsg {
    let mut bids = Vec::new();
    let mut asks = Vec::new();
    for i in 0..25i64 {
        for (k, venue) in Venue::ALL.into_iter().enumerate() {
            let qty = Decimal::new(10 + 3 * k as i64 + i, 2);
            bids.push(Level {
                price: Decimal::new(970_001 - i, 1),
                qty,
                venue,
            });
            asks.push(Level {
                price: Decimal::new(970_002 + i, 1),
                qty,
                venue,
            });
        }
    }
    BookMsg {
        v: 1,
        pair: pair.clone(),
        book: common::book::Consolidated { bids, asks },
        venues: Venue::ALL.to_vec(),
        ts: Utc::now(),
        seq: 1,
        epoch: "bench".into(),
    }
}

fn rate(pair: &Pair) -> RateMsg {
    RateMsg {
        v: 1,
        source: "consolidated".into(),
        pair: pair.clone(),
        bid: d("97000.1"),
        ask: d("97000.2"),
        last: None,
        ts: Utc::now(),
        received_at: Utc::now(),
        seq: 1,
        epoch: "bench".into(),
        venues: Venue::ALL.to_vec(),
    }
}

fn status(pair: &Pair) -> StatusMsg {
    StatusMsg {
        v: 1,
        source: "consolidated".into(),
        state: FeedState::Online,
        since: Utc::now(),
        pairs: [(pair.clone(), PairState::Ok)].into(),
        epoch: "bench".into(),
        role: common::bus::FeedRole::Leader,
        venues: Default::default(),
    }
}

fn meta(pair: &Pair) -> PairMeta {
    PairMeta::new(pair.clone(), d("0.1"), d("0.00000001"), d("0.0001"))
}

/// ns per call of `f`, over `n` calls.
fn time(n: usize, mut f: impl FnMut()) -> f64 {
    let t0 = Instant::now();
    for _ in 0..n {
        f();
    }
    t0.elapsed().as_nanos() as f64 / n as f64
}

fn in_process() {
    let pair = Pair::parse("BTC/USD").expect("pair");
    let now = std::time::Instant::now();
    let mut with = RateBook::new(std::slice::from_ref(&pair), Duration::from_secs(3600));
    let mut without = RateBook::new(std::slice::from_ref(&pair), Duration::from_secs(3600));
    for b in [&mut with, &mut without] {
        b.set_meta(meta(&pair));
        b.apply_status(status(&pair), now);
    }
    with.apply_rate(rate(&pair));
    with.apply_book(book(&pair));
    let mut top = rate(&pair);
    top.venues.clear();
    without.apply_rate(top);
    let part = std::env::var("BENCH_PART").unwrap_or_default();
    let iters: usize = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let n_for = |name: &str| {
        if part.is_empty() || part == name {
            iters
        } else {
            0
        }
    };
    let n = n_for("live");
    let live = time(n, || {
        black_box(with.live(black_box(&pair), now));
    });
    let live_floor = time(n_for("live_floor"), || {
        black_box(without.live(black_box(&pair), now));
    });
    println!(
        "rates:live with ladder   {live:>8.0} ns   floor (no book) {live_floor:>6.0} ns   ladder costs {:.0} ns",
        live - live_floor
    );
    let basis = with.quote_basis(&pair, now).expect("basis");
    let top_basis = without.quote_basis(&pair, now).expect("basis");
    // The first 12 levels (4 prices × 3 venues) hold 1.74: 1.3 takes about 10 of them.
    let amount = Some(d("1.3"));
    let q = price_quote(&basis, Side::Buy, amount, d("0.01")).expect("quote");
    let levels = q.depth.as_ref().map_or(0, |d| d.levels_used);
    let quote = time(n_for("quote"), || {
        black_box(price_quote(black_box(&basis), Side::Buy, amount, d("0.01")).ok());
    });
    let quote_floor = time(n_for("quote_floor"), || {
        black_box(price_quote(black_box(&top_basis), Side::Buy, amount, d("0.01")).ok());
    });
    println!(
        "price_quote at depth     {quote:>8.0} ns   floor (top)     {quote_floor:>6.0} ns   ({levels} levels walked)"
    );
}

async fn over_http() {
    let quotes: usize = std::env::var("BENCH_QUOTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let pair = Pair::parse("BTC/USD").expect("pair");
    let dir =
        std::env::temp_dir().join(format!("rategate-depth-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut cfg = user_api_svc::Config::local("bench-secret-bench-secret-bench-secret-00");
    cfg.database_url = format!("sqlite://{}", dir.join("bench.db").display());
    cfg.http_addr = "127.0.0.1:0".parse().expect("addr");
    cfg.pairs = vec![pair.clone()];
    cfg.admin_email = Some(ADMIN.0.into());
    cfg.admin_password = Some(ADMIN.1.into());
    cfg.admin_require_2fa = false;
    cfg.quote_budget = user_api_svc::money::budget::Budget {
        per_second: 1_000_000,
        burst: 1_000_000,
    };
    let bus = MemoryBus::default();
    let store = user_api_svc::store::open(&cfg.database_url, 8)
        .await
        .expect("store");
    let app = user_api_svc::Application::build_with(cfg, store, Arc::new(bus.clone()))
        .await
        .expect("app");
    let base = format!("http://{}", app.addr());
    bus.set_pairs([meta(&pair)]);
    bus.publish_status(status(&pair));
    bus.publish_rates(&[Arc::new(rate(&pair))]);
    bus.publish_books(&[Arc::new(book(&pair))]);
    let http = reqwest::Client::new();
    let web = testkit::http::Api {
        http: http.clone(),
        base: base.clone(),
    };
    let admin = web.token(ADMIN.0, ADMIN.1).await;
    let email = "depth-trader@bench.test";
    let trader = web.funded_user(&admin, email, "USD", "10000000.00").await;
    // Keep the status fresh while we run.
    let pump = {
        let bus = bus.clone();
        let pair = pair.clone();
        tokio::spawn(async move {
            loop {
                bus.publish_status(status(&pair));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    for (label, amount) in [
        ("inside the best level", "0.05"),
        ("about 10 levels deep", "1.3"),
    ] {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
        let mut levels = 0;
        let t0 = Instant::now();
        for _ in 0..quotes {
            let started = Instant::now();
            let r = http
                .post(format!("{base}/api/quotes"))
                .bearer_auth(&trader)
                .json(&json!({"pair": "BTC/USD", "side": "buy", "amount": amount}))
                .send()
                .await
                .expect("quote");
            let status = r.status();
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            assert_eq!(status, 201, "{body}");
            levels = body["levels_used"].as_u64().unwrap_or(0);
            let _ = h.record(started.elapsed().as_micros() as u64);
        }
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "POST /api/quotes {label:<22} ({levels:>2} levels): {:>6.0} quotes/s  p50 {:>5} µs  p99 {:>5} µs",
            quotes as f64 / secs,
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99)
        );
    }
    pump.abort();
    app.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::main]
async fn main() {
    in_process();
    if std::env::var("BENCH_PART").is_err() {
        over_http().await;
    }
}
