//! Coinbase Advanced Trade as a [`Protocol`]: `level2` and `heartbeats` for every pair (one
//! channel per subscribe message, as Coinbase requires), books kept per product, and a
//! `sequence_num` gap ends the session so the next one starts from a new snapshot.

use std::collections::HashMap;

use common::book::Venue;
use common::Pair;
use tokio::task::JoinSet;

use super::wire::{self, CoinbaseEvent};
use super::Books;
use crate::feed::Feed;
use crate::venues::session::{bad_frame, Protocol, Step};

/// The public Advanced Trade market-data endpoint.
pub const DEFAULT_WS_URL: &str = "wss://advanced-trade-ws.coinbase.com";

pub struct Coinbase {
    url: String,
    pairs: Vec<Pair>,
    by_product: HashMap<String, Pair>,
}

impl Coinbase {
    pub fn new(url: &str, pairs: &[Pair]) -> Self {
        Coinbase {
            url: url.to_string(),
            pairs: pairs.to_vec(),
            by_product: pairs
                .iter()
                .map(|p| (wire::product_id(p), p.clone()))
                .collect(),
        }
    }

    /// The subscribe request for one channel over every pair.
    pub fn subscribe_request(&self, channel: &str) -> String {
        let products: Vec<String> = self.pairs.iter().map(wire::product_id).collect();
        serde_json::json!({"type": "subscribe", "product_ids": products, "channel": channel})
            .to_string()
    }
}

impl Protocol for Coinbase {
    type Session = Books;
    type Side = ();

    fn venue(&self) -> Venue {
        Venue::Coinbase
    }

    fn url(&self) -> &str {
        &self.url
    }

    fn open(&self, _feed: &Feed, _side: &mut JoinSet<()>) -> (Books, Vec<String>) {
        let requests = vec![
            self.subscribe_request("heartbeats"),
            self.subscribe_request("level2"),
        ];
        (Books::default(), requests)
    }

    fn on_text(&self, books: &mut Books, feed: &Feed, text: &str, _: &mut JoinSet<()>) -> Step {
        let event = match wire::parse(text) {
            Ok(e) => e,
            Err(e) => {
                bad_frame(Venue::Coinbase, &e, text);
                return Step::default();
            }
        };
        if let Err(gap) = books.apply(&event) {
            // Ending the session takes Coinbase's books out of the price (the loop's
            // `venue_down`); the next session's snapshot brings them back.
            feed.books().sequence_gap(Venue::Coinbase);
            return Step::end(format!("coinbase {gap}: a new snapshot is needed"));
        }
        match event {
            CoinbaseEvent::L2 { events, .. } => {
                for e in &events {
                    let (Some(pair), Some(book)) = (
                        self.by_product.get(e.product_id.as_ref()),
                        books.book(&e.product_id),
                    ) else {
                        continue;
                    };
                    feed.verified_book(Venue::Coinbase, pair, book, e.snapshot);
                }
                Step::data()
            }
            CoinbaseEvent::Heartbeat { .. } | CoinbaseEvent::Subscriptions { .. } => Step::alive(),
            CoinbaseEvent::Error { message } => {
                feed.request_error(&format!("coinbase: {message}"));
                Step::default()
            }
            CoinbaseEvent::Ignored { .. } => Step::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_subscribe_per_channel_with_every_product() {
        let c = Coinbase::new(
            DEFAULT_WS_URL,
            &Pair::parse_list("BTC/USD,ETH/USD").unwrap(),
        );
        let req: serde_json::Value = serde_json::from_str(&c.subscribe_request("level2")).unwrap();
        assert_eq!(
            req,
            serde_json::json!({"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channel":"level2"})
        );
    }
}
