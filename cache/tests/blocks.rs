//! The block feed through Redis against a real redis-server and chainsim:
//! published blocks reach a follower in order and it never goes back; a
//! missed message is caught up from the latest-block key; with no publisher
//! the follower follows the node, returns to Redis when the leader publishes,
//! and falls back to the node again when Redis goes stale.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cache::blocks::{self, FollowOptions};
use chainsim::{ChainSim, ChainSimHandle, Genesis, Options};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

/// A chain that makes blocks only when told (height 1 at start).
async fn paused_sim(cancel: &CancellationToken) -> ChainSimHandle {
    let yaml = "chain_id: pocket\nservices: [{ id: anvil, compute_units_per_relay: 1 }]\n";
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let opts = Options {
        grpc_listen: loopback,
        rpc_listen: loopback,
        block_time: Duration::from_millis(100),
        start_paused: true,
    };
    ChainSim::start(Genesis::from_yaml(yaml).unwrap(), opts, cancel.clone())
        .await
        .unwrap()
}

fn rpc(sim: &ChainSimHandle) -> chain::RpcClient {
    chain::RpcClient::new(
        &chain::RpcConfig {
            url: sim.rpc_url(),
            ..Default::default()
        },
        chain::Metrics::unregistered().unwrap(),
    )
    .unwrap()
}

struct Redis {
    _server: store::testing::RedisServer,
    cfg: store::RedisConfig,
    pool: fred::prelude::Pool,
    keys: store::Keys,
}

async fn redis() -> Redis {
    let server = store::testing::RedisServer::start().unwrap();
    let cfg = server.config();
    let pool = store::connect_pool(&cfg).await.unwrap();
    let keys = store::Keys::new(&cfg.namespace).unwrap();
    Redis {
        _server: server,
        cfg,
        pool,
        keys,
    }
}

async fn follow(
    r: &Redis,
    rpc: chain::RpcClient,
    options: FollowOptions,
    cancel: &CancellationToken,
) -> (chain::BlockFeed, cache::Metrics) {
    let metrics = cache::Metrics::detached();
    let sub = store::connect_subscriber(&r.cfg).await.unwrap();
    let (feed, _task) = blocks::follow(
        sub,
        r.pool.clone(),
        r.keys.clone(),
        rpc,
        options,
        metrics.clone(),
        cancel.clone(),
    )
    .await
    .unwrap();
    (feed, metrics)
}

fn synthetic(height: u64) -> chain::Block {
    chain::Block {
        height,
        hash: [u8::try_from(height).unwrap(); 32],
        time: prost_types::Timestamp {
            seconds: 1_700_000_000 + i64::try_from(height).unwrap(),
            nanos: 5_000_000,
        },
    }
}

/// Waits for `cond` (checked every 5 ms) or panics after `within`.
async fn eventually(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_blocks_reach_a_follower_in_order() {
    let cancel = CancellationToken::new();
    let sim = paused_sim(&cancel).await;
    let r = redis().await;
    let rpc = rpc(&sim);
    let first = rpc.block(1).await.unwrap();
    blocks::publish(&r.pool, &r.keys, &first).await.unwrap();

    let options = FollowOptions {
        latest_poll_interval: Duration::from_millis(50),
        stale_after: Duration::from_secs(30),
    };
    let (feed, metrics) = follow(&r, rpc, options, &cancel).await;
    let start = feed.latest().unwrap();
    assert_eq!(
        (start.height, start.hash),
        (first.height, first.hash),
        "starts from the published block"
    );
    assert_eq!(
        start.time.nanos / 1_000_000,
        first.time.nanos / 1_000_000,
        "time to the millisecond"
    );
    assert_eq!(metrics.block_feed_redis.get(), 1);

    let mut watch = feed.watch();
    let seen = tokio::spawn(async move {
        let mut heights = Vec::new();
        while watch.changed().await.is_ok() {
            let h = watch.borrow_and_update().as_ref().map(|b| b.height);
            heights.extend(h);
            if h == Some(7) {
                break;
            }
        }
        heights
    });
    for h in 2..=6 {
        blocks::publish(&r.pool, &r.keys, &synthetic(h))
            .await
            .unwrap();
    }
    let six = feed.wait_for_height(6, WAIT).await.unwrap();
    assert_eq!(six.hash, [6; 32]);
    assert_eq!(six.time.nanos, 5_000_000);
    // An older block (a late message, a stale leader) never moves it back.
    blocks::publish(&r.pool, &r.keys, &synthetic(4))
        .await
        .unwrap();
    blocks::publish(&r.pool, &r.keys, &synthetic(7))
        .await
        .unwrap();
    let heights = tokio::time::timeout(WAIT, seen).await.unwrap().unwrap();
    assert!(
        heights.windows(2).all(|w| w[0] < w[1]),
        "in order, never back: {heights:?}"
    );
    assert_eq!(heights.last(), Some(&7));
    assert_eq!(feed.tip_height(), 7);
    assert_eq!(
        metrics
            .block_feed_switches
            .with_label_values(&["node"])
            .get(),
        0
    );
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_message_is_caught_up_from_the_latest_block_key() {
    use fred::prelude::KeysInterface;

    let cancel = CancellationToken::new();
    let sim = paused_sim(&cancel).await;
    let r = redis().await;
    let rpc = rpc(&sim);
    blocks::publish(&r.pool, &r.keys, &rpc.block(1).await.unwrap())
        .await
        .unwrap();
    let options = FollowOptions {
        latest_poll_interval: Duration::from_millis(50),
        stale_after: Duration::from_secs(30),
    };
    let (feed, metrics) = follow(&r, rpc, options, &cancel).await;

    // Heights 2..=4 were published while this follower was disconnected:
    // only the latest-block key holds the last of them.
    let _: () = r
        .pool
        .set(
            r.keys.block_latest(),
            blocks::payload(&synthetic(4)),
            None,
            None,
            false,
        )
        .await
        .unwrap();
    let b = feed.wait_for_height(4, WAIT).await.unwrap();
    assert_eq!((b.height, b.hash), (4, [4; 32]), "by height, not by count");
    assert_eq!(metrics.block_feed_catchups.get(), 1);
    let ttl: i64 = r.pool.pttl(r.keys.block_latest()).await.unwrap();
    assert_eq!(ttl, -1, "the test's own SET has no TTL");
    blocks::publish(&r.pool, &r.keys, &synthetic(5))
        .await
        .unwrap();
    let ttl: i64 = r.pool.pttl(r.keys.block_latest()).await.unwrap();
    assert!(ttl > 590_000, "publish keeps it 10 minutes: {ttl}");
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_publisher_the_follower_follows_the_node_and_back() {
    let cancel = CancellationToken::new();
    let sim = paused_sim(&cancel).await;
    for _ in 0..2 {
        sim.produce_block().unwrap();
    }
    let r = redis().await;
    let rpc = rpc(&sim);
    let options = FollowOptions {
        latest_poll_interval: Duration::from_millis(50),
        stale_after: Duration::from_millis(300),
    };
    let switches =
        |m: &cache::Metrics, to: &str| m.block_feed_switches.with_label_values(&[to]).get();

    // Nothing on Redis: the node, at once.
    let (feed, metrics) = follow(&r, rpc.clone(), options, &cancel).await;
    assert_eq!(feed.latest().unwrap().height, 3);
    assert_eq!(metrics.block_feed_redis.get(), 0);
    let h = u64::try_from(sim.produce_block().unwrap()).unwrap();
    let b = feed.wait_for_height(h, WAIT).await.unwrap();
    assert_eq!(Some(b.hash), sim.block_hash(4), "the node's block hash");

    // The leader starts publishing: back to Redis.
    blocks::publish(&r.pool, &r.keys, &rpc.block(h).await.unwrap())
        .await
        .unwrap();
    eventually("following Redis", WAIT, || {
        metrics.block_feed_redis.get() == 1
    })
    .await;
    assert_eq!(switches(&metrics, "redis"), 1);

    // The leader stops; the chain goes on: after `stale_after`, the node.
    for _ in 0..3 {
        sim.produce_block().unwrap();
    }
    let b = feed.wait_for_height(h + 3, WAIT).await.unwrap();
    assert_eq!(Some(b.hash), sim.block_hash(7));
    assert_eq!(metrics.block_feed_redis.get(), 0);
    assert_eq!(switches(&metrics, "node"), 1);
    // And keeps advancing with the node.
    sim.resume();
    feed.wait_for_height(h + 6, WAIT).await.unwrap();
    cancel.cancel();
}
