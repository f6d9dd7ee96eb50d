//! Drives one supplier's sessions through their lifecycle, one block at a
//! time: seal, build and send claims (batched per session end height), check
//! inclusion, decide and send proofs (verified locally first), re-broadcast
//! once inside a window, clean up after settlement. Every Redis write is
//! fenced by the supplier's lease; the state it needs after a failover is in
//! Redis, so a new owner continues from the recorded phase.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use protocol::claim::{
    ClaimPricing, ClaimRoot, ProofRequirementParams, claimed_upokt, proof_requirement,
};
use protocol::pb::pocket::proof::{Claim, MsgCreateClaim, MsgSubmitProof, ProofRequirementReason};
use protocol::session::SessionWindows;
use protocol::uint::U512;
use store::lease::Held;
use store::leaves::LeafStore;

use crate::error::{Error, Result};
use crate::ingest::{Ingest, IngestStats};
use crate::lifecycle::{Action, ChainFacts, FailReason, Phase, plan};
use crate::metrics::Metrics;
use crate::session::{SentTx, SessionRecord};
use crate::settlement::Settlement;
use crate::tree::SessionTree;

/// Lifecycle settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleConfig {
    /// Skip (do not claim) sessions worth less than this many uPOKT; 0 claims everything.
    pub skip_claims_below_upokt: u128,
    /// Most messages in one claim or proof transaction.
    pub max_messages_per_tx: usize,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            skip_claims_below_upokt: 1,
            max_messages_per_tx: 32,
        }
    }
}

/// What happened in one block, for metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockReport {
    /// Sessions sealed.
    pub sealed: u32,
    /// Claim messages accepted into the mempool.
    pub claims_sent: u32,
    /// Proof messages accepted into the mempool.
    pub proofs_sent: u32,
    /// Re-broadcasts.
    pub rebroadcasts: u32,
    /// Sessions that ended (settled or failed) and were cleaned up, with their end phase.
    pub finished: Vec<(String, Phase)>,
}

/// The lifecycle runner of one supplier.
pub struct SupplierRunner {
    supplier: String,
    leaves: LeafStore,
    cache: Arc<cache::ChainCache>,
    query: chain::QueryClient,
    rpc: chain::RpcClient,
    account: chain::AccountHandle,
    config: LifecycleConfig,
    metrics: Metrics,
    status: Mutex<StatusState>,
}

/// The chain side of a runner.
pub struct RunnerChain {
    /// Params, difficulty, compute units, tip.
    pub cache: Arc<cache::ChainCache>,
    /// Claims and proofs in module state, proof params.
    pub query: chain::QueryClient,
    /// Seed blocks and block results.
    pub rpc: chain::RpcClient,
    /// The supplier's signing account.
    pub account: chain::AccountHandle,
}

/// What the status JSON remembers between blocks.
#[derive(Default)]
struct StatusState {
    ingest: IngestStats,
    recent: VecDeque<FinishedSession>,
    phases_seen: Vec<&'static str>,
}

/// A finished session in the status JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinishedSession {
    /// Session id.
    pub session_id: String,
    /// Service.
    pub service_id: String,
    /// Session end height.
    pub session_end_height: i64,
    /// Terminal phase label (`settled` or `failed`).
    pub phase: String,
    /// Failure reason, when failed.
    pub reason: Option<String>,
    /// What the chain's block results said at settlement.
    pub settlement: Option<Settlement>,
    /// Height at which the miner finished it.
    pub finished_at_height: i64,
}

/// The JSON status of one supplier (key `miner_status`), for operators and
/// the `redis` CLI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupplierStatus {
    /// Supplier operator address.
    pub supplier: String,
    /// The owning replica and its lease fencing token.
    pub owner: String,
    /// Fencing token of the owner's lease.
    pub lease_token: u64,
    /// Last height processed.
    pub height: i64,
    /// When this status was written (ms since the epoch).
    pub updated_unix_ms: u64,
    /// Sessions tracked, by phase label.
    pub sessions_by_phase: BTreeMap<String, u64>,
    /// Every tracked session.
    pub sessions: Vec<SessionStatus>,
    /// Relays handled by this owner since it took the lease.
    pub ingest: IngestTotals,
    /// The last finished sessions, newest first (at most 50).
    pub recent: Vec<FinishedSession>,
}

/// One tracked session in the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStatus {
    /// Session id.
    pub session_id: String,
    /// Service.
    pub service_id: String,
    /// Application.
    pub application: String,
    /// Session end height.
    pub session_end_height: i64,
    /// Phase label.
    pub phase: String,
}

/// Ingest counters in the status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestTotals {
    /// Entries read.
    pub read: u64,
    /// Relays applied.
    pub applied: u64,
    /// Duplicates.
    pub duplicates: u64,
    /// Late (session sealed).
    pub late: u64,
    /// Poison entries dropped.
    pub poison: u64,
}

const RECENT_FINISHED: usize = 50;

/// How long a status outlives its last write (an owner rewrites it every block).
const STATUS_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// Every phase label, for the sessions gauge.
const PHASE_LABELS: [&str; 9] = [
    "active",
    "sealed",
    "claim_submitted",
    "claimed",
    "proof_submitted",
    "proved",
    "proof_not_required",
    "settled",
    "failed",
];

fn doc_json(doc: &SupplierStatus) -> String {
    serde_json::to_string(doc).unwrap_or_else(|_| "{}".into())
}

impl SupplierRunner {
    /// A runner for `supplier` (whose key `chain.account` signs).
    pub fn new(
        supplier: &str,
        leaves: LeafStore,
        chain: RunnerChain,
        config: LifecycleConfig,
        metrics: Metrics,
    ) -> Self {
        SupplierRunner {
            supplier: supplier.to_owned(),
            leaves,
            cache: chain.cache,
            query: chain.query,
            rpc: chain.rpc,
            account: chain.account,
            config,
            metrics,
            status: Mutex::new(StatusState::default()),
        }
    }

    /// Adds an ingest round to the status counters and metrics.
    pub fn record_ingest(&self, stats: IngestStats) {
        self.metrics.observe_ingest(&self.supplier, &stats);
        if let Ok(mut s) = self.status.lock() {
            s.ingest.add(stats);
        }
    }

    /// Seeds the recent-sessions list from a previous owner's status, so a
    /// failover keeps the history.
    pub fn continue_status(&self, previous: &SupplierStatus) {
        if let Ok(mut s) = self.status.lock()
            && s.recent.is_empty()
        {
            s.recent = previous
                .recent
                .iter()
                .take(RECENT_FINISHED)
                .cloned()
                .collect();
        }
    }

    /// The status after a block, from the sessions seen in it.
    fn status_doc(&self, lease: &Held, height: i64, seen: &[SessionRecord]) -> SupplierStatus {
        let mut by_phase: BTreeMap<String, u64> = BTreeMap::new();
        for r in seen {
            *by_phase.entry(r.phase.label().to_owned()).or_default() += 1;
        }
        let (ingest, recent) = match self.status.lock() {
            Ok(s) => (s.ingest, s.recent.iter().cloned().collect()),
            Err(_) => (IngestStats::default(), Vec::new()),
        };
        SupplierStatus {
            supplier: self.supplier.clone(),
            owner: lease
                .value
                .rsplit_once('|')
                .map_or(lease.value.as_str(), |(o, _)| o)
                .to_owned(),
            lease_token: lease.token,
            height,
            updated_unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            sessions_by_phase: by_phase,
            sessions: seen
                .iter()
                .map(|r| SessionStatus {
                    session_id: r.header.session_id.clone(),
                    service_id: r.header.service_id.clone(),
                    application: r.header.application_address.clone(),
                    session_end_height: r.header.session_end_block_height,
                    phase: r.phase.label().to_owned(),
                })
                .collect(),
            ingest: IngestTotals {
                read: ingest.read,
                applied: ingest.applied,
                duplicates: ingest.duplicates,
                late: ingest.late,
                poison: ingest.poison,
            },
            recent,
        }
    }

    /// Sets the sessions gauges (every phase seen before is reset, so a
    /// phase that emptied shows 0).
    fn observe_phases(&self, doc: &SupplierStatus) {
        let mut phases: Vec<&'static str> = Vec::new();
        if let Ok(mut s) = self.status.lock() {
            for r in &doc.sessions {
                let label = PHASE_LABELS
                    .iter()
                    .copied()
                    .find(|l| *l == r.phase)
                    .unwrap_or("active");
                if !s.phases_seen.contains(&label) {
                    s.phases_seen.push(label);
                }
            }
            phases = s.phases_seen.clone();
        }
        for p in phases {
            let n = doc.sessions_by_phase.get(p).copied().unwrap_or(0);
            self.metrics
                .sessions
                .with_label_values(&[&self.supplier, p])
                .set(n as i64);
        }
    }

    /// Advances every session of the supplier to `height`.
    ///
    /// Before the first seal of the block, `ingest` (when given) is drained:
    /// every relay already in the stream is applied, so a relay published
    /// just before its session's claim window opened is in the claim rather
    /// than counted late.
    pub async fn on_block(
        &self,
        lease: &Held,
        height: i64,
        ingest: Option<&Ingest>,
    ) -> Result<BlockReport> {
        let drain = Drain {
            ingest,
            done: std::sync::atomic::AtomicBool::new(false),
        };
        let mut report = BlockReport::default();
        let mut claims: BTreeMap<i64, Vec<(SessionRecord, prost_types::Any)>> = BTreeMap::new();
        let mut proofs: BTreeMap<i64, Vec<(SessionRecord, prost_types::Any)>> = BTreeMap::new();
        let mut seen = Vec::new();
        for id in self.leaves.sessions().await? {
            let fields = self.leaves.state(&id).await?;
            let Some(mut rec) = SessionRecord::from_fields(&fields)? else {
                continue;
            };
            let before = rec.phase;
            if let Err(e) = self
                .advance(
                    lease,
                    height,
                    &mut rec,
                    &mut report,
                    &mut claims,
                    &mut proofs,
                    &drain,
                )
                .await
            {
                if matches!(e, Error::Store(store::Error::LeaseLost { .. })) {
                    return Err(e);
                }
                tracing::warn!(supplier = %self.supplier, session = %id, error = %e, "session step failed; retrying next block");
            }
            self.metrics
                .observe_transition(&self.supplier, before, rec.phase);
            if !rec.phase.is_terminal() {
                seen.push(rec);
            }
        }
        for (end, batch) in claims {
            self.send(lease, height, end, Submit::Claim, batch, &mut report)
                .await?;
        }
        for (end, batch) in proofs {
            self.send(lease, height, end, Submit::Proof, batch, &mut report)
                .await?;
        }
        let doc = self.status_doc(lease, height, &seen);
        self.observe_phases(&doc);
        if let Err(e) = self.leaves.write_status(&doc_json(&doc), STATUS_TTL).await {
            tracing::debug!(supplier = %self.supplier, error = %e, "status not written");
        }
        Ok(report)
    }

    async fn save(&self, lease: &Held, rec: &SessionRecord) -> Result<()> {
        Ok(self
            .leaves
            .set_state(lease, &rec.header.session_id, &rec.lifecycle_fields())
            .await?)
    }

    async fn windows(&self, end: i64) -> Result<SessionWindows> {
        let params = self
            .cache
            .shared_params_at(end)
            .await
            .map_err(|e| Error::Chain(e.to_string()))?;
        SessionWindows::new(&params, end).map_err(|e| Error::Chain(e.to_string()))
    }

    async fn facts(&self, rec: &SessionRecord) -> Result<ChainFacts> {
        let id = &rec.header.session_id;
        Ok(match rec.phase {
            Phase::ClaimSubmitted { .. } => ChainFacts {
                claim_on_chain: Some(
                    self.query
                        .claim_included(id, &self.supplier)
                        .await
                        .map_err(|e| Error::Chain(e.to_string()))?,
                ),
                proof_validated: None,
            },
            Phase::ProofSubmitted { .. } => {
                let status = self
                    .query
                    .proof_status(id, &self.supplier)
                    .await
                    .map_err(|e| Error::Chain(e.to_string()))?;
                ChainFacts {
                    claim_on_chain: None,
                    proof_validated: Some(status == chain::ProofStatus::Validated),
                }
            }
            _ => ChainFacts::default(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn advance(
        &self,
        lease: &Held,
        height: i64,
        rec: &mut SessionRecord,
        report: &mut BlockReport,
        claims: &mut BTreeMap<i64, Vec<(SessionRecord, prost_types::Any)>>,
        proofs: &mut BTreeMap<i64, Vec<(SessionRecord, prost_types::Any)>>,
        drain: &Drain<'_>,
    ) -> Result<()> {
        let end = rec.header.session_end_block_height;
        let windows = self.windows(end).await?;
        for _ in 0..4 {
            let facts = self.facts(rec).await?;
            let (next, action) = plan(rec.phase, &windows, height, facts);
            let changed = next != rec.phase;
            rec.phase = next;
            match action {
                Action::Wait | Action::CheckClaim | Action::CheckProof => {
                    if changed {
                        self.save(lease, rec).await?;
                        continue;
                    }
                    return Ok(());
                }
                Action::Seal => {
                    drain.run(lease, self).await?;
                    self.leaves.seal(lease, &rec.header.session_id).await?;
                    self.save(lease, rec).await?;
                    report.sealed += 1;
                }
                Action::SubmitClaim => {
                    match self.build_claim(rec).await? {
                        Ok(msg) => claims
                            .entry(end)
                            .or_default()
                            .push((rec.clone(), chain::tx::build::claim_any(&msg))),
                        Err(reason) => {
                            rec.phase = Phase::Failed { reason };
                            self.finish(lease, rec, height, report).await?;
                        }
                    }
                    return Ok(());
                }
                Action::DecideProof => {
                    match self.build_proof(rec, &windows).await? {
                        Some(msg) => proofs
                            .entry(end)
                            .or_default()
                            .push((rec.clone(), chain::tx::build::proof_any(&msg))),
                        None => {
                            rec.phase = Phase::ProofNotRequired;
                            self.save(lease, rec).await?;
                        }
                    }
                    return Ok(());
                }
                Action::RebroadcastClaim | Action::RebroadcastProof => {
                    let tx = if action == Action::RebroadcastClaim {
                        &rec.claim_tx
                    } else {
                        &rec.proof_tx
                    };
                    if let Some(tx) = tx {
                        let submitted = resubmission(tx);
                        match self.account.rebroadcast(&submitted).await {
                            Ok(()) => report.rebroadcasts += 1,
                            Err(e) => {
                                tracing::warn!(session = %rec.header.session_id, error = %e, "re-broadcast refused")
                            }
                        }
                    }
                    self.save(lease, rec).await?;
                    return Ok(());
                }
                Action::Cleanup => {
                    self.finish(lease, rec, height, report).await?;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    async fn finish(
        &self,
        lease: &Held,
        rec: &SessionRecord,
        height: i64,
        report: &mut BlockReport,
    ) -> Result<()> {
        let mut settlement = None;
        match rec.phase {
            Phase::Settled => {
                let s = self.settlement(rec).await;
                self.metrics
                    .settlements
                    .with_label_values(&[&self.supplier, s.label()])
                    .inc();
                match &s {
                    Settlement::Settled {
                        claimed_upokt,
                        num_relays,
                    } => {
                        tracing::info!(supplier = %self.supplier, session = %rec.header.session_id, %claimed_upokt, num_relays, "session settled: paid")
                    }
                    Settlement::Expired { reason } => {
                        tracing::error!(supplier = %self.supplier, session = %rec.header.session_id, %reason, "claim expired at settlement: unpaid")
                    }
                    Settlement::NoEvent => {
                        tracing::warn!(supplier = %self.supplier, session = %rec.header.session_id, "no settlement event found for the claim")
                    }
                }
                settlement = Some(s);
            }
            other => {
                tracing::warn!(supplier = %self.supplier, session = %rec.header.session_id, phase = ?other, "session ended unpaid")
            }
        }
        if let Ok(mut s) = self.status.lock() {
            s.recent.push_front(FinishedSession {
                session_id: rec.header.session_id.clone(),
                service_id: rec.header.service_id.clone(),
                session_end_height: rec.header.session_end_block_height,
                phase: rec.phase.label().to_owned(),
                reason: match rec.phase {
                    Phase::Failed { reason } => Some(reason.label().to_owned()),
                    _ => None,
                },
                settlement,
                finished_at_height: height,
            });
            s.recent.truncate(RECENT_FINISHED);
        }
        self.save(lease, rec).await?;
        self.leaves.delete(&rec.header.session_id).await?;
        report
            .finished
            .push((rec.header.session_id.clone(), rec.phase));
        Ok(())
    }

    /// The settlement outcome from the block results of the session's
    /// settlement height (and the next few, in case the chain settled late).
    async fn settlement(&self, rec: &SessionRecord) -> Settlement {
        let Ok(w) = self.windows(rec.header.session_end_block_height).await else {
            return Settlement::NoEvent;
        };
        let tip = self.cache.tip();
        for h in w.settlement_height..=tip.min(w.settlement_height + 2) {
            match self.rpc.block_results(h.max(1) as u64).await {
                Ok(r) => {
                    let s =
                        crate::settlement::find(&r.finalize_events, &self.supplier, &rec.header);
                    if s != Settlement::NoEvent {
                        return s;
                    }
                }
                Err(e) => {
                    tracing::warn!(supplier = %self.supplier, height = h, error = %e, "block results unavailable");
                    break;
                }
            }
        }
        Settlement::NoEvent
    }

    /// Builds the claim from the sealed leaves; `Err(reason)` when there is
    /// nothing worth claiming.
    async fn build_claim(
        &self,
        rec: &mut SessionRecord,
    ) -> Result<Result<MsgCreateClaim, FailReason>> {
        let started = std::time::Instant::now();
        let tree = SessionTree::load(&self.leaves, &rec.header.session_id).await?;
        self.metrics
            .build_seconds
            .with_label_values(&["claim"])
            .observe(started.elapsed().as_secs_f64());
        if tree.is_empty() {
            return Ok(Err(FailReason::Empty));
        }
        let root = tree.root();
        let start = rec.header.session_start_block_height;
        let cupr = self
            .cache
            .compute_units_per_relay(&rec.header.service_id, start)
            .await
            .map_err(|e| Error::Chain(e.to_string()))?;
        if root.sum() != root.count().wrapping_mul(cupr) {
            tracing::error!(
                session = %rec.header.session_id, sum = root.sum(), count = root.count(), cupr,
                "claim root sum is not count × compute units at the session start: the chain would reject it"
            );
            return Ok(Err(FailReason::Error));
        }
        if self.config.skip_claims_below_upokt > 0 {
            let pricing = self.pricing(rec).await?;
            let worth =
                claimed_upokt(root.sum(), &pricing).map_err(|e| Error::Chain(e.to_string()))?;
            if worth < U512::from_u128(self.config.skip_claims_below_upokt) {
                return Ok(Err(FailReason::Uneconomic));
            }
        }
        rec.root = Some(root.as_bytes().to_vec());
        Ok(Ok(MsgCreateClaim {
            supplier_operator_address: self.supplier.clone(),
            session_header: Some(rec.header.clone()),
            root_hash: root.as_bytes().to_vec(),
        }))
    }

    async fn pricing(&self, rec: &SessionRecord) -> Result<ClaimPricing> {
        let start = rec.header.session_start_block_height;
        let params = self
            .cache
            .shared_params_at(start)
            .await
            .map_err(|e| Error::Chain(e.to_string()))?;
        let target = self
            .cache
            .difficulty_target(&rec.header.service_id, start)
            .await
            .map_err(|e| Error::Chain(e.to_string()))?;
        Ok(ClaimPricing {
            target_hash: target,
            compute_units_to_tokens_multiplier: params.compute_units_to_tokens_multiplier,
            compute_unit_cost_granularity: params.compute_unit_cost_granularity,
        })
    }

    /// Decides the requirement exactly as the chain does (seed = hash of the
    /// block before the proof window opens, never another) and builds the
    /// proof when required; `None` when no proof is required.
    async fn build_proof(
        &self,
        rec: &SessionRecord,
        w: &SessionWindows,
    ) -> Result<Option<MsgSubmitProof>> {
        let root = rec
            .root
            .clone()
            .ok_or_else(|| Error::Corrupt("claimed session without a root".into()))?;
        let seed = self
            .rpc
            .block(w.proof_seed_height as u64)
            .await
            .map_err(|e| Error::Chain(format!("seed block {}: {e}", w.proof_seed_height)))?;
        let claim = Claim {
            supplier_operator_address: self.supplier.clone(),
            session_header: Some(rec.header.clone()),
            root_hash: root.clone(),
            proof_validation_status: 0,
        };
        let proof_params = self
            .query
            .proof_params()
            .await
            .map_err(|e| Error::Chain(e.to_string()))?;
        let threshold = proof_params
            .proof_requirement_threshold
            .as_ref()
            .and_then(|c| U512::from_decimal(&c.amount))
            .unwrap_or(U512::ZERO);
        let params = ProofRequirementParams {
            threshold_upokt: threshold,
            request_probability: proof_params.proof_request_probability,
        };
        let pricing = self.pricing(rec).await?;
        let reason = proof_requirement(&claim, &pricing, &params, &seed.hash)
            .map_err(|e| Error::Chain(e.to_string()))?;
        if reason == ProofRequirementReason::NotRequired {
            return Ok(None);
        }
        let started = std::time::Instant::now();
        let tree = SessionTree::load(&self.leaves, &rec.header.session_id).await?;
        if tree.root().as_bytes().as_slice() != root.as_slice() {
            return Err(Error::SelfCheck(
                "sealed leaves no longer give the claimed root".into(),
            ));
        }
        ClaimRoot::parse(&root).map_err(|e| Error::Corrupt(e.to_string()))?;
        let path = smst::path_for_proof(&seed.hash, &rec.header.session_id);
        let proof = tree
            .prove(&self.leaves, &rec.header.session_id, &path)
            .await?;
        self.metrics
            .build_seconds
            .with_label_values(&["proof"])
            .observe(started.elapsed().as_secs_f64());
        Ok(Some(MsgSubmitProof {
            supplier_operator_address: self.supplier.clone(),
            session_header: Some(rec.header.clone()),
            proof,
        }))
    }

    /// Broadcasts a batch of claim or proof messages of sessions ending at
    /// `end`, at most `max_messages_per_tx` per tx, with the window close as
    /// timeout height. Accepted sessions move to the submitted phase with the
    /// tx kept for re-broadcast; refused ones stay where they are and are
    /// retried next block while their window is open.
    async fn send(
        &self,
        lease: &Held,
        height: i64,
        end: i64,
        kind: Submit,
        batch: Vec<(SessionRecord, prost_types::Any)>,
        report: &mut BlockReport,
    ) -> Result<()> {
        let w = self.windows(end).await?;
        let timeout = match kind {
            Submit::Claim => w.claim_window_close,
            Submit::Proof => w.proof_window_close,
        };
        for chunk in batch.chunks(self.config.max_messages_per_tx.max(1)) {
            let sub = chain::Submission {
                messages: chunk.iter().map(|(_, m)| m.clone()).collect(),
                timeout_height: Some(timeout as u64),
            };
            match self.account.submit_with(sub).await {
                Ok(s) => {
                    // The height the tx entered the mempool at: the chain tip
                    // now, which can be past the block this step started
                    // from. A re-broadcast waits for blocks after it (before
                    // one, the node still holds the tx's sequence).
                    let height = height.max(self.cache.tip());
                    for (rec, _) in chunk {
                        let before = rec.phase;
                        let mut rec = rec.clone();
                        let sent = Some(SentTx {
                            hash: s.txhash.clone(),
                            bytes: s.tx_bytes.clone(),
                        });
                        match kind {
                            Submit::Claim => {
                                rec.phase = Phase::ClaimSubmitted {
                                    height,
                                    rebroadcasts: 0,
                                };
                                rec.claim_tx = sent;
                                report.claims_sent += 1;
                            }
                            Submit::Proof => {
                                rec.phase = Phase::ProofSubmitted {
                                    height,
                                    rebroadcasts: 0,
                                };
                                rec.proof_tx = sent;
                                report.proofs_sent += 1;
                            }
                        }
                        self.metrics
                            .observe_transition(&self.supplier, before, rec.phase);
                        self.save(lease, &rec).await?;
                    }
                }
                Err(e) => {
                    tracing::warn!(supplier = %self.supplier, end, ?kind, error = %e, "tx not accepted; retrying next block");
                    for (rec, _) in chunk {
                        self.save(lease, rec).await?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Drains the stream once per block, before the first seal.
struct Drain<'a> {
    ingest: Option<&'a Ingest>,
    done: std::sync::atomic::AtomicBool,
}

impl Drain<'_> {
    /// Applies every entry already in Redis: pending ones (whoever read
    /// them) and new ones (a few bounded reads).
    async fn run(&self, lease: &Held, runner: &SupplierRunner) -> Result<()> {
        let Some(ingest) = self.ingest else {
            return Ok(());
        };
        if self.done.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        runner.record_ingest(ingest.reclaim_all(lease).await?);
        for _ in 0..DRAIN_ROUNDS {
            let stats = ingest.poll_now(lease).await?;
            runner.record_ingest(stats);
            if stats.read == 0 {
                break;
            }
        }
        Ok(())
    }
}

/// Most reads of a pre-seal drain (each up to a batch of entries).
const DRAIN_ROUNDS: usize = 20;

/// Which message a batch carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Submit {
    Claim,
    Proof,
}

/// A `Submitted` for re-sending stored bytes (only the bytes and hash matter).
fn resubmission(tx: &SentTx) -> chain::Submitted {
    chain::Submitted {
        txhash: tx.hash.clone(),
        signer: String::new(),
        sequence: None,
        unordered_timeout: None,
        timeout_height: 0,
        gas_limit: 0,
        fee: 0,
        fee_capped: false,
        tip_height: 0,
        attempts: 0,
        tx_bytes: tx.bytes.clone(),
    }
}
