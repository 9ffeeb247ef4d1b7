//! Order books: one venue's exact price levels per side, the walk that prices an amount
//! against a side, and the consolidated book of several venues.
//!
//! Prices and quantities are `Decimal`s as the venue sent them (never `f64`): a level's
//! quantity is absolute, and zero removes it, which is how all three venues we read speak.
//! The walk is the one rule for "what does this amount cost": the volume-weighted price of the
//! levels it takes, best first, or how much the side holds when it is not enough.

use std::collections::{btree_map, BTreeMap};
use std::iter::Rev;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A side of a book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Buyers' levels, best (highest) first.
    Bid,
    /// Sellers' levels, best (lowest) first.
    Ask,
}

/// One venue's book for one pair: price → quantity per side. No level holds zero or less.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Book {
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
}

/// A side's levels, best first, as `(price, qty)`.
pub enum Levels<'a> {
    Bids(Rev<btree_map::Iter<'a, Decimal, Decimal>>),
    Asks(btree_map::Iter<'a, Decimal, Decimal>),
}

impl Iterator for Levels<'_> {
    type Item = (Decimal, Decimal);

    fn next(&mut self) -> Option<(Decimal, Decimal)> {
        match self {
            Levels::Bids(it) => it.next(),
            Levels::Asks(it) => it.next(),
        }
        .map(|(p, q)| (*p, *q))
    }
}

impl Book {
    pub fn new() -> Self {
        Book::default()
    }

    /// Empties both sides (before a snapshot).
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }

    /// Sets the level at `price` to the absolute `qty`; a `qty` of zero (or less) removes it.
    pub fn set(&mut self, side: Side, price: Decimal, qty: Decimal) {
        let levels = match side {
            Side::Bid => &mut self.bids,
            Side::Ask => &mut self.asks,
        };
        if qty > Decimal::ZERO {
            levels.insert(price, qty);
        } else {
            levels.remove(&price);
        }
    }

    /// Keeps the best `depth` levels of each side.
    pub fn truncate(&mut self, depth: usize) {
        while self.bids.len() > depth {
            self.bids.pop_first();
        }
        while self.asks.len() > depth {
            self.asks.pop_last();
        }
    }

    /// A side's levels, best first.
    pub fn levels(&self, side: Side) -> Levels<'_> {
        match side {
            Side::Bid => Levels::Bids(self.bids.iter().rev()),
            Side::Ask => Levels::Asks(self.asks.iter()),
        }
    }

    /// A copy of the best `depth` levels of each side.
    pub fn top(&self, depth: usize) -> Book {
        Book {
            bids: self
                .bids
                .iter()
                .rev()
                .take(depth)
                .map(|(p, q)| (*p, *q))
                .collect(),
            asks: self
                .asks
                .iter()
                .take(depth)
                .map(|(p, q)| (*p, *q))
                .collect(),
        }
    }

    pub fn best(&self, side: Side) -> Option<(Decimal, Decimal)> {
        self.levels(side).next()
    }

    /// Levels on a side.
    pub fn depth(&self, side: Side) -> usize {
        match side {
            Side::Bid => self.bids.len(),
            Side::Ask => self.asks.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.bids.is_empty() && self.asks.is_empty()
    }

    /// Best bid at or above the best ask: a venue's book in that state is not to be trusted.
    pub fn is_crossed(&self) -> bool {
        matches!(
            (self.best(Side::Bid), self.best(Side::Ask)),
            (Some((bid, _)), Some((ask, _))) if bid >= ask
        )
    }

    /// (best bid + best ask) / 2, when both sides have a level.
    pub fn mid(&self) -> Option<Decimal> {
        let (bid, _) = self.best(Side::Bid)?;
        let (ask, _) = self.best(Side::Ask)?;
        Some((bid + ask) / Decimal::TWO)
    }
}

/// What taking an amount from a side costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    /// Σ price × qty taken, exact.
    pub cost: Decimal,
    /// `cost / amount`, the volume-weighted average price (28 significant digits).
    pub vwap: Decimal,
    /// How many levels the walk took from (the last one possibly in part).
    pub levels_used: usize,
    /// The price of the last level taken.
    pub worst: Decimal,
}

/// Why an amount could not be priced against a side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalkError {
    #[error("the amount must be positive")]
    NotPositive,
    /// The side holds less than the amount: `available` is all of it.
    #[error("the book holds only {available}")]
    Shortfall { available: Decimal },
    #[error("the amount is too large to price")]
    Overflow,
}

/// Takes `amount` from `levels` (best first): the volume-weighted price of what it takes, or
/// [`WalkError::Shortfall`] with everything the levels hold.
pub fn walk(
    levels: impl IntoIterator<Item = (Decimal, Decimal)>,
    amount: Decimal,
) -> Result<Fill, WalkError> {
    if amount <= Decimal::ZERO {
        return Err(WalkError::NotPositive);
    }
    let mut left = amount;
    let mut cost = Decimal::ZERO;
    let mut available = Decimal::ZERO;
    for (used, (price, qty)) in levels.into_iter().enumerate() {
        let take = qty.min(left);
        let part = price.checked_mul(take).ok_or(WalkError::Overflow)?;
        cost = cost.checked_add(part).ok_or(WalkError::Overflow)?;
        available = available.checked_add(qty).ok_or(WalkError::Overflow)?;
        left -= take;
        if left.is_zero() {
            let vwap = cost.checked_div(amount).ok_or(WalkError::Overflow)?;
            return Ok(Fill {
                cost,
                vwap,
                levels_used: used + 1,
                worst: price,
            });
        }
    }
    Err(WalkError::Shortfall { available })
}

/// A venue whose book feeds the consolidated book.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Venue {
    Kraken,
    Coinbase,
    Bitstamp,
}

impl Venue {
    pub const ALL: [Venue; 3] = [Venue::Kraken, Venue::Coinbase, Venue::Bitstamp];

    pub fn as_str(self) -> &'static str {
        match self {
            Venue::Kraken => "kraken",
            Venue::Coinbase => "coinbase",
            Venue::Bitstamp => "bitstamp",
        }
    }

    pub fn parse(name: &str) -> Option<Venue> {
        Venue::ALL.into_iter().find(|v| v.as_str() == name)
    }
}

impl std::fmt::Display for Venue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One level of the consolidated book: a venue's level, kept as that venue's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    #[serde(with = "crate::decimal::string")]
    pub price: Decimal,
    #[serde(with = "crate::decimal::string")]
    pub qty: Decimal,
    pub venue: Venue,
}

/// Several venues' books merged by price, each level keeping its venue; best first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consolidated {
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
}

/// A price for an amount against the consolidated book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepthPrice {
    /// The price the user gets before the spread: the walk's VWAP, moved in the house's
    /// favour when the book is crossed.
    pub price: Decimal,
    pub fill: Fill,
    /// The venues whose levels the walk took, in order of first use.
    pub venues: Vec<Venue>,
}

impl Consolidated {
    /// The best `depth` levels of each side over `books`: a k-way merge of the venues' sides,
    /// each already best first, so it costs about two comparisons per level kept (a sort of
    /// every level was ten times the work). At one price, venues come in a fixed order
    /// ([`Venue`]'s), so the result does not depend on the order the books came in.
    pub fn merge<'a>(books: impl IntoIterator<Item = (Venue, &'a Book)>, depth: usize) -> Self {
        let books: Vec<(Venue, &Book)> = books.into_iter().collect();
        let side = |side: Side| {
            let mut heads: Vec<(Venue, std::iter::Peekable<Levels<'_>>)> = books
                .iter()
                .map(|(venue, book)| (*venue, book.levels(side).peekable()))
                .collect();
            let mut out = Vec::with_capacity(depth.min(64));
            while out.len() < depth {
                let mut best: Option<(usize, Decimal, Venue)> = None;
                for (i, (venue, levels)) in heads.iter_mut().enumerate() {
                    let Some(&(price, _)) = levels.peek() else {
                        continue;
                    };
                    let better = match best {
                        None => true,
                        Some((_, p, v)) => {
                            let ahead = match side {
                                Side::Bid => price > p,
                                Side::Ask => price < p,
                            };
                            ahead || (price == p && *venue < v)
                        }
                    };
                    if better {
                        best = Some((i, price, *venue));
                    }
                }
                let Some((i, _, venue)) = best else { break };
                if let Some((price, qty)) = heads[i].1.next() {
                    out.push(Level { price, qty, venue });
                }
            }
            out
        };
        Consolidated {
            bids: side(Side::Bid),
            asks: side(Side::Ask),
        }
    }

    pub fn side(&self, side: Side) -> &[Level] {
        match side {
            Side::Bid => &self.bids,
            Side::Ask => &self.asks,
        }
    }

    /// Everything a side holds.
    pub fn visible(&self, side: Side) -> Decimal {
        self.side(side).iter().map(|l| l.qty).sum()
    }

    /// The price of buying (`Side::Ask`, walking the asks) or selling (`Side::Bid`) `amount`.
    ///
    /// When one venue's bid is above another's ask, the walk alone would let a user buy below
    /// the best bid anywhere (or sell above the best ask): the price is then moved to that
    /// bid (ask), so the house never quotes inside a crossed market.
    pub fn price(&self, taken: Side, amount: Decimal) -> Result<DepthPrice, WalkError> {
        let levels = self.side(taken);
        let fill = walk(levels.iter().map(|l| (l.price, l.qty)), amount)?;
        let mut venues = Vec::new();
        for level in &levels[..fill.levels_used] {
            if !venues.contains(&level.venue) {
                venues.push(level.venue);
            }
        }
        let price = match taken {
            Side::Ask => match self.bids.first() {
                Some(best_bid) => fill.vwap.max(best_bid.price),
                None => fill.vwap,
            },
            Side::Bid => match self.asks.first() {
                Some(best_ask) => fill.vwap.min(best_ask.price),
                None => fill.vwap,
            },
        };
        Ok(DepthPrice {
            price,
            fill,
            venues,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use testkit::d;

    fn book(bids: &[(&str, &str)], asks: &[(&str, &str)]) -> Book {
        let mut b = Book::new();
        for (p, q) in bids {
            b.set(Side::Bid, d(p), d(q));
        }
        for (p, q) in asks {
            b.set(Side::Ask, d(p), d(q));
        }
        b
    }

    #[test]
    fn levels_come_best_first_and_zero_removes() {
        let mut b = book(
            &[("100", "1"), ("101", "2"), ("99", "3")],
            &[("103", "1"), ("102", "2"), ("104", "3")],
        );
        let bids: Vec<_> = b.levels(Side::Bid).map(|(p, _)| p).collect();
        let asks: Vec<_> = b.levels(Side::Ask).map(|(p, _)| p).collect();
        assert_eq!(bids, [d("101"), d("100"), d("99")]);
        assert_eq!(asks, [d("102"), d("103"), d("104")]);
        b.set(Side::Bid, d("101"), d("0.00000000"));
        b.set(Side::Ask, d("102.0"), d("0"));
        assert_eq!(b.best(Side::Bid), Some((d("100"), d("1"))));
        assert_eq!(b.best(Side::Ask), Some((d("103"), d("1"))));
        let top = b.top(1);
        b.truncate(1);
        assert_eq!(top, b);
        assert_eq!((b.depth(Side::Bid), b.depth(Side::Ask)), (1, 1));
        assert_eq!(b.best(Side::Ask), Some((d("103"), d("1"))));
        assert_eq!(b.mid(), Some(d("101.5")));
        assert!(!b.is_crossed());
        b.set(Side::Bid, d("103"), d("1"));
        assert!(b.is_crossed());
    }

    #[test]
    fn an_amount_inside_the_best_level_costs_the_best_price() {
        let b = book(&[], &[("100.5", "0.25"), ("101", "10")]);
        let fill = walk(b.levels(Side::Ask), d("0.1")).unwrap();
        assert_eq!(fill.vwap, d("100.5"));
        assert_eq!(fill.levels_used, 1);
    }

    #[test]
    fn a_larger_amount_costs_the_volume_weighted_price_of_the_levels_it_takes() {
        let b = book(&[], &[("100", "1"), ("101", "2"), ("105", "10")]);
        // 1 × 100 + 2 × 101 + 0.5 × 105 = 354.5 for 3.5.
        let fill = walk(b.levels(Side::Ask), d("3.5")).unwrap();
        assert_eq!(fill.cost, d("354.5"));
        assert_eq!(fill.vwap, d("354.5") / d("3.5"));
        assert_eq!(fill.levels_used, 3);
        assert_eq!(fill.worst, d("105"));
    }

    #[test]
    fn an_amount_beyond_the_side_says_how_much_there_is() {
        let b = book(&[("99", "1.5"), ("98", "2")], &[]);
        assert_eq!(
            walk(b.levels(Side::Bid), d("4")),
            Err(WalkError::Shortfall {
                available: d("3.5")
            })
        );
        assert_eq!(
            walk(b.levels(Side::Bid), d("0")),
            Err(WalkError::NotPositive)
        );
        let huge = book(&[], &[(&Decimal::MAX.to_string(), "10")]);
        assert_eq!(
            walk(huge.levels(Side::Ask), d("5")),
            Err(WalkError::Overflow)
        );
    }

    #[test]
    fn the_consolidated_book_keeps_each_levels_venue_and_takes_the_best_of_all() {
        let kraken = book(&[("100", "1")], &[("101", "1"), ("103", "5")]);
        let coinbase = book(&[("100", "2"), ("99", "1")], &[("102", "1")]);
        let c = Consolidated::merge([(Venue::Coinbase, &coinbase), (Venue::Kraken, &kraken)], 10);
        let levels = |side: &[Level]| -> Vec<(Decimal, Venue)> {
            side.iter().map(|l| (l.price, l.venue)).collect()
        };
        let (kr, cb) = (Venue::Kraken, Venue::Coinbase);
        assert_eq!(
            levels(&c.asks),
            [(d("101"), kr), (d("102"), cb), (d("103"), kr)]
        );
        // Two venues at one price stay two levels, in a fixed venue order.
        assert_eq!(
            levels(&c.bids),
            [(d("100"), kr), (d("100"), cb), (d("99"), cb)]
        );
        let buy = c.price(Side::Ask, d("2.5")).unwrap();
        // 1 × 101 + 1 × 102 + 0.5 × 103 = 254.5
        assert_eq!(buy.fill.cost, d("254.5"));
        assert_eq!(buy.price, d("254.5") / d("2.5"));
        assert_eq!(buy.venues, [Venue::Kraken, Venue::Coinbase]);
        assert_eq!(c.visible(Side::Bid), d("4"));
        assert_eq!(
            Consolidated::merge([(Venue::Kraken, &kraken)], 1)
                .asks
                .len(),
            1
        );
    }

    #[test]
    fn a_crossed_market_is_priced_in_the_houses_favour() {
        // Coinbase bids 105 while Kraken asks 101: a buyer walking the asks would pay 101,
        // below a bid anyone can hit; they pay the best bid instead, and a seller gets at most
        // the best ask.
        let kraken = book(&[("100", "1")], &[("101", "1")]);
        let coinbase = book(&[("105", "1")], &[("106", "1")]);
        let c = Consolidated::merge([(Venue::Kraken, &kraken), (Venue::Coinbase, &coinbase)], 10);
        assert_eq!(c.price(Side::Ask, d("0.5")).unwrap().price, d("105"));
        assert_eq!(c.price(Side::Bid, d("0.5")).unwrap().price, d("101"));
    }
}
