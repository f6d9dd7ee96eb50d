//! The crate's single error type.

/// Everything that can go wrong in this crate.
///
/// Variants that describe bad input bytes (a signature, a public key received
/// from a peer) carry the position that explains them; [`Error::is_invalid_input`]
/// separates those from local failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The ring size (from the wire or given to the signer) is outside
    /// [`MIN_RING_SIZE`](crate::MIN_RING_SIZE)`..=`[`MAX_RING_SIZE`](crate::MAX_RING_SIZE).
    #[error("ring size {size} outside the supported range 2..=64")]
    RingSize {
        /// The size that was found.
        size: u64,
    },
    /// The serialized ring signature is shorter than its ring size requires.
    #[error("ring signature is {len} bytes, a ring of {size} needs at least {needed}")]
    Truncated {
        /// Bytes received.
        len: usize,
        /// Ring size read from the header (0 if the header itself is missing).
        size: u64,
        /// Bytes needed: `69 + 65 * size` (4 for the header alone).
        needed: usize,
    },
    /// The key image is not a valid compressed secp256k1 point.
    #[error("ring signature key image is not a valid compressed secp256k1 point")]
    InvalidKeyImage,
    /// A public key inside the ring signature is not a valid compressed point.
    #[error("ring member {index} is not a valid compressed secp256k1 point")]
    InvalidRingMember {
        /// Position of the member in the signature.
        index: usize,
    },
    /// A public key inside the ring signature is not in the expected ring.
    #[error("ring member {index} is not in the expected ring")]
    NotInRing {
        /// Position of the member in the signature.
        index: usize,
    },
    /// The bLSAG challenge chain does not close: wrong message, wrong ring, or a
    /// forged or damaged signature.
    #[error("ring signature does not verify")]
    RingVerify,
    /// Hash-to-curve found no point in 128 tries (probability about 2^-128).
    #[error("hash to curve found no point in 128 tries")]
    HashToCurve,
    /// The signer's public key is not a member of the ring it was asked to sign with.
    #[error("the signer's public key is not in the ring")]
    SignerNotInRing,
    /// A private key is zero or not below the group order.
    #[error("private key is zero or not below the group order")]
    InvalidPrivateKey,
    /// A public key is not a valid 33-byte compressed secp256k1 point.
    #[error("public key is not a valid compressed secp256k1 point")]
    InvalidPublicKey,
    /// The operating system's random number generator failed.
    #[error("operating system randomness unavailable")]
    Randomness,
    /// A supplier signature is not exactly 64 bytes (`r ‖ s`).
    #[error("supplier signature is {len} bytes, expected 64")]
    SignatureLength {
        /// Bytes received.
        len: usize,
    },
    /// A supplier signature has `s > N/2` (the malleable twin of a valid one).
    #[error("supplier signature is not low-S")]
    HighS,
    /// A supplier signature fails ECDSA verification (including `r` or `s` zero).
    #[error("supplier signature does not verify")]
    SupplierVerify,
}

impl Error {
    /// True when the error is caused by bytes someone else sent us (a signature,
    /// a ring member, a response signature, a peer's public key): reject the
    /// request and blame the sender. False for local failures (no OS
    /// randomness, a bad local key, asking to sign with a key outside the ring).
    #[must_use]
    pub fn is_invalid_input(&self) -> bool {
        match self {
            Self::RingSize { .. }
            | Self::Truncated { .. }
            | Self::InvalidKeyImage
            | Self::InvalidRingMember { .. }
            | Self::NotInRing { .. }
            | Self::RingVerify
            | Self::HashToCurve
            | Self::InvalidPublicKey
            | Self::SignatureLength { .. }
            | Self::HighS
            | Self::SupplierVerify => true,
            Self::SignerNotInRing | Self::InvalidPrivateKey | Self::Randomness => false,
        }
    }
}
