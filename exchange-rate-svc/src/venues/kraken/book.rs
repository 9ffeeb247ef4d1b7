//! One Kraken symbol's L2 book, kept from v2 `book` snapshots and updates and checked against
//! the CRC32 checksum Kraken sends with every message.
//!
//! The documented algorithm: apply every level of the message, truncate each side to the
//! subscribed depth, then CRC32 (unsigned) over the top 10 asks low → high and the top 10 bids
//! high → low, each level written as its price then its qty with the decimal point removed
//! and leading zeros stripped, at the pair's precision (trailing zeros kept). Kraken has no
//! sequence numbers: a mismatch means the book is wrong and the symbol is resubscribed.

use common::book::{Book, Side};
pub use common::kraken_checksum::{checksum, Precision};
use rust_decimal::Decimal;

use super::wire::BookData;

/// The depths Kraken accepts for `book`; anything else is refused by the venue.
pub const DEPTHS: [usize; 5] = [10, 25, 100, 500, 1000];

/// The book disagrees with the checksum Kraken computed over its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("book checksum mismatch: kraken sent {expected}, our book gives {computed}")]
pub struct ChecksumMismatch {
    pub expected: u32,
    pub computed: u32,
}

/// One symbol's book at a subscribed depth.
#[derive(Debug, Clone)]
pub struct KrakenBook {
    book: Book,
    depth: usize,
    precision: Option<Precision>,
    /// The checksum of the book as it is, while its top 10 levels have not changed.
    cached: Option<u32>,
}

impl KrakenBook {
    /// A book kept to `depth` levels. Without `precision` (no metadata yet) each figure is
    /// written with the decimals it came with, which is what Kraken sends.
    pub fn new(depth: usize, precision: Option<Precision>) -> Self {
        KrakenBook {
            book: Book::new(),
            depth,
            precision,
            cached: None,
        }
    }

    /// Applies one message's levels for this symbol (a snapshot replaces the book), then
    /// checks the checksum. On a mismatch the book is left as computed: the caller drops it
    /// and resubscribes.
    pub fn apply(&mut self, data: &BookData<'_>, snapshot: bool) -> Result<(), ChecksumMismatch> {
        let top_changes = snapshot
            || self.depth < CHECKSUM_LEVELS
            || self.touches_top(Side::Bid, &data.bids)
            || self.touches_top(Side::Ask, &data.asks);
        if snapshot {
            self.book.clear();
        }
        for &(price, qty) in &data.bids {
            self.book.set(Side::Bid, price, qty);
        }
        for &(price, qty) in &data.asks {
            self.book.set(Side::Ask, price, qty);
        }
        self.book.truncate(self.depth);
        let computed = match self.cached {
            Some(sum) if !top_changes => sum,
            _ => checksum(&self.book, self.precision),
        };
        self.cached = Some(computed);
        if computed == data.checksum {
            Ok(())
        } else {
            Err(ChecksumMismatch {
                expected: data.checksum,
                computed,
            })
        }
    }

    pub fn book(&self) -> &Book {
        &self.book
    }

    /// Whether levels set on `side` can change its top 10 (all the checksum covers): a level
    /// at or better than the 10th changes them; below it, an insert, change or delete does
    /// not (and truncating to a depth of at least 10 never does).
    fn touches_top(&self, side: Side, levels: &[(Decimal, Decimal)]) -> bool {
        if levels.is_empty() {
            return false;
        }
        let Some((edge, _)) = self.book.levels(side).nth(CHECKSUM_LEVELS - 1) else {
            return true;
        };
        levels.iter().any(|&(price, _)| match side {
            Side::Bid => price >= edge,
            Side::Ask => price <= edge,
        })
    }
}

/// How many levels per side the checksum covers.
const CHECKSUM_LEVELS: usize = 10;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venues::fixture;
    use crate::venues::kraken::wire::{self, KrakenEvent};

    fn books(text: &str) -> (bool, Vec<BookData<'_>>) {
        match wire::parse(text).unwrap() {
            KrakenEvent::Book { snapshot, books } => (snapshot, books),
            other => panic!("not a book frame: {other:?}"),
        }
    }

    #[test]
    fn the_checksum_guides_snapshot_verifies_with_and_without_the_pairs_precision() {
        let text = fixture("kraken-book-snapshot.json");
        let (snapshot, data) = books(&text);
        assert!(snapshot);
        assert_eq!(data[0].checksum, 3310070434);
        for precision in [None, Some(Precision { price: 1, qty: 8 })] {
            let mut book = KrakenBook::new(10, precision);
            book.apply(&data[0], true).unwrap();
            assert_eq!(book.book().depth(Side::Bid), 10);
        }
    }

    #[test]
    fn a_live_depth_25_snapshot_verifies_over_its_top_ten_levels_only() {
        // Its prices and quantities are JSON strings, not numbers.
        let text = fixture("kraken-book-snapshot-depth25-btcusdt.json");
        let (_, data) = books(&text);
        assert_eq!(data[0].bids.len(), 25);
        let mut book = KrakenBook::new(25, Some(Precision { price: 1, qty: 8 }));
        book.apply(&data[0], true).unwrap();
        assert_eq!(book.book().depth(Side::Ask), 25);
    }

    #[test]
    fn a_live_snapshot_then_update_verifies_at_each_step() {
        let snap = fixture("kraken-book-snapshot-algousd-captured.json");
        let update = fixture("kraken-book-update-algousd-captured.json");
        let precision = Some(Precision { price: 5, qty: 8 });
        let mut book = KrakenBook::new(10, precision);
        let (_, data) = books(&snap);
        book.apply(&data[0], true).unwrap();
        let (snapshot, data) = books(&update);
        assert!(!snapshot);
        book.apply(&data[0], false).unwrap();
        assert_eq!(
            book.book().levels(Side::Bid).nth(6),
            Some(("0.12275".parse().unwrap(), "6597.51731160".parse().unwrap()))
        );
    }

    #[test]
    fn a_book_that_drifted_fails_its_checksum() {
        let snap = fixture("kraken-book-snapshot-algousd-captured.json");
        let update = fixture("kraken-book-update-algousd-captured.json");
        let mut book = KrakenBook::new(10, None);
        let (_, data) = books(&snap);
        book.apply(&data[0], true).unwrap();
        // A level we missed: the next update's checksum no longer matches.
        book.book
            .set(Side::Ask, "0.12306".parse().unwrap(), Decimal::ONE);
        let (_, data) = books(&update);
        let err = book.apply(&data[0], false).unwrap_err();
        assert_eq!(err.expected, 1100635717);
        assert_ne!(err.computed, err.expected);
    }

    #[test]
    fn the_kept_checksum_always_equals_one_computed_afresh() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        let text = fixture("kraken-book-snapshot-depth25-btcusdt.json");
        let (_, data) = books(&text);
        let precision = Some(Precision { price: 1, qty: 8 });
        let mut book = KrakenBook::new(25, precision);
        book.apply(&data[0], true).unwrap();
        let mid = book.book().mid().unwrap();
        for i in 0..5_000 {
            let mut update = BookData {
                symbol: "BTC/USDT".into(),
                bids: vec![],
                asks: vec![],
                checksum: 0,
                timestamp: None,
            };
            for _ in 0..rng.random_range(1..=3) {
                let offset = Decimal::new(rng.random_range(1..=300), 1);
                let qty = Decimal::new(rng.random_range(0..=3) * rng.random_range(1..=9_999), 4);
                if rng.random_bool(0.5) {
                    update.bids.push(((mid - offset).round_dp(1), qty));
                } else {
                    update.asks.push(((mid + offset).round_dp(1), qty));
                }
            }
            // What the book's checksum will be after the update, computed from scratch.
            let mut fresh = book.book().clone();
            for &(p, q) in &update.bids {
                fresh.set(Side::Bid, p, q);
            }
            for &(p, q) in &update.asks {
                fresh.set(Side::Ask, p, q);
            }
            fresh.truncate(25);
            update.checksum = checksum(&fresh, precision);
            book.apply(&update, false)
                .unwrap_or_else(|e| panic!("update {i}: {e}"));
        }
    }

    #[test]
    fn every_kraken_book_sample_parses() {
        for name in [
            "kraken-book-update.json",
            "kraken-book-update-btcusd-captured.json",
        ] {
            let text = fixture(name);
            let (snapshot, data) = books(&text);
            assert!(!snapshot, "{name}");
            assert_eq!(data.len(), 1, "{name}");
        }
        let text = fixture("kraken-book-update-btcusd-captured.json");
        let (_, data) = books(&text);
        assert_eq!(data[0].asks[0].1, Decimal::ZERO, "a delete");
        assert_eq!(data[0].checksum, 4249465476);
        let refused = fixture("kraken-book-subscribe-error-captured.json");
        assert!(matches!(
            wire::parse(&refused).unwrap(),
            KrakenEvent::RequestFailed { error, .. } if error == "Subscription depth not supported"
        ));
    }
}
