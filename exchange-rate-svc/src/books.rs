//! The venues' L2 books as the connectors keep them, and the consolidated book made from them
//! (ARCHITECTURE.md §3).
//!
//! Per venue and pair: the top `BOOK_DEPTH` levels of the last verified book, when it last
//! moved, and its health; per venue: whether its connection is up, what it says of itself
//! (maintenance) and when its subscription last proved alive. A pair's book on a venue is
//! - `fresh` while the connection is up and either a verified update or a frame proving the
//!   subscription (a heartbeat) came within `VENUE_STALE_MS`: a quiet book on a live
//!   connection is still the venue's book;
//! - `stale` when both stop;
//! - `resyncing` from a failed check (or the start) until a new snapshot verifies;
//! - `down` when the connection is gone, or its checksum failed [`UNHEALTHY_AFTER`] times with
//!   no verified update between;
//! - `maintenance` while the venue says so;
//! - `excluded` when it is otherwise fresh but its mid is more than `VENUE_MAX_DEVIATION_BPS`
//!   from the median of the fresh venues' mids. That takes at least three venues: between two
//!   that disagree nobody can tell which one is wrong, and the median of the *other* two of
//!   three is their average, which one outlier drags away from the good venue too (so an
//!   outlier would take a good venue out with it).
//!
//! [`VenueBooks::consolidate`] merges the fresh, admitted venues' books of a pair into one
//! [`Consolidated`] book, each level keeping its venue.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::book::{Book, Consolidated, Side, Venue};
use common::bus::{BookState, FeedState, VenueBookStatus, VenueStatus};
use common::decimal::DecimalString;
use common::sync::lock;
use common::{Decimal, Pair};

/// Checksum failures in a row that take a venue's pair out of service until a snapshot
/// verifies.
pub const UNHEALTHY_AFTER: u32 = 3;

/// How the books are judged and merged.
#[derive(Debug, Clone)]
pub struct BookRules {
    /// `VENUE_STALE_MS`: no verified update and no sign of life for longer is `stale`.
    pub stale_after: Duration,
    /// `BOOK_DEPTH`: levels per side kept per venue and in the consolidated book.
    pub depth: usize,
    /// `VENUE_MAX_DEVIATION_BPS`: a venue's mid this far from the others' median is excluded.
    pub max_deviation_bps: Decimal,
}

impl BookRules {
    pub fn new(stale_after: Duration) -> Self {
        BookRules {
            stale_after,
            depth: 25,
            max_deviation_bps: Decimal::from(100),
        }
    }
}

#[derive(Debug, Default)]
struct PairBook {
    /// The top levels of the last verified book; `None` while there is none.
    top: Option<Book>,
    updated_at: Option<Instant>,
    consecutive_failures: u32,
    /// Left out of the consolidated book as an outlier (set by the last consolidation).
    excluded: bool,
}

#[derive(Debug)]
struct VenueSlot {
    checksum_failures: u64,
    sequence_gaps: u64,
    pairs: BTreeMap<Pair, PairBook>,
    connected: bool,
    /// What the venue says of itself (`online` unless it reports otherwise).
    system: FeedState,
    /// The last frame that proved the subscription alive.
    alive_at: Option<Instant>,
}

impl Default for VenueSlot {
    fn default() -> Self {
        VenueSlot {
            checksum_failures: 0,
            sequence_gaps: 0,
            pairs: BTreeMap::new(),
            connected: false,
            system: FeedState::Connecting,
            alive_at: None,
        }
    }
}

impl VenueSlot {
    /// The pair's state on this venue, before outlier exclusion.
    fn state(&self, p: &PairBook, now: Instant, stale_after: Duration) -> BookState {
        let recent =
            |t: Option<Instant>| t.is_some_and(|t| now.saturating_duration_since(t) <= stale_after);
        if self.system == FeedState::Maintenance {
            BookState::Maintenance
        } else if !self.connected || p.consecutive_failures >= UNHEALTHY_AFTER {
            BookState::Down
        } else if p.top.is_none() {
            // Waiting for a snapshot (at the start, or after the book was lost).
            BookState::Resyncing
        } else if recent(p.updated_at) || recent(self.alive_at) {
            BookState::Fresh
        } else {
            BookState::Stale
        }
    }
}

/// A pair's consolidated book and the venues in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consolidation {
    pub book: Consolidated,
    /// The venues whose books are in it, in [`Venue`] order.
    pub venues: Vec<Venue>,
}

/// Every venue's books and health; shared by the connectors, the feed and `/status`.
#[derive(Debug)]
pub struct VenueBooks {
    rules: BookRules,
    venues: Mutex<BTreeMap<Venue, VenueSlot>>,
}

impl VenueBooks {
    pub fn new(rules: BookRules) -> Self {
        VenueBooks {
            rules,
            venues: Mutex::new(BTreeMap::new()),
        }
    }

    fn with_venue<T>(&self, venue: Venue, f: impl FnOnce(&mut VenueSlot) -> T) -> T {
        f(lock(&self.venues).entry(venue).or_default())
    }

    fn with_pair<T>(&self, venue: Venue, pair: &Pair, f: impl FnOnce(&mut PairBook) -> T) -> T {
        self.with_venue(venue, |slot| match slot.pairs.get_mut(pair) {
            Some(p) => f(p),
            None => f(slot.pairs.entry(pair.clone()).or_default()),
        })
    }

    // ---- the connection ---------------------------------------------------------------

    /// The venue's connection is up (its books still have to come).
    pub fn link_up(&self, venue: Venue) {
        self.with_venue(venue, |slot| {
            slot.connected = true;
            if slot.system == FeedState::Connecting || slot.system == FeedState::Down {
                slot.system = FeedState::Online;
            }
        });
    }

    /// The connection ended: its books are gone and come back with the next snapshots.
    pub fn link_down(&self, venue: Venue) {
        self.with_venue(venue, |slot| {
            slot.connected = false;
            slot.alive_at = None;
            for p in slot.pairs.values_mut() {
                p.top = None;
            }
        });
    }

    /// What the venue says of itself (Kraken's `status` channel).
    pub fn system(&self, venue: Venue, state: FeedState) {
        self.with_venue(venue, |slot| slot.system = state);
    }

    /// A frame proved the venue's subscription alive.
    pub fn alive(&self, venue: Venue) {
        self.with_venue(venue, |slot| slot.alive_at = Some(Instant::now()));
    }

    // ---- the books ----------------------------------------------------------------------

    /// The venue will keep a book for `pair` (it shows as `resyncing` until the snapshot).
    pub fn expect(&self, venue: Venue, pair: &Pair) {
        self.with_pair(venue, pair, |_| {});
    }

    /// A verified book for `pair`: fresh from now. A verified update ends a failure streak;
    /// a verified snapshot does not (a book that fails again right after its snapshot is
    /// still failing).
    pub fn verified(&self, venue: Venue, pair: &Pair, book: &Book, snapshot: bool) {
        let top = book.top(self.rules.depth);
        self.with_pair(venue, pair, |p| {
            p.top = Some(top);
            p.updated_at = Some(Instant::now());
            if !snapshot {
                p.consecutive_failures = 0;
            }
        });
    }

    /// The venue's checksum disagreed with our book; returns the failures in a row.
    pub fn checksum_failed(&self, venue: Venue, pair: &Pair) -> u32 {
        metrics::counter!("rategate_book_checksum_failures_total", "venue" => venue.as_str())
            .increment(1);
        self.with_venue(venue, |slot| {
            slot.checksum_failures += 1;
            let p = slot.pairs.entry(pair.clone()).or_default();
            p.consecutive_failures += 1;
            p.top = None;
            p.consecutive_failures
        })
    }

    /// A gap in the venue's sequence: every book of the connection is resyncing.
    pub fn sequence_gap(&self, venue: Venue) {
        metrics::counter!("rategate_book_sequence_gaps_total", "venue" => venue.as_str())
            .increment(1);
        self.with_venue(venue, |slot| {
            slot.sequence_gaps += 1;
            for p in slot.pairs.values_mut() {
                p.top = None;
            }
        });
    }

    // ---- consolidation --------------------------------------------------------------------

    /// `pair`'s consolidated book now: the fresh venues' books, less any outlier, merged by
    /// price. Records which venues were excluded, for the status.
    pub fn consolidate(&self, pair: &Pair, now: Instant) -> Consolidation {
        let mut venues = lock(&self.venues);
        let mut fresh: Vec<(Venue, Decimal)> = Vec::new();
        for (venue, slot) in venues.iter() {
            if let Some(p) = slot.pairs.get(pair) {
                let mid = p.top.as_ref().and_then(Book::mid);
                if let (BookState::Fresh, Some(mid)) =
                    (slot.state(p, now, self.rules.stale_after), mid)
                {
                    // A venue whose own book is crossed is not to be trusted either.
                    if p.top.as_ref().is_some_and(|b| !b.is_crossed()) {
                        fresh.push((*venue, mid));
                    }
                }
            }
        }
        let mids: Vec<Decimal> = fresh.iter().map(|(_, m)| *m).collect();
        let admitted: Vec<Venue> = fresh
            .iter()
            .filter(|(_, mid)| !is_outlier(*mid, &mids, self.rules.max_deviation_bps))
            .map(|(v, _)| *v)
            .collect();
        for (venue, slot) in venues.iter_mut() {
            if let Some(p) = slot.pairs.get_mut(pair) {
                p.excluded = fresh.iter().any(|(v, _)| v == venue) && !admitted.contains(venue);
            }
        }
        let books = admitted.iter().filter_map(|v| {
            venues
                .get(v)
                .and_then(|slot| slot.pairs.get(pair))
                .and_then(|p| p.top.as_ref())
                .map(|b| (*v, b))
        });
        Consolidation {
            book: Consolidated::merge(books, self.rules.depth),
            venues: admitted,
        }
    }

    /// The feed's state as a whole when it is made of venues: `online` while any venue is
    /// connected and online, else `maintenance` if one says so, `down` once any was
    /// connected, `connecting` before.
    pub fn overall(&self) -> FeedState {
        let venues = lock(&self.venues);
        if venues
            .values()
            .any(|s| s.connected && s.system == FeedState::Online)
        {
            FeedState::Online
        } else if venues.values().any(|s| s.system == FeedState::Maintenance) {
            FeedState::Maintenance
        } else if venues.values().all(|s| s.system == FeedState::Connecting) {
            FeedState::Connecting
        } else {
            FeedState::Down
        }
    }

    /// The status's `venues`.
    pub fn view(&self) -> BTreeMap<Venue, VenueStatus> {
        let now = Instant::now();
        let venues = lock(&self.venues);
        venues
            .iter()
            .map(|(venue, slot)| {
                let pairs: BTreeMap<Pair, VenueBookStatus> = slot
                    .pairs
                    .iter()
                    .map(|(pair, p)| {
                        let age = p.updated_at.map(|t| now.saturating_duration_since(t));
                        let mut state = slot.state(p, now, self.rules.stale_after);
                        if state == BookState::Fresh && p.excluded {
                            state = BookState::Excluded;
                        }
                        let best = |side| p.top.as_ref().and_then(|b| b.best(side));
                        let view = VenueBookStatus {
                            state,
                            age_ms: age.map(|a| a.as_millis() as u64),
                            bid: best(Side::Bid).map(|(bid, _)| DecimalString(bid)),
                            ask: best(Side::Ask).map(|(ask, _)| DecimalString(ask)),
                        };
                        (pair.clone(), view)
                    })
                    .collect();
                let state = if slot.system == FeedState::Maintenance {
                    BookState::Maintenance
                } else if !slot.connected {
                    BookState::Down
                } else if pairs.values().any(|p| p.state == BookState::Fresh) {
                    BookState::Fresh
                } else if pairs.values().any(|p| p.state == BookState::Resyncing) {
                    BookState::Resyncing
                } else {
                    BookState::Stale
                };
                let view = VenueStatus {
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

/// Whether `mid` is more than `max_bps` from the median of `mids` (every fresh venue's,
/// its own included; at least three are needed to say).
fn is_outlier(mid: Decimal, mids: &[Decimal], max_bps: Decimal) -> bool {
    if mids.len() < 3 {
        return false;
    }
    let mut sorted = mids.to_vec();
    sorted.sort();
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / Decimal::TWO
    };
    if median <= Decimal::ZERO {
        return false;
    }
    let deviation = ((mid - median).abs() / median).checked_mul(Decimal::from(10_000));
    deviation.is_none_or(|bps| bps > max_bps)
}

/// A book of one level a side, 1 each, for the tests of the books and what reads them.
#[cfg(test)]
pub(crate) fn one_level_book(bid: &str, ask: &str) -> Book {
    let mut b = Book::new();
    b.set(Side::Bid, bid.parse().unwrap(), Decimal::ONE);
    b.set(Side::Ask, ask.parse().unwrap(), Decimal::ONE);
    b
}

#[cfg(test)]
mod tests {
    use super::one_level_book as book;
    use super::*;

    fn books(stale_ms: u64) -> VenueBooks {
        VenueBooks::new(BookRules::new(Duration::from_millis(stale_ms)))
    }

    fn state(books: &VenueBooks, venue: Venue, pair: &Pair) -> BookState {
        books.view()[&venue].pairs[pair].state
    }

    #[test]
    fn a_pairs_book_goes_fresh_resyncing_down_and_back() {
        let books = books(60_000);
        let btc = Pair::parse("BTC/USD").unwrap();
        books.link_up(Venue::Kraken);
        books.expect(Venue::Kraken, &btc);
        assert_eq!(state(&books, Venue::Kraken, &btc), BookState::Resyncing);
        books.verified(Venue::Kraken, &btc, &book("100.1", "100.2"), true);
        assert_eq!(state(&books, Venue::Kraken, &btc), BookState::Fresh);
        let view = &books.view()[&Venue::Kraken];
        assert_eq!(
            view.pairs[&btc].bid.as_ref().map(|d| d.0.to_string()),
            Some("100.1".into())
        );
        assert_eq!(books.checksum_failed(Venue::Kraken, &btc), 1);
        assert_eq!(state(&books, Venue::Kraken, &btc), BookState::Resyncing);
        books.checksum_failed(Venue::Kraken, &btc);
        assert_eq!(books.checksum_failed(Venue::Kraken, &btc), UNHEALTHY_AFTER);
        assert_eq!(state(&books, Venue::Kraken, &btc), BookState::Down);
        // The new snapshot verifies, but only a verified update ends the streak.
        books.verified(Venue::Kraken, &btc, &book("100.1", "100.2"), true);
        assert_eq!(state(&books, Venue::Kraken, &btc), BookState::Down);
        books.verified(Venue::Kraken, &btc, &book("100.1", "100.2"), false);
        assert_eq!(state(&books, Venue::Kraken, &btc), BookState::Fresh);
        assert_eq!(books.view()[&Venue::Kraken].checksum_failures, 3);
        books.system(Venue::Kraken, FeedState::Maintenance);
        assert_eq!(state(&books, Venue::Kraken, &btc), BookState::Maintenance);
        assert_eq!(books.overall(), FeedState::Maintenance);
        books.system(Venue::Kraken, FeedState::Online);
        books.link_down(Venue::Kraken);
        assert_eq!(books.view()[&Venue::Kraken].state, BookState::Down);
        assert_eq!(books.overall(), FeedState::Down);
    }

    #[test]
    fn a_book_without_updates_or_heartbeats_goes_stale() {
        let books = books(0);
        let btc = Pair::parse("BTC/USD").unwrap();
        books.link_up(Venue::Coinbase);
        books.verified(Venue::Coinbase, &btc, &book("1", "2"), false);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(state(&books, Venue::Coinbase, &btc), BookState::Stale);
        assert!(books.consolidate(&btc, Instant::now()).venues.is_empty());
    }

    #[test]
    fn a_quiet_book_on_a_live_connection_stays_fresh() {
        let books = books(50);
        let btc = Pair::parse("BTC/USD").unwrap();
        books.link_up(Venue::Bitstamp);
        books.verified(Venue::Bitstamp, &btc, &book("1", "2"), true);
        std::thread::sleep(Duration::from_millis(60));
        books.alive(Venue::Bitstamp);
        assert_eq!(state(&books, Venue::Bitstamp, &btc), BookState::Fresh);
    }

    #[test]
    fn the_consolidated_book_takes_fresh_venues_and_leaves_an_outlier_out_until_it_returns() {
        let books = books(60_000);
        let btc = Pair::parse("BTC/USD").unwrap();
        for v in Venue::ALL {
            books.link_up(v);
        }
        books.verified(Venue::Kraken, &btc, &book("100.0", "100.2"), true);
        books.verified(Venue::Coinbase, &btc, &book("100.1", "100.3"), true);
        let c = books.consolidate(&btc, Instant::now());
        assert_eq!(c.venues, [Venue::Kraken, Venue::Coinbase]);
        assert_eq!(c.book.bids[0].venue, Venue::Coinbase);
        assert_eq!(c.book.asks[0].venue, Venue::Kraken);
        // Two venues that disagree: nobody can say which is wrong, both stay.
        books.verified(Venue::Bitstamp, &btc, &book("110", "110.2"), true);
        books.verified(Venue::Coinbase, &btc, &book("100.1", "100.3"), true);
        // Three: Bitstamp's mid (110.1) is ~990 bps from the median (Coinbase's 100.2).
        let c = books.consolidate(&btc, Instant::now());
        assert_eq!(c.venues, [Venue::Kraken, Venue::Coinbase]);
        assert_eq!(state(&books, Venue::Bitstamp, &btc), BookState::Excluded);
        assert!(c.book.asks.iter().all(|l| l.venue != Venue::Bitstamp));
        // Back within 100 bps: readmitted.
        books.verified(Venue::Bitstamp, &btc, &book("100.2", "100.4"), false);
        let c = books.consolidate(&btc, Instant::now());
        assert_eq!(c.venues, Venue::ALL);
        assert_eq!(state(&books, Venue::Bitstamp, &btc), BookState::Fresh);
        // A venue that drops leaves at once.
        books.link_down(Venue::Kraken);
        let c = books.consolidate(&btc, Instant::now());
        assert_eq!(c.venues, [Venue::Coinbase, Venue::Bitstamp]);
    }

    #[test]
    fn outliers_are_judged_against_the_median_of_at_least_three() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let max = Decimal::from(100);
        assert!(!is_outlier(d("200"), &[d("100"), d("200")], max));
        let three = [d("100"), d("100.1"), d("110")];
        assert!(is_outlier(d("110"), &three, max));
        assert!(!is_outlier(d("100"), &three, max));
        assert!(!is_outlier(d("100.1"), &three, max));
        assert!(!is_outlier(
            d("101"),
            &[d("100"), d("101"), d("101.01")],
            max
        ));
        assert!(is_outlier(
            d("101.02"),
            &[d("100"), d("100"), d("101.02")],
            max
        ));
    }
}
