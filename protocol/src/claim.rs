//! Claims: the 48-byte SMST root, claimed uPOKT, and the proof requirement
//! decision (`sessions-and-windows.md` §6).

use prost::Message;

use crate::error::{Error, Result};
use crate::gorand::seeded_float64;
use crate::pb::pocket::proof::{Claim, ProofRequirementReason};
use crate::relay::sha256;
use crate::uint::U512;

/// Size of an SMST root as claimed: 32-byte digest ‖ 8-byte sum ‖ 8-byte count.
pub const ROOT_LEN: usize = 48;

/// A claimed root, split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimRoot {
    /// Root digest.
    pub digest: [u8; 32],
    /// Sum of leaf weights (compute units).
    pub sum: u64,
    /// Number of leaves (relays).
    pub count: u64,
}

impl ClaimRoot {
    /// Splits a 48-byte root.
    pub fn parse(root: &[u8]) -> Result<Self> {
        let root: &[u8; ROOT_LEN] = root.try_into().map_err(|_| {
            Error::field(
                "Claim",
                "root_hash",
                format!("{} bytes, expected {ROOT_LEN}", root.len()),
            )
        })?;
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&root[..32]);
        let mut sum = [0u8; 8];
        sum.copy_from_slice(&root[32..40]);
        let mut count = [0u8; 8];
        count.copy_from_slice(&root[40..48]);
        Ok(ClaimRoot {
            digest,
            sum: u64::from_be_bytes(sum),
            count: u64::from_be_bytes(count),
        })
    }
}

/// The pricing inputs of a claim, all resolved at the session start height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimPricing {
    /// Relay difficulty target at the session start.
    pub target_hash: [u8; 32],
    /// `compute_units_to_tokens_multiplier` at the session start.
    pub compute_units_to_tokens_multiplier: u64,
    /// `compute_unit_cost_granularity` at the session start.
    pub compute_unit_cost_granularity: u64,
}

/// Estimated compute units behind a claim: `floor(sum × (2^256−1)/target)`,
/// exact (Go's events report only the low 64 bits of it).
pub fn estimated_compute_units(root_sum: u64, target_hash: &[u8; 32]) -> Result<U512> {
    let target = U512::from_be_bytes(target_hash)
        .filter(|t| !t.is_zero())
        .ok_or_else(|| Error::InvalidTargetHash("zero target".into()))?;
    let max = U512::from_be_bytes(&[0xff; 32]).unwrap_or_default();
    U512::from_u128(u128::from(root_sum))
        .checked_mul(&max)
        .and_then(|n| n.checked_div(&target))
        .ok_or_else(|| Error::OutOfRange("estimated compute units overflow".into()))
}

/// Claimed uPOKT: `floor(sum × (2^256−1)/target × CUTTM / granularity)`, exact.
pub fn claimed_upokt(root_sum: u64, pricing: &ClaimPricing) -> Result<U512> {
    let target = U512::from_be_bytes(&pricing.target_hash)
        .filter(|t| !t.is_zero())
        .ok_or_else(|| Error::InvalidTargetHash("zero target".into()))?;
    if pricing.compute_unit_cost_granularity == 0 {
        return Err(Error::OutOfRange(
            "compute_unit_cost_granularity is 0".into(),
        ));
    }
    let max = U512::from_be_bytes(&[0xff; 32]).unwrap_or_default();
    let overflow = || Error::OutOfRange("claimed uPOKT overflow".into());
    let num = U512::from_u128(
        u128::from(root_sum) * u128::from(pricing.compute_units_to_tokens_multiplier),
    )
    .checked_mul(&max)
    .ok_or_else(overflow)?;
    let den = target
        .checked_mul(&U512::from_u128(u128::from(
            pricing.compute_unit_cost_granularity,
        )))
        .ok_or_else(overflow)?;
    num.checked_div(&den).ok_or_else(overflow)
}

/// The canonical bytes of a claim as the chain hashes them for the proof
/// requirement (`proof_validation_status` as stored; 0 at proof time).
pub fn claim_bytes(claim: &Claim) -> Vec<u8> {
    claim.encode_to_vec()
}

/// The proof-requirement sample: `SeededFloat64(SHA-256(claim) ‖ seed block hash)`.
pub fn proof_requirement_sample(claim: &Claim, seed_block_hash: &[u8]) -> f64 {
    let mut input = Vec::with_capacity(32 + seed_block_hash.len());
    input.extend_from_slice(&sha256(&claim_bytes(claim)));
    input.extend_from_slice(seed_block_hash);
    seeded_float64(&input)
}

/// The chain's proof parameters relevant to the requirement (live values).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProofRequirementParams {
    /// Claims worth at least this many uPOKT always need a proof.
    pub threshold_upokt: U512,
    /// Probability that a below-threshold claim needs a proof.
    pub request_probability: f64,
}

/// Decides whether a claim needs a proof, exactly as the chain does.
pub fn proof_requirement(
    claim: &Claim,
    pricing: &ClaimPricing,
    params: &ProofRequirementParams,
    seed_block_hash: &[u8],
) -> Result<ProofRequirementReason> {
    let root = ClaimRoot::parse(&claim.root_hash)?;
    if claimed_upokt(root.sum, pricing)? >= params.threshold_upokt {
        return Ok(ProofRequirementReason::Threshold);
    }
    if proof_requirement_sample(claim, seed_block_hash) <= params.request_probability {
        return Ok(ProofRequirementReason::Probabilistic);
    }
    Ok(ProofRequirementReason::NotRequired)
}

/// The off-chain relay meter's budget for one supplier in one session:
/// `floor(floor(stake / suppliers_per_session) / (pending_sessions + 1))`.
pub fn max_upokt_per_session_supplier(
    app_stake_upokt: u128,
    num_suppliers_per_session: u64,
    num_pending_sessions: u64,
) -> Result<u128> {
    if num_suppliers_per_session == 0 {
        return Err(Error::OutOfRange("num_suppliers_per_session is 0".into()));
    }
    Ok(app_stake_upokt
        / u128::from(num_suppliers_per_session)
        / (u128::from(num_pending_sessions) + 1))
}

/// The cost of one relay in uPOKT for the relay meter:
/// `floor(cupr × CUTTM / granularity)`.
pub fn relay_cost_upokt(
    compute_units_per_relay: u64,
    compute_units_to_tokens_multiplier: u64,
    compute_unit_cost_granularity: u64,
) -> Result<u128> {
    if compute_unit_cost_granularity == 0 {
        return Err(Error::OutOfRange(
            "compute_unit_cost_granularity is 0".into(),
        ));
    }
    Ok(
        u128::from(compute_units_per_relay) * u128::from(compute_units_to_tokens_multiplier)
            / u128::from(compute_unit_cost_granularity),
    )
}
