//! [`AppState`]: what every handler and socket shares.

use std::ops::Deref;
use std::sync::Arc;

use common::Pair;

use crate::auth::throttle::LoginThrottle;
use crate::auth::tokens::TokenKeys;
use crate::config::Config;
use crate::rates::{RateHub, SpreadSet};
use crate::store::Store;

pub struct AppShared {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub keys: TokenKeys,
    pub throttle: LoginThrottle,
    /// Open Engine.IO sessions, counted against `SOCKET_SESSIONS_*`.
    pub sessions: crate::socket_sessions::SessionTable,
    /// Per-account quote and order budgets.
    pub budgets: crate::money::budget::AccountBudgets,
    /// Bounds concurrent password hashing (memory).
    pub hashing: crate::auth::password::HashGate,
    pub hub: Arc<RateHub>,
    /// Redis, or the in-process bus of the all-in-one binary.
    pub bus: Arc<dyn common::bus::Bus>,
    /// This node's id, so it can ignore its own spread-change announcements.
    pub node_id: String,
    /// This node's links to the other nodes (adapter, shared throttle, job claims).
    pub cluster: crate::cluster::Cluster,
    /// The Socket.IO server, set once it is built (it needs the state first).
    pub io: std::sync::OnceLock<crate::cluster::Io>,
    /// Decimal places per asset for totals and balances.
    pub precision: crate::money::AssetPrecision,
    /// The live-session read of every authenticated request, batched.
    pub session_check: crate::auth::SessionCheck,
    /// Quotes filed and orders placed, in group-commit batches.
    pub desk: crate::money::desk::Desk,
}

#[derive(Clone)]
pub struct AppState(pub Arc<AppShared>);

impl Deref for AppState {
    type Target = AppShared;
    fn deref(&self) -> &AppShared {
        &self.0
    }
}

impl AppState {
    /// The Socket.IO server (for private events to `user:{id}` rooms).
    pub fn io(&self) -> Option<&crate::cluster::Io> {
        self.io.get()
    }

    /// Reads spreads from the database (the source of truth) into the hub, which pushes the new
    /// prices to every client at once.
    pub async fn reload_spreads(&self) -> Result<(), crate::store::StoreError> {
        let rows = self.store.spreads().await?;
        let mut set = SpreadSet::default();
        for row in rows {
            if row.pair == crate::spreads::DEFAULT {
                set.default = Some(row.spread);
            } else if let Ok(pair) = Pair::parse(&row.pair) {
                set.pairs.insert(pair, row.spread);
            }
        }
        self.hub.set_spreads(set);
        Ok(())
    }

    /// Reads the admins' per-pair limits (maximum quote, ladder amounts) into the hub, which
    /// pushes the new ladders to every client.
    pub async fn reload_pair_limits(&self) -> Result<(), crate::store::StoreError> {
        let rows = self.store.pair_limits().await?;
        let mut max = std::collections::HashMap::new();
        let mut ladders = std::collections::HashMap::new();
        for row in rows {
            let Ok(pair) = Pair::parse(&row.pair) else {
                continue;
            };
            if let Some(m) = row.max_amount {
                max.insert(pair.clone(), m);
            }
            if let Some(l) = row.ladder {
                ladders.insert(pair, l);
            }
        }
        self.hub.set_limits(max, ladders);
        Ok(())
    }

    /// Tells the other nodes to reload spreads (best effort: they also reload on reconnect).
    pub async fn announce_spreads_changed(&self) {
        self.bus.announce_spreads_changed(&self.node_id).await;
    }
}
