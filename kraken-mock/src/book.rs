//! The mock's order books: per symbol, `levels` price levels each side from the current
//! bid and ask outwards at the pair's tick, and the Kraken v2 `book` frames that carry them:
//! a snapshot, then updates holding only the levels that changed (`qty` 0 deletes), each with
//! the checksum Kraken would send over the resulting book.
//!
//! The book never holds more levels than the smallest depth Kraken offers (10), so a client
//! subscribed at any depth holds exactly this book.

use common::book::{Book, Side};
use common::kraken_checksum::{checksum, Precision};
use common::Decimal;
use rand::Rng;

/// Quantities carry Kraken's 8 lot decimals.
const QTY_PLACES: u32 = 8;

/// One symbol's book in the mock.
#[derive(Debug, Clone)]
pub(crate) struct MockBook {
    book: Book,
    tick: Decimal,
    levels: usize,
}

impl MockBook {
    /// A book around `(bid, ask)`, quantities drawn from `rng`.
    pub fn new(
        bid: Decimal,
        ask: Decimal,
        tick: Decimal,
        levels: usize,
        rng: &mut impl Rng,
    ) -> Self {
        let mut book = MockBook {
            book: Book::new(),
            tick,
            levels,
        };
        book.move_to(bid, ask, rng);
        book
    }

    fn precision(&self) -> Precision {
        Precision {
            price: self.tick.scale(),
            qty: QTY_PLACES,
        }
    }

    /// Moves the book to a new best bid and ask: levels that stay keep their quantity, one
    /// level gets a new one, the rest are new. Returns the changed levels per side.
    pub fn move_to(&mut self, bid: Decimal, ask: Decimal, rng: &mut impl Rng) -> Changes {
        let old = self.book.clone();
        let mut next = Book::new();
        let churn = rng.random_range(0..self.levels.max(1));
        for (side, best, step) in [(Side::Bid, bid, -self.tick), (Side::Ask, ask, self.tick)] {
            let kept: Vec<(Decimal, Decimal)> = old.levels(side).collect();
            for k in 0..self.levels {
                let price = (best + step * Decimal::from(k as u64)).round_dp(self.tick.scale());
                if price <= Decimal::ZERO {
                    break;
                }
                let qty = match kept.iter().find(|(p, _)| *p == price) {
                    Some(&(_, q)) if k != churn => q,
                    _ => Decimal::new(rng.random_range(1_000_000..=500_000_000), QTY_PLACES),
                };
                next.set(side, price, qty);
            }
        }
        let changes = Changes {
            bids: diff(&old, &next, Side::Bid),
            asks: diff(&old, &next, Side::Ask),
        };
        self.book = next;
        changes
    }

    /// Every level, as a snapshot frame.
    pub fn snapshot_frame(&self, symbol: &str) -> String {
        let all = Changes {
            bids: self.book.levels(Side::Bid).collect(),
            asks: self.book.levels(Side::Ask).collect(),
        };
        self.frame(symbol, "snapshot", &all, 0)
    }

    /// `changes` as an update frame; `corrupt` is added to the checksum (a scripted fault).
    pub fn update_frame(&self, symbol: &str, changes: &Changes, corrupt: u32) -> String {
        self.frame(symbol, "update", changes, corrupt)
    }

    fn frame(&self, symbol: &str, kind: &str, levels: &Changes, corrupt: u32) -> String {
        let list = |side: &[(Decimal, Decimal)]| {
            side.iter()
                .map(|(p, q)| format!(r#"{{"price":{p},"qty":{q:.8}}}"#))
                .collect::<Vec<_>>()
                .join(",")
        };
        let sum = checksum(&self.book, Some(self.precision())).wrapping_add(corrupt);
        let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        format!(
            r#"{{"channel":"book","type":"{kind}","data":[{{"symbol":"{symbol}","bids":[{}],"asks":[{}],"checksum":{sum},"timestamp":"{ts}"}}]}}"#,
            list(&levels.bids),
            list(&levels.asks),
        )
    }
}

/// The levels an update carries, per side.
#[derive(Debug, Clone, Default)]
pub(crate) struct Changes {
    pub bids: Vec<(Decimal, Decimal)>,
    pub asks: Vec<(Decimal, Decimal)>,
}

/// Levels of `side` that differ between `old` and `new`; a level gone is sent with qty 0.
fn diff(old: &Book, new: &Book, side: Side) -> Vec<(Decimal, Decimal)> {
    let before: Vec<(Decimal, Decimal)> = old.levels(side).collect();
    let after: Vec<(Decimal, Decimal)> = new.levels(side).collect();
    let mut out: Vec<(Decimal, Decimal)> = before
        .iter()
        .filter(|(p, _)| !after.iter().any(|(q, _)| q == p))
        .map(|&(p, _)| (p, Decimal::new(0, QTY_PLACES)))
        .collect();
    out.extend(after.iter().filter(|l| !before.contains(l)).copied());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// What a client does: apply the snapshot and the updates, check each checksum.
    #[test]
    fn a_client_applying_the_frames_holds_the_mocks_book_and_every_checksum_matches() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let tick = Decimal::new(1, 1);
        let mut mock = MockBook::new(
            Decimal::new(970_000, 1),
            Decimal::new(970_001, 1),
            tick,
            10,
            &mut rng,
        );
        let precision = Some(Precision { price: 1, qty: 8 });
        let mut client = Book::new();
        let apply = |client: &mut Book, frame: &str| {
            let v: serde_json::Value = serde_json::from_str(frame).unwrap();
            let data = &v["data"][0];
            for (side, key) in [(Side::Bid, "bids"), (Side::Ask, "asks")] {
                for level in data[key].as_array().unwrap() {
                    let p: Decimal = level["price"].to_string().parse().unwrap();
                    let q: Decimal = level["qty"].to_string().parse().unwrap();
                    client.set(side, p, q);
                }
            }
            client.truncate(10);
            data["checksum"].as_u64().unwrap() as u32
        };
        let sum = apply(&mut client, &mock.snapshot_frame("BTC/USD"));
        assert_eq!(sum, checksum(&client, precision));
        for i in 0..200 {
            let bid = Decimal::new(970_000 + (i % 7) - 3, 1);
            let changes = mock.move_to(bid, bid + tick, &mut rng);
            let sum = apply(&mut client, &mock.update_frame("BTC/USD", &changes, 0));
            assert_eq!(sum, checksum(&client, precision), "update {i}");
            assert_eq!(client, mock.book);
        }
        let changes = mock.move_to(Decimal::new(970_000, 1), Decimal::new(970_001, 1), &mut rng);
        let sum = apply(&mut client, &mock.update_frame("BTC/USD", &changes, 1));
        assert_ne!(
            sum,
            checksum(&client, precision),
            "a corrupted checksum does not match"
        );
    }
}
