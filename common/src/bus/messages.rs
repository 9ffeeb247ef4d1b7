//! The bus contract (ARCHITECTURE.md §4): key names and versioned message shapes.
//!
//! Every key and channel takes a configurable prefix (default `rategate:`) so tests and
//! deployments can share one Redis. Messages carry `"v":1`; decimals are JSON strings.
//!
//! On Redis Cluster ([`BusKeys::clustered`]) the names carry hash tags so that what one script
//! touches lives in one slot: the lease, its term, the status, the pair metadata and the
//! spread announcements under `{feed}`; each pair's last rate, last book, fencing term and its
//! two shard channels under the pair's own tag (`{prefix}{BTC_USD}:rate`, ...), so the pairs
//! spread over the masters; the throttle buckets under `{throttle}` (a login checks three of
//! them in one script).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::book::Venue;
use crate::decimal::DecimalString;
use crate::pair::Pair;

/// Current version of the bus messages.
pub const BUS_VERSION: u32 = 1;

/// The names of everything on the bus under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusKeys {
    prefix: String,
    /// Names for Redis Cluster: hash-tagged, per-pair state and channels (see the module doc).
    clustered: bool,
}

impl BusKeys {
    /// Names for one Redis (or the in-process bus).
    pub fn new(prefix: impl Into<String>) -> Self {
        BusKeys {
            prefix: prefix.into(),
            clustered: false,
        }
    }
    /// Names for Redis Cluster.
    pub fn clustered(prefix: impl Into<String>) -> Self {
        BusKeys {
            prefix: prefix.into(),
            clustered: true,
        }
    }
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
    pub fn is_clustered(&self) -> bool {
        self.clustered
    }
    /// `name` in the feed's slot on a cluster (`{prefix}{feed}:name`), `{prefix}name` otherwise.
    fn feed_slot(&self, name: &str) -> String {
        if self.clustered {
            format!("{}{{feed}}:{name}", self.prefix)
        } else {
            format!("{}{name}", self.prefix)
        }
    }
    /// `{prefix}{BTC_USD}:what`: one pair's state and channels, in the pair's own slot.
    fn pair_slot(&self, pair: &Pair, what: &str) -> String {
        format!("{}{{{}}}:{what}", self.prefix, pair.key())
    }
    /// Pub/sub channel: one [`RateMsg`] per tick (one Redis).
    pub fn rates(&self) -> String {
        format!("{}rates", self.prefix)
    }
    /// Hash pair → [`RateMsg`] JSON: the last-value cache (one Redis).
    pub fn rates_last(&self) -> String {
        format!("{}rates:last", self.prefix)
    }
    /// Cluster: shard channel of one pair's ticks.
    pub fn pair_rates(&self, pair: &Pair) -> String {
        self.pair_slot(pair, "rates")
    }
    /// Cluster: shard channel of one pair's consolidated books.
    pub fn pair_books(&self, pair: &Pair) -> String {
        self.pair_slot(pair, "books")
    }
    /// Cluster: key holding one pair's newest [`RateMsg`] JSON.
    pub fn pair_rate_last(&self, pair: &Pair) -> String {
        self.pair_slot(pair, "rate")
    }
    /// Cluster: key holding one pair's newest [`BookMsg`] JSON.
    pub fn pair_book_last(&self, pair: &Pair) -> String {
        self.pair_slot(pair, "book")
    }
    /// Cluster: hash (`term`, `epoch`) of the newest lease term that wrote this pair; a write
    /// under an older term is refused.
    pub fn pair_fence(&self, pair: &Pair) -> String {
        self.pair_slot(pair, "fence")
    }
    /// Pub/sub channel and key (short TTL) holding [`StatusMsg`].
    pub fn status(&self) -> String {
        self.feed_slot("status")
    }
    /// Hash pair → [`PairMeta`] JSON; and a pub/sub channel of the same name on which every
    /// write of the hash is announced with the written metadata as a JSON array, so consumers
    /// apply new metadata at once (pub/sub channels and keys are separate namespaces in Redis).
    pub fn pairs(&self) -> String {
        self.feed_slot("pairs")
    }
    /// Pub/sub channel on which a user-api-svc node says it changed spreads (payload: its
    /// node id), so the others reload.
    pub fn spreads_changed(&self) -> String {
        self.feed_slot("spreads:changed")
    }
    /// Pub/sub channel: one [`BookMsg`] per pair whose consolidated book changed, at most
    /// `BOOK_PUBLISH_HZ` a second per pair.
    pub fn books(&self) -> String {
        format!("{}books", self.prefix)
    }
    /// Hash pair → [`BookMsg`] JSON: each pair's newest consolidated book.
    pub fn books_last(&self) -> String {
        format!("{}books:last", self.prefix)
    }
    /// Key holding the epoch of the exchange-rate-svc that may publish (with a TTL).
    pub fn feed_leader(&self) -> String {
        if self.clustered {
            self.feed_slot("leader")
        } else {
            format!("{}feed:leader", self.prefix)
        }
    }
    /// Cluster: the newest lease term granted (never decreases; see `bus::lease`).
    pub fn feed_term(&self) -> String {
        self.feed_slot("term")
    }
    /// Prefix of the Socket.IO adapter's sharded channels between user-api-svc nodes
    /// (`{prefix}socket.io-request#/#`, ...): under our prefix, never the adapter's default.
    pub fn socketio(&self) -> String {
        format!("{}socket.io", self.prefix)
    }
    /// Key of one login/registration throttle bucket (`what` is already hashed or an IP).
    pub fn throttle(&self, what: &str) -> String {
        if self.clustered {
            format!("{}{{throttle}}:{what}", self.prefix)
        } else {
            format!("{}throttle:{what}", self.prefix)
        }
    }
    /// Key claimed by the node that runs one scheduled run of a once-per-cluster job.
    pub fn job_run(&self, job: &str, slot: i64) -> String {
        format!("{}jobs:{job}:{slot}", self.prefix)
    }
}

/// One tick on `{prefix}rates`, and the value in `{prefix}rates:last`.
///
/// `ts` is the exchange's time when it sent one, otherwise our receive time (Kraken v2 omits
/// `timestamp` on some frames). `last` is the last trade price when the source gives one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateMsg {
    pub v: u32,
    pub source: String,
    pub pair: Pair,
    #[serde(with = "crate::decimal::string")]
    pub bid: Decimal,
    #[serde(with = "crate::decimal::string")]
    pub ask: Decimal,
    #[serde(
        default,
        with = "crate::decimal::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub last: Option<Decimal>,
    #[serde(with = "crate::time::micros")]
    pub ts: DateTime<Utc>,
    #[serde(with = "crate::time::micros")]
    pub received_at: DateTime<Utc>,
    pub seq: u64,
    pub epoch: String,
    /// The venues whose books made this price (`source: "consolidated"`); absent for a
    /// single-venue source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub venues: Vec<Venue>,
}

/// One pair's consolidated book on `{prefix}books`, and the value in `{prefix}books:last`:
/// the best `BOOK_DEPTH` levels of each side over the venues contributing now, best first,
/// each level with its venue. `seq` rises per pair within an `epoch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookMsg {
    pub v: u32,
    pub pair: Pair,
    /// `bids` and `asks`, each level `price`, `qty`, `venue`.
    #[serde(flatten)]
    pub book: crate::book::Consolidated,
    pub venues: Vec<Venue>,
    #[serde(with = "crate::time::micros")]
    pub ts: DateTime<Utc>,
    pub seq: u64,
    pub epoch: String,
}

/// The feed's state as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedState {
    Online,
    Connecting,
    Maintenance,
    CancelOnly,
    PostOnly,
    Down,
}

impl FeedState {
    /// Only `online` is quotable (ARCHITECTURE.md §3).
    pub fn is_quotable(self) -> bool {
        self == FeedState::Online
    }
    pub fn as_str(self) -> &'static str {
        match self {
            FeedState::Online => "online",
            FeedState::Connecting => "connecting",
            FeedState::Maintenance => "maintenance",
            FeedState::CancelOnly => "cancel_only",
            FeedState::PostOnly => "post_only",
            FeedState::Down => "down",
        }
    }
}

/// One pair's state in the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairState {
    /// Subscribed and ticking.
    Ok,
    /// The exchange refused the subscription (unknown pair, ...).
    Rejected,
    /// Not acknowledged, or no tick for a while, or the connection is down.
    Silent,
}

/// Which exchange-rate-svc a status describes: the one that holds the feed lease and
/// publishes, or a standby that keeps its exchange connection warm to take over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedRole {
    #[default]
    Leader,
    Standby,
}

/// `{prefix}status`: published at least once a second and on every change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusMsg {
    pub v: u32,
    pub source: String,
    pub state: FeedState,
    #[serde(with = "crate::time::micros")]
    pub since: DateTime<Utc>,
    pub pairs: BTreeMap<Pair, PairState>,
    /// Publisher run id, as in [`RateMsg::epoch`].
    pub epoch: String,
    /// Only the leader publishes, so on the bus this is `leader`; `/status` of a standby says
    /// `standby`. Absent in older messages: `leader`.
    #[serde(default)]
    pub role: FeedRole,
    /// Each venue's L2 books: health per pair and top of book. Absent in older messages and
    /// before any venue has been heard of.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub venues: BTreeMap<Venue, VenueStatus>,
}

/// A venue's book for a pair, or a venue as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookState {
    /// A verified update, or a frame proving the subscription, within `VENUE_STALE_MS`.
    Fresh,
    /// Neither for longer.
    Stale,
    /// Waiting for a snapshot (at the start, or after a failed check).
    Resyncing,
    /// The connection is gone, or the book failed its check repeatedly.
    Down,
    /// The venue reports maintenance.
    Maintenance,
    /// Its mid is further than `VENUE_MAX_DEVIATION_BPS` from the median of the fresh venues'
    /// mids (three or more): left out of the consolidated book until it comes back.
    Excluded,
}

impl BookState {
    /// As it is spelled on the bus (`fresh`, `stale`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            BookState::Fresh => "fresh",
            BookState::Stale => "stale",
            BookState::Resyncing => "resyncing",
            BookState::Down => "down",
            BookState::Maintenance => "maintenance",
            BookState::Excluded => "excluded",
        }
    }
}

/// One venue in the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueStatus {
    pub state: BookState,
    pub checksum_failures: u64,
    pub sequence_gaps: u64,
    pub pairs: BTreeMap<Pair, VenueBookStatus>,
}

/// One venue's book for one pair in the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueBookStatus {
    pub state: BookState,
    /// Since the last verified update; absent before the first.
    pub age_ms: Option<u64>,
    pub bid: Option<DecimalString>,
    pub ask: Option<DecimalString>,
}

/// `{prefix}pairs`: what a pair's prices and amounts may look like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairMeta {
    pub pair: Pair,
    pub base: String,
    pub quote: String,
    /// Smallest price increment.
    #[serde(with = "crate::decimal::string")]
    pub price_tick: Decimal,
    /// Smallest amount increment (in the base asset).
    #[serde(with = "crate::decimal::string")]
    pub amount_step: Decimal,
    /// Minimum order amount (in the base asset).
    #[serde(with = "crate::decimal::string")]
    pub min_amount: Decimal,
}

impl PairMeta {
    pub fn new(pair: Pair, price_tick: Decimal, amount_step: Decimal, min_amount: Decimal) -> Self {
        PairMeta {
            base: pair.base().to_string(),
            quote: pair.quote().to_string(),
            pair,
            price_tick,
            amount_step,
            min_amount,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn rate_message_has_the_contract_shape() {
        let msg = RateMsg {
            v: BUS_VERSION,
            source: "kraken".into(),
            pair: Pair::parse("BTC/USD").unwrap(),
            bid: Decimal::from_str("97000.1").unwrap(),
            ask: Decimal::from_str("97000.2").unwrap(),
            last: Some(Decimal::from_str("97000.1").unwrap()),
            ts: "2026-09-25T17:48:26.844359Z".parse().unwrap(),
            received_at: "2026-09-25T17:48:26.900001Z".parse().unwrap(),
            seq: 1042,
            epoch: "e1".into(),
            venues: vec![],
        };
        let json = serde_json::to_string(&msg).unwrap();
        assert_eq!(
            json,
            r#"{"v":1,"source":"kraken","pair":"BTC/USD","bid":"97000.1","ask":"97000.2","last":"97000.1","ts":"2026-09-25T17:48:26.844359Z","received_at":"2026-09-25T17:48:26.900001Z","seq":1042,"epoch":"e1"}"#
        );
        let back: RateMsg = serde_json::from_str(&json).unwrap();
        assert_eq!(back, msg);
    }

    #[test]
    fn keys_take_the_prefix() {
        let k = BusKeys::new("t1:");
        assert_eq!(k.rates(), "t1:rates");
        assert_eq!(k.rates_last(), "t1:rates:last");
        assert_eq!(k.status(), "t1:status");
        assert_eq!(k.pairs(), "t1:pairs");
        assert_eq!(k.socketio(), "t1:socket.io");
        assert_eq!(k.throttle("ip:1.2.3.4"), "t1:throttle:ip:1.2.3.4");
        assert_eq!(k.job_run("purge", 42), "t1:jobs:purge:42");
    }

    #[test]
    fn cluster_keys_share_a_slot_where_one_script_touches_them() {
        let k = BusKeys::clustered("t1:");
        let btc = Pair::parse("BTC/USD").unwrap();
        assert_eq!(k.feed_leader(), "t1:{feed}:leader");
        assert_eq!(k.feed_term(), "t1:{feed}:term");
        assert_eq!(k.status(), "t1:{feed}:status");
        assert_eq!(k.pairs(), "t1:{feed}:pairs");
        assert_eq!(k.spreads_changed(), "t1:{feed}:spreads:changed");
        assert_eq!(k.pair_rate_last(&btc), "t1:{BTC_USD}:rate");
        assert_eq!(k.pair_rates(&btc), "t1:{BTC_USD}:rates");
        assert_eq!(k.pair_books(&btc), "t1:{BTC_USD}:books");
        assert_eq!(k.pair_fence(&btc), "t1:{BTC_USD}:fence");
        assert_eq!(k.throttle("ip:1.2.3.4"), "t1:{throttle}:ip:1.2.3.4");
    }

    #[test]
    fn feed_states_serialize_snake_case() {
        assert_eq!(
            serde_json::to_string(&FeedState::CancelOnly).unwrap(),
            "\"cancel_only\""
        );
        assert!(FeedState::Online.is_quotable());
        assert!(!FeedState::Maintenance.is_quotable());
    }
}
