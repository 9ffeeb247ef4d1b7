//! [`Consolidator`]: turns the venues' books into one price per pair (ARCHITECTURE.md §3).
//!
//! After every verified book update, and on a sweep that notices venues going stale, the
//! pair's consolidated book is rebuilt from [`VenueBooks::consolidate`]. What comes out:
//! - a rate (best bid and ask over the venues contributing now, and which venues those are)
//!   whenever the best prices or the venues change, but only while at least `MIN_VENUES`
//!   venues contribute; below that the pair is `silent` and publishes nothing;
//! - a book message (the consolidated levels) marked dirty, which the publisher sends at
//!   most `BOOK_PUBLISH_HZ` a second per pair, or at once when the venues in it changed (a
//!   venue that left must leave every consumer's book as soon as it leaves the price).
//!
//! When venues cross (one's bid above another's ask) the rate is turned in the house's favour:
//! the bid is the lower of the two prices and the ask the higher, so nobody buys below a bid
//! or sells above an ask that exists somewhere. A locked book (a bid equal to another venue's
//! ask) makes no rate; the last one stands until it unlocks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::Utc;
use common::book::Venue;
use common::bus::{BookMsg, BUS_VERSION};
use common::sync::lock;
use common::{Decimal, Pair};

use crate::books::{Consolidation, VenueBooks};

#[derive(Debug, Default)]
struct Slot {
    current: Consolidation,
    /// The best bid/ask last handed out as a rate, with its venues.
    rate: Option<(Decimal, Decimal, Vec<Venue>)>,
    book_seq: u64,
    dirty: bool,
    /// At least `MIN_VENUES` contribute.
    quorate: bool,
}

/// What one rebuild of a pair's book asks the feed to do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rebuilt {
    /// A new rate: `(bid, ask, venues)`.
    pub rate: Option<(Decimal, Decimal, Vec<Venue>)>,
    /// The pair went from enough venues to too few, or back: the status changed.
    pub quorum_changed: bool,
    /// The venues in the book changed: the book should go out now, not at the next period.
    pub venues_changed: bool,
}

/// Every pair's consolidated book.
#[derive(Debug)]
pub struct Consolidator {
    min_venues: usize,
    pairs: Mutex<BTreeMap<Pair, Slot>>,
}

impl Consolidator {
    pub fn new(pairs: &[Pair], min_venues: usize) -> Self {
        Consolidator {
            min_venues: min_venues.max(1),
            pairs: Mutex::new(pairs.iter().map(|p| (p.clone(), Slot::default())).collect()),
        }
    }

    /// Rebuilds `pair`'s book from `books` as they are at `now`.
    pub fn rebuild(&self, books: &VenueBooks, pair: &Pair, now: Instant) -> Rebuilt {
        let c = books.consolidate(pair, now);
        let mut pairs = lock(&self.pairs);
        let Some(slot) = pairs.get_mut(pair) else {
            return Rebuilt::default();
        };
        let quorate = c.venues.len() >= self.min_venues;
        let quorum_changed = quorate != slot.quorate;
        slot.quorate = quorate;
        let best = c
            .book
            .bids
            .first()
            .zip(c.book.asks.first())
            .map(|(b, a)| (b.price.min(a.price), a.price.max(b.price)));
        // Locked across venues (one's bid equals another's ask): no rate can be made of it
        // that favours the house on both sides; the last one stands until it unlocks.
        let best = best.filter(|(bid, ask)| bid < ask);
        let unchanged = |(bid, ask): (Decimal, Decimal)| {
            slot.rate
                .as_ref()
                .is_some_and(|(b, a, v)| (*b, *a) == (bid, ask) && *v == c.venues)
        };
        let rate = match best {
            Some(best) if quorate && !unchanged(best) => {
                let rate = (best.0, best.1, c.venues.clone());
                slot.rate = Some(rate.clone());
                Some(rate)
            }
            _ => None,
        };
        let venues_changed = slot.current.venues != c.venues;
        if slot.current != c {
            slot.current = c;
            slot.dirty = true;
        }
        Rebuilt {
            rate,
            quorum_changed,
            venues_changed,
        }
    }

    /// Whether enough venues contribute to `pair` now.
    pub fn quorate(&self, pair: &Pair) -> bool {
        lock(&self.pairs).get(pair).is_some_and(|s| s.quorate)
    }

    /// The books as messages of `epoch`: those that changed since last taken
    /// (`only_changed`), or every pair's (for a resync).
    pub fn take(&self, epoch: &str, only_changed: bool) -> Vec<Arc<BookMsg>> {
        let mut pairs = lock(&self.pairs);
        pairs
            .iter_mut()
            .filter(|(_, s)| s.dirty || !only_changed)
            .map(|(pair, slot)| {
                slot.dirty = false;
                slot.book_seq += 1;
                message(pair, slot, epoch)
            })
            .collect()
    }
}

fn message(pair: &Pair, slot: &Slot, epoch: &str) -> Arc<BookMsg> {
    Arc::new(BookMsg {
        v: BUS_VERSION,
        pair: pair.clone(),
        book: slot.current.book.clone(),
        venues: slot.current.venues.clone(),
        ts: Utc::now(),
        seq: slot.book_seq,
        epoch: epoch.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::books::{one_level_book as book, BookRules};
    use std::time::Duration;

    use testkit::d;

    #[test]
    fn a_rate_comes_when_the_best_prices_or_venues_change_and_only_with_a_quorum() {
        let books = VenueBooks::new(BookRules::new(Duration::from_secs(60)));
        let btc = Pair::parse("BTC/USD").unwrap();
        let c = Consolidator::new(std::slice::from_ref(&btc), 2);
        books.link_up(Venue::Kraken);
        books.link_up(Venue::Coinbase);
        books.verified(Venue::Kraken, &btc, &book("100", "101"), true);
        let r = c.rebuild(&books, &btc, Instant::now());
        assert_eq!(r.rate, None, "one venue of two needed: no rate");
        assert!(r.venues_changed && !r.quorum_changed);
        books.verified(Venue::Coinbase, &btc, &book("100.5", "102"), true);
        let r = c.rebuild(&books, &btc, Instant::now());
        assert!(r.quorum_changed);
        assert_eq!(
            r.rate,
            Some((d("100.5"), d("101"), vec![Venue::Kraken, Venue::Coinbase]))
        );
        // The same prices again: no new rate, and the book is dirty once.
        assert_eq!(c.rebuild(&books, &btc, Instant::now()).rate, None);
        let dirty = c.take("e", true);
        assert_eq!(dirty.len(), 1);
        assert_eq!(dirty[0].book.asks[0].venue, Venue::Kraken);
        assert!(c.take("e", true).is_empty());
        assert_eq!(c.take("e", false).len(), 1, "a resync takes every pair");
        // Crossed: Coinbase bids 102 while Kraken asks 101 → the rate is 101 / 102.
        books.verified(Venue::Coinbase, &btc, &book("102", "103"), false);
        let r = c.rebuild(&books, &btc, Instant::now());
        assert_eq!(r.rate.map(|(b, a, _)| (b, a)), Some((d("101"), d("102"))));
        // Locked (Coinbase bids exactly Kraken's ask): no rate, and no dropped tick to log.
        books.verified(Venue::Coinbase, &btc, &book("101", "103"), false);
        assert_eq!(c.rebuild(&books, &btc, Instant::now()).rate, None);
        books.link_down(Venue::Coinbase);
        let r = c.rebuild(&books, &btc, Instant::now());
        assert!(r.quorum_changed && r.rate.is_none());
        assert!(!c.quorate(&btc));
    }
}
