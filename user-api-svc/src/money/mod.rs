//! Money (ARCHITECTURE.md §2, §8): the rules as pure functions; storage is `store`, the
//! endpoints `http::orders`, `http::ledger` and `http::admin`.
//!
//! - An order's amount is in the base asset, a multiple of the pair's amount step, at least the
//!   pair's minimum.
//! - The total is in the quote asset, at that asset's precision ([`AssetPrecision`]: USD 2, ...),
//!   rounded in the house's favour: what a user pays rounds **up**, what a user receives rounds
//!   **down**.
//! - Revenue is the spread earned: what the user paid above the raw ask (buy) or received below
//!   the raw bid (sell), times the amount, rounding included.
//! - A trade moves two assets between the user and the house; [`Legs`] says which.
//!
//! [`quote`]: a quote's numbers from the book, as a pure function; [`budget`]: per-account
//! quote and order budgets; [`desk`]: filing quotes and placing orders, in group-commit
//! batches.

pub mod budget;
pub mod desk;
pub mod quote;

use std::collections::HashMap;

use common::bus::PairMeta;
use common::decimal::DecimalString;
use common::{Decimal, Pair};
use serde::{Deserialize, Serialize};

use crate::pricing::{round_down, round_up, Priced, PricingError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
    pub fn parse(s: &str) -> Option<Side> {
        match s {
            "buy" => Some(Side::Buy),
            "sell" => Some(Side::Sell),
            _ => None,
        }
    }
}

/// Decimal places per asset for totals and balances shown to users.
#[derive(Debug, Clone)]
pub struct AssetPrecision {
    places: HashMap<String, u32>,
    default: u32,
}

impl Default for AssetPrecision {
    fn default() -> Self {
        let fiat2 = ["USD", "EUR", "GBP", "CAD", "CHF", "AUD", "USDT", "USDC"];
        let mut places: HashMap<String, u32> = fiat2.iter().map(|a| (a.to_string(), 2)).collect();
        places.insert("JPY".into(), 0);
        AssetPrecision { places, default: 8 }
    }
}

impl AssetPrecision {
    pub fn places(&self, asset: &str) -> u32 {
        self.places.get(asset).copied().unwrap_or(self.default)
    }
    pub fn unit(&self, asset: &str) -> Decimal {
        Decimal::new(1, self.places(asset))
    }
    /// `x` at the asset's precision, for display (`1000` USD → `1000.00`, `7.5000` USD →
    /// `7.50`); a digit beyond it is kept, never rounded away ([`common::decimal::at_scale`]).
    pub fn show(&self, asset: &str, x: Decimal) -> DecimalString {
        DecimalString(common::decimal::at_scale(x, self.places(asset)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount must be greater than zero")]
    NotPositive,
    #[error("amount must be a multiple of {0}")]
    Step(Decimal),
    #[error("amount must be at least {0}")]
    BelowMinimum(Decimal),
    #[error("amount is too large")]
    TooLarge,
}

/// Largest amount accepted in one order (base units): far above any real order, far below
/// where decimal arithmetic could overflow.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

pub fn validate_amount(amount: Decimal, meta: &PairMeta) -> Result<(), AmountError> {
    if amount <= Decimal::ZERO {
        return Err(AmountError::NotPositive);
    }
    if amount > MAX_AMOUNT {
        return Err(AmountError::TooLarge);
    }
    if meta.amount_step > Decimal::ZERO && !(amount % meta.amount_step).is_zero() {
        return Err(AmountError::Step(meta.amount_step.normalize()));
    }
    if amount < meta.min_amount {
        return Err(AmountError::BelowMinimum(meta.min_amount.normalize()));
    }
    Ok(())
}

/// A firm quote's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuoteNumbers {
    pub price: Decimal,
    pub total: Decimal,
    pub revenue: Decimal,
}

/// Price, total and revenue of `amount` at the priced rate, rounded in the house's favour.
pub fn quote_numbers(
    side: Side,
    amount: Decimal,
    priced: &Priced,
    raw_bid: Decimal,
    raw_ask: Decimal,
    quote_unit: Decimal,
) -> Result<QuoteNumbers, PricingError> {
    let mul = |a: Decimal, b: Decimal| a.checked_mul(b).ok_or(PricingError::Overflow);
    let (price, total, raw_value) = match side {
        // The user pays: round up.
        Side::Buy => (
            priced.buy,
            round_up(mul(amount, priced.buy)?, quote_unit)?,
            mul(amount, raw_ask)?,
        ),
        // The user receives: round down.
        Side::Sell => (
            priced.sell,
            round_down(mul(amount, priced.sell)?, quote_unit)?,
            mul(amount, raw_bid)?,
        ),
    };
    if total <= Decimal::ZERO {
        return Err(PricingError::NonPositive);
    }
    let revenue = match side {
        Side::Buy => total - raw_value,
        Side::Sell => raw_value - total,
    };
    Ok(QuoteNumbers {
        price,
        total,
        revenue: revenue.max(Decimal::ZERO).normalize(),
    })
}

/// What a trade moves: the user gives `debit` of `debit_asset` to the house and receives
/// `credit` of `credit_asset` from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Legs {
    pub debit_asset: String,
    pub debit: Decimal,
    pub credit_asset: String,
    pub credit: Decimal,
}

pub fn legs(pair: &Pair, side: Side, amount: Decimal, total: Decimal) -> Legs {
    match side {
        Side::Buy => Legs {
            debit_asset: pair.quote().into(),
            debit: total,
            credit_asset: pair.base().into(),
            credit: amount,
        },
        Side::Sell => Legs {
            debit_asset: pair.base().into(),
            debit: amount,
            credit_asset: pair.quote().into(),
            credit: total,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::{price, Spread, SpreadKind};
    use proptest::prelude::*;

    use testkit::d;

    fn meta() -> PairMeta {
        PairMeta::new(
            Pair::parse("BTC/USD").unwrap(),
            d("0.1"),
            d("0.00000001"),
            d("0.0001"),
        )
    }

    #[test]
    fn amounts_are_checked_against_the_pair() {
        assert!(validate_amount(d("0.5"), &meta()).is_ok());
        assert_eq!(
            validate_amount(d("0"), &meta()),
            Err(AmountError::NotPositive)
        );
        assert_eq!(
            validate_amount(d("-1"), &meta()),
            Err(AmountError::NotPositive)
        );
        assert_eq!(
            validate_amount(d("0.000000001"), &meta()),
            Err(AmountError::Step(d("0.00000001")))
        );
        assert_eq!(
            validate_amount(d("0.00005"), &meta()),
            Err(AmountError::BelowMinimum(d("0.0001")))
        );
        assert_eq!(
            validate_amount(d("2000000000"), &meta()),
            Err(AmountError::TooLarge)
        );
    }

    #[test]
    fn totals_round_for_the_house() {
        let p = price(d("97000.1"), d("97000.2"), Spread::ZERO, d("0.1")).unwrap();
        // 0.00012345 × 97000.2 = 11.97467469 → user pays 11.98
        let numbers = |side| {
            let (bid, ask) = (d("97000.1"), d("97000.2"));
            quote_numbers(side, d("0.00012345"), &p, bid, ask, d("0.01")).unwrap()
        };
        let buy = numbers(Side::Buy);
        assert_eq!(buy.total, d("11.98"));
        assert_eq!(buy.revenue, d("0.00532531"));
        // 0.00012345 × 97000.1 = 11.974662345 → user receives 11.97
        let sell = numbers(Side::Sell);
        assert_eq!(sell.total, d("11.97"));
        assert_eq!(sell.revenue, d("0.004662345"));
    }

    #[test]
    fn legs_balance_per_asset() {
        let pair = Pair::parse("BTC/USD").unwrap();
        let b = legs(&pair, Side::Buy, d("0.5"), d("48500.10"));
        assert_eq!(
            (b.debit_asset.as_str(), b.credit_asset.as_str()),
            ("USD", "BTC")
        );
        let s = legs(&pair, Side::Sell, d("0.5"), d("48500.00"));
        assert_eq!(
            (s.debit_asset.as_str(), s.debit, s.credit),
            ("BTC", d("0.5"), d("48500.00"))
        );
    }

    #[test]
    fn balances_show_the_asset_precision() {
        let p = AssetPrecision::default();
        assert_eq!(p.show("USD", d("1000")).to_string(), "1000.00");
        assert_eq!(p.show("BTC", d("0.5")).to_string(), "0.50000000");
        assert_eq!(p.show("USD", d("0.123")).to_string(), "0.123");
    }

    proptest! {
        #[test]
        fn the_house_never_loses_on_rounding(
            bid in (1i64..100_000_000, 0u32..6).prop_map(|(m, s)| Decimal::new(m, s)),
            gap in (0i64..1_000, 0u32..6).prop_map(|(m, s)| Decimal::new(m, s)),
            amount in (1i64..10_000_000_000, 8u32..=8).prop_map(|(m, s)| Decimal::new(m, s)),
            bps in 0i64..500,
            quote_places in 0u32..9,
        ) {
            let ask = bid + gap + Decimal::new(1, 6);
            let spread = Spread { kind: SpreadKind::Bps, buy: Decimal::from(bps), sell: Decimal::from(bps) };
            let Ok(p) = price(bid, ask, spread, Decimal::new(1, 6)) else { return Ok(()) };
            let unit = Decimal::new(1, quote_places);
            if let Ok(b) = quote_numbers(Side::Buy, amount, &p, bid, ask, unit) {
                prop_assert!(b.total >= amount * p.buy, "user pays at least amount × price");
                prop_assert!(b.total - amount * p.buy < unit);
                prop_assert!(b.total >= amount * ask, "never below the raw ask");
                prop_assert!(b.revenue >= Decimal::ZERO);
            }
            if let Ok(s) = quote_numbers(Side::Sell, amount, &p, bid, ask, unit) {
                prop_assert!(s.total <= amount * p.sell, "user receives at most amount × price");
                prop_assert!(amount * p.sell - s.total < unit);
                prop_assert!(s.total <= amount * bid, "never above the raw bid");
                prop_assert!(s.revenue >= Decimal::ZERO);
            }
        }
    }
}
