//! The publish queue against a real Redis: batches land in the right
//! streams, failed publishes are retried until they land, a full queue
//! refuses, and closing flushes what is queued.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use fred::prelude::*;
use relayer::metrics::Metrics;
use relayer::publish::PublishQueue;
use store::streams::RelayPublisher;
use store::testing::RedisServer;
use store::{Keys, MinedRelay};

fn relay(supplier: &str, i: u32) -> MinedRelay {
    MinedRelay {
        relay_hash: i.to_be_bytes().repeat(8),
        relay_bytes: vec![7; 100],
        compute_units_per_relay: 1,
        session_id: "s1".into(),
        session_end_height: 10,
        supplier_operator_address: supplier.into(),
        service_id: "svc".into(),
        application_address: "app".into(),
        ..Default::default()
    }
}

async fn setup(capacity: usize) -> (RedisServer, Pool, Keys, PublishQueue, Metrics) {
    let redis = RedisServer::start().unwrap();
    let cfg = redis.config();
    let pool = store::connect_pool(&cfg).await.unwrap();
    let keys = Keys::new(&cfg.namespace).unwrap();
    let metrics = Metrics::new(&prometheus::Registry::new()).unwrap();
    let queue = PublishQueue::start(
        RelayPublisher::new(pool.clone(), keys.clone(), 1_000_000),
        capacity,
        metrics.clone(),
    );
    (redis, pool, keys, queue, metrics)
}

async fn xlen(pool: &Pool, key: &str) -> u64 {
    pool.xlen(key).await.unwrap()
}

#[tokio::test]
async fn queued_relays_land_in_their_supplier_streams() {
    let (_redis, pool, keys, queue, metrics) = setup(10_000).await;
    for i in 0..1_000 {
        queue.submit(relay(if i % 3 == 0 { "supA" } else { "supB" }, i));
    }
    tokio::time::timeout(Duration::from_secs(10), queue.close_and_flush())
        .await
        .unwrap();
    assert_eq!(xlen(&pool, &keys.relay_stream("supA")).await, 334);
    assert_eq!(xlen(&pool, &keys.relay_stream("supB")).await, 666);
    assert_eq!(metrics.published.with_label_values(&["ok"]).get(), 1_000);
    assert_eq!(metrics.published.with_label_values(&["error"]).get(), 0);
    assert_eq!(metrics.publish_backlog.get(), 0);
    // Closed: a relay served now is counted as dropped, not silently lost.
    queue.submit(relay("supA", 5_000));
    assert_eq!(metrics.published.with_label_values(&["dropped"]).get(), 1);
}

#[tokio::test]
async fn failed_publishes_are_retried_until_they_land() {
    let (_redis, pool, keys, queue, metrics) = setup(10_000).await;
    let stream = keys.relay_stream("supA");
    // The stream's key holds a string: every XADD fails with WRONGTYPE.
    let _: () = pool
        .set(&stream, "blocked", None, None, false)
        .await
        .unwrap();
    for i in 0..50 {
        queue.submit(relay("supA", i));
        queue.submit(relay("supB", i));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while metrics.published.with_label_values(&["error"]).get() < 100 {
        assert!(tokio::time::Instant::now() < deadline, "no retries seen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // supB's relays landed at once; supA's wait for the key to be fixed.
    assert_eq!(xlen(&pool, &keys.relay_stream("supB")).await, 50);
    let _: () = pool.del(&stream).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), queue.close_and_flush())
        .await
        .unwrap();
    assert_eq!(xlen(&pool, &stream).await, 50);
    assert_eq!(metrics.published.with_label_values(&["ok"]).get(), 100);
    assert_eq!(metrics.published.with_label_values(&["dropped"]).get(), 0);
}

#[tokio::test]
async fn a_full_queue_refuses_and_counts_what_it_drops() {
    let (_redis, pool, keys, queue, metrics) = setup(2).await;
    let stream = keys.relay_stream("supA");
    let _: () = pool
        .set(&stream, "blocked", None, None, false)
        .await
        .unwrap();
    // The first relay is taken by the publishing task and retried; two more
    // fill the queue.
    queue.submit(relay("supA", 0));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while metrics.published.with_label_values(&["error"]).get() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no attempt seen");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!queue.is_full());
    queue.submit(relay("supA", 1));
    queue.submit(relay("supA", 2));
    assert!(queue.is_full());
    assert_eq!(queue.backlog(), 2);
    queue.submit(relay("supA", 3));
    assert_eq!(metrics.published.with_label_values(&["dropped"]).get(), 1);
    let _: () = pool.del(&stream).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), queue.close_and_flush())
        .await
        .unwrap();
    assert_eq!(xlen(&pool, &stream).await, 3);
}
