//! Login throttling (governor): attempts per account (keyed by the submitted email, whether or
//! not it exists, so a 429 reveals nothing) and per client IP. Every attempt counts; a legitimate
//! user never needs more than a few per minute.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct LoginThrottle {
    by_account: DefaultKeyedRateLimiter<String>,
    by_ip: DefaultKeyedRateLimiter<IpAddr>,
}

impl LoginThrottle {
    pub fn new(per_account_per_min: u32, per_ip_per_min: u32) -> LoginThrottle {
        let quota =
            |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        LoginThrottle {
            by_account: RateLimiter::keyed(quota(per_account_per_min)),
            by_ip: RateLimiter::keyed(quota(per_ip_per_min)),
        }
    }

    /// Records an attempt; `Err(seconds)` if it must wait.
    pub fn attempt(&self, email: &str, ip: IpAddr) -> Result<(), u64> {
        let now = DefaultClock::default().now();
        let wait = |n: governor::NotUntil<_>| n.wait_time_from(now).as_secs().max(1);
        self.by_ip.check_key(&ip).map_err(wait)?;
        self.by_account
            .check_key(&email.to_string())
            .map_err(wait)?;
        Ok(())
    }

    /// Drops idle keys; called by the purge job.
    pub fn shrink(&self) {
        self.by_account.retain_recent();
        self.by_ip.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engages_per_account_and_per_ip() {
        let t = LoginThrottle::new(3, 5);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(t.attempt("a@x.io", ip).is_ok());
        }
        let wait = t.attempt("a@x.io", ip).unwrap_err();
        assert!(wait >= 1);
        // another account from the same IP still has IP budget left (5 − 4 used)
        assert!(t.attempt("b@x.io", ip).is_ok());
        assert!(t.attempt("c@x.io", ip).is_err(), "IP budget spent");
        // the same account from another IP is still throttled
        assert!(t.attempt("a@x.io", "10.0.0.2".parse().unwrap()).is_err());
    }
}
