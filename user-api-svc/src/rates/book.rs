//! [`RateBook`]: everything needed to turn raw bus rates into what users see, as plain state
//! with no I/O, so it is tested directly.
//!
//! It holds the last raw rate per pair (ignoring out-of-order messages of the same publisher
//! run), pair metadata (price tick), the spreads, and the feed status with the time it was last
//! heard. A rate is **stale** when the feed has not been heard for `stale_after` (3 s), when the
//! feed is not `online`, when the feed reports the pair as not `ok` (ARCHITECTURE.md §3–§4), or when the
//! bus has not yet described the pair (no price tick, no minimum amount): such a pair is shown
//! with its raw prices, marked stale, with no spread-adjusted prices, and cannot be quoted. We
//! never invent a tick: pricing with a made-up one would show prices the house does not honour.

use common::decimal::DecimalString;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::book::Venue;
use common::bus::{BookMsg, FeedState, PairMeta, PairState, RateMsg, StatusMsg};
use common::{Decimal, Pair};
use serde::Serialize;
use std::sync::Arc;

use super::depth::{at_depth, DepthLimits};
use crate::money::Side;
use crate::pricing::{self, Priced, PricingError, Spread};

/// Spreads as configured: a default and per-pair overrides; none at all means zero.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpreadSet {
    pub default: Option<Spread>,
    pub pairs: HashMap<Pair, Spread>,
}

impl SpreadSet {
    pub fn for_pair(&self, pair: &Pair) -> Spread {
        self.pairs
            .get(pair)
            .or(self.default.as_ref())
            .copied()
            .unwrap_or(Spread::ZERO)
    }
}

/// Buy/sell as decimal strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Sides {
    pub buy: DecimalString,
    pub sell: DecimalString,
}

/// One pair as users see it (`rates:live`, `/api/rates`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveRate {
    pub pair: Pair,
    /// The exchange's prices: `buy` is the raw ask, `sell` the raw bid.
    pub original: Sides,
    /// What a user buys and sells at; `null` when the spread leaves no positive sell price.
    pub with_spread: Option<Sides>,
    /// The spread applied per side (incl. rounding to the tick); `null` when unquotable.
    pub current_spread: Option<Sides>,
    /// Exchange time of the rate.
    #[serde(with = "common::time::micros")]
    pub ts: DateTime<Utc>,
    pub stale: bool,
    /// Why it is stale (`feed_silent`, `feed_maintenance`, `pair_silent`, `no_metadata`, ...);
    /// absent when fresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_reason: Option<&'static str>,
    /// The pair's price tick (prices round to it); absent until the feed described the pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tick: Option<DecimalString>,
    pub source: String,
    /// Why there are no spread-adjusted prices (`spread_too_wide`: the spread leaves no positive
    /// sell price; `no_metadata`; `pricing_overflow`); absent when `withSpread` is set. A pair
    /// shown this way is refused as `unquotable` (422), not as stale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unpriced_reason: Option<&'static str>,
    /// The venues whose books make this price now; absent for a single-venue feed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub venues: Vec<Venue>,
    /// The price at size: each rung priced exactly as a quote of that amount would be now;
    /// `null` on a side the book cannot fill. Absent until the feed has sent the pair's book.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ladder: Option<Vec<Rung>>,
}

/// One size of the ladder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rung {
    /// In the base asset.
    pub amount: DecimalString,
    /// What a user would buy this amount at, per unit; `null` if the book cannot fill it.
    pub buy: Option<DecimalString>,
    /// What a user would sell this amount at, per unit; `null` if the book cannot fill it.
    pub sell: Option<DecimalString>,
}

/// Why a pair cannot be quoted right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unquotable {
    NoRate,
    Stale,
    /// The bus has not described the pair yet (no price tick or minimum amount).
    NoMetadata,
    Pricing(PricingError),
}

/// Everything a firm quote needs, captured at one instant.
#[derive(Debug, Clone)]
pub struct QuoteBasis {
    pub raw: RateMsg,
    pub spread: Spread,
    pub priced: Priced,
    pub meta: PairMeta,
    /// The pair's consolidated book, when the feed sends books: a quote walks it.
    pub book: Option<Arc<BookMsg>>,
    /// What limits a quote's size against the book.
    pub limits: DepthLimits,
}

/// Ladder amounts when an admin set none: the pair's minimum order × 10, × 100, × 1000.
pub const LADDER_MULTIPLES: [u32; 3] = [10, 100, 1000];

/// `QUOTE_MAX_DEPTH_FRACTION`'s default: at most half of what a side shows may be quoted.
pub const DEFAULT_MAX_DEPTH_FRACTION: Decimal = Decimal::from_parts(5, 0, 0, false, 1);

pub struct RateBook {
    raw: HashMap<Pair, RateMsg>,
    meta: HashMap<Pair, PairMeta>,
    spreads: SpreadSet,
    status: Option<StatusMsg>,
    status_heard: Option<Instant>,
    stale_after: Duration,
    known: BTreeSet<Pair>,
    /// Staleness as last reported to clients, to emit only changes.
    stale_shown: HashMap<Pair, bool>,
    /// Each pair's newest consolidated book.
    books: HashMap<Pair, Arc<BookMsg>>,
    /// `QUOTE_MAX_DEPTH_FRACTION`.
    max_depth_fraction: Decimal,
    /// Admins' per-pair maximum quote amounts.
    max_amounts: HashMap<Pair, Decimal>,
    /// Admins' per-pair ladder amounts (a pair absent has [`LADDER_MULTIPLES`] of its minimum).
    ladders: HashMap<Pair, Vec<Decimal>>,
    /// Each pair's ladder as priced after the last change to what prices it (its rate, book,
    /// metadata, the spreads, the limits): `live` is called per tick for every distinct set of
    /// pairs the sockets want, so the ladder is priced once per change, not once per call.
    priced_ladders: HashMap<Pair, Vec<Rung>>,
}

impl RateBook {
    pub fn new(configured: &[Pair], stale_after: Duration) -> RateBook {
        RateBook {
            raw: HashMap::new(),
            meta: HashMap::new(),
            spreads: SpreadSet::default(),
            status: None,
            status_heard: None,
            stale_after,
            known: configured.iter().cloned().collect(),
            stale_shown: HashMap::new(),
            books: HashMap::new(),
            max_depth_fraction: DEFAULT_MAX_DEPTH_FRACTION,
            max_amounts: HashMap::new(),
            ladders: HashMap::new(),
            priced_ladders: HashMap::new(),
        }
    }

    /// At most this share of a side's visible depth is quotable (`QUOTE_MAX_DEPTH_FRACTION`).
    pub fn set_max_depth_fraction(&mut self, fraction: Decimal) {
        self.max_depth_fraction = fraction;
        self.reprice_all();
    }

    /// Admins' per-pair limits: maximum quote amounts (a pair absent has none) and ladder
    /// amounts (a pair absent has the defaults).
    pub fn set_limits(
        &mut self,
        max: HashMap<Pair, Decimal>,
        ladders: HashMap<Pair, Vec<Decimal>>,
    ) {
        self.max_amounts = max;
        self.ladders = ladders;
        self.reprice_all();
    }

    /// The ladder's amounts for `pair`: the admin's, or its minimum × 10, × 100, × 1000.
    pub fn ladder_amounts(&self, pair: &Pair) -> Vec<Decimal> {
        if let Some(set) = self.ladders.get(pair) {
            return set.clone();
        }
        self.meta(pair)
            .map(|m| {
                LADDER_MULTIPLES
                    .iter()
                    .filter_map(|k| m.min_amount.checked_mul(Decimal::from(*k)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether an admin set `pair`'s ladder.
    pub fn has_own_ladder(&self, pair: &Pair) -> bool {
        self.ladders.contains_key(pair)
    }

    /// The admin's maximum quote amount for `pair`, if set.
    pub fn max_amount(&self, pair: &Pair) -> Option<Decimal> {
        self.max_amounts.get(pair).copied()
    }

    /// Takes a consolidated book from the bus; false if it is older than what we have.
    pub fn apply_book(&mut self, msg: BookMsg) -> bool {
        if let Some(cur) = self.books.get(&msg.pair) {
            if cur.epoch == msg.epoch && msg.seq <= cur.seq {
                return false;
            }
        }
        let pair = msg.pair.clone();
        self.books.insert(pair.clone(), Arc::new(msg));
        self.reprice(&pair);
        true
    }

    /// The pair's newest consolidated book, less the levels of any venue the newest rate no
    /// longer counts: the rate goes out the moment a venue leaves, its book a moment later,
    /// and no quote may walk a departed venue's levels in between.
    pub fn consolidated(&self, pair: &Pair) -> Option<Arc<BookMsg>> {
        let book = self.books.get(pair)?;
        let current = self.raw.get(pair).map(|r| &r.venues);
        match current {
            Some(venues)
                if !venues.is_empty() && book.venues.iter().any(|v| !venues.contains(v)) =>
            {
                let keep = |l: &&common::book::Level| venues.contains(&l.venue);
                Some(Arc::new(BookMsg {
                    book: common::book::Consolidated {
                        bids: book.book.bids.iter().filter(keep).cloned().collect(),
                        asks: book.book.asks.iter().filter(keep).cloned().collect(),
                    },
                    venues: book
                        .venues
                        .iter()
                        .filter(|v| venues.contains(v))
                        .copied()
                        .collect(),
                    ..BookMsg::clone(book)
                }))
            }
            _ => Some(book.clone()),
        }
    }

    fn limits(&self, pair: &Pair, meta: &PairMeta) -> DepthLimits {
        DepthLimits {
            max_fraction: self.max_depth_fraction,
            max_amount: self.max_amount(pair),
            step: meta.amount_step,
        }
    }

    /// The ladder of `pair` as last priced; `None` without a book or metadata.
    pub fn ladder(&self, pair: &Pair) -> Option<Vec<Rung>> {
        self.priced_ladders.get(pair).cloned()
    }

    /// Prices `pair`'s ladder again (after anything that prices it changed).
    fn reprice(&mut self, pair: &Pair) {
        match self.price_ladder(pair) {
            Some(ladder) => self.priced_ladders.insert(pair.clone(), ladder),
            None => self.priced_ladders.remove(pair),
        };
    }

    fn reprice_all(&mut self) {
        let pairs: Vec<Pair> = self.books.keys().cloned().collect();
        for pair in pairs {
            self.reprice(&pair);
        }
    }

    /// Each size priced as a quote of it would be now (the spread and the tick applied per
    /// side); `None` without a book, a rate or metadata.
    fn price_ladder(&self, pair: &Pair) -> Option<Vec<Rung>> {
        let book = self.consolidated(pair)?;
        let raw = self.raw.get(pair)?;
        let meta = self.meta(pair)?;
        let spread = self.spreads.for_pair(pair);
        let consolidated = &book.book;
        let limits = self.limits(pair, meta);
        let tick = Some(meta.price_tick);
        let rung = |amount: Decimal| {
            // Each side at depth (the other as the rate's), then one pricing of the two: the
            // same numbers a quote of this size on either side would get.
            let at = |side| at_depth(consolidated, raw.bid, raw.ask, side, amount, limits).ok();
            let (buy, sell) = (at(Side::Buy), at(Side::Sell));
            let bid = sell.as_ref().map_or(raw.bid, |d| d.bid);
            let ask = buy.as_ref().map_or(raw.ask, |d| d.ask);
            let priced = pricing::price(bid, ask, spread, meta.price_tick).ok();
            let show = |fills: bool, figure: Option<Decimal>| {
                figure
                    .filter(|_| fills)
                    .map(|f| pricing::show_price(f, tick))
            };
            Rung {
                amount: DecimalString(amount.normalize()),
                buy: show(buy.is_some(), priced.map(|p| p.buy)),
                sell: show(sell.is_some(), priced.map(|p| p.sell)),
            }
        };
        Some(self.ladder_amounts(pair).into_iter().map(rung).collect())
    }

    /// Pairs this gateway carries: configured ones and any the bus brought.
    pub fn known_pairs(&self) -> &BTreeSet<Pair> {
        &self.known
    }

    pub fn is_known(&self, pair: &Pair) -> bool {
        self.known.contains(pair)
    }

    /// The pair's metadata as the bus described it; `None` until it has.
    pub fn meta(&self, pair: &Pair) -> Option<&PairMeta> {
        self.meta.get(pair)
    }

    /// Takes metadata from the bus; true if it is new or different.
    pub fn set_meta(&mut self, meta: PairMeta) -> bool {
        if self.meta.get(&meta.pair) == Some(&meta) {
            return false;
        }
        let pair = meta.pair.clone();
        self.meta.insert(pair.clone(), meta);
        self.reprice(&pair);
        true
    }

    pub fn set_spreads(&mut self, spreads: SpreadSet) {
        self.spreads = spreads;
        self.reprice_all();
    }

    /// Takes a rate from the bus; false if it is older than what we have.
    pub fn apply_rate(&mut self, msg: RateMsg) -> bool {
        if let Some(cur) = self.raw.get(&msg.pair) {
            if cur.epoch == msg.epoch && msg.seq <= cur.seq {
                return false;
            }
        }
        let pair = msg.pair.clone();
        self.known.insert(pair.clone());
        self.raw.insert(pair.clone(), msg);
        if self.books.contains_key(&pair) {
            self.reprice(&pair);
        }
        true
    }

    pub fn apply_status(&mut self, status: StatusMsg, now: Instant) {
        self.status = Some(status);
        self.status_heard = Some(now);
    }

    pub fn feed_state(&self, now: Instant) -> Option<FeedState> {
        if !self.status_fresh(now) {
            return None;
        }
        self.status.as_ref().map(|s| s.state)
    }

    /// The feed's status as last heard, while it is fresh (`None` once the feed went silent).
    pub fn feed_status(&self, now: Instant) -> Option<&StatusMsg> {
        self.status.as_ref().filter(|_| self.status_fresh(now))
    }

    /// The epoch of the feed leader whose status we hear now (`None` once it went silent).
    pub fn feed_leader(&self, now: Instant) -> Option<&str> {
        self.status
            .as_ref()
            .filter(|_| self.status_fresh(now))
            .map(|s| s.epoch.as_str())
    }

    fn status_fresh(&self, now: Instant) -> bool {
        self.status_heard
            .is_some_and(|t| now.saturating_duration_since(t) < self.stale_after)
    }

    pub fn is_stale(&self, pair: &Pair, now: Instant) -> bool {
        self.stale_reason(pair, now).is_some()
    }

    /// Why `pair` is stale, for people: `no_metadata` (its tick has not arrived), `feed_silent`
    /// (no status heard: the feed or the bus is down), `feed_maintenance` (or another feed
    /// state that is not `online`), `pair_silent` / `pair_rejected` (the feed's word on the
    /// pair); `None` when it is fresh.
    pub fn stale_reason(&self, pair: &Pair, now: Instant) -> Option<&'static str> {
        if !self.meta.contains_key(pair) {
            return Some("no_metadata");
        }
        let Some(status) = self.status.as_ref().filter(|_| self.status_fresh(now)) else {
            return Some("feed_silent");
        };
        if !status.state.is_quotable() {
            return Some(match status.state {
                FeedState::Maintenance => "feed_maintenance",
                FeedState::CancelOnly => "feed_cancel_only",
                FeedState::PostOnly => "feed_post_only",
                FeedState::Connecting => "feed_connecting",
                _ => "feed_down",
            });
        }
        // A pair the feed does not list is judged by the feed alone.
        match status.pairs.get(pair) {
            None | Some(PairState::Ok) => None,
            Some(PairState::Rejected) => Some("pair_rejected"),
            Some(PairState::Silent) => Some("pair_silent"),
        }
    }

    pub fn live(&self, pair: &Pair, now: Instant) -> Option<LiveRate> {
        let raw = self.raw.get(pair)?;
        let spread = self.spreads.for_pair(pair);
        let meta = self.meta(pair);
        let priced = match meta {
            None => Err("no_metadata"),
            Some(m) => {
                pricing::price(raw.bid, raw.ask, spread, m.price_tick).map_err(PricingError::reason)
            }
        };
        let unpriced_reason = priced.err();
        let priced = priced.ok();
        let tick = meta.map(|m| m.price_tick);
        // Every figure at the pair's tick, the exchange's too (`3000.5` on a 0.01 tick is
        // shown `3000.50`, like the prices beside it).
        let sides = |buy, sell| Sides {
            buy: pricing::show_price(buy, tick),
            sell: pricing::show_price(sell, tick),
        };
        Some(LiveRate {
            pair: pair.clone(),
            original: sides(raw.ask, raw.bid),
            with_spread: priced.map(|p| sides(p.buy, p.sell)),
            current_spread: priced.map(|p| sides(p.buy_spread, p.sell_spread)),
            ts: raw.ts,
            stale: self.is_stale(pair, now),
            stale_reason: self.stale_reason(pair, now),
            tick: tick.map(DecimalString),
            source: raw.source.clone(),
            unpriced_reason,
            venues: raw.venues.clone(),
            ladder: self.ladder(pair),
        })
    }

    /// Whether `spread` would leave every pair it applies to priceable at the current rates:
    /// the first pair it would make unquotable, with why. `pair` is the spread's own pair, or
    /// `None` for the default spread (which applies to every pair without its own).
    pub fn check_spread(
        &self,
        pair: Option<&Pair>,
        spread: Spread,
    ) -> Result<(), (Pair, PricingError)> {
        let applies: Vec<&Pair> = match pair {
            Some(p) => vec![p],
            None => self
                .raw
                .keys()
                .filter(|p| !self.spreads.pairs.contains_key(*p))
                .collect(),
        };
        for p in applies {
            if let (Some(raw), Some(meta)) = (self.raw.get(p), self.meta(p)) {
                pricing::price(raw.bid, raw.ask, spread, meta.price_tick)
                    .map_err(|e| (p.clone(), e))?;
            }
        }
        Ok(())
    }

    /// `pair`'s current raw bid and ask, its tick, and what `spread` would make of them: the
    /// same pricing and rounding a quote uses. `None` before the pair has a rate and metadata.
    pub fn preview_spread(
        &self,
        pair: &Pair,
        spread: Spread,
    ) -> Option<(&RateMsg, Decimal, Result<Priced, PricingError>)> {
        let (raw, meta) = (self.raw.get(pair)?, self.meta(pair)?);
        let priced = pricing::price(raw.bid, raw.ask, spread, meta.price_tick);
        Some((raw, meta.price_tick, priced))
    }

    /// All pairs with a rate, keyed `BTC_USD`, optionally narrowed.
    pub fn snapshot(
        &self,
        only: Option<&BTreeSet<Pair>>,
        now: Instant,
    ) -> BTreeMap<String, LiveRate> {
        self.raw
            .keys()
            .filter(|p| only.is_none_or(|set| set.contains(*p)))
            .filter_map(|p| self.live(p, now).map(|r| (p.key(), r)))
            .collect()
    }

    /// Pairs whose staleness changed since last asked (and records the new state).
    pub fn staleness_changes(&mut self, now: Instant) -> Vec<Pair> {
        let pairs: Vec<Pair> = self.raw.keys().cloned().collect();
        let mut changed = Vec::new();
        for pair in pairs {
            let stale = self.is_stale(&pair, now);
            if self.stale_shown.insert(pair.clone(), stale) != Some(stale) {
                changed.push(pair);
            }
        }
        changed
    }

    /// Marks `pair`'s staleness as shown (after emitting it with a tick).
    pub fn shown(&mut self, pair: &Pair, stale: bool) {
        self.stale_shown.insert(pair.clone(), stale);
    }

    /// The basis of a firm quote, refused when there is no fresh, quotable rate.
    pub fn quote_basis(&self, pair: &Pair, now: Instant) -> Result<QuoteBasis, Unquotable> {
        let raw = self.raw.get(pair).ok_or(Unquotable::NoRate)?;
        let meta = self.meta(pair).cloned().ok_or(Unquotable::NoMetadata)?;
        if self.is_stale(pair, now) {
            return Err(Unquotable::Stale);
        }
        let spread = self.spreads.for_pair(pair);
        let priced = pricing::price(raw.bid, raw.ask, spread, meta.price_tick)
            .map_err(Unquotable::Pricing)?;
        // A price made of venues' books is quoted only against the book: before it has
        // arrived, the depth behind the price is unknown.
        let book = self.consolidated(pair);
        if !raw.venues.is_empty() && book.is_none() {
            return Err(Unquotable::Stale);
        }
        let limits = self.limits(pair, &meta);
        Ok(QuoteBasis {
            raw: raw.clone(),
            spread,
            priced,
            meta,
            book,
            limits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::SpreadKind;

    use testkit::d;
    fn p(s: &str) -> Pair {
        Pair::parse(s).unwrap()
    }
    fn rate(pair: &str, bid: &str, ask: &str, seq: u64, epoch: &str) -> RateMsg {
        RateMsg {
            v: 1,
            source: "kraken".into(),
            pair: p(pair),
            bid: d(bid),
            ask: d(ask),
            last: None,
            ts: Utc::now(),
            received_at: Utc::now(),
            seq,
            epoch: epoch.into(),
            venues: vec![],
        }
    }
    fn meta(pair: &str, tick: &str) -> PairMeta {
        PairMeta::new(p(pair), d(tick), d("0.00000001"), d("0.0001"))
    }
    /// A book that knows `pairs`, with metadata (tick 0.1) for each, as the bus gives it.
    fn described(pairs: &[&str]) -> RateBook {
        let list: Vec<Pair> = pairs.iter().map(|s| p(s)).collect();
        let mut book = RateBook::new(&list, Duration::from_secs(3));
        for pair in pairs {
            assert!(book.set_meta(meta(pair, "0.1")));
        }
        book
    }
    fn status(state: FeedState, pairs: &[(&str, PairState)]) -> StatusMsg {
        StatusMsg {
            v: 1,
            source: "kraken".into(),
            state,
            since: Utc::now(),
            pairs: pairs.iter().map(|(k, v)| (p(k), *v)).collect(),
            epoch: "e".into(),
            role: common::bus::FeedRole::Leader,
            venues: Default::default(),
        }
    }

    #[test]
    fn works_with_no_spread_set_at_all() {
        let mut book = RateBook::new(&[p("BTC/USD")], Duration::from_secs(3));
        book.set_meta(PairMeta::new(
            p("BTC/USD"),
            d("0.1"),
            d("0.00000001"),
            d("0.0001"),
        ));
        let now = Instant::now();
        book.apply_status(
            status(FeedState::Online, &[("BTC/USD", PairState::Ok)]),
            now,
        );
        assert!(book.apply_rate(rate("BTC/USD", "97000.1", "97000.2", 1, "e")));
        let live = book.live(&p("BTC/USD"), now).unwrap();
        assert_eq!(
            live.with_spread.clone().unwrap(),
            Sides {
                buy: d("97000.2").into(),
                sell: d("97000.1").into()
            }
        );
        assert_eq!(
            live.current_spread.clone().unwrap(),
            Sides {
                buy: d("0").into(),
                sell: d("0").into()
            }
        );
        assert!(!live.stale);
        let json = serde_json::to_value(&live).unwrap();
        assert_eq!(json["original"]["buy"], "97000.2");
        assert_eq!(json["withSpread"]["sell"], "97000.1");
        assert_eq!(json["currentSpread"]["buy"], "0.0", "at the 0.1 tick");
        assert_eq!(json["stale"], false);
    }

    /// The exchange's `3000.5` on a 0.01 tick reads `3000.50`, like the prices beside it.
    #[test]
    fn every_price_of_a_rate_is_at_the_pairs_tick() {
        let mut book = RateBook::new(&[p("ETH/USD")], Duration::from_secs(10));
        book.set_meta(meta("ETH/USD", "0.01"));
        let now = Instant::now();
        book.apply_status(
            status(FeedState::Online, &[("ETH/USD", PairState::Ok)]),
            now,
        );
        assert!(book.apply_rate(rate("ETH/USD", "3000.5", "3001", 1, "e")));
        let json = serde_json::to_value(book.live(&p("ETH/USD"), now).unwrap()).unwrap();
        assert_eq!(
            (
                &json["original"],
                &json["withSpread"],
                &json["currentSpread"]
            ),
            (
                &serde_json::json!({"buy": "3001.00", "sell": "3000.50"}),
                &serde_json::json!({"buy": "3001.00", "sell": "3000.50"}),
                &serde_json::json!({"buy": "0.00", "sell": "0.00"}),
            )
        );
    }

    #[test]
    fn pair_spread_beats_default_which_beats_zero() {
        let mut book = described(&["BTC/USD", "ETH/USD"]);
        let now = Instant::now();
        book.apply_status(status(FeedState::Online, &[]), now);
        book.apply_rate(rate("BTC/USD", "100", "101", 1, "e"));
        book.apply_rate(rate("ETH/USD", "10", "11", 2, "e"));
        let mut spreads = SpreadSet {
            default: Some(Spread {
                kind: SpreadKind::Absolute,
                buy: d("1"),
                sell: d("1"),
            }),
            ..Default::default()
        };
        spreads.pairs.insert(
            p("BTC/USD"),
            Spread {
                kind: SpreadKind::Absolute,
                buy: d("5"),
                sell: d("5"),
            },
        );
        book.set_spreads(spreads);
        assert_eq!(
            book.live(&p("BTC/USD"), now)
                .unwrap()
                .with_spread
                .unwrap()
                .buy
                .0,
            d("106")
        );
        assert_eq!(
            book.live(&p("ETH/USD"), now)
                .unwrap()
                .with_spread
                .unwrap()
                .buy
                .0,
            d("12")
        );
    }

    #[test]
    fn out_of_order_messages_are_ignored_within_an_epoch() {
        let mut book = RateBook::new(&[], Duration::from_secs(3));
        assert!(book.apply_rate(rate("BTC/USD", "1", "2", 5, "a")));
        assert!(!book.apply_rate(rate("BTC/USD", "3", "4", 4, "a")));
        assert!(
            book.apply_rate(rate("BTC/USD", "3", "4", 1, "b")),
            "a new publisher run starts over"
        );
        assert!(
            book.is_known(&p("BTC/USD")),
            "pairs from the bus become known"
        );
    }

    #[test]
    fn staleness_follows_status_freshness_state_and_pair_state() {
        let mut book = described(&["BTC/USD"]);
        let t0 = Instant::now();
        book.apply_rate(rate("BTC/USD", "1", "2", 1, "e"));
        assert!(book.is_stale(&p("BTC/USD"), t0), "no status heard yet");
        book.apply_status(status(FeedState::Online, &[("BTC/USD", PairState::Ok)]), t0);
        assert!(!book.is_stale(&p("BTC/USD"), t0));
        assert!(
            book.is_stale(&p("BTC/USD"), t0 + Duration::from_secs(4)),
            "status silent for 4 s"
        );
        book.apply_status(
            status(FeedState::Maintenance, &[("BTC/USD", PairState::Ok)]),
            t0,
        );
        assert!(book.is_stale(&p("BTC/USD"), t0));
        book.apply_status(
            status(FeedState::Online, &[("BTC/USD", PairState::Silent)]),
            t0,
        );
        assert!(book.is_stale(&p("BTC/USD"), t0));
        assert_eq!(
            book.quote_basis(&p("BTC/USD"), t0).unwrap_err(),
            Unquotable::Stale
        );
    }

    #[test]
    fn a_stale_rate_says_why_and_carries_its_tick() {
        let btc = p("BTC/USD");
        let mut book = RateBook::new(std::slice::from_ref(&btc), Duration::from_secs(3));
        let t0 = Instant::now();
        book.apply_rate(rate("BTC/USD", "1", "2", 1, "e"));
        let why = |book: &RateBook, at| book.live(&btc, at).unwrap().stale_reason;
        assert_eq!(why(&book, t0), Some("no_metadata"));
        assert_eq!(book.live(&btc, t0).unwrap().tick, None);
        book.set_meta(PairMeta::new(
            btc.clone(),
            "0.1".parse().unwrap(),
            "0.0001".parse().unwrap(),
            "0.0001".parse().unwrap(),
        ));
        assert_eq!(
            book.live(&btc, t0).unwrap().tick,
            Some(DecimalString(d("0.1")))
        );
        // TC: (feed state, pair state, age of the status) → reason
        for (state, pair, age, reason) in [
            (FeedState::Online, PairState::Ok, 0, None),
            (FeedState::Online, PairState::Ok, 4, Some("feed_silent")),
            (
                FeedState::Maintenance,
                PairState::Ok,
                0,
                Some("feed_maintenance"),
            ),
            (FeedState::Down, PairState::Ok, 0, Some("feed_down")),
            (FeedState::Online, PairState::Silent, 0, Some("pair_silent")),
            (
                FeedState::Online,
                PairState::Rejected,
                0,
                Some("pair_rejected"),
            ),
        ] {
            book.apply_status(status(state, &[("BTC/USD", pair)]), t0);
            let at = t0 + Duration::from_secs(age);
            assert_eq!(why(&book, at), reason, "{state:?} {pair:?} {age} s");
            assert_eq!(book.is_stale(&btc, at), reason.is_some());
        }
        let shown = serde_json::to_value(book.live(&btc, t0).unwrap()).unwrap();
        assert_eq!(
            (shown["staleReason"].as_str(), shown["tick"].as_str()),
            (Some("pair_rejected"), Some("0.1"))
        );
    }

    #[test]
    fn staleness_changes_are_reported_once() {
        let mut book = described(&["BTC/USD"]);
        let t0 = Instant::now();
        book.apply_rate(rate("BTC/USD", "1", "2", 1, "e"));
        book.apply_status(status(FeedState::Online, &[]), t0);
        assert_eq!(book.staleness_changes(t0), vec![p("BTC/USD")]);
        assert!(book.staleness_changes(t0).is_empty());
        assert_eq!(
            book.staleness_changes(t0 + Duration::from_secs(5)),
            vec![p("BTC/USD")]
        );
    }

    #[test]
    fn an_unquotable_spread_shows_null_prices() {
        let mut book = described(&["BTC/USD"]);
        let now = Instant::now();
        book.apply_status(
            status(FeedState::Online, &[("BTC/USD", PairState::Ok)]),
            now,
        );
        book.apply_rate(rate("BTC/USD", "1", "2", 1, "e"));
        book.set_spreads(SpreadSet {
            default: Some(Spread {
                kind: SpreadKind::Absolute,
                buy: d("0"),
                sell: d("5"),
            }),
            ..Default::default()
        });
        let live = book.live(&p("BTC/USD"), now).unwrap();
        assert!(live.with_spread.is_none() && live.current_spread.is_none());
        let json = serde_json::to_value(&live).unwrap();
        assert!(json["withSpread"].is_null());
        assert_eq!(json["unpricedReason"], "spread_too_wide");
        assert_eq!(json["stale"], false, "unpriced is not stale");
        assert!(matches!(
            book.quote_basis(&p("BTC/USD"), now),
            Err(Unquotable::Pricing(PricingError::NonPositive))
        ));
        // The same spread is caught before it is saved, for the pair and as the default; a
        // pair with its own spread is not judged by the default.
        let wide = Spread {
            kind: SpreadKind::Absolute,
            buy: d("0"),
            sell: d("1"),
        };
        let btc = p("BTC/USD");
        assert_eq!(
            book.check_spread(Some(&btc), wide),
            Err((btc.clone(), PricingError::NonPositive))
        );
        assert!(book.check_spread(None, wide).is_err());
        let narrow = Spread {
            sell: d("0.5"),
            ..wide
        };
        assert!(book.check_spread(Some(&btc), narrow).is_ok());
        book.set_spreads(SpreadSet {
            pairs: [(btc.clone(), narrow)].into_iter().collect(),
            ..Default::default()
        });
        assert!(book.check_spread(None, wide).is_ok());
        let fine = book.live(&btc, now).unwrap();
        assert!(fine.with_spread.is_some() && fine.unpriced_reason.is_none());
    }

    #[test]
    fn a_pair_the_bus_has_not_described_is_held_back_not_priced_with_an_invented_tick() {
        let mut book = RateBook::new(&[p("BTC/USD")], Duration::from_secs(3));
        let now = Instant::now();
        book.apply_status(
            status(FeedState::Online, &[("BTC/USD", PairState::Ok)]),
            now,
        );
        book.apply_rate(rate("BTC/USD", "97058.41", "97058.49", 1, "e"));
        let live = book.live(&p("BTC/USD"), now).unwrap();
        assert!(live.stale, "marked stale until described");
        assert!(live.with_spread.is_none() && live.current_spread.is_none());
        assert_eq!(live.original.buy.0, d("97058.49"), "raw prices still shown");
        assert_eq!(
            book.quote_basis(&p("BTC/USD"), now).unwrap_err(),
            Unquotable::NoMetadata
        );
        assert_eq!(book.staleness_changes(now), vec![p("BTC/USD")]);

        assert!(book.set_meta(meta("BTC/USD", "0.1")));
        assert!(!book.set_meta(meta("BTC/USD", "0.1")), "unchanged metadata");
        let live = book.live(&p("BTC/USD"), now).unwrap();
        assert!(!live.stale);
        assert_eq!(
            live.with_spread.unwrap().buy.0,
            d("97058.5"),
            "the pair's own tick"
        );
        assert!(book.quote_basis(&p("BTC/USD"), now).is_ok());
        assert_eq!(book.staleness_changes(now), vec![p("BTC/USD")]);
    }
}
