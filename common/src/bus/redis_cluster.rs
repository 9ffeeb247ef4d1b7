//! The bus's writes and subscriptions on Redis Cluster, where one script may touch one slot
//! only (names in [`BusKeys::clustered`]):
//! - metadata and status go to the feed's slot (`{feed}`) in one script that checks the lease
//!   itself, as on one Redis (`FEED_WRITE`);
//! - each pair's newest rate and book go to the pair's slot in one script that checks and
//!   raises the pair's fencing term (`PAIR_WRITE`, `bus::lease` says why that is safe), and
//!   are announced there with `SPUBLISH`, so a pair's traffic stays on its shard;
//! - a subscriber follows the feed's shard channels and every known pair's, adding a pair's
//!   channels when its metadata is first heard (`Channels`).
//!
//! A batch is written in the bus contract's order: metadata and status first, then the pairs'
//! scripts side by side (each pair's ticks still in order, on its own shard).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use fred::prelude::*;
use fred::types::scripts::Script;

use super::lease::Fenced;
use super::redis::{announce_meta_and_status, fenced_script, to_json, Target};
use super::{BookMsg, BusKeys, RateMsg, Update};
use crate::Pair;

/// Metadata and status in the feed's slot, fenced by the lease like one Redis's write.
/// KEYS: lease, pairs, status. ARGV: fence or "", status TTL (s), metadata JSON array or "",
/// status JSON or "", n, then n × (pair, metadata JSON).
const FEED_WRITE: &str = fenced_script!(
    r#"
for i = 6, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
"#,
    announce_meta_and_status!("SPUBLISH"),
    "\nreturn 1\n"
);

/// One pair's write in its own slot. With a term, refused (0) unless the term is newer than the
/// pair's fence, or the same term from the same epoch; a newer term becomes the fence. The
/// last tick announced is the pair's newest rate.
/// KEYS: fence, last rate, rates channel, last book, books channel.
/// ARGV: term or "", epoch, book JSON or "", then the ticks to announce, oldest first.
const PAIR_WRITE: &str = r#"
if ARGV[1] ~= '' then
  local term = tonumber(ARGV[1])
  local fence = redis.call('HMGET', KEYS[1], 'term', 'epoch')
  local held = tonumber(fence[1] or '0')
  if term < held or (term == held and fence[2] ~= ARGV[2]) then
    return 0
  end
  if term > held then
    redis.call('HSET', KEYS[1], 'term', ARGV[1], 'epoch', ARGV[2])
  end
end
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[4], ARGV[3])
  redis.call('SPUBLISH', KEYS[5], ARGV[3])
end
if #ARGV > 3 then redis.call('SET', KEYS[2], ARGV[#ARGV]) end
for i = 4, #ARGV do
  redis.call('SPUBLISH', KEYS[3], ARGV[i])
end
return 1
"#;

/// The scripts by their SHA-1 (`EVALSHA`, loaded on every master the first time one is
/// missing): one script per pair per batch makes the body's transfer and hashing count.
static FEED_WRITE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::from_lua(FEED_WRITE));
static PAIR_WRITE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::from_lua(PAIR_WRITE));

/// What one pair's script is given.
#[derive(Default)]
struct PairWrite<'a> {
    book: Option<&'a BookMsg>,
    /// In the batch's order: the last is the pair's newest.
    ticks: Vec<&'a RateMsg>,
}

/// One pair's script (see [`PAIR_WRITE`]).
async fn write_pair(to: Target<'_>, pair: &Pair, w: PairWrite<'_>) -> Result<Fenced, Error> {
    let mut args: Vec<String> = Vec::with_capacity(3 + w.ticks.len());
    match to.fence {
        Some(lease) => {
            args.push(lease.term().to_string());
            args.push(lease.epoch().to_string());
        }
        None => args.extend([String::new(), String::new()]),
    }
    args.push(w.book.map(to_json).unwrap_or_default());
    args.extend(w.ticks.iter().map(|t| to_json(*t)));
    let keys = to.keys;
    let names = vec![
        keys.pair_fence(pair),
        keys.pair_rate_last(pair),
        keys.pair_rates(pair),
        keys.pair_book_last(pair),
        keys.pair_books(pair),
    ];
    let written: i64 = PAIR_WRITE_SCRIPT
        .evalsha_with_reload(to.client, names, args)
        .await?;
    Ok(Fenced::from_script(written))
}

/// Every pair's script at once; refused if any pair refused.
async fn write_pairs(
    to: Target<'_>,
    writes: HashMap<&Pair, PairWrite<'_>>,
) -> Result<Fenced, Error> {
    let results =
        futures_util::future::join_all(writes.into_iter().map(|(pair, w)| write_pair(to, pair, w)))
            .await;
    let mut outcome = Fenced::Written;
    for r in results {
        if r? == Fenced::NotLeader {
            outcome = Fenced::NotLeader;
        }
    }
    Ok(outcome)
}

/// The bus write on a cluster: metadata and status in the feed's slot, then each pair's
/// newest value and ticks in its own. With a lease, every pair the metadata names is written
/// too (its fence raised even if it has no tick yet), so a resync leaves no pair a deposed
/// leader could still write.
pub(crate) async fn write(to: Target<'_>, update: Update<'_>) -> Result<Fenced, Error> {
    let Update {
        rates,
        meta,
        status,
    } = update;
    let meta = meta.unwrap_or_default();
    if !meta.is_empty() || status.is_some() {
        let args = super::redis::meta_and_status_args(to.fence, meta, status);
        let keys = to.keys;
        let names = vec![keys.feed_leader(), keys.pairs(), keys.status()];
        let written: i64 = FEED_WRITE_SCRIPT
            .evalsha_with_reload(to.client, names, args)
            .await?;
        if Fenced::from_script(written) == Fenced::NotLeader {
            return Ok(Fenced::NotLeader);
        }
    }
    let mut writes: HashMap<&Pair, PairWrite> = HashMap::new();
    if to.fence.is_some() {
        for m in meta {
            writes.entry(&m.pair).or_default();
        }
    }
    for msg in rates {
        writes
            .entry(&msg.pair)
            .or_default()
            .ticks
            .push(msg.as_ref());
    }
    write_pairs(to, writes).await
}

/// Consolidated books on a cluster: each into its pair's slot and announced there.
pub(crate) async fn write_books(to: Target<'_>, books: &[Arc<BookMsg>]) -> Result<Fenced, Error> {
    let mut writes: HashMap<&Pair, PairWrite> = HashMap::new();
    for b in books {
        writes.entry(&b.pair).or_default().book = Some(b.as_ref());
    }
    write_pairs(to, writes).await
}

/// What a channel carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carries {
    Rates,
    Books,
    Status,
    Pairs,
    Spreads,
}

/// The channels a subscriber follows and what each carries. On one Redis the five fixed
/// channels; on a cluster the feed's three plus two per known pair.
pub(crate) struct Channels {
    keys: BusKeys,
    by_name: HashMap<String, Carries>,
    pairs: Vec<Pair>,
}

impl Channels {
    pub(crate) fn new(keys: &BusKeys) -> Channels {
        let mut by_name = HashMap::from([
            (keys.status(), Carries::Status),
            (keys.pairs(), Carries::Pairs),
            (keys.spreads_changed(), Carries::Spreads),
        ]);
        if !keys.is_clustered() {
            by_name.insert(keys.rates(), Carries::Rates);
            by_name.insert(keys.books(), Carries::Books);
        }
        Channels {
            keys: keys.clone(),
            by_name,
            pairs: Vec::new(),
        }
    }

    pub(crate) fn carries(&self, channel: &str) -> Option<Carries> {
        self.by_name.get(channel).copied()
    }

    /// Every channel (for one Redis's `SUBSCRIBE`).
    pub(crate) fn all(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    /// The feed's shard channels, one slot.
    pub(crate) fn feed(&self) -> Vec<String> {
        vec![
            self.keys.status(),
            self.keys.pairs(),
            self.keys.spreads_changed(),
        ]
    }

    /// One pair's shard channels, one slot.
    pub(crate) fn of_pair(&self, pair: &Pair) -> Vec<String> {
        vec![self.keys.pair_rates(pair), self.keys.pair_books(pair)]
    }

    /// The pairs followed so far.
    pub(crate) fn pairs(&self) -> &[Pair] {
        &self.pairs
    }

    /// Follows `pair` from now on; false if it already was.
    pub(crate) fn add_pair(&mut self, pair: &Pair) -> bool {
        if self.pairs.contains(pair) {
            return false;
        }
        self.by_name
            .insert(self.keys.pair_rates(pair), Carries::Rates);
        self.by_name
            .insert(self.keys.pair_books(pair), Carries::Books);
        self.pairs.push(pair.clone());
        true
    }
}

/// `SSUBSCRIBE`s the feed's channels and every pair's, one slot per command.
pub(crate) async fn subscribe_all(
    subscriber: &fred::clients::SubscriberClient,
    channels: &Channels,
) -> Result<(), Error> {
    subscriber.ssubscribe(channels.feed()).await?;
    for pair in channels.pairs() {
        subscriber.ssubscribe(channels.of_pair(pair)).await?;
    }
    Ok(())
}

/// The pairs the bus has metadata for (the feed's slot).
pub(crate) async fn known_pairs(client: &Client, keys: &BusKeys) -> Result<Vec<Pair>, Error> {
    let names: Vec<String> = client.hkeys(keys.pairs()).await?;
    Ok(names.iter().filter_map(|n| Pair::parse(n).ok()).collect())
}

/// Each pair's last rate and last book (one `GET` each, on its own shard, side by side).
pub(crate) async fn last_values(
    client: &Client,
    keys: &BusKeys,
    pairs: &[Pair],
) -> Result<(HashMap<String, String>, HashMap<String, String>), Error> {
    let reads = pairs.iter().map(|p| async move {
        let rate: Option<String> = client.get(keys.pair_rate_last(p)).await?;
        let book: Option<String> = client.get(keys.pair_book_last(p)).await?;
        Ok::<_, Error>((p.as_str().to_string(), rate, book))
    });
    let mut rates = HashMap::new();
    let mut books = HashMap::new();
    for r in futures_util::future::join_all(reads).await {
        let (pair, rate, book) = r?;
        if let Some(rate) = rate {
            rates.insert(pair.clone(), rate);
        }
        if let Some(book) = book {
            books.insert(pair, book);
        }
    }
    Ok((rates, books))
}
