//! All 79 requests of `relay_requests.json` through the simulated-relay path
//! with their rings pinned: the 52 accepted ones are served with a response
//! that verifies, the 27 rejected ones get a 4xx; nothing is metered or
//! published.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

mod support;

use prost::Message;
use protocol::RelayResponse;
use protocol::pb::sdk::types::PokthttpResponse;
use relayer::RelayerConfig;
use relayer::chain_view::Offline;
use relayer::config::SimulationIdentity;
use store::testing::RedisServer;
use support::*;

#[tokio::test]
async fn vector_requests_through_the_simulated_path() {
    let redis = RedisServer::start().unwrap();
    let backend = spawn_backend().await;
    let v = vectors("relay_requests.json");
    let cases = v["cases"].as_array().unwrap();

    let mut config = RelayerConfig {
        redis: redis.config(),
        ..Default::default()
    };
    config.simulation.enabled = true;
    let mut supplier_keys = Vec::new();
    let mut supplier_pubkeys = std::collections::BTreeMap::new();
    for case in cases {
        let service = case["session_header"]["service_id"].as_str().unwrap();
        if protocol::session::validate_service_id(service).is_ok() {
            config
                .services
                .insert(service.to_owned(), service_fn(backend));
        }
        for k in case["keys"].as_array().unwrap() {
            if k["role"] == "supplier_operator" && !k["address"].as_str().unwrap().is_empty() {
                let sk: [u8; 32] = hex::decode(k["priv_hex"].as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap();
                supplier_pubkeys.insert(
                    k["address"].as_str().unwrap().to_owned(),
                    hex::decode(k["pub_hex"].as_str().unwrap()).unwrap(),
                );
                supplier_keys.push(rings::PrivateKey::from_bytes(&sk).unwrap());
            }
        }
        let ring: Vec<String> = case["expected_ring_pubkeys_hex"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect();
        config.simulation.identities.push(SimulationIdentity {
            key_id: case["id"].as_str().unwrap().to_owned(),
            app_pubkey_hex: ring[0].clone(),
            gateway_pubkeys_hex: ring[1..].to_vec(),
            allowed_services: vec![],
            require_fresh_session_id: false,
            max_rps: 0,
        });
    }
    let (addr, _relayer, pool) = start_relayer(config, supplier_keys, Offline).await;

    let (mut served, mut refused) = (0, 0);
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let body = hex::decode(case["relay_request_hex"].as_str().unwrap()).unwrap();
        let (status, reply) = post(
            addr,
            &[("pocket-simulation-key-id", id), ("rpc-type", "3")],
            body,
        )
        .await;
        if case["expected_accept"] == true {
            assert_eq!(status, 200, "{id}: {}", String::from_utf8_lossy(&reply));
            let res = RelayResponse::decode_bytes(&reply).unwrap();
            res.validate_basic().unwrap();
            let supplier = case["supplier_operator_address"].as_str().unwrap();
            let pubkey: [u8; 33] = supplier_pubkeys[supplier].clone().try_into().unwrap();
            rings::verify_response(
                &pubkey,
                &res.signable_hash(),
                &res.meta.supplier_operator_signature,
            )
            .unwrap_or_else(|e| panic!("{id}: response signature: {e}"));
            let payload = PokthttpResponse::decode(res.payload.as_slice()).unwrap();
            assert_eq!(payload.status_code, 200);
            assert_eq!(payload.body_bz, BACKEND_BODY.as_bytes());
            assert_eq!(
                res.payload_hash.as_deref(),
                Some(&protocol::relay::sha256(&res.payload)[..])
            );
            served += 1;
        } else {
            let expected = match case["reject_stage"].as_str().unwrap() {
                "unmarshal" | "validate_basic" | "session_header" => 400,
                _ => 403,
            };
            assert_eq!(
                status,
                expected,
                "{id} ({}): {}",
                case["reject_stage"],
                String::from_utf8_lossy(&reply)
            );
            refused += 1;
        }
    }
    assert_eq!((served, refused), (52, 27));
    // Simulated relays are never metered or published.
    let ns = &_relayer_namespace(&pool).await;
    assert!(
        redis_keys(&pool, &format!("{ns}:relays:*"))
            .await
            .is_empty()
    );
    assert!(redis_keys(&pool, &format!("{ns}:meter:*")).await.is_empty());
    // A replayed simulated relay is refused.
    let first = cases.iter().find(|c| c["expected_accept"] == true).unwrap();
    let body = hex::decode(first["relay_request_hex"].as_str().unwrap()).unwrap();
    let (status, _) = post(
        addr,
        &[("pocket-simulation-key-id", first["id"].as_str().unwrap())],
        body,
    )
    .await;
    assert_eq!(status, 403);
}

fn service_fn(backend: std::net::SocketAddr) -> relayer::config::ServiceConfig {
    service(backend, "/")
}

async fn _relayer_namespace(pool: &fred::prelude::Pool) -> String {
    // The namespace is the prefix of the replay-guard keys the run created.
    let keys = redis_keys(pool, "*:sim:replay:*").await;
    assert!(
        !keys.is_empty(),
        "served simulated relays leave replay guards"
    );
    keys[0].split(':').next().unwrap().to_owned()
}
