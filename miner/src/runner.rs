//! Drives one supplier's sessions through their lifecycle, one block at a
//! time: seal, build and send claims (batched per session end height), check
//! inclusion, decide and send proofs (verified locally first), re-broadcast
//! once inside a window, clean up after settlement. Every Redis write is
//! fenced by the supplier's lease; the state it needs after a failover is in
//! Redis, so a new owner continues from the recorded phase.

use std::collections::BTreeMap;
use std::sync::Arc;

use protocol::claim::{
    ClaimPricing, ClaimRoot, ProofRequirementParams, claimed_upokt, proof_requirement,
};
use protocol::pb::pocket::proof::{Claim, MsgCreateClaim, MsgSubmitProof, ProofRequirementReason};
use protocol::session::SessionWindows;
use protocol::uint::U512;
use store::lease::Held;
use store::leaves::LeafStore;

use crate::error::{Error, Result};
use crate::lifecycle::{Action, ChainFacts, FailReason, Phase, plan};
use crate::session::{SentTx, SessionRecord};
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
}

impl SupplierRunner {
    /// A runner for `supplier` (whose key `account` signs).
    pub fn new(
        supplier: &str,
        leaves: LeafStore,
        cache: Arc<cache::ChainCache>,
        query: chain::QueryClient,
        rpc: chain::RpcClient,
        account: chain::AccountHandle,
        config: LifecycleConfig,
    ) -> Self {
        SupplierRunner {
            supplier: supplier.to_owned(),
            leaves,
            cache,
            query,
            rpc,
            account,
            config,
        }
    }

    /// Advances every session of the supplier to `height`.
    pub async fn on_block(&self, lease: &Held, height: i64) -> Result<BlockReport> {
        let mut report = BlockReport::default();
        let mut claims: BTreeMap<i64, Vec<(SessionRecord, prost_types::Any)>> = BTreeMap::new();
        let mut proofs: BTreeMap<i64, Vec<(SessionRecord, prost_types::Any)>> = BTreeMap::new();
        for id in self.leaves.sessions().await? {
            let fields = self.leaves.state(&id).await?;
            let Some(mut rec) = SessionRecord::from_fields(&fields)? else {
                continue;
            };
            if let Err(e) = self
                .advance(
                    lease,
                    height,
                    &mut rec,
                    &mut report,
                    &mut claims,
                    &mut proofs,
                )
                .await
            {
                if matches!(e, Error::Store(store::Error::LeaseLost { .. })) {
                    return Err(e);
                }
                tracing::warn!(supplier = %self.supplier, session = %id, error = %e, "session step failed; retrying next block");
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
                            self.finish(lease, rec, report).await?;
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
                    self.finish(lease, rec, report).await?;
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
        report: &mut BlockReport,
    ) -> Result<()> {
        match rec.phase {
            Phase::Settled => {
                tracing::info!(supplier = %self.supplier, session = %rec.header.session_id, "session settled")
            }
            other => {
                tracing::warn!(supplier = %self.supplier, session = %rec.header.session_id, phase = ?other, "session ended unpaid")
            }
        }
        self.save(lease, rec).await?;
        self.leaves.delete(&rec.header.session_id).await?;
        report
            .finished
            .push((rec.header.session_id.clone(), rec.phase));
        Ok(())
    }

    /// Builds the claim from the sealed leaves; `Err(reason)` when there is
    /// nothing worth claiming.
    async fn build_claim(
        &self,
        rec: &mut SessionRecord,
    ) -> Result<Result<MsgCreateClaim, FailReason>> {
        let tree = SessionTree::load(&self.leaves, &rec.header.session_id).await?;
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
                    for (rec, _) in chunk {
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
