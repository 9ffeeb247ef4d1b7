//! A firm quote's numbers from one instant of the book, as a pure function: [`price_quote`]
//! takes the rate, spread, pair metadata and consolidated book the rate book captured
//! ([`QuoteBasis`]) and the trader's side and amount, and gives the price, total and revenue,
//! or why not. No I/O: the endpoint reads the book and the balance, this decides.
//!
//! With a book, the amount is priced at depth first ([`crate::rates::depth`]: the VWAP of the
//! levels it takes), then the spread, then rounding in the house's favour to the tick; the
//! revenue is what the user pays above (or receives below) that depth price.

use common::Decimal;

use super::{quote_numbers, validate_amount, AmountError, QuoteNumbers, Side};
use crate::pricing::{self, PricingError};
use crate::rates::depth::{at_depth, Depth, DepthError};
use crate::rates::QuoteBasis;

/// Why a quote for this amount cannot be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    /// Not a multiple of the step, below the minimum, not positive, too large.
    #[error("{0}")]
    Amount(#[from] AmountError),
    /// So small that its total rounds to nothing.
    #[error("the amount is too small to be worth anything")]
    TooSmall,
    #[error("{0}")]
    Pricing(PricingError),
    /// The book cannot fill this much now; `max_amount` is the most that can be quoted.
    #[error("not enough liquidity for this amount now: at most {max_amount} can be quoted")]
    InsufficientLiquidity { max_amount: Decimal },
}

/// A quote's numbers, with the depth they were priced at (when there was a book).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quoted {
    pub amount: Decimal,
    pub numbers: QuoteNumbers,
    /// The raw prices the spread was applied to: the depth prices, or the rate's.
    pub raw_bid: Decimal,
    pub raw_ask: Decimal,
    pub depth: Option<Depth>,
}

/// The numbers of a quote for `amount` (`None`: it had more decimal places than can be kept,
/// refused naming the pair's step) on `side`, totals at `quote_unit` (the quote asset's unit).
pub fn price_quote(
    basis: &QuoteBasis,
    side: Side,
    amount: Option<Decimal>,
    quote_unit: Decimal,
) -> Result<Quoted, QuoteError> {
    let amount = amount.ok_or(AmountError::Step(basis.meta.amount_step.normalize()))?;
    validate_amount(amount, &basis.meta)?;
    let (bid, ask) = (basis.raw.bid, basis.raw.ask);
    let (priced, depth) = match &basis.book {
        None => (basis.priced, None),
        Some(book) => {
            let depth = at_depth(&book.book, bid, ask, side, amount, basis.limits).map_err(
                |e| match e {
                    DepthError::Insufficient { max_amount } => {
                        QuoteError::InsufficientLiquidity { max_amount }
                    }
                    DepthError::Overflow => QuoteError::Pricing(PricingError::Overflow),
                },
            )?;
            let priced = pricing::price(depth.bid, depth.ask, basis.spread, basis.meta.price_tick)
                .map_err(QuoteError::Pricing)?;
            (priced, Some(depth))
        }
    };
    let (raw_bid, raw_ask) = depth.as_ref().map_or((bid, ask), |d| (d.bid, d.ask));
    let numbers = quote_numbers(side, amount, &priced, raw_bid, raw_ask, quote_unit).map_err(
        |e| match e {
            PricingError::NonPositive => QuoteError::TooSmall,
            other => QuoteError::Pricing(other),
        },
    )?;
    Ok(Quoted {
        amount,
        numbers,
        raw_bid,
        raw_ask,
        depth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::{price, Spread, SpreadKind};
    use common::bus::{PairMeta, RateMsg};
    use common::Pair;

    use testkit::d;

    fn basis(bid: &str, ask: &str, spread_bps: &str) -> QuoteBasis {
        let spread = Spread {
            kind: SpreadKind::Bps,
            buy: d(spread_bps),
            sell: d(spread_bps),
        };
        let pair = Pair::parse("BTC/USD").unwrap();
        let meta = PairMeta::new(pair.clone(), d("0.1"), d("0.0001"), d("0.0001"));
        let raw = RateMsg {
            v: 1,
            source: "test".into(),
            pair,
            bid: d(bid),
            ask: d(ask),
            last: None,
            ts: chrono::Utc::now(),
            received_at: chrono::Utc::now(),
            seq: 1,
            epoch: "e".into(),
            venues: vec![],
        };
        let priced = price(raw.bid, raw.ask, spread, meta.price_tick).unwrap();
        QuoteBasis {
            raw,
            spread,
            priced,
            meta,
            book: None,
            limits: crate::rates::depth::DepthLimits {
                max_fraction: crate::rates::book::DEFAULT_MAX_DEPTH_FRACTION,
                max_amount: None,
                step: d("0.0001"),
            },
        }
    }

    /// The README's example, without HTTP: 97000.2 × 1.0025 = 97242.7005 → 97242.8 a BTC;
    /// 0.001 BTC costs 97.2428 → 97.25 USD, 0.2498 of it the spread.
    #[test]
    fn a_buy_is_priced_up_to_the_tick_and_the_cent() {
        let Quoted {
            amount, numbers: n, ..
        } = price_quote(
            &basis("97000.1", "97000.2", "25"),
            Side::Buy,
            Some(d("0.001")),
            d("0.01"),
        )
        .unwrap();
        assert_eq!(amount, d("0.001"));
        assert_eq!(
            (n.price, n.total, n.revenue),
            (d("97242.8"), d("97.25"), d("0.2498"))
        );
    }

    #[test]
    fn amounts_off_the_step_too_precise_or_worthless_are_refused() {
        let b = basis("97000.1", "97000.2", "25");
        assert_eq!(
            price_quote(&b, Side::Buy, Some(d("0.00015")), d("0.01")).map(|q| q.numbers),
            Err(QuoteError::Amount(AmountError::Step(d("0.0001"))))
        );
        assert_eq!(
            price_quote(&b, Side::Buy, None, d("0.01")).map(|q| q.numbers),
            Err(QuoteError::Amount(AmountError::Step(d("0.0001"))))
        );
        // 0.0001 BTC at a price of 0.5 USD sells for 0.00005 USD: nothing at the cent.
        let cheap = basis("0.5", "0.6", "0");
        assert_eq!(
            price_quote(&cheap, Side::Sell, Some(d("0.0001")), d("0.01")).map(|q| q.numbers),
            Err(QuoteError::TooSmall)
        );
    }

    /// A quote for size walks the book: 0.5 × 97000.2 + 0.5 × 97010.0 = 97005.1 a BTC, then
    /// 25 bps up to the tick: 97005.1 × 1.0025 = 97247.61275 → 97247.7.
    #[test]
    fn a_quote_for_size_is_priced_at_the_vwap_of_the_levels_it_takes() {
        use common::book::{Level, Venue};
        let mut b = basis("97000.1", "97000.2", "25");
        let level = |price: &str, qty: &str, venue| Level {
            price: d(price),
            qty: d(qty),
            venue,
        };
        b.book = Some(std::sync::Arc::new(common::bus::BookMsg {
            v: 1,
            pair: b.meta.pair.clone(),
            book: common::book::Consolidated {
                bids: vec![level("97000.1", "10", Venue::Kraken)],
                asks: vec![
                    level("97000.2", "0.5", Venue::Kraken),
                    level("97010.0", "10", Venue::Coinbase),
                ],
            },
            venues: vec![Venue::Kraken, Venue::Coinbase],
            ts: chrono::Utc::now(),
            seq: 1,
            epoch: "e".into(),
        }));
        let q = price_quote(&b, Side::Buy, Some(d("1")), d("0.01")).unwrap();
        let depth = q.depth.unwrap();
        assert_eq!(depth.vwap, d("97005.1"));
        assert_eq!(depth.levels_used, 2);
        assert_eq!(q.numbers.price, d("97247.7"));
        assert_eq!(q.raw_ask, d("97005.1"));
        // Inside the best level: exactly the top-of-book price of the README example.
        let small = price_quote(&b, Side::Buy, Some(d("0.001")), d("0.01")).unwrap();
        assert_eq!(small.numbers.price, d("97242.8"));
        // Half of the 10.5 visible on the asks is quotable.
        assert_eq!(
            price_quote(&b, Side::Buy, Some(d("5.3")), d("0.01")).map(|q| q.numbers),
            Err(QuoteError::InsufficientLiquidity {
                max_amount: d("5.25")
            })
        );
    }
}
