//! The miner against chainsim with fast blocks: signed relays published to
//! the stream end up in claims whose roots are recomputed independently,
//! proofs are sent where required, and chainsim settles every claim valid.
//! Failover: the owner is killed mid-session (its runtime dropped, no
//! cleanup) and the other replica takes the supplier and settles everything.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chainsim::{ChainSim, ChainSimHandle, Genesis, Options};
use miner::supervisor::{MinerConfig, MinerDeps, SupplierDeps, run_miner};
use protocol::pb::pocket::service::RelayRequestMetadata;
use protocol::pb::relayminer::v1::MinedRelay;
use protocol::{RelayRequest, RelayResponse, SessionHeader};
use smst::{Leaf, LeafSet, LeafStore as _, SealedTrie};
use store::streams::RelayPublisher;
use store::testing::RedisServer;
use tokio_util::sync::CancellationToken;

const fn key(b: u8) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[31] = b;
    k
}
const APP: [u8; 32] = key(1);
const GATEWAY: [u8; 32] = key(2);
const SUPPLIER: [u8; 32] = key(3);
const SUPPLIER_2: [u8; 32] = key(4);

fn pk(k: &[u8; 32]) -> rings::PrivateKey {
    rings::PrivateKey::from_bytes(k).unwrap()
}
fn addr(k: &[u8; 32]) -> String {
    protocol::address::address_from_pubkey(&pk(k).public_key()).unwrap()
}

fn genesis() -> Genesis {
    let yaml = format!(
        r#"
chain_id: pocket
params:
  proof: {{ proof_requirement_threshold_upokt: 100, proof_request_probability: 0.5 }}
services:
  - {{ id: anvil, compute_units_per_relay: 2 }}
gateways:
  - {{ key: {{ private_key: "{gw}" }}, stake_upokt: 1000000000 }}
applications:
  - key: {{ private_key: "{app}" }}
    stake_upokt: 1000000000000
    service_id: anvil
    delegatee_gateways: ["{gw_addr}"]
suppliers:
  - operator: {{ private_key: "{sup}" }}
    stake_upokt: 1000000000
    services:
      - service_id: anvil
        endpoints: [{{ url: "http://127.0.0.1:1", rpc_type: json_rpc }}]
  - operator: {{ private_key: "{sup2}" }}
    stake_upokt: 1000000000
    services:
      - service_id: anvil
        endpoints: [{{ url: "http://127.0.0.1:2", rpc_type: json_rpc }}]
"#,
        gw = hex::encode(GATEWAY),
        app = hex::encode(APP),
        gw_addr = addr(&GATEWAY),
        sup = hex::encode(SUPPLIER),
        sup2 = hex::encode(SUPPLIER_2),
    );
    Genesis::from_yaml(&yaml).unwrap()
}

/// A relay as a relayer would publish it: gateway ring signature, supplier
/// response signature, dehydrated relay bytes.
fn mined_relay(header: &SessionHeader, supplier: &[u8; 32], n: u32) -> MinedRelay {
    let mut req = RelayRequest {
        meta: RelayRequestMetadata {
            session_header: Some(header.clone()),
            signature: vec![],
            supplier_operator_address: addr(supplier),
        },
        payload: format!(r#"{{"id":{n}}}"#).into_bytes(),
    };
    let ring = [pk(&APP).public_key(), pk(&GATEWAY).public_key()];
    req.meta.signature = rings::RingSignature::sign(&req.signable_hash(), &ring, &pk(&GATEWAY))
        .unwrap()
        .to_bytes();
    let mut res = RelayResponse::new(header.clone(), format!(r#"{{"result":{n}}}"#).into_bytes());
    res.meta.supplier_operator_signature = pk(supplier)
        .sign_response(&res.signable_hash())
        .unwrap()
        .to_vec();
    let bytes = protocol::relay::mined_relay_bytes(&req, &res);
    MinedRelay {
        relay_hash: protocol::relay::relay_hash(&bytes).to_vec(),
        relay_bytes: bytes,
        compute_units_per_relay: 2,
        session_id: header.session_id.clone(),
        session_end_height: header.session_end_block_height,
        session_start_height: header.session_start_block_height,
        supplier_operator_address: addr(supplier),
        service_id: header.service_id.clone(),
        application_address: header.application_address.clone(),
        ..Default::default()
    }
}

fn expected_root(relays: &[MinedRelay]) -> String {
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
    hex::encode(SealedTrie::from_store(&set).unwrap().root().as_bytes())
}

async fn start_sim(cancel: &CancellationToken, block_time: Duration) -> ChainSimHandle {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let options = Options {
        grpc_listen: loopback,
        rpc_listen: loopback,
        block_time,
        start_paused: false,
    };
    ChainSim::start(genesis(), options, cancel.clone())
        .await
        .unwrap()
}

/// One miner replica: its own connections, caches, block feed and account task.
#[derive(Clone)]
struct Node {
    chain_id: String,
    grpc: String,
    rpc: String,
}

fn node(sim: &ChainSimHandle) -> Node {
    Node {
        chain_id: sim.chain_id(),
        grpc: sim.grpc_url(),
        rpc: sim.rpc_url(),
    }
}

async fn miner(
    node: &Node,
    redis: &store::RedisConfig,
    instance: &str,
    suppliers: &[[u8; 32]],
    cancel: &CancellationToken,
) {
    let mut config = MinerConfig {
        redis: redis.clone(),
        ..Default::default()
    };
    config.chain.chain_id = node.chain_id.clone();
    config.chain.grpc.url = node.grpc.clone();
    config.chain.rpc.url = node.rpc.clone();
    config.instance = Some(instance.into());
    config.lease_ttl = Duration::from_millis(900);
    config.lease_poll = Duration::from_millis(100);
    config.reclaim_idle = Duration::from_millis(500);
    config.ingest_block = Duration::from_millis(100);
    let metrics = chain::Metrics::new(&prometheus::Registry::new()).unwrap();
    let query = chain::QueryClient::new(&config.chain.grpc, metrics.clone()).unwrap();
    let rpc = chain::RpcClient::new(&config.chain.rpc, metrics.clone()).unwrap();
    let (feed, mut blocks, _t) = chain::BlockFeed::spawn(
        rpc.clone(),
        config.chain.block_feed.clone(),
        chain::StartAt::Tip,
        cancel.clone(),
    );
    tokio::spawn(async move { while blocks.recv().await.is_some() {} });
    let pool = store::connect_pool(redis).await.unwrap();
    let keys = store::Keys::new(&redis.namespace).unwrap();
    let client = store::connect_client(redis).await.unwrap();
    let has_xackdel = store::probe(&client).await.unwrap().has_xackdel;
    let cache = cache::ChainCache::new(
        query.clone(),
        feed.clone(),
        Some((pool.clone(), keys)),
        cache::Ttls::default(),
    );
    let mut sups = Vec::new();
    for k in suppliers {
        let key = chain::OperatorKey::from_bytes(k).unwrap();
        let (account, _t) = chain::AccountHandle::spawn(
            key,
            query.clone(),
            feed.watch(),
            config.chain.tx.clone(),
            node.chain_id.clone(),
            metrics.clone(),
            cancel.clone(),
        );
        sups.push(SupplierDeps {
            supplier: addr(k),
            account,
        });
    }
    let deps = Arc::new(MinerDeps {
        config,
        pool,
        has_xackdel,
        cache,
        query,
        rpc,
        metrics: miner::metrics::Metrics::unregistered(),
    });
    tokio::spawn(run_miner(deps, sups, cancel.clone()));
}

/// Publishes `n` relays of the current session for `supplier`; `published`
/// is keyed by (session id, supplier address).
async fn publish_session(
    sim: &ChainSimHandle,
    publisher: &RelayPublisher,
    supplier: &[u8; 32],
    n: u32,
    published: &mut BTreeMap<(String, String), Vec<MinedRelay>>,
) -> SessionHeader {
    let header = sim
        .session(&addr(&APP), "anvil", sim.height())
        .unwrap()
        .header
        .unwrap();
    for i in 0..n {
        let r = mined_relay(
            &header,
            supplier,
            i + 1000 * header.session_start_block_height as u32,
        );
        publisher.publish(&r).await.unwrap();
        published
            .entry((header.session_id.clone(), addr(supplier)))
            .or_default()
            .push(r);
    }
    header
}

async fn wait_settled(
    sim: &ChainSimHandle,
    sessions: &BTreeMap<(String, String), Vec<MinedRelay>>,
    timeout: Duration,
) {
    let deadline = Instant::now() + timeout;
    let settlement = |state: &chainsim::StateReport, id: &str, sup: &str| {
        state
            .settlements
            .iter()
            .find(|s| s.session_id == id && s.supplier_operator_address == sup)
            .cloned()
    };
    loop {
        let state = sim.state();
        let done = sessions
            .keys()
            .all(|(id, sup)| settlement(&state, id, sup).is_some());
        if done {
            for ((id, sup), relays) in sessions {
                let s = settlement(&state, id, sup).unwrap();
                assert_eq!(
                    s.outcome,
                    chainsim::SettlementOutcome::Settled,
                    "{id}/{sup}: {s:?}"
                );
                assert_eq!(
                    s.num_relays,
                    relays.len() as u64,
                    "{id}/{sup}: every published relay is in the claim"
                );
                assert_eq!(
                    s.root_hash,
                    expected_root(relays),
                    "{id}/{sup}: the claimed root is the root of the published relays"
                );
            }
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not settled in time: {:?}",
            state.settlements
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads and parses a supplier's JSON status.
async fn status(
    pool: &fred::prelude::Pool,
    keys: &store::Keys,
    supplier: &str,
) -> serde_json::Value {
    use fred::prelude::*;
    let v: Option<String> = pool.get(keys.miner_status(supplier)).await.unwrap();
    serde_json::from_str(&v.unwrap_or_else(|| "null".into())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_relays_of_two_suppliers_settle_with_independent_roots() {
    let redis = RedisServer::start().unwrap();
    let cancel = CancellationToken::new();
    let sim = start_sim(&cancel, Duration::from_millis(150)).await;
    let cfg = redis.config();
    miner(&node(&sim), &cfg, "m1", &[SUPPLIER, SUPPLIER_2], &cancel).await;
    let pool = store::connect_pool(&cfg).await.unwrap();
    let keys = store::Keys::new(&cfg.namespace).unwrap();
    let publisher = RelayPublisher::new(pool.clone(), keys.clone(), 1_000_000);

    // 2,000 relays: three sessions, both suppliers, uneven counts.
    let mut published = BTreeMap::new();
    let mut last_end = 0;
    for (n1, n2) in [(500, 300), (400, 200), (350, 250)] {
        if last_end > 0 {
            sim.wait_for_height(last_end + 1, Duration::from_secs(20))
                .await
                .unwrap();
        }
        publish_session(&sim, &publisher, &SUPPLIER, n1, &mut published).await;
        let h = publish_session(&sim, &publisher, &SUPPLIER_2, n2, &mut published).await;
        last_end = h.session_end_block_height;
    }
    let total: usize = published.values().map(Vec::len).sum();
    assert_eq!(total, 2000);
    // A replayed stream entry (a relayer retry) changes nothing.
    let (_, first) = published.iter().next().unwrap();
    publisher.publish(&first[0]).await.unwrap();

    wait_settled(&sim, &published, Duration::from_secs(60)).await;
    assert!(
        !sim.state().proofs.is_empty(),
        "threshold 100 uPOKT: proofs were required and sent"
    );
    // Every settlement is also recorded in the owner's status, from the
    // chain's block results.
    let deadline = Instant::now() + Duration::from_secs(10);
    for sup in [addr(&SUPPLIER), addr(&SUPPLIER_2)] {
        loop {
            let st = status(&pool, &keys, &sup).await;
            let settled: Vec<&serde_json::Value> = st["recent"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter(|f| f["settlement"]["result"] == "settled")
                        .collect()
                })
                .unwrap_or_default();
            if settled.len() == 3 {
                assert_eq!(st["owner"], "m1");
                let applied = st["ingest"]["applied"].as_u64().unwrap();
                assert_eq!(
                    applied,
                    published
                        .iter()
                        .filter(|((_, s), _)| s == &sup)
                        .map(|(_, r)| r.len() as u64)
                        .sum::<u64>()
                );
                // The replayed entry and the pre-seal reclaim of in-flight
                // entries show up as duplicates: counted, never applied twice
                // (`applied` above is exact).
                assert!(st["ingest"]["read"].as_u64().unwrap() >= applied);
                break;
            }
            assert!(Instant::now() < deadline, "status of {sup}: {st}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    cancel.cancel();
}

/// A replica on its own runtime and thread: dropping it is a `kill -9` (no
/// lease release, no acknowledgements, connections cut).
struct Replica {
    rt: Option<tokio::runtime::Runtime>,
}

impl Replica {
    fn start(sim: &ChainSimHandle, redis: &store::RedisConfig, instance: &str) -> Replica {
        Replica::with(sim, redis, instance, &[SUPPLIER])
    }

    fn with(
        sim: &ChainSimHandle,
        redis: &store::RedisConfig,
        instance: &str,
        suppliers: &[[u8; 32]],
    ) -> Replica {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (node, redis, instance) = (node(sim), redis.clone(), instance.to_owned());
        let suppliers = suppliers.to_vec();
        rt.spawn(async move {
            miner(
                &node,
                &redis,
                &instance,
                &suppliers,
                &CancellationToken::new(),
            )
            .await
        });
        Replica { rt: Some(rt) }
    }

    fn kill(mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

async fn owner(pool: &fred::prelude::Pool, keys: &store::Keys) -> Option<String> {
    use fred::prelude::*;
    let v: Option<String> = pool
        .get(keys.supplier_lease(&addr(&SUPPLIER)))
        .await
        .unwrap();
    v.and_then(|v| v.split('|').next().map(str::to_owned))
}

async fn wait_owner(
    pool: &fred::prelude::Pool,
    keys: &store::Keys,
    who: &str,
    timeout: Duration,
) -> Duration {
    let started = Instant::now();
    while owner(pool, keys).await.as_deref() != Some(who) {
        assert!(
            started.elapsed() < timeout,
            "{who} did not take over within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

/// Waits until someone other than `dead` holds the supplier; must be < 5 s.
async fn wait_new_owner(pool: &fred::prelude::Pool, keys: &store::Keys, dead: &str) -> Duration {
    let started = Instant::now();
    loop {
        if let Some(o) = owner(pool, keys).await.filter(|o| o != dead) {
            let _ = o;
            let took = started.elapsed();
            assert!(took < Duration::from_secs(5), "takeover took {took:?}");
            return took;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no takeover within 5 s of killing {dead}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn phase(pool: &fred::prelude::Pool, keys: &store::Keys, session: &str) -> String {
    use fred::prelude::*;
    let v: Option<String> = pool
        .hget(keys.session_state(&addr(&SUPPLIER), session), "phase")
        .await
        .unwrap();
    v.unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_owners_are_replaced_within_5s_and_every_relay_is_paid() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("miner=info,chain=warn")
        .with_test_writer()
        .try_init();
    let redis = RedisServer::start().unwrap();
    let cancel = CancellationToken::new();
    // Blocks of 400 ms: a window of 4 blocks (1.6 s) outlasts a takeover
    // (lease TTL 900 ms + poll), as 60 s mainnet blocks outlast it by far.
    let sim = start_sim(&cancel, Duration::from_millis(400)).await;
    let cfg = redis.config();
    let pool = store::connect_pool(&cfg).await.unwrap();
    let keys = store::Keys::new(&cfg.namespace).unwrap();
    let publisher = RelayPublisher::new(pool.clone(), keys.clone(), 1_000_000);

    let a = Replica::start(&sim, &cfg, "a");
    wait_owner(&pool, &keys, "a", Duration::from_secs(5)).await;
    let mut replicas: BTreeMap<String, Replica> = BTreeMap::new();
    for name in ["b", "c", "d"] {
        replicas.insert(name.into(), Replica::start(&sim, &cfg, name));
    }

    // Kill 1: in the middle of ingest.
    let mut published = BTreeMap::new();
    let header = publish_session(&sim, &publisher, &SUPPLIER, 300, &mut published).await;
    a.kill();
    let first_takeover = wait_new_owner(&pool, &keys, "a").await;

    // Kill 2: once the claim was broadcast.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !phase(&pool, &keys, &header.session_id)
        .await
        .contains("claim")
    {
        assert!(Instant::now() < deadline, "claim never sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let victim = owner(&pool, &keys).await.unwrap();
    replicas.remove(&victim).unwrap().kill();
    let second_takeover = wait_new_owner(&pool, &keys, &victim).await;

    // Kill 3: in the proof window.
    let windows = sim
        .session_windows(header.session_end_block_height)
        .unwrap();
    sim.wait_for_height(windows.proof_window_open, Duration::from_secs(20))
        .await
        .unwrap();
    let victim = owner(&pool, &keys).await.unwrap();
    replicas.remove(&victim).unwrap().kill();
    let third_takeover = wait_new_owner(&pool, &keys, &victim).await;

    wait_settled(&sim, &published, Duration::from_secs(60)).await;
    eprintln!(
        "takeover after kill: {first_takeover:?} (mid-ingest), {second_takeover:?} (after claim broadcast), \
         {third_takeover:?} (proof window)"
    );
    for (_, r) in replicas {
        r.kill();
    }
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_dropped_from_the_mempool_is_rebroadcast_and_lands() {
    let redis = RedisServer::start().unwrap();
    let cancel = CancellationToken::new();
    let sim = start_sim(&cancel, Duration::from_millis(150)).await;
    let cfg = redis.config();
    let pool = store::connect_pool(&cfg).await.unwrap();
    let keys = store::Keys::new(&cfg.namespace).unwrap();
    let publisher = RelayPublisher::new(pool.clone(), keys.clone(), 1_000_000);
    let mut published = BTreeMap::new();
    let header = publish_session(&sim, &publisher, &SUPPLIER, 20, &mut published).await;
    // The next tx the node accepts (our claim) vanishes from its mempool.
    sim.drop_next_txs(1);
    miner(&node(&sim), &cfg, "m1", &[SUPPLIER], &cancel).await;
    wait_settled(&sim, &published, Duration::from_secs(30)).await;
    let state = sim.state();
    assert_eq!(
        state.counters.txs_dropped, 1,
        "the first claim tx was dropped"
    );
    let claim = state
        .claims
        .iter()
        .find(|c| c.session_id == header.session_id);
    assert!(claim.is_none() || claim.is_some_and(|c| c.num_relays == 20));
    cancel.cancel();
}

/// The owner (instance) of a lease key.
async fn lease_owner(pool: &fred::prelude::Pool, key: &str) -> Option<String> {
    use fred::prelude::*;
    let v: Option<String> = pool.get(key).await.unwrap();
    v.and_then(|v| v.split('|').next().map(str::to_owned))
}

/// Waits until the supplier leases are split as `want` (instance → count).
async fn wait_split(
    pool: &fred::prelude::Pool,
    keys: &store::Keys,
    suppliers: &[[u8; 32]],
    want: &[(&str, usize)],
    timeout: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let mut count: BTreeMap<String, usize> = BTreeMap::new();
        for s in suppliers {
            if let Some(o) = lease_owner(pool, &keys.supplier_lease(&addr(s))).await {
                *count.entry(o).or_default() += 1;
            }
        }
        if want
            .iter()
            .all(|(who, n)| count.get(*who).copied().unwrap_or(0) == *n)
        {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < timeout,
            "leases {count:?}, wanted {want:?} within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppliers_balance_across_replicas_and_leadership_moves_on_a_kill() {
    let redis = RedisServer::start().unwrap();
    let cancel = CancellationToken::new();
    let sim = start_sim(&cancel, Duration::from_millis(200)).await;
    let cfg = redis.config();
    let pool = store::connect_pool(&cfg).await.unwrap();
    let keys = store::Keys::new(&cfg.namespace).unwrap();
    // Two staked suppliers and two keys without stake: leases do not care.
    let four = [SUPPLIER, SUPPLIER_2, key(5), key(6)];

    let a = Replica::with(&sim, &cfg, "a", &four);
    wait_split(&pool, &keys, &four, &[("a", 4)], Duration::from_secs(10)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while lease_owner(&pool, &keys.leader_lease()).await.as_deref() != Some("a") {
        assert!(Instant::now() < deadline, "a never became the leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The leader publishes blocks for everyone.
    let latest = |pool: fred::prelude::Pool| {
        let key = keys.block_latest();
        async move {
            use fred::prelude::*;
            let v: Option<String> = pool.get(key).await.unwrap();
            v.and_then(|v| v.split(' ').next().and_then(|h| h.parse::<u64>().ok()))
                .unwrap_or(0)
        }
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let first = loop {
        let h = latest(pool.clone()).await;
        if h > 0 {
            break h;
        }
        assert!(Instant::now() < deadline, "no block published");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // A second replica joins: the first hands half over.
    let b = Replica::with(&sim, &cfg, "b", &four);
    let balanced = wait_split(
        &pool,
        &keys,
        &four,
        &[("a", 2), ("b", 2)],
        Duration::from_secs(10),
    )
    .await;
    eprintln!("balanced 2/2 {balanced:?} after the second replica started");

    // The leader dies: b leads and owns everything within 5 s.
    a.kill();
    let took = wait_split(&pool, &keys, &four, &[("b", 4)], Duration::from_secs(5)).await;
    let started = Instant::now();
    while lease_owner(&pool, &keys.leader_lease()).await.as_deref() != Some("b") {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "b did not take the leadership within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first_seen = latest(pool.clone()).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while latest(pool.clone()).await <= first_seen.max(first) {
        assert!(
            Instant::now() < deadline,
            "the new leader publishes no block"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("after killing a: suppliers moved in {took:?}");
    b.kill();
    cancel.cancel();
}
