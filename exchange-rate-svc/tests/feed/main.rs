//! exchange-rate-svc's tests against a mock Kraken over a real WebSocket: one test binary, a
//! module per bus or concern.
//!
//! - `redis`: the feed to the real Redis (a key prefix per test): decimals, status, faults,
//!   reconnects, HTTP.
//! - `memory_bus`: the same feed to the in-process bus of the all-in-one binary.
//! - `failover`: two real `exchange-rate-svc` processes, one leader, kill -9 and SIGSTOP.
//! - `venues`: the real binary on mock Kraken, Coinbase and Bitstamp: one consolidated price,
//!   venue failover, exclusion, sequence gaps.
//! - `support`: the environment, the mock, waiting.

mod support;

mod failover;
mod memory_bus;
mod redis;
mod venues;
