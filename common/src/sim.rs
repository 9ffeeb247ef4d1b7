//! A bounded random walk of best bid/ask, on a pair's price tick.
//!
//! Used by `FEED=sim` (offline demos, labelled `source:"sim"`) and by the mock Kraken server.
//! All arithmetic is `Decimal`; the walk never crosses, never goes non-positive.

use rand::Rng;
use rust_decimal::Decimal;

/// Start prices and ticks for well-known pairs, so demos look plausible.
pub fn seed_price(symbol: &str) -> (Decimal, Decimal) {
    // (start bid, price tick), as decimal mantissa/scale to stay exact.
    let (m, s, tm, ts) = match symbol {
        "BTC/USD" => (970001, 1, 1, 1),
        "ETH/USD" => (345012, 2, 1, 2),
        "SOL/USD" => (18734, 2, 1, 2),
        "XRP/USD" => (231450, 5, 1, 5),
        "ADA/USD" => (71230, 6, 1, 6),
        "DOGE/USD" => (3123450, 7, 1, 7),
        "LTC/USD" => (10234, 2, 1, 2),
        "USDT/USD" => (99980, 5, 1, 5),
        "ALGO/USD" => (10025, 5, 1, 5),
        _ => (10000, 2, 1, 4),
    };
    (Decimal::new(m, s), Decimal::new(tm, ts))
}

#[derive(Debug, Clone)]
pub struct RandomWalk {
    bid: Decimal,
    tick: Decimal,
    /// Spread in ticks, kept between 1 and 5.
    spread_ticks: i64,
    floor: Decimal,
}

impl RandomWalk {
    pub fn new(start_bid: Decimal, tick: Decimal) -> Self {
        let tick = if tick > Decimal::ZERO {
            tick
        } else {
            Decimal::new(1, 8)
        };
        RandomWalk {
            bid: start_bid.max(tick),
            tick,
            spread_ticks: 1,
            floor: (start_bid / Decimal::from(10)).max(tick),
        }
    }

    pub fn for_symbol(symbol: &str) -> Self {
        let (bid, tick) = seed_price(symbol);
        RandomWalk::new(bid, tick)
    }

    pub fn tick_size(&self) -> Decimal {
        self.tick
    }

    /// Current (bid, ask).
    pub fn quote(&self) -> (Decimal, Decimal) {
        (
            self.bid,
            self.bid + self.tick * Decimal::from(self.spread_ticks),
        )
    }

    /// Moves one step and returns the new (bid, ask).
    pub fn step<R: Rng + ?Sized>(&mut self, rng: &mut R) -> (Decimal, Decimal) {
        let moves: i64 = rng.random_range(-3..=3);
        let next = self.bid + self.tick * Decimal::from(moves);
        self.bid = next.max(self.floor);
        self.spread_ticks = (self.spread_ticks + rng.random_range(-1..=1)).clamp(1, 5);
        self.quote()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn walk_stays_positive_uncrossed_and_on_tick() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        for symbol in ["BTC/USD", "ADA/USD", "NEW/COIN"] {
            let mut w = RandomWalk::for_symbol(symbol);
            for _ in 0..10_000 {
                let (bid, ask) = w.step(&mut rng);
                assert!(bid > Decimal::ZERO && bid < ask, "{symbol} {bid} {ask}");
                assert_eq!((bid / w.tick_size()).fract(), Decimal::ZERO);
            }
        }
    }
}
