//! Price history: minute OHLC candles per pair, rolled up to 5 minutes and 1 hour
//! (README "Candles").
//!
//! - What is recorded: the **mid** of the raw best bid and ask, `(bid + ask) / 2`, exact, at
//!   the exchange's time of every tick heard. The mid is what a chart of the market
//!   shows; the spread-adjusted prices move with admin changes and would draw steps that are
//!   not market moves.
//! - [`Recorder`] builds the open minutes of every pair in memory on every node (each node
//!   hears every tick), from every tick heard in whatever order (by exchange time), each once.
//!   A tick for a minute already handed over is late and dropped (counted).
//! - Each closed minute is written once per cluster: the `candles` job claims the minute and
//!   that node hands its candles to the store, which stores the 1 m candle and merges it into
//!   the 5 m and 1 h candles it belongs to ([`Candle::absorb`]).
//! - A minute without ticks has no candle: a gap (feed down, pair silent) stays a gap, never a
//!   flat invented candle.
//! - `GET /api/candles` is `http::candles`.

use std::collections::HashMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use common::{Decimal, Pair};
use serde::Serialize;

/// A candle's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Interval {
    #[serde(rename = "1m")]
    M1,
    #[serde(rename = "5m")]
    M5,
    #[serde(rename = "1h")]
    H1,
}

impl Interval {
    pub const ALL: [Interval; 3] = [Interval::M1, Interval::M5, Interval::H1];

    pub fn parse(s: &str) -> Option<Interval> {
        match s {
            "1m" => Some(Interval::M1),
            "5m" => Some(Interval::M5),
            "1h" => Some(Interval::H1),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::M1 => "1m",
            Interval::M5 => "5m",
            Interval::H1 => "1h",
        }
    }

    pub fn seconds(self) -> u32 {
        match self {
            Interval::M1 => 60,
            Interval::M5 => 300,
            Interval::H1 => 3600,
        }
    }

    pub fn from_seconds(s: u32) -> Option<Interval> {
        Interval::ALL.into_iter().find(|i| i.seconds() == s)
    }

    pub fn delta(self) -> TimeDelta {
        TimeDelta::seconds(i64::from(self.seconds()))
    }

    /// The start of the candle of this length that `t` falls in.
    pub fn start_of(self, t: DateTime<Utc>) -> DateTime<Utc> {
        // Truncating to a whole number of seconds that divides a day cannot fail for any
        // time chrono can represent.
        t.duration_trunc(self.delta()).unwrap_or(t)
    }
}

/// One candle: open, high, low and close of the mid, and how many ticks made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candle {
    pub pair: Pair,
    pub interval: Interval,
    pub start: DateTime<Utc>,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub ticks: u64,
}

impl Candle {
    fn first(pair: Pair, interval: Interval, start: DateTime<Utc>, price: Decimal) -> Candle {
        Candle {
            pair,
            interval,
            start,
            open: price,
            high: price,
            low: price,
            close: price,
            ticks: 1,
        }
    }

    /// Merges a later, shorter candle inside this one (a minute into its 5 m or 1 h candle):
    /// the open stays, the close is the later one's.
    pub fn absorb(&mut self, later: &Candle) {
        self.high = self.high.max(later.high);
        self.low = self.low.min(later.low);
        self.close = later.close;
        self.ticks += later.ticks;
    }

    /// This candle as the first part of the longer candle of `interval` it falls in.
    pub fn rolled_into(&self, interval: Interval) -> Candle {
        Candle {
            interval,
            start: interval.start_of(self.start),
            pair: self.pair.clone(),
            ..self.clone()
        }
    }
}

/// The mid of a bid and an ask, exact; `None` on overflow.
pub fn mid(bid: Decimal, ask: Decimal) -> Option<Decimal> {
    bid.checked_add(ask)?
        .checked_div(Decimal::TWO)
        .map(|m| m.normalize())
}

/// A minute being built: the candle, and the exchange times of its open and close.
#[derive(Debug)]
struct Building {
    candle: Candle,
    open_ts: DateTime<Utc>,
    close_ts: DateTime<Utc>,
}

impl Building {
    fn first(pair: &Pair, start: DateTime<Utc>, price: Decimal, ts: DateTime<Utc>) -> Building {
        Building {
            candle: Candle::first(pair.clone(), Interval::M1, start, price),
            open_ts: ts,
            close_ts: ts,
        }
    }

    /// Ticks may arrive out of order (a resync delivers the newest value before ticks queued
    /// behind it): the open is the earliest tick by exchange time, the close the latest.
    fn tick(&mut self, price: Decimal, ts: DateTime<Utc>) {
        let c = &mut self.candle;
        c.high = c.high.max(price);
        c.low = c.low.min(price);
        c.ticks += 1;
        if ts < self.open_ts {
            self.open_ts = ts;
            c.open = price;
        }
        if ts >= self.close_ts {
            self.close_ts = ts;
            c.close = price;
        }
    }
}

/// How many recent ticks per pair are remembered to recognise one heard twice.
const REMEMBERED: usize = 64;

/// The open minute candles of every pair, on this node, built from every tick heard, in
/// whatever order it comes (a tick heard twice, live and again in a resync, counts once).
#[derive(Debug, Default)]
pub struct Recorder {
    pairs: HashMap<Pair, PairTicks>,
    /// Minutes before this one are handed over: later ticks for them are dropped.
    closed_before: Option<DateTime<Utc>>,
}

/// One pair's open minutes, and the ticks it last recorded.
#[derive(Debug, Default)]
struct PairTicks {
    minutes: Vec<Building>,
    /// `(epoch hash, seq)` of the last ticks recorded.
    seen: std::collections::VecDeque<(u64, u64)>,
}

fn epoch_hash(epoch: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    epoch.hash(&mut h);
    h.finish()
}

impl Recorder {
    /// A tick's mid at exchange time `ts`, from publisher run `epoch` with sequence `seq`.
    pub fn record(
        &mut self,
        pair: &Pair,
        price: Decimal,
        ts: DateTime<Utc>,
        epoch: &str,
        seq: u64,
    ) {
        let start = Interval::M1.start_of(ts);
        if self.closed_before.is_some_and(|c| start < c) {
            metrics::counter!("rategate_candle_late_ticks_total").increment(1);
            return;
        }
        let id = (epoch_hash(epoch), seq);
        let ticks = self.pairs.entry(pair.clone()).or_default();
        if ticks.seen.contains(&id) {
            return;
        }
        if ticks.seen.len() == REMEMBERED {
            ticks.seen.pop_front();
        }
        ticks.seen.push_back(id);
        match ticks.minutes.iter_mut().find(|b| b.candle.start == start) {
            Some(b) => b.tick(price, ts),
            None => ticks.minutes.push(Building::first(pair, start, price, ts)),
        }
    }

    /// Hands over every minute that ended by `now` (oldest first); ticks for those minutes
    /// that come later are dropped.
    pub fn take_closed(&mut self, now: DateTime<Utc>) -> Vec<Candle> {
        let current = Interval::M1.start_of(now);
        let mut closed = Vec::new();
        for ticks in self.pairs.values_mut() {
            let (done, open): (Vec<Building>, Vec<Building>) = ticks
                .minutes
                .drain(..)
                .partition(|b| b.candle.start < current);
            ticks.minutes = open;
            closed.extend(done.into_iter().map(|b| b.candle));
        }
        closed.sort_by(|a, b| (a.start, &a.pair).cmp(&(b.start, &b.pair)));
        self.closed_before = Some(current);
        closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }
    use testkit::d;

    #[test]
    fn intervals_start_on_their_boundaries() {
        let t = at("2026-11-27T10:07:59.999Z");
        for (interval, start) in [
            (Interval::M1, "2026-11-27T10:07:00Z"),
            (Interval::M5, "2026-11-27T10:05:00Z"),
            (Interval::H1, "2026-11-27T10:00:00Z"),
        ] {
            assert_eq!(interval.start_of(t), at(start), "{interval:?}");
            assert_eq!(Interval::parse(interval.as_str()), Some(interval));
            assert_eq!(Interval::from_seconds(interval.seconds()), Some(interval));
        }
        assert_eq!(Interval::parse("2m"), None);
    }

    #[test]
    fn the_mid_is_exact() {
        // TC0: one more digit than the tick; TC1: already even; TC2: overflow is refused.
        assert_eq!(mid(d("97000.1"), d("97000.2")), Some(d("97000.15")));
        assert_eq!(mid(d("1.00"), d("3.00")), Some(d("2")));
        assert_eq!(mid(Decimal::MAX, Decimal::MAX), None);
    }

    #[test]
    fn a_minute_is_open_high_low_close_of_its_ticks() {
        let btc = Pair::parse("BTC/USD").unwrap();
        let mut r = Recorder::default();
        for (seq, (price, ts)) in [
            ("100", "2026-11-27T10:07:01Z"),
            ("103", "2026-11-27T10:07:10Z"),
            ("99.5", "2026-11-27T10:07:20Z"),
            ("101", "2026-11-27T10:07:59Z"),
        ]
        .into_iter()
        .enumerate()
        {
            r.record(&btc, d(price), at(ts), "e", seq as u64 + 10);
        }
        assert!(
            r.take_closed(at("2026-11-27T10:07:59.5Z")).is_empty(),
            "still open"
        );
        let closed = r.take_closed(at("2026-11-27T10:08:01Z"));
        assert_eq!(
            closed,
            vec![Candle {
                pair: btc.clone(),
                interval: Interval::M1,
                start: at("2026-11-27T10:07:00Z"),
                open: d("100"),
                high: d("103"),
                low: d("99.5"),
                close: d("101"),
                ticks: 4,
            }]
        );
        // A late tick for the handed-over minute changes nothing; the next minute is new.
        r.record(&btc, d("500"), at("2026-11-27T10:07:58Z"), "e", 2);
        r.record(&btc, d("102"), at("2026-11-27T10:08:02Z"), "e", 3);
        let next = r.take_closed(at("2026-11-27T10:09:00Z"));
        assert_eq!(next.len(), 1);
        assert_eq!(
            (next[0].open, next[0].high, next[0].ticks),
            (d("102"), d("102"), 1)
        );
    }

    #[test]
    fn out_of_order_and_repeated_ticks_make_the_same_candle() {
        // A resync hands over the newest tick before the ones queued behind it, and may
        // deliver a tick already heard live.
        let btc = Pair::parse("BTC/USD").unwrap();
        let mut r = Recorder::default();
        for (price, ts, seq) in [
            ("104", "2026-11-27T10:07:50Z", 4),
            ("100", "2026-11-27T10:07:01Z", 1),
            ("104", "2026-11-27T10:07:50Z", 4),
            ("106", "2026-11-27T10:07:10Z", 2),
            ("98", "2026-11-27T10:07:20Z", 3),
        ] {
            r.record(&btc, d(price), at(ts), "e", seq);
        }
        // The same seq from another publisher run is another tick.
        r.record(&btc, d("103"), at("2026-11-27T10:07:55Z"), "f", 4);
        let c = &r.take_closed(at("2026-11-27T10:08:00Z"))[0];
        assert_eq!(
            (c.open, c.high, c.low, c.close, c.ticks),
            (d("100"), d("106"), d("98"), d("103"), 5)
        );
    }

    #[test]
    fn a_silent_minute_leaves_a_gap() {
        let btc = Pair::parse("BTC/USD").unwrap();
        let mut r = Recorder::default();
        r.record(&btc, d("100"), at("2026-11-27T10:01:30Z"), "e", 4);
        // Nothing in 10:02; a tick in 10:03 finishes 10:01 without inventing 10:02.
        r.record(&btc, d("105"), at("2026-11-27T10:03:30Z"), "e", 5);
        let closed = r.take_closed(at("2026-11-27T10:04:00Z"));
        let starts: Vec<_> = closed.iter().map(|c| c.start).collect();
        assert_eq!(
            starts,
            [at("2026-11-27T10:01:00Z"), at("2026-11-27T10:03:00Z")]
        );
    }

    #[test]
    fn minutes_roll_up_into_longer_candles() {
        let btc = Pair::parse("BTC/USD").unwrap();
        let minute = |start: &str, o: &str, h: &str, l: &str, c: &str| Candle {
            pair: btc.clone(),
            interval: Interval::M1,
            start: at(start),
            open: d(o),
            high: d(h),
            low: d(l),
            close: d(c),
            ticks: 2,
        };
        let mut five =
            minute("2026-11-27T10:06:00Z", "10", "12", "9", "11").rolled_into(Interval::M5);
        assert_eq!(five.start, at("2026-11-27T10:05:00Z"));
        five.absorb(&minute("2026-11-27T10:07:00Z", "11", "15", "10", "14"));
        assert_eq!(
            (five.open, five.high, five.low, five.close, five.ticks),
            (d("10"), d("15"), d("9"), d("14"), 4)
        );
    }
}
