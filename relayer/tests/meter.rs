//! The relay meter against a real Redis: replicas reserve the budget in
//! chunks, never accept more than the budget together, and refunds go back
//! to the local reservation.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use fred::prelude::*;
use relayer::RelayError;
use relayer::meter::{CHUNK_RELAYS, Meter};
use store::Keys;
use store::testing::RedisServer;

const COST: u128 = 7;
const TTL: Duration = Duration::from_secs(60);

async fn meter(redis: &RedisServer, namespace: &str) -> (Meter, Pool, Keys) {
    let mut cfg = redis.config();
    cfg.namespace = namespace.into();
    let pool = store::connect_pool(&cfg).await.unwrap();
    let keys = Keys::new(namespace).unwrap();
    (Meter::new(pool.clone(), keys.clone(), false), pool, keys)
}

async fn counter(pool: &Pool, keys: &Keys) -> u128 {
    let v: Option<i64> = pool.get(keys.meter_consumed("sup", "s1")).await.unwrap();
    v.unwrap_or(0) as u128
}

#[tokio::test]
async fn relays_after_the_first_are_charged_locally() {
    let redis = RedisServer::start().unwrap();
    let (m, pool, keys) = meter(&redis, "m1").await;
    let max = COST * 10_000;
    for _ in 0..5 {
        m.consume("sup", "s1", COST, max, TTL).await.unwrap();
    }
    // One reservation of CHUNK_RELAYS relays; four of them charged locally.
    assert_eq!(counter(&pool, &keys).await, COST * CHUNK_RELAYS);
    assert_eq!(m.reserved("sup", "s1"), COST * (CHUNK_RELAYS - 5));
    m.refund("sup", "s1", COST).await;
    assert_eq!(m.reserved("sup", "s1"), COST * (CHUNK_RELAYS - 4));
    let ttl: i64 = pool.pttl(keys.meter_consumed("sup", "s1")).await.unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "{ttl}");
}

#[tokio::test]
async fn replicas_never_accept_more_than_the_budget_together() {
    let redis = RedisServer::start().unwrap();
    let budget_relays = 1_000u128;
    let max = COST * budget_relays;
    let (a, pool, keys) = meter(&redis, "m2").await;
    let (b, _, _) = meter(&redis, "m2").await;
    let (a, b) = (Arc::new(a), Arc::new(b));
    let mut tasks = Vec::new();
    for i in 0..64 {
        let m = Arc::clone(if i % 2 == 0 { &a } else { &b });
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u128;
            for _ in 0..40 {
                match m.consume("sup", "s1", COST, max, TTL).await {
                    Ok(()) => ok += 1,
                    Err(RelayError::OverServiced) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            ok
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await.unwrap();
    }
    // 2,560 attempts for a budget of 1,000 relays: all of it is used but for
    // what is still reserved in a replica (at most a chunk each).
    let reserved = a.reserved("sup", "s1") + b.reserved("sup", "s1");
    assert!(accepted <= budget_relays, "{accepted} accepted");
    assert_eq!(accepted * COST + reserved, counter(&pool, &keys).await);
    assert!(counter(&pool, &keys).await <= max);
    let chunk = (max / relayer::meter::CHUNK_FRACTION).min(COST * CHUNK_RELAYS);
    assert!(
        accepted * COST >= max - 2 * chunk,
        "{accepted} accepted, {reserved} reserved"
    );
}

#[tokio::test]
async fn a_small_budget_is_reserved_one_relay_at_a_time() {
    let redis = RedisServer::start().unwrap();
    let (a, pool, keys) = meter(&redis, "m3").await;
    let (b, _, _) = meter(&redis, "m3").await;
    let max = COST * 3;
    let mut verdicts = Vec::new();
    for m in [&a, &b, &a, &b, &a] {
        verdicts.push(m.consume("sup", "s1", COST, max, TTL).await.is_ok());
    }
    assert_eq!(verdicts, [true, true, true, false, false]);
    assert_eq!(counter(&pool, &keys).await, max);
    assert_eq!(a.reserved("sup", "s1") + b.reserved("sup", "s1"), 0);
}

#[tokio::test]
async fn a_reservation_expires_with_its_counter() {
    let redis = RedisServer::start().unwrap();
    let (m, pool, keys) = meter(&redis, "m4").await;
    let max = COST * 10_000;
    let short = Duration::from_millis(200);
    m.consume("sup", "s1", COST, max, short).await.unwrap();
    assert_eq!(m.reserved("sup", "s1"), COST * (CHUNK_RELAYS - 1));
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Redis dropped the counter; the old reservation is not reused or added to.
    assert_eq!(counter(&pool, &keys).await, 0);
    m.consume("sup", "s1", COST, max, short).await.unwrap();
    assert_eq!(counter(&pool, &keys).await, COST * CHUNK_RELAYS);
    assert_eq!(m.reserved("sup", "s1"), COST * (CHUNK_RELAYS - 1));
}
