//! Ingest throughput: one supplier's stream into Redis-backed session leaves
//! on a local redis-server. Prints relays/s and Redis commands per relay.
//! Run: `cargo bench -p miner --bench ingest` (N via INGEST_RELAYS, default 100000).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use fred::cmd;
use fred::prelude::*;
use miner::ingest::Ingest;
use protocol::pb::relayminer::v1::MinedRelay;
use store::lease::Lease;
use store::leaves::LeafStore;
use store::streams::{ConsumerOptions, RelayConsumer, RelayPublisher};
use store::testing::RedisServer;
use store::{Keys, connect_client, connect_pool, probe};

const SUPPLIER: &str = "pokt1rvvk8e7qrv4xqg9fzhvmq9gw7uy7yul9qv280d";

async fn commands_processed(pool: &Pool) -> u64 {
    let info: String = pool.custom(cmd!("INFO"), vec!["stats"]).await.unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// A `/proc/self/status` line's value, e.g. `VmHWM:`.
fn vm(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field).map(|v| v.trim().to_owned()))
        })
        .unwrap_or_default()
}

fn main() {
    let n: u32 = std::env::var("INGEST_RELAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let server = RedisServer::start().unwrap();
        let cfg = server.config();
        let pool = connect_pool(&cfg).await.unwrap();
        let keys = Keys::new(&cfg.namespace).unwrap();
        let publisher = RelayPublisher::new(pool.clone(), keys.clone(), 10_000_000);
        // A realistic relay: ~700 bytes (request + dehydrated response).
        let filler = vec![0xabu8; 640];
        let mut pending = Vec::new();
        for i in 0..n {
            let mut bytes = filler.clone();
            bytes.extend_from_slice(&i.to_be_bytes());
            let r = MinedRelay {
                relay_hash: protocol::relay::sha256(&bytes).to_vec(),
                relay_bytes: bytes,
                compute_units_per_relay: 100,
                session_id: "bench-session".into(),
                session_end_height: 30,
                session_start_height: 21,
                supplier_operator_address: SUPPLIER.into(),
                service_id: "anvil".into(),
                application_address: "pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4".into(),
                ..Default::default()
            };
            let p = publisher.clone();
            pending.push(tokio::spawn(async move { p.publish(&r).await.unwrap() }));
            if pending.len() >= 256 {
                for h in pending.drain(..) {
                    h.await.unwrap();
                }
            }
        }
        for h in pending.drain(..) {
            h.await.unwrap();
        }
        let key = keys.supplier_lease(SUPPLIER);
        let held = Lease::new(pool.clone(), key.clone(), keys.lease_fence(&key), "bench", Duration::from_secs(60))
            .try_acquire()
            .await
            .unwrap()
            .unwrap();
        let client = connect_client(&cfg).await.unwrap();
        let info = probe(&client).await.unwrap();
        let batch = 1000;
        let opts = ConsumerOptions {
            consumer: "bench".into(),
            batch,
            block: Duration::from_millis(50),
            claim_idle: Duration::from_secs(60),
        };
        let consumer = RelayConsumer::new(client, keys.clone(), SUPPLIER, opts, info.has_xackdel).await.unwrap();
        let leaves = LeafStore::new(pool.clone(), keys.clone(), SUPPLIER, Duration::from_secs(3600));
        let ingest = Ingest::new(consumer, leaves.clone(), SUPPLIER);

        let cmds_before = commands_processed(&pool).await;
        let started = Instant::now();
        let mut applied = 0u64;
        while applied < u64::from(n) {
            applied += ingest.poll(&held).await.unwrap().applied;
        }
        let secs = started.elapsed().as_secs_f64();
        let cmds = commands_processed(&pool).await - cmds_before;
        // Reset the process's peak RSS (Linux: "5" > clear_refs) so the
        // figure below is the claim and proof build alone, not the publisher.
        let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let rss_before = vm("VmRSS:");
        let tree_started = Instant::now();
        let tree = miner::tree::SessionTree::load(&leaves, "bench-session").await.unwrap();
        let tree_secs = tree_started.elapsed().as_secs_f64();
        let proof_started = Instant::now();
        let path = smst::path_for_proof(&[9u8; 32], "bench-session");
        let proof = tree.prove(&leaves, "bench-session", &path).await.unwrap();
        let proof_secs = proof_started.elapsed().as_secs_f64();
        println!("ingest: {n} relays in {secs:.3} s = {:.0} relays/s (batch {batch}, Redis {} on loopback)", f64::from(n) / secs, info.version);
        println!("ingest: {:.3} Redis commands per relay (server-side count incl. Lua-internal calls)", cmds as f64 / f64::from(n));
        println!("claim build (HSCAN entries + sealed trie): {tree_secs:.3} s, root count {}, trie heap {} MB", tree.root().count(), tree.heap_bytes() >> 20);
        println!("proof build (HMGET values + prove + self-verify): {:.1} ms, {} bytes", proof_secs * 1000.0, proof.len());
        if reset {
            println!("miner peak RSS during claim + proof build: {} (RSS before: {})", vm("VmHWM:"), rss_before);
        } else {
            println!("bench process peak RSS (publisher + ingest + claim + proof): {}", vm("VmHWM:"));
        }
        drop(server);
    });
}
