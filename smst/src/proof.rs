//! Closest proofs: the logical form, compaction and verification exactly as
//! smst.md §7.3–7.4 and §8 (steps 4 and 17) describe.
//!
//! Fields hold raw bytes rather than fixed-size arrays because a decoded
//! proof is untrusted: size checks happen at the same pipeline stage as on
//! chain, so a rejection reports the chain's stage.

use crate::digest::{
    DIGEST_LEN, Digest, Hex, MAX_DEPTH, PATH_LEN, bit, flip_bit, hash_serialized_node, sha256,
};
use crate::error::Error;

/// `SparseMerkleClosestProof`: the logical (decompacted) closest proof.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClosestProof {
    /// The path that was proven (not flipped); 32 bytes.
    pub path: Vec<u8>,
    /// Depths at which the wanted side was empty and the bit was flipped, ascending.
    pub flipped_bits: Vec<usize>,
    /// Depth of the closest leaf.
    pub depth: usize,
    /// Path of the closest leaf (48 zero bytes for an empty trie).
    pub closest_path: Vec<u8>,
    /// The leaf's stored value `value ‖ BE8(weight) ‖ BE8(1)` (empty for an empty trie).
    pub closest_value_hash: Vec<u8>,
    /// Side nodes, bottom-up (`side_nodes[0]` is the leaf's sibling), placeholders included.
    pub side_nodes: Vec<Vec<u8>>,
    /// Always empty in closest proofs; kept because the wire format has it.
    pub non_membership_leaf_data: Vec<u8>,
    /// Serialization of the leaf's sibling node (empty when it has none).
    pub sibling_data: Vec<u8>,
}

/// `SparseCompactMerkleProof`: side nodes with placeholders replaced by a bit mask.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactProof {
    /// The non-placeholder side nodes, bottom-up.
    pub side_nodes: Vec<Vec<u8>>,
    /// Always empty in closest proofs.
    pub non_membership_leaf_data: Vec<u8>,
    /// Bit `i` (MSB first) set when side node `i` is the placeholder.
    pub bit_mask: Vec<u8>,
    /// Number of side nodes when decompacted.
    pub num_side_nodes: i64,
    /// Copied from the logical proof.
    pub sibling_data: Vec<u8>,
}

/// `SparseCompactMerkleClosestProof`: what `MsgSubmitProof.proof` carries
/// (gob-encoded, see [`CompactClosestProof::to_gob`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactClosestProof {
    /// The proven path.
    pub path: Vec<u8>,
    /// Each flipped depth as minimal big-endian bytes.
    pub flipped_bits: Vec<Vec<u8>>,
    /// The depth as minimal big-endian bytes.
    pub depth: Vec<u8>,
    /// Path of the closest leaf.
    pub closest_path: Vec<u8>,
    /// The leaf's stored value.
    pub closest_value_hash: Vec<u8>,
    /// The compacted inner proof; `None` only in decoded hostile input (Go's nil pointer).
    pub closest_proof: Option<CompactProof>,
}

/// Maximum depth/flipped-bit encoding length on the wire (`minBytes(256)`).
const MAX_INT_BYTES: usize = 2;

impl ClosestProof {
    /// The relay bytes: the closest value without its trailing weight and count.
    #[must_use]
    pub fn closest_value(&self) -> Option<&[u8]> {
        let n = self.closest_value_hash.len();
        (n >= 16).then(|| &self.closest_value_hash[..n - 16])
    }

    /// The closest leaf's weight (8 bytes before the count).
    #[must_use]
    pub fn closest_weight(&self) -> Option<u64> {
        let n = self.closest_value_hash.len();
        (n >= 16).then(|| crate::digest::be_u64(&self.closest_value_hash[n - 16..n - 8]))
    }

    /// Compacts the proof (Go `CompactClosestProof`, which validates first).
    ///
    /// # Errors
    /// [`Error::InvalidProof`] when the proof fails the basic validation.
    pub fn compact(&self) -> Result<CompactClosestProof, Error> {
        self.validate_basic()?;
        let n = self.side_nodes.len();
        let mut bit_mask = vec![0u8; n.div_ceil(8)];
        let mut side_nodes = Vec::new();
        for (i, node) in self.side_nodes.iter().enumerate() {
            if node.as_slice() == Digest::ZERO.as_bytes() {
                flip_bit(&mut bit_mask, i);
            } else {
                side_nodes.push(node.clone());
            }
        }
        Ok(CompactClosestProof {
            path: self.path.clone(),
            flipped_bits: self.flipped_bits.iter().map(|&b| int_to_bytes(b)).collect(),
            depth: int_to_bytes(self.depth),
            closest_path: self.closest_path.clone(),
            closest_value_hash: self.closest_value_hash.clone(),
            closest_proof: Some(CompactProof {
                side_nodes,
                non_membership_leaf_data: self.non_membership_leaf_data.clone(),
                bit_mask,
                num_side_nodes: i64::try_from(n).unwrap_or(i64::MAX),
                sibling_data: self.sibling_data.clone(),
            }),
        })
    }

    /// Verifies the proof against a claimed root exactly as the chain does
    /// (`VerifyClosestProof` with the poktroll spec, smst.md §8 step 17).
    /// It does not check that `path` is the session's proof path (step 16).
    ///
    /// # Errors
    /// [`Error::InvalidProof`] when the proof is malformed (the chain's
    /// "verify error"), [`Error::RootMismatch`] when it recomputes to another root.
    pub fn verify(&self, root: &[u8]) -> Result<(), Error> {
        self.validate_basic()?;
        // Go verifies with a nil path hasher: the leaf path is the first 32
        // bytes of ClosestPath (validate_basic checked the length).
        let path = &self.closest_path[..PATH_LEN];
        let mut cur: Vec<u8> = if self.closest_value_hash.is_empty() {
            // Go's non-membership branch (only reachable for the empty-trie proof).
            if self.non_membership_leaf_data.is_empty() {
                Digest::ZERO.0.to_vec()
            } else {
                let data = &self.non_membership_leaf_data;
                if &data[1..1 + PATH_LEN] == path {
                    return Err(Error::invalid("non-membership proof on related leaf"));
                }
                leaf_digest_from_preimage(data)
            }
        } else {
            if self.closest_value_hash.len() < 16 {
                return Err(Error::invalid(format!(
                    "closest value is {} bytes, shorter than weight and count",
                    self.closest_value_hash.len()
                )));
            }
            let mut pre = Vec::with_capacity(1 + PATH_LEN + self.closest_value_hash.len());
            pre.push(0);
            pre.extend_from_slice(path);
            pre.extend_from_slice(&self.closest_value_hash);
            leaf_digest_from_preimage(&pre)
        };
        let n = self.side_nodes.len();
        for (i, side) in self.side_nodes.iter().enumerate() {
            let side = Digest::from_slice(side)
                .ok_or_else(|| Error::invalid("side node is not 48 bytes"))?;
            let cur_d = Digest::from_slice(&cur)
                .ok_or_else(|| Error::invalid("leaf digest is not 48 bytes"))?;
            let next = if bit(path, n - 1 - i) == 0 {
                crate::digest::inner_digest(&cur_d, &side)
            } else {
                crate::digest::inner_digest(&side, &cur_d)
            };
            cur = next.0.to_vec();
        }
        if cur.as_slice() == root {
            Ok(())
        } else {
            Err(Error::RootMismatch {
                computed: Digest::from_slice(&cur).unwrap_or(Digest::ZERO),
            })
        }
    }

    /// Go's `SparseMerkleClosestProof.validateBasic` followed by
    /// `SparseMerkleProof.validateBasic`, with errors where Go would panic.
    fn validate_basic(&self) -> Result<(), Error> {
        if self.depth > MAX_DEPTH {
            return Err(Error::invalid(format!(
                "invalid depth: got {}, outside of [0, {MAX_DEPTH}]",
                self.depth
            )));
        }
        for (i, &b) in self.flipped_bits.iter().enumerate() {
            if b > self.depth {
                return Err(Error::invalid(format!(
                    "invalid flipped bit index {i}: got {b}, outside of [0, {}]",
                    self.depth
                )));
            }
        }
        let mut working = self.path.clone();
        for &b in &self.flipped_bits {
            if b >= working.len() * 8 {
                return Err(Error::invalid(format!("flipped bit {b} outside the path")));
            }
            flip_bit(&mut working, b);
        }
        if self.closest_path.len() < PATH_LEN || working.len() * 8 < self.depth {
            return Err(Error::invalid("path or closest path too short"));
        }
        if let Some(i) = (0..self.depth).find(|&i| bit(&working, i) != bit(&self.closest_path, i)) {
            return Err(Error::invalid(format!(
                "invalid closest path: {} (not equal at bit: {i})",
                Hex(&self.closest_path)
            )));
        }
        // The inner SparseMerkleProof.
        if self.side_nodes.len() > MAX_DEPTH {
            return Err(Error::invalid(format!(
                "too many side nodes: got {} but max is {MAX_DEPTH}",
                self.side_nodes.len()
            )));
        }
        if !self.non_membership_leaf_data.is_empty()
            && self.non_membership_leaf_data.len() < 1 + PATH_LEN
        {
            return Err(Error::invalid("invalid non-membership leaf data size"));
        }
        for node in &self.side_nodes {
            if node.len() != DIGEST_LEN {
                return Err(Error::invalid(format!(
                    "invalid side node size: got {} but want {DIGEST_LEN}",
                    node.len()
                )));
            }
        }
        if !self.sibling_data.is_empty() && !self.side_nodes.is_empty() {
            let got = hash_serialized_node(&self.sibling_data).map_err(Error::invalid)?;
            if got != self.side_nodes[0] {
                return Err(Error::invalid(format!(
                    "invalid sibling data hash: got {} but want {}",
                    Hex(&got),
                    Hex(&self.side_nodes[0])
                )));
            }
        }
        Ok(())
    }
}

impl CompactClosestProof {
    /// Restores the placeholders (Go `DecompactClosestProof`).
    ///
    /// # Errors
    /// [`Error::Decompact`] when the compact fields are inconsistent.
    pub fn decompact(&self) -> Result<ClosestProof, Error> {
        if self.path.len() != PATH_LEN {
            return Err(Error::decompact(format!(
                "invalid path length: got {} want {PATH_LEN}",
                self.path.len()
            )));
        }
        if self.depth.len() > MAX_INT_BYTES {
            return Err(Error::decompact(format!(
                "invalid depth: got {} bytes but max is {MAX_INT_BYTES}",
                self.depth.len()
            )));
        }
        for (i, b) in self.flipped_bits.iter().enumerate() {
            if b.len() > MAX_INT_BYTES {
                return Err(Error::decompact(format!(
                    "invalid compressed flipped bit index {i}: got length {}, max is {MAX_INT_BYTES}",
                    b.len()
                )));
            }
        }
        let inner = self
            .closest_proof
            .as_ref()
            .ok_or_else(|| Error::decompact("missing closest proof"))?;
        let num = usize::try_from(inner.num_side_nodes)
            .ok()
            .filter(|&n| n <= MAX_DEPTH)
            .ok_or_else(|| {
                Error::decompact(format!(
                    "invalid closest proof: invalid number of side nodes: got {}, min is 0 and max is {MAX_DEPTH}",
                    inner.num_side_nodes
                ))
            })?;
        if inner.bit_mask.len() != num.div_ceil(8) {
            return Err(Error::decompact(format!(
                "invalid closest proof: invalid bit mask length: got {} want {}",
                inner.bit_mask.len(),
                num.div_ceil(8)
            )));
        }
        let set_bits: usize = inner.bit_mask.iter().map(|b| b.count_ones() as usize).sum();
        if num > 0 && inner.side_nodes.len() + set_bits != num {
            return Err(Error::decompact(format!(
                "invalid closest proof: invalid number of side nodes: got {} want {}",
                inner.side_nodes.len(),
                num.saturating_sub(set_bits)
            )));
        }
        let mut side_nodes = Vec::with_capacity(num);
        let mut given = inner.side_nodes.iter();
        for i in 0..num {
            if bit(&inner.bit_mask, i) == 1 {
                side_nodes.push(Digest::ZERO.0.to_vec());
            } else {
                // Go indexes out of range (panics) here when mask bits beyond
                // `num` are set; reject instead.
                let node = given.next().ok_or_else(|| {
                    Error::decompact("bit mask has bits set beyond the side nodes")
                })?;
                side_nodes.push(node.clone());
            }
        }
        Ok(ClosestProof {
            path: self.path.clone(),
            flipped_bits: self.flipped_bits.iter().map(|b| bytes_to_int(b)).collect(),
            depth: bytes_to_int(&self.depth),
            closest_path: self.closest_path.clone(),
            closest_value_hash: self.closest_value_hash.clone(),
            side_nodes,
            non_membership_leaf_data: inner.non_membership_leaf_data.clone(),
            sibling_data: inner.sibling_data.clone(),
        })
    }
}

/// Decodes, decompacts and verifies gob proof bytes against a 48-byte root:
/// the chain's pipeline (smst.md §8 steps 4 and 17). Returns the logical
/// proof so the caller can go on with the relay checks.
///
/// # Errors
/// The first failing stage's error; [`Error::proof_stage`] names it.
pub fn verify_proof_bytes(proof_bytes: &[u8], root: &[u8]) -> Result<ClosestProof, Error> {
    let compact = CompactClosestProof::from_gob(proof_bytes)?;
    let proof = compact.decompact()?;
    proof.verify(root)?;
    Ok(proof)
}

/// `H(preimage) ‖ preimage[len−16..]` (the caller guarantees `len ≥ 16`).
fn leaf_digest_from_preimage(pre: &[u8]) -> Vec<u8> {
    let mut d = sha256(pre).to_vec();
    d.extend_from_slice(&pre[pre.len() - 16..]);
    d
}

/// Go `intToBytes`: minimal big-endian bytes, `0 → [0x00]`.
fn int_to_bytes(v: usize) -> Vec<u8> {
    let bytes = (v as u64).to_be_bytes();
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(7);
    bytes[first..].to_vec()
}

/// Go `bytesToInt` for at most 2 bytes (checked by the caller): big-endian, empty → 0.
fn bytes_to_int(b: &[u8]) -> usize {
    b.iter().fold(0usize, |acc, &x| (acc << 8) | usize::from(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_bytes_roundtrip() {
        assert_eq!(int_to_bytes(0), vec![0]);
        assert_eq!(int_to_bytes(255), vec![0xff]);
        assert_eq!(int_to_bytes(256), vec![1, 0]);
        for v in [0, 1, 127, 255, 256, 257] {
            assert_eq!(bytes_to_int(&int_to_bytes(v)), v);
        }
        assert_eq!(bytes_to_int(&[]), 0);
    }
}
