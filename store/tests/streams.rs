//! Relay streams against a real redis-server: publish, consume, reclaim after
//! a consumer dies, ack+delete, poison messages.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use store::streams::{ConsumerOptions, RelayConsumer, RelayPublisher};
use store::testing::RedisServer;
use store::{Keys, MinedRelay, connect_client, connect_pool, probe};

const SUPPLIER: &str = "pokt1rvvk8e7qrv4xqg9fzhvmq9gw7uy7yul9qv280d";

fn relay(i: u32) -> MinedRelay {
    MinedRelay {
        relay_hash: protocol::relay::sha256(&i.to_be_bytes()).to_vec(),
        relay_bytes: i.to_be_bytes().to_vec(),
        compute_units_per_relay: 7,
        session_id: "s1".into(),
        session_end_height: 30,
        supplier_operator_address: SUPPLIER.into(),
        service_id: "anvil".into(),
        application_address: "pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4".into(),
        arrival_block_height: 25,
        published_at_unix_nano: 1,
        session_start_height: 21,
    }
}

fn opts(name: &str) -> ConsumerOptions {
    ConsumerOptions {
        consumer: name.into(),
        batch: 50,
        block: Duration::from_millis(100),
        claim_idle: Duration::from_millis(200),
    }
}

async fn consumer(server: &RedisServer, cfg: &store::RedisConfig, name: &str) -> RelayConsumer {
    let _ = server;
    let client = connect_client(cfg).await.unwrap();
    let info = probe(&client).await.unwrap();
    RelayConsumer::new(
        client,
        Keys::new(&cfg.namespace).unwrap(),
        SUPPLIER,
        opts(name),
        info.has_xackdel,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn entries_of_a_dead_consumer_are_reclaimed_once_none_lost() {
    let server = RedisServer::start().unwrap();
    let cfg = server.config();
    let pool = connect_pool(&cfg).await.unwrap();
    let keys = Keys::new(&cfg.namespace).unwrap();
    let publisher = RelayPublisher::new(pool.clone(), keys.clone(), 100_000);

    let a = consumer(&server, &cfg, "miner-a").await;
    let b = consumer(&server, &cfg, "miner-b").await;
    for i in 0..100 {
        publisher.publish(&relay(i)).await.unwrap();
    }

    // Consumer A reads all 100 and dies before acknowledging any.
    let mut read_by_a = Vec::new();
    while read_by_a.len() < 100 {
        let got = a.read_new().await.unwrap();
        assert!(!got.is_empty(), "stream ran dry after {}", read_by_a.len());
        read_by_a.extend(got);
    }
    drop(a);
    assert_eq!(b.pending().await.unwrap(), 100);
    // B sees nothing new: the entries are pending with A.
    assert!(b.read_new().await.unwrap().is_empty());

    // B reclaims them once they have been idle long enough.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut reclaimed = Vec::new();
    while reclaimed.len() < 100 {
        assert!(
            Instant::now() < deadline,
            "only {} reclaimed",
            reclaimed.len()
        );
        let got = b.reclaim().await.unwrap();
        if got.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await; // idle time must pass
        }
        reclaimed.extend(got);
    }
    let ids: BTreeSet<String> = reclaimed.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids.len(), 100, "each entry reclaimed exactly once");
    assert_eq!(ids, read_by_a.iter().map(|e| e.id.clone()).collect());
    let mut hashes: Vec<Vec<u8>> = reclaimed
        .iter()
        .map(|e| e.relay.as_ref().unwrap().relay_hash.clone())
        .collect();
    hashes.sort();
    let mut expected: Vec<Vec<u8>> = (0..100).map(|i| relay(i).relay_hash).collect();
    expected.sort();
    assert_eq!(hashes, expected);

    // Acknowledge: nothing pending, entries deleted, nothing redelivered.
    b.ack(&ids.into_iter().collect::<Vec<_>>()).await.unwrap();
    assert_eq!(b.pending().await.unwrap(), 0);
    let len: u64 = fred::prelude::StreamsInterface::xlen(&pool, keys.relay_stream(SUPPLIER))
        .await
        .unwrap();
    assert_eq!(len, 0);
    assert!(b.reclaim().await.unwrap().is_empty());
    assert!(b.read_new().await.unwrap().is_empty());
}

#[tokio::test]
async fn poison_entries_surface_as_errors_and_can_be_acked() {
    let server = RedisServer::start().unwrap();
    let cfg = server.config();
    let pool = connect_pool(&cfg).await.unwrap();
    let keys = Keys::new(&cfg.namespace).unwrap();
    let c = consumer(&server, &cfg, "miner-a").await;
    let stream = keys.relay_stream(SUPPLIER);
    // Garbage data, a missing data field, an unknown version, then a good one.
    for fields in [
        vec![("v", "1"), ("data", "\u{7}garbage")],
        vec![("v", "1"), ("other", "x")],
        vec![("v", "9"), ("data", "")],
    ] {
        let _: String =
            fred::prelude::StreamsInterface::xadd(&pool, &stream, false, None, "*", fields)
                .await
                .unwrap();
    }
    RelayPublisher::new(pool.clone(), keys.clone(), 1000)
        .publish(&relay(1))
        .await
        .unwrap();
    let entries = c.read_new().await.unwrap();
    assert_eq!(entries.len(), 4);
    assert!(entries[..3].iter().all(|e| e.relay.is_err()), "{entries:?}");
    assert_eq!(entries[3].relay.as_ref().unwrap(), &relay(1));
    c.ack(&entries.iter().map(|e| e.id.clone()).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(c.pending().await.unwrap(), 0);
}

#[tokio::test]
async fn publisher_bounds_the_stream() {
    let server = RedisServer::start().unwrap();
    let cfg = server.config();
    let pool = connect_pool(&cfg).await.unwrap();
    let keys = Keys::new(&cfg.namespace).unwrap();
    let p = RelayPublisher::new(pool.clone(), keys.clone(), 100);
    for i in 0..1000 {
        p.publish(&relay(i)).await.unwrap();
    }
    let len: u64 = fred::prelude::StreamsInterface::xlen(&pool, keys.relay_stream(SUPPLIER))
        .await
        .unwrap();
    assert!(
        (100..1000).contains(&len),
        "approximate MAXLEN not applied: {len}"
    );
}

#[tokio::test]
async fn newest_peeks_the_latest_entries_without_consuming() {
    let server = RedisServer::start().unwrap();
    let cfg = server.config();
    let pool = connect_pool(&cfg).await.unwrap();
    let keys = Keys::new(&cfg.namespace).unwrap();
    let stream = keys.relay_stream(SUPPLIER);
    assert!(
        store::streams::newest(&pool, &stream, 5)
            .await
            .unwrap()
            .is_empty()
    );
    let p = RelayPublisher::new(pool.clone(), keys.clone(), 1000);
    for i in 0..10 {
        p.publish(&relay(i)).await.unwrap();
    }
    let got = store::streams::newest(&pool, &stream, 3).await.unwrap();
    let relays: Vec<MinedRelay> = got.into_iter().map(|e| e.relay.unwrap()).collect();
    assert_eq!(relays, vec![relay(9), relay(8), relay(7)]);
    // A consumer still gets every entry.
    let c = consumer(&server, &cfg, "miner-a").await;
    assert_eq!(c.read_new().await.unwrap().len(), 10);
}

#[tokio::test]
async fn probe_reports_version_and_xackdel() {
    let server = RedisServer::start().unwrap();
    let client = connect_client(&server.config()).await.unwrap();
    let info = probe(&client).await.unwrap();
    let mut parts = info
        .version
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    assert!(major >= 7, "tests need Redis 7+, got {}", info.version);
    assert_eq!(info.has_xackdel, (major, minor) >= (8, 2), "{info:?}");
}
