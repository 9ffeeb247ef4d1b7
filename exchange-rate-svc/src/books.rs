//! The venues' L2 books as the connectors keep them: per venue and pair, the top of the
//! verified book, when it last moved, and its health; the `venues` section of `/status`.
//!
//! A pair's book on a venue is `fresh` while verified updates keep coming (within
//! `VENUE_STALE_MS`), `stale` when they stop, `resyncing` from a failed check (or the start)
//! until a new snapshot verifies, and `down` when the connection is gone or its checksum
//! failed [`UNHEALTHY_AFTER`] times with no verified update between; `maintenance` while the
//! venue says so.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::book::{Book, Side, Venue};
use common::bus::FeedState;
use common::decimal::DecimalString;
use common::sync::lock;
use common::{Decimal, Pair};
use serde::Serialize;

/// Checksum failures in a row that take a venue's pair out of service until a snapshot
/// verifies.
pub const UNHEALTHY_AFTER: u32 = 3;

/// A venue's pair, or a venue as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BookState {
    Fresh,
    Stale,
    Resyncing,
    Down,
    Maintenance,
}

#[derive(Debug, Default)]
struct PairBook {
    best: Option<(Decimal, Decimal)>,
    updated_at: Option<Instant>,
    consecutive_failures: u32,
    /// Waiting for a snapshot (after a failure, or never had one).
    resyncing: bool,
}

#[derive(Debug, Default)]
struct VenueSlot {
    checksum_failures: u64,
    sequence_gaps: u64,
    pairs: BTreeMap<Pair, PairBook>,
}

/// Every venue's books' health; shared by the connectors and `/status`.
#[derive(Debug)]
pub struct VenueBooks {
    stale_after: Duration,
    venues: Mutex<BTreeMap<Venue, VenueSlot>>,
}

/// One venue in `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct VenueView {
    pub state: BookState,
    pub checksum_failures: u64,
    pub sequence_gaps: u64,
    pub pairs: BTreeMap<Pair, PairBookView>,
}

/// One venue's pair in `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct PairBookView {
    pub state: BookState,
    /// Since the last verified update; absent before the first.
    pub age_ms: Option<u64>,
    pub bid: Option<DecimalString>,
    pub ask: Option<DecimalString>,
}

impl VenueBooks {
    pub fn new(stale_after: Duration) -> Self {
        VenueBooks {
            stale_after,
            venues: Mutex::new(BTreeMap::new()),
        }
    }

    fn with_pair<T>(&self, venue: Venue, pair: &Pair, f: impl FnOnce(&mut PairBook) -> T) -> T {
        let mut venues = lock(&self.venues);
        let slot = venues.entry(venue).or_default();
        f(slot.pairs.entry(pair.clone()).or_default())
    }

    /// The venue will keep a book for `pair` (it shows as `resyncing` until the snapshot).
    pub fn expect(&self, venue: Venue, pair: &Pair) {
        self.with_pair(venue, pair, |p| {
            if p.updated_at.is_none() {
                p.resyncing = true;
            }
        });
    }

    /// A verified book for `pair`: fresh from now. A verified update ends a failure streak;
    /// a verified snapshot does not (a book that fails again right after its snapshot is
    /// still failing).
    pub fn verified(&self, venue: Venue, pair: &Pair, book: &Book, snapshot: bool) {
        let best = book
            .best(Side::Bid)
            .zip(book.best(Side::Ask))
            .map(|((bid, _), (ask, _))| (bid, ask));
        self.with_pair(venue, pair, |p| {
            p.best = best;
            p.updated_at = Some(Instant::now());
            if !snapshot {
                p.consecutive_failures = 0;
            }
            p.resyncing = false;
        });
    }

    /// The venue's checksum disagreed with our book; returns the failures in a row.
    pub fn checksum_failed(&self, venue: Venue, pair: &Pair) -> u32 {
        let mut venues = lock(&self.venues);
        let slot = venues.entry(venue).or_default();
        slot.checksum_failures += 1;
        let p = slot.pairs.entry(pair.clone()).or_default();
        p.consecutive_failures += 1;
        p.resyncing = true;
        p.best = None;
        metrics::counter!("rategate_book_checksum_failures_total", "venue" => venue.as_str())
            .increment(1);
        p.consecutive_failures
    }

    /// A gap in the venue's sequence: every book of the connection is resyncing.
    pub fn sequence_gap(&self, venue: Venue) {
        let mut venues = lock(&self.venues);
        let slot = venues.entry(venue).or_default();
        slot.sequence_gaps += 1;
        for p in slot.pairs.values_mut() {
            p.resyncing = true;
            p.best = None;
        }
        metrics::counter!("rategate_book_sequence_gaps_total", "venue" => venue.as_str())
            .increment(1);
    }

    /// The connection ended: its books are gone and come back with the next snapshots.
    pub fn disconnected(&self, venue: Venue) {
        if let Some(slot) = lock(&self.venues).get_mut(&venue) {
            for p in slot.pairs.values_mut() {
                p.resyncing = true;
                p.best = None;
            }
        }
    }

    /// `/status`'s `venues`, given what the connection says (`connected`, the venue's
    /// system state).
    pub fn view(&self, connected: bool, system: FeedState) -> BTreeMap<Venue, VenueView> {
        let venues = lock(&self.venues);
        venues
            .iter()
            .map(|(venue, slot)| {
                let pairs: BTreeMap<Pair, PairBookView> = slot
                    .pairs
                    .iter()
                    .map(|(pair, p)| {
                        let age = p.updated_at.map(|t| t.elapsed());
                        let state = if system == FeedState::Maintenance {
                            BookState::Maintenance
                        } else if !connected || p.consecutive_failures >= UNHEALTHY_AFTER {
                            BookState::Down
                        } else if p.resyncing {
                            BookState::Resyncing
                        } else if age.is_some_and(|a| a <= self.stale_after) {
                            BookState::Fresh
                        } else {
                            BookState::Stale
                        };
                        let view = PairBookView {
                            state,
                            age_ms: age.map(|a| a.as_millis() as u64),
                            bid: p.best.map(|(bid, _)| DecimalString(bid)),
                            ask: p.best.map(|(_, ask)| DecimalString(ask)),
                        };
                        (pair.clone(), view)
                    })
                    .collect();
                let state = if system == FeedState::Maintenance {
                    BookState::Maintenance
                } else if !connected {
                    BookState::Down
                } else if pairs.values().any(|p| p.state == BookState::Fresh) {
                    BookState::Fresh
                } else {
                    BookState::Stale
                };
                let view = VenueView {
                    state,
                    checksum_failures: slot.checksum_failures,
                    sequence_gaps: slot.sequence_gaps,
                    pairs,
                };
                (*venue, view)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(bid: &str, ask: &str) -> Book {
        let mut b = Book::new();
        b.set(Side::Bid, bid.parse().unwrap(), Decimal::ONE);
        b.set(Side::Ask, ask.parse().unwrap(), Decimal::ONE);
        b
    }

    fn state(books: &VenueBooks, pair: &Pair) -> BookState {
        books.view(true, FeedState::Online)[&Venue::Kraken].pairs[pair].state
    }

    #[test]
    fn a_pairs_book_goes_fresh_resyncing_down_and_back() {
        let books = VenueBooks::new(Duration::from_secs(60));
        let btc = Pair::parse("BTC/USD").unwrap();
        books.expect(Venue::Kraken, &btc);
        assert_eq!(state(&books, &btc), BookState::Resyncing);
        books.verified(Venue::Kraken, &btc, &book("100.1", "100.2"), true);
        assert_eq!(state(&books, &btc), BookState::Fresh);
        let view = &books.view(true, FeedState::Online)[&Venue::Kraken];
        assert_eq!(
            view.pairs[&btc].bid.as_ref().map(|d| d.0.to_string()),
            Some("100.1".into())
        );
        assert_eq!(books.checksum_failed(Venue::Kraken, &btc), 1);
        assert_eq!(state(&books, &btc), BookState::Resyncing);
        books.checksum_failed(Venue::Kraken, &btc);
        assert_eq!(books.checksum_failed(Venue::Kraken, &btc), UNHEALTHY_AFTER);
        assert_eq!(state(&books, &btc), BookState::Down);
        // The new snapshot verifies, but only a verified update ends the streak.
        books.verified(Venue::Kraken, &btc, &book("100.1", "100.2"), true);
        assert_eq!(state(&books, &btc), BookState::Down);
        books.verified(Venue::Kraken, &btc, &book("100.1", "100.2"), false);
        assert_eq!(state(&books, &btc), BookState::Fresh);
        let view = &books.view(true, FeedState::Online)[&Venue::Kraken];
        assert_eq!(view.checksum_failures, 3);
        assert_eq!(
            books.view(false, FeedState::Online)[&Venue::Kraken].state,
            BookState::Down
        );
        assert_eq!(
            books.view(true, FeedState::Maintenance)[&Venue::Kraken].pairs[&btc].state,
            BookState::Maintenance
        );
    }

    #[test]
    fn a_book_without_updates_goes_stale() {
        let books = VenueBooks::new(Duration::from_millis(0));
        let btc = Pair::parse("BTC/USD").unwrap();
        books.verified(Venue::Kraken, &btc, &book("1", "2"), false);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(state(&books, &btc), BookState::Stale);
    }
}
