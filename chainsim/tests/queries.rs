//! gRPC queries with the exact method paths the relayer and miner use:
//! sessions computed with the real algorithms, actors, params (also at a
//! height via `x-cosmos-block-height`), difficulty, compute units, claims,
//! accounts and balances.

mod support;

use prost::Message;
use protocol::pb::cosmos::auth::v1beta1::{self as auth, BaseAccount};
use protocol::pb::cosmos::bank::v1beta1 as bank;
use protocol::pb::pocket::{application, proof, service, session, shared, supplier, tokenomics};
use support::*;

#[tokio::test]
async fn get_session_uses_the_grid_session_id_and_supplier_selection() {
    let mut g = genesis();
    g.params.session.num_suppliers_per_session = 1;
    let sim = start(g, None).await;
    sim.advance_to(6);
    let mut client = session::query_client::QueryClient::new(channel(&sim).await);
    let app = address(&APP_KEY);
    let s = client
        .get_session(session::QueryGetSessionRequest {
            application_address: app.clone(),
            service_id: SERVICE.into(),
            block_height: 6,
        })
        .await
        .expect("session")
        .into_inner()
        .session
        .expect("session");
    let header = s.header.clone().expect("header");
    assert_eq!(
        (
            header.session_start_block_height,
            header.session_end_block_height
        ),
        (5, 8)
    );
    assert_eq!(s.session_number, 2);
    assert_eq!(s.num_blocks_per_session, 4);
    let start_hash = sim.handle.block_hash(5).expect("block 5");
    let preimage = protocol::session::session_id_preimage(&start_hash, SERVICE, &app, 5);
    assert_eq!(header.session_id, protocol::session::session_id(&preimage));
    assert_eq!(s.session_id, header.session_id);
    // One slot, two candidates: the lower selection weight wins.
    let (a, b) = (address(&SUPPLIER_KEY), address(&SUPPLIER2_KEY));
    let wa = protocol::session::supplier_selection_weight(&preimage, &a);
    let wb = protocol::session::supplier_selection_weight(&preimage, &b);
    let winner = if (wa, &a) < (wb, &b) { a } else { b };
    assert_eq!(s.suppliers.len(), 1);
    assert_eq!(s.suppliers[0].operator_address, winner);
    assert_eq!(
        s.suppliers[0].services.len(),
        1,
        "dehydrated to the session's service"
    );
    assert!(s.suppliers[0].service_config_history.is_empty());

    let err = client
        .get_session(session::QueryGetSessionRequest {
            application_address: app,
            service_id: SERVICE.into(),
            block_height: 100,
        })
        .await
        .expect_err("height ahead of the node");
    assert_eq!(err.code(), tonic::Code::Internal);
}

#[tokio::test]
async fn params_at_height_and_the_height_header() {
    let sim = start(genesis(), None).await;
    sim.advance_to(3);
    let ch = channel(&sim).await;
    let mut sh = shared::query_client::QueryClient::new(ch.clone());
    let p = sh
        .params_at_height(shared::QueryParamsAtHeightRequest { height: 2 })
        .await
        .expect("params")
        .into_inner()
        .params
        .expect("params");
    assert_eq!(p.num_blocks_per_session, 4);
    assert_eq!(p.claim_window_close_offset_blocks, 2);

    let mut req = tonic::Request::new(shared::QueryParamsRequest {});
    req.metadata_mut()
        .insert("x-cosmos-block-height", "2".parse().expect("ascii"));
    let res = sh.params(req).await.expect("params at 2");
    assert_eq!(
        res.metadata()
            .get("x-cosmos-block-height")
            .and_then(|v| v.to_str().ok()),
        Some("2")
    );
    let mut req = tonic::Request::new(shared::QueryParamsRequest {});
    req.metadata_mut()
        .insert("x-cosmos-block-height", "99".parse().expect("ascii"));
    assert_eq!(
        sh.params(req).await.expect_err("future").code(),
        tonic::Code::InvalidArgument
    );

    let pp = proof::query_client::QueryClient::new(ch.clone())
        .params(proof::QueryParamsRequest {})
        .await
        .expect("proof params")
        .into_inner()
        .params
        .expect("params");
    assert_eq!(pp.proof_requirement_threshold.expect("coin").amount, "1");
    let sp = session::query_client::QueryClient::new(ch.clone())
        .params(session::QueryParamsRequest {})
        .await
        .expect("session params")
        .into_inner()
        .params
        .expect("params");
    assert_eq!(sp.num_suppliers_per_session, 15);
    let tp = tokenomics::query_client::QueryClient::new(ch)
        .params(tokenomics::QueryParamsRequest {})
        .await
        .expect("tokenomics params")
        .into_inner();
    assert!(tp.params.is_some());
}

#[tokio::test]
async fn actors_services_difficulty_and_compute_units() {
    let sim = start(genesis(), None).await;
    let ch = channel(&sim).await;
    let app = application::query_client::QueryClient::new(ch.clone())
        .application(application::QueryGetApplicationRequest {
            address: address(&APP_KEY),
        })
        .await
        .expect("application")
        .into_inner()
        .application
        .expect("app");
    assert_eq!(app.service_configs[0].service_id, SERVICE);
    assert!(app.delegatee_gateway_addresses.is_empty());

    let mut sup = supplier::query_client::QueryClient::new(ch.clone());
    let s = sup
        .supplier(supplier::QueryGetSupplierRequest {
            operator_address: address(&SUPPLIER_KEY),
            dehydrated: false,
        })
        .await
        .expect("supplier")
        .into_inner()
        .supplier
        .expect("supplier");
    assert_eq!(s.services[0].endpoints[0].url, "http://127.0.0.1:1");
    assert_eq!(s.service_config_history.len(), 1);
    let missing = sup
        .supplier(supplier::QueryGetSupplierRequest {
            operator_address: address(&key(77)),
            dehydrated: true,
        })
        .await
        .expect_err("not staked");
    assert_eq!(missing.code(), tonic::Code::NotFound);

    let mut svc = service::query_client::QueryClient::new(ch);
    let d = svc
        .relay_mining_difficulty_at_height(service::QueryGetRelayMiningDifficultyAtHeightRequest {
            service_id: SERVICE.into(),
            block_height: 1,
        })
        .await
        .expect("difficulty")
        .into_inner()
        .relay_mining_difficulty
        .expect("difficulty");
    assert_eq!(d.target_hash, vec![0xff; 32]);
    assert_eq!(d.num_relays_ema, 100_000);
    let cupr = svc
        .compute_units_per_relay_at_height(service::QueryGetComputeUnitsPerRelayAtHeightRequest {
            service_id: SERVICE.into(),
            block_height: 1,
        })
        .await
        .expect("cupr")
        .into_inner()
        .compute_units_per_relay;
    assert_eq!(cupr, CUPR);
    let s = svc
        .service(service::QueryGetServiceRequest {
            id: SERVICE.into(),
            dehydrated: false,
        })
        .await
        .expect("service")
        .into_inner()
        .service
        .expect("service");
    assert_eq!(s.compute_units_per_relay, CUPR);
}

#[tokio::test]
async fn account_balance_and_claims() {
    let sim = start(genesis(), None).await;
    let ch = channel(&sim).await;
    let me = address(&SUPPLIER_KEY);
    let any = auth::query_client::QueryClient::new(ch.clone())
        .account(auth::QueryAccountRequest {
            address: me.clone(),
        })
        .await
        .expect("account")
        .into_inner()
        .account
        .expect("any");
    assert_eq!(any.type_url, "/cosmos.auth.v1beta1.BaseAccount");
    let acc = BaseAccount::decode(any.value.as_slice()).expect("base account");
    assert_eq!(acc.address, me);
    let pk = acc.pub_key.expect("known key is on chain");
    assert_eq!(pk.type_url, "/cosmos.crypto.secp256k1.PubKey");
    let key = protocol::pb::cosmos::crypto::secp256k1::PubKey::decode(pk.value.as_slice())
        .expect("pubkey");
    assert_eq!(key.key, priv_key(&SUPPLIER_KEY).public_key().to_vec());

    let bal = bank::query_client::QueryClient::new(ch.clone())
        .balance(bank::QueryBalanceRequest {
            address: me.clone(),
            denom: "upokt".into(),
        })
        .await
        .expect("balance")
        .into_inner()
        .balance
        .expect("coin");
    assert_eq!(
        bal.amount,
        chainsim::genesis::DEFAULT_BALANCE_UPOKT.to_string()
    );

    let header = sim.header(1);
    sim.advance_to(5);
    let (_, r) = sim.include(
        &SUPPLIER_KEY,
        vec![claim_msg(&SUPPLIER_KEY, &header, &fake_root(2, 2 * CUPR))],
    );
    assert_eq!(r.code, 0, "{}", r.log);
    let mut pq = proof::query_client::QueryClient::new(ch);
    let claims = pq
        .all_claims(proof::QueryAllClaimsRequest {
            pagination: None,
            filter: Some(
                proof::query_all_claims_request::Filter::SupplierOperatorAddress(me.clone()),
            ),
        })
        .await
        .expect("claims")
        .into_inner()
        .claims;
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].session_header.as_ref(), Some(&header));
    let one = pq
        .claim(proof::QueryGetClaimRequest {
            session_id: header.session_id.clone(),
            supplier_operator_address: me,
        })
        .await
        .expect("claim")
        .into_inner()
        .claim
        .expect("claim");
    assert_eq!(one.root_hash, fake_root(2, 2 * CUPR));
}
