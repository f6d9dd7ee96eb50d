//! The Sparse Merkle Sum Trie used for claims and proofs, byte-compatible with
//! pokt-network/smt v0.14.1 as poktroll configures it.
