//! Helpers shared by the test suites (dev-dependency only).
//!
//! - [`services`]: connections to the real Redis and MariaDB, failing loudly with a message
//!   that says how to start them; never a skip.
//! - [`wait`]: polling and receiving with deadlines, so tests wait for behaviour, not sleeps.
//! - [`proxy`]: a TCP proxy that makes a real dependency vanish at an exact moment.
//! - [`http`]: the API as tests call it ([`http::Api`]: the verbs, and a trader's journey:
//!   register, fund, set a spread, quote, order), a page as text, a free port.
//! - [`process`]: our binaries, a private redis-server and HAProxy as real processes.
//! - [`bench`](mod@bench): the benchmarks' pairs and CPU accounting.
//! - [`bus`]: messages for tests that write the bus themselves.
//! - [`cluster`]: a scaled-out rategate (mock venue, N feeds, M API nodes) as real processes.
//! - [`redis_cluster`]: a real six-node Redis Cluster of the test's own processes.
//! - [`spellings`]: look-alike characters reported against the live binary.
//! - [`d`]: a decimal from its text, for test data.
//! - [`sio`]: real Socket.IO clients (npm `socket.io-client` under Node, python-socketio)
//!   driven over stdio.

pub mod bench;
pub mod bus;
pub mod cluster;
pub mod http;
pub mod process;
pub mod proxy;
pub mod redis_cluster;
pub mod services;
pub mod sio;
pub mod spellings;
pub mod wait;

pub use proxy::TcpProxy;
pub use sio::SioClient;
pub use wait::{eventually, recv_until};

/// A decimal from its text, for test data: `d("97000.1")`. Panics on anything else.
pub fn d(s: &str) -> common::Decimal {
    s.parse()
        .unwrap_or_else(|e| panic!("{s:?} is not a decimal: {e}"))
}
