//! The in-process bus: what the all-in-one `rategate` binary uses when there is no `REDIS_URL`.
//!
//! It keeps the contract of the Redis bus (ARCHITECTURE.md §4) so both services run unchanged on top:
//! - `rates:last` → [`MemoryBus::last_values`]: written before each publish, so a consumer that
//!   hears a tick and then reads the last values never sees an older one.
//! - `rates` / `status` / `spreads:changed` → one broadcast channel of [`BusEvent`]s.
//! - the `status` key with its short TTL → [`MemoryBus::status`], which forgets a status older
//!   than [`STATUS_TTL`], exactly like the expiring key.
//! - `pairs` → [`MemoryBus::pairs`], announced by [`BusEvent::PairsChanged`].
//!
//! Delivery is at-most-once like Redis pub/sub: a consumer that falls behind by more than the
//! channel's capacity gets `Lagged` and re-reads the last values, which is what makes delivery
//! latest-value rather than a backlog. Messages are passed as `Arc`s: nothing is serialised.
//!
//! [`MemoryBus`] is a [`Bus`]: [`MemorySink`] publishes to it (it cannot lose a connection, so
//! it never fails; a resync re-announces every pair's current value, which is what brings live
//! subscribers up to date after a queue overflow), [`MemorySource`] reads it.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use super::{
    BookMsg, Bus, BusSink, BusSource, Heard, PairMeta, RateMsg, SinkError, Snapshot, StatusMsg,
    Update,
};
use crate::Pair;

/// How long a published status counts (the Redis `status` key's TTL).
pub const STATUS_TTL: Duration = Duration::from_secs(5);
/// Default capacity of the event channel.
pub const DEFAULT_CAPACITY: usize = 1 << 14;

/// One message on the in-process bus.
#[derive(Debug, Clone)]
pub enum BusEvent {
    Rate(Arc<RateMsg>),
    Book(Arc<BookMsg>),
    Status(Arc<StatusMsg>),
    /// Pair metadata was written: re-read [`MemoryBus::pairs`].
    PairsChanged,
    /// A node changed spreads (payload: its node id).
    SpreadsChanged(Arc<str>),
}

#[derive(Default)]
struct State {
    last: BTreeMap<Pair, Arc<RateMsg>>,
    books: BTreeMap<Pair, Arc<BookMsg>>,
    pairs: BTreeMap<Pair, PairMeta>,
    status: Option<(Arc<StatusMsg>, Instant)>,
}

/// A cheap-to-clone handle on one in-process bus.
#[derive(Clone)]
pub struct MemoryBus {
    state: Arc<RwLock<State>>,
    events: broadcast::Sender<BusEvent>,
}

impl std::fmt::Debug for MemoryBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBus")
            .field("subscribers", &self.events.receiver_count())
            .finish()
    }
}

impl Default for MemoryBus {
    fn default() -> Self {
        MemoryBus::new(DEFAULT_CAPACITY)
    }
}

impl MemoryBus {
    /// A bus whose subscribers may fall `capacity` events behind before they lag.
    pub fn new(capacity: usize) -> MemoryBus {
        let (events, _) = broadcast::channel(capacity.max(1));
        MemoryBus {
            state: Arc::new(RwLock::new(State::default())),
            events,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-written (each write is
        // one insert), so a poisoned lock is still consistent: keep going.
        crate::sync::read(&self.state)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        crate::sync::write(&self.state)
    }

    /// Publishes a batch of ticks: the last values first, then one event per tick in order.
    pub fn publish_rates(&self, batch: &[Arc<RateMsg>]) {
        self.store_then_announce(batch, |s| &mut s.last, |m| &m.pair, BusEvent::Rate);
    }

    /// Publishes consolidated books: the last values first, then one event per book.
    pub fn publish_books(&self, books: &[Arc<BookMsg>]) {
        self.store_then_announce(books, |s| &mut s.books, |b| &b.pair, BusEvent::Book);
    }

    /// Each of `items` stored as its pair's last value in the map `last` picks, then each
    /// announced in order.
    fn store_then_announce<T>(
        &self,
        items: &[Arc<T>],
        last: fn(&mut State) -> &mut BTreeMap<Pair, Arc<T>>,
        pair: fn(&T) -> &Pair,
        event: fn(Arc<T>) -> BusEvent,
    ) {
        {
            let mut state = self.write();
            let last = last(&mut state);
            for item in items {
                last.insert(pair(item).clone(), item.clone());
            }
        }
        for item in items {
            // No subscriber is not an error (nobody listening, as with PUBLISH).
            let _ = self.events.send(event(item.clone()));
        }
    }

    /// Every pair's newest consolidated book.
    pub fn last_books(&self) -> Vec<Arc<BookMsg>> {
        self.read().books.values().cloned().collect()
    }

    /// Publishes the feed status and keeps it readable for [`STATUS_TTL`].
    pub fn publish_status(&self, status: StatusMsg) {
        let status = Arc::new(status);
        self.write().status = Some((status.clone(), Instant::now()));
        let _ = self.events.send(BusEvent::Status(status));
    }

    /// Writes pair metadata (merged, like `HSET` on the pairs hash) and says so.
    pub fn set_pairs(&self, metas: impl IntoIterator<Item = PairMeta>) {
        {
            let mut state = self.write();
            for m in metas {
                state.pairs.insert(m.pair.clone(), m);
            }
        }
        let _ = self.events.send(BusEvent::PairsChanged);
    }

    /// Tells every node (here: every subscriber) that spreads changed.
    pub fn announce_spreads_changed(&self, node_id: &str) {
        let _ = self.events.send(BusEvent::SpreadsChanged(node_id.into()));
    }

    /// A new subscription; it sees events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<BusEvent> {
        self.events.subscribe()
    }

    /// Every pair's last value.
    pub fn last_values(&self) -> Vec<Arc<RateMsg>> {
        self.read().last.values().cloned().collect()
    }

    pub fn pairs(&self) -> Vec<PairMeta> {
        self.read().pairs.values().cloned().collect()
    }

    /// The newest status, unless it is older than [`STATUS_TTL`] (a publisher that stopped).
    pub fn status(&self) -> Option<Arc<StatusMsg>> {
        self.read()
            .status
            .as_ref()
            .filter(|(_, at)| at.elapsed() < STATUS_TTL)
            .map(|(s, _)| s.clone())
    }
}

#[async_trait::async_trait]
impl Bus for MemoryBus {
    fn name(&self) -> &'static str {
        "in-process"
    }

    fn is_connected(&self) -> bool {
        true
    }

    fn sink(&self) -> Box<dyn BusSink> {
        Box::new(MemorySink { bus: self.clone() })
    }

    fn subscribe(&self) -> anyhow::Result<Box<dyn BusSource>> {
        Ok(Box::new(MemorySource::new(self.clone())))
    }

    async fn announce_spreads_changed(&self, node_id: &str) {
        MemoryBus::announce_spreads_changed(self, node_id)
    }

    async fn quit(&self) {}
}

/// The publisher's handle on the in-process bus, with the Redis bus's order: last values
/// before announcements, metadata when it changes, status.
pub struct MemorySink {
    bus: MemoryBus,
}

#[async_trait::async_trait]
impl BusSink for MemorySink {
    async fn reconnected(&mut self) {
        std::future::pending::<()>().await
    }

    async fn write(&self, update: Update<'_>) -> Result<(), SinkError> {
        let Update {
            rates,
            meta,
            status,
        } = update;
        if let Some(meta) = meta {
            self.bus.set_pairs(meta.iter().cloned());
        }
        if let Some(status) = status {
            self.bus.publish_status(status.clone());
        }
        if !rates.is_empty() {
            self.bus.publish_rates(rates);
        }
        Ok(())
    }

    async fn publish_books(&self, books: &[Arc<BookMsg>]) -> Result<(), SinkError> {
        self.bus.publish_books(books);
        Ok(())
    }
}

/// A subscription to the in-process bus: it resyncs at start and whenever it lagged behind.
pub struct MemorySource {
    bus: MemoryBus,
    events: broadcast::Receiver<BusEvent>,
    started: bool,
}

impl MemorySource {
    /// Subscribes at once, so nothing published before the first snapshot is lost.
    pub fn new(bus: MemoryBus) -> Self {
        let events = bus.subscribe();
        MemorySource {
            bus,
            events,
            started: false,
        }
    }
}

#[async_trait::async_trait]
impl BusSource for MemorySource {
    async fn next(&mut self) -> Heard {
        use broadcast::error::RecvError;
        if !self.started {
            self.started = true;
            tracing::info!("subscribed to the in-process bus");
            return Heard::Resync;
        }
        match self.events.recv().await {
            Ok(BusEvent::Rate(r)) => Heard::Rate(RateMsg::clone(&r)),
            Ok(BusEvent::Book(b)) => Heard::Book(BookMsg::clone(&b)),
            Ok(BusEvent::Status(s)) => Heard::Status(StatusMsg::clone(&s)),
            Ok(BusEvent::PairsChanged) => Heard::Meta(self.bus.pairs()),
            Ok(BusEvent::SpreadsChanged(node)) => Heard::SpreadsChanged(node.to_string()),
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "bus subscriber lagged; re-reading the last values");
                metrics::counter!("rategate_bus_lagged_total").increment(1);
                Heard::Resync
            }
            Err(RecvError::Closed) => Heard::Closed,
        }
    }

    async fn snapshot(&self) -> Result<Snapshot, String> {
        Ok(Snapshot {
            metas: self.bus.pairs(),
            status: self.bus.status().map(|s| StatusMsg::clone(&s)),
            rates: self
                .bus
                .last_values()
                .iter()
                .map(|m| RateMsg::clone(m))
                .collect(),
            books: self
                .bus
                .last_books()
                .iter()
                .map(|b| BookMsg::clone(b))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{FeedState, PairState};
    use chrono::Utc;

    fn rate(pair: &str, bid: &str, seq: u64) -> Arc<RateMsg> {
        Arc::new(RateMsg {
            v: 1,
            source: "test".into(),
            pair: Pair::parse(pair).unwrap(),
            bid: bid.parse().unwrap(),
            ask: "99999".parse().unwrap(),
            last: None,
            ts: Utc::now(),
            received_at: Utc::now(),
            seq,
            epoch: "e".into(),
            venues: vec![],
        })
    }

    #[tokio::test]
    async fn last_values_are_written_before_the_event_is_heard() {
        let bus = MemoryBus::new(16);
        let mut rx = bus.subscribe();
        bus.publish_rates(&[rate("BTC/USD", "1.5", 1), rate("BTC/USD", "1.6", 2)]);
        let BusEvent::Rate(first) = rx.recv().await.unwrap() else {
            panic!("expected a rate")
        };
        assert_eq!(first.seq, 1);
        // By the time any event is heard, the last value is already the newest of the batch.
        let last = bus.last_values();
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].bid.to_string(), "1.6");
        let BusEvent::Rate(second) = rx.recv().await.unwrap() else {
            panic!("expected a rate")
        };
        assert_eq!(second.seq, 2);
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_lags_and_the_last_values_have_the_newest() {
        let bus = MemoryBus::new(4);
        let mut rx = bus.subscribe();
        let batch: Vec<_> = (0..100)
            .map(|i| rate("ETH/USD", &format!("{i}.25"), i))
            .collect();
        bus.publish_rates(&batch);
        match rx.recv().await {
            Err(broadcast::error::RecvError::Lagged(n)) => assert_eq!(n, 96),
            other => panic!("expected Lagged, got {other:?}"),
        }
        assert_eq!(bus.last_values()[0].bid.to_string(), "99.25");
    }

    #[tokio::test]
    async fn status_is_forgotten_after_its_ttl_like_the_redis_key() {
        let bus = MemoryBus::default();
        assert!(bus.status().is_none());
        bus.publish_status(StatusMsg {
            v: 1,
            source: "test".into(),
            state: FeedState::Online,
            since: Utc::now(),
            pairs: [(Pair::parse("BTC/USD").unwrap(), PairState::Ok)].into(),
            epoch: "e".into(),
            role: crate::bus::FeedRole::Leader,
            venues: Default::default(),
        });
        assert_eq!(bus.status().unwrap().state, FeedState::Online);
        // Age the stored status past the TTL instead of sleeping 5 s.
        let old = Instant::now()
            .checked_sub(STATUS_TTL + Duration::from_millis(1))
            .unwrap();
        bus.write().status.as_mut().unwrap().1 = old;
        assert!(bus.status().is_none());
    }

    #[tokio::test]
    async fn pairs_merge_and_spread_announcements_reach_every_subscriber() {
        let bus = MemoryBus::default();
        let (mut a, mut b) = (bus.subscribe(), bus.subscribe());
        let meta = |p: &str, tick: &str| {
            PairMeta::new(
                Pair::parse(p).unwrap(),
                tick.parse().unwrap(),
                "0.00000001".parse().unwrap(),
                "0.0001".parse().unwrap(),
            )
        };
        bus.set_pairs([meta("BTC/USD", "0.1")]);
        bus.set_pairs([meta("ETH/USD", "0.01"), meta("BTC/USD", "0.5")]);
        for rx in [&mut a, &mut b] {
            for _ in 0..2 {
                assert!(matches!(rx.recv().await.unwrap(), BusEvent::PairsChanged));
            }
        }
        let ticks: Vec<String> = bus
            .pairs()
            .iter()
            .map(|m| m.price_tick.to_string())
            .collect();
        assert_eq!(ticks, ["0.5", "0.01"]);
        bus.announce_spreads_changed("node-1");
        for rx in [&mut a, &mut b] {
            match rx.recv().await.unwrap() {
                BusEvent::SpreadsChanged(n) => assert_eq!(&*n, "node-1"),
                other => panic!("{other:?}"),
            }
        }
    }
}
