//! Helpers of the root package's tests and benchmarks.

pub mod cluster;
