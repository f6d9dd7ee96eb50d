//! Fixed-base multiplication tables for verification.
//!
//! A verifier multiplies the same few points over and over: `G`, each ring
//! member's `P` and `Hp(P)`, and each signer's key image `I`. For such a point
//! `B` a [`Table`] holds `j · 32^i · B` for every 5-bit window `i` (52 of
//! them) and `j = 1..=16`, in affine form (74 KiB). A product `k · B` is then
//! one addition per non-zero signed 5-bit digit of `k` (at most 52), with no
//! doublings: about a quarter of the work of a variable-base multiplication.
//!
//! Everything here is variable time (digit-dependent branches and table
//! indices): only ever use it on public data — verification, never signing.

use std::sync::LazyLock;

use k256::{AffinePoint, ProjectivePoint, Scalar, elliptic_curve::point::BatchNormalize};

/// Bits per window.
const WINDOW_BITS: usize = 5;
/// Windows covering a 256-bit scalar plus the carry of the signed recoding
/// (bit 255 sits in window 51, whose digit is at most 2: no carry out).
const WINDOWS: usize = 52;
/// Multiples kept per window: `1..=16` (signed digits lie in `-16..=15`).
const MULTIPLES: usize = 16;

/// The table for the generator, built on first use.
pub(crate) static GENERATOR: LazyLock<Table> =
    LazyLock::new(|| Table::new(&ProjectivePoint::GENERATOR));

/// Multiples of one point for fixed-base multiplication (see the module doc).
pub(crate) struct Table {
    base: ProjectivePoint,
    rows: Box<[[AffinePoint; MULTIPLES]]>,
}

impl core::fmt::Debug for Table {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Table")
            .field("windows", &self.rows.len())
            .finish_non_exhaustive()
    }
}

impl Table {
    /// Builds the table of `base`, which must not be the identity (no decoded
    /// public key, `Hp` output or key image is). About 1,000 additions.
    pub(crate) fn new(base: &ProjectivePoint) -> Self {
        let mut projective = Vec::with_capacity(WINDOWS * MULTIPLES);
        let mut window_base = *base;
        for _ in 0..WINDOWS {
            let mut multiple = window_base;
            projective.push(multiple);
            for _ in 1..MULTIPLES {
                multiple += window_base;
                projective.push(multiple);
            }
            // 16·B doubled: the next window's base, 32·B.
            window_base = multiple.double();
        }
        let affine = ProjectivePoint::batch_normalize_vartime(projective.as_slice());
        let rows = affine
            .chunks_exact(MULTIPLES)
            .map(|chunk| {
                let mut row = [AffinePoint::IDENTITY; MULTIPLES];
                row.copy_from_slice(chunk);
                row
            })
            .collect();
        Table { base: *base, rows }
    }

    /// The point this is the table of.
    pub(crate) fn base(&self) -> &ProjectivePoint {
        &self.base
    }

    /// `a · A + b · B` where `self` is `A`'s table and `other` is `B`'s.
    pub(crate) fn mul2(&self, a: &Scalar, other: &Table, b: &Scalar) -> ProjectivePoint {
        let (da, db) = (signed_digits(a), signed_digits(b));
        let mut acc = ProjectivePoint::IDENTITY;
        for (i, (row_a, row_b)) in self.rows.iter().zip(other.rows.iter()).enumerate() {
            add_digit(&mut acc, row_a, da[i]);
            add_digit(&mut acc, row_b, db[i]);
        }
        acc
    }

    /// `k · B`.
    pub(crate) fn mul(&self, k: &Scalar) -> ProjectivePoint {
        let digits = signed_digits(k);
        let mut acc = ProjectivePoint::IDENTITY;
        for (row, digit) in self.rows.iter().zip(digits) {
            add_digit(&mut acc, row, digit);
        }
        acc
    }
}

fn add_digit(acc: &mut ProjectivePoint, row: &[AffinePoint; MULTIPLES], digit: i8) {
    let index = usize::from(digit.unsigned_abs());
    if index == 0 {
        return;
    }
    let point = &row[index - 1];
    if digit > 0 {
        *acc += point;
    } else {
        *acc -= point;
    }
}

/// `k = Σ digits[i] · 32^i` with every digit in `-16..=15`.
fn signed_digits(k: &Scalar) -> [i8; WINDOWS] {
    let bytes = k.to_bytes();
    // Little-endian limbs, with a zero limb so a window may read past bit 255.
    let mut limbs = [0u64; 5];
    for (limb, chunk) in limbs.iter_mut().zip(bytes.rchunks_exact(8)) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        *limb = u64::from_be_bytes(word);
    }
    let mut digits = [0i8; WINDOWS];
    let mut carry = 0u64;
    for (i, digit) in digits.iter_mut().enumerate() {
        let bit = WINDOW_BITS * i;
        let (index, offset) = (bit / 64, bit % 64);
        let mut window = limbs[index] >> offset;
        if offset + WINDOW_BITS > 64 {
            window |= limbs[index + 1] << (64 - offset);
        }
        let value = (window & 0x1f) + carry;
        // value ≤ 32: as a signed digit, 16..=32 become -16..=0 with a carry.
        if value >= 16 {
            *digit = (value as i8) - 32;
            carry = 1;
        } else {
            *digit = value as i8;
            carry = 0;
        }
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::elliptic_curve::PrimeField;

    fn scalar(seed: u64) -> Scalar {
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (i % 8 * 8)) as u8 ^ i as u8;
        }
        Scalar::from_repr(bytes.into())
            .into_option()
            .unwrap_or(Scalar::ONE)
    }

    #[test]
    fn digits_recompose_the_scalar() {
        let thirty_two = Scalar::from(32u64);
        let mut cases = vec![Scalar::ZERO, Scalar::ONE, -Scalar::ONE, Scalar::from(16u64)];
        cases.extend((0..200).map(scalar));
        for k in cases {
            let digits = signed_digits(&k);
            assert!(digits.iter().all(|d| (-16..=15).contains(d)));
            let mut acc = Scalar::ZERO;
            for d in digits.iter().rev() {
                acc *= thirty_two;
                let term = Scalar::from(u64::from(d.unsigned_abs()));
                acc = if *d < 0 { acc - term } else { acc + term };
            }
            assert_eq!(acc, k);
        }
    }

    #[test]
    fn products_equal_the_constant_time_multiplication() {
        let a = ProjectivePoint::GENERATOR * scalar(7);
        let b = ProjectivePoint::GENERATOR * scalar(8);
        let (ta, tb) = (Table::new(&a), Table::new(&b));
        for seed in 0..50 {
            let (x, y) = (scalar(seed * 2 + 100), scalar(seed * 2 + 101));
            assert_eq!(ta.mul(&x), a * x);
            assert_eq!(ta.mul2(&x, &tb, &y), a * x + b * y);
            assert_eq!(GENERATOR.mul(&x), ProjectivePoint::GENERATOR * x);
        }
        assert_eq!(ta.mul(&Scalar::ZERO), ProjectivePoint::IDENTITY);
        assert_eq!(ta.mul(&-Scalar::ONE), -a);
    }
}
