//! Live rates: from the bus to users.
//!
//! - [`book`]: raw rates, consolidated books, metadata, spreads and feed status → the
//!   `rates:live` objects (with the ladder: the price at size).
//! - [`depth`]: the price of an amount against the consolidated book, before the spread.
//! - [`fanout`]: per-socket delivery with latest-value semantics.
//! - [`subscription`]: the bus subscription, Redis or in-process (bootstrap from `rates:last`,
//!   re-read after reconnects).
//! - [`RateHub`]: the book and the fan-out together; every change to what users see goes
//!   through it, so HTTP and Socket.IO always agree.

pub mod book;
pub mod depth;
pub mod fanout;
pub mod subscription;

use common::sync::lock;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::bus::{BookMsg, PairMeta, RateMsg, StatusMsg};
use common::shutdown::Shutdown;
use common::Pair;
use serde_json::value::RawValue;

pub use book::{LiveRate, QuoteBasis, RateBook, SpreadSet, Unquotable};
use fanout::Fanout;

/// When to stop sending every tick at once and conflate instead, and how often to send then.
#[derive(Debug, Clone, Copy)]
pub struct FanoutSettings {
    /// Deliveries per second (ticks/s × sockets) up to which every tick is sent at once.
    pub immediate_budget: u64,
    /// Above the budget, changed pairs are sent together once per window, at least this long.
    pub window: Duration,
    /// What one conflated delivery (a message of many pairs to one socket) costs this machine
    /// in server CPU, measured by the fan-out bench. The window widens so that one window's
    /// deliveries fit in [`CPU_SHARE`] of it: a saturated core would make every value older.
    pub delivery_cost: Duration,
}

/// The share of a core the conflated fan-out may plan to use.
pub const CPU_SHARE: f64 = 0.9;

impl Default for FanoutSettings {
    fn default() -> Self {
        FanoutSettings {
            immediate_budget: 100_000,
            window: Duration::from_millis(50),
            delivery_cost: Duration::from_micros(10),
        }
    }
}

impl FanoutSettings {
    /// The conflation window for `sockets` sockets: the configured one, or wider when one
    /// window's deliveries would take more than [`CPU_SHARE`] of it.
    pub fn window_for(&self, sockets: usize) -> Duration {
        let needed = self.delivery_cost.mul_f64(sockets as f64 / CPU_SHARE);
        self.window.max(needed)
    }
}

pub struct RateHub {
    book: Mutex<RateBook>,
    pub fanout: Fanout,
    settings: FanoutSettings,
    /// Ticks seen since the last rate estimate.
    ticks: AtomicU64,
    /// Conflating (batched) rather than sending each tick at once.
    batched: AtomicBool,
    /// Pairs changed since the last batch, and when the first of them arrived.
    dirty: Mutex<(BTreeSet<Pair>, Option<Instant>)>,
    /// When the last batch went out.
    last_batch: Mutex<Instant>,
    /// The open minute candles (price history), fed by every accepted tick.
    pub candles: Mutex<crate::candles::Recorder>,
}

/// In-server fan-out time: a bus message in → the last socket write for it queued (in
/// conflated mode this includes the wait for the window).
fn record_fanout(since: Instant) {
    metrics::histogram!("rategate_fanout_seconds").record(since.elapsed().as_secs_f64());
}

/// The send alone: payloads built and every socket's write queued, no window wait.
fn record_send(started: Instant) {
    metrics::histogram!("rategate_fanout_send_seconds").record(started.elapsed().as_secs_f64());
}

/// `{"BTC_USD": {...}, ...}` as one pre-serialized JSON value.
fn payload<'a>(rates: impl IntoIterator<Item = (String, &'a LiveRate)>) -> Option<Box<RawValue>> {
    let map: std::collections::BTreeMap<String, &LiveRate> = rates.into_iter().collect();
    if map.is_empty() {
        return None;
    }
    serde_json::value::to_raw_value(&map).ok()
}

/// Builds the payload of the current values of a set of pairs.
fn current(
    book: &RateBook,
    now: Instant,
) -> impl Fn(&BTreeSet<Pair>) -> Option<Box<RawValue>> + '_ {
    move |pairs| {
        let rates = book.snapshot(Some(pairs), now);
        payload(rates.iter().map(|(k, v)| (k.clone(), v)))
    }
}

impl RateHub {
    pub fn new(configured: &[Pair], stale_after: Duration, settings: FanoutSettings) -> RateHub {
        RateHub {
            book: Mutex::new(RateBook::new(configured, stale_after)),
            fanout: Fanout::default(),
            settings,
            ticks: AtomicU64::new(0),
            batched: AtomicBool::new(false),
            dirty: Mutex::new((BTreeSet::new(), None)),
            last_batch: Mutex::new(Instant::now()),
            candles: Mutex::new(crate::candles::Recorder::default()),
        }
    }

    /// Whether ticks are currently conflated into windows.
    pub fn is_batched(&self) -> bool {
        self.batched.load(Ordering::Relaxed)
    }

    pub fn book(&self) -> MutexGuard<'_, RateBook> {
        lock(&self.book)
    }

    /// A rate from the bus: priced, serialized once, delivered.
    pub fn on_rate(&self, msg: RateMsg) {
        let now = Instant::now();
        let pair = msg.pair.clone();
        self.ticks.fetch_add(1, Ordering::Relaxed);
        // Every tick heard goes into the price history, even one the book no longer needs
        // (an older tick queued behind a resync still happened).
        if let Some(mid) = crate::candles::mid(msg.bid, msg.ask) {
            lock(&self.candles).record(&pair, mid, msg.ts, &msg.epoch, msg.seq);
        }
        let mut book = self.book();
        if !book.apply_rate(msg) {
            return;
        }
        self.deliver_changed(book, pair, now);
    }

    /// A consolidated book from the bus: the pair's ladder changes with it.
    pub fn on_book(&self, msg: BookMsg) {
        let now = Instant::now();
        let pair = msg.pair.clone();
        let mut book = self.book();
        if !book.apply_book(msg) {
            return;
        }
        self.deliver_changed(book, pair, now);
    }

    /// Sends `pair`'s new value (or, when conflating, marks it for the next window).
    fn deliver_changed(&self, mut book: MutexGuard<'_, RateBook>, pair: Pair, now: Instant) {
        if self.is_batched() {
            // Conflating: the next window sends this pair's value as of then.
            drop(book);
            let mut dirty = lock(&self.dirty);
            dirty.0.insert(pair);
            dirty.1.get_or_insert(now);
            return;
        }
        let Some(live) = book.live(&pair, now) else {
            return;
        };
        book.shown(&pair, live.stale);
        let body = payload([(pair.key(), &live)]);
        drop(book);
        if let Some(body) = body {
            let started = Instant::now();
            self.fanout.deliver(&pair, &body);
            record_send(started);
            record_fanout(now);
        }
    }

    pub fn on_status(&self, status: StatusMsg) {
        let changed = {
            let mut book = self.book();
            let now = Instant::now();
            book.apply_status(status, now);
            book.staleness_changes(now)
        };
        self.push(&changed);
    }

    /// Metadata from the bus, applied at once: a pair held back for want of it is priced and
    /// pushed to clients as soon as it arrives.
    pub fn on_meta(&self, meta: PairMeta) {
        let pair = meta.pair.clone();
        let changed = {
            let mut book = self.book();
            let changed = book.set_meta(meta);
            if changed {
                let now = Instant::now();
                let stale = book.is_stale(&pair, now);
                book.shown(&pair, stale);
            }
            changed
        };
        if changed {
            self.push(&[pair]);
        }
    }

    /// Re-evaluates staleness (the feed may have gone quiet) and pushes changes.
    pub fn check_staleness(&self) {
        let changed = self.book().staleness_changes(Instant::now());
        self.push(&changed);
    }

    /// New spreads: every pair's price may change; pushed to clients at once.
    pub fn set_spreads(&self, spreads: SpreadSet) {
        let pairs: Vec<Pair> = {
            let mut book = self.book();
            book.set_spreads(spreads);
            book.known_pairs().iter().cloned().collect()
        };
        self.push(&pairs);
    }

    /// New per-pair limits: every pair's ladder may change; pushed to clients at once.
    pub fn set_limits(
        &self,
        max: std::collections::HashMap<Pair, common::Decimal>,
        ladders: std::collections::HashMap<Pair, Vec<common::Decimal>>,
    ) {
        let pairs: Vec<Pair> = {
            let mut book = self.book();
            book.set_limits(max, ladders);
            book.known_pairs().iter().cloned().collect()
        };
        self.push(&pairs);
    }

    /// Sends the current values of `pairs` to every socket that wants them.
    fn push(&self, pairs: &[Pair]) {
        self.send(&pairs.iter().cloned().collect());
    }

    /// The current values of `pairs`, one payload per distinct set of pairs owed.
    fn send(&self, pairs: &BTreeSet<Pair>) {
        let book = self.book();
        self.fanout.send(pairs, current(&book, Instant::now()));
    }

    /// Sends slow sockets that can take it the current values of what they missed.
    pub fn flush(&self) {
        let book = self.book();
        self.fanout.flush_slow(current(&book, Instant::now()));
    }

    /// Sends the pairs changed during the last window (batched mode) once the window for the
    /// current number of sockets has passed; the fan-out time counts from the window's first
    /// tick.
    fn send_batch(&self) {
        {
            let mut last = lock(&self.last_batch);
            let window = self.settings.window_for(self.fanout.len());
            // Half a base window of slack: the housekeeping tick that lands just short of the
            // window sends rather than waiting a whole tick more.
            if last.elapsed() + self.settings.window / 2 < window {
                drop(last);
                self.flush();
                return;
            }
            *last = Instant::now();
            metrics::gauge!("rategate_fanout_window_seconds").set(window.as_secs_f64());
        }
        let (dirty, since) = std::mem::take(&mut *lock(&self.dirty));
        let started = Instant::now();
        self.send(&dirty);
        self.flush();
        record_send(started);
        if let Some(since) = since {
            record_fanout(since);
        }
    }

    /// Re-decides between immediate and batched delivery from the last second's tick rate.
    fn adapt(&self, elapsed: Duration) {
        let ticks = self.ticks.swap(0, Ordering::Relaxed);
        let per_sec = ticks as f64 / elapsed.as_secs_f64().max(0.001);
        let load = per_sec * self.fanout.len() as f64;
        let budget = self.settings.immediate_budget as f64;
        let was = self.is_batched();
        // Hysteresis: switch back only well below the budget.
        let now = if was {
            load > budget * 0.7
        } else {
            load > budget
        };
        if now != was {
            self.batched.store(now, Ordering::Relaxed);
            tracing::info!(
                deliveries_per_sec = load as u64,
                batched = now,
                "socket fan-out mode changed"
            );
            if !now {
                self.send_batch();
            }
        }
        metrics::gauge!("rategate_fanout_batched").set(if now { 1.0 } else { 0.0 });
    }

    /// The snapshot a socket gets on connect or subscribe.
    pub fn snapshot_payload(&self, only: Option<&BTreeSet<Pair>>) -> Option<Box<RawValue>> {
        let rates = self.book().snapshot(only, Instant::now());
        payload(rates.iter().map(|(k, v)| (k.clone(), v)))
    }

    /// Sends batches (or flushes backed-up sockets), re-checks staleness and adapts the
    /// delivery mode, until shutdown.
    pub async fn run_housekeeping(&self, shutdown: Shutdown) {
        let mut flush = tokio::time::interval(self.settings.window);
        let mut stale = tokio::time::interval(Duration::from_millis(250));
        let mut adapt = tokio::time::interval(Duration::from_secs(1));
        for i in [&mut flush, &mut stale, &mut adapt] {
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        let mut last_adapt = Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.wait() => break,
                _ = flush.tick() => {
                    if self.is_batched() {
                        self.send_batch();
                    } else {
                        self.flush();
                    }
                }
                _ = stale.tick() => self.check_staleness(),
                _ = adapt.tick() => {
                    self.adapt(last_adapt.elapsed());
                    last_adapt = Instant::now();
                }
            }
        }
    }
}
