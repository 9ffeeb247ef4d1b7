//! Bitstamp v2 as a [`Protocol`]: a `diff_order_book_{market}` subscription per pair; once a
//! pair's subscription is acknowledged its REST snapshot is fetched as a side task while the
//! diffs keep being read and buffered, and [`SyncedBook`] joins the two. Bitstamp sends no
//! heartbeats of its own: we send `bts:heartbeat` when quiet, and diffs or the heartbeat's
//! answer prove the session alive. `bts:request_reconnect` (before its maintenance) ends the
//! session at once.

use std::collections::HashMap;
use std::time::Duration;

use common::book::Venue;
use common::Pair;
use tokio::task::JoinSet;

use super::wire::{self, BitstampEvent, BookLevels};
use super::SyncedBook;
use crate::feed::Feed;
use crate::venues::session::{bad_frame, Protocol, Step};

pub const DEFAULT_WS_URL: &str = "wss://ws.bitstamp.net";
pub const DEFAULT_REST_URL: &str = "https://www.bitstamp.net";

pub struct Bitstamp {
    ws_url: String,
    rest_url: String,
    http: reqwest::Client,
    pairs: Vec<Pair>,
    by_channel: HashMap<String, Pair>,
}

/// A pair's REST snapshot, or why there is none.
pub type Snapshot = (Pair, Result<BookLevels, String>);

impl Bitstamp {
    pub fn new(
        ws_url: &str,
        rest_url: &str,
        pairs: &[Pair],
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("rategate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Bitstamp {
            ws_url: ws_url.to_string(),
            rest_url: rest_url.trim_end_matches('/').to_string(),
            http,
            pairs: pairs.to_vec(),
            by_channel: pairs
                .iter()
                .map(|p| (wire::diff_channel(p), p.clone()))
                .collect(),
        })
    }

    fn fetch_snapshot(
        &self,
        pair: Pair,
    ) -> impl std::future::Future<Output = Snapshot> + Send + 'static {
        let url = format!(
            "{}/api/v2/order_book/{}",
            self.rest_url,
            wire::market(&pair)
        );
        let http = self.http.clone();
        async move {
            let body = async {
                let response = http.get(&url).send().await.map_err(|e| e.to_string())?;
                let response = response.error_for_status().map_err(|e| e.to_string())?;
                response.text().await.map_err(|e| e.to_string())
            };
            let levels = match body.await {
                Ok(text) => wire::parse_snapshot(&text).map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            (pair, levels)
        }
    }
}

impl Protocol for Bitstamp {
    type Session = HashMap<Pair, SyncedBook>;
    type Side = Snapshot;

    fn venue(&self) -> Venue {
        Venue::Bitstamp
    }

    fn url(&self) -> &str {
        &self.ws_url
    }

    fn open(&self, _feed: &Feed, _side: &mut JoinSet<Snapshot>) -> (Self::Session, Vec<String>) {
        let books = self
            .pairs
            .iter()
            .map(|p| (p.clone(), SyncedBook::default()))
            .collect();
        (
            books,
            self.pairs.iter().map(wire::subscribe_request).collect(),
        )
    }

    fn on_text(
        &self,
        books: &mut Self::Session,
        feed: &Feed,
        text: &str,
        side: &mut JoinSet<Snapshot>,
    ) -> Step {
        let event = match wire::parse(text) {
            Ok(e) => e,
            Err(e) => {
                bad_frame(Venue::Bitstamp, &e, text);
                return Step::default();
            }
        };
        match event {
            BitstampEvent::Diff { channel, diff } => {
                let Some(pair) = self.by_channel.get(channel.as_ref()) else {
                    return Step::default();
                };
                let Some(book) = books.get_mut(pair) else {
                    return Step::default();
                };
                book.diff(diff);
                if let Some(b) = book.book() {
                    feed.verified_book(Venue::Bitstamp, pair, b, false);
                }
                Step::data()
            }
            BitstampEvent::Subscribed { channel } => {
                if let Some(pair) = self.by_channel.get(channel.as_ref()) {
                    // The diffs are flowing: now the snapshot, so none falls between them.
                    side.spawn(self.fetch_snapshot(pair.clone()));
                }
                Step::alive()
            }
            BitstampEvent::ReconnectRequested => Step::end("bitstamp asked us to reconnect"),
            BitstampEvent::Error { message } => {
                feed.request_error(&format!("bitstamp: {message}"));
                Step::default()
            }
            BitstampEvent::Ignored { event } => Step {
                alive: event.as_deref() == Some("bts:heartbeat"),
                ..Step::default()
            },
        }
    }

    fn on_side(&self, books: &mut Self::Session, feed: &Feed, (pair, levels): Snapshot) -> Step {
        match levels {
            Ok(levels) => {
                if let Some(book) = books.get_mut(&pair) {
                    book.snapshot(levels);
                    if let Some(b) = book.book() {
                        feed.verified_book(Venue::Bitstamp, &pair, b, true);
                    }
                }
                Step::default()
            }
            Err(e) => Step::end(format!("bitstamp snapshot of {pair} failed: {e}")),
        }
    }

    fn keepalive(&self, _books: &mut Self::Session) -> Option<String> {
        Some(r#"{"event":"bts:heartbeat"}"#.to_string())
    }
}
