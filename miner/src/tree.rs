//! A session's tree as the miner keeps it: leaves in Redis (one small entry
//! and the relay bytes per relay, keyed by the leaf path), a sealed trie
//! computed from the entries when the claim is built, and closest proofs
//! that read only the values of the leaves they carry.

use std::cell::RefCell;
use std::collections::HashMap;

use smst::{Digest, Leaf, LeafEntry, Path, SealedTrie};
use store::leaves::{LeafStore, LeafWrite};

use crate::error::{Error, Result};

/// Size of an encoded leaf entry: weight ‖ leaf hash ‖ sequence.
const ENTRY_LEN: usize = 8 + 32 + 8;

/// Entries asked for per HSCAN call when a claim is built.
const LOAD_PAGE: usize = 10_000;

/// The Redis write for one relay: field = its leaf path (`sha256(relay
/// hash)`), entry = weight ‖ leaf hash ‖ sequence, value = relay bytes.
pub fn leaf_write(relay_hash: &[u8], relay_bytes: Vec<u8>, weight: u64, seq: u64) -> LeafWrite {
    let leaf = Leaf::new(relay_hash, relay_bytes, weight);
    let mut entry = Vec::with_capacity(ENTRY_LEN);
    entry.extend_from_slice(&weight.to_be_bytes());
    entry.extend_from_slice(&leaf.leaf_hash());
    entry.extend_from_slice(&seq.to_be_bytes());
    LeafWrite {
        key: leaf.path.to_vec(),
        entry,
        value: leaf.value,
    }
}

fn decode_entry(key: &[u8], entry: &[u8]) -> Result<LeafEntry> {
    let path: Path = key
        .try_into()
        .map_err(|_| Error::Corrupt(format!("leaf key of {} bytes", key.len())))?;
    if entry.len() != ENTRY_LEN {
        return Err(Error::Corrupt(format!(
            "leaf entry of {} bytes",
            entry.len()
        )));
    }
    let mut w = [0u8; 8];
    w.copy_from_slice(&entry[..8]);
    let mut leaf_hash = [0u8; 32];
    leaf_hash.copy_from_slice(&entry[8..40]);
    let mut s = [0u8; 8];
    s.copy_from_slice(&entry[40..48]);
    Ok(LeafEntry {
        path,
        leaf_hash,
        weight: u64::from_be_bytes(w),
        seq: u64::from_be_bytes(s),
    })
}

/// A sealed session tree: its root is fixed, and proofs come from exactly
/// the leaf set it was built from.
pub struct SessionTree {
    trie: SealedTrie,
}

impl SessionTree {
    /// Loads a session's entries from Redis page by page (HSCAN) and
    /// computes its trie. Only one page of Redis replies is alive at a time,
    /// next to the decoded 80-byte entries.
    pub async fn load(store: &LeafStore, session_id: &str) -> Result<Self> {
        let expected = usize::try_from(store.len(session_id).await?).unwrap_or(0);
        let mut entries = Vec::with_capacity(expected);
        let mut cursor = 0;
        loop {
            let (next, page) = store.entries_page(session_id, cursor, LOAD_PAGE).await?;
            for (k, e) in &page {
                entries.push(decode_entry(k, e)?);
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        // HSCAN may repeat an entry; a sealed session's repeats are identical.
        entries.sort_unstable_by_key(|e| e.path);
        entries.dedup_by(|a, b| a.path == b.path && a.leaf_hash == b.leaf_hash);
        entries.shrink_to_fit();
        Ok(SessionTree {
            trie: SealedTrie::from_entries(entries)?,
        })
    }

    /// The 48-byte root (digest ‖ sum ‖ count).
    pub fn root(&self) -> Digest {
        self.trie.root()
    }

    /// Number of relays.
    pub fn len(&self) -> usize {
        self.trie.len()
    }

    /// Whether the session has no relay.
    pub fn is_empty(&self) -> bool {
        self.trie.is_empty()
    }

    /// Memory held by the trie.
    pub fn heap_bytes(&self) -> usize {
        self.trie.heap_bytes()
    }

    /// The closest proof for `path`, reading the values it needs from Redis
    /// (one HMGET), compacted, gob-encoded, and verified against the root
    /// before it is returned: a proof that would not verify is never sent.
    pub async fn prove(&self, store: &LeafStore, session_id: &str, path: &Path) -> Result<Vec<u8>> {
        // First pass records which values the proof needs; the second has them.
        let probe = Prefetched::default();
        let proof = match self.trie.prove_closest(path, &probe) {
            Ok(p) => p,
            Err(smst::Error::MissingValue { .. }) | Err(smst::Error::Store(_)) => {
                let wanted: Vec<Vec<u8>> = probe
                    .requested
                    .borrow()
                    .iter()
                    .map(|p| p.to_vec())
                    .collect();
                let values = store.values(session_id, &wanted).await?;
                let mut have = HashMap::new();
                for (p, v) in probe.requested.borrow().iter().zip(values) {
                    if let Some(v) = v {
                        have.insert(*p, v);
                    }
                }
                let full = Prefetched {
                    values: have,
                    requested: RefCell::default(),
                };
                self.trie.prove_closest(path, &full)?
            }
            Err(e) => return Err(e.into()),
        };
        let bytes = proof.compact()?.to_gob();
        smst::verify_proof_bytes(&bytes, self.root().as_bytes()).map_err(|e| {
            Error::SelfCheck(format!("proof does not verify against our root: {e}"))
        })?;
        Ok(bytes)
    }
}

/// An `smst::LeafStore` over values fetched ahead of time; records what it
/// was asked for that it lacks.
#[derive(Default)]
struct Prefetched {
    values: HashMap<Path, Vec<u8>>,
    requested: RefCell<Vec<Path>>,
}

impl smst::LeafStore for Prefetched {
    fn put_many(&mut self, _: &[Leaf]) -> Result<(), smst::Error> {
        Err(smst::Error::Store("read-only".into()))
    }

    fn remove_many(&mut self, _: &[Path]) -> Result<Vec<bool>, smst::Error> {
        Err(smst::Error::Store("read-only".into()))
    }

    fn entries(&self) -> Result<Vec<LeafEntry>, smst::Error> {
        Err(smst::Error::Store("entries are loaded from Redis".into()))
    }

    fn get_values(&self, paths: &[Path]) -> Result<Vec<Option<Vec<u8>>>, smst::Error> {
        let out: Vec<Option<Vec<u8>>> = paths.iter().map(|p| self.values.get(p).cloned()).collect();
        if out.iter().any(Option::is_none) {
            self.requested.borrow_mut().extend_from_slice(paths);
            return Err(smst::Error::Store("values not fetched yet".into()));
        }
        Ok(out)
    }
}
