//! Price history on both stores: ticks → minute candles of the mid → stored once per closed
//! minute with 5 m and 1 h roll-ups → `GET /api/candles`, exact, with gaps left as gaps.

use crate::support::{assert_problem, Backend, TestApi};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::{json, Value};
use user_api_svc::candles::{Candle, Interval};

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn candles(api: &TestApi, interval: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
    let path = format!(
        "/api/candles?pair=BTC_USD&interval={interval}&from={}&to={}",
        rfc(from),
        rfc(to)
    );
    let (code, body) = api.get(&path, None).await;
    assert_eq!(code, 200, "{body}");
    body
}

/// `[start offset in minutes, open, high, low, close, ticks]` of each candle.
fn shape(page: &Value, base: DateTime<Utc>) -> Vec<Value> {
    page["candles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let start: DateTime<Utc> = c["start"].as_str().unwrap().parse().unwrap();
            json!([
                (start - base).num_minutes(),
                c["open"],
                c["high"],
                c["low"],
                c["close"],
                c["ticks"]
            ])
        })
        .collect()
}

async fn minutes_roll_up_exactly_and_silent_minutes_stay_gaps(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    // An hour in the future, so the scheduler's own runs (on the real clock) never close it.
    let base = (Utc::now() + TimeDelta::hours(2))
        .duration_trunc(TimeDelta::hours(1))
        .unwrap();
    let at = |m: i64, s: i64| base + TimeDelta::minutes(m) + TimeDelta::seconds(s);
    // Pub/sub is at-most-once: first make sure the node is subscribed. A first value may be
    // read from the last-value hash before the subscription holds; a second one seen after
    // it proves the subscription. Both are stamped in one minute an hour before the hour under
    // test: one candle whatever the clock does meanwhile (stamped now, two ticks that straddle
    // a minute made two), and still in the future, so the scheduler never closes it.
    // With its tick described, every candle price reads at it (`110.0`, not `110`).
    api.feed.meta("BTC/USD", "0.1").await;
    let warm_up = base - TimeDelta::hours(1) + TimeDelta::seconds(30);
    for bid in ["1.0", "2.0"] {
        api.feed.rate_at("BTC/USD", bid, "2.2", warm_up).await;
        testkit::eventually("the node hears the bus", || async {
            api.get("/api/rates/BTC_USD", None).await.1["original"]["sell"] == bid
        })
        .await;
    }
    for (bid, ask, ts) in [
        ("100.0", "100.2", at(0, 10)), // mid 100.1
        ("101.0", "101.2", at(0, 20)), // mid 101.1
        ("99.00", "99.10", at(0, 50)), // mid 99.05
        ("105.0", "105.1", at(2, 5)),  // minute 1 silent: no candle
        ("109.9", "110.1", at(5, 30)), // the next 5 minutes
    ] {
        api.feed.rate_at("BTC/USD", bid, ask, ts).await;
    }
    testkit::eventually("the last tick reached the book", || async {
        api.get("/api/rates/BTC_USD", None).await.1["original"]["sell"] == "109.9"
    })
    .await;
    let state = api.app().state();
    let stored = user_api_svc::jobs::close_candles(state, at(6, 2)).await;
    assert_eq!(
        stored,
        Some(4),
        "the first tick's minute and three more closed minutes"
    );

    let (from, to) = (base, base + TimeDelta::hours(1));
    assert_eq!(
        shape(&candles(&api, "1m", from, to).await, base),
        [
            json!([0, "100.1", "101.1", "99.05", "99.05", 3]),
            json!([2, "105.05", "105.05", "105.05", "105.05", 1]),
            json!([5, "110.0", "110.0", "110.0", "110.0", 1]),
        ]
    );
    assert_eq!(
        shape(&candles(&api, "5m", from, to).await, base),
        [
            json!([0, "100.1", "105.05", "99.05", "105.05", 4]),
            json!([5, "110.0", "110.0", "110.0", "110.0", 1]),
        ]
    );
    assert_eq!(
        shape(&candles(&api, "1h", from, to).await, base),
        [json!([0, "100.1", "110.0", "99.05", "110.0", 5])]
    );

    // A late tick for a closed minute changes nothing; saving a stored minute again neither.
    api.feed.rate_at("BTC/USD", "500", "500.2", at(0, 55)).await;
    api.feed.rate_at("BTC/USD", "111", "111.2", at(6, 10)).await;
    testkit::eventually("the tick after the late one reached the book", || async {
        api.get("/api/rates/BTC_USD", None).await.1["original"]["sell"] == "111.0"
    })
    .await;
    assert_eq!(
        user_api_svc::jobs::close_candles(state, at(7, 2)).await,
        Some(1)
    );
    let again = Candle {
        pair: common::Pair::parse("BTC/USD").unwrap(),
        interval: Interval::M1,
        start: at(2, 0),
        open: "1".parse().unwrap(),
        high: "1".parse().unwrap(),
        low: "1".parse().unwrap(),
        close: "1".parse().unwrap(),
        ticks: 1,
    };
    state.store.save_candles(&[again]).await.unwrap();
    assert_eq!(
        shape(&candles(&api, "1h", from, to).await, base),
        [json!([0, "100.1", "111.1", "99.05", "111.1", 6])]
    );
    let minutes = candles(&api, "1m", from, to).await;
    assert_eq!(
        minutes["candles"][0]["high"], "101.1",
        "the late 500 is not in"
    );
    assert_eq!(
        minutes["candles"][1]["open"], "105.05",
        "a stored minute is kept"
    );
    assert_eq!(
        (minutes["pair"].as_str(), minutes["interval"].as_str()),
        (Some("BTC/USD"), Some("1m"))
    );

    // Past the retention, candles go (1 m after CANDLE_RETENTION_DAYS, 7 by default).
    user_api_svc::jobs::close_candles(state, base + TimeDelta::days(8)).await;
    assert!(candles(&api, "1m", from, to).await["candles"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        candles(&api, "1h", from, to).await["candles"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    api.finish().await;
}

async fn bad_candle_requests_get_clear_problems(backend: Backend) {
    let api = TestApi::start_on(backend, |_| {}).await;
    let now = Utc::now();
    for (query, status, problem) in [
        (
            "pair=BTC_USD&interval=2m".to_string(),
            422,
            "validation_failed",
        ),
        ("pair=DOGE_USD".to_string(), 404, "unknown_pair"),
        ("pair=BTC%2F%2F".to_string(), 400, "invalid_pair"),
        (
            format!(
                "pair=BTC_USD&from={}&to={}",
                rfc(now),
                rfc(now - TimeDelta::hours(1))
            ),
            422,
            "validation_failed",
        ),
        (
            format!(
                "pair=BTC_USD&interval=1m&from={}",
                rfc(now - TimeDelta::days(2))
            ),
            422,
            "validation_failed",
        ),
        (
            "pair=BTC_USD&from=yesterday".to_string(),
            422,
            "validation_failed",
        ),
    ] {
        let (code, body) = api.get(&format!("/api/candles?{query}"), None).await;
        assert_problem(code, &body, status, problem);
    }
    // No query at all: the pair is required (axum's rejection, as problem+json).
    let (code, body) = api.get("/api/candles", None).await;
    assert_eq!(code, 400, "{body}");
    // Nothing recorded yet: an empty history, not an error.
    let (code, body) = api.get("/api/candles?pair=BTC-USD&interval=1h", None).await;
    assert_eq!((code, body["candles"].clone()), (200, json!([])));
    api.finish().await;
}

on_both_backends!(
    minutes_roll_up_exactly_and_silent_minutes_stay_gaps,
    bad_candle_requests_get_clear_problems,
);
