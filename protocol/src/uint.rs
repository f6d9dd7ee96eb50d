//! A small fixed-width unsigned integer for the exact rational arithmetic of
//! claimed-uPOKT (up to 2^64 · 2^64 · 2^256 in the numerator). Only what the
//! protocol math needs: multiply, divide, compare, decimal in and out.

use std::cmp::Ordering;
use std::fmt;

const LIMBS: usize = 8;

/// A 512-bit unsigned integer (little-endian 64-bit limbs).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct U512([u64; LIMBS]);

impl U512 {
    /// Zero.
    pub const ZERO: U512 = U512([0; LIMBS]);

    /// From a `u128`.
    pub fn from_u128(v: u128) -> Self {
        let mut l = [0u64; LIMBS];
        l[0] = v as u64;
        l[1] = (v >> 64) as u64;
        U512(l)
    }

    /// From up to 64 big-endian bytes.
    pub fn from_be_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > LIMBS * 8 {
            return None;
        }
        let mut l = [0u64; LIMBS];
        for (i, b) in bytes.iter().rev().enumerate() {
            l[i / 8] |= u64::from(*b) << (8 * (i % 8));
        }
        Some(U512(l))
    }

    /// Parses a non-negative decimal integer; `None` if malformed or too large.
    pub fn from_decimal(s: &str) -> Option<Self> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut acc = U512::ZERO;
        for b in s.bytes() {
            acc = acc.checked_mul(&U512::from_u128(10))?;
            acc = acc.checked_add(&U512::from_u128(u128::from(b - b'0')))?;
        }
        Some(acc)
    }

    /// The value as a `u128` if it fits.
    pub fn to_u128(&self) -> Option<u128> {
        if self.0[2..].iter().any(|l| *l != 0) {
            return None;
        }
        Some(u128::from(self.0[0]) | (u128::from(self.0[1]) << 64))
    }

    /// The low 64 bits (Go's `big.Int.Uint64()` on a larger value).
    pub fn low_u64(&self) -> u64 {
        self.0[0]
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|l| *l == 0)
    }

    /// `self + other`, `None` on overflow.
    pub fn checked_add(&self, other: &U512) -> Option<U512> {
        let mut out = [0u64; LIMBS];
        let mut carry = 0u128;
        for (i, o) in out.iter_mut().enumerate() {
            let s = u128::from(self.0[i]) + u128::from(other.0[i]) + carry;
            *o = s as u64;
            carry = s >> 64;
        }
        (carry == 0).then_some(U512(out))
    }

    /// `self × other`, `None` on overflow.
    pub fn checked_mul(&self, other: &U512) -> Option<U512> {
        let mut out = [0u64; 2 * LIMBS];
        for i in 0..LIMBS {
            let mut carry = 0u128;
            for j in 0..LIMBS {
                let cur =
                    u128::from(out[i + j]) + u128::from(self.0[i]) * u128::from(other.0[j]) + carry;
                out[i + j] = cur as u64;
                carry = cur >> 64;
            }
            out[i + LIMBS] = carry as u64;
        }
        if out[LIMBS..].iter().any(|l| *l != 0) {
            return None;
        }
        let mut l = [0u64; LIMBS];
        l.copy_from_slice(&out[..LIMBS]);
        Some(U512(l))
    }

    /// `(self / d, self % d)` for a non-zero small divisor.
    fn divrem_small(&self, d: u64) -> (U512, u64) {
        let mut q = [0u64; LIMBS];
        let mut rem = 0u128;
        for i in (0..LIMBS).rev() {
            let cur = (rem << 64) | u128::from(self.0[i]);
            q[i] = (cur / u128::from(d)) as u64;
            rem = cur % u128::from(d);
        }
        (U512(q), rem as u64)
    }

    fn bit(&self, i: usize) -> bool {
        (self.0[i / 64] >> (i % 64)) & 1 == 1
    }

    fn shl1_or(&mut self, bit: bool) {
        let mut carry = u64::from(bit);
        for l in self.0.iter_mut() {
            let next = *l >> 63;
            *l = (*l << 1) | carry;
            carry = next;
        }
    }

    fn sub_assign(&mut self, other: &U512) {
        let mut borrow = 0i128;
        for i in 0..LIMBS {
            let d = i128::from(self.0[i]) - i128::from(other.0[i]) - borrow;
            if d < 0 {
                self.0[i] = (d + (1i128 << 64)) as u64;
                borrow = 1;
            } else {
                self.0[i] = d as u64;
                borrow = 0;
            }
        }
    }

    /// Floor division `self / divisor`; `None` when `divisor` is zero.
    pub fn checked_div(&self, divisor: &U512) -> Option<U512> {
        if divisor.is_zero() {
            return None;
        }
        let mut quotient = U512::ZERO;
        let mut rem = U512::ZERO;
        for i in (0..LIMBS * 64).rev() {
            // rem < divisor < 2^512, so the shift cannot lose a set top bit
            // unless divisor's top bit is set; compare with that bit in mind.
            let top = rem.bit(LIMBS * 64 - 1);
            rem.shl1_or(self.bit(i));
            if top || rem >= *divisor {
                rem.sub_assign(divisor);
                quotient.0[i / 64] |= 1 << (i % 64);
            }
        }
        Some(quotient)
    }
}

impl Ord for U512 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.iter().rev().cmp(other.0.iter().rev())
    }
}

impl PartialOrd for U512 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for U512 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut digits = Vec::new();
        let mut v = *self;
        loop {
            let (q, r) = v.divrem_small(10);
            digits.push(b'0' + r as u8);
            v = q;
            if v.is_zero() {
                break;
            }
        }
        digits.reverse();
        f.write_str(&String::from_utf8_lossy(&digits))
    }
}

impl fmt::Debug for U512 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
