//! `FEED=sim`: a clearly labelled random walk (`source:"sim"`) for demos without internet.
//! It is never used unless asked for; the default feed is always the real exchange.

use std::time::Duration;

use chrono::Utc;
use common::bus::FeedState;
use common::shutdown::Shutdown;
use common::sim::RandomWalk;
use common::Pair;
use rand::SeedableRng;

use crate::connector::{BoxFuture, Connector};
use crate::feed::{Feed, Tick};

pub struct SimConnector {
    pairs: Vec<Pair>,
    /// Time between two ticks of one pair.
    interval: Duration,
}

impl SimConnector {
    pub fn new(pairs: Vec<Pair>, interval: Duration) -> Self {
        SimConnector { pairs, interval }
    }
}

impl Connector for SimConnector {
    fn source(&self) -> &'static str {
        "sim"
    }

    fn rest(&self) -> Option<std::sync::Arc<dyn crate::connector::ExchangeRest>> {
        None
    }

    fn run(self: Box<Self>, feed: Feed, shutdown: Shutdown) -> BoxFuture {
        Box::pin(async move {
            tracing::warn!("FEED=sim: publishing SIMULATED prices labelled source=\"sim\"");
            let mut rng = rand::rngs::SmallRng::from_os_rng();
            let mut walks: Vec<(Pair, RandomWalk)> = self
                .pairs
                .iter()
                .map(|p| (p.clone(), RandomWalk::for_symbol(p.as_str())))
                .collect();
            feed.connected();
            feed.exchange_state(FeedState::Online, None);
            for (pair, _) in &walks {
                feed.pair_acked(pair);
            }
            let mut every = tokio::time::interval(self.interval);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.wait() => break,
                    _ = every.tick() => {
                        for (pair, walk) in walks.iter_mut() {
                            let (bid, ask) = walk.step(&mut rng);
                            let _ = feed.tick(Tick {
                                pair: pair.clone(),
                                bid,
                                ask,
                                last: Some(bid),
                                exchange_ts: None,
                                received_at: Utc::now(),
                            });
                        }
                    }
                }
            }
            feed.disconnected("shutdown");
        })
    }
}
