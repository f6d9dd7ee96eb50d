//! The node: the chain behind a mutex, the block timer, the new-block feed
//! and the height watch that tests wait on.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::block::Block;
use crate::chain::Chain;

/// Capacity of the new-block feed; a subscriber that falls further behind is
/// disconnected (CometBFT closes slow websocket subscribers too).
const BLOCK_FEED_CAPACITY: usize = 1024;

/// Shared by the block loop, the gRPC and RPC servers and the handle.
pub(crate) struct Node {
    chain: Mutex<Chain>,
    blocks: broadcast::Sender<Arc<Block>>,
    height: watch::Sender<i64>,
    /// Bumped to make every open websocket session drop its connection;
    /// each session holds a receiver for its lifetime.
    websocket_drops: watch::Sender<u64>,
    pub(crate) cancel: CancellationToken,
    pub(crate) rpc_listen: std::net::SocketAddr,
}

/// Nanoseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

impl Node {
    pub(crate) fn new(
        chain: Chain,
        cancel: CancellationToken,
        rpc_listen: std::net::SocketAddr,
    ) -> Self {
        let (blocks, _) = broadcast::channel(BLOCK_FEED_CAPACITY);
        let (height, _) = watch::channel(chain.height());
        let (websocket_drops, _) = watch::channel(0);
        Node {
            chain: Mutex::new(chain),
            blocks,
            height,
            websocket_drops,
            cancel,
            rpc_listen,
        }
    }

    /// Locks the chain. A panic while holding the lock cannot leave the chain
    /// half-updated in a way later readers depend on, so a poisoned lock is
    /// simply taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Chain> {
        self.chain.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Produces one block now and announces it. The feed is sent to while the
    /// chain lock is held, so subscribers see blocks in height order.
    pub(crate) fn produce_block(&self) -> i64 {
        let mut chain = self.lock();
        let block = Arc::new(chain.produce_block(unix_now_nanos()).clone());
        let height = block.height;
        tracing::debug!(height, hash = %hex::encode_upper(block.hash), txs = block.txs.len(), "block");
        // No receiver is fine: nobody subscribed.
        let _ = self.blocks.send(block);
        self.height.send_replace(height);
        height
    }

    pub(crate) fn subscribe_blocks(&self) -> broadcast::Receiver<Arc<Block>> {
        self.blocks.subscribe()
    }

    pub(crate) fn watch_height(&self) -> watch::Receiver<i64> {
        self.height.subscribe()
    }

    /// What a websocket session watches to learn it must drop its connection.
    pub(crate) fn watch_websocket_drops(&self) -> watch::Receiver<u64> {
        self.websocket_drops.subscribe()
    }

    /// Makes every open websocket session drop its connection; returns how
    /// many were open.
    pub(crate) fn drop_websockets(&self) -> usize {
        let open = self.websocket_drops.receiver_count();
        self.websocket_drops.send_modify(|n| *n = n.wrapping_add(1));
        tracing::info!(open, "dropping every websocket session");
        open
    }

    /// Produces a block every `block_time` unless paused, until cancelled.
    pub(crate) async fn run_blocks(self: Arc<Self>, block_time: Duration) {
        let mut ticker = tokio::time::interval(block_time);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate; the genesis block was made at start.
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                _ = ticker.tick() => {
                    let paused = self.lock().faults.paused;
                    if !paused {
                        self.produce_block();
                    }
                }
            }
        }
    }
}
