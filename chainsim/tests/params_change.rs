//! Shared-parameter changes at a session boundary (sessions-and-windows.md
//! §1.1): from the genesis `params_history`, from the handle and from the
//! HTTP endpoint. Both params queries, the session grid, the claim window,
//! settlement and pricing follow the params of the session they are about.

mod support;

use chainsim::genesis::{ParamsChangeGenesis, SharedParamsChange};
use chainsim::{Error, SettlementOutcome, proof_codes};
use protocol::pb::pocket::{session, shared};
use serde_json::Value;
use support::*;

/// The genesis of `support` (N = 4) with a change at block 9, the first
/// block of session 3: N = 6, a later and longer claim window, a longer
/// proof window and CUTTM doubled.
fn change_at_9() -> ParamsChangeGenesis {
    ParamsChangeGenesis {
        effective_height: 9,
        shared: SharedParamsChange {
            num_blocks_per_session: Some(6),
            claim_window_open_offset_blocks: Some(2),
            claim_window_close_offset_blocks: Some(3),
            proof_window_close_offset_blocks: Some(3),
            compute_units_to_tokens_multiplier: Some(84_000_000),
            ..SharedParamsChange::default()
        },
    }
}

async fn params_at_height(
    client: &mut shared::query_client::QueryClient<tonic::transport::Channel>,
    h: i64,
) -> shared::Params {
    client
        .params_at_height(shared::QueryParamsAtHeightRequest { height: h })
        .await
        .expect("ParamsAtHeight")
        .into_inner()
        .params
        .expect("params")
}

async fn live_params(
    client: &mut shared::query_client::QueryClient<tonic::transport::Channel>,
    header_height: Option<i64>,
) -> shared::Params {
    let mut req = tonic::Request::new(shared::QueryParamsRequest {});
    if let Some(h) = header_height {
        req.metadata_mut().insert(
            "x-cosmos-block-height",
            h.to_string().parse().expect("ascii"),
        );
    }
    client
        .params(req)
        .await
        .expect("Params")
        .into_inner()
        .params
        .expect("params")
}

async fn session_bounds(
    client: &mut session::query_client::QueryClient<tonic::transport::Channel>,
    h: i64,
) -> (i64, i64, i64, i64) {
    let s = client
        .get_session(session::QueryGetSessionRequest {
            application_address: address(&APP_KEY),
            service_id: SERVICE.into(),
            block_height: h,
        })
        .await
        .expect("GetSession")
        .into_inner()
        .session
        .expect("session");
    let header = s.header.expect("header");
    (
        header.session_start_block_height,
        header.session_end_block_height,
        s.session_number,
        s.num_blocks_per_session,
    )
}

#[tokio::test]
async fn genesis_change_is_served_by_both_params_queries_and_moves_the_grid_at_its_height() {
    let mut g = genesis();
    g.params_history = vec![change_at_9()];
    let sim = start(g, None).await;
    sim.advance_to(3);
    let ch = channel(&sim).await;
    let mut sh = shared::query_client::QueryClient::new(ch.clone());
    let mut se = session::query_client::QueryClient::new(ch);

    // Before the change takes effect: ParamsAtHeight already knows the
    // future snapshot, live Params does not.
    let old = params_at_height(&mut sh, 8).await;
    assert_eq!(old.num_blocks_per_session, 4);
    assert_eq!(old.compute_units_to_tokens_multiplier, 42_000_000);
    let new = params_at_height(&mut sh, 9).await;
    assert_eq!(new.num_blocks_per_session, 6);
    assert_eq!(new.claim_window_open_offset_blocks, 2);
    assert_eq!(new.compute_units_to_tokens_multiplier, 84_000_000);
    assert_eq!(
        new.grace_period_end_offset_blocks, 1,
        "keys not in the change keep their value"
    );
    assert_eq!(
        (new.session_grid_anchor_height, new.session_number_at_anchor),
        (9, 3),
        "the new grid is anchored at the change, numbering continues"
    );
    assert_eq!(params_at_height(&mut sh, 1_000).await, new);
    assert_eq!(live_params(&mut sh, None).await, old);

    sim.advance_to(8);
    assert_eq!(live_params(&mut sh, None).await, old, "last old block");
    assert_eq!(session_bounds(&mut se, 8).await, (5, 8, 2, 4));

    sim.advance_to(9);
    assert_eq!(live_params(&mut sh, None).await, new, "live from block 9");
    assert_eq!(live_params(&mut sh, Some(8)).await, old, "as of block 8");
    assert_eq!(sim.handle.shared_params(), new);
    assert_eq!(session_bounds(&mut se, 9).await, (9, 14, 3, 6));
    sim.advance_to(15);
    assert_eq!(session_bounds(&mut se, 15).await, (15, 20, 4, 6));
    assert_eq!(
        session_bounds(&mut se, 6).await,
        (5, 8, 2, 4),
        "past sessions keep the old grid"
    );
    assert_eq!(
        sim.handle
            .shared_params_history()
            .iter()
            .map(|(h, _)| *h)
            .collect::<Vec<_>>(),
        [1, 9]
    );
}

/// Session 2 (blocks 5–8) ends under the old params: claim window [10, 12],
/// settlement at 14, 42 uPOKT per compute unit. Session 3 (blocks 9–14)
/// is the first under the new ones: claim window [17, 20], settlement at
/// 23, 84 uPOKT per compute unit.
#[tokio::test]
async fn claims_on_both_sides_of_a_change_follow_the_params_of_their_own_session() {
    let mut g = genesis();
    g.params.proof.proof_requirement_threshold_upokt = u64::MAX;
    g.params.proof.proof_request_probability = 0.0;
    let sim = start(g, None).await;
    sim.advance_to(2);
    let change = change_at_9();
    let before = sim.handle.shared_params_at(8);
    let recorded = sim
        .handle
        .schedule_shared_params(9, change.shared.apply(&before))
        .expect("9 starts session 3");
    assert_eq!(recorded.session_grid_anchor_height, 9);
    assert_eq!(sim.handle.shared_params_at(9), recorded);

    let old_w = sim.handle.session_windows(8).expect("old windows");
    assert_eq!(
        (
            old_w.claim_window_open,
            old_w.claim_window_close,
            old_w.settlement_height
        ),
        (10, 12, 14)
    );
    let new_w = sim.handle.session_windows(14).expect("new windows");
    assert_eq!(
        (
            new_w.claim_window_open,
            new_w.claim_window_close,
            new_w.settlement_height
        ),
        (17, 20, 23)
    );

    sim.advance_to(9);
    let old_header = sim.header(5);
    assert_eq!(old_header.session_end_block_height, 8);
    let new_header = sim.header(9);
    assert_eq!(
        (
            new_header.session_start_block_height,
            new_header.session_end_block_height
        ),
        (9, 14)
    );

    // Height 10 opens the old session's window (the new offsets would open
    // it at 11).
    let (h, r) = sim.include(
        &SUPPLIER_KEY,
        vec![claim_msg(
            &SUPPLIER_KEY,
            &old_header,
            &fake_root(3, 3 * CUPR),
        )],
    );
    assert_eq!((h, r.code), (10, 0), "{}", r.log);

    // Height 16 would open the new session's window under the old offsets.
    sim.advance_to(15);
    let (h, r) = sim.include(
        &SUPPLIER_KEY,
        vec![claim_msg(
            &SUPPLIER_KEY,
            &new_header,
            &fake_root(3, 3 * CUPR),
        )],
    );
    assert_eq!(h, 16);
    assert_eq!(r.code, proof_codes::CLAIM_OUTSIDE_OF_WINDOW, "{}", r.log);
    let (h, r) = sim.include(
        &SUPPLIER_KEY,
        vec![claim_msg(
            &SUPPLIER_KEY,
            &new_header,
            &fake_root(3, 3 * CUPR),
        )],
    );
    assert_eq!((h, r.code), (17, 0), "{}", r.log);

    sim.advance_to(22);
    assert_eq!(
        sim.handle.state().settlements.len(),
        1,
        "the new session settles only when its longer proof window closes"
    );
    sim.block();
    let state = sim.handle.state();
    let by_end = |end: i64| {
        state
            .settlements
            .iter()
            .find(|s| s.session_end_block_height == end)
            .unwrap_or_else(|| panic!("settlement of the session ending at {end}"))
    };
    let old_s = by_end(8);
    assert_eq!(
        old_s.outcome,
        SettlementOutcome::Settled,
        "{}",
        old_s.reason
    );
    assert_eq!(old_s.height, 14);
    assert_eq!(old_s.claimed_upokt, "882", "21 CU × 42 uPOKT");
    let new_s = by_end(14);
    assert_eq!(
        new_s.outcome,
        SettlementOutcome::Settled,
        "{}",
        new_s.reason
    );
    assert_eq!(new_s.height, 23);
    assert_eq!(new_s.claimed_upokt, "1764", "21 CU × 84 uPOKT");
}

#[tokio::test]
async fn changes_off_a_boundary_in_the_past_or_out_of_order_are_refused_and_http_schedules() {
    let sim = start(genesis(), None).await;
    sim.advance_to(5);
    let p = sim.handle.shared_params();
    for (h, why) in [
        (5, "latest committed block"),
        (1, "latest committed block"),
        (11, "next one starts at 13"),
    ] {
        match sim.handle.schedule_shared_params(h, p) {
            Err(Error::ParamsChange {
                effective_height,
                reason,
            }) => {
                assert_eq!(effective_height, h);
                assert!(reason.contains(why), "{h}: {reason}");
            }
            other => panic!("{h}: expected a refusal, got {other:?}"),
        }
    }
    let mut zero = p;
    zero.num_blocks_per_session = 0;
    assert!(sim.handle.schedule_shared_params(13, zero).is_err());

    let addr = sim.handle.rpc_addr();
    let (code, text) = http(
        addr,
        "POST",
        "/chainsim/shared_params",
        Some(r#"{"effective_height": 13, "shared": {"num_blocks_per_session": 5}}"#),
    )
    .await;
    assert_eq!(code, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["shared"]["num_blocks_per_session"], 5);
    assert_eq!(v["shared"]["session_grid_anchor_height"], 13);
    assert_eq!(v["shared"]["session_number_at_anchor"], 4);
    assert_eq!(sim.handle.shared_params_at(13).num_blocks_per_session, 5);

    let (code, text) = http(
        addr,
        "POST",
        "/chainsim/shared_params",
        Some(r#"{"effective_height": 9, "shared": {}}"#),
    )
    .await;
    assert_eq!(code, 400, "before the change at 13: {text}");
    assert!(text.contains("already scheduled at 13"), "{text}");
    let (code, text) = http(
        addr,
        "POST",
        "/chainsim/shared_params",
        Some(r#"{"effective_height": 18, "shared": {"session_number_at_anchor": 1}}"#),
    )
    .await;
    assert!(code >= 400, "derived keys cannot be set: {code} {text}");
    assert_eq!(sim.handle.shared_params_history().len(), 2);
}
