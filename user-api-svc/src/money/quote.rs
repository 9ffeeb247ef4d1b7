//! A firm quote's numbers from one instant of the book, as a pure function: [`price_quote`]
//! takes the rate, spread and pair metadata the book captured ([`QuoteBasis`]) and the
//! trader's side and amount, and gives the price, total and revenue, or why not. No I/O: the
//! endpoint reads the book and the balance, this decides.

use common::Decimal;

use super::{quote_numbers, validate_amount, AmountError, QuoteNumbers, Side};
use crate::pricing::PricingError;
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
}

/// The numbers of a quote for `amount` (`None`: it had more decimal places than can be kept,
/// refused naming the pair's step) on `side`, totals at `quote_unit` (the quote asset's unit).
pub fn price_quote(
    basis: &QuoteBasis,
    side: Side,
    amount: Option<Decimal>,
    quote_unit: Decimal,
) -> Result<(Decimal, QuoteNumbers), QuoteError> {
    let amount = amount.ok_or(AmountError::Step(basis.meta.amount_step.normalize()))?;
    validate_amount(amount, &basis.meta)?;
    let numbers = quote_numbers(
        side,
        amount,
        &basis.priced,
        basis.raw.bid,
        basis.raw.ask,
        quote_unit,
    )
    .map_err(|e| match e {
        PricingError::NonPositive => QuoteError::TooSmall,
        other => QuoteError::Pricing(other),
    })?;
    Ok((amount, numbers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::{price, Spread, SpreadKind};
    use common::bus::{PairMeta, RateMsg};
    use common::Pair;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

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
        };
        let priced = price(raw.bid, raw.ask, spread, meta.price_tick).unwrap();
        QuoteBasis {
            raw,
            spread,
            priced,
            meta,
        }
    }

    /// The README's example, without HTTP: 97000.2 × 1.0025 = 97242.7005 → 97242.8 a BTC;
    /// 0.001 BTC costs 97.2428 → 97.25 USD, 0.2498 of it the spread.
    #[test]
    fn a_buy_is_priced_up_to_the_tick_and_the_cent() {
        let (amount, n) = price_quote(
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
            price_quote(&b, Side::Buy, Some(d("0.00015")), d("0.01")),
            Err(QuoteError::Amount(AmountError::Step(d("0.0001"))))
        );
        assert_eq!(
            price_quote(&b, Side::Buy, None, d("0.01")),
            Err(QuoteError::Amount(AmountError::Step(d("0.0001"))))
        );
        // 0.0001 BTC at a price of 0.5 USD sells for 0.00005 USD: nothing at the cent.
        let cheap = basis("0.5", "0.6", "0");
        assert_eq!(
            price_quote(&cheap, Side::Sell, Some(d("0.0001")), d("0.01")),
            Err(QuoteError::TooSmall)
        );
    }
}
