//! What the simulator reports for tests and operators: claims, proofs,
//! settlements with their reason, tx results and counters. Served as JSON at
//! `GET /chainsim/state` and returned by [`crate::ChainSimHandle::state`].

use protocol::claim::ClaimRoot;
use protocol::pb::pocket::proof::{Claim, ClaimProofStatus};
use serde::{Deserialize, Serialize};

/// A snapshot of the chain's observable state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateReport {
    /// Chain id.
    pub chain_id: String,
    /// Latest committed height.
    pub height: i64,
    /// Latest block hash (upper-case hex).
    pub latest_block_hash: String,
    /// Whether block production is paused.
    pub paused: bool,
    /// Txs waiting for the next block.
    pub mempool_size: usize,
    /// Claims currently stored (removed at settlement).
    pub claims: Vec<ClaimReport>,
    /// Every proof accepted by a tx, with its EndBlocker validation result.
    pub proofs: Vec<ProofReport>,
    /// Every settled or expired claim.
    pub settlements: Vec<SettlementReport>,
    /// The most recent included txs with their results.
    pub txs: Vec<TxReport>,
    /// Counters.
    pub counters: Counters,
}

/// A stored claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimReport {
    /// Session id.
    pub session_id: String,
    /// Supplier operator address.
    pub supplier_operator_address: String,
    /// Application address.
    pub application_address: String,
    /// Service id.
    pub service_id: String,
    /// Session start height.
    pub session_start_block_height: i64,
    /// Session end height.
    pub session_end_block_height: i64,
    /// The 48-byte root (hex).
    pub root_hash: String,
    /// Relays in the root (count).
    pub num_relays: u64,
    /// Compute units in the root (sum).
    pub num_claimed_compute_units: u64,
    /// `PENDING_VALIDATION`, `VALIDATED` or `INVALID`.
    pub proof_validation_status: String,
    /// Height of the block that created it.
    pub created_height: i64,
    /// Height of the block that last replaced it.
    pub updated_height: i64,
}

impl ClaimReport {
    pub(crate) fn new(claim: &Claim, created_height: i64, updated_height: i64) -> Self {
        let header = claim.session_header.clone().unwrap_or_default();
        let root = ClaimRoot::parse(&claim.root_hash).ok();
        ClaimReport {
            session_id: header.session_id,
            supplier_operator_address: claim.supplier_operator_address.clone(),
            application_address: header.application_address,
            service_id: header.service_id,
            session_start_block_height: header.session_start_block_height,
            session_end_block_height: header.session_end_block_height,
            root_hash: hex::encode(&claim.root_hash),
            num_relays: root.map_or(0, |r| r.count),
            num_claimed_compute_units: root.map_or(0, |r| r.sum),
            proof_validation_status: ClaimProofStatus::try_from(claim.proof_validation_status)
                .map_or("UNKNOWN", |s| s.as_str_name())
                .to_owned(),
            created_height,
            updated_height,
        }
    }
}

/// The result of validating an accepted proof in the EndBlocker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProofStatus {
    /// Every check passed; the claim is `VALIDATED`.
    Valid,
    /// A check failed; the claim is `INVALID`.
    Invalid,
}

/// A proof accepted by a tx and validated in its block's EndBlocker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofReport {
    /// Session id.
    pub session_id: String,
    /// Supplier operator address.
    pub supplier_operator_address: String,
    /// Height of the block that included it.
    pub height: i64,
    /// Validation result.
    pub status: ProofStatus,
    /// Which check failed (empty when valid).
    pub reason: String,
}

/// What settlement did with a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettlementOutcome {
    /// Paid (no proof needed, or a valid proof).
    Settled,
    /// A required proof never arrived; claim removed, supplier slashed.
    ExpiredProofMissing,
    /// A required proof was invalid; claim removed, supplier slashed.
    ExpiredProofInvalid,
}

/// A settled or expired claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementReport {
    /// Session id.
    pub session_id: String,
    /// Supplier operator address.
    pub supplier_operator_address: String,
    /// Application address.
    pub application_address: String,
    /// Service id.
    pub service_id: String,
    /// Session end height.
    pub session_end_block_height: i64,
    /// Height whose EndBlocker settled it.
    pub height: i64,
    /// The outcome.
    pub outcome: SettlementOutcome,
    /// Why (proof requirement reason and proof result).
    pub reason: String,
    /// `NOT_REQUIRED`, `PROBABILISTIC` or `THRESHOLD`.
    pub proof_requirement: String,
    /// Relays in the claim.
    pub num_relays: u64,
    /// Compute units in the claim.
    pub num_claimed_compute_units: u64,
    /// The claimed root (hex, 48 bytes: digest ‖ sum ‖ count).
    pub root_hash: String,
    /// Claimed uPOKT (decimal string; exact).
    pub claimed_upokt: String,
    /// uPOKT paid to the supplier owner (after the application budget cap).
    pub paid_upokt: String,
    /// uPOKT slashed from the supplier stake.
    pub slashed_upokt: String,
}

/// An included tx and its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxReport {
    /// Tx hash (upper-case hex).
    pub hash: String,
    /// Height of the block that included it.
    pub height: i64,
    /// Index in the block.
    pub index: usize,
    /// Result code (0 = success).
    pub code: u32,
    /// Codespace.
    pub codespace: String,
    /// Log.
    pub log: String,
}

/// Counters (also exported as Prometheus metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Blocks produced.
    pub blocks: u64,
    /// Txs given to CheckTx (broadcast).
    pub txs_checked: u64,
    /// Txs that passed CheckTx (including dropped ones).
    pub txs_accepted: u64,
    /// Txs rejected by CheckTx.
    pub txs_rejected: u64,
    /// Accepted txs dropped from the mempool by the fault knob.
    pub txs_dropped: u64,
    /// Txs rejected by the `reject_next_tx` knob.
    pub txs_forced_rejections: u64,
    /// Txs included with code 0.
    pub txs_included_ok: u64,
    /// Txs included with a non-zero code.
    pub txs_failed_in_block: u64,
    /// Claims created.
    pub claims_created: u64,
    /// Claims replaced by a new claim for the same session and supplier.
    pub claims_updated: u64,
    /// `MsgCreateClaim`s that failed.
    pub claims_rejected: u64,
    /// `MsgSubmitProof`s accepted.
    pub proofs_accepted: u64,
    /// `MsgSubmitProof`s that failed.
    pub proofs_rejected: u64,
    /// Proofs validated.
    pub proofs_valid: u64,
    /// Proofs found invalid.
    pub proofs_invalid: u64,
    /// Claims settled (paid).
    pub claims_settled: u64,
    /// Claims expired for a missing proof.
    pub claims_expired_proof_missing: u64,
    /// Claims expired for an invalid proof.
    pub claims_expired_proof_invalid: u64,
    /// Supplier slashes.
    pub suppliers_slashed: u64,
}

impl Counters {
    /// Prometheus text exposition of the counters plus the height.
    pub fn to_prometheus(&self, height: i64) -> String {
        let mut out = String::new();
        out.push_str("# TYPE chainsim_height gauge\n");
        out.push_str(&format!("chainsim_height {height}\n"));
        let rows: [(&str, &str, u64); 19] = [
            ("chainsim_blocks_total", "", self.blocks),
            ("chainsim_txs_total", "result=\"checked\"", self.txs_checked),
            (
                "chainsim_txs_total",
                "result=\"accepted\"",
                self.txs_accepted,
            ),
            (
                "chainsim_txs_total",
                "result=\"rejected\"",
                self.txs_rejected,
            ),
            ("chainsim_txs_total", "result=\"dropped\"", self.txs_dropped),
            (
                "chainsim_txs_total",
                "result=\"forced_rejection\"",
                self.txs_forced_rejections,
            ),
            (
                "chainsim_txs_total",
                "result=\"included_ok\"",
                self.txs_included_ok,
            ),
            (
                "chainsim_txs_total",
                "result=\"failed_in_block\"",
                self.txs_failed_in_block,
            ),
            (
                "chainsim_claims_total",
                "result=\"created\"",
                self.claims_created,
            ),
            (
                "chainsim_claims_total",
                "result=\"updated\"",
                self.claims_updated,
            ),
            (
                "chainsim_claims_total",
                "result=\"rejected\"",
                self.claims_rejected,
            ),
            (
                "chainsim_proofs_total",
                "result=\"accepted\"",
                self.proofs_accepted,
            ),
            (
                "chainsim_proofs_total",
                "result=\"rejected\"",
                self.proofs_rejected,
            ),
            (
                "chainsim_proofs_total",
                "result=\"valid\"",
                self.proofs_valid,
            ),
            (
                "chainsim_proofs_total",
                "result=\"invalid\"",
                self.proofs_invalid,
            ),
            (
                "chainsim_settlements_total",
                "outcome=\"settled\"",
                self.claims_settled,
            ),
            (
                "chainsim_settlements_total",
                "outcome=\"expired_proof_missing\"",
                self.claims_expired_proof_missing,
            ),
            (
                "chainsim_settlements_total",
                "outcome=\"expired_proof_invalid\"",
                self.claims_expired_proof_invalid,
            ),
            ("chainsim_slashes_total", "", self.suppliers_slashed),
        ];
        let mut last = "";
        for (name, labels, value) in rows {
            if name != last {
                out.push_str(&format!("# TYPE {name} counter\n"));
                last = name;
            }
            if labels.is_empty() {
                out.push_str(&format!("{name} {value}\n"));
            } else {
                out.push_str(&format!("{name}{{{labels}}} {value}\n"));
            }
        }
        out
    }
}
