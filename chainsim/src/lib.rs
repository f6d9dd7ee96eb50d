//! A protocol-faithful simulator of the poktroll chain.
//!
//! Will hold (issue "`chainsim`"): a genesis YAML loader, timed block
//! production with deterministic hashes, the real session grid, session id and
//! supplier selection, the gRPC query and tx services and CometBFT JSON-RPC the
//! relayer and miner use, claim and proof verification with `rings` and `smst`,
//! settlement, and a JSON report of outcomes for tests.
