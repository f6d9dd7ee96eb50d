//! The scheme's building blocks, exactly as go-dleq (decred backend) and ring-go
//! compute them: point and scalar encodings, `Hs` (SHA3-512 with the
//! left-alignment quirk), `Hp` (SHA3-256 try-and-increment, even y) and the
//! challenge `C(m, L, R)`.

use k256::{
    AffinePoint, FieldBytes, Scalar, WideBytes,
    elliptic_curve::{
        ops::Reduce,
        point::{AffineCoordinates, DecompressPoint},
        subtle::Choice,
    },
};
use sha3::{Digest, Sha3_256, Sha3_512};

use crate::Error;

/// Length of a compressed SEC1 point.
pub(crate) const POINT_LEN: usize = 33;
/// Length of an encoded scalar.
pub(crate) const SCALAR_LEN: usize = 32;
/// go-dleq gives up hash-to-curve after this many digests.
const HASH_TO_CURVE_TRIES: usize = 128;

/// The field prime `p = 2^256 - 2^32 - 977`, big-endian.
const FIELD_PRIME: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xfc, 0x2f,
];

/// Hash-to-scalar `Hs` as go-dleq computes it, returned as the 32-byte big-endian
/// encoding of the scalar.
///
/// `n = SHA3-512(input) mod N`; the minimal big-endian bytes of `n` are copied
/// into a 32-byte array **from offset 0** (left-aligned), so whenever
/// `n < 2^248` the result is `n · 256^k` for the `k` missing bytes, not `n`.
/// That quirk is what the network runs; a right-aligning implementation
/// rejects about 0.8 % of valid 2-member ring signatures.
#[must_use]
pub fn hash_to_scalar(input: &[u8]) -> [u8; 32] {
    hs(&[input]).to_bytes().into()
}

/// Hash-to-curve `Hp(P)` as ring-go computes it, returned compressed (always
/// `02…`: the even-y root is chosen).
///
/// `h = SHA3-256(compressed P)`; while `h`, read as a field element, is not the
/// x-coordinate of a curve point, `h = SHA3-256(h)` (at most 128 digests).
/// Only valid compressed keys are accepted: ring-go never hashes any other
/// encoding (hashing the 65-byte uncompressed key gives a different point).
///
/// # Errors
/// [`Error::InvalidPublicKey`] if `public_key` is not a valid compressed point;
/// [`Error::HashToCurve`] after 128 failed digests (probability about 2^-128).
pub fn hash_to_point(public_key: &[u8; 33]) -> Result<[u8; 33], Error> {
    decode_point(public_key).ok_or(Error::InvalidPublicKey)?;
    hp(public_key).map(|p| encode_point(&p))
}

/// `Hs` over the concatenation of `parts` (avoids copying the challenge input).
pub(crate) fn hs(parts: &[&[u8]]) -> Scalar {
    let mut hasher = Sha3_512::new();
    for part in parts {
        hasher.update(part);
    }
    let wide: WideBytes = hasher.finalize();
    let reduced = <Scalar as Reduce<WideBytes>>::reduce(&wide);
    let minimal: [u8; 32] = reduced.to_bytes().into();
    let leading_zeros = minimal.iter().take_while(|b| **b == 0).count();
    let mut left_aligned = [0u8; 32];
    left_aligned[..32 - leading_zeros].copy_from_slice(&minimal[leading_zeros..]);
    // Go panics when the left-aligned value is >= N (probability ~2^-128); the
    // only other sensible reading is reducing it, which is what this does.
    <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(left_aligned))
}

/// The challenge `C(m, L, R) = Hs(m ‖ compressed(L) ‖ compressed(R))`.
pub(crate) fn challenge(msg: &[u8; 32], l: &[u8; 33], r: &[u8; 33]) -> Scalar {
    hs(&[msg, l, r])
}

/// `Hp` over a compressed encoding that the caller has already validated.
pub(crate) fn hp(encoded: &[u8; 33]) -> Result<AffinePoint, Error> {
    hp_over_bytes(encoded)
}

/// `Hp` over arbitrary bytes (only the test helpers pass anything but a valid
/// compressed key, to show what hashing a wrong encoding gives).
pub(crate) fn hp_over_bytes(bytes: &[u8]) -> Result<AffinePoint, Error> {
    let mut digest: [u8; 32] = Sha3_256::digest(bytes).into();
    for _ in 0..HASH_TO_CURVE_TRIES {
        if let Some(point) = even_point_with_x(&digest) {
            return Ok(point);
        }
        digest = Sha3_256::digest(digest).into();
    }
    Err(Error::HashToCurve)
}

/// The curve point with x-coordinate `x mod p` and even y, if there is one.
fn even_point_with_x(x: &[u8; 32]) -> Option<AffinePoint> {
    // decred's FieldVal.SetBytes keeps a value >= p as an unreduced field
    // element, so Go effectively uses x mod p (probability ~2^-224 per digest).
    let x = if x.as_slice() >= FIELD_PRIME.as_slice() {
        sub_field_prime(x)
    } else {
        *x
    };
    AffinePoint::decompress(&FieldBytes::from(x), Choice::from(0)).into_option()
}

/// `x - p` for `p <= x < 2^256` (big-endian, schoolbook borrow).
fn sub_field_prime(x: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0u16;
    for i in (0..32).rev() {
        let diff = u16::from(x[i])
            .wrapping_sub(u16::from(FIELD_PRIME[i]))
            .wrapping_sub(borrow);
        out[i] = diff.to_be_bytes()[1];
        borrow = u16::from(diff > 0xff);
    }
    out
}

/// Decodes a 33-byte SEC1 compressed point: prefix `02`/`03`, `x < p`, on the
/// curve. Everything else (the identity, uncompressed or hybrid prefixes) is
/// refused, as decred's `ParsePubKey` refuses it for 33-byte input.
pub(crate) fn decode_point(bytes: &[u8; 33]) -> Option<AffinePoint> {
    let y_is_odd = match bytes[0] {
        0x02 => 0,
        0x03 => 1,
        _ => return None,
    };
    let mut x = [0u8; 32];
    x.copy_from_slice(&bytes[1..]);
    AffinePoint::decompress(&FieldBytes::from(x), Choice::from(y_is_odd)).into_option()
}

/// Compressed SEC1 encoding. The identity encodes as `02 ‖ 0³²`, as go-dleq's
/// `Encode` does (decred turns the point at infinity into affine (0, 0)).
pub(crate) fn encode_point(point: &AffinePoint) -> [u8; 33] {
    let mut out = [0u8; 33];
    out[0] = 0x02 | point.y_is_odd().unwrap_u8();
    out[1..].copy_from_slice(&point.x());
    out
}

/// Wire scalar decoding: 32 bytes big-endian, reduced mod N silently.
pub(crate) fn decode_scalar(bytes: &[u8; 32]) -> Scalar {
    <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(*bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_field_prime_of_max_value() {
        let x = [0xffu8; 32];
        let mut expected = [0u8; 32];
        // 2^256 - 1 - p = 2^32 + 976 = 0x1_0000_03d0
        expected[27] = 0x01;
        expected[30] = 0x03;
        expected[31] = 0xd0;
        assert_eq!(sub_field_prime(&x), expected);
        assert_eq!(sub_field_prime(&FIELD_PRIME), [0u8; 32]);
    }

    #[test]
    fn digest_at_or_above_p_is_reduced_before_decompression() {
        // x = 1 is on the curve (1 + 7 = 8 is a square mod p); p + 1 must give the
        // same point, as decred's unreduced FieldVal does.
        let mut p_plus_one = FIELD_PRIME;
        p_plus_one[31] += 1;
        let mut one = [0u8; 32];
        one[31] = 1;
        let expected = even_point_with_x(&one).expect("x = 1 is on secp256k1");
        assert_eq!(even_point_with_x(&p_plus_one), Some(expected));
        assert_eq!(encode_point(&expected)[32], 1);
    }

    #[test]
    fn identity_encodes_like_go() {
        let mut expected = [0u8; 33];
        expected[0] = 0x02;
        assert_eq!(encode_point(&AffinePoint::IDENTITY), expected);
    }

    #[test]
    fn decode_rejects_identity_and_other_prefixes() {
        assert!(decode_point(&[0u8; 33]).is_none());
        let g = encode_point(&AffinePoint::GENERATOR);
        assert!(decode_point(&g).is_some());
        for prefix in [0x00, 0x01, 0x04, 0x06, 0x07, 0xff] {
            let mut bad = g;
            bad[0] = prefix;
            assert!(decode_point(&bad).is_none(), "prefix {prefix:#x}");
        }
    }
}
