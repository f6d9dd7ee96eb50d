//! `proof_requirement.json`: claim bytes, seeds, samples, claimed uPOKT and the
//! requirement decision for 91 claims, computed with poktroll's own code.

mod common;

use common::{header, int, s, unhex, vectors};
use protocol::claim::{
    ClaimPricing, ClaimRoot, ProofRequirementParams, claim_bytes, claimed_upokt,
    estimated_compute_units, proof_requirement, proof_requirement_sample,
};
use protocol::gorand::go_varint;
use protocol::pb::pocket::proof::{Claim, ProofRequirementReason};
use protocol::relay::sha256;
use protocol::uint::U512;

#[test]
fn proof_requirement_decisions_match_poktroll() {
    let v = vectors("proof_requirement.json");
    let cases = v["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 91);
    let mut reasons = std::collections::BTreeMap::<String, usize>::new();
    for case in cases {
        let id = s(&case["id"]);
        let c = &case["claim"];
        let claim = Claim {
            supplier_operator_address: s(&c["supplier_operator_address"]).to_owned(),
            session_header: Some(header(&c["session_header"])),
            root_hash: unhex(&c["root_hash_hex"]),
            proof_validation_status: int(&c["proof_validation_status"]) as i32,
        };
        let bytes = claim_bytes(&claim);
        assert_eq!(hex::encode(&bytes), s(&case["claim_bytes_hex"]), "{id}");
        let claim_hash = sha256(&bytes);
        assert_eq!(hex::encode(claim_hash), s(&case["claim_hash_hex"]), "{id}");
        let seed_block = unhex(&case["seed_block_hash_hex"]);
        let seed_input = [claim_hash.as_slice(), &seed_block].concat();
        assert_eq!(hex::encode(&seed_input), s(&case["seed_input_hex"]), "{id}");
        let seed_hash = sha256(&seed_input);
        assert_eq!(hex::encode(seed_hash), s(&case["seed_hash_hex"]), "{id}");
        let (seed, n) = go_varint(&seed_hash);
        assert_eq!(i128::from(n), int(&case["varint_n"]), "{id}");
        assert_eq!(i128::from(seed), int(&case["seed"]), "{id}");
        let sample = proof_requirement_sample(&claim, &seed_block);
        assert_eq!(
            hex::encode(sample.to_bits().to_be_bytes()),
            s(&case["sample_bits_hex"]),
            "{id}"
        );

        let root = ClaimRoot::parse(&claim.root_hash).expect("48-byte root");
        assert_eq!(i128::from(root.sum), int(&case["root_sum"]), "{id}");
        assert_eq!(i128::from(root.count), int(&case["root_count"]), "{id}");
        let target: [u8; 32] = unhex(&case["relay_difficulty_target_hash_hex"])
            .try_into()
            .expect("32-byte target");
        let pricing = ClaimPricing {
            target_hash: target,
            compute_units_to_tokens_multiplier: int(&case["compute_units_to_tokens_multiplier"])
                as u64,
            compute_unit_cost_granularity: int(&case["compute_unit_cost_granularity"]) as u64,
        };
        let est = estimated_compute_units(root.sum, &target).expect("estimate");
        // Go reports the estimate as a uint64 (`big.Int.Uint64()`: low 64 bits);
        // claimed uPOKT below uses the exact rational, not that value.
        assert_eq!(
            est.low_u64().to_string(),
            s(&case["num_estimated_compute_units"]),
            "{id}"
        );
        let upokt = claimed_upokt(root.sum, &pricing).expect("claimed");
        assert_eq!(upokt.to_string(), s(&case["claimed_upokt"]), "{id}");

        let threshold =
            U512::from_decimal(s(&case["proof_requirement_threshold_upokt"])).expect("threshold");
        assert_eq!(upokt >= threshold, case["threshold_met"] == true, "{id}");
        let probability = f64::from_bits(u64::from_be_bytes(
            unhex(&case["proof_request_probability_bits_hex"])
                .try_into()
                .expect("8 bytes"),
        ));
        assert_eq!(
            sample <= probability,
            case["sample_le_probability"] == true,
            "{id}"
        );
        let params = ProofRequirementParams {
            threshold_upokt: threshold,
            request_probability: probability,
        };
        let reason = proof_requirement(&claim, &pricing, &params, &seed_block).expect("decision");
        assert_eq!(reason.as_str_name(), s(&case["reason"]), "{id}");
        assert_eq!(
            reason != ProofRequirementReason::NotRequired,
            case["required"] == true
        );
        *reasons.entry(reason.as_str_name().to_owned()).or_default() += 1;
    }
    assert_eq!(reasons["NOT_REQUIRED"], 52);
    assert_eq!(reasons["PROBABILISTIC"], 16);
    assert_eq!(reasons["THRESHOLD"], 23);
}

#[test]
fn documented_upokt_examples() {
    let mainnet = |target: [u8; 32]| ClaimPricing {
        target_hash: target,
        compute_units_to_tokens_multiplier: 145_990,
        compute_unit_cost_granularity: 1_000_000,
    };
    let base = [0xff; 32];
    let mut quarter = [0xff; 32];
    quarter[0] = 0x3f; // max div 4
    assert_eq!(
        claimed_upokt(100, &mainnet(base)).unwrap().to_string(),
        "14"
    );
    assert_eq!(
        claimed_upokt(100, &mainnet(quarter)).unwrap().to_string(),
        "58"
    );
    assert_eq!(
        claimed_upokt(1_000_000, &mainnet(base))
            .unwrap()
            .to_string(),
        "145990"
    );
    assert!(claimed_upokt(1, &mainnet([0; 32])).is_err());
}
