//! The root package's tests: the whole product as its users meet it, every part real except
//! the exchanges (replaced by kraken-mock over real WebSockets).
//!
//! Layout:
//! - [`chain`]: one gateway, the whole chain from the mock venue to HTTP and Socket.IO
//!   clients, on both shapes (the deployed services, and the all-in-one binary's library).
//! - [`cluster`]: scaled out as real processes: several API nodes and feeds on one Redis and
//!   one MariaDB, HAProxy in front, processes killed and restarted.
//!
//! - [`venues`]: three mock venues' books behind the price; a venue killed mid-session.
//! - [`orders`]: the order path killed with SIGKILL mid-batch: nothing partial, retries once.
//! - [`redis_cluster`]: the services on a real six-node Redis Cluster: rates, private events,
//!   feed takeover and a master's SIGKILL; fencing per slot.
//!
//! The process harness of `cluster` is `testkit::cluster`, shared with `benches/failover.rs`.

mod chain;
mod cluster;
mod orders;
mod redis_cluster;
mod venues;
