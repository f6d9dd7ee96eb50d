//! One cached entity type: a lock-free L1 map with expiry, single-flight
//! loading on a miss, and an optional L2 in Redis.

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::OnceCell;

/// A cached value and when it stops being served.
#[derive(Clone)]
struct Entry<V> {
    value: V,
    expires: Instant,
}

/// L1 for one entity type.
pub struct Tier<K, V> {
    l1: papaya::HashMap<K, Entry<V>>,
    inflight: Mutex<std::collections::HashMap<K, Arc<OnceCell<V>>>>,
    hits: Option<prometheus::IntCounter>,
}

impl<K, V> Default for Tier<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Tier {
            l1: papaya::HashMap::new(),
            inflight: Mutex::new(std::collections::HashMap::new()),
            hits: None,
        }
    }
}

impl<K, V> Tier<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A tier whose [`Tier::get_or_load`] counts its L1 hits on `hits`.
    pub fn counted(hits: prometheus::IntCounter) -> Self {
        Tier {
            hits: Some(hits),
            ..Tier::default()
        }
    }

    /// The L1 value if present and fresh. Lock-free; not counted.
    pub fn get(&self, key: &K) -> Option<V> {
        let guard = self.l1.guard();
        let e = self.l1.get(key, &guard)?;
        (e.expires > Instant::now()).then(|| e.value.clone())
    }

    /// Stores a value in L1 for `ttl`.
    pub fn put(&self, key: K, value: V, ttl: Duration) {
        let guard = self.l1.guard();
        self.l1.insert(
            key,
            Entry {
                value,
                expires: Instant::now() + ttl,
            },
            &guard,
        );
    }

    /// Drops entries matching `pred` (invalidation).
    pub fn invalidate(&self, pred: impl Fn(&K) -> bool) {
        let guard = self.l1.guard();
        self.l1.retain(|k, _| !pred(k), &guard);
    }

    /// Number of L1 entries (fresh or not).
    pub fn len(&self) -> usize {
        self.l1.len()
    }

    /// Whether L1 is empty.
    pub fn is_empty(&self) -> bool {
        self.l1.is_empty()
    }

    /// The value for `key`: L1, else one `load` per key at a time in this
    /// process (concurrent misses wait for the same load), stored with the
    /// TTL `load` returns. A failed load is not cached; the next caller tries
    /// again.
    pub async fn get_or_load<E, F, Fut>(&self, key: &K, load: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(V, Duration), E>>,
    {
        if let Some(v) = self.get(key) {
            if let Some(hits) = &self.hits {
                hits.inc();
            }
            return Ok(v);
        }
        let cell = self
            .inflight
            .lock()
            .entry(key.clone())
            .or_insert_with(|| Arc::new(OnceCell::new()))
            .clone();
        let result = cell
            .get_or_try_init(|| async {
                let (v, ttl) = load().await?;
                self.put(key.clone(), v.clone(), ttl);
                Ok(v)
            })
            .await
            .cloned();
        let mut inflight = self.inflight.lock();
        if inflight.get(key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            inflight.remove(key);
        }
        result
    }
}
