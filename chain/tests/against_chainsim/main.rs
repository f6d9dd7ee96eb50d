//! Integration tests of the chain client against an in-process chainsim on
//! loopback ports.

// Test helpers outside #[test] functions unwrap too (clippy.toml only
// exempts the test functions themselves).
#![allow(clippy::unwrap_used)]

mod block_feed;
mod queries;
mod support;
mod transactions;
