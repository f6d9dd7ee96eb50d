//! Known ids: the applications and suppliers any process loaded from the
//! chain, kept in Redis sets (`cache_known(entity)`, 7-day TTL refreshed on
//! every add). Relayers preload them at start ([`ChainCache::warm_up`]); the
//! leader re-reads them from the chain every few blocks
//! ([`ChainCache::refresh_known`]) and invalidates every L1 when one changed.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::{Duration, Instant};

use fred::prelude::*;
use fred::types::Value;
use futures::StreamExt;
use prost::Message;

use crate::{CacheError, ChainCache, entity};

/// Lifetime of a known set, refreshed whenever an id is added.
pub const KNOWN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Chain queries in flight during a refresh pass.
const REFRESH_CONCURRENCY: usize = 16;

/// What [`ChainCache::warm_up`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WarmUpReport {
    /// Distinct applications to warm (configured and known).
    pub requested: usize,
    /// Applications loaded.
    pub warmed: usize,
    /// Rings loaded (at the current session end).
    pub rings: usize,
    /// Applications the chain does not know (e.g. unstaked since).
    pub not_found: usize,
    /// Applications that failed to load (chain or Redis unavailable).
    pub failed: usize,
    /// Whether the timeout ended the warm-up before every application was
    /// loaded (`requested` minus the three counts above were not).
    pub timed_out: bool,
}

/// Outcomes of one refresh pass over the known ids of one entity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshCounts {
    /// The chain value equals the L2 bytes.
    pub unchanged: usize,
    /// The chain value differed: L2 rewritten and every L1 invalidated.
    pub changed: usize,
    /// Not in L2: written there (no invalidation, nothing to compare with).
    pub filled: usize,
    /// Gone from the chain: L2 entry deleted, id forgotten, L1s invalidated.
    pub removed: usize,
    /// The chain (or Redis) did not answer; tried again next pass.
    pub failed: usize,
}

impl RefreshCounts {
    /// Ids looked at.
    pub fn total(&self) -> usize {
        self.unchanged + self.changed + self.filled + self.removed + self.failed
    }
}

/// What [`ChainCache::refresh_known`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshReport {
    /// Known applications.
    pub applications: RefreshCounts,
    /// Known suppliers.
    pub suppliers: RefreshCounts,
    /// How long the pass took.
    pub duration: Duration,
}

/// One refreshed id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refreshed {
    Unchanged,
    Changed,
    Filled,
    Removed,
    Failed,
}

impl Refreshed {
    fn label(self) -> &'static str {
        match self {
            Refreshed::Unchanged => "unchanged",
            Refreshed::Changed => "changed",
            Refreshed::Filled => "filled",
            Refreshed::Removed => "removed",
            Refreshed::Failed => "failed",
        }
    }
}

impl ChainCache {
    /// Adds `id` to the known set of `entity` and refreshes the set's TTL.
    /// Best effort: a failure is logged and counted.
    pub(crate) async fn remember_known(&self, entity: &str, id: &str) {
        let Some((pool, keys)) = &self.redis else {
            return;
        };
        let key = keys.cache_known(entity);
        let secs = i64::try_from(KNOWN_TTL.as_secs()).unwrap_or(i64::MAX);
        let pipeline = pool.next().pipeline();
        let queued = async {
            pipeline.sadd::<(), _, _>(key.as_str(), id).await?;
            pipeline.expire::<(), _>(key.as_str(), secs, None).await?;
            pipeline.all::<Vec<Value>>().await
        };
        if let Err(e) = queued.await {
            self.metrics.l2_error("known");
            tracing::debug!(error = %e, entity, "cache: remembering a known id failed");
        }
    }

    /// The known ids of `entity` (`application`, `supplier`); empty without
    /// Redis.
    ///
    /// # Errors
    /// [`CacheError::Unavailable`] when Redis does not answer.
    pub async fn known(&self, entity: &str) -> Result<Vec<String>, CacheError> {
        let Some((pool, keys)) = &self.redis else {
            return Ok(Vec::new());
        };
        pool.smembers(keys.cache_known(entity)).await.map_err(|e| {
            self.metrics.l2_error("known");
            CacheError::Unavailable(format!("reading the known {entity} ids: {e}"))
        })
    }

    /// Preloads `apps` and the known applications (with their rings at the
    /// current session end), `concurrency` at a time, for at most `timeout`.
    /// Best effort: failures are counted, never returned.
    pub async fn warm_up(
        &self,
        apps: &[String],
        concurrency: usize,
        timeout: Duration,
    ) -> WarmUpReport {
        let mut ids: BTreeSet<String> = apps.iter().cloned().collect();
        match self.known(entity::APPLICATION).await {
            Ok(known) => ids.extend(known),
            Err(e) => tracing::warn!(error = %e, "cache warm-up: no known applications"),
        }
        let mut report = WarmUpReport {
            requested: ids.len(),
            ..WarmUpReport::default()
        };
        let deadline = Instant::now() + timeout;
        let session_end = self.current_session_end().await;
        let counter = |outcome: &str| self.metrics.warmup_entries.with_label_values(&[outcome]);
        let work = async {
            let mut loads = futures::stream::iter(ids.iter())
                .map(move |app| async move {
                    if Instant::now() >= deadline {
                        return None;
                    }
                    let loaded = self.application(app).await;
                    let ring = match (&loaded, session_end) {
                        (Ok(_), Some(end)) => self.ring(app, end).await.is_ok(),
                        _ => false,
                    };
                    Some((app, loaded, ring))
                })
                .buffer_unordered(concurrency.max(1));
            while let Some(outcome) = loads.next().await {
                let Some((app, loaded, ring)) = outcome else {
                    continue;
                };
                match loaded {
                    Ok(_) => {
                        report.warmed += 1;
                        report.rings += usize::from(ring);
                        counter("warmed").inc();
                    }
                    Err(CacheError::NotFound(e)) => {
                        report.not_found += 1;
                        counter("not_found").inc();
                        tracing::debug!(app = %app, error = %e, "cache warm-up: application not found");
                    }
                    Err(e) => {
                        report.failed += 1;
                        counter("failed").inc();
                        tracing::debug!(app = %app, error = %e, "cache warm-up: application failed");
                    }
                }
            }
        };
        // Loads still running at the deadline are dropped; none starts after it.
        let _ = tokio::time::timeout_at(deadline.into(), work).await;
        let skipped = report.requested - report.warmed - report.not_found - report.failed;
        report.timed_out = skipped > 0;
        counter("timed_out").inc_by(skipped as u64);
        report
    }

    /// The last block of the session at the tip, if the tip and its params
    /// are known.
    async fn current_session_end(&self) -> Option<i64> {
        let tip = self.tip();
        if tip <= 0 {
            return None;
        }
        let params = self.shared_params_at(tip).await.ok()?;
        let grid = protocol::session::SessionGrid::new(&params).ok()?;
        Some(grid.session_end(tip))
    }

    /// Re-reads every known application and supplier from the chain
    /// (bypassing L1 and L2) and compares it with the L2 bytes: a changed one
    /// is written to L2 and invalidated in every process's L1; one the chain
    /// no longer has is deleted, forgotten and invalidated. Meant for the
    /// leader, every few blocks. Chain failures of single ids are counted,
    /// not returned.
    ///
    /// # Errors
    /// [`CacheError::Unavailable`] when the known sets cannot be read.
    pub async fn refresh_known(&self) -> Result<RefreshReport, CacheError> {
        let started = Instant::now();
        let apps = self.known(entity::APPLICATION).await?;
        let suppliers = self.known(entity::SUPPLIER).await?;
        let applications = self
            .refresh_entity(entity::APPLICATION, apps, |id| async move {
                Ok(self.query.application(&id).await?.encode_to_vec())
            })
            .await;
        let suppliers = self
            .refresh_entity(entity::SUPPLIER, suppliers, |id| async move {
                Ok(self.query.supplier(&id).await?.encode_to_vec())
            })
            .await;
        let duration = started.elapsed();
        self.metrics
            .refresh_duration
            .observe(duration.as_secs_f64());
        Ok(RefreshReport {
            applications,
            suppliers,
            duration,
        })
    }

    async fn refresh_entity<F, Fut>(
        &self,
        entity: &'static str,
        ids: Vec<String>,
        fetch: F,
    ) -> RefreshCounts
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<Vec<u8>, CacheError>>,
    {
        let fetch = &fetch;
        let mut counts = RefreshCounts::default();
        let mut passes = futures::stream::iter(ids)
            .map(move |id| async move {
                let fresh = fetch(id.clone()).await;
                self.refresh_one(entity, &id, fresh).await
            })
            .buffer_unordered(REFRESH_CONCURRENCY);
        while let Some(outcome) = passes.next().await {
            match outcome {
                Refreshed::Unchanged => counts.unchanged += 1,
                Refreshed::Changed => counts.changed += 1,
                Refreshed::Filled => counts.filled += 1,
                Refreshed::Removed => counts.removed += 1,
                Refreshed::Failed => counts.failed += 1,
            }
            self.metrics
                .refresh_entries
                .with_label_values(&[entity, outcome.label()])
                .inc();
        }
        counts
    }

    async fn refresh_one(
        &self,
        entity: &'static str,
        id: &str,
        fresh: Result<Vec<u8>, CacheError>,
    ) -> Refreshed {
        let ttl = self.ttls.live;
        match fresh {
            Ok(bytes) => match self.l2_get(entity, id).await {
                Some(old) if old == bytes => Refreshed::Unchanged,
                Some(_) => {
                    self.l2_put(entity, id, bytes, ttl).await;
                    match self.publish_invalidation(entity, id).await {
                        Ok(()) => {
                            tracing::debug!(entity, id, "cache refresh: changed on chain");
                            Refreshed::Changed
                        }
                        Err(e) => {
                            tracing::warn!(entity, id, error = %e, "cache refresh: invalidation not published");
                            Refreshed::Failed
                        }
                    }
                }
                None => {
                    self.l2_put(entity, id, bytes, ttl).await;
                    Refreshed::Filled
                }
            },
            Err(CacheError::NotFound(e)) => {
                tracing::debug!(entity, id, error = %e, "cache refresh: gone from the chain");
                if let Some((pool, keys)) = &self.redis
                    && let Err(e) = pool.srem::<i64, _, _>(keys.cache_known(entity), id).await
                {
                    self.metrics.l2_error("known");
                    tracing::debug!(error = %e, "cache refresh: forgetting an id failed");
                }
                match self.invalidate(entity, id).await {
                    Ok(()) => Refreshed::Removed,
                    Err(_) => Refreshed::Failed,
                }
            }
            Err(e) => {
                tracing::debug!(entity, id, error = %e, "cache refresh: chain unavailable");
                Refreshed::Failed
            }
        }
    }
}
