//! The miner: from relay streams to claims and proofs that get paid.
//!
//! - [`lifecycle`]: the session state machine (pure, driven by heights).
//! - [`tree`]: session trees kept as leaves in Redis; sealed tries, closest
//!   proofs verified locally before they are sent.
//! - [`ingest`]: relay stream → fenced idempotent leaf writes → ack.
//! - [`runner`]: one supplier's sessions, block by block: claims, proofs,
//!   inclusion, settlement; its JSON status.
//! - [`supervisor`]: leases per supplier, balanced across replicas.
//! - [`leader`]: the global leader (blocks to Redis, cache refresh).
//! - [`settlement`]: settlement outcomes from block results.
//! - [`metrics`]: Prometheus metrics.
//!
//! Invariants: only the owner of a supplier's lease mutates its trees or
//! submits its transactions, every such write fenced by the lease token; a
//! stream entry is acknowledged only after its relay is durable; a session is
//! sealed when its claim root is computed and its proof is built from exactly
//! the sealed leaf set.

mod error;
pub mod ingest;
pub mod leader;
pub mod lifecycle;
pub mod metrics;
pub mod runner;
pub mod session;
pub mod settlement;
pub mod supervisor;
pub mod tree;

pub use error::{Error, Result};
