//! Hooks for conformance tests and tools. Not part of the supported API: these
//! expose intermediate values of the scheme and a signer with caller-chosen
//! nonces, which must never be used for real signatures.

use crate::{
    Error, PrivateKey, RingSignature,
    primitives::{self, decode_scalar},
    ring,
};

/// One step of the verifier's challenge chain, all values encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainStep {
    /// `L_i = s_i·G + c_i·P_i`, compressed.
    pub l: [u8; 33],
    /// `R_i = s_i·Hp(P_i) + c_i·I`, compressed.
    pub r: [u8; 33],
    /// `c_{i+1} = C(m, L_i, R_i)`, 32 bytes big-endian.
    pub challenge: [u8; 32],
}

/// The challenge chain the verifier recomputes for `signature` over `msg`.
///
/// # Errors
/// [`Error::HashToCurve`] (probability about 2^-128).
pub fn challenge_chain(signature: &RingSignature, msg: &[u8; 32]) -> Result<Vec<ChainStep>, Error> {
    let mut steps = Vec::with_capacity(signature.ring_size());
    signature.verify_traced(msg, |l, r, c| {
        steps.push(ChainStep {
            l: *l,
            r: *r,
            challenge: c.to_bytes().into(),
        });
    })?;
    Ok(steps)
}

/// Verifies `signature` the way a port *without* ring-go's left-align quirk
/// would: the challenge is `SHA3-512(m ‖ L ‖ R) mod N` as a plain
/// big-endian scalar. The negative control of the conformance tests: it must
/// reject exactly the vector signatures whose chain hits a short reduction.
///
/// # Errors
/// [`Error::HashToCurve`] (probability about 2^-128).
pub fn verifies_without_the_quirk(
    signature: &RingSignature,
    msg: &[u8; 32],
) -> Result<bool, Error> {
    fn canonical(msg: &[u8; 32], l: &[u8; 33], r: &[u8; 33]) -> k256::Scalar {
        use k256::elliptic_curve::ops::Reduce;
        use sha3::{Digest, Sha3_512};
        let wide = Sha3_512::new()
            .chain_update(msg)
            .chain_update(l)
            .chain_update(r)
            .finalize();
        <k256::Scalar as Reduce<k256::WideBytes>>::reduce(&wide)
    }
    signature.verify_traced_with(msg, canonical, |_, _, _| {})
}

/// `C(m, L, R)` over already-encoded points.
#[must_use]
pub fn challenge(msg: &[u8; 32], l: &[u8; 33], r: &[u8; 33]) -> [u8; 32] {
    primitives::challenge(msg, l, r).to_bytes().into()
}

/// `Hp`'s try-and-increment over arbitrary bytes — for showing that hashing a
/// wrong encoding (e.g. the 65-byte uncompressed key) gives another point.
///
/// # Errors
/// [`Error::HashToCurve`] (probability about 2^-128).
pub fn hash_to_point_over_bytes(bytes: &[u8]) -> Result<[u8; 33], Error> {
    primitives::hp_over_bytes(bytes).map(|p| primitives::encode_point(&p))
}

/// Deterministic signer: `nonces` replaces the CSPRNG and is consumed in
/// ring-go's order (`u`, then `s[(j+1) mod n]`, `s[(j+2) mod n]`, …), each
/// 32-byte value reduced mod N as go-dleq does. The signer sits at
/// `signer_index`.
///
/// # Errors
/// As [`RingSignature::sign`]; [`Error::Randomness`] when `nonces` runs out.
pub fn sign_with_nonces(
    msg: &[u8; 32],
    ring: &[[u8; 33]],
    signer: &PrivateKey,
    signer_index: usize,
    nonces: &[[u8; 32]],
) -> Result<RingSignature, Error> {
    let mut nonces = nonces.iter();
    ring::sign_with_nonces(msg, ring, signer, Some(signer_index), || {
        nonces.next().map(decode_scalar).ok_or(Error::Randomness)
    })
}
