//! Quotes for size against the consolidated book, on both stores: the price is the VWAP of
//! the levels the amount takes (computed here by hand), then the spread, then the tick in the
//! house's favour; the order fills at exactly that price; more than the quotable share of the
//! book is refused with the largest amount quotable now; `rates:live` and `/api/book` show the
//! price at size.

use std::time::Duration;

use common::book::Venue::{Bitstamp, Coinbase, Kraken};
use serde_json::json;

use crate::money::{assert_ledger_invariants, balance};
use crate::support::{assert_problem, Backend, TestApi};

use testkit::d;

/// BTC/USD on two venues: the rate and the book behind it.
async fn book_ready(api: &TestApi) -> crate::support::StatusPump {
    let pump = api.status_pump(&["BTC/USD", "ETH/USD"]);
    api.feed.meta("BTC/USD", "0.1").await;
    api.feed.meta("ETH/USD", "0.01").await;
    api.feed
        .venue_rate("BTC/USD", "97000.1", "97000.2", &[Kraken, Coinbase])
        .await;
    api.feed
        .book(
            "BTC/USD",
            &[("97000.1", "1", Kraken), ("96999.0", "2", Coinbase)],
            &[
                ("97000.2", "0.3", Kraken),
                ("97001.0", "0.5", Coinbase),
                ("97005.5", "4", Kraken),
            ],
        )
        .await;
    for _ in 0..100 {
        let (_, r) = api.get("/api/rates/BTC_USD", None).await;
        if r["stale"] == false && r["ladder"].is_array() {
            return pump;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("BTC/USD never became fresh with a ladder");
}

async fn a_quote_for_size_is_priced_at_the_vwap_and_fills_at_exactly_that_price(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let _pump = book_ready(&api).await;
    let admin = api.admin_token().await;
    api.set_bps_spread(&admin, "BTC_USD", "25").await;
    let trader = api
        .funded_user(&admin, "depth@x.io", "USD", "500000.00")
        .await;

    // 0.7 BTC takes 0.3 at 97000.2 (Kraken) and 0.4 at 97001.0 (Coinbase).
    let vwap = (d("0.3") * d("97000.2") + d("0.4") * d("97001.0")) / d("0.7");
    // The depth price, up to ten places for the house, then 25 bps up to the 0.1 tick.
    let depth_price = (vwap * d("1e10")).ceil() / d("1e10");
    let price = (depth_price * d("1.0025") * d("10")).ceil() / d("10");
    let total = (d("0.7") * price * d("100")).ceil() / d("100");
    let (code, q) = api.quote(&trader, "BTC/USD", "buy", "0.7").await;
    assert_eq!(code, 201, "{q}");
    assert_eq!(
        q["vwap"],
        vwap.normalize().to_string(),
        "the VWAP to its last digit"
    );
    assert_eq!(q["price"], price.normalize().to_string());
    assert_eq!(q["price"], "97243.2");
    assert_eq!(q["total"], format!("{total:.2}"));
    assert_eq!(q["levels_used"], 2);
    assert_eq!(q["venues"], json!(["kraken", "coinbase"]));
    assert_eq!(q["raw_ask"], depth_price.normalize().to_string());

    let (code, filled) = api
        .order(&trader, "depth-1", q["id"].as_str().unwrap())
        .await;
    assert_eq!(code, 201, "{filled}");
    assert_eq!(
        (&filled["price"], &filled["total"]),
        (&q["price"], &q["total"])
    );
    let left = d("500000.00") - total;
    assert_eq!(balance(&api, &trader, "USD").await, format!("{left:.2}"));
    assert_eq!(balance(&api, &trader, "BTC").await, "0.70000000");
    // The house earns the spread over the depth price, not over the top of the book.
    let (_, rev) = api.get("/api/admin/revenue", Some(&admin)).await;
    let revenue = total - d("0.7") * depth_price;
    assert_eq!(rev["revenue"][0]["amount"], revenue.normalize().to_string());

    // An amount inside the best level is priced exactly as a top-of-book quote.
    let (_, small) = api.quote(&trader, "BTC/USD", "buy", "0.001").await;
    assert_eq!(small["price"], "97242.8");
    assert_eq!(small["levels_used"], 1);

    // A sell walks the bids: 1 at 97000.1 and 0.2 at 96999.0.
    let sell_vwap = (d("1") * d("97000.1") + d("0.2") * d("96999.0")) / d("1.2");
    let sell_depth = (sell_vwap * d("1e10")).floor() / d("1e10");
    let sell_price = (sell_depth * d("0.9975") * d("10")).floor() / d("10");
    api.deposit(&admin, "depth@x.io", "BTC", "2").await;
    let (code, s) = api.quote(&trader, "BTC/USD", "sell", "1.2").await;
    assert_eq!(code, 201, "{s}");
    assert_eq!(s["vwap"], sell_vwap.normalize().to_string());
    assert_eq!(s["price"], sell_price.normalize().to_string());
    assert_eq!(s["venues"], json!(["kraken", "coinbase"]));

    // Half of the 4.8 on the asks may be quoted: 2.4.
    let (code, refused) = api.quote(&trader, "BTC/USD", "buy", "2.5").await;
    assert_problem(code, &refused, 422, "insufficient_liquidity");
    assert_eq!(refused["max_amount"], "2.4");
    assert!(api.quote(&trader, "BTC/USD", "buy", "2.4").await.0 == 201);
    assert_ledger_invariants(&api).await;
    api.finish().await;
}

/// `GET /api/rates/{pair}/price` says what a quote for that amount would: the same VWAP,
/// price and total, the venues it takes, and the largest amount quotable now; past that it is
/// refused as the quote would be. Anyone may ask (no account), nothing is reserved.
async fn the_price_at_size_is_what_a_quote_would_say(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let _pump = book_ready(&api).await;
    let admin = api.admin_token().await;
    api.set_bps_spread(&admin, "BTC_USD", "25").await;
    let trader = api.user_token("at-size@x.io").await;
    api.deposit(&admin, "at-size@x.io", "USD", "500000.00")
        .await;
    for (side, amount) in [("buy", "0.7"), ("buy", "0.001"), ("sell", "1.2")] {
        let path = format!("/api/rates/BTC_USD/price?side={side}&amount={amount}");
        let (code, at) = api.get(&path, None).await;
        assert_eq!(code, 200, "{at}");
        if side == "sell" {
            api.deposit(&admin, "at-size@x.io", "BTC", "2").await;
        }
        let (code, q) = api.quote(&trader, "BTC/USD", side, amount).await;
        assert_eq!(code, 201, "{q}");
        for field in ["price", "total", "total_asset", "amount", "side", "venues"] {
            assert_eq!(at[field], q[field], "{field}: {at} against {q}");
        }
        assert_eq!(at["vwap"], q["vwap"], "{at}");
    }
    // Half of the 4.8 on the asks may be quoted, half of the 3 on the bids.
    let (_, at) = api
        .get("/api/rates/BTC_USD/price?side=buy&amount=0.7", None)
        .await;
    assert_eq!(at["price"], "97243.2");
    assert_eq!(at["max_amount"], "2.4");
    let (_, at) = api
        .get("/api/rates/BTC_USD/price?side=sell&amount=1", None)
        .await;
    assert_eq!(at["max_amount"], "1.5");
    let (code, refused) = api
        .get("/api/rates/BTC_USD/price?side=buy&amount=2.5", None)
        .await;
    assert_problem(code, &refused, 422, "insufficient_liquidity");
    assert_eq!(refused["max_amount"], "2.4");
    let (code, bad) = api
        .get("/api/rates/BTC_USD/price?side=up&amount=1", None)
        .await;
    assert_problem(code, &bad, 422, "validation_failed");
    let (code, bad) = api
        .get("/api/rates/BTC_USD/price?side=buy&amount=abc", None)
        .await;
    assert_problem(code, &bad, 422, "validation_failed");
    let (code, bad) = api
        .get("/api/rates/XXX_USD/price?side=buy&amount=1", None)
        .await;
    assert_eq!(code, 404, "{bad}");
    api.finish().await;
}

/// An admin sees each venue's health and its book per pair as the feed last reported it;
/// nothing while the feed is silent; a trader may not look.
async fn an_admin_sees_the_venues_health(backend: Backend) {
    use common::bus::{BookState, FeedState, VenueBookStatus, VenueStatus};
    use std::collections::BTreeMap;
    let api = TestApi::start_on(backend, |_| {}).await;
    let admin = api.admin_token().await;
    let (code, silent) = api.get("/api/admin/venues", Some(&admin)).await;
    assert_eq!(code, 200, "{silent}");
    assert_eq!(
        silent,
        json!({"feed": "silent", "feed_leader": null, "venues": []})
    );
    let book = |state, age, bid: &str, ask: &str| VenueBookStatus {
        state,
        age_ms: age,
        bid: Some(common::decimal::DecimalString(d(bid))),
        ask: Some(common::decimal::DecimalString(d(ask))),
    };
    let btc = common::Pair::parse("BTC/USD").unwrap();
    let venues = BTreeMap::from([
        (
            Kraken,
            VenueStatus {
                state: BookState::Fresh,
                checksum_failures: 0,
                sequence_gaps: 0,
                pairs: BTreeMap::from([(
                    btc.clone(),
                    book(BookState::Fresh, Some(12), "97000.1", "97000.2"),
                )]),
            },
        ),
        (
            Coinbase,
            VenueStatus {
                state: BookState::Down,
                checksum_failures: 3,
                sequence_gaps: 1,
                pairs: BTreeMap::from([(btc, book(BookState::Down, None, "96990", "97010"))]),
            },
        ),
    ]);
    api.feed
        .status_with_venues(FeedState::Online, &["BTC/USD"], venues)
        .await;
    let mut seen = json!(null);
    for _ in 0..100 {
        seen = api.get("/api/admin/venues", Some(&admin)).await.1;
        if seen["feed"] == "online" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen["feed"], "online", "{seen}");
    assert!(seen["feed_leader"].is_string(), "{seen}");
    assert_eq!(
        seen["venues"],
        json!([
            {"venue": "kraken", "state": "fresh", "checksum_failures": 0, "sequence_gaps": 0,
             "pairs": {"BTC/USD": {"state": "fresh", "age_ms": 12, "bid": "97000.1", "ask": "97000.2"}}},
            {"venue": "coinbase", "state": "down", "checksum_failures": 3, "sequence_gaps": 1,
             "pairs": {"BTC/USD": {"state": "down", "age_ms": null, "bid": "96990", "ask": "97010"}}},
        ])
    );
    let trader = api.user_token("nosy@x.io").await;
    let (code, body) = api.get("/api/admin/venues", Some(&trader)).await;
    assert_problem(code, &body, 403, "forbidden");
    api.finish().await;
}

async fn the_ladder_and_the_book_show_the_price_at_size(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let _pump = book_ready(&api).await;
    let mut socket = api.socket(None).await.unwrap();
    let (_, rate) = api.get("/api/rates/BTC_USD", None).await;
    assert_eq!(rate["venues"], json!(["kraken", "coinbase"]));
    // The pair's minimum (0.0001) × 10, × 100, × 1000: all inside the best level, so each
    // is the top-of-book price at the tick (no spread set).
    assert_eq!(
        rate["ladder"],
        json!([
            {"amount": "0.001", "buy": "97000.2", "sell": "97000.1"},
            {"amount": "0.01", "buy": "97000.2", "sell": "97000.1"},
            {"amount": "0.1", "buy": "97000.2", "sell": "97000.1"},
        ])
    );
    let (code, book) = api.get("/api/book/BTC_USD", None).await;
    assert_eq!(code, 200, "{book}");
    assert_eq!(
        book["asks"][1],
        json!({"price": "97001.0", "qty": "0.5", "venue": "coinbase"})
    );
    assert_eq!(book["bids"][0]["venue"], "kraken");
    assert_eq!(book["venues"], json!(["kraken", "coinbase"]));
    assert_eq!(book["ladder"], rate["ladder"]);

    // A thin book: 0.1 cannot be bought (half of 0.05 is quotable), and says so with null,
    // live over the socket. Bitstamp's deep level does not count: the rate (kraken,
    // coinbase) says Bitstamp is not in the price now, so no quote may walk its levels.
    api.feed
        .book(
            "BTC/USD",
            &[("97000.1", "10", Kraken)],
            &[("97000.2", "0.05", Coinbase), ("97000.3", "100", Bitstamp)],
        )
        .await;
    let live = socket
        .next(|v| v["event"] == "rates:live" && v["data"]["BTC_USD"]["ladder"][2]["buy"].is_null())
        .await;
    let ladder = &live["data"]["BTC_USD"]["ladder"];
    assert_eq!(ladder[1]["buy"], "97000.2");
    assert_eq!(ladder[2]["sell"], "97000.1");
    socket.close().await;

    // A pair whose price comes from books is not quoted before its book has arrived.
    api.feed
        .venue_rate("ETH/USD", "3000.10", "3000.20", &[Kraken])
        .await;
    let trader = api.user_token("nobook@x.io").await;
    let admin = api.admin_token().await;
    api.deposit(&admin, "nobook@x.io", "USD", "10000.00").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (code, body) = api.quote(&trader, "ETH/USD", "buy", "0.01").await;
    assert_problem(code, &body, 503, "rates_stale");
    assert_eq!(api.get("/api/book/ETH_USD", None).await.0, 503);
    assert_eq!(api.get("/api/book/DOGE_USD", None).await.0, 404);
    api.finish().await;
}

async fn an_admin_sets_a_pairs_quote_maximum_and_ladder(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let _pump = book_ready(&api).await;
    let admin = api.admin_token().await;
    let trader = api
        .funded_user(&admin, "limits@x.io", "USD", "500000.00")
        .await;
    let put = |body: serde_json::Value, token: String| {
        let api = &api;
        async move {
            api.put("/api/admin/pairs/BTC_USD/limits", Some(&token), body)
                .await
        }
    };
    let (code, set) = put(
        json!({"max_amount": "1", "ladder": ["0.05", "0.5", "2"]}),
        admin.clone(),
    )
    .await;
    assert_eq!(code, 200, "{set}");
    assert_eq!(set["max_amount"], "1");
    assert_eq!(set["ladder"], json!(["0.05", "0.5", "2"]));
    // Below the book's own limit (2.4) but above the admin's.
    let (code, refused) = api.quote(&trader, "BTC/USD", "buy", "1.5").await;
    assert_problem(code, &refused, 422, "insufficient_liquidity");
    assert_eq!(refused["max_amount"], "1");
    assert_eq!(api.quote(&trader, "BTC/USD", "buy", "1").await.0, 201);
    // The ladder shows the admin's amounts, each priced as its quote would be: 2 is above the
    // admin's maximum, so neither side can be quoted.
    let (_, rate) = api.get("/api/rates/BTC_USD", None).await;
    let ladder = &rate["ladder"];
    assert_eq!(ladder[0]["amount"], "0.05");
    assert_eq!(ladder[2]["amount"], "2");
    assert!(
        ladder[2]["buy"].is_null(),
        "2 is above the admin's maximum of 1: {ladder}"
    );
    // 0.5 takes 0.3 at 97000.2 and 0.2 at 97001.0: 97000.52, up to the tick.
    assert_eq!(ladder[1]["buy"], "97000.6", "{ladder}");
    let (_, list) = api.get("/api/admin/pairs/limits", Some(&admin)).await;
    let btc = list["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pair"] == "BTC/USD")
        .cloned()
        .unwrap();
    assert_eq!(btc["ladder_set"], true);
    assert!(btc["updated_at"].is_string());

    // Refused: not an admin, a falling ladder, a zero maximum, an unknown pair.
    assert_eq!(put(json!({"max_amount": "1"}), trader.clone()).await.0, 403);
    let (code, body) = put(json!({"ladder": ["1", "0.5"]}), admin.clone()).await;
    assert_problem(code, &body, 422, "validation_failed");
    let (code, body) = put(json!({"max_amount": "0"}), admin.clone()).await;
    assert_problem(code, &body, 422, "validation_failed");
    let (code, _) = api
        .put("/api/admin/pairs/DOGE_USD/limits", Some(&admin), json!({}))
        .await;
    assert_eq!(code, 404);
    // Back to the defaults.
    let (code, cleared) = put(json!({"max_amount": null, "ladder": null}), admin.clone()).await;
    assert_eq!(code, 200);
    assert!(cleared["max_amount"].is_null());
    assert_eq!(cleared["ladder"], json!(["0.001", "0.01", "0.1"]));
    api.finish().await;
}

on_both_backends!(
    an_admin_sees_the_venues_health,
    the_price_at_size_is_what_a_quote_would_say,
    an_admin_sets_a_pairs_quote_maximum_and_ladder,
    a_quote_for_size_is_priced_at_the_vwap_and_fills_at_exactly_that_price,
    the_ladder_and_the_book_show_the_price_at_size,
);
