//! user-api-svc's API tests: one test binary (one link, one build of the support code), a
//! module per area, each test run on both backends ([`on_both_backends!`]).
//!
//! - `auth`: accounts, sessions, two-factor sign-in, throttling.
//! - `spreads`: admin spreads and the rates they price.
//! - `money`: quotes, orders, balances, the ledger, deposits.
//! - `depth`: quotes for size against the consolidated book, the ladder, `/api/book`.
//! - `candles`: price history.
//! - `sockets`: Socket.IO delivery, subscriptions, private events.
//! - `hardening`: what an attacker tries, from outside.
//! - `support`: the app on port 0, the fake feed, clients.

#[macro_use]
mod support;

mod auth;
mod candles;
mod depth;
mod hardening;
mod money;
mod sockets;
mod spreads;
