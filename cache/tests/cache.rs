//! The cache against chainsim and a real Redis: concurrent misses make one
//! chain query; an invalidation reaches another process's L1 within 100 ms;
//! rings follow delegations; not-found is not cached as a value.

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

struct View {
    cache: Arc<cache::ChainCache>,
    registry: prometheus::Registry,
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
    let cache = cache::ChainCache::new(
        query,
        feed,
        Some((pool, keys.clone())),
        cache::Ttls::default(),
    );
    let sub = store::connect_subscriber(redis).await.unwrap();
    cache
        .spawn_invalidation_listener(sub, keys, cancel.clone())
        .await
        .unwrap();
    View { cache, registry }
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
    let redis = store::testing::RedisServer::start().unwrap();
    let cancel = CancellationToken::new();
    let sim = sim(&cancel).await;
    let cfg = redis.config(); // one namespace shared by both "processes"
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
