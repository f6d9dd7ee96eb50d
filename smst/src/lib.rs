//! The Sparse Merkle Sum Trie used for claims and proofs, byte-compatible with
//! pokt-network/smt v0.14.1 as poktroll configures it (protocol/smst.md).
//!
//! Pipeline, in the order a session uses it:
//! - [`Digest`], [`Path`], [`leaf_digest`], [`inner_digest`]: paths
//!   (`sha256(key)`), node digests and the 48-byte root `digest ‖ sum ‖ count`.
//! - [`LeafStore`]: where a session's leaves live ([`LeafSet`] in memory; a
//!   Redis implementation lives in the `store` crate).
//! - [`SealedTrie`]: root and closest proofs computed in bulk from the leaves
//!   (the root depends only on the set of leaves); what the miner uses.
//! - [`Trie`]: an incremental in-memory trie with Go's exact node structure,
//!   whose proofs match Go's byte for byte even after deletes.
//! - [`ClosestProof`] → [`CompactClosestProof`] → gob bytes
//!   ([`CompactClosestProof::to_gob`]), and back: [`verify_proof_bytes`] runs
//!   the chain's decode → decompact → verify pipeline.
//!
//! The crate is pure: no I/O, no clock, no async.

#![warn(missing_docs)]

mod digest;
mod error;
mod gob;
mod proof;
mod sealed;
mod store;
mod trie;

pub use digest::{
    DIGEST_LEN, Digest, MAX_DEPTH, PATH_LEN, Path, inner_digest, leaf_digest, leaf_hash,
    leaf_value, path_for_key, path_for_proof, sha256,
};
pub use error::{Error, ProofStage};
pub use gob::{MAX_LIST_LEN, MAX_PROOF_BYTES};
pub use proof::{ClosestProof, CompactClosestProof, CompactProof, verify_proof_bytes};
pub use sealed::{CACHE_MIN_LEAVES, SealedTrie};
pub use store::{Leaf, LeafEntry, LeafSet, LeafStore};
pub use trie::Trie;
