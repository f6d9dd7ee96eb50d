//! The miner: from relay streams to claims and proofs that get paid.
//!
//! Will hold (issue "`miner`"): stream consumption with de-duplication, the
//! per-session Sparse Merkle Sum Trie kept in Redis, the session lifecycle state
//! machine (a pure core), claim and proof building and submission, the
//! inclusion reconciler, and the leader and per-supplier leases.
//!
//! Invariant: only the owner of a supplier's lease mutates its trees or submits
//! its transactions, and every such write is fenced by the lease token.
