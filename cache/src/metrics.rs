//! The cache's Prometheus metrics, registered on a registry passed in by
//! `cmd` (documented in `docs/metrics.md`). Label values are entity names
//! (a closed set, [`crate::entity`]) and small fixed sets, never an id.
//!
//! The per-entity children are resolved once ([`EntityMetrics`]), so an L1
//! hit costs one relaxed atomic add and no label lookup.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

/// Chain load latency buckets: 1 ms … 10 s (as `chain`'s).
const LOAD_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Single-flight wait buckets: 1 ms … 5 s (the lock lives ~3 s).
const WAIT_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Refresh pass buckets: 10 ms … 30 s.
const REFRESH_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The cache metrics. Cheap to clone (the collectors are shared).
#[derive(Clone, Debug)]
pub struct Metrics {
    /// `cache_hits_total{level,entity}`.
    pub hits: IntCounterVec,
    /// `cache_misses_total{entity}`: misses that went to the chain.
    pub misses: IntCounterVec,
    /// `cache_chain_load_seconds{entity}`.
    pub chain_load: HistogramVec,
    /// `cache_invalidations_total{entity,source}`.
    pub invalidations: IntCounterVec,
    /// `cache_lock_waits_total{entity,outcome}`.
    pub lock_waits: IntCounterVec,
    /// `cache_lock_wait_seconds{entity}`.
    pub lock_wait: HistogramVec,
    /// `cache_l2_errors_total{op}`.
    pub l2_errors: IntCounterVec,
    /// `cache_refresh_entries_total{entity,outcome}`.
    pub refresh_entries: IntCounterVec,
    /// `cache_refresh_duration_seconds`.
    pub refresh_duration: Histogram,
    /// `cache_warmup_entries_total{outcome}`.
    pub warmup_entries: IntCounterVec,
    /// `cache_block_feed_redis`: 1 while blocks come from Redis, 0 from the node.
    pub block_feed_redis: IntGauge,
    /// `cache_block_feed_switches_total{to}`.
    pub block_feed_switches: IntCounterVec,
    /// `cache_block_feed_catchups_total`: heights learned from the latest-block
    /// key rather than the channel (missed messages).
    pub block_feed_catchups: IntCounter,
}

/// The metric children of one entity, resolved once.
#[derive(Clone, Debug)]
pub(crate) struct EntityMetrics {
    pub(crate) l1_hits: IntCounter,
    pub(crate) l2_hits: IntCounter,
    pub(crate) misses: IntCounter,
    pub(crate) chain_load: Histogram,
    pub(crate) waits_filled: IntCounter,
    pub(crate) waits_released: IntCounter,
    pub(crate) waits_timeout: IntCounter,
    pub(crate) lock_wait: Histogram,
}

impl Metrics {
    /// Creates the metrics and registers them on `registry`.
    ///
    /// # Errors
    /// When a metric of the same name is already registered there.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Metrics::build()?;
        registry.register(Box::new(m.hits.clone()))?;
        registry.register(Box::new(m.misses.clone()))?;
        registry.register(Box::new(m.chain_load.clone()))?;
        registry.register(Box::new(m.invalidations.clone()))?;
        registry.register(Box::new(m.lock_waits.clone()))?;
        registry.register(Box::new(m.lock_wait.clone()))?;
        registry.register(Box::new(m.l2_errors.clone()))?;
        registry.register(Box::new(m.refresh_entries.clone()))?;
        registry.register(Box::new(m.refresh_duration.clone()))?;
        registry.register(Box::new(m.warmup_entries.clone()))?;
        registry.register(Box::new(m.block_feed_redis.clone()))?;
        registry.register(Box::new(m.block_feed_switches.clone()))?;
        registry.register(Box::new(m.block_feed_catchups.clone()))?;
        Ok(m)
    }

    /// Metrics registered nowhere (tests, tools, caches built without a
    /// registry).
    #[must_use]
    pub fn detached() -> Self {
        // The names, help texts, labels and buckets are the constants below,
        // checked by the unit test: building them cannot fail.
        #[allow(clippy::expect_used)]
        Metrics::build().expect("static metric definitions are valid")
    }

    fn build() -> Result<Self, prometheus::Error> {
        Ok(Metrics {
            hits: IntCounterVec::new(
                Opts::new(
                    "cache_hits_total",
                    "Cache lookups answered without the chain, by level and entity",
                ),
                &["level", "entity"],
            )?,
            misses: IntCounterVec::new(
                Opts::new(
                    "cache_misses_total",
                    "Cache misses that loaded from the chain, by entity",
                ),
                &["entity"],
            )?,
            chain_load: HistogramVec::new(
                HistogramOpts::new(
                    "cache_chain_load_seconds",
                    "Latency of loading one entity from the chain on a miss",
                )
                .buckets(LOAD_BUCKETS.to_vec()),
                &["entity"],
            )?,
            invalidations: IntCounterVec::new(
                Opts::new(
                    "cache_invalidations_total",
                    "Invalidations published by this process (local) or received over pub/sub (remote)",
                ),
                &["entity", "source"],
            )?,
            lock_waits: IntCounterVec::new(
                Opts::new(
                    "cache_lock_waits_total",
                    "Misses that waited for another process's chain load, by how the wait ended",
                ),
                &["entity", "outcome"],
            )?,
            lock_wait: HistogramVec::new(
                HistogramOpts::new(
                    "cache_lock_wait_seconds",
                    "Time spent waiting for another process's chain load",
                )
                .buckets(WAIT_BUCKETS.to_vec()),
                &["entity"],
            )?,
            l2_errors: IntCounterVec::new(
                Opts::new(
                    "cache_l2_errors_total",
                    "Failed Redis operations of the cache (the cache carries on without L2)",
                ),
                &["op"],
            )?,
            refresh_entries: IntCounterVec::new(
                Opts::new(
                    "cache_refresh_entries_total",
                    "Known entries re-read from the chain by the refresher, by outcome",
                ),
                &["entity", "outcome"],
            )?,
            refresh_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "cache_refresh_duration_seconds",
                    "Duration of one refresh pass over the known entries",
                )
                .buckets(REFRESH_BUCKETS.to_vec()),
            )?,
            warmup_entries: IntCounterVec::new(
                Opts::new(
                    "cache_warmup_entries_total",
                    "Applications preloaded at start, by outcome",
                ),
                &["outcome"],
            )?,
            block_feed_redis: IntGauge::new(
                "cache_block_feed_redis",
                "1 while blocks are followed from Redis, 0 while from the node",
            )?,
            block_feed_switches: IntCounterVec::new(
                Opts::new(
                    "cache_block_feed_switches_total",
                    "Switches of the block source, by the source switched to",
                ),
                &["to"],
            )?,
            block_feed_catchups: IntCounter::new(
                "cache_block_feed_catchups_total",
                "Heights learned from the latest-block key rather than the channel",
            )?,
        })
    }

    pub(crate) fn entity(&self, entity: &str) -> EntityMetrics {
        EntityMetrics {
            l1_hits: self.hits.with_label_values(&["l1", entity]),
            l2_hits: self.hits.with_label_values(&["l2", entity]),
            misses: self.misses.with_label_values(&[entity]),
            chain_load: self.chain_load.with_label_values(&[entity]),
            waits_filled: self.lock_waits.with_label_values(&[entity, "filled"]),
            waits_released: self.lock_waits.with_label_values(&[entity, "released"]),
            waits_timeout: self.lock_waits.with_label_values(&[entity, "timeout"]),
            lock_wait: self.lock_wait.with_label_values(&[entity]),
        }
    }

    pub(crate) fn invalidated(&self, entity: &str, remote: bool) {
        self.invalidations
            .with_label_values(&[entity, if remote { "remote" } else { "local" }])
            .inc();
    }

    pub(crate) fn l2_error(&self, op: &str) {
        self.l2_errors.with_label_values(&[op]).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_once_per_registry() {
        let r = Registry::new();
        let m = Metrics::new(&r).unwrap();
        m.entity("application").l1_hits.inc();
        assert!(Metrics::new(&r).is_err(), "double registration must fail");
        let names: Vec<String> = r.gather().iter().map(|f| f.name().to_owned()).collect();
        assert!(names.contains(&"cache_hits_total".to_owned()), "{names:?}");
        let _ = Metrics::detached();
    }

    #[test]
    fn every_metric_is_documented() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md"))
                .unwrap();
        let r = Registry::new();
        let m = Metrics::new(&r).unwrap();
        // Vectors are gathered once they have a child.
        m.entity("application");
        m.invalidated("application", true);
        m.l2_error("get");
        m.refresh_entries
            .with_label_values(&["application", "changed"]);
        m.warmup_entries.with_label_values(&["warmed"]);
        m.block_feed_switches.with_label_values(&["node"]);
        let families = r.gather();
        assert_eq!(families.len(), 13, "every metric gathered");
        for f in families {
            assert!(
                doc.contains(&format!("| `{}` |", f.name())),
                "{} is not in docs/metrics.md",
                f.name()
            );
        }
    }
}
