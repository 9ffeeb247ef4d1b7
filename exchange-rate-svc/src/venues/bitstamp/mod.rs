//! Bitstamp v2: a pair's book from the REST snapshot joined to the `diff_order_book` diffs.
//!
//! - [`wire`]: frames, the snapshot body, the pair ↔ market mapping.
//! - [`connector`](mod@connector): Bitstamp as a `Protocol` on the shared session loop: a
//!   diff subscription per pair, its REST snapshot fetched beside the diffs, our own
//!   heartbeats, and the reconnect Bitstamp asks for before its maintenance.
//! - [`SyncedBook`]: Bitstamp has no sequence numbers, so the book is built the documented
//!   way: subscribe to the diffs first, buffer them, take the REST snapshot, then apply only
//!   the diffs newer than the snapshot's `microtimestamp` (older ones are already in it).

pub mod connector;
pub mod wire;

use common::book::{Book, Side};

use wire::BookLevels;

/// Diffs kept while waiting for the snapshot; more means the snapshot is not coming in time,
/// and the oldest are dropped (the snapshot will be newer than them anyway).
const MAX_PENDING: usize = 10_000;

/// One pair's book: diffs buffered until the snapshot, applied after it.
#[derive(Debug, Default)]
pub struct SyncedBook {
    book: Book,
    /// `microtimestamp` of the newest state in the book; `None` until the snapshot.
    as_of: Option<u64>,
    pending: Vec<BookLevels>,
}

impl SyncedBook {
    /// A diff from the channel: buffered before the snapshot, applied after it when newer.
    pub fn diff(&mut self, diff: BookLevels) {
        match self.as_of {
            None => {
                if self.pending.len() >= MAX_PENDING {
                    self.pending.remove(0);
                }
                self.pending.push(diff);
            }
            Some(as_of) if diff.microtimestamp > as_of => self.apply(&diff),
            Some(_) => {}
        }
    }

    /// The REST snapshot: replaces the book, then the buffered diffs newer than it apply.
    pub fn snapshot(&mut self, snapshot: BookLevels) {
        self.book.clear();
        self.as_of = None;
        self.apply(&snapshot);
        for diff in std::mem::take(&mut self.pending) {
            if Some(diff.microtimestamp) > self.as_of {
                self.apply(&diff);
            }
        }
    }

    fn apply(&mut self, levels: &BookLevels) {
        for &(price, qty) in &levels.bids {
            self.book.set(Side::Bid, price, qty);
        }
        for &(price, qty) in &levels.asks {
            self.book.set(Side::Ask, price, qty);
        }
        self.as_of = Some(levels.microtimestamp);
    }

    /// The book, once the snapshot has come.
    pub fn book(&self) -> Option<&Book> {
        self.as_of.map(|_| &self.book)
    }

    /// Diffs waiting for the snapshot.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venues::fixture;
    use common::Pair;
    use rust_decimal::Decimal;
    use wire::BitstampEvent;

    use testkit::d;

    fn live_diff() -> BookLevels {
        match wire::parse(&fixture("bitstamp-diff_order_book-update.json")).unwrap() {
            BitstampEvent::Diff { channel, diff } => {
                assert_eq!(channel, "diff_order_book_ethusd");
                diff
            }
            other => panic!("not a diff: {other:?}"),
        }
    }

    #[test]
    fn every_bitstamp_sample_parses() {
        let diff = live_diff();
        assert_eq!(diff.microtimestamp, 1641343691692695);
        assert_eq!(diff.bids[0], (d("3802.70"), Decimal::ZERO));
        assert_eq!(diff.asks[4], (d("3805.83"), d("13.07397578")));
        let ack = fixture("bitstamp-diff_order_book-subscribe-response.json");
        assert_eq!(
            wire::parse(&ack).unwrap(),
            BitstampEvent::Subscribed {
                channel: "diff_order_book_ethusd".into()
            }
        );
        let trade = fixture("bitstamp-live_trades-trade.json");
        assert!(matches!(
            wire::parse(&trade).unwrap(),
            BitstampEvent::Ignored { .. }
        ));
        let snapshot =
            wire::parse_snapshot(&fixture("bitstamp-order_book-rest-snapshot.json")).unwrap();
        assert_eq!(snapshot.microtimestamp, 1641343695681418);
        assert_eq!(snapshot.bids[0], (d("3802.90"), d("0.60000000")));
        assert!(snapshot.asks.len() > 100);
        let ethusd = Pair::parse("ETH/USD").unwrap();
        let request: serde_json::Value =
            serde_json::from_str(&wire::subscribe_request(&ethusd)).unwrap();
        let sample: serde_json::Value =
            serde_json::from_str(&fixture("bitstamp-diff_order_book-subscribe-request.json"))
                .unwrap();
        assert_eq!(request, sample);
    }

    #[test]
    fn diffs_older_than_the_snapshot_are_dropped_and_newer_ones_apply() {
        let snapshot =
            wire::parse_snapshot(&fixture("bitstamp-order_book-rest-snapshot.json")).unwrap();
        let best_bid = snapshot.bids[0];
        // The live diff is four seconds older than the snapshot: it must not undo it.
        let old = live_diff();
        assert!(old.microtimestamp < snapshot.microtimestamp);
        let newer = BookLevels {
            microtimestamp: snapshot.microtimestamp + 1,
            bids: vec![(best_bid.0, Decimal::ZERO)],
            asks: vec![],
        };
        let mut book = SyncedBook::default();
        book.diff(old.clone());
        book.diff(newer.clone());
        assert!(book.book().is_none(), "no book before the snapshot");
        assert_eq!(book.pending(), 2);
        book.snapshot(snapshot.clone());
        let b = book.book().unwrap();
        assert_eq!(
            b.best(Side::Bid),
            Some(snapshot.bids[1]),
            "the newer diff deleted the best bid"
        );
        assert_eq!(
            b.best(Side::Ask),
            Some(snapshot.asks[0]),
            "the old diff did not apply"
        );
        // After the snapshot, an old diff is still dropped and a new one applies.
        book.diff(old);
        assert_eq!(book.book().unwrap().best(Side::Ask), Some(snapshot.asks[0]));
        book.diff(BookLevels {
            microtimestamp: newer.microtimestamp + 1,
            bids: vec![],
            asks: vec![(d("3000"), d("1"))],
        });
        assert_eq!(
            book.book().unwrap().best(Side::Ask),
            Some((d("3000"), d("1")))
        );
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        assert_eq!(wire::parse("nope"), Err(wire::WireError::NotJson));
        let bad = r#"{"event":"data","channel":"diff_order_book_btcusd","data":{"microtimestamp":"x","bids":[],"asks":[]}}"#;
        assert!(matches!(
            wire::parse(bad),
            Err(wire::WireError::BadNumber {
                field: "microtimestamp",
                ..
            })
        ));
        let short = r#"{"event":"data","channel":"diff_order_book_btcusd","data":{"microtimestamp":"1","bids":[["1"]]}}"#;
        assert!(matches!(
            wire::parse(short),
            Err(wire::WireError::Malformed(_))
        ));
        assert_eq!(wire::market(&Pair::parse("BTC/USD").unwrap()), "btcusd");
    }
}
