//! Paths, node digests and the hashing rules of smst.md §3–5.

use std::fmt;

use sha2::{Digest as _, Sha256};

/// Length of a path in bytes (`sha256(key)`).
pub const PATH_LEN: usize = 32;
/// Length of a node digest and of the root: 32-byte hash ‖ 8-byte sum ‖ 8-byte count.
pub const DIGEST_LEN: usize = 48;
/// Number of bits in a path, i.e. the maximum depth of the trie.
pub const MAX_DEPTH: usize = PATH_LEN * 8;

/// A 32-byte trie path, `sha256(key)`. Bit 0 is the most significant bit of
/// byte 0 and is the first branching decision at the root.
pub type Path = [u8; PATH_LEN];

/// A 48-byte node digest `H(preimage) ‖ BE8(sum) ‖ BE8(count)`; the root of a
/// trie is the digest of its root node (the claim's `root_hash`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; DIGEST_LEN]);

/// Hex formatting helper for byte slices in messages.
pub(crate) struct Hex<'a>(pub &'a [u8]);

impl Digest {
    /// The placeholder digest of an empty subtree (and the root of an empty
    /// trie): 48 zero bytes.
    pub const ZERO: Digest = Digest([0; DIGEST_LEN]);

    /// Builds a digest from a 32-byte hash, a sum and a count.
    #[must_use]
    pub fn from_parts(hash: &[u8; 32], sum: u64, count: u64) -> Self {
        let mut d = [0u8; DIGEST_LEN];
        d[..32].copy_from_slice(hash);
        d[32..40].copy_from_slice(&sum.to_be_bytes());
        d[40..].copy_from_slice(&count.to_be_bytes());
        Digest(d)
    }

    /// Parses a 48-byte slice; `None` for any other length.
    #[must_use]
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; DIGEST_LEN]>::try_from(bytes).ok().map(Digest)
    }

    /// The 48 bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; DIGEST_LEN] {
        &self.0
    }

    /// The 32-byte hash part.
    #[must_use]
    pub fn hash(&self) -> [u8; 32] {
        let mut h = [0u8; 32];
        h.copy_from_slice(&self.0[..32]);
        h
    }

    /// The sum of the weights below this node (compute units for a root).
    #[must_use]
    pub fn sum(&self) -> u64 {
        be_u64(&self.0[32..40])
    }

    /// The number of leaves below this node (relays for a root).
    #[must_use]
    pub fn count(&self) -> u64 {
        be_u64(&self.0[40..48])
    }

    /// Whether this is the empty-subtree placeholder.
    #[must_use]
    pub fn is_zero(&self) -> bool {
        *self == Digest::ZERO
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", Hex(&self.0))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Hex(&self.0), f)
    }
}

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `sha256(data)`.
#[must_use]
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The trie path of a key: `sha256(key)` (the key of a relay is its relay hash).
#[must_use]
pub fn path_for_key(key: &[u8]) -> Path {
    sha256(key)
}

/// The proof path of a session (smst.md §7.1, poktroll `GetPathForProof`):
/// `sha256(block_hash ‖ session_id as UTF-8)`.
#[must_use]
pub fn path_for_proof(block_hash: &[u8], session_id: &str) -> Path {
    let mut h = Sha256::new();
    h.update(block_hash);
    h.update(session_id.as_bytes());
    h.finalize().into()
}

/// The stored leaf value, Go's `valueHash` for this trie configuration:
/// `value ‖ BE8(weight) ‖ BE8(1)`. This is what a proof carries as
/// `ClosestValueHash`.
#[must_use]
pub fn leaf_value(value: &[u8], weight: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(value.len() + 16);
    v.extend_from_slice(value);
    v.extend_from_slice(&weight.to_be_bytes());
    v.extend_from_slice(&1u64.to_be_bytes());
    v
}

/// The 32-byte hash part of a leaf digest: `H(0x00 ‖ path ‖ value ‖ BE8(weight) ‖ BE8(1))`.
#[must_use]
pub fn leaf_hash(path: &Path, value: &[u8], weight: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(path);
    h.update(value);
    h.update(weight.to_be_bytes());
    h.update(1u64.to_be_bytes());
    h.finalize().into()
}

/// The digest of a leaf: `leaf_hash ‖ BE8(weight) ‖ BE8(1)`.
#[must_use]
pub fn leaf_digest(path: &Path, value: &[u8], weight: u64) -> Digest {
    Digest::from_parts(&leaf_hash(path, value, weight), weight, 1)
}

/// The digest of an inner node:
/// `H(0x01 ‖ left ‖ right ‖ BE8(sumL+sumR) ‖ BE8(countL+countR)) ‖ BE8(sum) ‖ BE8(count)`.
///
/// Sums and counts wrap on overflow exactly like Go's `uint64` addition.
#[must_use]
pub fn inner_digest(left: &Digest, right: &Digest) -> Digest {
    let sum = left.sum().wrapping_add(right.sum());
    let count = left.count().wrapping_add(right.count());
    let mut pre = [0u8; 1 + 2 * DIGEST_LEN + 16];
    pre[0] = 1;
    pre[1..49].copy_from_slice(&left.0);
    pre[49..97].copy_from_slice(&right.0);
    pre[97..105].copy_from_slice(&sum.to_be_bytes());
    pre[105..].copy_from_slice(&count.to_be_bytes());
    Digest::from_parts(&sha256(&pre), sum, count)
}

/// The inner-node preimage `0x01 ‖ left ‖ right ‖ BE8(sum) ‖ BE8(count)`
/// (Go's serialization of an inner node, used as `SiblingData`).
#[must_use]
pub(crate) fn inner_preimage(left: &Digest, right: &Digest) -> Vec<u8> {
    let sum = left.sum().wrapping_add(right.sum());
    let count = left.count().wrapping_add(right.count());
    let mut pre = Vec::with_capacity(1 + 2 * DIGEST_LEN + 16);
    pre.push(1);
    pre.extend_from_slice(&left.0);
    pre.extend_from_slice(&right.0);
    pre.extend_from_slice(&sum.to_be_bytes());
    pre.extend_from_slice(&count.to_be_bytes());
    pre
}

/// The extension serialization `0x02 ‖ start ‖ end ‖ path ‖ child ‖ BE8(sum) ‖ BE8(count)`.
#[must_use]
pub(crate) fn extension_preimage(start: u8, end: u8, path: &Path, child: &Digest) -> Vec<u8> {
    let mut pre = Vec::with_capacity(3 + PATH_LEN + DIGEST_LEN + 16);
    pre.push(2);
    pre.push(start);
    pre.push(end);
    pre.extend_from_slice(path);
    pre.extend_from_slice(&child.0);
    pre.extend_from_slice(&child.0[32..48]);
    pre
}

/// Wraps `child` (a subtree digest at depth `to`) in the single-child inner
/// nodes of depths `to-1` down to `from`, the child on side `bit(path, i)` and
/// the placeholder on the other: the digest of an extension `[from, to)`.
#[must_use]
pub(crate) fn chain_digest(mut child: Digest, path: &[u8], from: usize, to: usize) -> Digest {
    for i in (from..to).rev() {
        child = if bit(path, i) == 0 {
            inner_digest(&child, &Digest::ZERO)
        } else {
            inner_digest(&Digest::ZERO, &child)
        };
    }
    child
}

/// Bit `i` of a path, MSB first. The caller guarantees `i < 8 * path.len()`.
#[inline]
#[must_use]
pub(crate) fn bit(path: &[u8], i: usize) -> u8 {
    (path[i / 8] >> (7 - (i % 8))) & 1
}

/// Flips bit `i` of a path. The caller guarantees `i < 8 * path.len()`.
#[inline]
pub(crate) fn flip_bit(path: &mut [u8], i: usize) {
    path[i / 8] ^= 0x80 >> (i % 8);
}

/// Number of leading bits two paths share (256 when equal).
#[inline]
#[must_use]
pub(crate) fn common_prefix_bits(a: &Path, b: &Path) -> usize {
    for i in 0..PATH_LEN {
        let x = a[i] ^ b[i];
        if x != 0 {
            return i * 8 + x.leading_zeros() as usize;
        }
    }
    MAX_DEPTH
}

/// Big-endian `u64` of an 8-byte slice (the caller guarantees the length).
#[inline]
pub(crate) fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    u64::from_be_bytes(a)
}

/// Digest of a serialized node as Go's `hashSumSerialization` computes it
/// when checking `SiblingData`: for an extension (`0x02 …`) the digest of the
/// expanded chain, otherwise `H(data) ‖ data[len−16..]`. Returns an error
/// where Go would panic on malformed data.
pub(crate) fn hash_serialized_node(data: &[u8]) -> Result<Vec<u8>, String> {
    if data.first() == Some(&2) {
        // 0x02 ‖ start ‖ end ‖ path(32) ‖ child ‖ sum(8) ‖ count(8)
        const HDR: usize = 3 + PATH_LEN;
        if data.len() < HDR + 16 {
            return Err(format!(
                "extension sibling data too short: {} bytes",
                data.len()
            ));
        }
        let start = usize::from(data[1]);
        let end = usize::from(data[2]);
        let path = &data[3..HDR];
        let mut cur = data[HDR..data.len() - 16].to_vec();
        // Go's expand(): i from end−1 down to start (no iterations when end ≤ start).
        for i in (start..end).rev() {
            cur = if bit(path, i) == 0 {
                inner_digest_slices(&cur, Digest::ZERO.as_bytes())?
            } else {
                inner_digest_slices(Digest::ZERO.as_bytes(), &cur)?
            };
        }
        Ok(cur)
    } else {
        if data.len() < 16 {
            return Err(format!("sibling data too short: {} bytes", data.len()));
        }
        let mut out = sha256(data).to_vec();
        out.extend_from_slice(&data[data.len() - 16..]);
        Ok(out)
    }
}

/// Go's `digestSumNode` on arbitrary-length children (only the last 16 bytes
/// of each are read as sum and count).
fn inner_digest_slices(left: &[u8], right: &[u8]) -> Result<Vec<u8>, String> {
    if left.len() < 16 || right.len() < 16 {
        return Err("node digest shorter than 16 bytes".to_owned());
    }
    let (ls, lc) = sum_count(left);
    let (rs, rc) = sum_count(right);
    let sum = ls.wrapping_add(rs);
    let count = lc.wrapping_add(rc);
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.update(sum.to_be_bytes());
    h.update(count.to_be_bytes());
    let hash: [u8; 32] = h.finalize().into();
    Ok(Digest::from_parts(&hash, sum, count).0.to_vec())
}

/// Sum and count from the last 16 bytes (the caller guarantees `len ≥ 16`).
fn sum_count(d: &[u8]) -> (u64, u64) {
    let n = d.len();
    (be_u64(&d[n - 16..n - 8]), be_u64(&d[n - 8..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_bits() {
        let a = [0u8; 32];
        let mut b = [0u8; 32];
        assert_eq!(common_prefix_bits(&a, &b), 256);
        b[31] = 1;
        assert_eq!(common_prefix_bits(&a, &b), 255);
        b[0] = 0x80;
        assert_eq!(common_prefix_bits(&a, &b), 0);
    }

    #[test]
    fn chain_matches_slice_expansion() {
        let child = inner_digest(&Digest::ZERO, &Digest::from_parts(&[7; 32], 5, 1));
        let path = [0xa5u8; 32];
        let ext = extension_preimage(3, 9, &path, &child);
        let via_chain = chain_digest(child, &path, 3, 9);
        assert_eq!(hash_serialized_node(&ext).unwrap(), via_chain.0.to_vec());
    }
}
