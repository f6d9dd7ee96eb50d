//! Leaves, the leaf-store abstraction and its in-memory implementation.
//!
//! The root and every proof depend only on the set of leaves (smst.md §4), so
//! the durable state of a session tree can be just its leaves. A [`LeafStore`]
//! keeps two things per leaf: a small [`LeafEntry`] (path, leaf hash, weight,
//! insertion sequence) that is loaded in bulk to build a
//! [`SealedTrie`](crate::SealedTrie), and the value bytes, which are read only
//! for the (at most two) leaves a proof carries.

use std::collections::HashMap;

use crate::digest::{Digest, Path, leaf_hash, path_for_key};
use crate::error::Error;

/// A leaf to insert: its path, its raw value (the relay bytes) and its weight
/// (compute units per relay).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaf {
    /// `sha256(key)`.
    pub path: Path,
    /// The raw value; the trie stores it unhashed.
    pub value: Vec<u8>,
    /// Weight added to the sum.
    pub weight: u64,
}

/// What a bulk build needs to know about a leaf, without its value: 80 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafEntry {
    /// `sha256(key)`.
    pub path: Path,
    /// `H(0x00 ‖ path ‖ value ‖ BE8(weight) ‖ BE8(1))`.
    pub leaf_hash: [u8; 32],
    /// The leaf's weight.
    pub weight: u64,
    /// Order of first insertion (smaller = earlier); only used to reproduce
    /// the insertion-order-dependent path bytes Go writes into extension
    /// `SiblingData` (smst.md §7.2). Any value gives a valid proof.
    pub seq: u64,
}

/// Durable storage of a session's leaves, keyed by path. Synchronous and
/// batch-oriented so that a networked implementation can pipeline each call
/// into one round trip.
pub trait LeafStore {
    /// Inserts or replaces leaves. A leaf whose path is already stored is
    /// replaced but keeps its original sequence number (re-inserting an
    /// identical relay changes nothing).
    fn put_many(&mut self, leaves: &[Leaf]) -> Result<(), Error>;

    /// Removes leaves; the result says for each path whether it was stored.
    fn remove_many(&mut self, paths: &[Path]) -> Result<Vec<bool>, Error>;

    /// Every stored leaf's entry, in any order.
    fn entries(&self) -> Result<Vec<LeafEntry>, Error>;

    /// The values of the given leaves (`None` when absent), in input order.
    fn get_values(&self, paths: &[Path]) -> Result<Vec<Option<Vec<u8>>>, Error>;
}

/// An in-memory [`LeafStore`]: the set of leaves of one trie.
///
/// ```
/// use smst::{Leaf, LeafSet, LeafStore, SealedTrie};
/// let mut set = LeafSet::new();
/// set.put_many(&[Leaf::new(b"relay hash", b"relay bytes".to_vec(), 100)])?;
/// let trie = SealedTrie::from_store(&set)?;
/// assert_eq!((trie.root().sum(), trie.root().count()), (100, 1));
/// # Ok::<(), smst::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct LeafSet {
    leaves: HashMap<Path, Stored>,
    next_seq: u64,
}

#[derive(Clone, Debug)]
struct Stored {
    value: Vec<u8>,
    leaf_hash: [u8; 32],
    weight: u64,
    seq: u64,
}

impl Leaf {
    /// A leaf for `key` (its path is `sha256(key)`).
    #[must_use]
    pub fn new(key: &[u8], value: Vec<u8>, weight: u64) -> Self {
        Leaf {
            path: path_for_key(key),
            value,
            weight,
        }
    }

    /// The 32-byte leaf hash `H(0x00 ‖ path ‖ value ‖ BE8(weight) ‖ BE8(1))`.
    #[must_use]
    pub fn leaf_hash(&self) -> [u8; 32] {
        leaf_hash(&self.path, &self.value, self.weight)
    }

    /// The leaf's entry with the given sequence number.
    #[must_use]
    pub fn entry(&self, seq: u64) -> LeafEntry {
        LeafEntry {
            path: self.path,
            leaf_hash: self.leaf_hash(),
            weight: self.weight,
            seq,
        }
    }
}

impl LeafEntry {
    /// The leaf's 48-byte digest.
    #[must_use]
    pub fn digest(&self) -> Digest {
        Digest::from_parts(&self.leaf_hash, self.weight, 1)
    }
}

impl LeafSet {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces one leaf (same path → new value and weight, same
    /// sequence number).
    pub fn insert(&mut self, leaf: Leaf) {
        let leaf_hash = leaf.leaf_hash();
        let next = self.next_seq;
        let seq = self.leaves.get(&leaf.path).map_or(next, |s| s.seq);
        if seq == next {
            self.next_seq += 1;
        }
        self.leaves.insert(
            leaf.path,
            Stored {
                value: leaf.value,
                leaf_hash,
                weight: leaf.weight,
                seq,
            },
        );
    }

    /// Removes a leaf by path.
    ///
    /// # Errors
    /// [`Error::KeyNotFound`] when no leaf has that path.
    pub fn remove(&mut self, path: &Path) -> Result<(), Error> {
        match self.leaves.remove(path) {
            Some(_) => Ok(()),
            None => Err(Error::KeyNotFound { path: *path }),
        }
    }

    /// Number of leaves.
    #[must_use]
    pub fn len(&self) -> usize {
        self.leaves.len()
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// The value and weight of the leaf at `path`.
    #[must_use]
    pub fn get(&self, path: &Path) -> Option<(&[u8], u64)> {
        self.leaves
            .get(path)
            .map(|s| (s.value.as_slice(), s.weight))
    }
}

impl LeafStore for LeafSet {
    fn put_many(&mut self, leaves: &[Leaf]) -> Result<(), Error> {
        for leaf in leaves {
            self.insert(leaf.clone());
        }
        Ok(())
    }

    fn remove_many(&mut self, paths: &[Path]) -> Result<Vec<bool>, Error> {
        Ok(paths
            .iter()
            .map(|p| self.leaves.remove(p).is_some())
            .collect())
    }

    fn entries(&self) -> Result<Vec<LeafEntry>, Error> {
        Ok(self
            .leaves
            .iter()
            .map(|(path, s)| LeafEntry {
                path: *path,
                leaf_hash: s.leaf_hash,
                weight: s.weight,
                seq: s.seq,
            })
            .collect())
    }

    fn get_values(&self, paths: &[Path]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        Ok(paths
            .iter()
            .map(|p| self.leaves.get(p).map(|s| s.value.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_keeps_sequence_and_remove_reports_presence() {
        let mut set = LeafSet::new();
        let a = Leaf::new(b"a", b"one".to_vec(), 1);
        let b = Leaf::new(b"b", b"two".to_vec(), 2);
        set.put_many(&[a.clone(), b.clone()]).unwrap();
        set.put_many(&[Leaf::new(b"a", b"uno".to_vec(), 5)])
            .unwrap();
        let mut e = set.entries().unwrap();
        e.sort_by_key(|e| e.seq);
        assert_eq!(e.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(e[0].path, a.path);
        assert_eq!(e[0].weight, 5);
        assert_eq!(e[0].leaf_hash, leaf_hash(&a.path, b"uno", 5));
        assert_eq!(
            set.get_values(&[b.path, [9; 32], a.path]).unwrap(),
            vec![Some(b"two".to_vec()), None, Some(b"uno".to_vec())]
        );
        assert_eq!(
            set.remove_many(&[a.path, a.path]).unwrap(),
            vec![true, false]
        );
        assert!(matches!(
            set.remove(&a.path),
            Err(Error::KeyNotFound { .. })
        ));
        // A re-inserted leaf is new: it gets a new sequence number.
        set.insert(a.clone());
        let seq = set
            .entries()
            .unwrap()
            .iter()
            .find(|e| e.path == a.path)
            .unwrap()
            .seq;
        assert_eq!(seq, 2);
        assert_eq!(set.len(), 2);
        assert_eq!(set.get(&a.path), Some((&b"one"[..], 1)));
    }
}
