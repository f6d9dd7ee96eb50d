//! The chain client.
//!
//! Will hold (issue "`chain`"): gRPC queries over the stubs generated in
//! `protocol` (with deadlines, bounded retries and typed errors naming the
//! height), the CometBFT websocket block feed with gap backfill and a polling
//! fallback, and transaction building, signing and broadcasting with one task
//! owning each signing account and its sequence.
