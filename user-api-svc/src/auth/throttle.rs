//! Throttling of the unauthenticated, expensive endpoints (governor), all in memory on this
//! node:
//! - login attempts per (account, client IP): the tight limit an attacker guessing one
//!   account's password from one place meets first;
//! - login attempts per account from all sources together: a looser cap, so a botnet spreading
//!   guesses over many IPs is still bounded, while one attacker hammering an account from one
//!   IP cannot lock its owner (who comes from another IP) out;
//! - login attempts per client IP (across accounts: credential stuffing);
//! - registrations per client IP.
//!
//! Accounts are keyed by the submitted email whether or not it exists, so a 429 reveals nothing.
//! Every attempt counts; a legitimate user never needs more than a few per minute.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Attempts per minute allowed by each limiter.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleLimits {
    pub login_per_account_and_ip: u32,
    pub login_per_account: u32,
    pub login_per_ip: u32,
    pub register_per_ip: u32,
}

pub struct LoginThrottle {
    by_account_and_ip: DefaultKeyedRateLimiter<(String, IpAddr)>,
    by_account: DefaultKeyedRateLimiter<String>,
    by_ip: DefaultKeyedRateLimiter<IpAddr>,
    register_by_ip: DefaultKeyedRateLimiter<IpAddr>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

/// Seconds to wait, at least 1.
fn wait_secs(n: governor::NotUntil<<DefaultClock as Clock>::Instant>) -> u64 {
    n.wait_time_from(DefaultClock::default().now())
        .as_secs()
        .max(1)
}

impl LoginThrottle {
    pub fn new(limits: ThrottleLimits) -> LoginThrottle {
        LoginThrottle {
            by_account_and_ip: RateLimiter::keyed(per_minute(limits.login_per_account_and_ip)),
            by_account: RateLimiter::keyed(per_minute(limits.login_per_account)),
            by_ip: RateLimiter::keyed(per_minute(limits.login_per_ip)),
            register_by_ip: RateLimiter::keyed(per_minute(limits.register_per_ip)),
        }
    }

    /// Records a login attempt; `Err(seconds)` if it must wait.
    pub fn attempt(&self, email: &str, ip: IpAddr) -> Result<(), u64> {
        self.by_ip.check_key(&ip).map_err(wait_secs)?;
        self.by_account_and_ip
            .check_key(&(email.to_string(), ip))
            .map_err(wait_secs)?;
        self.by_account
            .check_key(&email.to_string())
            .map_err(wait_secs)?;
        Ok(())
    }

    /// Records a registration attempt; `Err(seconds)` if it must wait.
    pub fn register(&self, ip: IpAddr) -> Result<(), u64> {
        self.register_by_ip.check_key(&ip).map_err(wait_secs)
    }

    /// Drops idle keys; called by the purge job.
    pub fn shrink(&self) {
        self.by_account_and_ip.retain_recent();
        self.by_account.retain_recent();
        self.by_ip.retain_recent();
        self.register_by_ip.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ThrottleLimits {
        ThrottleLimits {
            login_per_account_and_ip: 3,
            login_per_account: 6,
            login_per_ip: 5,
            register_per_ip: 2,
        }
    }

    #[test]
    fn engages_per_account_and_source_and_per_ip() {
        let t = LoginThrottle::new(limits());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(t.attempt("a@x.io", ip).is_ok());
        }
        let wait = t.attempt("a@x.io", ip).unwrap_err();
        assert!(wait >= 1);
        // another account from the same IP still has IP budget left (5 − 4 used)
        assert!(t.attempt("b@x.io", ip).is_ok());
        assert!(t.attempt("c@x.io", ip).is_err(), "IP budget spent");
    }

    #[test]
    fn an_attacker_on_one_ip_does_not_lock_the_owner_out() {
        let t = LoginThrottle::new(limits());
        let attacker: IpAddr = "10.0.0.66".parse().unwrap();
        let owner: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..3 {
            assert!(t.attempt("a@x.io", attacker).is_ok());
        }
        assert!(t.attempt("a@x.io", attacker).is_err(), "attacker throttled");
        assert!(
            t.attempt("a@x.io", owner).is_ok(),
            "the owner, elsewhere, still logs in"
        );
    }

    #[test]
    fn many_sources_together_meet_the_account_wide_cap() {
        let t = LoginThrottle::new(limits());
        // The account-wide cap is 6; the per-source limit (3) never engages here.
        for i in 0..6 {
            let ip: IpAddr = format!("10.0.1.{i}").parse().unwrap();
            assert!(t.attempt("a@x.io", ip).is_ok(), "attempt {i}");
        }
        assert!(t.attempt("a@x.io", "10.0.1.99".parse().unwrap()).is_err());
    }

    #[test]
    fn registrations_are_limited_per_ip() {
        let t = LoginThrottle::new(limits());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(t.register(ip).is_ok());
        assert!(t.register(ip).is_ok());
        assert!(t.register(ip).is_err());
        assert!(t.register("10.0.0.2".parse().unwrap()).is_ok());
    }
}
