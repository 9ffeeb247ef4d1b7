//! Three venues' books make one price: the real `exchange-rate-svc` binary on a mock Kraken,
//! a mock Coinbase and a mock Bitstamp (each over a real WebSocket) and the real Redis.
//! A venue killed, silent, gapped, outlying or asking to reconnect leaves the price and the
//! pair stays fresh from the others; a venue that returns rejoins after a fresh snapshot; with
//! every venue gone the pair is silent.

use std::time::{Duration, Instant};

use common::bus::{BookMsg, BusKeys, RateMsg, StatusMsg};
use kraken_mock::{MockConfig, MockKraken, MockVenue, VenueKind};
use serde_json::Value;
use testkit::process::Service;

use crate::support::{eventually, recv_until, redis, redis_url, subscribe};

/// How long a venue may go without a sign of life before it leaves the price, in these tests.
const VENUE_STALE_MS: u64 = 1500;

struct Venues {
    kraken: MockKraken,
    coinbase: MockVenue,
    bitstamp: MockVenue,
    feed: Service,
    keys: BusKeys,
    /// Every rate and book since before the feed started (a rate published while a test was
    /// still subscribing would otherwise be missed, and the book may not change again).
    rates: tokio::sync::mpsc::UnboundedReceiver<RateMsg>,
    books: tokio::sync::mpsc::UnboundedReceiver<BookMsg>,
}

impl Venues {
    async fn start(extra: &[(&str, String)]) -> Venues {
        common::telemetry::init_for_tests();
        common::tls::install_crypto_provider();
        let kraken = MockKraken::start(MockConfig {
            pairs: vec!["BTC/USD".into()],
            ..MockConfig::default()
        })
        .await
        .expect("mock kraken");
        let coinbase = MockVenue::start(VenueKind::Coinbase, &["BTC/USD"])
            .await
            .expect("mock coinbase");
        let bitstamp = MockVenue::start(VenueKind::Bitstamp, &["BTC/USD"])
            .await
            .expect("mock bitstamp");
        let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
        let mut env = vec![
            ("REDIS_URL", redis_url()),
            ("REDIS_PREFIX", prefix.clone()),
            ("KRAKEN_WS_URL", kraken.ws_url()),
            ("KRAKEN_REST_URL", kraken.rest_url()),
            ("COINBASE_WS_URL", coinbase.ws_url()),
            ("BITSTAMP_WS_URL", bitstamp.ws_url()),
            ("BITSTAMP_REST_URL", bitstamp.rest_url()),
            ("PAIRS", "BTC/USD".into()),
            ("VENUE_STALE_MS", VENUE_STALE_MS.to_string()),
            ("FEED_LIVENESS_MS", "3000".into()),
            ("BACKOFF_MIN_MS", "50".into()),
            ("BACKOFF_MAX_MS", "300".into()),
            ("FEED_LEASE_TTL_MS", "1000".into()),
        ];
        env.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
        let keys = BusKeys::new(prefix);
        let rates = subscribe::<RateMsg>(&keys.rates()).await;
        let books = subscribe::<BookMsg>(&keys.books()).await;
        let feed = Service::spawn("exchange-rate-svc", &env).await;
        Venues {
            kraken,
            coinbase,
            bitstamp,
            feed,
            keys,
            rates,
            books,
        }
    }

    /// `/status`'s word on one venue's BTC/USD book.
    async fn book_state(&self, venue: &str) -> String {
        let s = self.feed.get("/status").await;
        s["venues"][venue]["pairs"]["BTC/USD"]["state"]
            .as_str()
            .unwrap_or("absent")
            .to_string()
    }

    async fn wait_book_state(&self, venue: &str, state: &str) {
        eventually(&format!("{venue}'s BTC/USD book {state}"), || async {
            self.book_state(venue).await == state
        })
        .await;
    }

    async fn all_fresh(&self) {
        for venue in ["kraken", "coinbase", "bitstamp"] {
            self.wait_book_state(venue, "fresh").await;
        }
    }

    async fn finish(mut self) {
        self.feed.kill().await;
        self.kraken.stop();
        self.coinbase.stop();
        self.bitstamp.stop();
        testkit::services::delete_bus_keys(&redis().await, self.keys.prefix()).await;
    }
}

fn venues_of(m: &RateMsg) -> Vec<&'static str> {
    m.venues.iter().map(|v| v.as_str()).collect()
}

#[tokio::test]
async fn three_venues_make_one_price_and_a_killed_venue_leaves_it_with_no_stale_window() {
    let mut v = Venues::start(&[]).await;
    v.all_fresh().await;
    let all = recv_until(&mut v.rates, "a rate from all three venues", |m| {
        m.venues.len() == 3
    })
    .await;
    assert_eq!(all.source, "consolidated");
    assert_eq!(venues_of(&all), ["kraken", "coinbase", "bitstamp"]);
    let book = recv_until(&mut v.books, "a book of three venues", |b| {
        b.venues.len() == 3
    })
    .await;
    assert_eq!(
        book.book.bids[0].price, all.bid,
        "the rate is the book's best bid"
    );
    assert_eq!(book.book.asks[0].price, all.ask);
    for venue in ["kraken", "coinbase", "bitstamp"] {
        assert!(
            book.book.asks.iter().any(|l| l.venue.as_str() == venue),
            "{venue} has levels in the consolidated book"
        );
    }
    let last: Option<String> =
        fred::interfaces::HashesInterface::hget(&redis().await, v.keys.books_last(), "BTC/USD")
            .await
            .expect("books:last");
    assert!(last.is_some(), "the book is in its last-value hash");

    // Coinbase dies. The price goes on from the other two at once, and the pair never turns
    // silent in between.
    let mut status = subscribe::<StatusMsg>(&v.keys.status()).await;
    let killed = Instant::now();
    v.coinbase.stop();
    let without = recv_until(&mut v.rates, "a rate without coinbase", |m| {
        !m.venues.iter().any(|v| v.as_str() == "coinbase")
    })
    .await;
    let gap = killed.elapsed();
    assert_eq!(venues_of(&without), ["kraken", "bitstamp"]);
    assert!(
        gap < Duration::from_millis(VENUE_STALE_MS),
        "the price left coinbase within VENUE_STALE_MS (took {gap:?})"
    );
    // Every status from the kill until the one that reports Coinbase down says BTC/USD ok.
    let btc = common::Pair::parse("BTC/USD").unwrap();
    recv_until(&mut status, "a status with coinbase down", |s| {
        assert_eq!(
            s.pairs[&btc],
            common::bus::PairState::Ok,
            "BTC/USD stayed fresh while coinbase went away"
        );
        s.venues
            .get(&common::book::Venue::Coinbase)
            .is_some_and(|c| c.state == common::bus::BookState::Down)
    })
    .await;
    v.wait_book_state("coinbase", "down").await;
    let s = v.feed.get("/status").await;
    assert_eq!(s["state"], "online");
    assert_eq!(s["pairs"]["BTC/USD"], "ok");
    v.finish().await;
}

#[tokio::test]
async fn a_silent_venue_goes_stale_and_a_sequence_gap_takes_a_new_snapshot() {
    let v = Venues::start(&[]).await;
    let mut rates = subscribe::<RateMsg>(&v.keys.rates()).await;
    v.all_fresh().await;

    // Bitstamp keeps its socket open and says nothing: stale within VENUE_STALE_MS, and out
    // of the price; back when it speaks again.
    v.bitstamp.set_silent(true);
    v.wait_book_state("bitstamp", "stale").await;
    recv_until(&mut rates, "a rate without bitstamp", |m| {
        m.venues.len() == 2 && !m.venues.iter().any(|v| v.as_str() == "bitstamp")
    })
    .await;
    v.bitstamp.set_silent(false);
    v.bitstamp.set_level("BTC/USD", true, "1", "0.5");
    v.wait_book_state("bitstamp", "fresh").await;

    // A gap in Coinbase's sequence: a new connection and a new snapshot.
    let before = v.coinbase.stats().connections;
    v.coinbase.skip_sequence(3);
    eventually("coinbase reconnects after the gap", || async {
        v.coinbase.stats().connections > before
    })
    .await;
    v.wait_book_state("coinbase", "fresh").await;
    let s = v.feed.get("/status").await;
    assert_eq!(s["venues"]["coinbase"]["sequence_gaps"], 1);

    // Garbage from a venue is counted, not fatal.
    v.coinbase.send_garbage();
    v.kraken.send_garbage();
    tokio::time::sleep(Duration::from_millis(200)).await;
    v.all_fresh().await;

    // Bitstamp's notice before maintenance: it reconnects and takes a new snapshot.
    let (before, snapshots) = (
        v.bitstamp.stats().connections,
        v.bitstamp.stats().snapshots_served,
    );
    v.bitstamp.request_reconnect();
    eventually("bitstamp reconnects and takes a new snapshot", || async {
        let s = v.bitstamp.stats();
        s.connections > before && s.snapshots_served > snapshots
    })
    .await;
    v.wait_book_state("bitstamp", "fresh").await;
    v.finish().await;
}

#[tokio::test]
async fn an_outlying_venue_is_excluded_until_it_comes_back() {
    let v = Venues::start(&[]).await;
    let mut rates = subscribe::<RateMsg>(&v.keys.rates()).await;
    v.all_fresh().await;
    let seed = v.feed.get("/status").await["venues"]["kraken"]["pairs"]["BTC/USD"]["bid"]
        .as_str()
        .expect("kraken's bid")
        .parse::<common::Decimal>()
        .expect("decimal");
    // Bitstamp moves 5% up: far beyond VENUE_MAX_DEVIATION_BPS (100).
    let far = seed * common::Decimal::new(105, 2);
    let far_bid = far.round_dp(1).to_string();
    let far_ask = (far + common::Decimal::ONE).round_dp(1).to_string();
    v.bitstamp
        .set_book("BTC/USD", &[(&far_bid, "1")], &[(&far_ask, "1")]);
    v.wait_book_state("bitstamp", "excluded").await;
    // (On a loaded machine Coinbase's heartbeat can come late enough for a moment of
    // staleness; with two venues left nobody is excluded, so wait for the price that matters.)
    let m = recv_until(&mut rates, "a rate without the outlier", |m| {
        venues_of(m) == ["kraken", "coinbase"]
    })
    .await;
    assert!(
        m.ask < far.round_dp(1),
        "the outlier's prices are not in the rate"
    );
    // Back in line: readmitted.
    let near_bid = seed.to_string();
    let near_ask = (seed + common::Decimal::ONE).to_string();
    v.bitstamp
        .set_book("BTC/USD", &[(&near_bid, "1")], &[(&near_ask, "1")]);
    v.wait_book_state("bitstamp", "fresh").await;
    recv_until(&mut rates, "a rate with bitstamp again", |m| {
        m.venues.len() == 3
    })
    .await;
    v.finish().await;
}

#[tokio::test]
async fn with_every_venue_gone_the_pair_is_silent_and_a_returning_venue_rejoins() {
    let v = Venues::start(&[]).await;
    v.all_fresh().await;
    v.coinbase.stop();
    v.bitstamp.stop();
    v.kraken.drop_connections();
    v.kraken.set_silent(true);
    eventually("BTC/USD silent with no venue", || async {
        let s: Value = v.feed.get("/status").await;
        s["pairs"]["BTC/USD"] == "silent"
    })
    .await;
    // Kraken answers again: a new snapshot, and the pair is fresh from it alone.
    v.kraken.set_silent(false);
    v.kraken.drop_connections();
    v.wait_book_state("kraken", "fresh").await;
    eventually("BTC/USD ok again", || async {
        v.feed.get("/status").await["pairs"]["BTC/USD"] == "ok"
    })
    .await;
    v.finish().await;
}

#[tokio::test]
async fn a_venue_in_maintenance_leaves_the_price_and_a_crossed_market_favours_the_house() {
    let v = Venues::start(&[]).await;
    let mut rates = subscribe::<RateMsg>(&v.keys.rates()).await;
    v.all_fresh().await;
    // Kraken says maintenance: its books leave the price, the feed stays online.
    v.kraken.set_system("maintenance");
    v.wait_book_state("kraken", "maintenance").await;
    recv_until(&mut rates, "a rate without kraken", |m| {
        venues_of(m) == ["coinbase", "bitstamp"]
    })
    .await;
    assert_eq!(v.feed.get("/status").await["state"], "online");
    v.kraken.set_system("online");
    v.wait_book_state("kraken", "fresh").await;

    // Coinbase bids above Bitstamp's ask (within the outlier limit): the published bid is
    // the lower of the two prices and the ask the higher, so nobody buys below a bid or sells
    // above an ask that exists somewhere.
    let seed = v.feed.get("/status").await["venues"]["bitstamp"]["pairs"]["BTC/USD"]["ask"]
        .as_str()
        .expect("bitstamp's ask")
        .parse::<common::Decimal>()
        .expect("decimal");
    let bid = (seed + common::Decimal::new(5, 1)).to_string();
    let ask = (seed + common::Decimal::ONE).to_string();
    v.coinbase
        .set_book("BTC/USD", &[(&bid, "1")], &[(&ask, "1")]);
    let crossed = recv_until(&mut rates, "the crossed rate", |m| {
        m.ask == bid.parse::<common::Decimal>().unwrap()
    })
    .await;
    assert_eq!(crossed.bid, seed, "bid = the lowest ask anywhere");
    assert!(crossed.bid < crossed.ask);
    v.finish().await;
}

/// With `MIN_VENUES=2`, one venue is not enough: the pair goes silent when the second-last
/// one leaves.
#[tokio::test]
async fn below_min_venues_the_pair_is_silent() {
    let v = Venues::start(&[("MIN_VENUES", "2".into())]).await;
    v.all_fresh().await;
    v.coinbase.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(v.feed.get("/status").await["pairs"]["BTC/USD"], "ok");
    v.bitstamp.stop();
    eventually("BTC/USD silent below MIN_VENUES", || async {
        v.feed.get("/status").await["pairs"]["BTC/USD"] == "silent"
    })
    .await;
    v.finish().await;
}
