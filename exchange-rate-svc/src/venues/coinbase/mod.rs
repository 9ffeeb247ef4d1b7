//! Coinbase Advanced Trade: `level2` books, kept per product from `l2_data` frames.
//!
//! - [`wire`]: frames, the pair ↔ product mapping, and the per-connection [`wire::Sequence`].
//! - [`connector`](mod@connector): Coinbase as a `Protocol` on the shared session loop: the
//!   subscribes, the heartbeats channel, and a new connection after a sequence gap.
//! - [`Books`]: one [`Book`] per product; a snapshot replaces that product's book, an update
//!   sets absolute quantities; a sequence gap clears every book of the connection, since the
//!   only repair Coinbase offers is a new connection and a new snapshot.

pub mod connector;
pub mod wire;

use std::collections::HashMap;

use common::book::Book;

use wire::{CoinbaseEvent, Sequence, SequenceGap};

/// The books of one connection.
#[derive(Debug, Default)]
pub struct Books {
    books: HashMap<String, Book>,
    sequence: Sequence,
}

impl Books {
    /// Applies one frame; `Err` on a sequence gap, after which every book is gone.
    pub fn apply(&mut self, event: &CoinbaseEvent<'_>) -> Result<(), SequenceGap> {
        if let Some(seq) = event.sequence_num() {
            if let Err(gap) = self.sequence.check(seq) {
                self.books.clear();
                return Err(gap);
            }
        }
        if let CoinbaseEvent::L2 { events, .. } = event {
            for e in events {
                let book = self.books.entry(e.product_id.to_string()).or_default();
                if e.snapshot {
                    book.clear();
                }
                for &(side, price, qty) in &e.updates {
                    book.set(side, price, qty);
                }
            }
        }
        Ok(())
    }

    /// A product's book, once its snapshot has come.
    pub fn book(&self, product_id: &str) -> Option<&Book> {
        self.books.get(product_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venues::fixture;
    use common::book::Side;

    #[test]
    fn a_snapshot_then_an_update_give_the_book_and_a_gap_drops_it() {
        let snapshot = fixture("coinbase-level2-snapshot.json");
        let update = fixture("coinbase-level2-update.json");
        let mut books = Books::default();
        books.apply(&wire::parse(&snapshot).unwrap()).unwrap();
        books.apply(&wire::parse(&update).unwrap()).unwrap();
        let book = books.book("BTC-USD").unwrap();
        assert_eq!(
            book.best(Side::Bid),
            Some(("68900".parse().unwrap(), "2".parse().unwrap()))
        );
        // 68901.00 was deleted by the update.
        assert_eq!(book.best(Side::Ask).unwrap().0.to_string(), "68901.50");
        // The same update again is sequence 1 after 1: a gap.
        let gap = books.apply(&wire::parse(&update).unwrap()).unwrap_err();
        assert_eq!((gap.expected, gap.got), (2, 1));
        assert!(books.book("BTC-USD").is_none());
    }
}
