//! `MsgSubmitProof` rules, EndBlocker proof validation and settlement: valid
//! proofs are paid; tampered proofs, proofs for the wrong path and proofs of
//! relays with bad signatures are invalid and slashed; a required proof never
//! sent is missing and slashed.

mod support;

use chainsim::{ProofStatus, SettlementOutcome, proof_codes};
use protocol::pb::pocket::session::SessionHeader;
use support::*;

/// Genesis session 1 (E = 4): claim window [6, 8], seed block 7, proof window
/// [8, 10], settlement at 10.
const SEED_HEIGHT: i64 = 7;
const PROOF_OPEN: i64 = 8;
const PROOF_CLOSE: i64 = 10;
const RELAYS: u32 = 5;
const STAKE: u128 = 1_000_000;
const PENALTY: u128 = 1_000;

/// Starts a paused chain, builds a tree of signed relays for `supplier`
/// (spoiled by `fault`), claims its root at height 6 and stops at the seed block.
async fn claimed(
    fault: RelayFault,
    supplier: &[u8; 32],
    sim: Option<Sim>,
) -> (Sim, SessionHeader, Tree) {
    let sim = match sim {
        Some(s) => s,
        None => start(genesis(), None).await,
    };
    let header = sim.header(1);
    let tree = Tree::new(&header, supplier, RELAYS, fault);
    sim.advance_to(5);
    let (h, r) = sim.include(supplier, vec![claim_msg(supplier, &header, &tree.root())]);
    assert_eq!((h, r.code), (6, 0), "claim: {}", r.log);
    sim.advance_to(SEED_HEIGHT);
    (sim, header, tree)
}

fn proof_path(sim: &Sim, header: &SessionHeader) -> smst::Path {
    let seed = sim.handle.block_hash(SEED_HEIGHT).expect("seed block");
    smst::path_for_proof(&seed, &header.session_id)
}

fn settle(sim: &Sim) -> chainsim::SettlementReport {
    sim.advance_to(PROOF_CLOSE);
    let state = sim.handle.state();
    assert!(
        state.claims.is_empty(),
        "claims settle at the proof window close"
    );
    state.settlements.last().cloned().expect("a settlement")
}

#[tokio::test]
async fn valid_proof_is_validated_and_the_claim_settled_and_paid() {
    let (sim, header, tree) = claimed(RelayFault::None, &SUPPLIER_KEY, None).await;
    let proof = tree.proof(&proof_path(&sim, &header));
    let (h, r) = sim.include(
        &SUPPLIER_KEY,
        vec![proof_msg(&SUPPLIER_KEY, &header, &proof)],
    );
    assert_eq!((h, r.code), (PROOF_OPEN, 0), "{}", r.log);
    let state = sim.handle.state();
    assert_eq!(state.proofs.len(), 1);
    assert_eq!(
        state.proofs[0].status,
        ProofStatus::Valid,
        "{}",
        state.proofs[0].reason
    );
    assert_eq!(state.claims[0].proof_validation_status, "VALIDATED");

    let s = settle(&sim);
    assert_eq!(s.outcome, SettlementOutcome::Settled, "{}", s.reason);
    assert_eq!(s.proof_requirement, "THRESHOLD");
    assert_eq!(s.num_relays, u64::from(RELAYS));
    assert_eq!(s.claimed_upokt, (u64::from(RELAYS) * CUPR * 42).to_string());
    assert_eq!(
        sim.handle.supplier_stake(&address(&SUPPLIER_KEY)),
        Some(STAKE)
    );
}

#[tokio::test]
async fn proof_one_block_before_at_open_at_close_and_after_the_window() {
    let sim = start(genesis(), None).await;
    let header = sim.header(1);
    let w = sim.handle.session_windows(4).expect("windows");
    assert_eq!(
        (w.proof_window_open, w.proof_window_close),
        (PROOF_OPEN, PROOF_CLOSE)
    );
    let tree1 = Tree::new(&header, &SUPPLIER_KEY, RELAYS, RelayFault::None);
    let tree2 = Tree::new(&header, &SUPPLIER2_KEY, 3, RelayFault::None);
    sim.advance_to(5);
    // Both suppliers claim in block 6.
    let (c1, r1) = sim.send_unordered(
        &SUPPLIER_KEY,
        vec![claim_msg(&SUPPLIER_KEY, &header, &tree1.root())],
    );
    let (c2, r2) = sim.send_unordered(
        &SUPPLIER2_KEY,
        vec![claim_msg(&SUPPLIER2_KEY, &header, &tree2.root())],
    );
    assert_eq!((r1.code, r2.code), (0, 0));
    assert_eq!(sim.block(), 6);
    for hash in [c1, c2] {
        let (h, r) = sim.handle.tx_result(&hash).expect("included");
        assert_eq!((h, r.code), (6, 0), "{}", r.log);
    }
    // Block hashes do not depend on txs, so the seed block's hash (and the
    // proof path) is known before block 7 exists.
    let prev = sim.handle.block_hash(SEED_HEIGHT - 1).expect("block 6");
    let seed = chainsim::block_hash(&sim.handle.chain_id(), SEED_HEIGHT, &prev);
    let path = smst::path_for_proof(&seed, &header.session_id);

    // One block before the window: the proof lands at 7.
    let (h, r) = sim.include(
        &SUPPLIER_KEY,
        vec![proof_msg(&SUPPLIER_KEY, &header, &tree1.proof(&path))],
    );
    assert_eq!(h, PROOF_OPEN - 1);
    assert_eq!(sim.handle.block_hash(SEED_HEIGHT), Some(seed));
    assert_eq!(
        (r.codespace.as_str(), r.code),
        ("proof", proof_codes::PROOF_OUTSIDE_OF_WINDOW),
        "{}",
        r.log
    );
    // At open.
    let (h, r) = sim.include(
        &SUPPLIER_KEY,
        vec![proof_msg(&SUPPLIER_KEY, &header, &tree1.proof(&path))],
    );
    assert_eq!((h, r.code), (PROOF_OPEN, 0), "{}", r.log);
    // At close (supplier 2).
    sim.advance_to(PROOF_CLOSE - 1);
    let (h, r) = sim.include(
        &SUPPLIER2_KEY,
        vec![proof_msg(&SUPPLIER2_KEY, &header, &tree2.proof(&path))],
    );
    assert_eq!((h, r.code), (PROOF_CLOSE, 0), "{}", r.log);
    // After: the window is closed (and the claim settled).
    let (h, r) = sim.include(
        &SUPPLIER_KEY,
        vec![proof_msg(&SUPPLIER_KEY, &header, &tree1.proof(&path))],
    );
    assert_eq!(h, PROOF_CLOSE + 1);
    assert_eq!(r.code, proof_codes::PROOF_OUTSIDE_OF_WINDOW, "{}", r.log);

    let state = sim.handle.state();
    assert_eq!(state.settlements.len(), 2);
    for s in &state.settlements {
        assert_eq!(
            s.outcome,
            SettlementOutcome::Settled,
            "{}: {}",
            s.supplier_operator_address,
            s.reason
        );
    }
}

async fn assert_invalid_and_slashed(sim: &Sim, header: &SessionHeader, proof: &[u8], why: &str) {
    let (_, r) = sim.include(&SUPPLIER_KEY, vec![proof_msg(&SUPPLIER_KEY, header, proof)]);
    assert_eq!(
        r.code, 0,
        "the tx accepts the proof; the EndBlocker judges it: {}",
        r.log
    );
    let state = sim.handle.state();
    let p = state.proofs.last().expect("proof recorded");
    assert_eq!(p.status, ProofStatus::Invalid);
    assert!(
        p.reason.contains(why),
        "reason {:?} should mention {why:?}",
        p.reason
    );
    assert_eq!(state.claims[0].proof_validation_status, "INVALID");
    let s = settle(sim);
    assert_eq!(
        s.outcome,
        SettlementOutcome::ExpiredProofInvalid,
        "{}",
        s.reason
    );
    assert_eq!(s.slashed_upokt, PENALTY.to_string());
    assert_eq!(s.paid_upokt, "0");
    assert_eq!(
        sim.handle.supplier_stake(&address(&SUPPLIER_KEY)),
        Some(STAKE - PENALTY)
    );
    assert_eq!(sim.handle.state().counters.suppliers_slashed, 1);
}

#[tokio::test]
async fn proof_with_one_flipped_byte_is_invalid_and_slashed() {
    let (sim, header, tree) = claimed(RelayFault::None, &SUPPLIER_KEY, None).await;
    let mut compact = tree
        .trie
        .prove_closest(&proof_path(&sim, &header))
        .compact()
        .expect("compact");
    let inner = compact.closest_proof.as_mut().expect("inner proof");
    assert!(!inner.side_nodes.is_empty(), "5 leaves give side nodes");
    inner.side_nodes[0][3] ^= 0x01;
    assert_invalid_and_slashed(&sim, &header, &compact.to_gob(), "claimed root").await;
}

#[tokio::test]
async fn proof_for_the_wrong_path_is_invalid_and_slashed() {
    let (sim, header, tree) = claimed(RelayFault::None, &SUPPLIER_KEY, None).await;
    // Seeded with the block before the seed block.
    let wrong_seed = sim.handle.block_hash(SEED_HEIGHT - 1).expect("block");
    let path = smst::path_for_proof(&wrong_seed, &header.session_id);
    assert_invalid_and_slashed(&sim, &header, &tree.proof(&path), "expected path").await;
}

#[tokio::test]
async fn proof_of_a_relay_with_a_bad_ring_signature_is_invalid_and_slashed() {
    let (sim, header, tree) = claimed(RelayFault::BadRingSignature, &SUPPLIER_KEY, None).await;
    let proof = tree.proof(&proof_path(&sim, &header));
    assert_invalid_and_slashed(&sim, &header, &proof, "ring signature").await;
}

#[tokio::test]
async fn proof_of_a_relay_with_a_bad_supplier_signature_is_invalid_and_slashed() {
    let (sim, header, tree) = claimed(RelayFault::BadSupplierSignature, &SUPPLIER_KEY, None).await;
    let proof = tree.proof(&proof_path(&sim, &header));
    assert_invalid_and_slashed(&sim, &header, &proof, "supplier signature").await;
}

#[tokio::test]
async fn required_proof_never_sent_expires_as_missing_and_slashes() {
    let (sim, _header, _tree) = claimed(RelayFault::None, &SUPPLIER_KEY, None).await;
    let s = settle(&sim);
    assert_eq!(
        s.outcome,
        SettlementOutcome::ExpiredProofMissing,
        "{}",
        s.reason
    );
    assert_eq!(s.proof_requirement, "THRESHOLD");
    assert_eq!(
        sim.handle.supplier_stake(&address(&SUPPLIER_KEY)),
        Some(STAKE - PENALTY)
    );
    let block = sim.handle.block(PROOF_CLOSE).expect("settlement block");
    let kinds: Vec<&str> = block
        .finalize_events
        .iter()
        .map(|e| e.kind.as_str())
        .collect();
    assert!(
        kinds.contains(&"pocket.tokenomics.EventClaimExpired"),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"pocket.tokenomics.EventSupplierSlashed"),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn proof_that_is_not_required_is_rejected() {
    let mut g = genesis();
    g.params.proof.proof_requirement_threshold_upokt = u64::MAX;
    g.params.proof.proof_request_probability = 0.0;
    let (sim, header, tree) =
        claimed(RelayFault::None, &SUPPLIER_KEY, Some(start(g, None).await)).await;
    let (_, r) = sim.include(
        &SUPPLIER_KEY,
        vec![proof_msg(
            &SUPPLIER_KEY,
            &header,
            &tree.proof(&proof_path(&sim, &header)),
        )],
    );
    assert_eq!(r.code, proof_codes::PROOF_NOT_REQUIRED, "{}", r.log);
    assert_eq!(settle(&sim).outcome, SettlementOutcome::Settled);
}

#[tokio::test]
async fn proof_of_a_relay_above_the_difficulty_target_is_rejected_then_missing() {
    let mut g = genesis();
    // Only a relay hash of 31 zero bytes and a zero last byte would be mined.
    g.services[0].target_hash = Some(format!("{}01", "00".repeat(31)));
    let (sim, header, tree) =
        claimed(RelayFault::None, &SUPPLIER_KEY, Some(start(g, None).await)).await;
    let (_, r) = sim.include(
        &SUPPLIER_KEY,
        vec![proof_msg(
            &SUPPLIER_KEY,
            &header,
            &tree.proof(&proof_path(&sim, &header)),
        )],
    );
    assert_eq!(r.code, proof_codes::INVALID_RELAY, "{}", r.log);
    assert!(r.log.contains("difficulty"), "{}", r.log);
    assert_eq!(settle(&sim).outcome, SettlementOutcome::ExpiredProofMissing);
}

#[tokio::test]
async fn proof_fee_is_charged_and_proof_without_a_claim_is_rejected() {
    let (sim, header, tree) = claimed(RelayFault::None, &SUPPLIER_KEY, None).await;
    let path = proof_path(&sim, &header);
    sim.advance_to(PROOF_OPEN - 1);
    // Supplier 2 never claimed.
    let tree2 = Tree::new(&header, &SUPPLIER2_KEY, 2, RelayFault::None);
    let (_, r) = sim.include(
        &SUPPLIER2_KEY,
        vec![proof_msg(&SUPPLIER2_KEY, &header, &tree2.proof(&path))],
    );
    assert_eq!(r.code, proof_codes::CLAIM_NOT_FOUND, "{}", r.log);
    let before = sim
        .handle
        .account(&address(&SUPPLIER_KEY))
        .expect("acc")
        .balance_upokt;
    let (_, r) = sim.include(
        &SUPPLIER_KEY,
        vec![proof_msg(&SUPPLIER_KEY, &header, &tree.proof(&path))],
    );
    assert_eq!(r.code, 0, "{}", r.log);
    let after = sim
        .handle
        .account(&address(&SUPPLIER_KEY))
        .expect("acc")
        .balance_upokt;
    assert_eq!(before - after, 1 + 10, "tx fee 1 + proof submission fee 10");
}

#[tokio::test]
async fn proof_of_a_relay_signed_by_a_delegated_gateway_is_valid() {
    let sim = start(with_gateway(genesis(), true), None).await;
    let (sim, header, tree) = claimed(RelayFault::GatewaySigned, &SUPPLIER_KEY, Some(sim)).await;
    let (_, r) = sim.include(
        &SUPPLIER_KEY,
        vec![proof_msg(
            &SUPPLIER_KEY,
            &header,
            &tree.proof(&proof_path(&sim, &header)),
        )],
    );
    assert_eq!(r.code, 0, "{}", r.log);
    let p = sim.handle.state().proofs.pop().expect("proof");
    assert_eq!(p.status, ProofStatus::Valid, "{}", p.reason);
    assert_eq!(settle(&sim).outcome, SettlementOutcome::Settled);
}

#[tokio::test]
async fn proof_of_a_relay_signed_by_a_gateway_the_app_does_not_delegate_to_is_invalid() {
    let sim = start(with_gateway(genesis(), false), None).await;
    let (sim, header, tree) = claimed(RelayFault::GatewaySigned, &SUPPLIER_KEY, Some(sim)).await;
    let proof = tree.proof(&proof_path(&sim, &header));
    assert_invalid_and_slashed(&sim, &header, &proof, "ring signature").await;
}
