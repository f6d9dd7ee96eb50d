//! L2 (Redis) and the cross-process single-flight in front of the chain.
//!
//! On an L2 miss a process takes `cache_lock(entity, id)` with
//! `SET <owner> NX PX 3s`. The winner reads L2 once more (a load may have
//! finished between its read and its lock), loads from the chain, writes L2
//! and deletes the lock if it still holds it. The others poll L2 every 10 ms
//! until the value appears, or the lock is gone (released after a failure,
//! expired, or Redis unreachable) or has outlived its TTL: then they load
//! themselves. Nobody waits forever and a failure is never written to L2.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fred::prelude::*;
use fred::types::Value;

use crate::metrics::EntityMetrics;
use crate::{CacheError, ChainCache, entity};

/// How long a single-flight lock lives if its holder never releases it.
pub(crate) const LOCK_TTL: Duration = Duration::from_secs(3);
/// How often a waiter looks at L2 and the lock.
pub(crate) const LOCK_POLL: Duration = Duration::from_millis(10);

/// Compare-and-delete: only the holder's value releases the lock.
const UNLOCK: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

/// A held single-flight lock; released on drop (also when the loading future
/// is cancelled), by compare-and-delete.
struct LockGuard {
    pool: Pool,
    key: String,
    token: String,
    released: bool,
}

impl LockGuard {
    async fn release(mut self) {
        self.released = true;
        let (key, token) = (
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.token),
        );
        unlock(&self.pool, key, token).await;
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        // Cancelled mid-load: give the lock back so waiters elsewhere do not
        // sit out its TTL. Outside a runtime the TTL cleans up.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (pool, key, token) = (
                self.pool.clone(),
                std::mem::take(&mut self.key),
                std::mem::take(&mut self.token),
            );
            rt.spawn(async move { unlock(&pool, key, token).await });
        }
    }
}

async fn unlock(pool: &Pool, key: String, token: String) {
    if let Err(e) = pool
        .eval::<i64, _, _, _>(UNLOCK, vec![key], vec![token])
        .await
    {
        tracing::debug!(error = %e, "cache: releasing a single-flight lock failed");
    }
}

/// The outcome of trying the lock.
enum Lock {
    Acquired(LockGuard),
    Held,
    Unavailable,
}

impl ChainCache {
    pub(crate) async fn l2_get(&self, entity: &str, id: &str) -> Option<Vec<u8>> {
        let (pool, keys) = self.redis.as_ref()?;
        let key = keys.cache_entry(entity, id);
        match pool.get::<Value, _>(key.as_str()).await {
            Ok(v) => v.as_bytes().map(<[u8]>::to_vec),
            Err(e) => {
                self.metrics.l2_error("get");
                tracing::debug!(error = %e, "cache L2 read failed");
                None
            }
        }
    }

    pub(crate) async fn l2_put(&self, entity: &str, id: &str, bytes: Vec<u8>, ttl: Duration) {
        if let Some((pool, keys)) = &self.redis {
            let key = keys.cache_entry(entity, id);
            let px = Some(Expiration::PX(
                i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1),
            ));
            if let Err(e) = pool
                .set::<(), _, _>(key.as_str(), bytes, px, None, false)
                .await
            {
                self.metrics.l2_error("set");
                tracing::debug!(error = %e, "cache L2 write failed");
            }
        }
    }

    /// Runs a chain load, counting it as a miss and timing it.
    pub(crate) async fn timed_load<V>(
        &self,
        m: &EntityMetrics,
        load: impl Future<Output = Result<V, CacheError>>,
    ) -> Result<V, CacheError> {
        m.misses.inc();
        let started = Instant::now();
        let r = load.await;
        m.chain_load.observe(started.elapsed().as_secs_f64());
        r
    }

    /// Loads through L2, then the chain under the cross-process single-flight
    /// lock, storing in L2 after a chain load (and remembering applications
    /// and suppliers in the known sets).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn through<V, F, Fut>(
        &self,
        entity: &'static str,
        m: &EntityMetrics,
        id: String,
        ttl: Duration,
        decode: impl Fn(&[u8]) -> Option<V>,
        encode: impl Fn(&V) -> Vec<u8>,
        load: F,
    ) -> Result<(V, Duration), CacheError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, CacheError>>,
    {
        let Some((pool, keys)) = &self.redis else {
            return Ok((self.timed_load(m, load()).await?, ttl));
        };
        let (id_ref, decode) = (id.as_str(), &decode);
        let l2 = move || async move { self.l2_get(entity, id_ref).await.and_then(|b| decode(&b)) };
        if let Some(v) = l2().await {
            m.l2_hits.inc();
            return Ok((v, ttl));
        }
        let lock_key = keys.cache_lock(entity, &id);
        let guard = match self.try_lock(pool, &lock_key).await {
            Lock::Acquired(guard) => {
                // Double check: the previous holder writes L2 before it
                // releases, so a value loaded meanwhile is there now.
                if let Some(v) = l2().await {
                    guard.release().await;
                    m.l2_hits.inc();
                    return Ok((v, ttl));
                }
                Some(guard)
            }
            Lock::Held => {
                if let Some(v) = self.wait_for_l2(pool, &lock_key, m, l2).await {
                    return Ok((v, ttl));
                }
                None
            }
            Lock::Unavailable => None,
        };
        let loaded = self.timed_load(m, load()).await;
        if let Ok(v) = &loaded {
            self.l2_put(entity, &id, encode(v), ttl).await;
            if matches!(entity, entity::APPLICATION | entity::SUPPLIER) {
                self.remember_known(entity, &id).await;
            }
        }
        if let Some(guard) = guard {
            guard.release().await;
        }
        Ok((loaded?, ttl))
    }

    async fn try_lock(&self, pool: &Pool, key: &str) -> Lock {
        let token = format!(
            "{}-{}",
            self.lock_owner,
            self.lock_seq.fetch_add(1, Ordering::Relaxed)
        );
        let px = i64::try_from(LOCK_TTL.as_millis()).unwrap_or(i64::MAX);
        match pool
            .set::<Value, _, _>(
                key,
                token.as_str(),
                Some(Expiration::PX(px)),
                Some(SetOptions::NX),
                false,
            )
            .await
        {
            Ok(v) if !v.is_null() => Lock::Acquired(LockGuard {
                pool: pool.clone(),
                key: key.to_owned(),
                token,
                released: false,
            }),
            Ok(_) => Lock::Held,
            Err(e) => {
                self.metrics.l2_error("lock");
                tracing::debug!(error = %e, "cache: single-flight lock failed");
                Lock::Unavailable
            }
        }
    }

    /// Polls L2 while another process loads. `None`: load yourself (the lock
    /// went away without a value, outlived its TTL, or Redis failed).
    async fn wait_for_l2<V, Fut>(
        &self,
        pool: &Pool,
        lock_key: &str,
        m: &EntityMetrics,
        l2: impl Fn() -> Fut,
    ) -> Option<V>
    where
        Fut: Future<Output = Option<V>>,
    {
        let started = Instant::now();
        let done = |counter: &prometheus::IntCounter| {
            counter.inc();
            m.lock_wait.observe(started.elapsed().as_secs_f64());
        };
        loop {
            tokio::time::sleep(LOCK_POLL).await;
            if let Some(v) = l2().await {
                done(&m.waits_filled);
                return Some(v);
            }
            if started.elapsed() >= LOCK_TTL + LOCK_POLL {
                done(&m.waits_timeout);
                return None;
            }
            match pool.exists::<i64, _>(lock_key).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {
                    // Released: the value is in L2 if the load succeeded.
                    let v = l2().await;
                    done(if v.is_some() {
                        &m.waits_filled
                    } else {
                        &m.waits_released
                    });
                    return v;
                }
                Err(e) => {
                    self.metrics.l2_error("lock");
                    tracing::debug!(error = %e, "cache: single-flight lock check failed");
                    done(&m.waits_released);
                    return None;
                }
            }
        }
    }
}
