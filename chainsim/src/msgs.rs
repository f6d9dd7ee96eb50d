//! The message handlers (`MsgCreateClaim`, `MsgSubmitProof`, `MsgSend`), the
//! EndBlocker's proof validation and settlement (sessions-and-windows.md §5,
//! §6, §8; smst.md §8).

use std::collections::BTreeMap;

use prost::Message;
use protocol::claim::{ClaimPricing, ClaimRoot, ProofRequirementParams, claimed_upokt};
use protocol::pb::pocket::proof::{Claim, ClaimProofStatus, ProofRequirementReason};
use protocol::pb::pocket::service::Relay;
use protocol::pb::pocket::session::SessionHeader;
use protocol::uint::U512;

use crate::ante::{DecodedTx, Msg, TxError, codes, parse_amount};
use crate::block::Event;
use crate::chain::{Account, Chain, ClaimRecord, PendingProof};
use crate::report::{ProofReport, ProofStatus, SettlementOutcome, SettlementReport};

/// poktroll `x/proof` error codes (codespace `proof`).
pub mod proof_codes {
    /// Invalid address.
    pub const INVALID_ADDRESS: u32 = 1101;
    /// Supplier not found (not in the session).
    pub const SUPPLIER_NOT_FOUND: u32 = 1102;
    /// Invalid service.
    pub const INVALID_SERVICE: u32 = 1103;
    /// Invalid root hash.
    pub const INVALID_CLAIM_ROOT_HASH: u32 = 1104;
    /// Claim not found.
    pub const CLAIM_NOT_FOUND: u32 = 1106;
    /// Invalid proof.
    pub const INVALID_PROOF: u32 = 1108;
    /// Invalid relay.
    pub const INVALID_RELAY: u32 = 1109;
    /// Invalid relay request.
    pub const INVALID_RELAY_REQUEST: u32 = 1110;
    /// Invalid relay response.
    pub const INVALID_RELAY_RESPONSE: u32 = 1111;
    /// Invalid session header.
    pub const INVALID_SESSION_HEADER: u32 = 1115;
    /// Invalid session id.
    pub const INVALID_SESSION_ID: u32 = 1116;
    /// Invalid session end height.
    pub const INVALID_SESSION_END_HEIGHT: u32 = 1117;
    /// Invalid session start height.
    pub const INVALID_SESSION_START_HEIGHT: u32 = 1118;
    /// Claim outside its window.
    pub const CLAIM_OUTSIDE_OF_WINDOW: u32 = 1121;
    /// Proof outside its window.
    pub const PROOF_OUTSIDE_OF_WINDOW: u32 = 1122;
    /// Supplier mismatch.
    pub const SUPPLIER_MISMATCH: u32 = 1123;
    /// Service not found.
    pub const SERVICE_NOT_FOUND: u32 = 1125;
    /// Compute units mismatch.
    pub const COMPUTE_UNITS_MISMATCH: u32 = 1126;
    /// Not enough funds for the proof submission fee.
    pub const NOT_ENOUGH_FUNDS: u32 = 1127;
    /// Proof not required.
    pub const PROOF_NOT_REQUIRED: u32 = 1129;
}

use proof_codes as pc;

/// State that messages may change, saved before a tx's messages run.
pub(crate) struct Snapshot {
    claims: BTreeMap<(String, String), ClaimRecord>,
    accounts: BTreeMap<String, Account>,
    next_account_number: u64,
}

fn header_of(h: Option<&SessionHeader>) -> SessionHeader {
    h.cloned().unwrap_or_default()
}

impl Chain {
    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            claims: self.claims.clone(),
            accounts: self.accounts.clone(),
            next_account_number: self.next_account_number,
        }
    }

    pub(crate) fn restore(&mut self, s: Snapshot) {
        self.claims = s.claims;
        self.accounts = s.accounts;
        self.next_account_number = s.next_account_number;
    }

    /// Runs every message of a tx; the first failure fails the tx (the caller
    /// restores the snapshot).
    pub(crate) fn execute_msgs(
        &mut self,
        tx: &DecodedTx,
        height: i64,
        _time: i128,
    ) -> Result<Vec<Event>, TxError> {
        let mut events = Vec::new();
        let mut created = 0;
        let mut updated = 0;
        let mut proofs = 0;
        for (i, msg) in tx.msgs.iter().enumerate() {
            events.push(
                Event::new("message")
                    .attr("action", msg.type_url())
                    .attr("sender", msg.signer())
                    .attr("msg_index", i),
            );
            let result = match msg {
                Msg::CreateClaim(m) => self.create_claim(m, height).map(|(ev, new)| {
                    if new {
                        created += 1;
                    } else {
                        updated += 1;
                    }
                    ev
                }),
                Msg::SubmitProof(m) => self.submit_proof(m, height).inspect(|_| proofs += 1),
                Msg::Send(m) => self.send(m),
            };
            match result {
                Ok(ev) => events.push(ev),
                Err(e) => {
                    match msg {
                        Msg::CreateClaim(_) => self.counters.claims_rejected += 1,
                        Msg::SubmitProof(_) => self.counters.proofs_rejected += 1,
                        Msg::Send(_) => {}
                    }
                    return Err(TxError {
                        codespace: e.codespace,
                        code: e.code,
                        log: format!("failed to execute message; message index: {i}: {}", e.log),
                    });
                }
            }
        }
        self.counters.claims_created += created;
        self.counters.claims_updated += updated;
        self.counters.proofs_accepted += proofs;
        Ok(events)
    }

    /// The on-chain session for a header, with the supplier required in it
    /// (poktroll `queryAndValidateSessionHeader`). Also requires the header's
    /// end height to be the session's (the chain compares the session id,
    /// which covers app, service and start).
    fn validate_session_header_on_chain(
        &self,
        header: &SessionHeader,
        supplier: &str,
    ) -> Result<SessionHeader, TxError> {
        let session = self
            .session(
                &header.application_address,
                &header.service_id,
                header.session_start_block_height,
            )
            .map_err(|e| {
                TxError::proof(pc::INVALID_SESSION_ID, format!("on-chain session: {e}"))
            })?;
        let on_chain = header_of(session.header.as_ref());
        if on_chain.session_id != header.session_id {
            return Err(TxError::proof(
                pc::INVALID_SESSION_ID,
                format!(
                    "session id {:?} does not match the on-chain session id {:?}",
                    header.session_id, on_chain.session_id
                ),
            ));
        }
        if on_chain.session_start_block_height != header.session_start_block_height {
            return Err(TxError::proof(
                pc::INVALID_SESSION_START_HEIGHT,
                format!(
                    "session start {} is not the on-chain start {}",
                    header.session_start_block_height, on_chain.session_start_block_height
                ),
            ));
        }
        if on_chain.session_end_block_height != header.session_end_block_height {
            return Err(TxError::proof(
                pc::INVALID_SESSION_END_HEIGHT,
                format!(
                    "session end {} is not the on-chain end {}",
                    header.session_end_block_height, on_chain.session_end_block_height
                ),
            ));
        }
        if !session
            .suppliers
            .iter()
            .any(|s| s.operator_address == supplier)
        {
            return Err(TxError::proof(
                pc::SUPPLIER_NOT_FOUND,
                format!(
                    "supplier {supplier} is not in session {} (app {}, service {})",
                    header.session_id, header.application_address, header.service_id
                ),
            ));
        }
        Ok(on_chain)
    }

    fn create_claim(
        &mut self,
        m: &protocol::pb::pocket::proof::MsgCreateClaim,
        height: i64,
    ) -> Result<(Event, bool), TxError> {
        let header = header_of(m.session_header.as_ref());
        let supplier = &m.supplier_operator_address;
        self.validate_session_header_on_chain(&header, supplier)?;
        let windows = self
            .windows(header.session_end_block_height)
            .map_err(|e| TxError::proof(pc::INVALID_SESSION_END_HEIGHT, e.to_string()))?;
        if !windows.claim_window_contains(height) {
            return Err(TxError::proof(
                pc::CLAIM_OUTSIDE_OF_WINDOW,
                format!(
                    "current height {height} is outside the claim window [{}, {}] of session {} (end {}): claim attempted outside of the session's claim window",
                    windows.claim_window_open,
                    windows.claim_window_close,
                    header.session_id,
                    header.session_end_block_height
                ),
            ));
        }
        let root = ClaimRoot::parse(&m.root_hash)
            .map_err(|e| TxError::proof(pc::INVALID_CLAIM_ROOT_HASH, e.to_string()))?;
        let cupr = self
            .cupr_at(&header.service_id, header.session_start_block_height)
            .ok_or_else(|| {
                TxError::proof(
                    pc::SERVICE_NOT_FOUND,
                    format!("service {} not found", header.service_id),
                )
            })?;
        if u128::from(root.sum) != u128::from(root.count) * u128::from(cupr) {
            return Err(TxError::proof(
                pc::COMPUTE_UNITS_MISMATCH,
                format!(
                    "claim compute units: {} is not equal to number of relays {} * compute units per relay {cupr} for service {}",
                    root.sum, root.count, header.service_id
                ),
            ));
        }
        let claim = Claim {
            supplier_operator_address: supplier.clone(),
            session_header: Some(header.clone()),
            root_hash: m.root_hash.clone(),
            proof_validation_status: ClaimProofStatus::PendingValidation as i32,
        };
        let key = (header.session_id.clone(), supplier.clone());
        // An upsert keeps a proof already accepted in this block (it is
        // validated in the EndBlocker against the claim as it then stands).
        let existing = self
            .claims
            .get(&key)
            .map(|r| (r.created_height, r.pending_proof.clone()));
        let is_new = existing.is_none();
        let (created_height, pending_proof) = existing.unwrap_or((height, None));
        self.claims.insert(
            key,
            ClaimRecord {
                claim,
                created_height,
                updated_height: height,
                pending_proof,
            },
        );
        let kind = if is_new {
            "pocket.proof.EventClaimCreated"
        } else {
            "pocket.proof.EventClaimUpdated"
        };
        Ok((
            Event::new(kind)
                .attr("session_id", &header.session_id)
                .attr("supplier_operator_address", supplier)
                .attr("application_address", &header.application_address)
                .attr("service_id", &header.service_id)
                .attr("session_end_block_height", header.session_end_block_height)
                .attr("num_relays", root.count)
                .attr("num_claimed_compute_units", root.sum),
            is_new,
        ))
    }

    /// Claimed-uPOKT pricing at the session start.
    fn pricing(&self, header: &SessionHeader) -> Result<ClaimPricing, String> {
        let start = header.session_start_block_height;
        let difficulty = self.difficulty_at(&header.service_id, start);
        let target = protocol::relay::parse_target_hash(&difficulty.target_hash)
            .map_err(|e| e.to_string())?;
        let shared = self.shared_params_at(start);
        Ok(ClaimPricing {
            target_hash: target,
            compute_units_to_tokens_multiplier: shared.compute_units_to_tokens_multiplier,
            compute_unit_cost_granularity: shared.compute_unit_cost_granularity,
        })
    }

    /// Whether a claim needs a proof (live proof params, seed = hash of the
    /// proof seed block), evaluated on the claim as it was at proof time
    /// (`proof_validation_status` = pending).
    pub(crate) fn proof_requirement(
        &self,
        claim: &Claim,
    ) -> Result<ProofRequirementReason, String> {
        let header = header_of(claim.session_header.as_ref());
        let windows = self
            .windows(header.session_end_block_height)
            .map_err(|e| e.to_string())?;
        let seed = self.block_hash(windows.proof_seed_height).ok_or_else(|| {
            format!(
                "no block at proof seed height {}",
                windows.proof_seed_height
            )
        })?;
        let pricing = self.pricing(&header)?;
        let threshold = self
            .proof_params
            .proof_requirement_threshold
            .as_ref()
            .map_or(Ok(0), |c| parse_amount(&c.amount))
            .map_err(|e| e.log)?;
        let params = ProofRequirementParams {
            threshold_upokt: U512::from_u128(threshold),
            request_probability: self.proof_params.proof_request_probability,
        };
        let mut at_proof_time = claim.clone();
        at_proof_time.proof_validation_status = ClaimProofStatus::PendingValidation as i32;
        protocol::claim::proof_requirement(&at_proof_time, &pricing, &params, &seed)
            .map_err(|e| e.to_string())
    }

    fn submit_proof(
        &mut self,
        m: &protocol::pb::pocket::proof::MsgSubmitProof,
        height: i64,
    ) -> Result<Event, TxError> {
        let header = header_of(m.session_header.as_ref());
        let supplier = &m.supplier_operator_address;
        let on_chain = self.validate_session_header_on_chain(&header, supplier)?;
        let windows = self
            .windows(header.session_end_block_height)
            .map_err(|e| TxError::proof(pc::INVALID_SESSION_END_HEIGHT, e.to_string()))?;
        if !windows.proof_window_contains(height) {
            return Err(TxError::proof(
                pc::PROOF_OUTSIDE_OF_WINDOW,
                format!(
                    "current height {height} is outside the proof window [{}, {}] of session {} (end {}): proof attempted outside of the session's proof window",
                    windows.proof_window_open,
                    windows.proof_window_close,
                    header.session_id,
                    header.session_end_block_height
                ),
            ));
        }
        // Decode and decompact (smst.md §8 step 4).
        let proof = smst::CompactClosestProof::from_gob(&m.proof)
            .and_then(|c| c.decompact())
            .map_err(|e| {
                TxError::proof(
                    pc::INVALID_PROOF,
                    format!("failed to decode closest merkle proof: {e}"),
                )
            })?;
        let relay_bytes = proof.closest_value().ok_or_else(|| {
            TxError::proof(pc::INVALID_RELAY, "closest value is shorter than 16 bytes")
        })?;
        let relay = Relay::decode(relay_bytes).map_err(|e| {
            TxError::proof(pc::INVALID_RELAY, format!("failed to unmarshal relay: {e}"))
        })?;
        let req = relay
            .req
            .ok_or_else(|| TxError::proof(pc::INVALID_RELAY_REQUEST, "relay has no request"))?;
        let res = relay
            .res
            .ok_or_else(|| TxError::proof(pc::INVALID_RELAY_RESPONSE, "relay has no response"))?;
        req.validate_basic()
            .map_err(|e| TxError::proof(pc::INVALID_RELAY_REQUEST, e.to_string()))?;
        if &req.meta.supplier_operator_address != supplier {
            return Err(TxError::proof(
                pc::SUPPLIER_MISMATCH,
                format!(
                    "relay request supplier {} is not the proof's supplier {supplier}",
                    req.meta.supplier_operator_address
                ),
            ));
        }
        res.validate_basic()
            .map_err(|e| TxError::proof(pc::INVALID_RELAY_RESPONSE, e.to_string()))?;
        for (what, h) in [
            ("request", req.meta.session_header.as_ref()),
            ("response", res.meta.session_header.as_ref()),
        ] {
            if h != Some(&on_chain) {
                return Err(TxError::proof(
                    pc::INVALID_RELAY,
                    format!(
                        "relay {what} session header does not match the on-chain session header"
                    ),
                ));
            }
        }
        let difficulty = self.difficulty_at(&header.service_id, header.session_start_block_height);
        let target = protocol::relay::parse_target_hash(&difficulty.target_hash)
            .map_err(|e| TxError::proof(pc::INVALID_RELAY, e.to_string()))?;
        let relay_hash = protocol::relay::relay_hash(relay_bytes);
        if !protocol::relay::is_relay_mined(&relay_hash, &target) {
            return Err(TxError::proof(
                pc::INVALID_RELAY,
                format!(
                    "relay hash {} does not meet the difficulty target {}",
                    hex::encode(relay_hash),
                    hex::encode(target)
                ),
            ));
        }
        let key = (header.session_id.clone(), supplier.clone());
        let claim = self
            .claims
            .get(&key)
            .map(|r| r.claim.clone())
            .ok_or_else(|| {
                TxError::proof(
                    pc::CLAIM_NOT_FOUND,
                    format!(
                        "no claim found for session ID {:?} and supplier {supplier:?}",
                        header.session_id
                    ),
                )
            })?;
        let claim_header = header_of(claim.session_header.as_ref());
        if claim_header != header {
            return Err(TxError::proof(
                pc::INVALID_SESSION_HEADER,
                "the proof's session header does not match the claim's",
            ));
        }
        // Proof submission fee: spendable balance must be strictly greater.
        let fee = self
            .proof_params
            .proof_submission_fee
            .as_ref()
            .map_or(Ok(0), |c| parse_amount(&c.amount))?;
        let balance = self.accounts.get(supplier).map_or(0, |a| a.balance);
        if balance <= fee {
            return Err(TxError::proof(
                pc::NOT_ENOUGH_FUNDS,
                format!(
                    "supplier balance {balance}upokt is not above the proof submission fee {fee}upokt: not enough funds to submit proof"
                ),
            ));
        }
        let requirement = self
            .proof_requirement(&claim)
            .map_err(|e| TxError::proof(pc::INVALID_PROOF, e))?;
        if requirement == ProofRequirementReason::NotRequired {
            return Err(TxError::proof(
                pc::PROOF_NOT_REQUIRED,
                format!(
                    "session {} supplier {supplier}: proof not required",
                    header.session_id
                ),
            ));
        }
        if let Some(acc) = self.accounts.get_mut(supplier) {
            acc.balance -= fee;
        }
        if let Some(record) = self.claims.get_mut(&key) {
            record.pending_proof = Some(PendingProof {
                proof_bytes: m.proof.clone(),
                height,
            });
        }
        Ok(Event::new("pocket.proof.EventProofSubmitted")
            .attr("session_id", &header.session_id)
            .attr("supplier_operator_address", supplier)
            .attr("proof_requirement", requirement.as_str_name()))
    }

    fn send(&mut self, m: &crate::ante::MsgSend) -> Result<Event, TxError> {
        let mut total: u128 = 0;
        for c in &m.amount {
            let a = parse_amount(&c.amount)?;
            if c.denom != protocol::DENOM && a > 0 {
                return Err(TxError::sdk(
                    codes::INSUFFICIENT_FUNDS,
                    format!(
                        "0{} is smaller than {a}{}: insufficient funds",
                        c.denom, c.denom
                    ),
                ));
            }
            total = total.saturating_add(a);
        }
        let balance = self.accounts.get(&m.from_address).map_or(0, |a| a.balance);
        if balance < total {
            return Err(TxError::sdk(
                codes::INSUFFICIENT_FUNDS,
                format!(
                    "spendable balance {balance}upokt is smaller than {total}upokt: insufficient funds"
                ),
            ));
        }
        self.ensure_account(&m.to_address);
        if let Some(a) = self.accounts.get_mut(&m.from_address) {
            a.balance -= total;
        }
        if let Some(a) = self.accounts.get_mut(&m.to_address) {
            a.balance = a.balance.saturating_add(total);
        }
        Ok(Event::new("transfer")
            .attr("sender", &m.from_address)
            .attr("recipient", &m.to_address)
            .attr("amount", format!("{total}upokt")))
    }

    /// EndBlocker step 1: validate every proof accepted in this block
    /// (smst.md §8 steps 13–17) and record the claim's status.
    pub(crate) fn validate_pending_proofs(&mut self, height: i64) -> Vec<Event> {
        let keys: Vec<(String, String)> = self
            .claims
            .iter()
            .filter(|(_, r)| r.pending_proof.as_ref().is_some_and(|p| p.height == height))
            .map(|(k, _)| k.clone())
            .collect();
        let mut events = Vec::new();
        for key in keys {
            let Some(record) = self.claims.get(&key) else {
                continue;
            };
            let Some(pending) = record.pending_proof.clone() else {
                continue;
            };
            let verdict = self.validate_proof(&record.claim, &pending.proof_bytes);
            let (status, report_status, reason) = match verdict {
                Ok(()) => (
                    ClaimProofStatus::Validated,
                    ProofStatus::Valid,
                    String::new(),
                ),
                Err(reason) => (ClaimProofStatus::Invalid, ProofStatus::Invalid, reason),
            };
            if report_status == ProofStatus::Valid {
                self.counters.proofs_valid += 1;
            } else {
                self.counters.proofs_invalid += 1;
                tracing::warn!(session_id = %key.0, supplier = %key.1, %reason, "proof invalid");
            }
            if let Some(record) = self.claims.get_mut(&key) {
                record.claim.proof_validation_status = status as i32;
                record.pending_proof = None;
            }
            events.push(
                Event::new("pocket.proof.EventProofValidityChecked")
                    .attr("session_id", &key.0)
                    .attr("supplier_operator_address", &key.1)
                    .attr("proof_status", status.as_str_name())
                    .attr("failure_reason", &reason),
            );
            self.proofs.push(ProofReport {
                session_id: key.0,
                supplier_operator_address: key.1,
                height,
                status: report_status,
                reason,
            });
        }
        events
    }

    /// The EndBlocker's expensive proof checks.
    fn validate_proof(&self, claim: &Claim, proof_bytes: &[u8]) -> Result<(), String> {
        let header = header_of(claim.session_header.as_ref());
        let supplier = &claim.supplier_operator_address;
        let supplier_key = self
            .accounts
            .get(supplier)
            .and_then(|a| a.pubkey)
            .ok_or_else(|| format!("supplier operator {supplier} has no public key on chain"))?;
        let proof = smst::CompactClosestProof::from_gob(proof_bytes)
            .and_then(|c| c.decompact())
            .map_err(|e| format!("proof decode: {e}"))?;
        let relay_bytes = proof
            .closest_value()
            .ok_or_else(|| "closest value is shorter than 16 bytes".to_owned())?;
        let relay = Relay::decode(relay_bytes).map_err(|e| format!("relay decode: {e}"))?;
        let req = relay.req.ok_or_else(|| "relay has no request".to_owned())?;
        let res = relay
            .res
            .ok_or_else(|| "relay has no response".to_owned())?;
        let ring = self.ring(&header.application_address, header.session_end_block_height)?;
        rings::verify_ring_signature(
            &req.meta.signature,
            &req.signable_hash(),
            &ring,
            Some(&self.ring_cache),
        )
        .map_err(|e| format!("relay request ring signature: {e}"))?;
        rings::verify_response(
            &supplier_key,
            &res.signable_hash(),
            &res.meta.supplier_operator_signature,
        )
        .map_err(|e| format!("relay response supplier signature: {e}"))?;
        let windows = self
            .windows(header.session_end_block_height)
            .map_err(|e| e.to_string())?;
        let seed = self.block_hash(windows.proof_seed_height).ok_or_else(|| {
            format!(
                "no block at proof seed height {}",
                windows.proof_seed_height
            )
        })?;
        let expected_path = smst::path_for_proof(&seed, &header.session_id);
        if proof.path.as_slice() != expected_path.as_ref() {
            return Err(format!(
                "proof path {} is not the expected path {} (seed block {})",
                hex::encode(&proof.path),
                hex::encode(expected_path.as_ref()),
                windows.proof_seed_height
            ));
        }
        proof
            .verify(&claim.root_hash)
            .map_err(|e| format!("closest proof does not verify against the claimed root: {e}"))
    }

    /// EndBlocker step 2: settle or expire every claim whose proof window
    /// closes at this height.
    pub(crate) fn settle_claims(&mut self, height: i64) -> Vec<Event> {
        let due: Vec<(String, String)> = self
            .claims
            .iter()
            .filter(|(_, r)| {
                let end = r
                    .claim
                    .session_header
                    .as_ref()
                    .map_or(0, |h| h.session_end_block_height);
                self.windows(end)
                    .is_ok_and(|w| w.settlement_height == height)
            })
            .map(|(k, _)| k.clone())
            .collect();
        // Claims per (app, session) share the application's budget.
        let mut claimers: BTreeMap<String, u128> = BTreeMap::new();
        for (session_id, _) in &due {
            *claimers.entry(session_id.clone()).or_default() += 1;
        }
        let mut events = Vec::new();
        for key in due {
            let Some(record) = self.claims.remove(&key) else {
                continue;
            };
            let n_claimers = claimers.get(&key.0).copied().unwrap_or(1);
            let (report, mut evs) = self.settle_one(&record.claim, height, n_claimers);
            events.append(&mut evs);
            tracing::info!(
                session_id = %report.session_id,
                supplier = %report.supplier_operator_address,
                outcome = ?report.outcome,
                reason = %report.reason,
                "claim settled"
            );
            self.settlements.push(report);
        }
        events
    }

    fn settle_one(
        &mut self,
        claim: &Claim,
        height: i64,
        n_claimers: u128,
    ) -> (SettlementReport, Vec<Event>) {
        let header = header_of(claim.session_header.as_ref());
        let supplier = claim.supplier_operator_address.clone();
        let root = ClaimRoot::parse(&claim.root_hash).unwrap_or(ClaimRoot {
            digest: [0; 32],
            sum: 0,
            count: 0,
        });
        let claimed = self
            .pricing(&header)
            .ok()
            .and_then(|p| claimed_upokt(root.sum, &p).ok())
            .unwrap_or(U512::ZERO);
        let requirement = self.proof_requirement(claim);
        let status = ClaimProofStatus::try_from(claim.proof_validation_status)
            .unwrap_or(ClaimProofStatus::PendingValidation);
        let (outcome, reason, requirement_name) = match requirement {
            Err(e) => (
                SettlementOutcome::ExpiredProofMissing,
                format!("proof requirement could not be evaluated: {e}"),
                "UNKNOWN".to_owned(),
            ),
            Ok(ProofRequirementReason::NotRequired) => (
                SettlementOutcome::Settled,
                "proof not required".to_owned(),
                ProofRequirementReason::NotRequired.as_str_name().to_owned(),
            ),
            Ok(r) => {
                let name = r.as_str_name().to_owned();
                match status {
                    ClaimProofStatus::Validated => (
                        SettlementOutcome::Settled,
                        format!("proof required ({name}) and valid"),
                        name,
                    ),
                    ClaimProofStatus::Invalid => {
                        let why = self
                            .proofs
                            .iter()
                            .rev()
                            .find(|p| {
                                p.session_id == header.session_id
                                    && p.supplier_operator_address == supplier
                            })
                            .map(|p| p.reason.clone())
                            .unwrap_or_default();
                        (
                            SettlementOutcome::ExpiredProofInvalid,
                            format!("proof required ({name}) but invalid: {why}"),
                            name,
                        )
                    }
                    ClaimProofStatus::PendingValidation => (
                        SettlementOutcome::ExpiredProofMissing,
                        format!("proof required ({name}) but none was submitted"),
                        name,
                    ),
                }
            }
        };
        let mut events = Vec::new();
        let mut paid: u128 = 0;
        let mut slashed: u128 = 0;
        match outcome {
            SettlementOutcome::Settled => {
                self.counters.claims_settled += 1;
                paid = self.pay(&header, &supplier, claimed, n_claimers);
                events.push(
                    Event::new("pocket.tokenomics.EventClaimSettled")
                        .attr("session_id", &header.session_id)
                        .attr("supplier_operator_address", &supplier)
                        .attr("application_address", &header.application_address)
                        .attr("service_id", &header.service_id)
                        .attr("session_end_block_height", header.session_end_block_height)
                        .attr("num_relays", root.count)
                        .attr("num_claimed_compute_units", root.sum)
                        .attr("claimed_upokt", format!("{claimed}upokt"))
                        .attr("proof_requirement", &requirement_name),
                );
            }
            SettlementOutcome::ExpiredProofMissing | SettlementOutcome::ExpiredProofInvalid => {
                let expiration = if outcome == SettlementOutcome::ExpiredProofMissing {
                    self.counters.claims_expired_proof_missing += 1;
                    "PROOF_MISSING"
                } else {
                    self.counters.claims_expired_proof_invalid += 1;
                    "PROOF_INVALID"
                };
                slashed = self.slash(&supplier);
                events.push(
                    Event::new("pocket.tokenomics.EventClaimExpired")
                        .attr("session_id", &header.session_id)
                        .attr("supplier_operator_address", &supplier)
                        .attr("application_address", &header.application_address)
                        .attr("service_id", &header.service_id)
                        .attr("session_end_block_height", header.session_end_block_height)
                        .attr("expiration_reason", expiration)
                        .attr("num_relays", root.count)
                        .attr("num_claimed_compute_units", root.sum)
                        .attr("claimed_upokt", format!("{claimed}upokt")),
                );
                events.push(
                    Event::new("pocket.tokenomics.EventSupplierSlashed")
                        .attr("supplier_operator_address", &supplier)
                        .attr("proof_missing_penalty", format!("{slashed}upokt")),
                );
            }
        }
        (
            SettlementReport {
                session_id: header.session_id.clone(),
                supplier_operator_address: supplier,
                application_address: header.application_address.clone(),
                service_id: header.service_id.clone(),
                session_end_block_height: header.session_end_block_height,
                height,
                outcome,
                reason,
                proof_requirement: requirement_name,
                num_relays: root.count,
                num_claimed_compute_units: root.sum,
                root_hash: hex::encode(&claim.root_hash),
                claimed_upokt: claimed.to_string(),
                paid_upokt: paid.to_string(),
                slashed_upokt: slashed.to_string(),
            },
            events,
        )
    }

    /// Pays a settled claim: the claimed uPOKT, capped by the application's
    /// per-session budget floor (`stake / pending sessions / claimers`), is
    /// burnt from the application stake and minted to the supplier owner.
    fn pay(
        &mut self,
        header: &SessionHeader,
        supplier: &str,
        claimed: U512,
        n_claimers: u128,
    ) -> u128 {
        let claimed = claimed.to_u128().unwrap_or(u128::MAX);
        let params = self.shared_params_at(header.session_end_block_height);
        let pending = protocol::session::num_pending_sessions(&params)
            .unwrap_or(1)
            .max(1);
        let Some(app) = self.applications.get_mut(&header.application_address) else {
            return 0;
        };
        let stake = app
            .stake
            .as_ref()
            .and_then(|c| c.amount.parse::<u128>().ok())
            .unwrap_or(0);
        let budget = stake / u128::from(pending) / n_claimers.max(1);
        let paid = claimed.min(budget);
        if let Some(c) = app.stake.as_mut() {
            c.amount = stake.saturating_sub(paid).to_string();
        }
        let owner = self
            .suppliers
            .get(supplier)
            .map_or_else(|| supplier.to_owned(), |s| s.owner_address.clone());
        self.ensure_account(&owner);
        if let Some(acc) = self.accounts.get_mut(&owner) {
            acc.balance = acc.balance.saturating_add(paid);
        }
        paid
    }

    /// Slashes `proof_missing_penalty` from the supplier's stake.
    fn slash(&mut self, supplier: &str) -> u128 {
        let penalty = self
            .proof_params
            .proof_missing_penalty
            .as_ref()
            .and_then(|c| c.amount.parse::<u128>().ok())
            .unwrap_or(0);
        self.counters.suppliers_slashed += 1;
        let Some(s) = self.suppliers.get_mut(supplier) else {
            return 0;
        };
        let stake = s
            .stake
            .as_ref()
            .and_then(|c| c.amount.parse::<u128>().ok())
            .unwrap_or(0);
        let slashed = penalty.min(stake);
        if let Some(c) = s.stake.as_mut() {
            c.amount = (stake - slashed).to_string();
        }
        slashed
    }
}
