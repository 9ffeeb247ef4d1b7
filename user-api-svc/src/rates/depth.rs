//! The price of an amount against the consolidated book (ARCHITECTURE.md §5), as a pure
//! function: what a quote for size and each rung of the ladder are priced from, before the
//! spread.
//!
//! - The walk takes the book's levels best first, across venues; the amount costs the
//!   volume-weighted price (VWAP) of what it takes (`common::book::Consolidated::price`, which
//!   also keeps a crossed book in the house's favour).
//! - An amount inside the best level is priced exactly as a top-of-book quote: the rate's own
//!   bid or ask. A larger one is never priced better for the user than that (the book is at
//!   most one `BOOK_PUBLISH_HZ` period older than the rate).
//! - Only a share of what is visible is quotable (`QUOTE_MAX_DEPTH_FRACTION`, default 0.5),
//!   and never more than an admin's per-pair maximum: above either, the answer is the largest
//!   amount quotable now, on the pair's amount step.
//! - A depth price has as many digits as the division gave; it is rounded in the house's
//!   favour (up for a buy, down for a sell) to [`DEPTH_PRICE_PLACES`] decimals before the
//!   spread, so that it, and the revenue computed from it, fit the stores' 18 decimals
//!   exactly on both backends. The `vwap` shown is the exact one.

use common::book::{Consolidated, Side as BookSide, Venue, WalkError};
use common::Decimal;

use crate::money::Side;
use crate::pricing::{round_down, round_up};

/// Decimals a depth price keeps (rounded in the house's favour).
pub const DEPTH_PRICE_PLACES: u32 = 10;

/// Raw prices for an amount: the side taken moved to its depth price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Depth {
    /// The prices to apply the spread to: the taken side at depth, the other as the rate's.
    pub bid: Decimal,
    pub ask: Decimal,
    /// The walk's exact volume-weighted price.
    pub vwap: Decimal,
    pub levels_used: usize,
    /// The venues whose levels the walk took.
    pub venues: Vec<Venue>,
}

/// Why an amount cannot be priced at depth.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DepthError {
    /// More than is quotable now: `max_amount` is the most that is (zero: nothing is).
    #[error("not enough liquidity: at most {max_amount} can be quoted now")]
    Insufficient { max_amount: Decimal },
    #[error("the amount is too large to price")]
    Overflow,
}

/// What limits a quote's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthLimits {
    /// Share of the visible side that may be quoted (0 < f ≤ 1).
    pub max_fraction: Decimal,
    /// An admin's per-pair maximum, if any.
    pub max_amount: Option<Decimal>,
    /// The pair's amount step: `max_amount` answers are rounded down to it.
    pub step: Decimal,
}

/// The side of the book a trade takes: a buy takes the asks, a sell the bids.
fn taken_side(side: Side) -> BookSide {
    match side {
        Side::Buy => BookSide::Ask,
        Side::Sell => BookSide::Bid,
    }
}

/// The raw prices for `amount` on `side` (a buy walks the asks, a sell the bids), given the
/// rate's top of book `top_bid`/`top_ask`.
pub fn at_depth(
    book: &Consolidated,
    top_bid: Decimal,
    top_ask: Decimal,
    side: Side,
    amount: Decimal,
    limits: DepthLimits,
) -> Result<Depth, DepthError> {
    let taken = taken_side(side);
    // The side must show at least amount / fraction. Summed only as far as that (a small
    // amount looks at one level), and to the end only to say how much is quotable.
    let needed = amount
        .checked_div(limits.max_fraction)
        .ok_or(DepthError::Overflow)?;
    let mut seen = Decimal::ZERO;
    for level in book.side(taken) {
        seen = seen.checked_add(level.qty).ok_or(DepthError::Overflow)?;
        if seen >= needed {
            break;
        }
    }
    let cap = limits.max_amount.unwrap_or(Decimal::MAX);
    if seen < needed || amount > cap {
        return Err(DepthError::Insufficient {
            max_amount: max_quotable(book, side, limits)?,
        });
    }
    let priced = book.price(taken, amount).map_err(|e| match e {
        // Not reached with a fraction of at most 1 (the side holds at least the amount).
        WalkError::Shortfall { available } => DepthError::Insufficient {
            max_amount: floor_to(available.min(cap), limits.step),
        },
        WalkError::NotPositive => DepthError::Insufficient {
            max_amount: Decimal::ZERO,
        },
        WalkError::Overflow => DepthError::Overflow,
    })?;
    let inside_best = priced.fill.levels_used == 1;
    let unit = Decimal::new(1, DEPTH_PRICE_PLACES);
    let (bid, ask) = match side {
        Side::Buy if inside_best => (top_bid, top_ask),
        Side::Buy => {
            let ask = round_up(priced.price, unit).map_err(|_| DepthError::Overflow)?;
            (top_bid, ask.max(top_ask))
        }
        Side::Sell if inside_best => (top_bid, top_ask),
        Side::Sell => {
            let bid = round_down(priced.price, unit).map_err(|_| DepthError::Overflow)?;
            (bid.min(top_bid), top_ask)
        }
    };
    Ok(Depth {
        bid,
        ask,
        vwap: priced.fill.vwap,
        levels_used: priced.fill.levels_used,
        venues: priced.venues,
    })
}

/// The most that may be quoted on `side` now: the share of the visible side the limits allow,
/// at most the admin's maximum, down to the pair's step.
pub fn max_quotable(
    book: &Consolidated,
    side: Side,
    limits: DepthLimits,
) -> Result<Decimal, DepthError> {
    let taken = taken_side(side);
    let most = book
        .visible(taken)
        .checked_mul(limits.max_fraction)
        .ok_or(DepthError::Overflow)?
        .min(limits.max_amount.unwrap_or(Decimal::MAX));
    Ok(floor_to(most, limits.step))
}

/// `x` rounded down to a multiple of `step` (`x` itself when there is no step).
fn floor_to(x: Decimal, step: Decimal) -> Decimal {
    if step <= Decimal::ZERO {
        return x.max(Decimal::ZERO);
    }
    ((x / step).floor() * step).max(Decimal::ZERO).normalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::book::Level;

    use testkit::d;

    fn level(price: &str, qty: &str, venue: Venue) -> Level {
        Level {
            price: d(price),
            qty: d(qty),
            venue,
        }
    }

    fn book() -> Consolidated {
        Consolidated {
            bids: vec![
                level("99", "1", Venue::Kraken),
                level("98", "2", Venue::Coinbase),
            ],
            asks: vec![
                level("100", "0.5", Venue::Kraken),
                level("101", "1", Venue::Coinbase),
                level("103", "2.5", Venue::Bitstamp),
            ],
        }
    }

    const LIMITS: DepthLimits = DepthLimits {
        max_fraction: Decimal::ONE,
        max_amount: None,
        step: Decimal::from_parts(1, 0, 0, false, 4),
    };

    #[test]
    fn an_amount_inside_the_best_level_is_priced_at_the_rate() {
        let depth = at_depth(&book(), d("99"), d("100.0"), Side::Buy, d("0.4"), LIMITS).unwrap();
        assert_eq!((depth.bid, depth.ask), (d("99"), d("100.0")));
        assert_eq!(depth.levels_used, 1);
    }

    #[test]
    fn a_larger_amount_costs_the_vwap_of_the_levels_it_takes() {
        // 0.5 × 100 + 1 × 101 + 0.5 × 103 = 202.5 for 2.
        let depth = at_depth(&book(), d("99"), d("100"), Side::Buy, d("2"), LIMITS).unwrap();
        assert_eq!(depth.vwap, d("101.25"));
        assert_eq!(depth.ask, d("101.25"));
        assert_eq!(depth.levels_used, 3);
        assert_eq!(
            depth.venues,
            [Venue::Kraken, Venue::Coinbase, Venue::Bitstamp]
        );
        // Never better than the rate's own ask, when that moved since the book.
        let depth = at_depth(&book(), d("99"), d("102"), Side::Buy, d("2"), LIMITS).unwrap();
        assert_eq!(depth.ask, d("102"));
        // 1 × 99 + 0.5 × 98 = 148 for 1.5: 98.666…, down to ten places for the house.
        let sell = at_depth(&book(), d("99"), d("100"), Side::Sell, d("1.5"), LIMITS).unwrap();
        assert_eq!(sell.vwap, d("148") / d("1.5"));
        assert_eq!(sell.bid, d("98.6666666666"));
    }

    #[test]
    fn more_than_the_quotable_share_says_how_much_is_quotable() {
        let half = DepthLimits {
            max_fraction: d("0.5"),
            ..LIMITS
        };
        // Asks hold 4: half is 2.
        assert!(at_depth(&book(), d("99"), d("100"), Side::Buy, d("2"), half).is_ok());
        assert_eq!(
            at_depth(&book(), d("99"), d("100"), Side::Buy, d("2.0001"), half),
            Err(DepthError::Insufficient { max_amount: d("2") })
        );
        let capped = DepthLimits {
            max_amount: Some(d("1.23456")),
            ..LIMITS
        };
        assert_eq!(
            at_depth(&book(), d("99"), d("100"), Side::Sell, d("2"), capped),
            Err(DepthError::Insufficient {
                max_amount: d("1.2345")
            })
        );
        assert_eq!(
            at_depth(
                &Consolidated::default(),
                d("99"),
                d("100"),
                Side::Sell,
                d("1"),
                LIMITS
            ),
            Err(DepthError::Insufficient {
                max_amount: Decimal::ZERO
            })
        );
    }
}
