//! Supplier operator signatures on `RelayResponse` (signatures.md §4): cosmos-sdk
//! `secp256k1.PrivKey.Sign` / `PubKey.VerifySignature` over the response's
//! signable hash.
//!
//! The caller computes `msg = SHA-256(signable bytes)`; cosmos hashes its input
//! once more, so the ECDSA digest (and the RFC 6979 nonce input) is
//! `SHA-256(msg)`. Signatures are `r ‖ s`, 32 bytes each, big-endian, low-S.

use k256::{
    ecdsa::{
        Signature, VerifyingKey,
        signature::hazmat::{PrehashSigner, PrehashVerifier},
    },
    elliptic_curve::scalar::IsHigh,
};
use sha2::{Digest, Sha256};

use crate::{Error, PrivateKey, primitives};

impl PrivateKey {
    /// Signs a relay response: `msg` is the 32-byte SHA-256 of the response's
    /// signable bytes. Deterministic (RFC 6979 over `SHA-256(msg)`), low-S,
    /// byte-identical to cosmos-sdk / decred for the same key and `msg`.
    ///
    /// # Errors
    /// None in practice: RFC 6979 retries internally; an error from the ECDSA
    /// backend is reported as [`Error::InvalidPrivateKey`].
    pub fn sign_response(&self, msg: &[u8; 32]) -> Result<[u8; 64], Error> {
        let digest = Sha256::digest(msg);
        let signature: Signature = self
            .signing_key()
            .sign_prehash(&digest)
            .map_err(|_| Error::InvalidPrivateKey)?;
        Ok(signature.to_bytes().into())
    }
}

/// Verifies a supplier's response signature as cosmos-sdk
/// `secp256k1.PubKey.VerifySignature(msg, signature)` does (PATH and the chain):
/// exactly 64 bytes; `r` and `s` read big-endian mod N; `s > N/2` rejected;
/// ECDSA verification of `SHA-256(msg)` under `public_key`.
///
/// # Errors
/// [`Error::SignatureLength`], [`Error::HighS`], [`Error::InvalidPublicKey`] or
/// [`Error::SupplierVerify`] (which includes `r = 0` or `s = 0`).
pub fn verify_response(
    public_key: &[u8; 33],
    msg: &[u8; 32],
    signature: &[u8],
) -> Result<(), Error> {
    let bytes: &[u8; 64] = signature.try_into().map_err(|_| Error::SignatureLength {
        len: signature.len(),
    })?;
    let mut r_bytes = [0u8; 32];
    let mut s_bytes = [0u8; 32];
    r_bytes.copy_from_slice(&bytes[..32]);
    s_bytes.copy_from_slice(&bytes[32..]);
    // r and s are read mod N, as decred's ModNScalar.SetByteSlice does.
    let r = primitives::decode_scalar(&r_bytes);
    let s = primitives::decode_scalar(&s_bytes);
    if bool::from(s.is_high()) {
        return Err(Error::HighS);
    }
    let point = primitives::decode_point(public_key).ok_or(Error::InvalidPublicKey)?;
    let key = VerifyingKey::from_affine(point).map_err(|_| Error::InvalidPublicKey)?;
    let signature = Signature::from_scalars(r, s).map_err(|_| Error::SupplierVerify)?;
    key.verify_prehash(&Sha256::digest(msg), &signature)
        .map_err(|_| Error::SupplierVerify)
}
