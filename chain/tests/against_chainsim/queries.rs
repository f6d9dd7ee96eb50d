//! Every query against what the genesis says; heights; errors; retries.

use chain::{ClaimFilter, Error, Metrics, ProofStatus, QueryClient, RpcClient, RpcErrorKind};
use protocol::pb::pocket::shared::RpcType;

use crate::support::*;

#[tokio::test]
async fn every_query_returns_what_the_genesis_says() {
    let g = genesis();
    let sim = start(g.clone(), None).await;
    sim.advance_to(5);
    let cfg = sim.config();
    let metrics = Metrics::unregistered().unwrap();
    let q = QueryClient::new(&cfg.grpc, metrics.clone()).unwrap();
    let app = address(&APP_KEY);
    let gw = address(&GATEWAY_KEY);
    let sup = address(&SUPPLIER_KEY);

    // Parameters.
    let shared = q.shared_params().await.unwrap();
    assert_eq!(shared.num_blocks_per_session, 4);
    assert_eq!(shared.grace_period_end_offset_blocks, 1);
    assert_eq!(shared.claim_window_open_offset_blocks, 1);
    assert_eq!(shared.claim_window_close_offset_blocks, 2);
    assert_eq!(shared.proof_window_close_offset_blocks, 2);
    assert_eq!(
        shared.compute_units_to_tokens_multiplier,
        g.params.shared.compute_units_to_tokens_multiplier
    );
    assert_eq!(q.shared_params_at_height(3).await.unwrap(), shared);
    assert_eq!(q.at_height(2).shared_params().await.unwrap(), shared);
    assert_eq!(
        q.session_params().await.unwrap().num_suppliers_per_session,
        15
    );
    let proof = q.proof_params().await.unwrap();
    assert_eq!(
        proof
            .proof_requirement_threshold
            .as_ref()
            .map(|c| c.amount.as_str()),
        Some("123456")
    );
    assert!((proof.proof_request_probability - 0.5).abs() < 1e-12);
    q.service_params().await.unwrap();
    q.tokenomics_params().await.unwrap();
    q.application_params().await.unwrap();
    q.supplier_params().await.unwrap();
    q.gateway_params().await.unwrap();

    // Actors.
    let a = q.application(&app).await.unwrap();
    assert_eq!(a.address, app);
    assert_eq!(
        a.stake.as_ref().map(|c| c.amount.as_str()),
        Some("1000000000000")
    );
    assert_eq!(a.delegatee_gateway_addresses, vec![gw.clone()]);
    assert_eq!(a.service_configs[0].service_id, SERVICE);
    assert_eq!(q.applications(None).await.unwrap().len(), 1);
    assert_eq!(q.applications(Some(&gw)).await.unwrap().len(), 1);
    assert_eq!(q.applications(Some(&sup)).await.unwrap().len(), 0);

    let gateway = q.gateway(&gw).await.unwrap();
    assert_eq!(gateway.address, gw);
    assert_eq!(
        gateway.stake.as_ref().map(|c| c.amount.as_str()),
        Some(GATEWAY_STAKE.to_string().as_str())
    );

    let s = q.supplier(&sup).await.unwrap();
    assert_eq!(s.operator_address, sup);
    assert_eq!(
        s.stake.as_ref().map(|c| c.amount.as_str()),
        Some(SUPPLIER_STAKE.to_string().as_str())
    );
    assert_eq!(s.services[0].service_id, SERVICE);
    assert_eq!(s.services[0].endpoints[0].rpc_type, RpcType::JsonRpc as i32);
    assert_eq!(q.suppliers(None).await.unwrap().len(), 2);
    assert_eq!(q.suppliers(Some(SERVICE)).await.unwrap().len(), 2);
    assert_eq!(q.suppliers(Some("other")).await.unwrap().len(), 0);

    // Services, difficulty, compute units.
    let svc = q.service(SERVICE).await.unwrap();
    assert_eq!(svc.compute_units_per_relay, CUPR);
    assert_eq!(svc.name, "Anvil");
    let mut ids: Vec<String> = q
        .services()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["anvil", "other"]);
    assert_eq!(
        q.compute_units_per_relay_at_height(SERVICE, 1)
            .await
            .unwrap(),
        CUPR
    );
    assert_eq!(
        q.compute_units_per_relay_at_height("other", 4)
            .await
            .unwrap(),
        3
    );
    let d = q
        .relay_mining_difficulty_at_height(SERVICE, 1)
        .await
        .unwrap();
    assert_eq!(d.target_hash, vec![0xff; 32]);
    let d = q.relay_mining_difficulty("other").await.unwrap();
    assert_eq!(d.target_hash[0], 0);
    assert_eq!(&d.target_hash[1..], &[0xff; 31]);

    // Session.
    let session = q.session(&app, SERVICE, 5).await.unwrap();
    let header = session.header.clone().unwrap();
    assert_eq!(header.application_address, app);
    assert_eq!(header.service_id, SERVICE);
    assert_eq!(
        (
            header.session_start_block_height,
            header.session_end_block_height
        ),
        (5, 8)
    );
    let expected = sim.handle.session(&app, SERVICE, 5).unwrap();
    assert_eq!(header.session_id, expected.header.unwrap().session_id);
    assert!(session.suppliers.iter().any(|s| s.operator_address == sup));
    assert_eq!(session.suppliers.len(), 2);

    // Accounts and balances.
    let acc = q.account(&sup).await.unwrap().expect("supplier account");
    assert_eq!(acc.address, sup);
    assert!(acc.pub_key.is_some(), "operator public key on chain");
    let sender = q.account(&address(&SENDER_KEY)).await.unwrap().unwrap();
    assert_ne!(sender.account_number, acc.account_number);
    assert_eq!(
        q.balance(&address(&SENDER_KEY)).await.unwrap(),
        u128::from(SENDER_BALANCE)
    );
    let nobody = address(&key(99));
    assert!(q.account(&nobody).await.unwrap().is_none());
    assert_eq!(q.balance(&nobody).await.unwrap(), 0);

    // Claims (none yet).
    assert!(q.claim(&header.session_id, &sup).await.unwrap().is_none());
    assert!(q.proof(&header.session_id, &sup).await.unwrap().is_none());
    assert!(!q.claim_included(&header.session_id, &sup).await.unwrap());
    assert_eq!(
        q.proof_status(&header.session_id, &sup).await.unwrap(),
        ProofStatus::NoClaim
    );
    assert!(
        q.claims(ClaimFilter::Supplier(sup.clone()))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(q.supplier_claims(&sup).await.unwrap().is_empty());

    // Not found is an answer, named with method and height; not retried.
    let err = q.at_height(4).application(&nobody).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(!err.is_retryable());
    let msg = err.to_string();
    assert!(
        msg.contains("/pocket.application.Query/Application") && msg.contains("height 4"),
        "{msg}"
    );
    assert!(matches!(err, Error::Grpc { attempts: 1, .. }), "{err:?}");
    // A height ahead of the node is refused and says so.
    let err = q.at_height(1_000).shared_params().await.unwrap_err();
    assert_eq!(err.grpc_code(), Some(tonic::Code::InvalidArgument), "{err}");
    assert!(err.to_string().contains("height 1000"), "{err}");
    assert_eq!(
        metrics
            .query_retries
            .with_label_values(&["pocket.application.Query/Application"])
            .get(),
        0
    );
}

/// The genesis has N = 4; a change scheduled for block 9 (the first block
/// of session 3) sets N = 6 and halves CUTTM, as a governance update would.
#[tokio::test]
async fn shared_params_at_heights_before_and_after_a_parameter_change() {
    let sim = start(genesis(), None).await;
    sim.advance_to(3);
    let q = QueryClient::new(&sim.config().grpc, Metrics::unregistered().unwrap()).unwrap();
    let old = q.shared_params().await.unwrap();
    let mut next = old;
    next.num_blocks_per_session = 6;
    next.compute_units_to_tokens_multiplier = old.compute_units_to_tokens_multiplier / 2;
    sim.handle.schedule_shared_params(9, next).unwrap();

    // Scheduled, not yet in force: ParamsAtHeight answers by height, the
    // live params are still the old ones.
    assert_eq!(q.shared_params_at_height(8).await.unwrap(), old);
    let new = q.shared_params_at_height(9).await.unwrap();
    assert_eq!(new.num_blocks_per_session, 6);
    assert_eq!(
        new.compute_units_to_tokens_multiplier,
        old.compute_units_to_tokens_multiplier / 2
    );
    assert_eq!(
        (new.session_grid_anchor_height, new.session_number_at_anchor),
        (9, 3),
        "the new grid starts at the change; session numbers continue"
    );
    assert_eq!(
        new.claim_window_close_offset_blocks,
        old.claim_window_close_offset_blocks
    );
    assert_eq!(q.shared_params().await.unwrap(), old);

    // In force from block 9.
    sim.advance_to(10);
    assert_eq!(q.shared_params().await.unwrap(), new);
    assert_eq!(q.at_height(8).shared_params().await.unwrap(), old);
    assert_eq!(q.at_height(9).shared_params().await.unwrap(), new);
    assert_eq!(q.shared_params_at_height(5).await.unwrap(), old);
    assert_eq!(q.shared_params_at_height(10).await.unwrap(), new);

    // Sessions follow the params of their own heights.
    let app = address(&APP_KEY);
    let bounds = |s: protocol::pb::pocket::session::Session| {
        let h = s.header.unwrap();
        (
            h.session_start_block_height,
            h.session_end_block_height,
            s.num_blocks_per_session,
        )
    };
    assert_eq!(
        bounds(q.session(&app, SERVICE, 8).await.unwrap()),
        (5, 8, 4)
    );
    assert_eq!(
        bounds(q.session(&app, SERVICE, 10).await.unwrap()),
        (9, 14, 6)
    );
}

#[tokio::test]
async fn comet_rpc_answers_match_the_chain() {
    let sim = start(genesis(), None).await;
    sim.advance_to(6);
    let cfg = sim.config();
    let rpc = RpcClient::new(&cfg.rpc, Metrics::unregistered().unwrap()).unwrap();
    let status = rpc.status().await.unwrap();
    assert_eq!(status.chain_id, "pocket");
    assert_eq!(status.latest_height, 6);
    assert!(!status.catching_up);
    for h in 1..=6u64 {
        let b = rpc.block(h).await.unwrap();
        assert_eq!(b.height, h);
        assert_eq!(
            Some(b.hash),
            sim.handle.block_hash(h as i64),
            "hash of block {h}"
        );
    }
    let latest = rpc.latest_block().await.unwrap();
    assert_eq!(latest.height, 6);
    assert_eq!(latest.time, status.latest_time);
    assert_eq!(rpc.abci_info().await.unwrap().version, "v0.1.35");
    rpc.check_chain_id("pocket").await.unwrap();
    assert!(matches!(
        rpc.check_chain_id("pocket-beta").await,
        Err(Error::Config(_))
    ));

    // Above the tip: a JSON-RPC error, not retried, naming the height.
    let err = rpc.block(100).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Rpc {
                kind: RpcErrorKind::JsonRpc(_),
                attempts: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("height 100"), "{err}");
}

#[tokio::test]
async fn transient_failures_are_retried_then_reported() {
    // A port with nothing listening (bound, then released).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut grpc = chain::GrpcConfig {
        url: format!("http://127.0.0.1:{port}"),
        retry: fast_retry(),
        ..chain::GrpcConfig::default()
    };
    grpc.connect_timeout = std::time::Duration::from_millis(500);
    let metrics = Metrics::unregistered().unwrap();
    let q = QueryClient::new(&grpc, metrics.clone()).unwrap();
    let err = q.at_height(7).proof_params().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Grpc {
                code: tonic::Code::Unavailable,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(
        err.to_string()
            .contains("/pocket.proof.Query/Params at height 7"),
        "{err}"
    );
    assert_eq!(
        metrics
            .query_retries
            .with_label_values(&["pocket.proof.Query/Params"])
            .get(),
        2
    );

    let rpc_cfg = chain::RpcConfig {
        url: format!("http://127.0.0.1:{port}"),
        retry: fast_retry(),
        ..chain::RpcConfig::default()
    };
    let rpc = RpcClient::new(&rpc_cfg, metrics.clone()).unwrap();
    let err = rpc.block(3).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Rpc {
                kind: RpcErrorKind::Transport,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("block at height 3"), "{err}");
    assert_eq!(
        metrics
            .rpc_errors
            .with_label_values(&["block", "transport"])
            .get(),
        3
    );
}
