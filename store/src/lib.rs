//! Everything Redis, and the only place a Redis key is spelled.
//!
//! - [`config`]: connection settings (standalone, Sentinel, Cluster, TLS).
//! - [`connect_pool`], [`connect_client`], [`connect_subscriber`], [`probe`]:
//!   connections and the start-up probe (server version, `XACKDEL`).
//! - [`keys`]: the key schema under a namespace, with `{supplier}` hash tags;
//!   `docs/redis-keys.md` is generated from it and checked by a test.
//! - [`streams`]: relay streams (publish, consume, reclaim, ack+delete).
//! - [`lease`]: leases with fencing tokens, for the leader and per supplier.
//! - [`leaves`]: the session leaf store, with fenced idempotent writes.
//! - `testing` (feature): a real `redis-server` for tests.
//!
//! Invariants: a stream entry is acknowledged only by the caller, after its
//! relay is durable; entries a dead consumer left pending are reclaimed
//! (XAUTOCLAIM); writes to a supplier's trees are refused once its lease is
//! lost. Works on Redis 7.0+ and Valkey (XACK+XDEL where XACKDEL is missing).

mod client;
pub mod config;
mod error;
pub mod keys;
pub mod lease;
pub mod leaves;
pub mod streams;
#[cfg(feature = "testing")]
pub mod testing;

pub use client::{ServerInfo, connect_client, connect_pool, connect_subscriber, probe, redact};
pub use config::RedisConfig;
pub use error::{Error, Result};
pub use keys::Keys;
pub use protocol::pb::relayminer::v1::MinedRelay;
