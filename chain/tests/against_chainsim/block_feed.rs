//! The block feed delivers every height once, in order, through websocket
//! loss (polling) and total RPC loss (backfill).

use std::time::Duration;

use chain::{Block, BlockFeed, Metrics, RpcClient, StartAt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::support::*;

/// Receives blocks until one at `height` or above arrives.
async fn receive_until(rx: &mut mpsc::Receiver<Block>, seen: &mut Vec<Block>, height: u64) {
    tokio::time::timeout(DEADLINE, async {
        loop {
            let b = rx.recv().await.expect("feed running");
            let h = b.height;
            seen.push(b);
            if h >= height {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "timed out waiting for block {height}; got {:?}",
            seen.last()
        )
    });
}

/// Every height from `from` to the last seen exactly once, in order, with the
/// chain's own hash.
fn assert_contiguous(seen: &[Block], from: u64, sim: &Sim) {
    let heights: Vec<u64> = seen.iter().map(|b| b.height).collect();
    let last = *heights.last().expect("blocks");
    assert_eq!(
        heights,
        (from..=last).collect::<Vec<_>>(),
        "every height once, in order"
    );
    for b in seen {
        let h = i64::try_from(b.height).unwrap();
        assert_eq!(Some(b.hash), sim.handle.block_hash(h), "hash of block {h}");
        let t = sim.handle.block(h).unwrap().time_unix_nanos;
        assert_eq!(b.time_unix_nanos(), t, "time of block {h}");
    }
}

#[tokio::test]
async fn survives_websocket_loss_by_polling() {
    let sim = start(genesis(), Some(Duration::from_millis(60))).await;
    let proxy = Proxy::start(sim.handle.rpc_addr()).await;
    let mut cfg = sim.config();
    // Queries go straight to the node; only the websocket goes through the proxy.
    cfg.rpc.websocket_url = Some(format!("ws://{}/websocket", proxy.addr));
    let metrics = Metrics::unregistered().unwrap();
    let rpc = RpcClient::new(&cfg.rpc, metrics.clone()).unwrap();
    let cancel = CancellationToken::new();
    let (feed, mut rx, task) = BlockFeed::spawn(
        rpc,
        cfg.block_feed.clone(),
        StartAt::Height(1),
        cancel.clone(),
    );
    let mut ws = feed.websocket_watch();
    let mut seen = Vec::new();

    wait_watch(&mut ws, "websocket up", |up| *up).await;
    receive_until(&mut rx, &mut seen, 4).await;

    proxy.cut();
    wait_watch(&mut ws, "websocket down", |up| !*up).await;
    let polls_before = metrics.feed_polls.get();
    let at_cut = u64::try_from(sim.handle.height()).unwrap();
    // Blocks keep coming while the websocket is down: the feed polls `status`.
    receive_until(&mut rx, &mut seen, at_cut + 4).await;
    assert!(!feed.websocket_up(), "the proxy refuses the websocket");
    assert!(metrics.feed_polls.get() > polls_before, "status was polled");

    proxy.restore();
    wait_watch(&mut ws, "websocket back up", |up| *up).await;
    let at_restore = u64::try_from(sim.handle.height()).unwrap();
    receive_until(&mut rx, &mut seen, at_restore + 4).await;
    assert!(metrics.feed_reconnects.get() >= 1);

    cancel.cancel();
    task.await.unwrap();
    assert_contiguous(&seen, 1, &sim);
    assert_eq!(
        feed.latest().map(|b| b.height),
        seen.last().map(|b| b.height)
    );
}

/// The node drops the websocket (a restart, say) but takes new connections at
/// once: the feed reconnects and subscribes again. Polling is slowed to a
/// minute, so the blocks after the drop can only arrive through the new
/// subscription. (The proxy test above covers a websocket that stays down.)
#[tokio::test]
async fn resubscribes_after_the_node_drops_the_websocket() {
    let sim = start(genesis(), None).await;
    let mut cfg = sim.config();
    cfg.block_feed.poll_interval = Duration::from_secs(60);
    cfg.block_feed.stall_timeout = Duration::from_secs(60);
    let metrics = Metrics::unregistered().unwrap();
    let rpc = RpcClient::new(&cfg.rpc, metrics.clone()).unwrap();
    let cancel = CancellationToken::new();
    let (feed, mut rx, task) = BlockFeed::spawn(
        rpc,
        cfg.block_feed.clone(),
        StartAt::Height(1),
        cancel.clone(),
    );
    let mut ws = feed.websocket_watch();
    let mut seen = Vec::new();
    receive_until(&mut rx, &mut seen, 1).await;
    wait_watch(&mut ws, "websocket up", |up| *up).await;
    sim.block();
    receive_until(&mut rx, &mut seen, 2).await;

    ws.borrow_and_update();
    assert_eq!(sim.handle.drop_websockets(), 1);
    // The feed notices (up goes false) and comes back (up goes true); the
    // two may be too quick to observe apart, so wait for a change first.
    tokio::time::timeout(DEADLINE, ws.changed())
        .await
        .expect("the feed notices the drop")
        .unwrap();
    wait_watch(&mut ws, "websocket back up", |up| *up).await;
    assert!(metrics.feed_reconnects.get() >= 1);

    for _ in 0..3 {
        sim.block();
    }
    receive_until(&mut rx, &mut seen, 5).await;
    cancel.cancel();
    task.await.unwrap();
    assert_contiguous(&seen, 1, &sim);
}

#[tokio::test]
async fn backfills_the_gap_after_losing_the_node() {
    let sim = start(genesis(), Some(Duration::from_millis(60))).await;
    let proxy = Proxy::start(sim.handle.rpc_addr()).await;
    let mut cfg = sim.config();
    // Everything (queries and websocket) goes through the proxy.
    cfg.rpc.url = format!("http://{}", proxy.addr);
    let rpc = RpcClient::new(&cfg.rpc, Metrics::unregistered().unwrap()).unwrap();
    let cancel = CancellationToken::new();
    let (feed, mut rx, task) =
        BlockFeed::spawn(rpc, cfg.block_feed.clone(), StartAt::Tip, cancel.clone());
    let mut ws = feed.websocket_watch();
    let mut seen = Vec::new();

    wait_watch(&mut ws, "websocket up", |up| *up).await;
    let first = tokio::time::timeout(DEADLINE, rx.recv())
        .await
        .unwrap()
        .unwrap();
    let start_height = first.height;
    seen.push(first);
    receive_until(&mut rx, &mut seen, start_height + 2).await;

    proxy.cut();
    wait_watch(&mut ws, "websocket down", |up| !*up).await;
    let at_cut = sim.handle.height();
    sim.handle
        .wait_for_height(at_cut + 6, DEADLINE)
        .await
        .expect("chain moves on");
    // Nothing could be fetched meanwhile: drain what was in flight and check
    // a real gap has opened.
    while let Ok(b) = rx.try_recv() {
        seen.push(b);
    }
    let delivered = seen.last().unwrap().height;
    assert!(
        delivered + 4 <= u64::try_from(sim.handle.height()).unwrap(),
        "a gap exists (delivered {delivered}, chain {})",
        sim.handle.height()
    );

    proxy.restore();
    let target = u64::try_from(sim.handle.height()).unwrap() + 2;
    receive_until(&mut rx, &mut seen, target).await;

    cancel.cancel();
    task.await.unwrap();
    assert_contiguous(&seen, start_height, &sim);
}

#[tokio::test]
async fn new_block_subscription_and_wait_for_height() {
    let sim = start(genesis(), None).await;
    let mut cfg = sim.config();
    cfg.block_feed.event = chain::BlockEvent::NewBlock;
    // Polling would also find the blocks; make it slow so the websocket must.
    cfg.block_feed.poll_interval = Duration::from_secs(60);
    cfg.block_feed.stall_timeout = Duration::from_secs(60);
    let rpc = RpcClient::new(&cfg.rpc, Metrics::unregistered().unwrap()).unwrap();
    let cancel = CancellationToken::new();
    let (feed, mut rx, task) =
        BlockFeed::spawn(rpc, cfg.block_feed.clone(), StartAt::Tip, cancel.clone());
    let mut ws = feed.websocket_watch();
    let mut seen = Vec::new();
    receive_until(&mut rx, &mut seen, 1).await;
    wait_watch(&mut ws, "websocket up", |up| *up).await;
    for _ in 0..3 {
        sim.block();
    }
    let b = feed.wait_for_height(4, DEADLINE).await.unwrap();
    assert!(b.height >= 4);
    receive_until(&mut rx, &mut seen, 4).await;
    assert_contiguous(&seen, 1, &sim);
    assert_eq!(feed.tip_height(), 4);
    cancel.cancel();
    task.await.unwrap();
}
