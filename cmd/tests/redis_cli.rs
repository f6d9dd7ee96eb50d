//! `pocket-relay-miner redis` against a real redis-server, with state
//! written by the real store, miner, relayer and cache code (a cache entry
//! loaded from an in-process chainsim): the binary's JSON must report what
//! is there — leases and replicas, stream groups and decoded entries,
//! statuses, leaves and their sum, meters, cache entries — and its writes
//! must do what the services do: a cache invalidation reaches every L1, a
//! flush deletes only inside the namespace and only with `--yes`. Redis
//! unreachable is one clear line without the password.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::net::SocketAddr;
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fred::prelude::*;
use serde_json::Value as Json;
use store::lease::Lease;
use store::leaves::LeafStore;
use store::streams::{ConsumerOptions, RelayConsumer, RelayPublisher};
use store::testing::RedisServer;
use store::{Keys, MinedRelay};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;

const SUPPLIER: &str = "pokt1rvvk8e7qrv4xqg9fzhvmq9gw7uy7yul9qv280d";
const OTHER_SUPPLIER: &str = "pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4";
const APP: &str = "pokt1qqr5ne3fqg3p4qgzr8gw4a3u5w5p3jlw3h9z6h";

/// Redis with a fresh namespace and a pool on it.
struct Env {
    _server: RedisServer,
    cfg: store::RedisConfig,
    pool: Pool,
    keys: Keys,
}

async fn env() -> Env {
    let server = RedisServer::start().expect("redis-server (run `make deps`)");
    let cfg = server.config();
    let pool = store::connect_pool(&cfg).await.unwrap();
    let keys = Keys::new(&cfg.namespace).unwrap();
    Env {
        _server: server,
        cfg,
        pool,
        keys,
    }
}

impl Env {
    /// `redis --redis-url … --namespace … <args> --output json`.
    async fn run(&self, args: &[&str]) -> Output {
        let mut full = vec![
            "redis",
            "--redis-url",
            &self.cfg.url,
            "--namespace",
            &self.cfg.namespace,
            "--output",
            "json",
        ];
        full.extend_from_slice(args);
        bin(&full).await
    }

    /// [`Env::run`], expecting success and one JSON object.
    async fn json(&self, args: &[&str]) -> Json {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "redis {args:?} failed: {}",
            stderr(&out)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "redis {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    async fn exists(&self, key: &str) -> bool {
        let n: u64 = self.pool.exists(key).await.unwrap();
        n == 1
    }

    /// Takes the lease `key` for `owner` (it must be free).
    async fn hold(&self, key: String, owner: &str) -> store::lease::Held {
        self.lease(key, owner)
            .try_acquire()
            .await
            .unwrap()
            .expect("the lease is free")
    }

    /// The leaf store of `supplier` with a 600 s TTL.
    fn leaves(&self, supplier: &str) -> LeafStore {
        LeafStore::new(
            self.pool.clone(),
            self.keys.clone(),
            supplier,
            Duration::from_secs(600),
        )
    }

    fn lease(&self, key: String, owner: &str) -> Lease {
        Lease::new(
            self.pool.clone(),
            key.clone(),
            self.keys.lease_fence(&key),
            owner,
            Duration::from_secs(30),
        )
    }
}

async fn bin(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_pocket-relay-miner"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .await
        .expect("binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn relay(i: u32, session: &str, weight: u64) -> MinedRelay {
    MinedRelay {
        relay_hash: protocol::relay::sha256(&i.to_be_bytes()).to_vec(),
        relay_bytes: format!("relay-{i}").into_bytes(),
        compute_units_per_relay: weight,
        session_id: session.into(),
        session_end_height: 30,
        supplier_operator_address: SUPPLIER.into(),
        service_id: "anvil".into(),
        application_address: APP.into(),
        arrival_block_height: 25,
        published_at_unix_nano: 1_700_000_000_000_000_000,
        session_start_height: 21,
    }
}

/// The array at `field`, or a panic naming the document.
fn arr<'a>(doc: &'a Json, field: &str) -> &'a Vec<Json> {
    doc[field]
        .as_array()
        .unwrap_or_else(|| panic!("no array {field} in {doc}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_list_types_and_ttls_and_stats_count_each_family() {
    let e = env().await;
    RelayPublisher::new(e.pool.clone(), e.keys.clone(), 1000)
        .publish(&relay(1, "s1", 3))
        .await
        .unwrap();
    let held = e.hold(e.keys.supplier_lease(SUPPLIER), "miner-a").await;
    e.hold(e.keys.leader_lease(), "miner-a").await;
    let leaves = e.leaves(SUPPLIER);
    let writes: Vec<_> = (0..3)
        .map(|i| miner::tree::leaf_write(&[i; 32], vec![i; 10], 2, u64::from(i)))
        .collect();
    leaves
        .put(&held, "s1", &[("service", "anvil".to_owned())], &writes)
        .await
        .unwrap();
    leaves
        .write_status("{\"supplier\":\"x\"}", Duration::from_secs(60))
        .await
        .unwrap();
    let _: () = e
        .pool
        .set("not-our-namespace:key", 1, None, None, false)
        .await
        .unwrap();

    let stats = e.json(&["keys", "--stats"]).await;
    let count = |pattern: String| -> u64 {
        arr(&stats, "families")
            .iter()
            .find(|f| f["family"] == pattern.as_str())
            .unwrap_or_else(|| panic!("no family {pattern} in {stats}"))["count"]
            .as_u64()
            .unwrap()
    };
    let ns = &e.cfg.namespace;
    assert_eq!(count(format!("{ns}:relays:{{<supplier>}}")), 1);
    assert_eq!(count(format!("{ns}:miner:leader")), 1);
    assert_eq!(count(format!("{ns}:miner:leader:fence")), 1);
    assert_eq!(count(format!("{ns}:miner:lease:{{<supplier>}}")), 1);
    assert_eq!(count(format!("{ns}:miner:lease:{{<supplier>}}:fence")), 1);
    assert_eq!(
        count(format!("{ns}:smst:{{<supplier>}}:<session_id>:leaves")),
        1
    );
    assert_eq!(
        count(format!("{ns}:smst:{{<supplier>}}:<session_id>:values")),
        1
    );
    assert_eq!(
        count(format!("{ns}:miner:session:{{<supplier>}}:<session_id>")),
        1
    );
    assert_eq!(count(format!("{ns}:miner:sessions:{{<supplier>}}")), 1);
    assert_eq!(count(format!("{ns}:miner:status:{{<supplier>}}")), 1);
    assert_eq!(count(format!("{ns}:cache:<entity>:<id>")), 0);
    // The other namespace's key is not ours to count.
    assert_eq!(stats["total"], 10, "{stats}");
    assert_eq!(stats["other"], 0, "{stats}");

    let list = e.json(&["keys", "--limit", "100"]).await;
    let keys = arr(&list, "keys");
    assert_eq!(keys.len(), 10, "{list}");
    assert_eq!(list["truncated"], false);
    let find = |k: String| {
        keys.iter()
            .find(|x| x["key"] == k.as_str())
            .unwrap()
            .clone()
    };
    let stream = find(e.keys.relay_stream(SUPPLIER));
    assert_eq!(stream["type"], "stream");
    assert_eq!(stream["ttl_ms"], Json::Null);
    let lease = find(e.keys.supplier_lease(SUPPLIER));
    assert_eq!(lease["type"], "string");
    let ttl = lease["ttl_ms"].as_i64().unwrap();
    assert!((1..=30_000).contains(&ttl), "lease ttl {ttl}");
    assert_eq!(find(e.keys.session_leaves(SUPPLIER, "s1"))["type"], "hash");

    let limited = e.json(&["keys", "--limit", "2"]).await;
    assert_eq!(arr(&limited, "keys").len(), 2);
    assert_eq!(limited["truncated"], true);

    let pattern = format!("{ns}:miner:*");
    let miner_keys = e.json(&["keys", "--pattern", &pattern]).await;
    assert!(
        arr(&miner_keys, "keys").iter().all(|k| k["key"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{ns}:miner:"))),
        "{miner_keys}"
    );
    assert_eq!(arr(&miner_keys, "keys").len(), 7, "{miner_keys}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_and_miners_name_the_lease_holders_and_live_replicas() {
    let e = env().await;
    let nobody = e.json(&["leader"]).await;
    assert_eq!(nobody["holder"], Json::Null);

    let leader = e.hold(e.keys.leader_lease(), "miner-a").await;
    e.hold(e.keys.supplier_lease(SUPPLIER), "miner-a").await;
    let b = e
        .hold(e.keys.supplier_lease(OTHER_SUPPLIER), "miner-b")
        .await;
    // A lease held by a replica that stopped heartbeating.
    e.hold(e.keys.supplier_lease("pokt1orphan"), "miner-gone")
        .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as f64;
    let _: () = e
        .pool
        .zadd(
            e.keys.miner_replicas(),
            None,
            None,
            false,
            false,
            vec![(now, "miner-a"), (now - 500.0, "miner-b")],
        )
        .await
        .unwrap();
    cache::blocks::publish(
        &e.pool,
        &e.keys,
        &cache::blocks::parse_payload(&format!("77 {} 1700000000123", "ab".repeat(32))).unwrap(),
    )
    .await
    .unwrap();

    let doc = e.json(&["leader"]).await;
    assert_eq!(doc["holder"]["owner"], "miner-a", "{doc}");
    assert_eq!(doc["holder"]["token"], leader.token, "{doc}");
    assert_eq!(doc["fence"], leader.token, "{doc}");
    let ttl = doc["ttl_ms"].as_i64().unwrap();
    assert!((1..=30_000).contains(&ttl), "{doc}");
    assert_eq!(doc["latest_block"]["height"], 77, "{doc}");
    assert_eq!(doc["latest_block"]["time_unix_ms"], 1_700_000_000_123i64);

    let doc = e.json(&["miners"]).await;
    let replicas = arr(&doc, "replicas");
    assert_eq!(replicas.len(), 2, "{doc}");
    let replica = |name: &str| replicas.iter().find(|r| r["instance"] == name).unwrap();
    assert_eq!(replica("miner-a")["leader"], true);
    assert_eq!(
        replica("miner-a")["suppliers"],
        serde_json::json!([SUPPLIER])
    );
    assert_eq!(replica("miner-b")["leader"], false);
    assert_eq!(
        replica("miner-b")["suppliers"],
        serde_json::json!([OTHER_SUPPLIER])
    );
    let leases = arr(&doc, "leases");
    assert_eq!(leases.len(), 3, "fence counters are not leases: {doc}");
    let lease = |s: &str| leases.iter().find(|l| l["supplier"] == s).unwrap();
    assert_eq!(lease(OTHER_SUPPLIER)["holder"]["token"], b.token);
    assert_eq!(lease(OTHER_SUPPLIER)["owner_live"], true);
    assert_eq!(lease("pokt1orphan")["holder"]["owner"], "miner-gone");
    assert_eq!(lease("pokt1orphan")["owner_live"], false);
    assert_eq!(doc["leader"]["owner"], "miner-a");

    // Text names the holder too.
    let mut args = vec!["redis", "--redis-url", &e.cfg.url, "--namespace"];
    args.extend([e.cfg.namespace.as_str(), "miners"]);
    let text = bin(&args).await;
    assert!(text.status.success(), "{}", stderr(&text));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("miner-a (leader)"), "{text}");
    assert!(text.contains("owner not heartbeating"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_show_the_group_pending_entries_and_decoded_relays() {
    let e = env().await;
    let publisher = RelayPublisher::new(e.pool.clone(), e.keys.clone(), 1000);
    for i in 0..5 {
        publisher.publish(&relay(i, "session-1", 7)).await.unwrap();
    }
    // A miner reads two entries and has not acknowledged them.
    let client = store::connect_client(&e.cfg).await.unwrap();
    let consumer = RelayConsumer::new(
        client,
        e.keys.clone(),
        SUPPLIER,
        ConsumerOptions {
            consumer: "miner-a".into(),
            batch: 2,
            block: Duration::from_millis(100),
            claim_idle: Duration::from_secs(60),
        },
        false,
    )
    .await
    .unwrap();
    let read = consumer.read_new().await.unwrap();
    assert_eq!(read.len(), 2);

    let doc = e.json(&["streams", "--limit", "3"]).await;
    let streams = arr(&doc, "streams");
    assert_eq!(streams.len(), 1, "{doc}");
    let s = &streams[0];
    assert_eq!(s["supplier"], SUPPLIER);
    assert_eq!(s["length"], 5);
    let group = &arr(s, "groups")[0];
    assert_eq!(group["name"], e.keys.miner_group().as_str());
    assert_eq!(group["pending"], 2);
    assert_eq!(group["consumers"], 1);
    let miner = &s["miner_group"];
    assert_eq!(miner["pending"], 2);
    assert_eq!(miner["oldest_pending"]["id"], read[0].id.as_str());
    assert_eq!(miner["oldest_pending"]["consumer"], "miner-a");
    assert_eq!(miner["oldest_pending"]["deliveries"], 1);
    assert_eq!(miner["consumers"][0]["name"], "miner-a");
    assert_eq!(miner["consumers"][0]["pending"], 2);

    let sample = arr(s, "sample");
    assert_eq!(sample.len(), 3);
    let newest = relay(4, "session-1", 7);
    assert_eq!(sample[0]["relay_hash"], hex::encode(&newest.relay_hash));
    assert_eq!(sample[0]["weight"], 7);
    assert_eq!(sample[0]["session_id"], "session-1");
    assert_eq!(sample[0]["session_end_height"], 30);
    assert_eq!(sample[0]["application"], APP);
    assert_eq!(sample[0]["relay_bytes"], newest.relay_bytes.len());
    assert_eq!(
        sample[2]["relay_hash"],
        hex::encode(relay(2, "", 0).relay_hash)
    );

    // One supplier by name; an unknown one has an empty stream.
    let one = e
        .json(&["streams", "--supplier", SUPPLIER, "--limit", "0"])
        .await;
    assert_eq!(one["streams"][0]["length"], 5);
    assert!(arr(&one["streams"][0], "sample").is_empty());
    let none = e.json(&["streams", "--supplier", OTHER_SUPPLIER]).await;
    assert_eq!(none["streams"][0]["length"], 0);
    assert_eq!(none["streams"][0]["miner_group"], Json::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_prints_what_the_owner_wrote() {
    let e = env().await;
    let missing = e.run(&["status", "--supplier", SUPPLIER]).await;
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains(&format!("no status for supplier {SUPPLIER}")),
        "{}",
        stderr(&missing)
    );

    let status = miner::runner::SupplierStatus {
        supplier: SUPPLIER.into(),
        owner: "miner-a".into(),
        lease_token: 4,
        height: 123,
        updated_unix_ms: 1_700_000_000_000,
        sessions_by_phase: [("active".to_owned(), 2u64)].into_iter().collect(),
        sessions: Vec::new(),
        ingest: Default::default(),
        recent: Vec::new(),
    };
    let raw = serde_json::to_string(&status).unwrap();
    LeafStore::new(
        e.pool.clone(),
        e.keys.clone(),
        SUPPLIER,
        Duration::from_secs(1),
    )
    .write_status(&raw, Duration::from_secs(60))
    .await
    .unwrap();
    let out = e.run(&["status", "--supplier", SUPPLIER]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), raw);
    let back: miner::runner::SupplierStatus = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(back, status);

    let text = bin(&[
        "redis",
        "--redis-url",
        &e.cfg.url,
        "--namespace",
        &e.cfg.namespace,
        "status",
        "--supplier",
        SUPPLIER,
    ])
    .await;
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("\n  \"owner\": \"miner-a\""), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_count_the_leaves_and_sum_their_weights() {
    let e = env().await;
    let held = e.hold(e.keys.supplier_lease(SUPPLIER), "miner-a").await;
    let store = e.leaves(SUPPLIER);
    let meta = [
        ("application", APP.to_owned()),
        ("service", "anvil".to_owned()),
        ("end_height", "30".to_owned()),
    ];
    let big: Vec<_> = (0..40u32)
        .map(|i| {
            let r = relay(i, "big", 3);
            miner::tree::leaf_write(
                &r.relay_hash,
                r.relay_bytes,
                3 + u64::from(i % 2),
                u64::from(i),
            )
        })
        .collect();
    store.put(&held, "big", &meta, &big).await.unwrap();
    let small: Vec<_> = (100..103u32)
        .map(|i| {
            let r = relay(i, "simv1:1700000000:7", 1);
            miner::tree::leaf_write(&r.relay_hash, r.relay_bytes, 1, 0)
        })
        .collect();
    store
        .put(&held, "simv1:1700000000:7", &meta, &small)
        .await
        .unwrap();
    store.seal(&held, "big").await.unwrap();

    let doc = e.json(&["sessions", "--supplier", SUPPLIER]).await;
    let sessions = arr(&doc, "sessions");
    assert_eq!(sessions.len(), 2, "{doc}");
    let s = |id: &str| sessions.iter().find(|x| x["session_id"] == id).unwrap();
    let big_doc = s("big");
    assert_eq!(big_doc["leaves"], 40);
    assert_eq!(big_doc["values"], 40);
    assert_eq!(big_doc["indexed"], true);
    assert_eq!(big_doc["state"]["application"], APP);
    assert_eq!(big_doc["state"]["sealed"], "1");
    // 20 leaves of weight 3 and 20 of weight 4.
    assert_eq!(big_doc["tree"]["sum"], 140, "{doc}");
    assert_eq!(big_doc["tree"]["count"], 40);
    let tree = miner::tree::SessionTree::load(&store, "big").await.unwrap();
    assert_eq!(big_doc["tree"]["root"], hex::encode(tree.root().as_bytes()));
    assert_eq!(s("simv1:1700000000:7")["leaves"], 3);
    assert_eq!(s("simv1:1700000000:7")["tree"]["sum"], 3);

    // Large sessions are counted, not loaded.
    let capped = e
        .json(&[
            "trees",
            "--supplier",
            SUPPLIER,
            "--session",
            "big",
            "--sum-max-leaves",
            "10",
        ])
        .await;
    assert_eq!(arr(&capped, "sessions").len(), 1);
    assert_eq!(capped["sessions"][0]["leaves"], 40);
    assert_eq!(capped["sessions"][0]["tree"], Json::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meter_shows_the_consumed_stake_per_session() {
    let e = env().await;
    let meter = relayer::meter::Meter::new(e.pool.clone(), e.keys.clone(), false);
    for _ in 0..3 {
        meter
            .consume(SUPPLIER, "s1", 250, 10_000, Duration::from_secs(600))
            .await
            .unwrap();
    }
    meter
        // Budgets this small are reserved one relay at a time, so the
        // counters equal what was served.
        .consume(OTHER_SUPPLIER, "s2", 40, 2_000, Duration::from_secs(600))
        .await
        .unwrap();
    // The miner knows the application of s1.
    let held = e.hold(e.keys.supplier_lease(SUPPLIER), "miner-a").await;
    let r = relay(1, "s1", 1);
    e.leaves(SUPPLIER)
        .put(
            &held,
            "s1",
            &[
                ("application", APP.to_owned()),
                ("service", "anvil".to_owned()),
            ],
            &[miner::tree::leaf_write(&r.relay_hash, r.relay_bytes, 1, 0)],
        )
        .await
        .unwrap();

    let all = e.json(&["meter"]).await;
    assert_eq!(arr(&all, "counters").len(), 2, "{all}");
    assert_eq!(all["total_consumed_upokt"], 790);
    let mine = e.json(&["meter", "--supplier", SUPPLIER]).await;
    assert_eq!(arr(&mine, "counters").len(), 1);
    let c = &mine["counters"][0];
    assert_eq!(c["session_id"], "s1");
    assert_eq!(c["consumed_upokt"], 750);
    assert_eq!(c["application"], APP);
    assert_eq!(c["service"], "anvil");
    assert!(c["ttl_ms"].as_i64().unwrap() > 0);
    let by_app = e.json(&["meter", "--app", APP]).await;
    assert_eq!(arr(&by_app, "counters").len(), 1);
    assert_eq!(by_app["total_consumed_upokt"], 750);
    let by_session = e.json(&["meter", "--session", "s2"]).await;
    assert_eq!(by_session["counters"][0]["supplier"], OTHER_SUPPLIER);
}

/// A chain with one application, for the cache to load.
async fn chain(cancel: &CancellationToken) -> (chainsim::ChainSimHandle, String) {
    let key = |n: u8| {
        let mut k = [0u8; 32];
        k[31] = n;
        k
    };
    let addr = |k: &[u8; 32]| {
        protocol::address::address_from_pubkey(
            &rings::PrivateKey::from_bytes(k).unwrap().public_key(),
        )
        .unwrap()
    };
    let (app, gw, sup) = (key(1), key(2), key(3));
    let yaml = format!(
        r#"
chain_id: pocket
services:
  - {{ id: anvil, compute_units_per_relay: 1 }}
gateways:
  - {{ key: {{ private_key: "{gw}" }}, stake_upokt: 1000000000 }}
applications:
  - key: {{ private_key: "{app}" }}
    stake_upokt: 1000000000
    service_id: anvil
    delegatee_gateways: ["{gw_addr}"]
suppliers:
  - operator: {{ private_key: "{sup}" }}
    stake_upokt: 1000000000
    services:
      - service_id: anvil
        endpoints: [{{ url: "http://127.0.0.1:1", rpc_type: json_rpc }}]
"#,
        gw = hex::encode(gw),
        app = hex::encode(app),
        sup = hex::encode(sup),
        gw_addr = addr(&gw),
    );
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let sim = chainsim::ChainSim::start(
        chainsim::Genesis::from_yaml(&yaml).unwrap(),
        chainsim::Options {
            grpc_listen: loopback,
            rpc_listen: loopback,
            block_time: Duration::from_millis(200),
            start_paused: false,
        },
        cancel.clone(),
    )
    .await
    .unwrap();
    (sim, addr(&app))
}

fn chain_cache(e: &Env, grpc_url: String) -> Arc<cache::ChainCache> {
    let query = chain::QueryClient::new(
        &chain::GrpcConfig {
            url: grpc_url,
            ..Default::default()
        },
        chain::Metrics::new(&prometheus::Registry::new()).unwrap(),
    )
    .unwrap();
    let (feed, _external) = chain::BlockFeed::external();
    cache::ChainCache::new(
        query,
        feed,
        Some((e.pool.clone(), e.keys.clone())),
        cache::Ttls {
            immutable: Duration::from_secs(600),
            live: Duration::from_secs(600),
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_invalidation_deletes_the_entry_and_reaches_every_l1() {
    let e = env().await;
    let cancel = CancellationToken::new();
    let _stop = cancel.clone().drop_guard();
    let (sim, app) = chain(&cancel).await;
    // A leader loads the application from the chain: L2 and the known set.
    let leader_cache = chain_cache(&e, sim.grpc_url());
    leader_cache.application(&app).await.unwrap();
    // A relayer holds it in L1 and listens for invalidations.
    let relayer_cache = chain_cache(&e, sim.grpc_url());
    relayer_cache
        .spawn_invalidation_listener(
            store::connect_subscriber(&e.cfg).await.unwrap(),
            e.keys.clone(),
            cancel.clone(),
        )
        .await
        .unwrap();
    relayer_cache.application(&app).await.unwrap();
    assert!(relayer_cache.peek_application(&app).is_some());
    // And someone watches the channel.
    let watcher = store::connect_subscriber(&e.cfg).await.unwrap();
    let mut messages = watcher.message_rx();
    let channel = e.keys.cache_invalidation_channel("application");
    watcher.subscribe(channel.clone()).await.unwrap();
    // `subscribe` returns once SUBSCRIBE is queued: wait until the server
    // has both subscriptions (the relayer's listener and the watcher).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let numsub: Vec<fred::types::Value> = e
            .pool
            .next()
            .custom(fred::cmd!("PUBSUB"), vec!["NUMSUB", channel.as_str()])
            .await
            .unwrap();
        if numsub.get(1).and_then(fred::types::Value::as_u64) == Some(2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "subscriptions not active: {numsub:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let summary = e.json(&["cache"]).await;
    let apps = arr(&summary, "entities")
        .iter()
        .find(|x| x["entity"] == "application")
        .unwrap()
        .clone();
    assert_eq!(apps["l2_entries"], 1, "{summary}");
    assert_eq!(apps["known"], 1, "{summary}");
    let listing = e
        .json(&["cache", "--list", "--entity", "application"])
        .await;
    assert_eq!(listing["entities"][0]["l2"][0]["id"], app.as_str());
    assert_eq!(listing["entities"][0]["known"][0], app.as_str());
    let entry = e
        .json(&["cache", "--entity", "application", "--id", &app])
        .await;
    assert_eq!(entry["exists"], true);
    assert_eq!(entry["known"], true);
    assert_eq!(entry["decoded"]["address"], app.as_str());
    assert_eq!(entry["decoded"]["services"], serde_json::json!(["anvil"]));

    // Without --yes nothing happens.
    let key = e.keys.cache_entry("application", &app);
    let dry = e
        .json(&[
            "cache",
            "--entity",
            "application",
            "--id",
            &app,
            "--invalidate",
        ])
        .await;
    assert_eq!(dry["dry_run"], true);
    assert!(e.exists(&key).await);
    assert!(relayer_cache.peek_application(&app).is_some());

    let done = e
        .json(&[
            "cache",
            "--entity",
            "application",
            "--id",
            &app,
            "--invalidate",
            "--yes",
        ])
        .await;
    assert_eq!(done["dry_run"], false);
    assert_eq!(done["l2_deleted"], 1);
    assert_eq!(done["channel"], channel.as_str());
    assert!(!e.exists(&key).await, "the L2 entry is still there");
    let m = tokio::time::timeout(Duration::from_secs(5), messages.recv())
        .await
        .expect("no invalidation within 5 s")
        .unwrap();
    assert_eq!(m.channel.to_string(), channel);
    assert_eq!(m.value.as_string().as_deref(), Some(app.as_str()));
    let deadline = Instant::now() + Duration::from_secs(5);
    while relayer_cache.peek_application(&app).is_some() {
        assert!(
            Instant::now() < deadline,
            "the relayer's L1 kept the application"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let gone = e
        .run(&["cache", "--entity", "application", "--id", &app])
        .await;
    assert!(!gone.status.success());
    assert!(stderr(&gone).contains("no L2 entry"), "{}", stderr(&gone));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_prints_blocks_and_invalidations_as_they_arrive() {
    let e = env().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pocket-relay-miner"))
        .args([
            "redis",
            "--redis-url",
            &e.cfg.url,
            "--namespace",
            &e.cfg.namespace,
            "--output",
            "json",
            "pubsub",
            "--count",
            "2",
            "--duration",
            "30s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Publish only once the subscription is confirmed.
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let line = err.next_line().await.unwrap().expect("pubsub exited early");
            if line.starts_with("subscribed to ") {
                return;
            }
        }
    })
    .await
    .expect("no subscription within 10 s");
    let block =
        cache::blocks::parse_payload(&format!("5 {} 1700000000999", "cd".repeat(32))).unwrap();
    cache::blocks::publish(&e.pool, &e.keys, &block)
        .await
        .unwrap();
    let receivers: i64 = e
        .pool
        .next()
        .publish(e.keys.cache_invalidation_channel("supplier"), SUPPLIER)
        .await
        .unwrap();
    assert_eq!(receivers, 1, "the CLI said it was subscribed before it was");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut lines: Vec<Json> = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(l) = stdout.next_line().await.unwrap() {
            lines.push(serde_json::from_str(&l).unwrap());
        }
    })
    .await;
    let mut rest = Vec::new();
    while let Ok(Ok(Some(l))) =
        tokio::time::timeout(Duration::from_millis(100), err.next_line()).await
    {
        rest.push(l);
    }
    assert!(
        read.is_ok(),
        "pubsub did not stop after --count messages; printed {lines:?}, stderr {rest:?}"
    );
    assert!(child.wait().await.unwrap().success());
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["kind"], "block");
    assert_eq!(lines[0]["channel"], e.keys.blocks_channel().as_str());
    assert_eq!(lines[0]["block"]["height"], 5);
    assert_eq!(lines[0]["block"]["time_unix_ms"], 1_700_000_000_999i64);
    assert_eq!(lines[1]["kind"], "invalidation");
    assert_eq!(lines[1]["entity"], "supplier");
    assert_eq!(lines[1]["id"], SUPPLIER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_is_a_dry_run_without_yes_and_never_leaves_the_namespace() {
    let e = env().await;
    let ns = e.cfg.namespace.clone();
    let neighbour = format!("{ns}x");
    let pipe = e.pool.next().pipeline();
    for k in [
        format!("{ns}:cache:application:a"),
        format!("{ns}:cache:application:b"),
        format!("{ns}:cache:supplier:c"),
        format!("{neighbour}:cache:application:a"),
        "unrelated".to_owned(),
    ] {
        let _: () = pipe.set(k, 1, None, None, false).await.unwrap();
    }
    let _: Vec<fred::types::Value> = pipe.all().await.unwrap();
    let total = || async {
        let n: u64 = e.pool.dbsize().await.unwrap();
        n
    };

    let pattern = format!("{ns}:cache:application:*");
    let dry = e.json(&["flush", "--pattern", &pattern]).await;
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["matched"], 2);
    assert_eq!(dry["deleted"], 0);
    assert_eq!(total().await, 5);

    for bad in ["*", "unrelated", &format!("{neighbour}:*"), "?a*", &ns] {
        let out = e.run(&["flush", "--pattern", bad, "--yes"]).await;
        assert!(!out.status.success(), "{bad} was accepted");
        assert!(
            stderr(&out).contains("outside the namespace"),
            "{bad}: {}",
            stderr(&out)
        );
    }
    assert_eq!(total().await, 5);

    let done = e.json(&["flush", "--pattern", &pattern, "--yes"]).await;
    assert_eq!(done["dry_run"], false);
    assert_eq!(done["deleted"], 2);
    assert_eq!(total().await, 3);
    let all = e
        .json(&["flush", "--pattern", &format!("{ns}:*"), "--yes"])
        .await;
    assert_eq!(all["deleted"], 1);
    assert!(e.exists(&format!("{neighbour}:cache:application:a")).await);
    assert!(e.exists("unrelated").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_gives_the_url_and_namespace() {
    let e = env().await;
    e.hold(e.keys.leader_lease(), "miner-z").await;
    let dir = std::env::temp_dir().join(format!("prm-redis-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("miner.yaml");
    std::fs::write(
        &path,
        format!(
            "redis:\n  url: {}\n  namespace: {}\n",
            e.cfg.url, e.cfg.namespace
        ),
    )
    .unwrap();
    let out = bin(&[
        "redis",
        "leader",
        "--config",
        path.to_str().unwrap(),
        "--output",
        "json",
    ])
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["holder"]["owner"], "miner-z", "{doc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_redis_is_one_line_without_the_password() {
    // Port 1 (tcpmux): privileged, so no test server ever listens there.
    let port = 1;
    let url = format!("redis://operator:hunter2@127.0.0.1:{port}/0");
    let out = bin(&["redis", "--redis-url", &url, "keys"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "error: cannot reach Redis at redis://***@127.0.0.1:{port}/0: "
        )),
        "{err}"
    );
    assert!(err.contains("refused"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(out.stdout.is_empty());
}
