//! bLSAG ring signatures over secp256k1, byte-compatible with ring-go (go-dleq
//! decred backend, including the left-aligned hash-to-scalar quirk), and the
//! supplier's secp256k1 ECDSA response signatures.
//!
//! The normative description is `protocol/signatures.md` (§2 ring membership,
//! §3 bLSAG, §4 response signatures); the conformance data made with ring-go
//! and cosmos-sdk lives in `vectors/` and is checked by this crate's tests.
//!
//! # Relay requests (ring signatures)
//!
//! A relayer checks a request with one call:
//!
//! ```
//! # fn main() -> Result<(), rings::Error> {
//! # let app = rings::PrivateKey::from_bytes(&[1; 32])?;
//! # let gateway = rings::PrivateKey::from_bytes(&[2; 32])?;
//! # let msg = [7u8; 32];
//! let ring = [app.public_key(), gateway.public_key()];
//! let signature = rings::RingSignature::sign(&msg, &ring, &gateway)?.to_bytes();
//!
//! let cache = rings::KeyCache::default(); // shared by all requests
//! rings::verify_ring_signature(&signature, &msg, &ring, Some(&cache))?;
//! # Ok(())
//! # }
//! ```
//!
//! `msg` is the SHA-256 of the request's signable bytes (computed by the
//! `protocol` crate); the expected ring is the application's and its gateways'
//! keys at the session end height.
//!
//! # Edge cases: what is accepted
//!
//! The conformance vectors record ring-go 782cc69's verdicts. This crate
//! follows them except for one deliberate choice:
//!
//! - **Ring size 1 is rejected** with [`Error::RingSize`] (ring-go 782cc69
//!   accepts a hand-built 1-member signature; the vectors' `ring_size_one`
//!   case). signatures.md §3.7 recommends rejecting `n < 2`; ring-go's own
//!   signer refuses `n < 2`, PATH never builds such a ring, and a later ring-go
//!   `Deserialize` (pokt-network/ring-go 17b357c, `serde.go`) rejects sizes
//!   below 2 as well. Accepting a relay the chain might reject risks a claim;
//!   rejecting one it might accept costs a single relay. Rings larger than
//!   [`MAX_RING_SIZE`] (64) are rejected too (ring-go has no upper bound).
//! - **Duplicate members are accepted** (`[P, P]`, as ring-go does): PATH signs
//!   with `[app, app]` when an application has no gateways.
//! - **Bytes after the last member are ignored**, as ring-go does.
//! - **Scalars are reduced mod N silently** (an `s` written as `s + N` is
//!   accepted), as go-dleq does.
//! - Uncompressed (65-byte) keys, bad prefixes, `x ≥ p`, off-curve points and
//!   truncated input are rejected, as ring-go rejects them. Nothing panics on
//!   any input.
//!
//! # Relay responses (supplier ECDSA)
//!
//! [`PrivateKey::sign_response`] and [`verify_response`] implement cosmos-sdk
//! `secp256k1` signing over the response's signable hash: ECDSA digest
//! `SHA-256(msg)`, RFC 6979 nonces, 64-byte `r ‖ s`, low-S.
//!
//! # Purity
//!
//! No I/O except reading OS randomness for ring-signature nonces; no clock; no
//! async runtime.

#![warn(missing_docs)]

mod cache;
mod error;
mod keys;
mod primitives;
mod response;
mod ring;
mod table;
#[doc(hidden)]
pub mod testing;

pub use cache::KeyCache;
pub use error::Error;
pub use keys::PrivateKey;
pub use primitives::{hash_to_point, hash_to_scalar};
pub use response::verify_response;
pub use ring::{MAX_RING_SIZE, MIN_RING_SIZE, RingSignature, verify_ring_signature};
