//! The miner's metrics, registered on a registry passed in by `cmd` (see
//! docs/metrics.md). The `supplier` label is an operator address from this
//! miner's keys file: a set the operator configures, never request data.

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

use crate::ingest::IngestStats;
use crate::lifecycle::Phase;

/// Miner metrics.
#[derive(Clone)]
pub struct Metrics {
    /// `miner_relays_total{supplier,outcome}`: applied, duplicate, late, poison.
    pub relays: IntCounterVec,
    /// `miner_ingest_lag_seconds{supplier}`: age of the newest relay applied.
    pub ingest_lag: prometheus::GaugeVec,
    /// `miner_sessions{supplier,phase}`: sessions tracked, by phase.
    pub sessions: IntGaugeVec,
    /// `miner_claims_total{supplier,event}`: submitted, included, rebroadcast, missing.
    pub claims: IntCounterVec,
    /// `miner_proofs_total{supplier,event}`: submitted, validated, not_required, rebroadcast, missing.
    pub proofs: IntCounterVec,
    /// `miner_sessions_finished_total{supplier,outcome}`: settled or a failure reason.
    pub finished: IntCounterVec,
    /// `miner_settlements_total{supplier,result}`: what the chain's block results said.
    pub settlements: IntCounterVec,
    /// `miner_build_seconds{what}`: claim (load + root) and proof build times.
    pub build_seconds: HistogramVec,
    /// `miner_supplier_leases_held`: suppliers this replica owns.
    pub leases_held: IntGauge,
    /// `miner_supplier_share`: suppliers this replica aims to own (balance).
    pub share: IntGauge,
    /// `miner_live_replicas`: replicas with a fresh heartbeat.
    pub replicas: IntGauge,
    /// `miner_lease_events_total{lease,event}`: acquired, lost, released, handed_over.
    pub lease_events: IntCounterVec,
    /// `miner_leader`: 1 while this replica holds the global leader lease.
    pub leader: IntGauge,
    /// `miner_leader_blocks_published_total`.
    pub blocks_published: prometheus::IntCounter,
}

impl Metrics {
    /// Creates and registers the metrics.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let relays = IntCounterVec::new(
            Opts::new(
                "miner_relays_total",
                "Stream entries handled, by outcome (applied, duplicate, late, poison)",
            ),
            &["supplier", "outcome"],
        )?;
        let ingest_lag = prometheus::GaugeVec::new(
            Opts::new(
                "miner_ingest_lag_seconds",
                "Time from publication to application of the newest relay applied",
            ),
            &["supplier"],
        )?;
        let sessions = IntGaugeVec::new(
            Opts::new("miner_sessions", "Sessions tracked, by lifecycle phase"),
            &["supplier", "phase"],
        )?;
        let claims = IntCounterVec::new(
            Opts::new("miner_claims_total", "Claim events"),
            &["supplier", "event"],
        )?;
        let proofs = IntCounterVec::new(
            Opts::new("miner_proofs_total", "Proof events"),
            &["supplier", "event"],
        )?;
        let finished = IntCounterVec::new(
            Opts::new(
                "miner_sessions_finished_total",
                "Sessions that reached a terminal phase, by outcome",
            ),
            &["supplier", "outcome"],
        )?;
        let settlements = IntCounterVec::new(
            Opts::new(
                "miner_settlements_total",
                "Settlement results read from block results",
            ),
            &["supplier", "result"],
        )?;
        let build_seconds = HistogramVec::new(
            HistogramOpts::new("miner_build_seconds", "Claim and proof build time").buckets(vec![
                0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["what"],
        )?;
        let leases_held =
            IntGauge::new("miner_supplier_leases_held", "Suppliers this replica owns")?;
        let share = IntGauge::new(
            "miner_supplier_share",
            "Suppliers this replica aims to own (keys / live replicas, rounded up)",
        )?;
        let replicas = IntGauge::new(
            "miner_live_replicas",
            "Miner replicas with a fresh heartbeat",
        )?;
        let lease_events = IntCounterVec::new(
            Opts::new("miner_lease_events_total", "Lease events, by lease kind"),
            &["lease", "event"],
        )?;
        let leader = IntGauge::new(
            "miner_leader",
            "1 while this replica holds the global leader lease",
        )?;
        let blocks_published = prometheus::IntCounter::new(
            "miner_leader_blocks_published_total",
            "Blocks the leader published to Redis",
        )?;
        registry.register(Box::new(relays.clone()))?;
        registry.register(Box::new(ingest_lag.clone()))?;
        registry.register(Box::new(sessions.clone()))?;
        registry.register(Box::new(claims.clone()))?;
        registry.register(Box::new(proofs.clone()))?;
        registry.register(Box::new(finished.clone()))?;
        registry.register(Box::new(settlements.clone()))?;
        registry.register(Box::new(build_seconds.clone()))?;
        registry.register(Box::new(leases_held.clone()))?;
        registry.register(Box::new(share.clone()))?;
        registry.register(Box::new(replicas.clone()))?;
        registry.register(Box::new(lease_events.clone()))?;
        registry.register(Box::new(leader.clone()))?;
        registry.register(Box::new(blocks_published.clone()))?;
        Ok(Metrics {
            relays,
            ingest_lag,
            sessions,
            claims,
            proofs,
            finished,
            settlements,
            build_seconds,
            leases_held,
            share,
            replicas,
            lease_events,
            leader,
            blocks_published,
        })
    }

    /// Metrics on a registry of their own (tests, benches).
    pub fn unregistered() -> Self {
        // A fresh registry cannot hold a duplicate name.
        #[allow(clippy::expect_used)]
        Metrics::new(&Registry::new()).expect("fresh registry")
    }

    /// Counts one ingest round.
    pub fn observe_ingest(&self, supplier: &str, s: &IngestStats) {
        for (outcome, n) in [
            ("applied", s.applied),
            ("duplicate", s.duplicates),
            ("late", s.late),
            ("poison", s.poison),
        ] {
            if n > 0 {
                self.relays
                    .with_label_values(&[supplier, outcome])
                    .inc_by(n);
            }
        }
        if let Some(lag) = s.newest_lag {
            self.ingest_lag
                .with_label_values(&[supplier])
                .set(lag.as_secs_f64());
        }
    }

    /// Counts a lifecycle transition of one session.
    pub fn observe_transition(&self, supplier: &str, from: Phase, to: Phase) {
        if from == to {
            return;
        }
        let claim = |e: &str| self.claims.with_label_values(&[supplier, e]).inc();
        let proof = |e: &str| self.proofs.with_label_values(&[supplier, e]).inc();
        match (from, to) {
            (Phase::ClaimSubmitted { .. }, Phase::ClaimSubmitted { .. }) => claim("rebroadcast"),
            (Phase::ProofSubmitted { .. }, Phase::ProofSubmitted { .. }) => proof("rebroadcast"),
            (_, Phase::ClaimSubmitted { .. }) => claim("submitted"),
            (_, Phase::ProofSubmitted { .. }) => proof("submitted"),
            (Phase::ClaimSubmitted { .. }, Phase::Claimed) => claim("included"),
            (Phase::ProofSubmitted { .. }, Phase::Proved) => proof("validated"),
            (_, Phase::ProofNotRequired) => proof("not_required"),
            _ => {}
        }
        match to {
            Phase::Failed { reason } => {
                match reason {
                    crate::lifecycle::FailReason::ClaimNotIncluded => claim("missing"),
                    crate::lifecycle::FailReason::ProofNotIncluded => proof("missing"),
                    _ => {}
                }
                self.finished
                    .with_label_values(&[supplier, reason.label()])
                    .inc();
            }
            Phase::Settled => self
                .finished
                .with_label_values(&[supplier, "settled"])
                .inc(),
            _ => {}
        }
    }
}
