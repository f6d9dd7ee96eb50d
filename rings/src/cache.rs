//! A shared cache of per-public-key verification data.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
};

use k256::ProjectivePoint;

use crate::{Error, ring::KeyPoints, table::Table};

/// Per-public-key precomputation for ring verification, shared across
/// requests and threads (`Send + Sync`; put it in an `Arc`).
///
/// For each compressed public key it keeps the decoded point, `Hp(P)` and
/// fixed-base multiplication tables of both (about 150 KiB per key, built in
/// about a millisecond on first use), which saves the square roots of
/// decoding and hash-to-curve and roughly halves the point arithmetic of a
/// verification. It also keeps tables for the key images of signers whose
/// signatures verified (a gateway signs every relay with one key, hence one
/// key image), at most [`KeyCache::IMAGE_CAPACITY`] of them.
///
/// Entries never go stale (they are pure functions of the key), so there is
/// no invalidation; the cache is bounded by `capacity` (when full, inserting
/// evicts an arbitrary entry) and can be cleared.
///
/// [`verify_ring_signature`](crate::verify_ring_signature) only inserts keys
/// that are in the expected ring, and key images of signatures that verified,
/// never anything a sender can choose freely.
#[derive(Debug)]
pub struct KeyCache {
    entries: RwLock<HashMap<[u8; 33], Arc<KeyPoints>>>,
    images: RwLock<HashMap<[u8; 33], Arc<Table>>>,
    capacity: usize,
}

impl KeyCache {
    /// Default capacity: a relayer sees one application plus a few gateways
    /// per ring. At ~150 KiB of tables per key a full default cache holds
    /// ~150 MiB; a key evicted and seen again costs its tables again (~1 ms).
    pub const DEFAULT_CAPACITY: usize = 1024;
    /// Most key-image tables kept (~75 KiB each): one per signing key (the
    /// gateways, and applications that sign for themselves).
    pub const IMAGE_CAPACITY: usize = 1024;

    /// An empty cache holding at most `capacity` keys (at least one).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            entries: RwLock::new(HashMap::with_capacity(capacity.min(Self::DEFAULT_CAPACITY))),
            images: RwLock::new(HashMap::new()),
            capacity,
        }
    }

    /// The maximum number of keys kept.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The number of keys currently cached.
    #[must_use]
    pub fn len(&self) -> usize {
        self.read_len()
    }

    /// True when no key is cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.read_len() == 0
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.images
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The table of a key image seen in a signature that verified.
    pub(crate) fn image_table(&self, key_image: &[u8; 33]) -> Option<Arc<Table>> {
        self.images
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key_image)
            .cloned()
    }

    /// Keeps a table for the key image of a signature that verified.
    pub(crate) fn insert_image_table(&self, key_image: &[u8; 33], point: &ProjectivePoint) {
        if self
            .images
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(key_image)
        {
            return;
        }
        let table = Arc::new(Table::new(point));
        let mut images = self.images.write().unwrap_or_else(PoisonError::into_inner);
        if images.len() >= Self::IMAGE_CAPACITY
            && let Some(victim) = images.keys().next().copied()
        {
            images.remove(&victim);
        }
        images.insert(*key_image, table);
    }

    /// Decodes `public_key`, computes `Hp(P)` and caches them (for warming the
    /// cache when a ring is loaded from the chain). A key already cached is
    /// left as is.
    ///
    /// # Errors
    /// [`Error::InvalidPublicKey`] if the key does not decode (nothing is
    /// cached); [`Error::HashToCurve`] (probability about 2^-128).
    pub fn prepare(&self, public_key: &[u8; 33]) -> Result<(), Error> {
        self.get_or_prepare(public_key).map(|_| ())
    }

    pub(crate) fn get_or_prepare(&self, public_key: &[u8; 33]) -> Result<Arc<KeyPoints>, Error> {
        if let Some(hit) = self
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(public_key)
        {
            return Ok(Arc::clone(hit));
        }
        // Computed outside the lock: two threads missing the same key at once
        // both compute it, and the second insert is a harmless overwrite.
        let prepared = Arc::new(KeyPoints::prepare_with_tables(public_key)?);
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity
            && !entries.contains_key(public_key)
            && let Some(victim) = entries.keys().next().copied()
        {
            entries.remove(&victim);
        }
        entries.insert(*public_key, Arc::clone(&prepared));
        Ok(prepared)
    }

    fn read_len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Default for KeyCache {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PrivateKey;

    fn key(i: u8) -> [u8; 33] {
        let mut secret = [0u8; 32];
        secret[31] = i;
        PrivateKey::from_bytes(&secret)
            .expect("1..=255 are valid private keys")
            .public_key()
    }

    #[test]
    fn is_bounded_and_clearable() {
        let cache = KeyCache::new(3);
        for i in 1..=10 {
            cache.prepare(&key(i)).expect("valid key");
            assert!(cache.len() <= 3);
        }
        assert_eq!(cache.len(), 3);
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn invalid_keys_are_not_cached() {
        let cache = KeyCache::default();
        let mut bad = key(1);
        bad[0] = 0x04;
        assert_eq!(cache.prepare(&bad), Err(Error::InvalidPublicKey));
        assert!(cache.is_empty());
    }

    #[test]
    fn is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<KeyCache>();
    }
}
