//! Pocket protocol types and pure functions, byte-compatible with poktroll.
//!
//! - [`pb`]: every protobuf message and gRPC service we use, compiled from our
//!   own `.proto` files (`proto/`). The gRPC client/server modules exist only
//!   with the `grpc` feature (they need tonic, hence tokio).
//! - [`relay`]: relay request/response with gogoproto's non-nullable `meta`,
//!   signable bytes and hashes, the mined relay and its hash, difficulty.
//! - [`session`]: header validation, the anchored session grid, windows,
//!   session ids, supplier selection weights.
//! - [`claim`]: roots, claimed uPOKT, the proof requirement, the relay meter.
//! - [`gorand`]: Go's `binary.Varint` and `math/rand` draws.
//! - [`address`]: `pokt` bech32 addresses.
//!
//! Invariants: no I/O, no clock, no async; decoding untrusted bytes never
//! panics; everything hashed is produced by the canonical encoder (gogoproto
//! rules: ascending fields, defaults omitted, non-nullable messages always
//! written, unknown fields dropped), never taken from the wire.

/// Types generated from `proto/` (one module per protobuf package).
#[allow(
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    missing_docs,
    rust_2018_idioms
)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/generated.rs"));
}

pub mod address;
pub mod claim;
mod error;
pub mod gorand;
pub mod relay;
pub mod ring;
pub mod session;
pub mod uint;

pub use error::{Error, Result};
pub use relay::{RelayRequest, RelayResponse, SessionHeader};

/// Type URL of `MsgCreateClaim` inside a transaction's `Any`.
pub const MSG_CREATE_CLAIM_TYPE_URL: &str = "/pocket.proof.MsgCreateClaim";
/// Type URL of `MsgSubmitProof` inside a transaction's `Any`.
pub const MSG_SUBMIT_PROOF_TYPE_URL: &str = "/pocket.proof.MsgSubmitProof";
/// Type URL of a secp256k1 public key inside an `Any`.
pub const SECP256K1_PUBKEY_TYPE_URL: &str = "/cosmos.crypto.secp256k1.PubKey";
/// Type URL of a base account inside an `Any`.
pub const BASE_ACCOUNT_TYPE_URL: &str = "/cosmos.auth.v1beta1.BaseAccount";
/// Staking and fee denomination.
pub const DENOM: &str = "upokt";
