//! The relayer's metrics, registered on a registry passed in by `cmd`.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};

/// Relayer metrics (see docs/metrics.md).
#[derive(Clone)]
pub struct Metrics {
    /// `relayer_relays_total{outcome}`: served, served_not_mined, simulated.
    pub relays: IntCounterVec,
    /// `relayer_relays_rejected_total{reason}`.
    pub rejected: IntCounterVec,
    /// `relayer_relays_published_total{result}`: ok, error (a failed attempt,
    /// retried), not_mined, late, dropped.
    pub published: IntCounterVec,
    /// `relayer_publish_backlog`: served relays waiting for Redis.
    pub publish_backlog: IntGauge,
    /// `relayer_relay_duration_seconds{stage}`: pre_backend, backend, post_backend.
    pub stage_seconds: HistogramVec,
}

impl Metrics {
    /// Creates and registers the metrics.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let relays = IntCounterVec::new(
            Opts::new(
                "relayer_relays_total",
                "Relays answered with 200, by outcome",
            ),
            &["outcome"],
        )?;
        let rejected = IntCounterVec::new(
            Opts::new(
                "relayer_relays_rejected_total",
                "Relays refused or failed, by reason",
            ),
            &["reason"],
        )?;
        let published = IntCounterVec::new(
            Opts::new(
                "relayer_relays_published_total",
                "Mined relay publishing, by result",
            ),
            &["result"],
        )?;
        let stage_seconds = HistogramVec::new(
            HistogramOpts::new("relayer_relay_duration_seconds", "Relay latency by stage").buckets(
                vec![
                    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
                    0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            ),
            &["stage"],
        )?;
        let publish_backlog = IntGauge::new(
            "relayer_publish_backlog",
            "Served relays queued for publishing to Redis",
        )?;
        registry.register(Box::new(publish_backlog.clone()))?;
        registry.register(Box::new(relays.clone()))?;
        registry.register(Box::new(rejected.clone()))?;
        registry.register(Box::new(published.clone()))?;
        registry.register(Box::new(stage_seconds.clone()))?;
        Ok(Metrics {
            relays,
            rejected,
            published,
            publish_backlog,
            stage_seconds,
        })
    }
}
