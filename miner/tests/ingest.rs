//! Ingest against a real redis-server: roots equal an independent
//! computation from the published relays; duplicates change nothing; late
//! relays after the seal are not applied; a consumer killed before acking
//! loses nothing.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

use std::time::Duration;

use miner::ingest::Ingest;
use miner::tree::SessionTree;
use protocol::pb::relayminer::v1::MinedRelay;
use smst::{Leaf, LeafSet, LeafStore as _, SealedTrie};
use store::lease::{Held, Lease};
use store::leaves::LeafStore;
use store::streams::{ConsumerOptions, RelayConsumer, RelayPublisher};
use store::testing::RedisServer;
use store::{Keys, RedisConfig, connect_client, connect_pool, probe};

const SUPPLIER: &str = "pokt1rvvk8e7qrv4xqg9fzhvmq9gw7uy7yul9qv280d";

fn relay(session: &str, i: u32, cupr: u64) -> MinedRelay {
    let bytes = format!("relay {session} {i} {}", "x".repeat((i % 50) as usize)).into_bytes();
    MinedRelay {
        relay_hash: protocol::relay::sha256(&bytes).to_vec(),
        relay_bytes: bytes,
        compute_units_per_relay: cupr,
        session_id: session.into(),
        session_end_height: 30,
        session_start_height: 21,
        supplier_operator_address: SUPPLIER.into(),
        service_id: "anvil".into(),
        application_address: "pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4".into(),
        ..Default::default()
    }
}

fn expected_root(relays: &[MinedRelay]) -> smst::Digest {
    let mut set = LeafSet::new();
    let leaves: Vec<Leaf> = relays
        .iter()
        .map(|r| {
            Leaf::new(
                &r.relay_hash,
                r.relay_bytes.clone(),
                r.compute_units_per_relay,
            )
        })
        .collect();
    set.put_many(&leaves).unwrap();
    SealedTrie::from_store(&set).unwrap().root()
}

struct Rig {
    _server: RedisServer,
    cfg: RedisConfig,
    keys: Keys,
    pool: fred::prelude::Pool,
    held: Held,
    leaves: LeafStore,
}

async fn rig() -> Rig {
    let server = RedisServer::start().unwrap();
    let cfg = server.config();
    let pool = connect_pool(&cfg).await.unwrap();
    let keys = Keys::new(&cfg.namespace).unwrap();
    let key = keys.supplier_lease(SUPPLIER);
    let held = Lease::new(
        pool.clone(),
        key.clone(),
        keys.lease_fence(&key),
        "m1",
        Duration::from_secs(30),
    )
    .try_acquire()
    .await
    .unwrap()
    .unwrap();
    let leaves = LeafStore::new(
        pool.clone(),
        keys.clone(),
        SUPPLIER,
        Duration::from_secs(600),
    );
    Rig {
        _server: server,
        cfg,
        keys,
        pool,
        held,
        leaves,
    }
}

async fn ingest(rig: &Rig, name: &str) -> Ingest {
    let client = connect_client(&rig.cfg).await.unwrap();
    let info = probe(&client).await.unwrap();
    let opts = ConsumerOptions {
        consumer: name.into(),
        batch: 500,
        block: Duration::from_millis(50),
        claim_idle: Duration::from_millis(200),
    };
    let consumer = RelayConsumer::new(client, rig.keys.clone(), SUPPLIER, opts, info.has_xackdel)
        .await
        .unwrap();
    Ingest::new(consumer, rig.leaves.clone(), SUPPLIER)
}

#[tokio::test]
async fn roots_match_the_published_relays_and_duplicates_change_nothing() {
    let rig = rig().await;
    let publisher = RelayPublisher::new(rig.pool.clone(), rig.keys.clone(), 1_000_000);
    let sessions = ["s-a", "s-b", "s-c"];
    let mut published: Vec<MinedRelay> = Vec::new();
    for i in 0..2000u32 {
        let r = relay(sessions[(i % 3) as usize], i, 3);
        publisher.publish(&r).await.unwrap();
        published.push(r);
    }
    // Replays (a relayer retrying a publish): the same relays again.
    for r in published.iter().take(100) {
        publisher.publish(r).await.unwrap();
    }
    // Garbage in the stream.
    let stream = rig.keys.relay_stream(SUPPLIER);
    let _: String = fred::prelude::StreamsInterface::xadd(
        &rig.pool,
        &stream,
        false,
        None,
        "*",
        vec![("data", "junk")],
    )
    .await
    .unwrap();

    let ing = ingest(&rig, "m1").await;
    let mut total = miner::ingest::IngestStats::default();
    loop {
        let s = ing.poll(&rig.held).await.unwrap();
        if s.read == 0 {
            break;
        }
        total.applied += s.applied;
        total.duplicates += s.duplicates;
        total.poison += s.poison;
    }
    assert_eq!(
        (total.applied, total.duplicates, total.poison),
        (2000, 100, 1)
    );

    for session in sessions {
        let tree = SessionTree::load(&rig.leaves, session).await.unwrap();
        let mine: Vec<MinedRelay> = published
            .iter()
            .filter(|r| r.session_id == session)
            .cloned()
            .collect();
        let expected = expected_root(&mine);
        assert_eq!(tree.root(), expected, "{session}");
        assert_eq!(tree.root().count(), mine.len() as u64);
        assert_eq!(tree.root().sum(), 3 * mine.len() as u64);
        // A proof from the Redis leaves verifies against the root (checked
        // inside prove) and decodes to one of the session's relays.
        let path = smst::path_for_proof(&[7u8; 32], session);
        let proof = tree.prove(&rig.leaves, session, &path).await.unwrap();
        let decoded = smst::verify_proof_bytes(&proof, tree.root().as_bytes()).unwrap();
        let value = decoded.closest_value().unwrap();
        assert!(mine.iter().any(|r| r.relay_bytes == value));
    }
}

#[tokio::test]
async fn late_relays_after_the_seal_are_acked_not_applied() {
    let rig = rig().await;
    let publisher = RelayPublisher::new(rig.pool.clone(), rig.keys.clone(), 1_000_000);
    let ing = ingest(&rig, "m1").await;
    for i in 0..10 {
        publisher.publish(&relay("s", i, 1)).await.unwrap();
    }
    assert_eq!(ing.poll(&rig.held).await.unwrap().applied, 10);
    rig.leaves.seal(&rig.held, "s").await.unwrap();
    let root = SessionTree::load(&rig.leaves, "s").await.unwrap().root();
    for i in 10..15 {
        publisher.publish(&relay("s", i, 1)).await.unwrap();
    }
    let s = ing.poll(&rig.held).await.unwrap();
    assert_eq!((s.applied, s.late), (0, 5));
    assert_eq!(
        SessionTree::load(&rig.leaves, "s").await.unwrap().root(),
        root,
        "sealed root unchanged"
    );
}

#[tokio::test]
async fn a_consumer_killed_before_acking_loses_nothing() {
    let rig = rig().await;
    let publisher = RelayPublisher::new(rig.pool.clone(), rig.keys.clone(), 1_000_000);
    let mut published = Vec::new();
    for i in 0..300 {
        let r = relay("s", i, 2);
        publisher.publish(&r).await.unwrap();
        published.push(r);
    }
    // The first miner reads everything and dies before writing or acking.
    let dead = ingest(&rig, "dead").await;
    drop(dead);
    {
        let client = connect_client(&rig.cfg).await.unwrap();
        let opts = ConsumerOptions {
            consumer: "dead".into(),
            batch: 1000,
            block: Duration::from_millis(50),
            claim_idle: Duration::from_secs(60),
        };
        let c = RelayConsumer::new(client, rig.keys.clone(), SUPPLIER, opts, false)
            .await
            .unwrap();
        assert_eq!(c.read_new().await.unwrap().len(), 300);
    }
    // The new owner reclaims them once idle and applies every one.
    let ing = ingest(&rig, "m2").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut applied = 0;
    while applied < 300 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "reclaimed only {applied}"
        );
        let s = ing.reclaim(&rig.held).await.unwrap();
        if s.read == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        applied += s.applied;
    }
    let tree = SessionTree::load(&rig.leaves, "s").await.unwrap();
    assert_eq!(tree.root(), expected_root(&published));
}
