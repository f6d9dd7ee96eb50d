//! The three-level cache in front of the chain.
//!
//! Will hold (issue "`store` and `cache`"): L1 in-process lock-free maps, L2
//! Redis, L3 chain queries, for applications, rings, sessions, services,
//! parameters and suppliers, with pub/sub invalidation, single-flight on miss,
//! and the block height feed the relayer reads.
