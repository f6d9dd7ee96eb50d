//! The block feed: every committed height exactly once, in order.
//!
//! A websocket subscription (`tm.event='NewBlockHeader'` or `'NewBlock'`)
//! announces new heights; it only moves the known chain tip. The feed then
//! fetches each height from `next` to the tip with `block` (which gives the
//! protocol block hash `block_id.hash`) and hands it to the consumer, so a
//! missed event, a reconnect or a slow consumer never loses a height. While the
//! websocket is down (or silent for `stall_timeout`) the tip is learned by
//! polling `status`. The last delivered block is also published on a watch
//! channel for consumers that only need "the latest".
//!
//! A feed can also be driven from outside ([`BlockFeed::external`]): a
//! process that learns blocks elsewhere (the relayers follow the blocks the
//! leader publishes on Redis) hands them to an [`ExternalFeed`], which only
//! ever moves the latest block and the tip forward. Such a feed has no ordered
//! channel: its consumers only need the latest block.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::config::{BlockEvent, BlockFeedConfig};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::retry;
use crate::rpc::{Block, RpcClient, age_seconds, event_height};

/// Where the feed starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// At the chain tip when the feed starts (that block is delivered first).
    Tip,
    /// At this height (earlier heights are backfilled with `block`).
    Height(u64),
}

/// A cloneable view of the feed: latest delivered block, chain tip, websocket
/// state.
#[derive(Clone, Debug)]
pub struct BlockFeed {
    latest: watch::Receiver<Option<Block>>,
    tip: watch::Receiver<u64>,
    websocket_up: watch::Receiver<bool>,
}

/// The driving side of a [`BlockFeed::external`] feed. Dropping it ends the
/// feed (waiters get [`Error::Cancelled`]).
#[derive(Debug)]
pub struct ExternalFeed {
    latest: watch::Sender<Option<Block>>,
    tip: watch::Sender<u64>,
    websocket_up: watch::Sender<bool>,
    metrics: Option<Metrics>,
}

/// The task that runs the feed; spawn [`BlockFeedTask::run`] on the caller's
/// runtime or task tracker. It is critical: nothing else learns of blocks.
#[derive(Debug)]
pub struct BlockFeedTask {
    rpc: RpcClient,
    config: BlockFeedConfig,
    start: StartAt,
    cancel: CancellationToken,
    out: mpsc::Sender<Block>,
    latest: watch::Sender<Option<Block>>,
    tip: watch::Sender<u64>,
    websocket_up: watch::Sender<bool>,
}

impl BlockFeed {
    /// Builds the feed: the view, the task to spawn, and the ordered block
    /// channel (bounded by `config.channel_capacity`; a full channel pauses
    /// the feed, it never drops a height).
    #[must_use]
    pub fn new(
        rpc: RpcClient,
        config: BlockFeedConfig,
        start: StartAt,
        cancel: CancellationToken,
    ) -> (BlockFeed, BlockFeedTask, mpsc::Receiver<Block>) {
        let (out, blocks) = mpsc::channel(config.channel_capacity.max(1));
        let (feed, latest_tx, tip_tx, up_tx) = BlockFeed::with_senders();
        let task = BlockFeedTask {
            rpc,
            config,
            start,
            cancel,
            out,
            latest: latest_tx,
            tip: tip_tx,
            websocket_up: up_tx,
        };
        (feed, task, blocks)
    }

    /// A view and the senders that drive it (no block, tip 0, websocket down).
    fn with_senders() -> (
        BlockFeed,
        watch::Sender<Option<Block>>,
        watch::Sender<u64>,
        watch::Sender<bool>,
    ) {
        let (latest_tx, latest) = watch::channel(None);
        let (tip_tx, tip) = watch::channel(0);
        let (up_tx, websocket_up) = watch::channel(false);
        let feed = BlockFeed {
            latest,
            tip,
            websocket_up,
        };
        (feed, latest_tx, tip_tx, up_tx)
    }

    /// [`BlockFeed::new`] and spawn the task on the current tokio runtime.
    #[must_use]
    pub fn spawn(
        rpc: RpcClient,
        config: BlockFeedConfig,
        start: StartAt,
        cancel: CancellationToken,
    ) -> (
        BlockFeed,
        mpsc::Receiver<Block>,
        tokio::task::JoinHandle<()>,
    ) {
        let (feed, task, blocks) = BlockFeed::new(rpc, config, start, cancel);
        let handle = tokio::spawn(task.run());
        (feed, blocks, handle)
    }

    /// A feed driven by the caller through the returned [`ExternalFeed`]
    /// (no task, no ordered channel). `websocket_up` stays false.
    #[must_use]
    pub fn external() -> (BlockFeed, ExternalFeed) {
        let (feed, latest_tx, tip_tx, up_tx) = BlockFeed::with_senders();
        let driver = ExternalFeed {
            latest: latest_tx,
            tip: tip_tx,
            websocket_up: up_tx,
            metrics: None,
        };
        (feed, driver)
    }

    /// [`BlockFeed::external`] whose deliveries set the same
    /// `chain_block_feed_*` gauges (height, tip, lag) a node feed over `rpc`
    /// would.
    #[must_use]
    pub fn external_for(rpc: &RpcClient) -> (BlockFeed, ExternalFeed) {
        let (feed, mut driver) = BlockFeed::external();
        driver.metrics = Some(rpc.metrics().clone());
        (feed, driver)
    }

    /// The last block delivered, if any.
    #[must_use]
    pub fn latest(&self) -> Option<Block> {
        self.latest.borrow().clone()
    }

    /// A watch receiver of the last delivered block (what the transaction
    /// account task anchors timeouts on).
    #[must_use]
    pub fn watch(&self) -> watch::Receiver<Option<Block>> {
        self.latest.clone()
    }

    /// The highest height known to be committed on chain.
    #[must_use]
    pub fn tip_height(&self) -> u64 {
        *self.tip.borrow()
    }

    /// Whether the websocket subscription is live.
    #[must_use]
    pub fn websocket_up(&self) -> bool {
        *self.websocket_up.borrow()
    }

    /// A watch receiver of the websocket state (health checks).
    #[must_use]
    pub fn websocket_watch(&self) -> watch::Receiver<bool> {
        self.websocket_up.clone()
    }

    /// Waits until a block at or above `height` has been delivered, or
    /// `timeout` passes.
    ///
    /// # Errors
    /// [`Error::NoChainTip`] on timeout; [`Error::Cancelled`] if the feed stopped.
    pub async fn wait_for_height(&self, height: u64, timeout: Duration) -> Result<Block> {
        let mut rx = self.latest.clone();
        let fut = async {
            loop {
                if let Some(b) = rx
                    .borrow_and_update()
                    .as_ref()
                    .filter(|b| b.height >= height)
                {
                    return Ok(b.clone());
                }
                if rx.changed().await.is_err() {
                    return Err(Error::Cancelled);
                }
            }
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| Error::NoChainTip { waited: timeout })?
    }
}

impl ExternalFeed {
    /// Makes `block` the latest block if it is higher than the latest one
    /// (and raises the tip to it); a block at or below the latest height is
    /// ignored. Returns whether the feed moved.
    pub fn deliver(&self, block: Block) -> bool {
        let height = block.height;
        let moved = self.latest.send_if_modified(|latest| {
            if latest.as_ref().is_none_or(|l| height > l.height) {
                *latest = Some(block);
                true
            } else {
                false
            }
        });
        if moved {
            raise_tip(&self.tip, height);
            if let Some(m) = &self.metrics {
                let tip = *self.tip.borrow();
                m.feed_height.set(to_i64(height));
                m.feed_tip_height.set(to_i64(tip));
                m.feed_lag_blocks.set(to_i64(tip.saturating_sub(height)));
                if let Some(b) = self.latest.borrow().as_ref() {
                    m.feed_lag_seconds.set(age_seconds(&b.time));
                }
            }
        }
        moved
    }

    /// Raises the known chain tip (a height seen but not delivered yet).
    /// Returns whether it moved.
    pub fn raise_tip(&self, height: u64) -> bool {
        let moved = raise_tip(&self.tip, height);
        if moved && let Some(m) = &self.metrics {
            m.feed_tip_height.set(to_i64(height));
        }
        moved
    }

    /// The latest delivered height (0 before the first block).
    #[must_use]
    pub fn latest_height(&self) -> u64 {
        self.latest.borrow().as_ref().map_or(0, |b| b.height)
    }

    /// The latest delivered block.
    #[must_use]
    pub fn latest(&self) -> Option<Block> {
        self.latest.borrow().clone()
    }

    /// Whether every [`BlockFeed`] view was dropped.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.latest.is_closed()
    }

    /// Sets what [`BlockFeed::websocket_up`] reports (a driver with a live
    /// subscription of its own may say so).
    pub fn set_websocket_up(&self, up: bool) {
        self.websocket_up.send_replace(up);
    }
}

impl BlockFeedTask {
    /// Runs until cancelled or until the block receiver is dropped. Transient
    /// RPC failures are retried forever with backoff (logged and counted):
    /// a height is never skipped.
    pub async fn run(self) {
        let metrics = self.rpc.metrics().clone();
        let ws_cancel = self.cancel.child_token();
        let ws_task = tokio::spawn(websocket_loop(
            self.rpc.clone(),
            self.config.clone(),
            ws_cancel.clone(),
            self.tip.clone(),
            self.websocket_up.clone(),
        ));
        let mut up_rx = self.websocket_up.subscribe();
        let mut tip_rx = self.tip.subscribe();
        let mut next = match self.start {
            StartAt::Tip => None,
            StartAt::Height(h) => Some(h.max(1)),
        };
        let mut poll_now = true;
        let mut failures = 0u32;
        loop {
            if self.cancel.is_cancelled() {
                break;
            }
            if poll_now {
                poll_now = false;
                metrics.feed_polls.inc();
                match self.rpc.status().await {
                    Ok(status) => {
                        raise_tip(&self.tip, status.latest_height);
                    }
                    Err(e) => tracing::warn!(error = %e, "block feed: status poll failed"),
                }
            }
            let tip = *self.tip.borrow();
            metrics.feed_tip_height.set(to_i64(tip));
            if next.is_none() && tip > 0 {
                next = Some(tip);
            }
            if let Some(height) = next.filter(|n| *n <= tip) {
                let fetched = tokio::select! {
                    () = self.cancel.cancelled() => break,
                    r = self.rpc.block(height) => r,
                };
                match fetched {
                    Ok(block) => {
                        failures = 0;
                        metrics.feed_height.set(to_i64(block.height));
                        metrics
                            .feed_lag_blocks
                            .set(to_i64(tip.saturating_sub(block.height)));
                        metrics.feed_lag_seconds.set(age_seconds(&block.time));
                        tracing::debug!(height = block.height, hash = %block.hash_hex(), "block feed: delivering block");
                        let sent = tokio::select! {
                            () = self.cancel.cancelled() => break,
                            r = self.out.send(block.clone()) => r,
                        };
                        self.latest.send_replace(Some(block));
                        if sent.is_err() {
                            tracing::info!("block feed: consumer gone, stopping");
                            break;
                        }
                        next = Some(height + 1);
                    }
                    Err(e) => {
                        failures += 1;
                        let delay = retry::jittered(retry::backoff_ceiling(
                            self.config.reconnect_initial_backoff,
                            self.config.reconnect_max_backoff,
                            failures,
                        ));
                        tracing::warn!(height, error = %e, retry_in = ?delay, "block feed: cannot fetch block");
                        tokio::select! {
                            () = self.cancel.cancelled() => break,
                            () = tokio::time::sleep(delay) => {}
                        }
                    }
                }
                continue;
            }
            // Caught up: wait for the tip to move.
            let wait = if *up_rx.borrow_and_update() {
                self.config.stall_timeout
            } else {
                self.config.poll_interval
            };
            tip_rx.borrow_and_update();
            tokio::select! {
                () = self.cancel.cancelled() => break,
                r = tip_rx.changed() => { if r.is_err() { break; } }
                r = up_rx.changed() => { if r.is_err() { break; } }
                () = tokio::time::sleep(wait) => { poll_now = true; }
            }
        }
        ws_cancel.cancel();
        let _ = ws_task.await;
        metrics.feed_websocket_up.set(0);
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Raises the tip to `height` if it is higher; returns whether it moved.
fn raise_tip(tip: &watch::Sender<u64>, height: u64) -> bool {
    tip.send_if_modified(|t| {
        if height > *t {
            *t = height;
            true
        } else {
            false
        }
    })
}

/// Keeps a websocket subscription alive, raising the tip on every event.
async fn websocket_loop(
    rpc: RpcClient,
    config: BlockFeedConfig,
    cancel: CancellationToken,
    tip: watch::Sender<u64>,
    up: watch::Sender<bool>,
) {
    let metrics = rpc.metrics().clone();
    let mut attempt = 0u32;
    while !cancel.is_cancelled() {
        let mut got_events = false;
        let result = subscribe_once(&rpc, &config, &cancel, &tip, &up, &mut got_events).await;
        up.send_replace(false);
        metrics.feed_websocket_up.set(0);
        if cancel.is_cancelled() {
            break;
        }
        metrics.feed_reconnects.inc();
        if got_events {
            attempt = 0;
        }
        attempt += 1;
        let delay = retry::jittered(retry::backoff_ceiling(
            config.reconnect_initial_backoff,
            config.reconnect_max_backoff,
            attempt,
        ));
        match result {
            Ok(()) => {
                tracing::info!(retry_in = ?delay, "block feed: websocket closed, reconnecting")
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?delay, "block feed: websocket failed, reconnecting")
            }
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// One websocket connection: connect, subscribe, read events until it ends.
async fn subscribe_once(
    rpc: &RpcClient,
    config: &BlockFeedConfig,
    cancel: &CancellationToken,
    tip: &watch::Sender<u64>,
    up: &watch::Sender<bool>,
    got_events: &mut bool,
) -> Result<()> {
    let endpoint = rpc.websocket_endpoint();
    let metrics = rpc.metrics();
    let ws_err = |reason: String| Error::WebSocket {
        url: endpoint.url.clone(),
        reason,
    };
    let connect_timeout = rpc.config().connect_timeout;
    let stream = endpoint
        .connect(connect_timeout)
        .await
        .map_err(|e| ws_err(e.to_string()))?;
    let (mut ws, _) = tokio::time::timeout(
        connect_timeout,
        tokio_tungstenite::client_async(endpoint.url.as_str(), stream),
    )
    .await
    .map_err(|_| ws_err("handshake timed out".into()))?
    .map_err(|e| ws_err(e.to_string()))?;
    let query = match config.event {
        BlockEvent::NewBlockHeader => "tm.event='NewBlockHeader'",
        BlockEvent::NewBlock => "tm.event='NewBlock'",
    };
    let subscribe = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": { "query": query }
    });
    ws.send(Message::text(subscribe.to_string()))
        .await
        .map_err(|e| ws_err(e.to_string()))?;
    let mut ping = tokio::time::interval(config.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    // Pings go out every ping_interval; a live node answers, so twice that
    // without any frame means the connection is dead.
    let read_deadline = config.ping_interval.saturating_mul(2);
    loop {
        tokio::select! {
            () = cancel.cancelled() => {
                let _ = ws.close(None).await;
                return Ok(());
            }
            _ = ping.tick() => {
                ws.send(Message::Ping(Vec::new().into())).await.map_err(|e| ws_err(e.to_string()))?;
            }
            msg = tokio::time::timeout(read_deadline, ws.next()) => {
                let msg = match msg {
                    Err(_) => return Err(ws_err(format!("silent for {read_deadline:?}"))),
                    Ok(None) => return Ok(()),
                    Ok(Some(Err(e))) => return Err(ws_err(e.to_string())),
                    Ok(Some(Ok(m))) => m,
                };
                let text = match msg {
                    Message::Text(t) => t,
                    Message::Close(frame) => {
                        return Err(ws_err(format!("closed by the node: {frame:?}")));
                    }
                    _ => continue,
                };
                let v: Value = serde_json::from_str(text.as_str())
                    .map_err(|e| ws_err(format!("not JSON: {e}")))?;
                if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
                    return Err(ws_err(format!("subscription error: {err}")));
                }
                if !*up.borrow() {
                    up.send_replace(true);
                    metrics.feed_websocket_up.set(1);
                    tracing::info!(url = %endpoint.url, query, "block feed: websocket subscribed");
                }
                if let Some(h) = event_height(&v) {
                    *got_events = true;
                    raise_tip(tip, h);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tip_only_rises() {
        let (tx, rx) = watch::channel(0u64);
        assert!(raise_tip(&tx, 5));
        assert!(!raise_tip(&tx, 3));
        assert!(!raise_tip(&tx, 5));
        assert!(raise_tip(&tx, 6));
        assert_eq!(*rx.borrow(), 6);
    }

    fn block(height: u64) -> Block {
        Block {
            height,
            hash: [u8::try_from(height % 256).unwrap_or(0); 32],
            time: prost_types::Timestamp::default(),
        }
    }

    #[tokio::test]
    async fn external_feed_only_moves_forward() {
        let (feed, driver) = BlockFeed::external();
        assert!(feed.latest().is_none());
        assert!(driver.deliver(block(5)));
        assert!(!driver.deliver(block(3)), "older height ignored");
        assert!(!driver.deliver(block(5)), "same height ignored");
        assert_eq!(feed.latest().map(|b| b.height), Some(5));
        assert!(driver.raise_tip(9));
        assert_eq!(feed.tip_height(), 9);
        assert!(driver.deliver(block(7)));
        assert_eq!(feed.tip_height(), 9, "the tip does not go down");
        assert_eq!(driver.latest_height(), 7);
        let b = feed
            .wait_for_height(7, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(b.hash, [7; 32]);
        drop(driver);
        assert!(matches!(
            feed.wait_for_height(8, Duration::from_secs(1)).await,
            Err(Error::Cancelled)
        ));
    }
}
