//! Trading through a venue's death, as real processes: one exchange-rate-svc reading a mock
//! Kraken, Coinbase and Bitstamp, one user-api-svc on MariaDB, one Redis. A quote for size is
//! priced from every venue's levels; with Kraken killed the pair stays fresh and a quote
//! still fills from the other two; the Socket.IO client sees the venue leave the price; with
//! every venue gone the pair is stale and quotes are refused.

use std::time::Duration;

use testkit::cluster::Cluster;

#[tokio::test]
async fn with_a_venue_killed_the_pair_stays_quotable_and_an_order_fills_from_the_others() {
    let cluster = Cluster::start_on_venues(&testkit::services::redis_url(), 1, 1).await;
    let trader = cluster.funded_trader(0, "venues@rategate.test").await;
    let mut socket = cluster.socket(0, Some(&trader)).await;
    let all_three = |v: &serde_json::Value| {
        v["event"] == "rates:live"
            && v["data"]["BTC_USD"]["venues"]
                == serde_json::json!(["kraken", "coinbase", "bitstamp"])
            && v["data"]["BTC_USD"]["ladder"].is_array()
    };
    socket
        .next_within(Duration::from_secs(15), all_three)
        .await
        .expect("a live BTC rate made of three venues, with its ladder");
    let (quote, order) = cluster.trade_with_quote(0, &trader, "venue-1").await;
    assert_eq!(order["price"], quote["price"]);
    assert!(quote["levels_used"].as_u64().is_some(), "{quote}");

    // Kraken dies: its books leave the price, and the pair never goes stale.
    cluster.mock.stop();
    let without_kraken = socket
        .next_within(Duration::from_secs(5), |v| {
            v["event"] == "rates:live"
                && v["data"]["BTC_USD"]["venues"] == serde_json::json!(["coinbase", "bitstamp"])
        })
        .await
        .expect("the price without kraken");
    assert_eq!(without_kraken["data"]["BTC_USD"]["stale"], false);
    let (quote, order) = cluster.trade_with_quote(0, &trader, "venue-2").await;
    assert_eq!(order["status"], "filled");
    assert_eq!(order["price"], quote["price"]);
    let venues = quote["venues"].as_array().expect("venues").clone();
    assert!(
        !venues.iter().any(|v| v == "kraken") && !venues.is_empty(),
        "filled from the venues still there: {quote}"
    );
    let (_, book) = cluster.web[0].get("/api/book/BTC_USD", None).await;
    assert!(
        book["asks"]
            .as_array()
            .is_some_and(|a| a.iter().all(|l| l["venue"] != "kraken")),
        "{book}"
    );

    // Every venue gone: the pair turns stale and quotes are refused.
    let (coinbase, bitstamp) = cluster.venues.as_ref().expect("venues");
    coinbase.stop();
    bitstamp.stop();
    socket
        .next_within(Duration::from_secs(10), |v| {
            v["event"] == "rates:live" && v["data"]["BTC_USD"]["stale"] == true
        })
        .await
        .expect("BTC stale with no venue left");
    let (code, refused) = cluster.web[0]
        .quote(&trader, "BTC/USD", "buy", "0.01")
        .await;
    assert_eq!(
        (code, refused["code"].as_str()),
        (503, Some("rates_stale")),
        "{refused}"
    );
    socket.close().await;
    cluster.stop().await;
}
