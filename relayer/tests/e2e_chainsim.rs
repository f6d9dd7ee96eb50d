//! The real relay path against chainsim: a gateway delegated by an
//! application signs relays; the relayer validates them against the chain
//! (through the cache), serves, signs, mines and publishes exactly one
//! MinedRelay per relay. Invalid relays are refused and never published.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

mod support;

use std::time::Duration;

use fred::prelude::*;
use prost::Message;
use protocol::pb::pocket::service::RelayRequestMetadata;
use protocol::pb::relayminer::v1::MinedRelay;
use protocol::pb::sdk::types::PokthttpRequest;
use protocol::{RelayRequest, RelayResponse, SessionHeader};
use relayer::RelayerConfig;
use store::testing::RedisServer;
use support::chain::*;
use support::*;
use tokio_util::sync::CancellationToken;

fn relay(
    header: &SessionHeader,
    supplier: &[u8; 32],
    signer: &[u8; 32],
    ring: &[[u8; 32]],
    n: u32,
) -> Vec<u8> {
    let http = PokthttpRequest {
        method: "POST".into(),
        url: "http://supplier.example/".into(),
        body_bz: format!(r#"{{"jsonrpc":"2.0","method":"eth_blockNumber","id":{n}}}"#).into_bytes(),
        ..Default::default()
    };
    let mut req = RelayRequest {
        meta: RelayRequestMetadata {
            session_header: Some(header.clone()),
            signature: vec![],
            supplier_operator_address: addr(supplier),
        },
        payload: http.encode_to_vec(),
    };
    let ring: Vec<[u8; 33]> = ring.iter().map(|k| pk(k).public_key()).collect();
    req.meta.signature = rings::RingSignature::sign(&req.signable_hash(), &ring, &pk(signer))
        .unwrap()
        .to_bytes();
    req.encode_to_vec()
}

async fn stream_entries(pool: &Pool, keys: &store::Keys, supplier: &str) -> Vec<MinedRelay> {
    let v: Vec<(String, std::collections::HashMap<String, Vec<u8>>)> = pool
        .xrange(keys.relay_stream(supplier), "-", "+", None)
        .await
        .unwrap();
    v.into_iter()
        .map(|(_, f)| MinedRelay::decode(f["data"].as_slice()).unwrap())
        .collect()
}

struct Setup {
    _redis: RedisServer,
    cancel: CancellationToken,
    sim: chainsim::ChainSimHandle,
    pool: Pool,
    keys: store::Keys,
    relayers: Vec<std::net::SocketAddr>,
}

impl Setup {
    /// The current session header of the application on `anvil`.
    fn anvil_header(&self) -> SessionHeader {
        self.sim
            .session(&addr(&APP_KEY), "anvil", self.sim.height())
            .unwrap()
            .header
            .unwrap()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn setup(app_stake: u64, replicas: usize) -> Setup {
    setup_with(app_stake, replicas, |_| {}).await
}

async fn setup_with(app_stake: u64, replicas: usize, tweak: impl Fn(&mut RelayerConfig)) -> Setup {
    let redis = RedisServer::start().unwrap();
    let cancel = CancellationToken::new();
    let sim = start_sim(genesis(app_stake), &cancel).await;
    sim.produce_block().unwrap(); // height 2: inside session 1..=10
    let backend = spawn_backend().await;
    let cfg_redis = redis.config();
    let mut relayers = Vec::new();
    let mut pool_keys = None;
    for _ in 0..replicas {
        let mut config = RelayerConfig {
            redis: cfg_redis.clone(),
            ..Default::default()
        };
        config
            .services
            .insert("anvil".into(), service(backend, "/"));
        config
            .services
            .insert("other".into(), service(backend, "/"));
        tweak(&mut config);
        let pool = store::connect_pool(&cfg_redis).await.unwrap();
        let keys = store::Keys::new(&cfg_redis.namespace).unwrap();
        let view = chain_view(&sim, Some((pool.clone(), keys.clone())), &cancel).await;
        let (addr, _, pool) = start_relayer(
            config,
            vec![pk(&SUPPLIER_KEY), pk(&OTHER_SUPPLIER_KEY)],
            view,
        )
        .await;
        relayers.push(addr);
        pool_keys = Some((pool, keys));
    }
    let (pool, keys) = pool_keys.unwrap();
    Setup {
        _redis: redis,
        cancel,
        sim,
        pool,
        keys,
        relayers,
    }
}

#[tokio::test]
async fn served_signed_mined_and_published_once_invalid_ones_refused() {
    let s = setup(1_000_000_000, 1).await;
    let addr0 = s.relayers[0];
    let header = s.anvil_header();
    let supplier = addr(&SUPPLIER_KEY);

    // A valid relay: 200, response signed by the supplier, one MinedRelay.
    let body = relay(
        &header,
        &SUPPLIER_KEY,
        &GATEWAY_KEY,
        &[APP_KEY, GATEWAY_KEY],
        1,
    );
    let (status, reply) = post(addr0, &[("rpc-type", "3")], body.clone()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    let res = RelayResponse::decode_bytes(&reply).unwrap();
    rings::verify_response(
        &pk(&SUPPLIER_KEY).public_key(),
        &res.signable_hash(),
        &res.meta.supplier_operator_signature,
    )
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let published = loop {
        let e = stream_entries(&s.pool, &s.keys, &supplier).await;
        if !e.is_empty() || tokio::time::Instant::now() > deadline {
            break e;
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(published.len(), 1);
    let mined = &published[0];
    let req = RelayRequest::decode_bytes(&body).unwrap();
    let bytes = protocol::relay::mined_relay_bytes(&req, &res);
    assert_eq!(mined.relay_bytes, bytes);
    assert_eq!(
        mined.relay_hash,
        protocol::relay::relay_hash(&bytes).to_vec()
    );
    assert_eq!(mined.session_id, header.session_id);
    assert_eq!(mined.compute_units_per_relay, 1);

    // Refusals, none of them published.
    let mut wrong_id = header.clone();
    wrong_id.session_id = "f".repeat(64);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "wrong session id",
            relay(
                &wrong_id,
                &SUPPLIER_KEY,
                &GATEWAY_KEY,
                &[APP_KEY, GATEWAY_KEY],
                2,
            ),
            403,
        ),
        (
            "non-delegated signer",
            relay(
                &header,
                &SUPPLIER_KEY,
                &ROGUE_GATEWAY_KEY,
                &[APP_KEY, ROGUE_GATEWAY_KEY],
                3,
            ),
            403,
        ),
        (
            "supplier not staked for the service",
            relay(
                &header,
                &OTHER_SUPPLIER_KEY,
                &GATEWAY_KEY,
                &[APP_KEY, GATEWAY_KEY],
                4,
            ),
            503,
        ),
    ];
    for (what, body, expected) in cases {
        let (status, reply) = post(addr0, &[], body).await;
        assert_eq!(
            status,
            expected,
            "{what}: {}",
            String::from_utf8_lossy(&reply)
        );
    }

    // Past the grace period (E + 1 = 11) the session's relays are refused.
    let view_height = 12;
    while s.sim.height() < view_height {
        s.sim.produce_block().unwrap();
    }
    // Let the relayer's block feed catch up (its /ready reports the height).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, v) = get_json(addr0, "/ready").await;
        if v["block_height"].as_i64() >= Some(view_height) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "relayer stuck at {v}"
        );
        tokio::task::yield_now().await;
    }
    let (status, reply) = post(
        addr0,
        &[],
        relay(
            &header,
            &SUPPLIER_KEY,
            &GATEWAY_KEY,
            &[APP_KEY, GATEWAY_KEY],
            5,
        ),
    )
    .await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&reply));
    assert!(String::from_utf8_lossy(&reply).contains("session expired"));

    assert_eq!(
        stream_entries(&s.pool, &s.keys, &supplier).await.len(),
        1,
        "nothing else published"
    );
    assert!(
        stream_entries(&s.pool, &s.keys, &addr(&OTHER_SUPPLIER_KEY))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn the_meter_stops_an_application_at_its_budget_across_replicas() {
    // Budget per (session, supplier) = stake / 15 suppliers / (1 pending + 1) = 126
    // uPOKT; each relay costs 1 CU × 42 uPOKT: exactly 3 relays.
    let s = setup(126 * 30, 2).await;
    let header = s.anvil_header();
    let mut statuses = Vec::new();
    for n in 0..6u32 {
        let target = s.relayers[(n % 2) as usize];
        let body = relay(
            &header,
            &SUPPLIER_KEY,
            &GATEWAY_KEY,
            &[APP_KEY, GATEWAY_KEY],
            100 + n,
        );
        let (status, reply) = post(target, &[], body).await;
        if status == 429 {
            assert!(String::from_utf8_lossy(&reply).contains("session relay limit reached"));
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429]);
}

#[tokio::test]
async fn a_relayer_that_cannot_publish_turns_unready_and_refuses_before_serving() {
    let s = setup_with(1_000_000_000, 1, |c| c.publish.queue_capacity = 2).await;
    let addr0 = s.relayers[0];
    let header = s.anvil_header();
    let supplier = addr(&SUPPLIER_KEY);
    let stream = s.keys.relay_stream(&supplier);
    // The stream's key holds a string: every XADD fails until it is fixed.
    let _: () = s
        .pool
        .set(&stream, "blocked", None, None, false)
        .await
        .unwrap();
    let send = |nonce| {
        post(
            addr0,
            &[("rpc-type", "3")],
            relay(
                &header,
                &SUPPLIER_KEY,
                &GATEWAY_KEY,
                &[APP_KEY, GATEWAY_KEY],
                nonce,
            ),
        )
    };
    assert_eq!(send(1).await.0, 200);
    // Relay 1 is with the publishing task (retrying); 2 and 3 fill the queue.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while get_json(addr0, "/ready").await.1["publish_backlog"] != 0 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(send(2).await.0, 200);
    assert_eq!(send(3).await.0, 200);
    let (status, ready) = get_json(addr0, "/ready").await;
    assert_eq!(
        (status, &ready["publish_backlog"]),
        (503, &serde_json::json!(2))
    );
    // Refused before the backend: nothing served that could not be paid.
    let (status, body) = send(4).await;
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
    // Redis recovers: the three served relays land, the relayer is ready.
    let _: () = s.pool.del(&stream).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let landed = stream_entries(&s.pool, &s.keys, &supplier).await.len();
        let (status, _) = get_json(addr0, "/ready").await;
        if landed == 3 && status == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{landed} landed, /ready {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(send(5).await.0, 200);
}
