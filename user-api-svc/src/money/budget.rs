//! Per-account budgets for quotes and orders: one trader cannot crowd out the others, nor fill
//! the database with quotes and idempotency records.
//!
//! Each account has a bucket per kind (GCRA: `per_second` sustained, `burst` at once), shared
//! by every node through Redis like the login throttle (`auth::throttle`), or in memory in the
//! all-in-one binary; if Redis cannot answer, this node's own buckets apply meanwhile. A request
//! over the budget is refused with 429 and `Retry-After` before it touches the database.

use std::num::NonZeroU32;

use common::bus::BusKeys;
use fred::prelude::Client;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::throttle::SharedBuckets;

/// One kind's budget per account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub per_second: u32,
    pub burst: u32,
}

impl Budget {
    fn quota(self) -> Quota {
        let nz = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        Quota::per_second(nz(self.per_second)).allow_burst(nz(self.burst))
    }
    /// Milliseconds between two requests at the sustained rate, and the span of the burst.
    fn gcra_ms(self) -> (u64, u64) {
        let interval = (1000 / u64::from(self.per_second.max(1))).max(1);
        (interval, interval * u64::from(self.burst.max(1)))
    }
}

/// What a budget is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Quotes,
    Orders,
}

/// [`Kind`]s as constants, for the `auth::Trader` extractor's type parameter.
pub const QUOTES: u8 = 0;
pub const ORDERS: u8 = 1;

impl Kind {
    pub fn from_code(code: u8) -> Kind {
        if code == ORDERS {
            Kind::Orders
        } else {
            Kind::Quotes
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Quotes => "quotes",
            Kind::Orders => "orders",
        }
    }
}

pub struct AccountBudgets {
    quotes: Budget,
    orders: Budget,
    local_quotes: DefaultKeyedRateLimiter<u64>,
    local_orders: DefaultKeyedRateLimiter<u64>,
    shared: Option<SharedBuckets>,
}

impl AccountBudgets {
    /// In-process buckets only.
    pub fn new(quotes: Budget, orders: Budget) -> AccountBudgets {
        AccountBudgets {
            quotes,
            orders,
            local_quotes: RateLimiter::keyed(quotes.quota()),
            local_orders: RateLimiter::keyed(orders.quota()),
            shared: None,
        }
    }

    /// Buckets every node on `client` shares under `keys`' prefix.
    pub fn shared(quotes: Budget, orders: Budget, client: Client, keys: BusKeys) -> AccountBudgets {
        AccountBudgets {
            shared: Some(SharedBuckets::new(client, keys)),
            ..AccountBudgets::new(quotes, orders)
        }
    }

    /// Spends one of `user`'s `kind`; `Err(seconds)` to wait when the budget is spent.
    pub async fn spend(&self, kind: Kind, user: u64) -> Result<(), u64> {
        let (budget, local) = match kind {
            Kind::Quotes => (self.quotes, &self.local_quotes),
            Kind::Orders => (self.orders, &self.local_orders),
        };
        if let Some(shared) = &self.shared {
            let (interval, period) = budget.gcra_ms();
            let bucket = [(format!("{}:{user}", kind.as_str()), interval)];
            match shared.check_gcra(&bucket, period).await {
                Ok(verdict) => return verdict,
                Err(e) => {
                    metrics::counter!("rategate_throttle_fallbacks_total").increment(1);
                    tracing::warn!(error = %e, "shared budgets unavailable; this node's own apply");
                }
            }
        }
        local.check_key(&user).map_err(|n| {
            n.wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1)
        })
    }

    /// Drops idle in-memory keys (the purge job calls it; Redis keys expire on their own).
    pub fn shrink(&self) {
        self.local_quotes.retain_recent();
        self.local_orders.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIGHT: Budget = Budget {
        per_second: 1,
        burst: 3,
    };

    async fn spends_the_burst_then_waits(b: AccountBudgets) {
        for _ in 0..3 {
            assert!(b.spend(Kind::Quotes, 7).await.is_ok());
        }
        assert_eq!(b.spend(Kind::Quotes, 7).await, Err(1));
        // Another account, and another kind, have budgets of their own.
        assert!(b.spend(Kind::Quotes, 8).await.is_ok());
        assert!(b.spend(Kind::Orders, 7).await.is_ok());
    }

    #[tokio::test]
    async fn in_memory() {
        spends_the_burst_then_waits(AccountBudgets::new(TIGHT, TIGHT)).await;
    }

    #[tokio::test]
    async fn in_redis_shared_by_two_nodes() {
        let prefix = format!("test-budget-{}:", uuid::Uuid::new_v4());
        let node = || async {
            AccountBudgets::shared(
                TIGHT,
                TIGHT,
                testkit::services::redis().await,
                BusKeys::new(&prefix),
            )
        };
        spends_the_burst_then_waits(node().await).await;
        // The second node sees the first one's spending.
        let other = node().await;
        assert!(other.spend(Kind::Quotes, 7).await.is_err());
        assert!(other.spend(Kind::Orders, 7).await.is_ok());
    }
}
