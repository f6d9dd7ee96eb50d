//! Inclusion checks from module state (not the tx indexer), for the miner's
//! reconciler: does a claim exist for (session, supplier), and what happened
//! to its proof.
//!
//! `BroadcastTx` code 0 is only mempool acceptance; a tx can still be evicted
//! or dropped. The claim in the proof module's state is the truth. Claims are
//! removed at settlement (proof window close), so ask before that height:
//! afterwards "no claim" cannot tell "never included" from "settled".

use std::collections::BTreeMap;

use protocol::pb::pocket::proof::{Claim, ClaimProofStatus};

use crate::error::Result;
use crate::query::{ClaimFilter, QueryClient};

/// What the chain knows of a supplier's proof for a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofStatus {
    /// No claim exists: the claim tx never landed (or the claim was settled
    /// and removed).
    NoClaim,
    /// The claim exists; no proof has been validated yet (none submitted,
    /// none required, or validation happens in this block's EndBlocker).
    Pending,
    /// A proof was submitted and validated.
    Validated,
    /// A proof was submitted and found invalid.
    Invalid,
}

impl ProofStatus {
    /// The status recorded in `claim`.
    #[must_use]
    pub fn of(claim: &Claim) -> Self {
        match ClaimProofStatus::try_from(claim.proof_validation_status) {
            Ok(ClaimProofStatus::Validated) => ProofStatus::Validated,
            Ok(ClaimProofStatus::Invalid) => ProofStatus::Invalid,
            // PENDING_VALIDATION, or a value newer than our protos.
            _ => ProofStatus::Pending,
        }
    }
}

impl QueryClient {
    /// Whether the claim of `supplier` for `session_id` is in the proof
    /// module's state (at this client's height).
    ///
    /// # Errors
    /// [`crate::Error::Grpc`] when the chain cannot be asked.
    pub async fn claim_included(&self, session_id: &str, supplier: &str) -> Result<bool> {
        Ok(self.claim(session_id, supplier).await?.is_some())
    }

    /// The proof outcome for `supplier` in `session_id`, from the claim's
    /// `proof_validation_status` (proofs themselves are deleted once validated).
    ///
    /// # Errors
    /// [`crate::Error::Grpc`] when the chain cannot be asked.
    pub async fn proof_status(&self, session_id: &str, supplier: &str) -> Result<ProofStatus> {
        Ok(match self.claim(session_id, supplier).await? {
            None => ProofStatus::NoClaim,
            Some(claim) => ProofStatus::of(&claim),
        })
    }

    /// Every claim of `supplier`, keyed by session id (one paginated
    /// `AllClaims` query: what a reconciler checking many sessions wants).
    ///
    /// # Errors
    /// [`crate::Error::Grpc`] when the chain cannot be asked.
    pub async fn supplier_claims(&self, supplier: &str) -> Result<BTreeMap<String, Claim>> {
        let claims = self
            .claims(ClaimFilter::Supplier(supplier.to_owned()))
            .await?;
        Ok(claims
            .into_iter()
            .filter_map(|c| {
                let id = c.session_header.as_ref()?.session_id.clone();
                Some((id, c))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_of_claim() {
        let mut c = Claim::default();
        assert_eq!(ProofStatus::of(&c), ProofStatus::Pending);
        c.proof_validation_status = ClaimProofStatus::Validated as i32;
        assert_eq!(ProofStatus::of(&c), ProofStatus::Validated);
        c.proof_validation_status = ClaimProofStatus::Invalid as i32;
        assert_eq!(ProofStatus::of(&c), ProofStatus::Invalid);
        c.proof_validation_status = 99;
        assert_eq!(ProofStatus::of(&c), ProofStatus::Pending);
    }
}
