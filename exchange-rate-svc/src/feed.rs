//! [`Feed`]: the one place that knows the state of the upstream feed.
//!
//! Connectors report into it (connection up/down, exchange status, per-symbol acks and
//! rejections, ticks); the publisher and the HTTP handlers read from it. It validates every tick
//! (bid > 0, ask > 0, bid < ask; others are dropped and counted), stamps it with this run's
//! `epoch` and a monotonically increasing `seq`, keeps the last value per pair (so the HTTP API
//! and a Redis resync always have the current state) and hands it to the publisher without ever
//! blocking the connector: when the publisher's queue is full the tick is still the last value,
//! and the publisher is told to resync the whole hash.

use common::sync::lock;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::book::{Book, Venue};
use common::bus::{
    BookMsg, FeedRole, FeedState, PairMeta, PairState, RateMsg, StatusMsg, BUS_VERSION,
};
use common::{Decimal, Pair};
use serde::Serialize;
use tokio::sync::{mpsc, Notify};

use crate::books::{BookRules, VenueBooks};
use crate::consolidator::Consolidator;

/// How many recent request errors `/status` shows.
const RECENT_ERRORS: usize = 10;

/// A best bid/ask as a connector parsed it, before it gets its `seq`; [`Feed::tick`] validates
/// it (positive, not crossed) or drops it.
#[derive(Debug, Clone)]
pub struct Tick {
    pub pair: Pair,
    pub bid: Decimal,
    pub ask: Decimal,
    pub last: Option<Decimal>,
    pub exchange_ts: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
    /// The venues behind a consolidated price; empty for a single-venue source.
    pub venues: Vec<Venue>,
}

/// Why a tick was not published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    NonPositive,
    Crossed,
    UnknownPair,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::NonPositive => "non_positive",
            DropReason::Crossed => "crossed",
            DropReason::UnknownPair => "unknown_pair",
        }
    }
}

/// The result of a REST cross-check for one pair.
#[derive(Debug, Clone, Serialize)]
pub struct CrossCheck {
    /// |REST mid − live mid| / live mid, in basis points.
    #[serde(with = "common::decimal::string")]
    pub divergence_bps: Decimal,
    pub within_limit: bool,
    #[serde(with = "common::time::micros")]
    pub at: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct PairSlot {
    last: Option<Arc<RateMsg>>,
    last_tick_at: Option<Instant>,
    acked: bool,
    rejected: Option<String>,
}

#[derive(Debug)]
struct ConnInfo {
    connected: bool,
    state: FeedState,
    since: DateTime<Utc>,
    connection_id: Option<String>,
    last_disconnect: Option<String>,
    recent_errors: VecDeque<String>,
}

struct FeedShared {
    source: &'static str,
    epoch: String,
    silent_after: Duration,
    seq: AtomicU64,
    pairs: Mutex<BTreeMap<Pair, PairSlot>>,
    conn: Mutex<ConnInfo>,
    meta: Mutex<BTreeMap<Pair, PairMeta>>,
    crosscheck: Mutex<BTreeMap<Pair, CrossCheck>>,
    tx: mpsc::Sender<Arc<RateMsg>>,
    /// Set when a tick could not be queued: the publisher must rewrite the whole hash.
    needs_resync: AtomicBool,
    /// Wakes the publisher for a status (or metadata) change.
    changed: Notify,
    meta_dirty: AtomicBool,
    dropped: AtomicU64,
    queue_overflows: AtomicU64,
    published: AtomicU64,
    disconnects: AtomicU64,
    /// Holds the feed lease (or needs none: the in-process bus): publishes.
    leader: AtomicBool,
    /// The venues' L2 books' health, as the connectors report it.
    books: VenueBooks,
    /// Set when the price is made of the venues' books (`RATES_FROM=books`, `FEED=sim`).
    consolidator: Option<Consolidator>,
}

/// Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct Feed {
    inner: Arc<FeedShared>,
}

impl Feed {
    /// A new feed for `pairs`, and the receiving end of its publish queue. With
    /// `min_venues`, its prices are the venues' consolidated books (at least that many venues
    /// per pair); without, the connector's ticks.
    pub fn new(
        source: &'static str,
        pairs: &[Pair],
        silent_after: Duration,
        rules: BookRules,
        min_venues: Option<usize>,
        queue_len: usize,
    ) -> (Feed, mpsc::Receiver<Arc<RateMsg>>) {
        let (tx, rx) = mpsc::channel(queue_len.max(1));
        let epoch = format!(
            "{}-{}",
            Utc::now().format("%Y%m%dT%H%M%S"),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let inner = FeedShared {
            source,
            epoch,
            silent_after,
            seq: AtomicU64::new(0),
            pairs: Mutex::new(
                pairs
                    .iter()
                    .map(|p| (p.clone(), PairSlot::default()))
                    .collect(),
            ),
            conn: Mutex::new(ConnInfo {
                connected: false,
                state: FeedState::Connecting,
                since: Utc::now(),
                connection_id: None,
                last_disconnect: None,
                recent_errors: VecDeque::new(),
            }),
            meta: Mutex::new(BTreeMap::new()),
            crosscheck: Mutex::new(BTreeMap::new()),
            tx,
            needs_resync: AtomicBool::new(false),
            changed: Notify::new(),
            meta_dirty: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            queue_overflows: AtomicU64::new(0),
            published: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            leader: AtomicBool::new(true),
            books: VenueBooks::new(rules),
            consolidator: min_venues.map(|n| Consolidator::new(pairs, n)),
        };
        (
            Feed {
                inner: Arc::new(inner),
            },
            rx,
        )
    }

    pub fn source(&self) -> &'static str {
        self.inner.source
    }
    pub fn pairs(&self) -> Vec<Pair> {
        lock(&self.inner.pairs).keys().cloned().collect()
    }
    pub fn has_pair(&self, pair: &Pair) -> bool {
        lock(&self.inner.pairs).contains_key(pair)
    }
    /// The venues' books' health, reported by the connectors that keep books.
    pub fn books(&self) -> &VenueBooks {
        &self.inner.books
    }

    /// Whether the price is made of the venues' books.
    pub fn consolidates(&self) -> bool {
        self.inner.consolidator.is_some()
    }

    // ---- reported by venue sessions --------------------------------------------------------

    /// A venue's verified book for `pair`: kept, and the pair's consolidated book rebuilt.
    pub fn verified_book(&self, venue: Venue, pair: &Pair, book: &Book, snapshot: bool) {
        self.inner.books.verified(venue, pair, book, snapshot);
        self.rebuild(pair);
    }

    /// A venue's connection ended: its books leave every consolidated book at once.
    pub fn venue_down(&self, venue: Venue) {
        self.inner.books.link_down(venue);
        self.rebuild_all();
        self.inner.changed.notify_one();
    }

    /// A venue's book for `pair` failed its check: it leaves the pair's consolidated book
    /// until a snapshot verifies. Returns the failures in a row.
    pub fn book_check_failed(&self, venue: Venue, pair: &Pair) -> u32 {
        let in_a_row = self.inner.books.checksum_failed(venue, pair);
        self.rebuild(pair);
        in_a_row
    }

    /// Rebuilds every pair's consolidated book: venues that went stale leave it, and
    /// returning ones rejoin. The sweep calls it a few times per `VENUE_STALE_MS`.
    pub fn rebuild_all(&self) {
        for pair in self.pairs() {
            self.rebuild(&pair);
        }
    }

    fn rebuild(&self, pair: &Pair) {
        let Some(consolidator) = &self.inner.consolidator else {
            return;
        };
        let rebuilt = consolidator.rebuild(&self.inner.books, pair, Instant::now());
        if let Some((bid, ask, venues)) = rebuilt.rate {
            let now = Utc::now();
            let _ = self.tick(Tick {
                pair: pair.clone(),
                bid,
                ask,
                last: None,
                exchange_ts: None,
                received_at: now,
                venues,
            });
        }
        if rebuilt.quorum_changed || rebuilt.venues_changed {
            // The publisher sends the status and the dirty books now.
            self.inner.changed.notify_one();
        }
    }

    /// The consolidated books that changed since last taken.
    pub(crate) fn take_dirty_books(&self) -> Vec<Arc<BookMsg>> {
        match &self.inner.consolidator {
            Some(c) => c.take(&self.inner.epoch, true),
            None => Vec::new(),
        }
    }

    /// Every consolidated book, for a resync.
    pub(crate) fn all_books(&self) -> Vec<Arc<BookMsg>> {
        match &self.inner.consolidator {
            Some(c) => c.take(&self.inner.epoch, false),
            None => Vec::new(),
        }
    }

    // ---- reported by connectors -------------------------------------------------------

    /// Validates a tick, stamps it and queues it for publishing.
    pub fn tick(&self, t: Tick) -> Result<(), DropReason> {
        let reason = if t.bid <= Decimal::ZERO || t.ask <= Decimal::ZERO {
            Some(DropReason::NonPositive)
        } else if t.bid >= t.ask {
            Some(DropReason::Crossed)
        } else {
            None
        };
        if let Some(reason) = reason {
            self.count_drop(&t.pair, reason, Some((t.bid, t.ask)));
            return Err(reason);
        }
        let seq = self.inner.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let msg = Arc::new(RateMsg {
            v: BUS_VERSION,
            source: self.inner.source.to_string(),
            pair: t.pair,
            bid: t.bid,
            ask: t.ask,
            last: t.last,
            ts: t.exchange_ts.unwrap_or(t.received_at),
            received_at: t.received_at,
            seq,
            epoch: self.inner.epoch.clone(),
            venues: t.venues,
        });
        {
            let mut pairs = lock(&self.inner.pairs);
            let Some(slot) = pairs.get_mut(&msg.pair) else {
                drop(pairs);
                self.count_drop(&msg.pair, DropReason::UnknownPair, None);
                return Err(DropReason::UnknownPair);
            };
            slot.last = Some(msg.clone());
            slot.last_tick_at = Some(Instant::now());
        }
        if self.inner.tx.try_send(msg).is_err() {
            // The publisher is behind (or Redis is away): the value is kept above, and the
            // publisher rewrites the hash from it.
            self.inner.needs_resync.store(true, Ordering::Release);
            self.inner.queue_overflows.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("rategate_feed_queue_full_total").increment(1);
        }
        Ok(())
    }

    fn count_drop(&self, pair: &Pair, reason: DropReason, prices: Option<(Decimal, Decimal)>) {
        self.inner.dropped.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("rategate_feed_ticks_dropped_total", "reason" => reason.as_str())
            .increment(1);
        match prices {
            Some((bid, ask)) => {
                tracing::warn!(%pair, %bid, %ask, reason = reason.as_str(), "tick dropped")
            }
            None => tracing::warn!(%pair, reason = reason.as_str(), "tick dropped"),
        }
    }

    /// A connection attempt is under way.
    pub fn connecting(&self) {
        self.set_state(FeedState::Connecting);
    }

    /// The transport is up; the exchange's own status decides the state from here.
    pub fn connected(&self) {
        let mut conn = lock(&self.inner.conn);
        conn.connected = true;
        conn.connection_id = None;
        drop(conn);
        tracing::info!(source = self.inner.source, "feed connected");
        self.inner.changed.notify_one();
    }

    /// The connection is gone. Every pair needs a new ack.
    pub fn disconnected(&self, reason: &str) {
        {
            let mut conn = lock(&self.inner.conn);
            if !conn.connected && conn.state == FeedState::Down {
                conn.last_disconnect = Some(reason.to_string());
                return;
            }
            conn.connected = false;
            conn.last_disconnect = Some(reason.to_string());
        }
        self.inner.disconnects.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("rategate_feed_disconnects_total").increment(1);
        for slot in lock(&self.inner.pairs).values_mut() {
            slot.acked = false;
        }
        if self.consolidates() {
            // One venue of several: the price goes on from the others.
            tracing::info!(reason, "kraken connection down");
        } else {
            tracing::warn!(source = self.inner.source, reason, "feed down");
        }
        self.set_state(FeedState::Down);
    }

    /// The exchange's `status` channel (or the sim) says what state trading is in.
    pub fn exchange_state(&self, state: FeedState, connection_id: Option<&str>) {
        if let Some(id) = connection_id {
            lock(&self.inner.conn).connection_id = Some(id.to_string());
        }
        self.set_state(state);
    }

    fn set_state(&self, state: FeedState) {
        let mut conn = lock(&self.inner.conn);
        if conn.state != state {
            tracing::info!(
                source = self.inner.source,
                from = conn.state.as_str(),
                to = state.as_str(),
                "feed state"
            );
            conn.state = state;
            conn.since = Utc::now();
            drop(conn);
            self.inner.changed.notify_one();
        }
    }

    /// New subscription request: forget the previous connection's rejections.
    pub fn subscribing(&self) {
        for slot in lock(&self.inner.pairs).values_mut() {
            slot.acked = false;
            slot.rejected = None;
        }
    }

    pub fn pair_acked(&self, pair: &Pair) {
        if let Some(slot) = lock(&self.inner.pairs).get_mut(pair) {
            slot.acked = true;
            slot.rejected = None;
        }
        self.inner.changed.notify_one();
    }

    pub fn pair_rejected(&self, pair: &Pair, error: &str) {
        if let Some(slot) = lock(&self.inner.pairs).get_mut(pair) {
            slot.rejected = Some(error.to_string());
        }
        tracing::warn!(%pair, error, "exchange rejected the subscription");
        metrics::counter!("rategate_feed_pairs_rejected_total").increment(1);
        self.inner.changed.notify_one();
    }

    /// A request failed without naming one of our pairs; kept for `/status`.
    pub fn request_error(&self, error: &str) {
        let mut conn = lock(&self.inner.conn);
        if conn.recent_errors.len() == RECENT_ERRORS {
            conn.recent_errors.pop_front();
        }
        conn.recent_errors.push_back(error.to_string());
        drop(conn);
        tracing::warn!(error, "exchange reported a request error");
        metrics::counter!("rategate_feed_request_errors_total").increment(1);
    }

    /// Pairs not acknowledged yet on this connection.
    pub fn unacked_pairs(&self) -> Vec<Pair> {
        lock(&self.inner.pairs)
            .iter()
            .filter(|(_, s)| !s.acked && s.rejected.is_none())
            .map(|(p, _)| p.clone())
            .collect()
    }

    // ---- metadata and cross-checks ------------------------------------------------------

    pub fn set_meta(&self, metas: Vec<PairMeta>) {
        let mut meta = lock(&self.inner.meta);
        for m in metas {
            meta.insert(m.pair.clone(), m);
        }
        drop(meta);
        self.inner.meta_dirty.store(true, Ordering::Release);
        self.inner.changed.notify_one();
    }

    pub fn meta(&self) -> Vec<PairMeta> {
        lock(&self.inner.meta).values().cloned().collect()
    }

    pub fn set_crosscheck(&self, pair: &Pair, check: CrossCheck) {
        lock(&self.inner.crosscheck).insert(pair.clone(), check);
    }

    // ---- read by the publisher and HTTP ---------------------------------------------------

    /// The last value of every pair that has one.
    pub fn last_values(&self) -> Vec<Arc<RateMsg>> {
        lock(&self.inner.pairs)
            .values()
            .filter_map(|s| s.last.clone())
            .collect()
    }

    pub fn last_value(&self, pair: &Pair) -> Option<Arc<RateMsg>> {
        lock(&self.inner.pairs)
            .get(pair)
            .and_then(|s| s.last.clone())
    }

    /// The feed's state as a whole: the venues' together when the feed consolidates,
    /// otherwise its one connection's.
    pub fn state(&self) -> FeedState {
        if self.consolidates() {
            return self.inner.books.overall();
        }
        self.connection_state()
    }

    /// The state of the connection this feed's own connector reports (`connected`,
    /// `exchange_state`, `disconnected`): Kraken's, whatever the other venues do.
    pub fn connection_state(&self) -> FeedState {
        lock(&self.inner.conn).state
    }

    pub fn status(&self) -> StatusMsg {
        let (connected, mut state, since) = {
            let c = lock(&self.inner.conn);
            (c.connected, c.state, c.since)
        };
        if self.consolidates() {
            state = self.inner.books.overall();
        }
        let consolidator = self.inner.consolidator.as_ref();
        let silent_after = self.inner.silent_after;
        let pairs = lock(&self.inner.pairs)
            .iter()
            .map(|(pair, slot)| {
                let state = if let Some(c) = consolidator {
                    if c.quorate(pair) {
                        PairState::Ok
                    } else {
                        PairState::Silent
                    }
                } else if slot.rejected.is_some() {
                    PairState::Rejected
                } else if connected
                    && slot
                        .last_tick_at
                        .is_some_and(|t| t.elapsed() < silent_after)
                {
                    PairState::Ok
                } else {
                    PairState::Silent
                };
                (pair.clone(), state)
            })
            .collect();
        StatusMsg {
            v: BUS_VERSION,
            source: self.inner.source.to_string(),
            state,
            since,
            pairs,
            epoch: self.inner.epoch.clone(),
            role: self.role(),
            venues: self.inner.books.view(),
        }
    }

    /// This process's run id: the value of the feed lease while it leads.
    pub fn epoch(&self) -> &str {
        &self.inner.epoch
    }

    pub fn role(&self) -> FeedRole {
        if self.inner.leader.load(Ordering::Relaxed) {
            FeedRole::Leader
        } else {
            FeedRole::Standby
        }
    }

    /// Set by the publisher as it takes or loses the feed lease.
    pub fn set_role(&self, role: FeedRole) {
        self.inner
            .leader
            .store(role == FeedRole::Leader, Ordering::Relaxed);
    }

    /// `/status`: the bus status plus the details an operator needs.
    pub fn status_view(&self) -> StatusView {
        let status = self.status();
        let rejections = lock(&self.inner.pairs)
            .iter()
            .filter_map(|(p, s)| s.rejected.clone().map(|e| (p.clone(), e)))
            .collect();
        let conn = lock(&self.inner.conn);
        StatusView {
            status,
            rejections,
            connection_id: conn.connection_id.clone(),
            last_disconnect: conn.last_disconnect.clone(),
            recent_errors: conn.recent_errors.iter().cloned().collect(),
            seq: self.inner.seq.load(Ordering::Relaxed),
            ticks_dropped: self.inner.dropped.load(Ordering::Relaxed),
            ticks_published: self.inner.published.load(Ordering::Relaxed),
            queue_overflows: self.inner.queue_overflows.load(Ordering::Relaxed),
            disconnects: self.inner.disconnects.load(Ordering::Relaxed),
            crosscheck: lock(&self.inner.crosscheck).clone(),
        }
    }

    // ---- publisher plumbing ----------------------------------------------------------------

    pub(crate) async fn changed(&self) {
        self.inner.changed.notified().await;
    }
    pub(crate) fn take_needs_resync(&self) -> bool {
        self.inner.needs_resync.swap(false, Ordering::AcqRel)
    }
    pub(crate) fn take_meta_dirty(&self) -> bool {
        self.inner.meta_dirty.swap(false, Ordering::AcqRel)
    }
    pub(crate) fn count_published(&self, n: u64) {
        self.inner.published.fetch_add(n, Ordering::Relaxed);
        metrics::counter!("rategate_ticks_published_total").increment(n);
    }
}

/// The body of `GET /status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    #[serde(flatten)]
    pub status: StatusMsg,
    /// Pair → the exchange's reason for refusing it.
    pub rejections: BTreeMap<Pair, String>,
    pub connection_id: Option<String>,
    pub last_disconnect: Option<String>,
    pub recent_errors: Vec<String>,
    pub seq: u64,
    pub ticks_dropped: u64,
    pub ticks_published: u64,
    /// Ticks that went to Redis only as part of a resync (not individually published) because
    /// the publisher was behind or Redis was away.
    pub queue_overflows: u64,
    pub disconnects: u64,
    pub crosscheck: BTreeMap<Pair, CrossCheck>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn tick(pair: &str, bid: &str, ask: &str) -> Tick {
        Tick {
            pair: Pair::parse(pair).unwrap(),
            bid: Decimal::from_str(bid).unwrap(),
            ask: Decimal::from_str(ask).unwrap(),
            last: None,
            exchange_ts: None,
            received_at: Utc::now(),
            venues: vec![],
        }
    }

    fn feed() -> (Feed, mpsc::Receiver<Arc<RateMsg>>) {
        let pairs = Pair::parse_list("BTC/USD,ETH/USD").unwrap();
        Feed::new(
            "kraken",
            &pairs,
            Duration::from_secs(60),
            BookRules::new(Duration::from_millis(1500)),
            None,
            4,
        )
    }

    #[test]
    fn bad_ticks_are_dropped_and_counted() {
        let (feed, mut rx) = feed();
        // TC0: crossed, TC1: locked, TC2: zero bid, TC3: negative ask, TC4: unknown pair.
        for (t, reason) in [
            (tick("BTC/USD", "100.1", "100.0"), DropReason::Crossed),
            (tick("BTC/USD", "100.0", "100.0"), DropReason::Crossed),
            (tick("BTC/USD", "0", "100.0"), DropReason::NonPositive),
            (tick("BTC/USD", "1", "-2"), DropReason::NonPositive),
            (tick("DOGE/USD", "1", "2"), DropReason::UnknownPair),
        ] {
            assert_eq!(feed.tick(t), Err(reason));
        }
        assert!(rx.try_recv().is_err());
        assert_eq!(feed.status_view().ticks_dropped, 5);
        assert!(feed.last_values().is_empty());
    }

    #[test]
    fn good_ticks_get_increasing_seq_and_become_the_last_value() {
        let (feed, mut rx) = feed();
        feed.tick(tick("BTC/USD", "97000.1", "97000.2")).unwrap();
        feed.tick(tick("BTC/USD", "97000.3", "97000.4")).unwrap();
        let a = rx.try_recv().unwrap();
        let b = rx.try_recv().unwrap();
        assert_eq!((a.seq, b.seq), (1, 2));
        assert_eq!(a.epoch, b.epoch);
        let last = feed.last_value(&Pair::parse("BTC/USD").unwrap()).unwrap();
        assert_eq!(last.bid.to_string(), "97000.3");
    }

    #[test]
    fn a_full_queue_never_blocks_and_asks_for_a_resync() {
        let (feed, _rx) = feed();
        for i in 0..10 {
            feed.tick(tick("ETH/USD", &format!("{}", 100 + i), "200"))
                .unwrap();
        }
        assert!(feed.take_needs_resync());
        assert!(!feed.take_needs_resync());
        let last = feed.last_value(&Pair::parse("ETH/USD").unwrap()).unwrap();
        assert_eq!(last.bid.to_string(), "109");
    }

    #[test]
    fn pair_states_follow_acks_ticks_and_the_connection() {
        let (feed, _rx) = feed();
        let btc = Pair::parse("BTC/USD").unwrap();
        let eth = Pair::parse("ETH/USD").unwrap();
        feed.connected();
        feed.exchange_state(FeedState::Online, Some("18266300427528990701"));
        feed.pair_acked(&btc);
        feed.pair_rejected(&eth, "Currency pair not supported ETH/USD");
        feed.tick(tick("BTC/USD", "1", "2")).unwrap();
        let s = feed.status();
        assert_eq!(s.state, FeedState::Online);
        assert_eq!(s.pairs[&btc], PairState::Ok);
        assert_eq!(s.pairs[&eth], PairState::Rejected);
        assert_eq!(
            feed.status_view().connection_id.as_deref(),
            Some("18266300427528990701")
        );
        feed.disconnected("test");
        let s = feed.status();
        assert_eq!(s.state, FeedState::Down);
        assert_eq!(s.pairs[&btc], PairState::Silent);
    }

    #[test]
    fn a_consolidating_feed_prices_from_the_venues_and_goes_silent_without_them() {
        let pairs = Pair::parse_list("BTC/USD").unwrap();
        let (feed, mut rx) = Feed::new(
            "consolidated",
            &pairs,
            Duration::from_secs(60),
            BookRules::new(Duration::from_secs(60)),
            Some(1),
            16,
        );
        let btc = &pairs[0];
        let book = crate::books::one_level_book("100", "101");
        assert_eq!(feed.state(), FeedState::Connecting);
        feed.books().link_up(Venue::Coinbase);
        feed.verified_book(Venue::Coinbase, btc, &book, true);
        let m = rx.try_recv().unwrap();
        assert_eq!(m.source, "consolidated");
        assert_eq!(m.venues, [Venue::Coinbase]);
        assert_eq!((m.bid, m.ask), (Decimal::from(100), Decimal::from(101)));
        let s = feed.status();
        assert_eq!((s.state, s.pairs[btc]), (FeedState::Online, PairState::Ok));
        assert_eq!(feed.take_dirty_books().len(), 1);
        // Kraken's own connection going down is not the feed going down.
        feed.disconnected("kraken dropped");
        assert_eq!(feed.status().pairs[btc], PairState::Ok);
        feed.venue_down(Venue::Coinbase);
        let s = feed.status();
        assert_eq!(
            (s.state, s.pairs[btc]),
            (FeedState::Down, PairState::Silent)
        );
        assert!(rx.try_recv().is_err(), "no rate without a venue");
    }
}
