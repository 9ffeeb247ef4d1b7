//! One folder per venue, each with its wire types and what keeps its L2 book in sync.
//!
//! - [`kraken`]: WebSocket v2 (`ticker` for the live rate today; `book` with its CRC32
//!   checksum), REST `AssetPairs`/`Ticker`; the only venue connected so far.
//! - [`coinbase`]: Advanced Trade `level2` + `heartbeats` frames and the per-connection
//!   `sequence_num` check.
//! - [`bitstamp`]: v2 `diff_order_book_{pair}` diffs, the REST snapshot, and the rule that
//!   joins them (diffs older than the snapshot are dropped).
//!
//! Every book is a [`common::book::Book`]: exact `Decimal` levels parsed from the wire's text.

pub mod bitstamp;
pub mod coinbase;
pub mod kraken;
