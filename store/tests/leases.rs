//! Leases and fenced writes against a real redis-server.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::time::{Duration, Instant};

use store::lease::Lease;
use store::leaves::{LeafStore, LeafWrite};
use store::testing::RedisServer;
use store::{Error, Keys, connect_pool};
use tokio_util::sync::CancellationToken;

const SUPPLIER: &str = "pokt1rvvk8e7qrv4xqg9fzhvmq9gw7uy7yul9qv280d";

fn w(k: u8, v: u8) -> LeafWrite {
    LeafWrite {
        key: vec![k; 32],
        entry: vec![v],
        value: vec![v, v],
    }
}

fn lease(pool: &fred::prelude::Pool, keys: &Keys, owner: &str, ttl: Duration) -> Lease {
    let key = keys.supplier_lease(SUPPLIER);
    Lease::new(
        pool.clone(),
        key.clone(),
        keys.lease_fence(&key),
        owner,
        ttl,
    )
}

#[tokio::test]
async fn one_holder_failover_and_fencing() {
    let server = RedisServer::start().unwrap();
    let cfg = server.config();
    let pool = connect_pool(&cfg).await.unwrap();
    let keys = Keys::new(&cfg.namespace).unwrap();
    let ttl = Duration::from_millis(600);
    let a = lease(&pool, &keys, "miner-a", ttl);
    let b = lease(&pool, &keys, "miner-b", ttl);
    let leaves = LeafStore::new(
        pool.clone(),
        keys.clone(),
        SUPPLIER,
        Duration::from_secs(60),
    );

    // Exactly one of two contenders holds it.
    let (ra, rb) = tokio::join!(a.try_acquire(), b.try_acquire());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert!(ra.is_some() ^ rb.is_some(), "{ra:?} {rb:?}");
    let (holder, held, other) = match ra {
        Some(h) => (a.clone(), h, b.clone()),
        None => (b.clone(), rb.unwrap(), a.clone()),
    };
    assert_eq!(holder.holder().await.unwrap(), Some(held.value.clone()));
    assert_eq!(leaves.put(&held, "s1", &[], &[w(1, 10)]).await.unwrap(), 1);

    // The holder dies (stops renewing): the other takes over within TTL + a renew interval.
    let start = Instant::now();
    let taken = loop {
        if let Some(h) = other.try_acquire().await.unwrap() {
            break h;
        }
        assert!(
            start.elapsed() < ttl + ttl / 3 + Duration::from_millis(500),
            "no takeover"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        taken.token > held.token,
        "fencing tokens grow: {} then {}",
        held.token,
        taken.token
    );

    // The stale holder can neither renew nor write; the new one can.
    assert!(!holder.renew(&held).await.unwrap());
    let err = leaves.put(&held, "s1", &[], &[w(2, 20)]).await.unwrap_err();
    assert!(matches!(err, Error::LeaseLost { .. }), "{err}");
    assert_eq!(leaves.put(&taken, "s1", &[], &[w(2, 20)]).await.unwrap(), 1);
    assert_eq!(leaves.len("s1").await.unwrap(), 2);
    // Release by the stale holder is a no-op; by the holder it frees the lease.
    assert!(!holder.release(&held).await.unwrap());
    assert!(other.release(&taken).await.unwrap());
    assert!(holder.try_acquire().await.unwrap().is_some());
}

#[tokio::test]
async fn keeper_renews_past_ttl_and_releases_on_cancel() {
    let server = RedisServer::start().unwrap();
    let cfg = server.config();
    let pool = connect_pool(&cfg).await.unwrap();
    let keys = Keys::new(&cfg.namespace).unwrap();
    let ttl = Duration::from_millis(300);
    let a = lease(&pool, &keys, "miner-a", ttl);
    let b = lease(&pool, &keys, "miner-b", ttl);
    let held = a.try_acquire().await.unwrap().unwrap();
    let cancel = CancellationToken::new();
    let mut alive = a.clone().keep(held.clone(), cancel.clone());

    // Well past the TTL the lease is still ours.
    let until = Instant::now() + ttl * 4;
    while Instant::now() < until {
        assert!(
            b.try_acquire().await.unwrap().is_none(),
            "lease lost while kept"
        );
        assert!(*alive.borrow());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(2), alive.wait_for(|v| !*v))
        .await
        .unwrap()
        .unwrap();
    assert!(
        b.try_acquire().await.unwrap().is_some(),
        "released on cancel"
    );
}

#[tokio::test]
async fn keeper_reports_loss() {
    let server = RedisServer::start().unwrap();
    let cfg = server.config();
    let pool = connect_pool(&cfg).await.unwrap();
    let keys = Keys::new(&cfg.namespace).unwrap();
    let a = lease(&pool, &keys, "miner-a", Duration::from_millis(300));
    let held = a.try_acquire().await.unwrap().unwrap();
    let mut alive = a.clone().keep(held, CancellationToken::new());
    // Someone deletes the key (operator, eviction): the keeper must notice.
    let _: i64 = fred::prelude::KeysInterface::del(&pool, keys.supplier_lease(SUPPLIER))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(2), alive.wait_for(|v| !*v))
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn leaves_are_idempotent_readable_and_deletable() {
    let server = RedisServer::start().unwrap();
    let cfg = server.config();
    let pool = connect_pool(&cfg).await.unwrap();
    let keys = Keys::new(&cfg.namespace).unwrap();
    let held = lease(&pool, &keys, "m", Duration::from_secs(5))
        .try_acquire()
        .await
        .unwrap()
        .unwrap();
    let leaves = LeafStore::new(
        pool.clone(),
        keys.clone(),
        SUPPLIER,
        Duration::from_secs(60),
    );
    let batch: Vec<LeafWrite> = (0u8..50).map(|i| w(i, i)).collect();
    let meta = [("service", "anvil".to_owned())];
    assert_eq!(leaves.put(&held, "s", &meta, &batch).await.unwrap(), 50);
    assert_eq!(
        leaves.put(&held, "s", &meta, &batch[..10]).await.unwrap(),
        0,
        "duplicates are no-ops"
    );
    // A duplicate with a different entry and value keeps the first ones.
    let dup = LeafWrite {
        key: vec![0; 32],
        entry: vec![9],
        value: vec![9],
    };
    assert_eq!(leaves.put(&held, "s", &meta, &[dup]).await.unwrap(), 0);
    let mut all = leaves.entries("s").await.unwrap();
    all.sort();
    let expected: Vec<(Vec<u8>, Vec<u8>)> = batch
        .iter()
        .map(|l| (l.key.clone(), l.entry.clone()))
        .collect();
    assert_eq!(all, expected);
    let got = leaves
        .values("s", &[vec![3; 32], vec![0; 32], vec![200; 32]])
        .await
        .unwrap();
    assert_eq!(got, vec![Some(vec![3, 3]), Some(vec![0, 0]), None]);
    let ttl: i64 = fred::prelude::KeysInterface::pttl(&pool, keys.session_leaves(SUPPLIER, "s"))
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "leaves carry a TTL: {ttl}");
    // Sealing makes the leaf set final.
    assert!(!leaves.is_sealed("s").await.unwrap());
    leaves.seal(&held, "s").await.unwrap();
    assert!(leaves.is_sealed("s").await.unwrap());
    let err = leaves
        .put(&held, "s", &meta, &[w(99, 99)])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SessionSealed { .. }), "{err}");
    assert_eq!(leaves.len("s").await.unwrap(), 50);
    let service: Option<String> =
        fred::prelude::HashesInterface::hget(&pool, keys.session_state(SUPPLIER, "s"), "service")
            .await
            .unwrap();
    assert_eq!(service.as_deref(), Some("anvil"));
    let index: Vec<String> =
        fred::prelude::SetsInterface::smembers(&pool, keys.session_index(SUPPLIER))
            .await
            .unwrap();
    assert_eq!(index, ["s"]);
    leaves.delete("s").await.unwrap();
    assert_eq!(leaves.len("s").await.unwrap(), 0);
}
