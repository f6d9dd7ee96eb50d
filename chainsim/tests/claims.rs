//! `MsgCreateClaim` rules: the claim window, the compute-unit check, session
//! membership, upserts, and settlement of claims that need no proof.

mod support;

use chainsim::{SettlementOutcome, proof_codes};
use support::*;

/// Session 1 covers blocks 1–4 (E = 4): claim window [6, 8], proof window
/// [8, 10], seed block 7, settlement at 10.
#[tokio::test]
async fn claim_one_block_before_at_open_at_close_and_after_the_window() {
    let sim = start(genesis(), None).await;
    let header = sim.header(1);
    let w = sim.handle.session_windows(4).expect("windows");
    assert_eq!((w.claim_window_open, w.claim_window_close), (6, 8));
    let root = fake_root(3, 3 * CUPR);

    sim.advance_to(w.claim_window_open - 2);
    let (h, r) = sim.include(
        &SUPPLIER_KEY,
        vec![claim_msg(&SUPPLIER_KEY, &header, &root)],
    );
    assert_eq!(h, w.claim_window_open - 1);
    assert_eq!(
        (r.codespace.as_str(), r.code),
        ("proof", proof_codes::CLAIM_OUTSIDE_OF_WINDOW),
        "{}",
        r.log
    );

    let (h, r) = sim.include(
        &SUPPLIER_KEY,
        vec![claim_msg(&SUPPLIER_KEY, &header, &root)],
    );
    assert_eq!(h, w.claim_window_open);
    assert_eq!(r.code, 0, "at open: {}", r.log);

    sim.advance_to(w.claim_window_close - 1);
    let (h, r) = sim.include(
        &SUPPLIER2_KEY,
        vec![claim_msg(&SUPPLIER2_KEY, &header, &root)],
    );
    assert_eq!(h, w.claim_window_close);
    assert_eq!(r.code, 0, "at close: {}", r.log);

    let (h, r) = sim.include(
        &SUPPLIER_KEY,
        vec![claim_msg(&SUPPLIER_KEY, &header, &root)],
    );
    assert_eq!(h, w.claim_window_close + 1);
    assert_eq!(r.code, proof_codes::CLAIM_OUTSIDE_OF_WINDOW, "{}", r.log);

    let state = sim.handle.state();
    assert_eq!(state.claims.len(), 2, "{:?}", state.claims);
    assert_eq!(state.counters.claims_created, 2);
    assert_eq!(state.counters.claims_rejected, 2);
    let c = &state.claims[0];
    assert_eq!(c.session_id, header.session_id);
    assert_eq!((c.num_relays, c.num_claimed_compute_units), (3, 3 * CUPR));
    assert_eq!(c.proof_validation_status, "PENDING_VALIDATION");
}

#[tokio::test]
async fn claim_whose_sum_is_not_count_times_compute_units_is_rejected() {
    let sim = start(genesis(), None).await;
    let header = sim.header(1);
    sim.advance_to(5);
    let (_, r) = sim.include(
        &SUPPLIER_KEY,
        vec![claim_msg(
            &SUPPLIER_KEY,
            &header,
            &fake_root(3, 3 * CUPR + 1),
        )],
    );
    assert_eq!(r.code, proof_codes::COMPUTE_UNITS_MISMATCH, "{}", r.log);
    assert!(sim.handle.state().claims.is_empty());
}

#[tokio::test]
async fn duplicate_claim_replaces_the_first_and_never_makes_two() {
    let sim = start(genesis(), None).await;
    let header = sim.header(1);
    sim.advance_to(5);
    let (h1, r) = sim.include(
        &SUPPLIER_KEY,
        vec![claim_msg(&SUPPLIER_KEY, &header, &fake_root(1, CUPR))],
    );
    assert_eq!(r.code, 0, "{}", r.log);
    let (h2, r) = sim.include(
        &SUPPLIER_KEY,
        vec![claim_msg(&SUPPLIER_KEY, &header, &fake_root(2, 2 * CUPR))],
    );
    assert_eq!(r.code, 0, "poktroll upserts a claim: {}", r.log);
    let state = sim.handle.state();
    assert_eq!(state.claims.len(), 1, "one claim per (session, supplier)");
    let c = &state.claims[0];
    assert_eq!(c.num_relays, 2, "the second claim replaced the first");
    assert_eq!((c.created_height, c.updated_height), (h1, h2));
    assert_eq!(
        (state.counters.claims_created, state.counters.claims_updated),
        (1, 1)
    );
}

#[tokio::test]
async fn claim_for_a_supplier_not_in_the_session_is_rejected() {
    let sim = start(genesis(), None).await;
    let header = sim.header(1);
    sim.advance_to(5);
    let (_, r) = sim.include(
        &OUTSIDER_KEY,
        vec![claim_msg(&OUTSIDER_KEY, &header, &fake_root(1, CUPR))],
    );
    assert_eq!(r.code, proof_codes::SUPPLIER_NOT_FOUND, "{}", r.log);
}

#[tokio::test]
async fn claim_with_a_wrong_session_header_is_rejected() {
    let sim = start(genesis(), None).await;
    sim.advance_to(5);
    let mut header = sim.header(1);
    header.session_id = "00".repeat(32);
    let (_, r) = sim.include(
        &SUPPLIER_KEY,
        vec![claim_msg(&SUPPLIER_KEY, &header, &fake_root(1, CUPR))],
    );
    assert_eq!(r.code, proof_codes::INVALID_SESSION_ID, "{}", r.log);

    let mut header = sim.header(1);
    header.session_end_block_height += 1;
    let (_, r) = sim.include(
        &SUPPLIER_KEY,
        vec![claim_msg(&SUPPLIER_KEY, &header, &fake_root(1, CUPR))],
    );
    assert_eq!(r.code, proof_codes::INVALID_SESSION_END_HEIGHT, "{}", r.log);
}

#[tokio::test]
async fn claim_with_an_empty_root_fails_check_tx() {
    let sim = start(genesis(), None).await;
    let header = sim.header(1);
    sim.advance_to(5);
    let (_, r) = sim.send_unordered(
        &SUPPLIER_KEY,
        vec![claim_msg(&SUPPLIER_KEY, &header, &fake_root(0, 0))],
    );
    assert_eq!(
        (r.codespace.as_str(), r.code),
        ("proof", proof_codes::INVALID_CLAIM_ROOT_HASH)
    );
    let (_, r) = sim.send_unordered(
        &SUPPLIER_KEY,
        vec![claim_msg(&SUPPLIER_KEY, &header, &[1u8; 47])],
    );
    assert_eq!(r.code, proof_codes::INVALID_CLAIM_ROOT_HASH, "{}", r.log);
}

#[tokio::test]
async fn claim_that_needs_no_proof_settles_and_pays_at_proof_window_close() {
    let mut g = genesis();
    g.params.proof.proof_requirement_threshold_upokt = u64::MAX;
    g.params.proof.proof_request_probability = 0.0;
    let sim = start(g, None).await;
    let header = sim.header(1);
    let owner = address(&SUPPLIER_KEY);
    let before = sim.handle.account(&owner).expect("owner").balance_upokt;
    sim.advance_to(5);
    let (_, r) = sim.include(
        &SUPPLIER_KEY,
        vec![claim_msg(&SUPPLIER_KEY, &header, &fake_root(3, 3 * CUPR))],
    );
    assert_eq!(r.code, 0, "{}", r.log);
    let w = sim.handle.session_windows(4).expect("windows");
    sim.advance_to(w.settlement_height - 1);
    assert!(
        sim.handle.state().settlements.is_empty(),
        "not before the proof window closes"
    );
    sim.block();
    let state = sim.handle.state();
    assert!(state.claims.is_empty(), "settled claims are removed");
    let s = &state.settlements[0];
    assert_eq!(s.outcome, SettlementOutcome::Settled, "{}", s.reason);
    assert_eq!(s.height, w.settlement_height);
    assert_eq!(s.proof_requirement, "NOT_REQUIRED");
    // 21 compute units × 42 uPOKT (CUTTM 42 000 000 / granularity 1 000 000).
    assert_eq!(s.claimed_upokt, "882");
    assert_eq!(s.paid_upokt, "882");
    let after = sim.handle.account(&owner).expect("owner").balance_upokt;
    assert_eq!(
        after,
        before - 1 + 882,
        "fee of 1 uPOKT paid, reward credited"
    );
}
