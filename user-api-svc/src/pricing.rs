//! Spread pricing and rounding (ARCHITECTURE.md §5), as pure functions.
//!
//! A user buys at the raw ask plus the buy spread and sells at the raw bid minus the sell
//! spread, where a spread is `absolute` (quote-currency units) or `bps`. The buy price rounds
//! **up** to the pair's price tick and the sell price rounds **down**, so rounding always favours
//! the house. A sell price that is not positive makes the pair unquotable. All arithmetic is
//! checked: an overflow is an error, never a panic.

use common::decimal::DecimalString;
use common::Decimal;
use serde::{Deserialize, Serialize};

/// How a spread's numbers are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpreadKind {
    /// Quote-currency units added to the ask / taken off the bid.
    Absolute,
    /// Basis points (1/10,000) of the ask / bid.
    Bps,
}

impl SpreadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SpreadKind::Absolute => "absolute",
            SpreadKind::Bps => "bps",
        }
    }
    pub fn parse(s: &str) -> Option<SpreadKind> {
        match s {
            "absolute" => Some(SpreadKind::Absolute),
            "bps" => Some(SpreadKind::Bps),
            _ => None,
        }
    }
}

/// A spread for one pair (or the default), both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spread {
    pub kind: SpreadKind,
    pub buy: Decimal,
    pub sell: Decimal,
}

impl Spread {
    /// No spread at all: what applies before any admin action.
    pub const ZERO: Spread = Spread {
        kind: SpreadKind::Absolute,
        buy: Decimal::ZERO,
        sell: Decimal::ZERO,
    };
}

/// The prices a user gets, and how much of each is spread (incl. rounding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priced {
    /// What a user pays per unit when buying (≥ ask, on tick).
    pub buy: Decimal,
    /// What a user receives per unit when selling (≤ bid, on tick, > 0).
    pub sell: Decimal,
    /// `buy − ask`.
    pub buy_spread: Decimal,
    /// `bid − sell`.
    pub sell_spread: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("the spread leaves no positive sell price")]
    NonPositive,
    #[error("arithmetic overflow while pricing")]
    Overflow,
    #[error("invalid price tick")]
    BadTick,
}

impl PricingError {
    /// The stable word for this failure in `unpricedReason`.
    pub fn reason(self) -> &'static str {
        match self {
            PricingError::NonPositive => "spread_too_wide",
            PricingError::Overflow => "pricing_overflow",
            PricingError::BadTick => "bad_tick",
        }
    }
}

const BPS: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

/// A price for display at its pair's tick (`3001.6` on a 0.01 tick is `3001.60`); as it came
/// when the tick is not known yet. Never rounds ([`common::decimal::at_scale`]).
pub fn show_price(x: Decimal, tick: Option<Decimal>) -> DecimalString {
    DecimalString(match tick {
        Some(t) => common::decimal::at_scale(x, common::decimal::places_of(t)),
        None => x,
    })
}

/// Rounds `x` up to a multiple of `tick`, shown at the tick's precision.
pub fn round_up(x: Decimal, tick: Decimal) -> Result<Decimal, PricingError> {
    to_tick(x, tick, true)
}

/// Rounds `x` down to a multiple of `tick`.
pub fn round_down(x: Decimal, tick: Decimal) -> Result<Decimal, PricingError> {
    to_tick(x, tick, false)
}

fn to_tick(x: Decimal, tick: Decimal, up: bool) -> Result<Decimal, PricingError> {
    if tick <= Decimal::ZERO {
        return Err(PricingError::BadTick);
    }
    let units = x.checked_div(tick).ok_or(PricingError::Overflow)?;
    let units = if up { units.ceil() } else { units.floor() };
    let out = units.checked_mul(tick).ok_or(PricingError::Overflow)?;
    // Division may have rounded in its 28th digit: make sure the direction still holds.
    let out = match (up, out.cmp(&x)) {
        (true, std::cmp::Ordering::Less) => out.checked_add(tick).ok_or(PricingError::Overflow)?,
        (false, std::cmp::Ordering::Greater) => {
            out.checked_sub(tick).ok_or(PricingError::Overflow)?
        }
        _ => out,
    };
    // Show prices at the tick's precision (3001.60 on a 0.01 tick). `out` is a multiple of the
    // tick, so this only adds or removes zeros.
    let mut out = out;
    out.rescale(common::decimal::places_of(tick));
    Ok(out)
}

/// Prices a raw bid/ask with `spread` on a pair whose price tick is `tick`.
pub fn price(
    bid: Decimal,
    ask: Decimal,
    spread: Spread,
    tick: Decimal,
) -> Result<Priced, PricingError> {
    let (buy_raw, sell_raw) = match spread.kind {
        SpreadKind::Absolute => (
            ask.checked_add(spread.buy).ok_or(PricingError::Overflow)?,
            bid.checked_sub(spread.sell).ok_or(PricingError::Overflow)?,
        ),
        SpreadKind::Bps => {
            let up = BPS.checked_add(spread.buy).ok_or(PricingError::Overflow)?;
            let down = BPS.checked_sub(spread.sell).ok_or(PricingError::Overflow)?;
            (
                ask.checked_mul(up)
                    .and_then(|v| v.checked_div(BPS))
                    .ok_or(PricingError::Overflow)?,
                bid.checked_mul(down)
                    .and_then(|v| v.checked_div(BPS))
                    .ok_or(PricingError::Overflow)?,
            )
        }
    };
    let buy = round_up(buy_raw, tick)?;
    let sell = round_down(sell_raw, tick)?;
    if sell <= Decimal::ZERO {
        return Err(PricingError::NonPositive);
    }
    Ok(Priced {
        buy,
        sell,
        buy_spread: buy
            .checked_sub(ask)
            .ok_or(PricingError::Overflow)?
            .normalize(),
        sell_spread: bid
            .checked_sub(sell)
            .ok_or(PricingError::Overflow)?
            .normalize(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use testkit::d;

    fn spread(kind: SpreadKind, buy: &str, sell: &str) -> Spread {
        Spread {
            kind,
            buy: d(buy),
            sell: d(sell),
        }
    }

    #[test]
    fn table_of_prices() {
        use SpreadKind::*;
        // TC: (bid, ask, spread, tick) -> (buy, sell)
        let cases = [
            (
                "97000.1",
                "97000.2",
                spread(Absolute, "0", "0"),
                "0.1",
                "97000.2",
                "97000.1",
            ),
            (
                "97000.1",
                "97000.2",
                spread(Absolute, "10", "5"),
                "0.1",
                "97010.2",
                "96995.1",
            ),
            // 25 bps of 97000.2 = 242.5005 → 97242.7005 → up to 97242.8
            (
                "97000.1",
                "97000.2",
                spread(Bps, "25", "25"),
                "0.1",
                "97242.8",
                "96757.5",
            ),
            // sub-tick absolute spread still rounds in the house's favour
            (
                "1.00000",
                "1.00010",
                spread(Absolute, "0.000001", "0.000001"),
                "0.00001",
                "1.00011",
                "0.99999",
            ),
            // the original system truncated to integers; we keep every decimal
            (
                "0.10025",
                "0.10036",
                spread(Bps, "100", "100"),
                "0.00001",
                "0.10137",
                "0.09924",
            ),
        ];
        for (i, (bid, ask, s, tick, buy, sell)) in cases.into_iter().enumerate() {
            let p = price(d(bid), d(ask), s, d(tick)).unwrap();
            assert_eq!(
                (p.buy.to_string(), p.sell.to_string()),
                (buy.to_string(), sell.to_string()),
                "TC{i}"
            );
            assert_eq!(p.buy - d(ask), p.buy_spread, "TC{i}");
        }
    }

    #[test]
    fn prices_show_the_tick_precision() {
        let p = price(
            d("3000.00"),
            d("3000.10"),
            spread(SpreadKind::Absolute, "1.5", "0.5"),
            d("0.01"),
        )
        .unwrap();
        assert_eq!(
            (p.buy.to_string(), p.sell.to_string()),
            ("3001.60".into(), "2999.50".into())
        );
        assert_eq!(
            (p.buy_spread.to_string(), p.sell_spread.to_string()),
            ("1.5".into(), "0.5".into())
        );
        let p = price(d("5"), d("6"), Spread::ZERO, d("0.010")).unwrap();
        assert_eq!(p.buy.to_string(), "6.00");
        assert_eq!(p.buy_spread.to_string(), "0");
    }

    #[test]
    fn a_spread_eating_the_whole_bid_makes_the_pair_unquotable() {
        let s = spread(SpreadKind::Absolute, "0", "100");
        assert_eq!(
            price(d("100"), d("101"), s, d("0.01")),
            Err(PricingError::NonPositive)
        );
        let s = spread(SpreadKind::Bps, "0", "10000");
        assert_eq!(
            price(d("100"), d("101"), s, d("0.01")),
            Err(PricingError::NonPositive)
        );
        // rounding down to the tick can also reach zero
        let s = spread(SpreadKind::Absolute, "0", "0.99");
        assert_eq!(
            price(d("1"), d("2"), s, d("1")),
            Err(PricingError::NonPositive)
        );
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        let s = spread(SpreadKind::Absolute, "1", "0");
        assert_eq!(
            price(Decimal::MAX, Decimal::MAX, s, d("0.1")),
            Err(PricingError::Overflow)
        );
        let s = spread(SpreadKind::Bps, "10", "0");
        assert!(price(Decimal::MAX, Decimal::MAX, s, d("0.1")).is_err());
        assert_eq!(round_up(d("1"), Decimal::ZERO), Err(PricingError::BadTick));
    }

    fn price_strategy() -> impl Strategy<Value = Decimal> {
        (1i64..10_000_000_000i64, 0u32..8).prop_map(|(m, s)| Decimal::new(m, s))
    }

    fn tick_strategy() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            (0u32..9).prop_map(|s| Decimal::new(1, s)),
            (1i64..50, 1u32..4).prop_map(|(m, s)| Decimal::new(m, s)),
        ]
    }

    proptest! {
        #[test]
        fn rounding_always_favours_the_house(
            bid in price_strategy(),
            gap in price_strategy(),
            kind in prop_oneof![Just(SpreadKind::Absolute), Just(SpreadKind::Bps)],
            buy in (0i64..1_000_000, 0u32..6).prop_map(|(m, s)| Decimal::new(m, s)),
            sell in (0i64..1_000_000, 0u32..6).prop_map(|(m, s)| Decimal::new(m, s)),
            tick in tick_strategy(),
        ) {
            let ask = bid + gap;
            let s = Spread { kind, buy, sell };
            match price(bid, ask, s, tick) {
                Ok(p) => {
                    // the user never buys below the raw ask plus the spread, nor sells above
                    // the raw bid minus the spread
                    let exact_buy = match kind {
                        SpreadKind::Absolute => ask + buy,
                        SpreadKind::Bps => ask * (BPS + buy) / BPS,
                    };
                    let exact_sell = match kind {
                        SpreadKind::Absolute => bid - sell,
                        SpreadKind::Bps => bid * (BPS - sell) / BPS,
                    };
                    prop_assert!(p.buy >= exact_buy);
                    prop_assert!(p.sell <= exact_sell);
                    prop_assert!(p.buy - exact_buy < tick, "buy rounds up by less than a tick");
                    prop_assert!(exact_sell - p.sell < tick, "sell rounds down by less than a tick");
                    prop_assert!(p.buy >= ask && p.sell <= bid);
                    prop_assert!(p.sell > Decimal::ZERO);
                    prop_assert_eq!((p.buy / tick).fract(), Decimal::ZERO);
                    prop_assert_eq!((p.sell / tick).fract(), Decimal::ZERO);
                    prop_assert!(p.buy_spread >= Decimal::ZERO && p.sell_spread >= Decimal::ZERO);
                }
                Err(PricingError::NonPositive) => {
                    let exact_sell = match kind {
                        SpreadKind::Absolute => bid - sell,
                        SpreadKind::Bps => bid * (BPS - sell) / BPS,
                    };
                    prop_assert!(exact_sell < tick, "refused only when the sell price cannot stay positive");
                }
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }

        #[test]
        fn a_bigger_spread_never_gives_the_user_a_better_price(
            bid in price_strategy(), gap in price_strategy(),
            a in 0i64..10_000, b in 0i64..10_000, tick in tick_strategy(),
        ) {
            let ask = bid + gap;
            let (small, big) = (Decimal::new(a.min(b), 2), Decimal::new(a.max(b), 2));
            let p1 = price(bid, ask, Spread { kind: SpreadKind::Bps, buy: small, sell: small }, tick);
            let p2 = price(bid, ask, Spread { kind: SpreadKind::Bps, buy: big, sell: big }, tick);
            if let (Ok(p1), Ok(p2)) = (p1, p2) {
                prop_assert!(p2.buy >= p1.buy && p2.sell <= p1.sell);
            }
        }
    }
}
