//! The trading desk: filing a priced quote and placing an order, as domain functions the
//! HTTP handlers call. Both go through group-commit queues ([`crate::batch`]) so one database
//! commit serves every quote or order that arrives together; the order's `Idempotency-Key`
//! answer is written in the order's own transaction.
//!
//! One request per key runs at a time on a node: a second request with a key in flight here is
//! refused at once ([`PlaceError::InFlight`]). Across nodes, the key's primary key holds the
//! second until the first commits, and it then replays the first answer (`store::order_batch`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use common::Decimal;
use sha2::{Digest, Sha256};

use crate::batch::{BatchConfig, Batcher};
use crate::store::{
    per_job, Answer, Executed, Filed, NewQuote, OrderJob, OrderOutcome, QuoteJob, Store, StoreError,
};

/// How the edge answers an order's outcome; kept with the key for replays.
pub type Renderer = Arc<dyn Fn(&OrderOutcome) -> Answer + Send + Sync>;

/// Why an order was not executed now.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    /// The same key's request is executing right now.
    #[error("a request with this Idempotency-Key is in progress")]
    InFlight,
    /// The key was used before for another request.
    #[error("this Idempotency-Key was used for another request")]
    KeyReused,
    /// Nothing was committed: the same key may be retried.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How placing an order ended.
#[derive(Debug)]
pub enum Placed {
    /// Executed now: filled or refused, and recorded with its key.
    Done {
        outcome: OrderOutcome,
        answer: Answer,
    },
    /// Answered before under this key: the same answer again.
    Replay(Answer),
}

/// Why a quote was not filed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The owner cannot pay for it now.
    #[error("insufficient {0}")]
    Unaffordable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Batch<J, R> = Batcher<J, Result<R, StoreError>>;

/// The queues and this node's keys in flight.
pub struct Desk {
    quotes: Batch<QuoteJob, Filed>,
    orders: Batch<OrderJob, Executed>,
    in_flight: Mutex<HashSet<(u64, String)>>,
}

fn queue_gone() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!("the order queue has stopped"))
}

/// Removes a key from the in-flight set when its request ends, however it ends.
struct KeyTurn<'a> {
    desk: &'a Desk,
    id: (u64, String),
}

impl Drop for KeyTurn<'_> {
    fn drop(&mut self) {
        common::sync::lock(&self.desk.in_flight).remove(&self.id);
    }
}

impl Desk {
    /// Starts the quote and order queues on `store`; `render` answers each order's outcome.
    pub fn start(store: Arc<dyn Store>, config: BatchConfig, render: Renderer) -> Desk {
        let quote_store = Arc::clone(&store);
        let quotes = Batcher::start("quotes", config, move |jobs: Vec<QuoteJob>| {
            let store = Arc::clone(&quote_store);
            async move {
                let n = jobs.len();
                per_job(store.file_quotes(&jobs).await, n)
            }
        });
        let orders = Batcher::start("orders", config, move |jobs: Vec<OrderJob>| {
            let (store, render) = (Arc::clone(&store), Arc::clone(&render));
            async move {
                let n = jobs.len();
                let done = store.execute_orders(&jobs, Utc::now(), &*render).await;
                per_job(done, n)
            }
        });
        Desk {
            quotes,
            orders,
            in_flight: Mutex::new(HashSet::new()),
        }
    }

    /// Files a priced quote, refused if the owner cannot pay `pays` of `pays_asset` now (the
    /// order checks again inside its transaction: the balance may change in between).
    pub async fn file_quote(
        &self,
        quote: NewQuote,
        pays_asset: &str,
        pays: Decimal,
    ) -> Result<(), FileError> {
        let job = QuoteJob {
            quote,
            pays_asset: pays_asset.to_string(),
            pays,
        };
        match self.quotes.submit(job).await.ok_or_else(queue_gone)?? {
            Filed::Filed => Ok(()),
            Filed::Unaffordable => Err(FileError::Unaffordable(pays_asset.to_string())),
        }
    }

    /// Executes `quote_id` for `user_id` under `key`, at exactly the quote's price, once per
    /// key.
    pub async fn place(
        &self,
        user_id: u64,
        key: &str,
        quote_id: &str,
    ) -> Result<Placed, PlaceError> {
        let id = (user_id, key.to_string());
        if !common::sync::lock(&self.in_flight).insert(id.clone()) {
            return Err(PlaceError::InFlight);
        }
        let _turn = KeyTurn { desk: self, id };
        let job = OrderJob {
            user_id,
            quote_id: quote_id.to_string(),
            key: key.to_string(),
            hash: Sha256::digest(quote_id.as_bytes()).into(),
        };
        match self.orders.submit(job).await.ok_or_else(queue_gone)?? {
            Executed::Done { outcome, answer } => Ok(Placed::Done { outcome, answer }),
            Executed::Replay(answer) => Ok(Placed::Replay(answer)),
            Executed::KeyReused => Err(PlaceError::KeyReused),
            Executed::InFlight => Err(PlaceError::InFlight),
        }
    }
}
