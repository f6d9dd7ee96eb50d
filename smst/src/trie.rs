//! An in-memory incremental trie with exactly the node structure
//! pokt-network/smt v0.14.1 builds (leaf, inner and extension nodes, Go's
//! update and delete rules), digests kept up to date on every change.
//!
//! Because the structure follows Go's even after deletes (Go may keep an
//! inner node with a placeholder child where a fresh trie would have an
//! extension), its proofs reproduce Go's byte for byte, `SiblingData`
//! included. The root equals [`SealedTrie`](crate::SealedTrie)'s for the
//! same leaves.

use crate::digest::{
    Digest, MAX_DEPTH, Path, bit, chain_digest, common_prefix_bits, extension_preimage, flip_bit,
    inner_digest, inner_preimage, leaf_digest, leaf_value, path_for_key,
};
use crate::error::Error;
use crate::proof::ClosestProof;
use crate::sealed::empty_trie_proof;

/// A mutable trie kept in memory, updated one leaf at a time.
///
/// ```
/// let mut trie = smst::Trie::new();
/// trie.update(b"relay-hash", b"relay-bytes", 100);
/// assert_eq!((trie.root().sum(), trie.root().count()), (100, 1));
/// trie.delete(b"relay-hash")?;
/// assert_eq!(trie.root(), smst::Digest::ZERO);
/// # Ok::<(), smst::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Trie {
    root: Option<Node>,
}

#[derive(Clone, Debug)]
enum Node {
    Leaf(Box<LeafNode>),
    Inner(Box<InnerNode>),
    Ext(Box<ExtNode>),
}

#[derive(Clone, Debug)]
struct LeafNode {
    path: Path,
    /// `value ‖ BE8(weight) ‖ BE8(1)`.
    value_hash: Vec<u8>,
    digest: Digest,
}

#[derive(Clone, Debug)]
struct InnerNode {
    left: Option<Node>,
    right: Option<Node>,
    digest: Digest,
}

/// Single-child inner nodes at depths `[start, end)` on the side of `path`'s bits.
#[derive(Clone, Debug)]
struct ExtNode {
    path: Path,
    start: u8,
    end: u8,
    /// Always an inner node in a well-formed trie.
    child: Node,
    digest: Digest,
}

impl Trie {
    /// An empty trie.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The 48-byte root; `Digest::ZERO` when empty.
    #[must_use]
    pub fn root(&self) -> Digest {
        self.root.as_ref().map_or(Digest::ZERO, Node::digest)
    }

    /// Inserts or replaces the leaf of `key` (path `sha256(key)`).
    pub fn update(&mut self, key: &[u8], value: &[u8], weight: u64) {
        self.update_path(path_for_key(key), value, weight);
    }

    /// Inserts or replaces the leaf at `path`.
    pub fn update_path(&mut self, path: Path, value: &[u8], weight: u64) {
        let leaf = Node::Leaf(Box::new(LeafNode {
            path,
            value_hash: leaf_value(value, weight),
            digest: leaf_digest(&path, value, weight),
        }));
        self.root = Some(update(self.root.take(), 0, &path, leaf));
    }

    /// Removes the leaf of `key`.
    ///
    /// # Errors
    /// [`Error::KeyNotFound`] when absent; the trie is then unchanged.
    pub fn delete(&mut self, key: &[u8]) -> Result<(), Error> {
        self.delete_path(&path_for_key(key))
    }

    /// Removes the leaf at `path`.
    ///
    /// # Errors
    /// [`Error::KeyNotFound`] when absent; the trie is then unchanged.
    pub fn delete_path(&mut self, path: &Path) -> Result<(), Error> {
        if self.get_path(path).is_none() {
            return Err(Error::KeyNotFound { path: *path });
        }
        if let Some(root) = self.root.take() {
            self.root = delete(root, 0, path);
        }
        Ok(())
    }

    /// The value and weight stored at `path`.
    #[must_use]
    pub fn get_path(&self, path: &Path) -> Option<(&[u8], u64)> {
        let mut node = self.root.as_ref()?;
        let mut depth = 0;
        loop {
            match node {
                Node::Leaf(l) => {
                    if l.path != *path {
                        return None;
                    }
                    let n = l.value_hash.len();
                    let weight = crate::digest::be_u64(&l.value_hash[n - 16..n - 8]);
                    return Some((&l.value_hash[..n - 16], weight));
                }
                Node::Ext(e) => {
                    if ext_mismatch(e, path).is_some() {
                        return None;
                    }
                    depth = usize::from(e.end);
                    node = &e.child;
                }
                Node::Inner(i) => {
                    let next = if bit(path, depth) == 0 {
                        &i.left
                    } else {
                        &i.right
                    };
                    node = next.as_ref()?;
                    depth += 1;
                }
            }
        }
    }

    /// The closest proof for `path`, exactly as Go's `ProveClosest` on the
    /// same sequence of operations.
    #[must_use]
    pub fn prove_closest(&self, path: &Path) -> ClosestProof {
        let Some(root) = &self.root else {
            return empty_trie_proof(path);
        };
        let mut wp = *path;
        let mut flipped = Vec::new();
        let mut siblings: Vec<Option<&Node>> = Vec::new();
        let mut cur = View::Node(root);
        let mut depth = 0;
        while depth < MAX_DEPTH {
            let (left, right) = match cur {
                View::Node(Node::Leaf(_)) => break,
                View::Node(Node::Inner(i)) => (
                    i.left.as_ref().map(View::Node),
                    i.right.as_ref().map(View::Node),
                ),
                View::Node(Node::Ext(e)) => ext_level(e, usize::from(e.start)),
                View::Level(e, lvl) => ext_level(e, lvl),
            };
            let (mut near, mut far) = if bit(&wp, depth) == 0 {
                (left, right)
            } else {
                (right, left)
            };
            if near.is_none() {
                flip_bit(&mut wp, depth);
                flipped.push(depth);
                std::mem::swap(&mut near, &mut far);
            }
            let Some(next) = near else {
                // An inner node with two empty children: not produced by Go's rules.
                break;
            };
            siblings.push(far.and_then(|v| match v {
                View::Node(n) => Some(n),
                View::Level(..) => None,
            }));
            cur = next;
            depth += 1;
        }
        let View::Node(Node::Leaf(leaf)) = cur else {
            // Unreachable for tries built by update/delete; an empty proof is
            // what Go returns when it finds no leaf.
            return empty_trie_proof(path);
        };
        let sibling_data = siblings
            .last()
            .copied()
            .flatten()
            .map(serialize)
            .unwrap_or_default();
        siblings.reverse();
        ClosestProof {
            path: path.to_vec(),
            flipped_bits: flipped,
            depth,
            closest_path: leaf.path.to_vec(),
            closest_value_hash: leaf.value_hash.clone(),
            side_nodes: siblings
                .iter()
                .map(|s| s.map_or(Digest::ZERO, Node::digest).0.to_vec())
                .collect(),
            non_membership_leaf_data: Vec::new(),
            sibling_data,
        }
    }
}

/// A position while walking: a stored node, or level `lvl` of an extension's chain.
#[derive(Clone, Copy)]
enum View<'a> {
    Node(&'a Node),
    Level(&'a ExtNode, usize),
}

/// Children (left, right) of level `lvl` of an extension's expanded chain.
fn ext_level(e: &ExtNode, lvl: usize) -> (Option<View<'_>>, Option<View<'_>>) {
    let below = if lvl + 1 >= usize::from(e.end) {
        View::Node(&e.child)
    } else {
        View::Level(e, lvl + 1)
    };
    if bit(&e.path, lvl) == 0 {
        (Some(below), None)
    } else {
        (None, Some(below))
    }
}

impl Node {
    fn digest(&self) -> Digest {
        match self {
            Node::Leaf(l) => l.digest,
            Node::Inner(i) => i.digest,
            Node::Ext(e) => e.digest,
        }
    }
}

impl InnerNode {
    fn rehash(&mut self) {
        let l = self.left.as_ref().map_or(Digest::ZERO, Node::digest);
        let r = self.right.as_ref().map_or(Digest::ZERO, Node::digest);
        self.digest = inner_digest(&l, &r);
    }
}

impl ExtNode {
    fn rehash(&mut self) {
        self.digest = chain_digest(
            self.child.digest(),
            &self.path,
            usize::from(self.start),
            usize::from(self.end),
        );
    }
}

fn inner(left: Option<Node>, right: Option<Node>) -> Node {
    let mut i = InnerNode {
        left,
        right,
        digest: Digest::ZERO,
    };
    i.rehash();
    Node::Inner(Box::new(i))
}

/// Depths are below 256 wherever an extension is built (a branching depth
/// of two distinct paths), so they fit in a byte.
fn ext(path: Path, start: usize, end: usize, child: Node) -> Node {
    let mut e = ExtNode {
        path,
        start: start as u8,
        end: end as u8,
        child,
        digest: Digest::ZERO,
    };
    e.rehash();
    Node::Ext(Box::new(e))
}

/// First depth in the extension's range where `path` leaves it.
fn ext_mismatch(e: &ExtNode, path: &Path) -> Option<usize> {
    (usize::from(e.start)..usize::from(e.end)).find(|&i| bit(&e.path, i) != bit(path, i))
}

/// Go `SMT.update`.
fn update(node: Option<Node>, depth: usize, path: &Path, leaf: Node) -> Node {
    let Some(node) = node else {
        return leaf;
    };
    match node {
        Node::Leaf(old) => {
            let prefix = common_prefix_bits(path, &old.path);
            if prefix == MAX_DEPTH {
                return leaf;
            }
            let old = Node::Leaf(old);
            let branch = if bit(path, prefix) == 0 {
                inner(Some(leaf), Some(old))
            } else {
                inner(Some(old), Some(leaf))
            };
            if depth < prefix {
                ext(*path, depth, prefix, branch)
            } else {
                branch
            }
        }
        Node::Ext(mut e) => {
            let Some(idx) = ext_mismatch(&e, path) else {
                let child = std::mem::replace(&mut e.child, inner(None, None));
                e.child = update(Some(child), usize::from(e.end), path, leaf);
                e.rehash();
                return Node::Ext(e);
            };
            // Go `extensionNode.split`, then the new leaf on the free side.
            let start = usize::from(e.start);
            let end = usize::from(e.end);
            let ext_bit = bit(&e.path, idx);
            let (head, tail) = if idx == start {
                let tail = if end - start == 1 {
                    e.child
                } else {
                    ext(e.path, start + 1, end, e.child)
                };
                (None, tail)
            } else {
                let tail = if idx == end - 1 {
                    e.child
                } else {
                    ext(e.path, idx + 1, end, e.child)
                };
                (Some((e.path, start)), tail)
            };
            let branch = if ext_bit == 0 {
                inner(Some(tail), Some(leaf))
            } else {
                inner(Some(leaf), Some(tail))
            };
            match head {
                None => branch,
                Some((p, s)) => ext(p, s, idx, branch),
            }
        }
        Node::Inner(mut i) => {
            let child = if bit(path, depth) == 0 {
                &mut i.left
            } else {
                &mut i.right
            };
            *child = Some(update(child.take(), depth + 1, path, leaf));
            i.rehash();
            Node::Inner(i)
        }
    }
}

/// Go `SMT.delete` for a key known to be present.
fn delete(node: Node, depth: usize, path: &Path) -> Option<Node> {
    match node {
        Node::Leaf(_) => None,
        Node::Ext(mut e) => {
            let child = std::mem::replace(&mut e.child, inner(None, None));
            match delete(child, usize::from(e.end), path)? {
                Node::Leaf(l) => Some(Node::Leaf(l)),
                Node::Ext(mut n) => {
                    n.start = e.start;
                    n.rehash();
                    Some(Node::Ext(n))
                }
                inner_node @ Node::Inner(_) => {
                    e.child = inner_node;
                    e.rehash();
                    Some(Node::Ext(e))
                }
            }
        }
        Node::Inner(mut i) => {
            let go_left = bit(path, depth) == 0;
            let child_slot = if go_left { &mut i.left } else { &mut i.right };
            if let Some(child) = child_slot.take() {
                *child_slot = delete(child, depth + 1, path);
            }
            let (child, sib) = if go_left {
                (&mut i.left, &mut i.right)
            } else {
                (&mut i.right, &mut i.left)
            };
            // Go checks the child slot first, then the sibling slot.
            let (child_empty, sib_empty) = (child.is_none(), sib.is_none());
            if child_empty && let Some(n) = collapse(sib) {
                return Some(n);
            }
            if sib_empty && let Some(n) = collapse(child) {
                return Some(n);
            }
            i.rehash();
            Some(Node::Inner(i))
        }
    }
}

/// Takes a leaf or extension out of `slot` to replace its parent inner node
/// whose other child is empty (an extension grows by that level); leaves
/// inner nodes where they are.
fn collapse(slot: &mut Option<Node>) -> Option<Node> {
    match slot.take() {
        Some(Node::Leaf(l)) => Some(Node::Leaf(l)),
        Some(Node::Ext(mut n)) => {
            // An extension below an inner node at depth d starts at d + 1 ≥ 1.
            n.start = n.start.saturating_sub(1);
            n.rehash();
            Some(Node::Ext(n))
        }
        keep => {
            *slot = keep;
            None
        }
    }
}

/// Go's serialization of a stored node (what `SiblingData` carries).
fn serialize(node: &Node) -> Vec<u8> {
    match node {
        Node::Leaf(l) => {
            let mut d = Vec::with_capacity(1 + 32 + l.value_hash.len());
            d.push(0);
            d.extend_from_slice(&l.path);
            d.extend_from_slice(&l.value_hash);
            d
        }
        Node::Inner(i) => inner_preimage(
            &i.left.as_ref().map_or(Digest::ZERO, Node::digest),
            &i.right.as_ref().map_or(Digest::ZERO, Node::digest),
        ),
        Node::Ext(e) => extension_preimage(e.start, e.end, &e.path, &e.child.digest()),
    }
}
