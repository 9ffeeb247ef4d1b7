//! `FEED=sim`: a clearly labelled random walk (`source:"sim"`) for demos without internet.
//! It is never used unless asked for; the default feed is always the real venues.
//!
//! It simulates three venues' books around each pair's walk, so depth-priced quotes, the
//! ladder and venue health can be tried offline: "kraken" quotes the walk's best bid/ask,
//! "coinbase" and "bitstamp" one and two ticks wider, each with ten levels per side a tick
//! apart holding a growing notional (about 25,000, 50,000, ... of the quote currency). The
//! rate it publishes is the consolidated book's, labelled `source: "sim"`.

use std::time::Duration;

use common::book::{Book, Side, Venue};
use common::bus::FeedState;
use common::shutdown::Shutdown;
use common::sim::RandomWalk;
use common::Decimal;
use common::Pair;
use rand::SeedableRng;

use crate::connector::{BoxFuture, Connector};
use crate::feed::Feed;

/// Levels per side of each simulated venue's book.
const LEVELS: u32 = 10;

/// One simulated venue's book: `offset` ticks wider than the walk, `LEVELS` a side.
pub fn venue_book(bid: Decimal, ask: Decimal, tick: Decimal, offset: u32) -> Book {
    let mut book = Book::new();
    for i in 0..LEVELS {
        let away = tick * Decimal::from(offset + i);
        let notional = Decimal::from(25_000 * (i + 1));
        for (side, price) in [(Side::Bid, bid - away), (Side::Ask, ask + away)] {
            if price > Decimal::ZERO {
                book.set(side, price, (notional / price).round_dp(8));
            }
        }
    }
    book
}

pub struct SimConnector {
    pairs: Vec<Pair>,
    /// Time between two ticks of one pair.
    interval: Duration,
}

impl SimConnector {
    pub fn new(pairs: Vec<Pair>, interval: Duration) -> Self {
        SimConnector { pairs, interval }
    }
}

impl Connector for SimConnector {
    fn source(&self) -> &'static str {
        "sim"
    }

    fn rest(&self) -> Option<std::sync::Arc<dyn crate::connector::ExchangeRest>> {
        None
    }

    fn run(self: Box<Self>, feed: Feed, shutdown: Shutdown) -> BoxFuture {
        Box::pin(async move {
            tracing::warn!("FEED=sim: publishing SIMULATED prices labelled source=\"sim\"");
            let mut rng = rand::rngs::SmallRng::from_os_rng();
            let mut walks: Vec<(Pair, RandomWalk)> = self
                .pairs
                .iter()
                .map(|p| (p.clone(), RandomWalk::for_symbol(p.as_str())))
                .collect();
            feed.connected();
            feed.exchange_state(FeedState::Online, None);
            for venue in Venue::ALL {
                feed.books().link_up(venue);
            }
            for (pair, _) in &walks {
                feed.pair_acked(pair);
            }
            let mut every = tokio::time::interval(self.interval);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.wait() => break,
                    _ = every.tick() => {
                        for venue in Venue::ALL {
                            feed.books().alive(venue);
                        }
                        for (pair, walk) in walks.iter_mut() {
                            let (bid, ask) = walk.step(&mut rng);
                            for (offset, venue) in (0..).zip(Venue::ALL) {
                                let book = venue_book(bid, ask, walk.tick_size(), offset);
                                feed.verified_book(venue, pair, &book, false);
                            }
                        }
                    }
                }
            }
            for venue in Venue::ALL {
                feed.venue_down(venue);
            }
            feed.disconnected("shutdown");
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simulated_venue_book_is_offset_ticks_wide_with_growing_notional() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let book = venue_book(d("100.0"), d("100.1"), d("0.1"), 1);
        assert_eq!(book.best(Side::Bid), Some((d("99.9"), d("250.25025025"))));
        assert_eq!(book.best(Side::Ask).map(|l| l.0), Some(d("100.2")));
        assert_eq!(book.depth(Side::Ask), LEVELS as usize);
    }
}
