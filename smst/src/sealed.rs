//! The storage-independent trie (smst.md §4): root and closest proofs
//! computed from a set of leaves sorted by path.
//!
//! In a sorted leaf array every subtree is a contiguous range, and every
//! branching node is identified by its split index (the first leaf of its
//! right child), so the trie needs no node storage at all. To answer proofs
//! quickly the digests of branching nodes with at least
//! [`CACHE_MIN_LEAVES`] leaves are kept; smaller subtrees are rehashed on
//! demand (a proof rehashes at most a few dozen leaves).

use std::collections::HashMap;

use crate::digest::{
    Digest, Path, bit, chain_digest, common_prefix_bits, extension_preimage, flip_bit,
    inner_digest, inner_preimage, leaf_hash, leaf_value,
};
use crate::error::Error;
use crate::proof::ClosestProof;
use crate::store::{LeafEntry, LeafStore};

/// Branching nodes with at least this many leaves keep their digest.
pub const CACHE_MIN_LEAVES: usize = 32;

/// An immutable trie built in bulk from its leaves: the claim root and the
/// closest proof of a sealed session.
#[derive(Clone, Debug)]
pub struct SealedTrie {
    leaves: Vec<LeafEntry>,
    nodes: HashMap<usize, Digest>,
    root: Digest,
}

impl SealedTrie {
    /// Builds the trie from leaf entries in any order.
    ///
    /// # Errors
    /// [`Error::DuplicateLeaf`] when two entries share a path.
    pub fn from_entries(mut leaves: Vec<LeafEntry>) -> Result<Self, Error> {
        leaves.sort_unstable_by_key(|e| e.path);
        if let Some(w) = leaves.windows(2).find(|w| w[0].path == w[1].path) {
            return Err(Error::DuplicateLeaf { path: w[0].path });
        }
        let mut nodes = HashMap::new();
        let root = if leaves.is_empty() {
            Digest::ZERO
        } else {
            subtree(&leaves, 0, leaves.len(), 0, Some(&mut nodes))
        };
        Ok(SealedTrie {
            leaves,
            nodes,
            root,
        })
    }

    /// Loads every entry from a store (one batched call) and builds the trie.
    ///
    /// # Errors
    /// The store's error, or [`Error::DuplicateLeaf`].
    pub fn from_store<S: LeafStore + ?Sized>(store: &S) -> Result<Self, Error> {
        Self::from_entries(store.entries()?)
    }

    /// The 48-byte root (`digest ‖ sum ‖ count`).
    #[must_use]
    pub fn root(&self) -> Digest {
        self.root
    }

    /// Number of leaves.
    #[must_use]
    pub fn len(&self) -> usize {
        self.leaves.len()
    }

    /// Whether the trie has no leaves.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// Approximate heap memory held, in bytes (leaf entries and kept digests).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.leaves.capacity() * std::mem::size_of::<LeafEntry>()
            + self.nodes.capacity()
                * (std::mem::size_of::<usize>() + std::mem::size_of::<Digest>() + 1)
    }

    /// The closest proof for `path` (smst.md §7.2), reading the values of
    /// the closest leaf and, if the sibling is a leaf, of the sibling from
    /// `store` in one batched call.
    ///
    /// For tries built only by inserts the proof is byte-identical to Go's
    /// when `seq` records insertion order; otherwise only the path bytes an
    /// extension `SiblingData` carries outside its bounds may differ (the
    /// verifier ignores them).
    ///
    /// # Errors
    /// The store's error, or [`Error::MissingValue`] when the store lacks a
    /// value or holds one that does not match the leaf hash.
    pub fn prove_closest<S: LeafStore + ?Sized>(
        &self,
        path: &Path,
        store: &S,
    ) -> Result<ClosestProof, Error> {
        if self.leaves.is_empty() {
            return Ok(empty_trie_proof(path));
        }
        let mut wp = *path;
        let mut flipped = Vec::new();
        let mut siblings = Vec::new();
        let (mut lo, mut hi, mut d) = (0, self.leaves.len(), 0);
        let mut last = None;
        while hi - lo > 1 {
            let first = &self.leaves[lo].path;
            let b = common_prefix_bits(first, &self.leaves[hi - 1].path);
            for i in d..b {
                if bit(&wp, i) != bit(first, i) {
                    flip_bit(&mut wp, i);
                    flipped.push(i);
                }
                siblings.push(Digest::ZERO);
            }
            let m = lo + self.leaves[lo..hi].partition_point(|e| bit(&e.path, b) == 0);
            let (near, far) = if bit(&wp, b) == 0 {
                ((lo, m), (m, hi))
            } else {
                ((m, hi), (lo, m))
            };
            siblings.push(self.digest_at(far.0, far.1, b + 1));
            last = Some((far.0, far.1, b + 1));
            (lo, hi, d) = (near.0, near.1, b + 1);
        }
        let leaf = &self.leaves[lo];
        let mut wanted = vec![leaf.path];
        if let Some((slo, shi, _)) = last
            && shi - slo == 1
        {
            wanted.push(self.leaves[slo].path);
        }
        let values = store.get_values(&wanted)?;
        let value = checked_value(leaf, values.first())?;
        let sibling_data = match last {
            None => Vec::new(),
            Some((slo, shi, sd)) => {
                if shi - slo == 1 {
                    let sib = &self.leaves[slo];
                    let v = checked_value(sib, values.get(1))?;
                    let mut data = Vec::with_capacity(1 + 32 + v.len() + 16);
                    data.push(0);
                    data.extend_from_slice(&sib.path);
                    data.extend_from_slice(&leaf_value(v, sib.weight));
                    data
                } else {
                    self.node_serialization(slo, shi, sd)
                }
            }
        };
        siblings.reverse();
        Ok(ClosestProof {
            path: path.to_vec(),
            flipped_bits: flipped,
            depth: d,
            closest_path: leaf.path.to_vec(),
            closest_value_hash: leaf_value(value, leaf.weight),
            side_nodes: siblings.iter().map(|s| s.0.to_vec()).collect(),
            non_membership_leaf_data: Vec::new(),
            sibling_data,
        })
    }

    /// Digest of the subtree `[lo, hi)` as seen at depth `d`, using kept digests.
    fn digest_at(&self, lo: usize, hi: usize, d: usize) -> Digest {
        if hi - lo == 1 {
            return self.leaves[lo].digest();
        }
        let (b, node) = self.branch(lo, hi);
        chain_digest(node, &self.leaves[lo].path, d, b)
    }

    /// Depth and digest of the first branching node of `[lo, hi)` (≥ 2 leaves).
    fn branch(&self, lo: usize, hi: usize) -> (usize, Digest) {
        let first = &self.leaves[lo].path;
        let b = common_prefix_bits(first, &self.leaves[hi - 1].path);
        let m = lo + self.leaves[lo..hi].partition_point(|e| bit(&e.path, b) == 0);
        let node = match self.nodes.get(&m) {
            Some(d) => *d,
            None => inner_digest(
                &subtree(&self.leaves, lo, m, b + 1, None),
                &subtree(&self.leaves, m, hi, b + 1, None),
            ),
        };
        (b, node)
    }

    /// Go's serialization of the subtree `[lo, hi)` (≥ 2 leaves) rooted at
    /// depth `d`: an inner preimage when it branches at `d`, else an extension.
    fn node_serialization(&self, lo: usize, hi: usize, d: usize) -> Vec<u8> {
        let (b, node) = self.branch(lo, hi);
        if b == d {
            let m = lo + self.leaves[lo..hi].partition_point(|e| bit(&e.path, b) == 0);
            inner_preimage(&self.digest_at(lo, m, b + 1), &self.digest_at(m, hi, b + 1))
        } else {
            // Go writes the path of the leaf whose insertion created the
            // extension: the second leaf inserted into this subtree.
            let mut by_seq: Vec<&LeafEntry> = self.leaves[lo..hi].iter().collect();
            by_seq.sort_unstable_by_key(|e| (e.seq, e.path));
            let ext_path = by_seq.get(1).map_or(self.leaves[lo].path, |e| e.path);
            // Depths are below 256 here: `b` is a branching depth of two distinct paths.
            extension_preimage(d as u8, b as u8, &ext_path, &node)
        }
    }
}

/// Digest of the sorted leaves `[lo, hi)` (sharing their first `d` bits) as
/// seen at depth `d`; records branching digests of large subtrees in `keep`.
fn subtree(
    leaves: &[LeafEntry],
    lo: usize,
    hi: usize,
    d: usize,
    mut keep: Option<&mut HashMap<usize, Digest>>,
) -> Digest {
    if hi - lo == 1 {
        return leaves[lo].digest();
    }
    let first = &leaves[lo].path;
    let b = common_prefix_bits(first, &leaves[hi - 1].path);
    let m = lo + leaves[lo..hi].partition_point(|e| bit(&e.path, b) == 0);
    let left = subtree(leaves, lo, m, b + 1, keep.as_deref_mut());
    let right = subtree(leaves, m, hi, b + 1, keep.as_deref_mut());
    let node = inner_digest(&left, &right);
    if hi - lo >= CACHE_MIN_LEAVES
        && let Some(k) = keep
    {
        k.insert(m, node);
    }
    chain_digest(node, first, d, b)
}

/// The value of `entry` from a store answer, checked against its leaf hash.
fn checked_value<'a>(
    entry: &LeafEntry,
    answer: Option<&'a Option<Vec<u8>>>,
) -> Result<&'a [u8], Error> {
    match answer {
        Some(Some(v)) if leaf_hash(&entry.path, v, entry.weight) == entry.leaf_hash => Ok(v),
        _ => Err(Error::MissingValue { path: entry.path }),
    }
}

/// Go's proof on an empty trie: bit 0 flipped, depth 0, a 48-byte zero
/// closest path and nothing else.
pub(crate) fn empty_trie_proof(path: &Path) -> ClosestProof {
    ClosestProof {
        path: path.to_vec(),
        flipped_bits: vec![0],
        depth: 0,
        closest_path: Digest::ZERO.0.to_vec(),
        ..ClosestProof::default()
    }
}
