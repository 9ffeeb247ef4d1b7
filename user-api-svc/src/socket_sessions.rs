//! The Engine.IO sessions open now, counted in all and per client address: a place for each
//! ([`SessionSlot`], given back when dropped) or why not ([`Refused`]). Plain counting; the
//! HTTP middleware that asks for a place is `http::socket_admission`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Sessions allowed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    pub total: usize,
    pub per_ip: usize,
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// The open sessions, counted.
#[derive(Clone, Default)]
pub struct SessionTable(Arc<Mutex<Counts>>);

/// One open session's place; given back when dropped.
pub struct SessionSlot {
    table: SessionTable,
    ip: IpAddr,
}

/// Why a handshake was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    TooManyFromAddress,
    Full,
}

impl SessionTable {
    /// A place for one more session from `ip`, or why not.
    pub fn admit(&self, ip: IpAddr, limits: SessionLimits) -> Result<SessionSlot, Refused> {
        let mut counts = common::sync::lock(&self.0);
        if counts.total >= limits.total {
            return Err(Refused::Full);
        }
        let from_ip = counts.by_ip.entry(ip).or_insert(0);
        if *from_ip >= limits.per_ip {
            return Err(Refused::TooManyFromAddress);
        }
        *from_ip += 1;
        counts.total += 1;
        metrics::gauge!("rategate_socket_sessions").set(counts.total as f64);
        Ok(SessionSlot {
            table: self.clone(),
            ip,
        })
    }

    /// Sessions open now.
    pub fn open(&self) -> usize {
        common::sync::lock(&self.0).total
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut counts = common::sync::lock(&self.table.0);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.by_ip.remove(&self.ip);
            }
        }
        metrics::gauge!("rategate_socket_sessions").set(counts.total as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_in_all_and_per_address_and_given_back() {
        let table = SessionTable::default();
        let limits = SessionLimits {
            total: 3,
            per_ip: 2,
        };
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = table.admit(a, limits).unwrap();
        let _second = table.admit(a, limits).unwrap();
        assert_eq!(
            table.admit(a, limits).err(),
            Some(Refused::TooManyFromAddress)
        );
        let _third = table.admit(b, limits).unwrap();
        assert_eq!(table.admit(b, limits).err(), Some(Refused::Full));
        assert_eq!(table.open(), 3);
        drop(first);
        assert_eq!(table.open(), 2);
        assert!(
            table.admit(a, limits).is_ok(),
            "a closed session frees its place"
        );
    }
}
