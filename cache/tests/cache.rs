//! The cache against chainsim and a real Redis: concurrent misses make one
//! chain query, in one process and across processes; an invalidation reaches
//! another process's L1 within 100 ms; rings follow delegations; not-found
//! is not cached as a value; hits and misses are counted per level; known
//! applications are remembered, warmed up at start, and refreshed from the
//! chain by the leader's refresher.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chainsim::{ChainSim, ChainSimHandle, Genesis, Options};
use tokio_util::sync::CancellationToken;

const fn key(b: u8) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[31] = b;
    k
}

fn addr(k: &[u8; 32]) -> String {
    let pk = rings::PrivateKey::from_bytes(k).unwrap().public_key();
    protocol::address::address_from_pubkey(&pk).unwrap()
}

async fn sim(cancel: &CancellationToken) -> ChainSimHandle {
    let yaml = format!(
        r#"
chain_id: pocket
services: [{{ id: anvil, compute_units_per_relay: 3 }}]
gateways: [{{ key: {{ private_key: "{gw}" }}, stake_upokt: 1000000000 }}]
applications:
  - key: {{ private_key: "{app}" }}
    stake_upokt: 5000000000
    service_id: anvil
    delegatee_gateways: ["{gw_addr}"]
  - key: {{ private_key: "{lone}" }}
    stake_upokt: 5000000000
    service_id: anvil
suppliers:
  - operator: {{ private_key: "{sup}" }}
    stake_upokt: 1000000000
    services: [{{ service_id: anvil, endpoints: [{{ url: "http://127.0.0.1:1", rpc_type: json_rpc }}] }}]
"#,
        gw = hex::encode(key(2)),
        app = hex::encode(key(1)),
        lone = hex::encode(key(4)),
        gw_addr = addr(&key(2)),
        sup = hex::encode(key(3)),
    );
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let opts = Options {
        grpc_listen: loopback,
        rpc_listen: loopback,
        block_time: Duration::from_millis(100),
        start_paused: false,
    };
    ChainSim::start(Genesis::from_yaml(&yaml).unwrap(), opts, cancel.clone())
        .await
        .unwrap()
}

/// A Redis server, a cancel token, a chain simulator and a Redis config with
/// a fresh namespace (views built on it share one L2).
async fn harness() -> (
    store::testing::RedisServer,
    CancellationToken,
    ChainSimHandle,
    store::RedisConfig,
) {
    let redis = store::testing::RedisServer::start().unwrap();
    let cancel = CancellationToken::new();
    let sim = sim(&cancel).await;
    let cfg = redis.config();
    (redis, cancel, sim, cfg)
}

struct View {
    cache: Arc<cache::ChainCache>,
    registry: prometheus::Registry,
    pool: fred::prelude::Pool,
    keys: store::Keys,
}

async fn view(
    sim: &ChainSimHandle,
    redis: &store::RedisConfig,
    cancel: &CancellationToken,
) -> View {
    let registry = prometheus::Registry::new();
    let metrics = chain::Metrics::new(&registry).unwrap();
    let query = chain::QueryClient::new(
        &chain::GrpcConfig {
            url: sim.grpc_url(),
            ..Default::default()
        },
        metrics.clone(),
    )
    .unwrap();
    let rpc = chain::RpcClient::new(
        &chain::RpcConfig {
            url: sim.rpc_url(),
            ..Default::default()
        },
        metrics,
    )
    .unwrap();
    let (feed, mut blocks, _t) = chain::BlockFeed::spawn(
        rpc,
        chain::BlockFeedConfig::default(),
        chain::StartAt::Tip,
        cancel.clone(),
    );
    tokio::spawn(async move { while blocks.recv().await.is_some() {} });
    feed.wait_for_height(1, Duration::from_secs(10))
        .await
        .unwrap();
    let pool = store::connect_pool(redis).await.unwrap();
    let keys = store::Keys::new(&redis.namespace).unwrap();
    let cache = cache::ChainCache::with_metrics(
        query,
        feed,
        Some((pool.clone(), keys.clone())),
        cache::Ttls::default(),
        cache::Metrics::new(&registry).unwrap(),
    );
    let sub = store::connect_subscriber(redis).await.unwrap();
    cache
        .spawn_invalidation_listener(sub, keys.clone(), cancel.clone())
        .await
        .unwrap();
    View {
        cache,
        registry,
        pool,
        keys,
    }
}

/// The value of a counter (or a histogram's sample count) with these labels.
fn metric(registry: &prometheus::Registry, name: &str, labels: &[(&str, &str)]) -> u64 {
    registry
        .gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().to_vec())
        .filter(|m| {
            labels.iter().all(|(k, v)| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == *k && l.value() == *v)
            })
        })
        .map(|m| {
            if name.ends_with("_total") {
                m.get_counter().get_value() as u64
            } else {
                m.get_histogram().get_sample_count()
            }
        })
        .sum()
}

/// Waits for `cond` (checked every millisecond) or panics after `within`.
async fn eventually(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Chain queries made for `method` (count of the latency histogram).
fn queries(registry: &prometheus::Registry, method: &str) -> u64 {
    registry
        .gather()
        .iter()
        .filter(|f| f.name() == "chain_query_duration_seconds")
        .flat_map(|f| f.get_metric().to_vec())
        .filter(|m| m.get_label().iter().any(|l| l.value() == method))
        .map(|m| m.get_histogram().get_sample_count())
        .sum()
}

const APPLICATION: &str = "pocket.application.Query/Application";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_make_one_chain_query() {
    let redis = store::testing::RedisServer::start().unwrap();
    let cancel = CancellationToken::new();
    let sim = sim(&cancel).await;
    let v = view(&sim, &redis.config(), &cancel).await;
    let app = addr(&key(1));
    let loads = (0..64).map(|_| {
        let c = v.cache.clone();
        let app = app.clone();
        tokio::spawn(async move { c.application(&app).await.unwrap() })
    });
    for r in futures::future::join_all(loads).await {
        assert_eq!(r.unwrap().address, app);
    }
    assert_eq!(
        queries(&v.registry, APPLICATION),
        1,
        "64 concurrent misses, one query"
    );
    // And the ring: the app and its delegated gateway, from their on-chain keys.
    let ring = v.cache.ring(&app, 10).await.unwrap();
    assert_eq!(ring.len(), 2);
    let lone = v.cache.ring(&addr(&key(4)), 10).await.unwrap();
    assert_eq!(
        lone[1],
        protocol::ring::PLACEHOLDER_RING_PUBKEY,
        "no gateway: placeholder"
    );
    // Not found is an error, not a cached value; the next call asks again.
    let missing = addr(&key(9));
    assert!(matches!(
        v.cache.application(&missing).await,
        Err(cache::CacheError::NotFound(_))
    ));
    let before = queries(&v.registry, APPLICATION);
    assert!(v.cache.application(&missing).await.is_err());
    assert!(queries(&v.registry, APPLICATION) > before);
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidation_reaches_other_processes_within_100ms() {
    let (_redis, cancel, sim, cfg) = harness().await; // one namespace shared by both "processes"
    let a = view(&sim, &cfg, &cancel).await;
    let b = view(&sim, &cfg, &cancel).await;
    let app = addr(&key(1));
    a.cache.application(&app).await.unwrap();
    b.cache.application(&app).await.unwrap();
    assert_eq!(
        queries(&b.registry, APPLICATION),
        0,
        "b was served from L2 (Redis)"
    );
    assert!(b.cache.peek_application(&app).is_some());
    let started = Instant::now();
    a.cache
        .invalidate(cache::entity::APPLICATION, &app)
        .await
        .unwrap();
    while b.cache.peek_application(&app).is_some() {
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "invalidation took over 100 ms"
        );
        tokio::task::yield_now().await;
    }
    assert!(a.cache.peek_application(&app).is_none());
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_in_two_processes_make_one_chain_query() {
    let (_redis, cancel, sim, cfg) = harness().await;
    // Two "processes": separate L1s, one Redis.
    let a = view(&sim, &cfg, &cancel).await;
    let b = view(&sim, &cfg, &cancel).await;
    let app = addr(&key(1));
    let total = || queries(&a.registry, APPLICATION) + queries(&b.registry, APPLICATION);
    for round in 1..=5u64 {
        let loads = (0..64).map(|i| {
            let c = if i % 2 == 0 { &a } else { &b }.cache.clone();
            let app = app.clone();
            tokio::spawn(async move { c.application(&app).await.unwrap() })
        });
        for r in futures::future::join_all(loads).await {
            assert_eq!(r.unwrap().address, app);
        }
        assert_eq!(
            total(),
            round,
            "round {round}: 64 misses in two processes, one query"
        );
        let lock = a.keys.cache_lock(cache::entity::APPLICATION, &app);
        let held: i64 = fred::prelude::KeysInterface::exists(&a.pool, lock.as_str())
            .await
            .unwrap();
        assert_eq!(held, 0, "the winner released the lock");
        // Drop it everywhere (L1s and L2) for the next round.
        a.cache
            .invalidate(cache::entity::APPLICATION, &app)
            .await
            .unwrap();
        eventually("b's L1 dropped the app", Duration::from_secs(5), || {
            b.cache.peek_application(&app).is_none()
        })
        .await;
    }
    // The process that did not query either waited for the other's load or
    // found it in L2 after taking the lock.
    let m = |v: &View, name, labels: &[(&str, &str)]| metric(&v.registry, name, labels);
    let served_without_chain: u64 = [&a, &b]
        .iter()
        .map(|v| {
            m(v, "cache_lock_waits_total", &[("outcome", "filled")])
                + m(
                    v,
                    "cache_hits_total",
                    &[("level", "l2"), ("entity", "application")],
                )
        })
        .sum();
    assert!(served_without_chain >= 5, "{served_without_chain}");
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_and_misses_move_the_right_counters() {
    let (_redis, cancel, sim, cfg) = harness().await;
    let a = view(&sim, &cfg, &cancel).await;
    let b = view(&sim, &cfg, &cancel).await;
    let app = addr(&key(1));
    let entity = ("entity", "application");
    let count = |v: &View, name: &str, labels: &[(&str, &str)]| metric(&v.registry, name, labels);

    a.cache.application(&app).await.unwrap();
    assert_eq!(count(&a, "cache_misses_total", &[entity]), 1);
    assert_eq!(count(&a, "cache_chain_load_seconds", &[entity]), 1);
    assert_eq!(count(&a, "cache_hits_total", &[("level", "l1"), entity]), 0);
    assert_eq!(count(&a, "cache_hits_total", &[("level", "l2"), entity]), 0);

    a.cache.application(&app).await.unwrap();
    assert_eq!(count(&a, "cache_hits_total", &[("level", "l1"), entity]), 1);
    assert_eq!(count(&a, "cache_misses_total", &[entity]), 1);

    b.cache.application(&app).await.unwrap();
    assert_eq!(count(&b, "cache_hits_total", &[("level", "l2"), entity]), 1);
    assert_eq!(count(&b, "cache_misses_total", &[entity]), 0);

    // Other entities have their own label.
    a.cache.supplier(&addr(&key(3))).await.unwrap();
    assert_eq!(
        count(&a, "cache_misses_total", &[("entity", "supplier")]),
        1
    );
    assert_eq!(count(&a, "cache_misses_total", &[entity]), 1);

    a.cache
        .invalidate(cache::entity::APPLICATION, &app)
        .await
        .unwrap();
    assert_eq!(
        count(
            &a,
            "cache_invalidations_total",
            &[entity, ("source", "local")]
        ),
        1
    );
    eventually(
        "b received the invalidation",
        Duration::from_secs(5),
        || {
            count(
                &b,
                "cache_invalidations_total",
                &[entity, ("source", "remote")],
            ) == 1
        },
    )
    .await;
    assert!(b.cache.peek_application(&app).is_none());
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_applications_are_remembered_and_warmed_up() {
    let (_redis, cancel, sim, cfg) = harness().await;
    let (app, lone, missing) = (addr(&key(1)), addr(&key(4)), addr(&key(9)));

    // A relayer serves app: the chain load remembers it.
    let a = view(&sim, &cfg, &cancel).await;
    a.cache.application(&app).await.unwrap();
    a.cache.supplier(&addr(&key(3))).await.unwrap();
    assert_eq!(
        a.cache.known(cache::entity::APPLICATION).await.unwrap(),
        vec![app.clone()]
    );
    assert_eq!(
        a.cache.known(cache::entity::SUPPLIER).await.unwrap(),
        vec![addr(&key(3))]
    );
    let ttl: i64 =
        fred::prelude::KeysInterface::ttl(&a.pool, a.keys.cache_known(cache::entity::APPLICATION))
            .await
            .unwrap();
    assert!(ttl > 6 * 24 * 3600, "7 days, refreshed on add: {ttl}");
    // Not found is not remembered.
    assert!(a.cache.application(&missing).await.is_err());
    assert_eq!(
        a.cache
            .known(cache::entity::APPLICATION)
            .await
            .unwrap()
            .len(),
        1
    );

    // A new relayer warms the known app and the configured ones.
    let b = view(&sim, &cfg, &cancel).await;
    let report = b
        .cache
        .warm_up(&[lone.clone(), missing.clone()], 4, Duration::from_secs(10))
        .await;
    assert_eq!(
        report,
        cache::WarmUpReport {
            requested: 3,
            warmed: 2,
            rings: 2,
            not_found: 1,
            failed: 0,
            timed_out: false,
        }
    );
    assert!(b.cache.peek_application(&app).is_some());
    assert!(b.cache.peek_application(&lone).is_some());
    assert_eq!(
        metric(
            &b.registry,
            "cache_warmup_entries_total",
            &[("outcome", "warmed")]
        ),
        2
    );
    // Warming took one query for lone (app came from L2) and one for missing.
    assert_eq!(queries(&b.registry, APPLICATION), 2);

    // A zero timeout stops at once and says so.
    let c = view(&sim, &cfg, &cancel).await;
    let report = c.cache.warm_up(&[], 1, Duration::ZERO).await;
    assert!(report.timed_out);
    assert_eq!(report.requested, 2, "app and lone are known by now");
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresher_corrects_stale_entries_and_invalidates_every_l1() {
    use fred::prelude::{KeysInterface, SetsInterface};
    use prost::Message;

    let (_redis, cancel, sim, cfg) = harness().await;
    let leader = view(&sim, &cfg, &cancel).await;
    let relayer = view(&sim, &cfg, &cancel).await;
    let (app, supplier) = (addr(&key(1)), addr(&key(3)));
    let l2 = leader.keys.cache_entry(cache::entity::APPLICATION, &app);

    relayer.cache.application(&app).await.unwrap();
    relayer.cache.supplier(&supplier).await.unwrap();
    let fresh: Vec<u8> = leader.pool.get(l2.as_str()).await.unwrap();

    // Nothing changed on chain: nothing to do.
    let report = leader.cache.refresh_known().await.unwrap();
    assert_eq!(report.applications.unchanged, 1, "{report:?}");
    assert_eq!(report.suppliers.unchanged, 1, "{report:?}");
    assert_eq!(report.applications.total() + report.suppliers.total(), 2);

    // L2 (and so the relayer's L1, loaded from it) holds a stale stake.
    let mut stale =
        protocol::pb::pocket::application::Application::decode(fresh.as_slice()).unwrap();
    stale.stake.as_mut().unwrap().amount = "1".into();
    let _: () = leader
        .pool
        .set(l2.as_str(), stale.encode_to_vec(), None, None, false)
        .await
        .unwrap();
    relayer
        .cache
        .invalidate_local(cache::entity::APPLICATION, &app);
    let served = relayer.cache.application(&app).await.unwrap();
    assert_eq!(served.stake.as_ref().unwrap().amount, "1", "stale from L2");

    let report = leader.cache.refresh_known().await.unwrap();
    assert_eq!(report.applications.changed, 1, "{report:?}");
    let now: Vec<u8> = leader.pool.get(l2.as_str()).await.unwrap();
    assert_eq!(now, fresh, "L2 corrected from the chain");
    eventually(
        "the relayer's L1 dropped the stale app",
        Duration::from_millis(100),
        || relayer.cache.peek_application(&app).is_none(),
    )
    .await;
    let served = relayer.cache.application(&app).await.unwrap();
    assert_eq!(served.stake.as_ref().unwrap().amount, "5000000000");

    // An expired L2 entry is filled; an id the chain no longer has is
    // forgotten.
    let _: i64 = leader.pool.del(l2.as_str()).await.unwrap();
    let missing = addr(&key(9));
    let known = leader.keys.cache_known(cache::entity::APPLICATION);
    let _: i64 = leader
        .pool
        .sadd(known.as_str(), missing.as_str())
        .await
        .unwrap();
    let report = leader.cache.refresh_known().await.unwrap();
    assert_eq!(report.applications.filled, 1, "{report:?}");
    assert_eq!(report.applications.removed, 1, "{report:?}");
    let now: Vec<u8> = leader.pool.get(l2.as_str()).await.unwrap();
    assert_eq!(now, fresh);
    assert_eq!(
        leader
            .cache
            .known(cache::entity::APPLICATION)
            .await
            .unwrap(),
        vec![app.clone()]
    );
    assert_eq!(
        metric(
            &leader.registry,
            "cache_refresh_entries_total",
            &[("entity", "application"), ("outcome", "changed")]
        ),
        1
    );
    cancel.cancel();
}
