//! Backend handling through the simulated path (no chain needed): 5xx passed
//! through unsigned, gzip decoded before signing, node down → fast 502, body
//! limit → 413, garbage never panics.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message;
use protocol::pb::pocket::service::RelayRequestMetadata;
use protocol::pb::sdk::types::{PokthttpRequest, PokthttpResponse};
use protocol::{RelayRequest, RelayResponse, SessionHeader};
use relayer::RelayerConfig;
use relayer::chain_view::Offline;
use relayer::config::SimulationIdentity;
use rings::{PrivateKey, RingSignature};
use store::testing::RedisServer;
use support::*;

struct Keys {
    app: PrivateKey,
    gateway: PrivateKey,
    supplier: PrivateKey,
}

fn keys() -> Keys {
    let k = |b: u8| PrivateKey::from_bytes(&[b; 32]).unwrap();
    Keys {
        app: k(1),
        gateway: k(2),
        supplier: k(3),
    }
}

fn signed_request(k: &Keys, service: &str, path: &str, nonce: u64) -> Vec<u8> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let app_addr = protocol::address::address_from_pubkey(&k.app.public_key()).unwrap();
    let supplier_addr = protocol::address::address_from_pubkey(&k.supplier.public_key()).unwrap();
    let http = PokthttpRequest {
        method: "POST".into(),
        url: format!("https://supplier.example{path}"),
        body_bz: br#"{"jsonrpc":"2.0","method":"eth_blockNumber","id":1}"#.to_vec(),
        ..Default::default()
    };
    let mut req = RelayRequest {
        meta: RelayRequestMetadata {
            session_header: Some(SessionHeader {
                application_address: app_addr,
                service_id: service.into(),
                session_id: format!("simv1:{now}:{nonce:016x}"),
                session_start_block_height: 1,
                session_end_block_height: 10,
            }),
            signature: vec![],
            supplier_operator_address: supplier_addr,
        },
        payload: http.encode_to_vec(),
    };
    let ring = [k.app.public_key(), k.gateway.public_key()];
    let sig = RingSignature::sign(&req.signable_hash(), &ring, &k.gateway).unwrap();
    req.meta.signature = sig.to_bytes();
    req.encode_to_vec()
}

async fn setup(backend_url: &str) -> (std::net::SocketAddr, Keys, RedisServer) {
    let redis = RedisServer::start().unwrap();
    let k = keys();
    let mut config = RelayerConfig {
        redis: redis.config(),
        max_body_bytes: 4096,
        ..Default::default()
    };
    let mut svc = relayer::config::ServiceConfig::default();
    svc.backends.insert(
        relayer::config::RpcKind::Jsonrpc,
        relayer::config::BackendConfig {
            urls: vec![backend_url.to_owned()],
            connect_timeout: Duration::from_millis(500),
            ..Default::default()
        },
    );
    config.services.insert("svc".into(), svc);
    config.simulation.enabled = true;
    config.simulation.identities.push(SimulationIdentity {
        key_id: "probe".into(),
        app_pubkey_hex: hex::encode(k.app.public_key()),
        gateway_pubkeys_hex: vec![hex::encode(k.gateway.public_key())],
        allowed_services: vec![],
        require_fresh_session_id: true,
        max_rps: 0,
    });
    // Same ring, capped at 2 probes per second.
    config.simulation.identities.push(SimulationIdentity {
        key_id: "limited".into(),
        app_pubkey_hex: hex::encode(k.app.public_key()),
        gateway_pubkeys_hex: vec![hex::encode(k.gateway.public_key())],
        allowed_services: vec![],
        require_fresh_session_id: true,
        max_rps: 2,
    });
    // Same ring members, but the pinned application is the gateway's key.
    config.simulation.identities.push(SimulationIdentity {
        key_id: "swapped".into(),
        app_pubkey_hex: hex::encode(k.gateway.public_key()),
        gateway_pubkeys_hex: vec![hex::encode(k.app.public_key())],
        allowed_services: vec![],
        require_fresh_session_id: true,
        max_rps: 0,
    });
    let (addr, _, _) = start_relayer(config, vec![k.supplier.clone()], Offline).await;
    (addr, k, redis)
}

const PROBE: [(&str, &str); 1] = [("pocket-simulation-key-id", "probe")];

#[tokio::test]
async fn backend_status_and_encoding() {
    let backend = spawn_backend().await;
    let (addr, k, _redis) = setup(&format!("http://{backend}")).await;

    // 200: signed, payload carries the node's status and body.
    let (status, body) = post(addr, &PROBE, signed_request(&k, "svc", "/", 1)).await;
    assert_eq!(status, 200);
    let res = RelayResponse::decode_bytes(&body).unwrap();
    rings::verify_response(
        &k.supplier.public_key(),
        &res.signable_hash(),
        &res.meta.supplier_operator_signature,
    )
    .unwrap();
    let payload = PokthttpResponse::decode(res.payload.as_slice()).unwrap();
    assert_eq!(payload.body_bz, BACKEND_BODY.as_bytes());
    assert_eq!(
        payload.header["Content-Type"].values,
        ["application/json"],
        "Go-canonical header names"
    );

    // 5xx: passed through with the node's status and body, not signed.
    let (status, body) = post(addr, &PROBE, signed_request(&k, "svc", "/fail", 2)).await;
    assert_eq!(status, 500);
    assert_eq!(&body[..], b"node exploded");

    // gzip from the node is decoded before signing.
    let (status, body) = post(addr, &PROBE, signed_request(&k, "svc", "/gzip", 3)).await;
    assert_eq!(status, 200);
    let res = RelayResponse::decode_bytes(&body).unwrap();
    let payload = PokthttpResponse::decode(res.payload.as_slice()).unwrap();
    assert_eq!(payload.body_bz, BACKEND_BODY.as_bytes());
    assert!(!payload.header.contains_key("Content-Encoding"));

    // The request path travels inside the POKTHTTPRequest url.
    let (status, body) = post(addr, &PROBE, signed_request(&k, "svc", "/echo/x?a=1", 4)).await;
    assert_eq!(status, 200);
    let res = RelayResponse::decode_bytes(&body).unwrap();
    let payload = PokthttpResponse::decode(res.payload.as_slice()).unwrap();
    assert!(
        String::from_utf8_lossy(&payload.body_bz).starts_with("/echo/x?a=1 {"),
        "{payload:?}"
    );

    // Oversized body → 413; stale or unsigned probes → 403; garbage → 400.
    let (status, _) = post(addr, &PROBE, vec![0u8; 5000]).await;
    assert_eq!(status, 413);
    let (status, _) = post(addr, &PROBE, b"\xff\xffnot protobuf".to_vec()).await;
    assert_eq!(status, 400);
    let (status, _) = post(
        addr,
        &[("pocket-simulation-key-id", "nobody")],
        signed_request(&k, "svc", "/", 5),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = post(addr, &PROBE, signed_request(&k, "unknown", "/", 6)).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn node_down_fails_fast_with_502() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (addr, k, _redis) = setup(&format!("http://127.0.0.1:{port}")).await;
    let started = Instant::now();
    let (status, body) = post(addr, &PROBE, signed_request(&k, "svc", "/", 7)).await;
    assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn arbitrary_bodies_never_panic_and_never_publish() {
    use fred::prelude::*;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    let backend = spawn_backend().await;
    let (addr, _, redis) = setup(&format!("http://{backend}")).await;
    let mut runner =
        proptest::test_runner::TestRunner::new(proptest::test_runner::Config::with_cases(200));
    let strategy = proptest::collection::vec(any::<u8>(), 0..600);
    for _ in 0..200 {
        let body = strategy.new_tree(&mut runner).unwrap().current();
        let (status, _) = post(addr, &PROBE, body.clone()).await;
        assert!((400..500).contains(&status), "status {status} for {body:?}");
        let (status, _) = post(addr, &[], body).await;
        assert!(
            (400..600).contains(&status) && status != 500,
            "status {status}"
        );
    }
    // Nothing reached a relay stream (this server is the test's own).
    let pool = store::connect_pool(&redis.config()).await.unwrap();
    let keys: Vec<String> = pool.custom(fred::cmd!("KEYS"), vec!["*"]).await.unwrap();
    assert!(
        keys.iter().all(|k| !k.contains(":relays:")),
        "published: {keys:?}"
    );
}

#[tokio::test]
async fn simulated_relays_are_rate_limited_per_identity_and_tied_to_the_pinned_application() {
    let backend = spawn_backend().await;
    let (addr, k, _redis) = setup(&format!("http://{backend}")).await;
    let limited = [("pocket-simulation-key-id", "limited")];
    let mut statuses = Vec::new();
    for i in 0..4 {
        statuses.push(
            post(addr, &limited, signed_request(&k, "svc", "/", 100 + i))
                .await
                .0,
        );
    }
    // A one-second window opened by the first probe: two pass, two wait.
    assert_eq!(statuses, [200, 200, 429, 429]);
    // The ring verifies (same members), but the session is not the pinned
    // application's.
    let swapped = [("pocket-simulation-key-id", "swapped")];
    let (status, body) = post(addr, &swapped, signed_request(&k, "svc", "/", 200)).await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert!(
        String::from_utf8_lossy(&body).contains("is not the identity's"),
        "{}",
        String::from_utf8_lossy(&body)
    );
}
