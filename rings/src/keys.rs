//! secp256k1 private keys, shared by ring signing and supplier response signing.

use core::fmt;

use k256::{FieldBytes, ProjectivePoint, Scalar, ecdsa::SigningKey};

use crate::{Error, primitives};

/// A secp256k1 private key (a scalar in `1..N`): an application's or gateway's
/// key for ring signing, or a supplier operator's key for response signing.
///
/// Keys are raw 32-byte scalars, used as is (never hashed first). `Debug` does
/// not print the key, and the scalar is zeroized on drop.
#[derive(Clone)]
pub struct PrivateKey {
    signing_key: SigningKey,
    public_key: [u8; 33],
}

impl PrivateKey {
    /// Parses a 32-byte big-endian private key.
    ///
    /// # Errors
    /// [`Error::InvalidPrivateKey`] if the value is zero or not below the group order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, Error> {
        let signing_key = SigningKey::from_bytes(&FieldBytes::from(*bytes))
            .map_err(|_| Error::InvalidPrivateKey)?;
        let public_key = primitives::encode_point(signing_key.verifying_key().as_affine());
        Ok(Self {
            signing_key,
            public_key,
        })
    }

    /// The compressed public key `x·G` (33 bytes, `02`/`03` prefix), as stored on
    /// chain in a `/cosmos.crypto.secp256k1.PubKey`.
    #[must_use]
    pub fn public_key(&self) -> [u8; 33] {
        self.public_key
    }

    /// The bLSAG key image `I = x·Hp(P)`, compressed. It is the same in every
    /// ring signature made with this key.
    ///
    /// # Errors
    /// [`Error::HashToCurve`] if `Hp` finds no point (probability about 2^-128).
    pub fn key_image(&self) -> Result<[u8; 33], Error> {
        let hp = ProjectivePoint::from(primitives::hp(&self.public_key)?);
        Ok(primitives::encode_point(&(hp * self.scalar()).to_affine()))
    }

    pub(crate) fn scalar(&self) -> Scalar {
        *self.signing_key.as_nonzero_scalar().as_ref()
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("public_key", &HexBytes(&self.public_key))
            .finish_non_exhaustive()
    }
}

/// Lowercase hex for `Debug` output.
pub(crate) struct HexBytes<'a>(pub(crate) &'a [u8]);

impl fmt::Debug for HexBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
