//! The block feed through Redis: the leader follows the node and
//! [`publish`]es every block; the other processes [`follow`] Redis instead of
//! each watching the node.
//!
//! A block travels as `<height> <hash hex> <time unix ms>`, PUBLISHed on
//! `blocks_channel` and SET under `block_latest` (10 minutes TTL). A follower
//! takes a block only if it is higher than the one it has (catch up by
//! height, never by count): pub/sub is fire-and-forget, so it also reads
//! `block_latest` every `latest_poll_interval` to pick up a missed message.
//! When Redis has brought nothing new for `stale_after` and the node is ahead
//! (twice, two polls apart: the leader may simply be a moment late), the
//! follower polls the node's `status` and `block` itself, and goes back to
//! Redis as soon as Redis has caught up with it. Both switches are logged.
//!
//! Blocks from Redis carry their time to the millisecond. The feed of a
//! follower has no ordered channel: its consumers only need the latest block.

use std::time::{Duration, Instant};

use chain::{Block, BlockFeed, ExternalFeed, RpcClient};
use fred::clients::SubscriberClient;
use fred::prelude::*;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{CacheError, Metrics};

/// Lifetime of `block_latest`, rewritten with every block.
pub const LATEST_TTL: Duration = Duration::from_secs(600);

/// How a follower reads Redis and when it turns to the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowOptions {
    /// How often `block_latest` is read (missed messages), and the node's
    /// `status` polled while following the node.
    pub latest_poll_interval: Duration,
    /// Redis silence after which the node is asked whether it is ahead.
    pub stale_after: Duration,
}

impl Default for FollowOptions {
    fn default() -> Self {
        FollowOptions {
            latest_poll_interval: Duration::from_secs(1),
            stale_after: Duration::from_secs(10),
        }
    }
}

/// The wire form of a block: `<height> <hash hex> <time unix ms>`.
#[must_use]
pub fn payload(block: &Block) -> String {
    let ms = block
        .time
        .seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(block.time.nanos) / 1_000_000);
    format!("{} {} {ms}", block.height, block.hash_hex())
}

/// Parses [`payload`]; `None` when malformed.
#[must_use]
pub fn parse_payload(text: &str) -> Option<Block> {
    let mut parts = text.split_ascii_whitespace();
    let height: u64 = parts.next()?.parse().ok()?;
    let hash: [u8; 32] = hex::decode(parts.next()?).ok()?.try_into().ok()?;
    let ms: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || height == 0 {
        return None;
    }
    let nanos = i32::try_from(ms.rem_euclid(1000) * 1_000_000).ok()?;
    Some(Block {
        height,
        hash,
        time: prost_types::Timestamp {
            seconds: ms.div_euclid(1000),
            nanos,
        },
    })
}

/// Publishes `block` to every follower: SET `block_latest` (10 minutes),
/// then PUBLISH on `blocks_channel`. For the leader, once per block.
///
/// # Errors
/// [`CacheError::Unavailable`] when Redis does not answer.
pub async fn publish(pool: &Pool, keys: &store::Keys, block: &Block) -> Result<(), CacheError> {
    let text = payload(block);
    let px = i64::try_from(LATEST_TTL.as_millis()).unwrap_or(i64::MAX);
    pool.set::<(), _, _>(
        keys.block_latest(),
        text.as_str(),
        Some(Expiration::PX(px)),
        None,
        false,
    )
    .await
    .map_err(|e| CacheError::Unavailable(format!("SET the latest block: {e}")))?;
    pool.next()
        .publish::<i64, _, _>(keys.blocks_channel(), text)
        .await
        .map_err(|e| CacheError::Unavailable(format!("PUBLISH block {}: {e}", block.height)))?;
    Ok(())
}

/// The latest published block, if any (and well-formed).
///
/// # Errors
/// [`CacheError::Unavailable`] when Redis does not answer.
pub async fn latest(pool: &Pool, keys: &store::Keys) -> Result<Option<Block>, CacheError> {
    let text: Option<String> = pool
        .get(keys.block_latest())
        .await
        .map_err(|e| CacheError::Unavailable(format!("GET the latest block: {e}")))?;
    Ok(text.as_deref().and_then(parse_payload))
}

/// Follows the blocks published on Redis (falling back to the node through
/// `rpc` while Redis is stale) until `cancel`. Returns once subscribed, with
/// the feed and its task (critical: nothing else moves the feed).
///
/// # Errors
/// [`CacheError::Unavailable`] when the subscription fails.
pub async fn follow(
    subscriber: SubscriberClient,
    pool: Pool,
    keys: store::Keys,
    rpc: RpcClient,
    options: FollowOptions,
    metrics: Metrics,
    cancel: CancellationToken,
) -> Result<(BlockFeed, JoinHandle<()>), CacheError> {
    let (feed, driver) = BlockFeed::external_for(&rpc);
    let channel = keys.blocks_channel();
    let rx = subscriber.message_rx();
    subscriber
        .subscribe(channel.as_str())
        .await
        .map_err(|e| CacheError::Unavailable(format!("subscribing to {channel}: {e}")))?;
    // Confirmed once a later PING on the same connection is answered.
    subscriber
        .ping::<fred::types::Value>(None)
        .await
        .map_err(|e| CacheError::Unavailable(format!("subscribing to {channel}: {e}")))?;
    let mut follower = Follower {
        driver,
        pool,
        keys,
        rpc,
        options,
        metrics,
        from_redis: true,
        last_redis: Instant::now(),
        last_node_check: Instant::now(),
        suspect_at: None,
    };
    follower.start().await;
    let task = tokio::spawn(async move {
        let _keep = subscriber;
        follower.run(rx, channel, cancel).await;
    });
    Ok((feed, task))
}

struct Follower {
    driver: ExternalFeed,
    pool: Pool,
    keys: store::Keys,
    rpc: RpcClient,
    options: FollowOptions,
    metrics: Metrics,
    /// Following Redis (else the node).
    from_redis: bool,
    /// When Redis last moved the feed.
    last_redis: Instant,
    /// When the node was last asked (while following Redis).
    last_node_check: Instant,
    /// The node was ahead of Redis: ask again at this instant, switch if it
    /// still is.
    suspect_at: Option<Instant>,
}

impl Follower {
    /// Starts on Redis if it has a block the node is not ahead of, else on
    /// the node.
    async fn start(&mut self) {
        let published = self.read_latest().await;
        let node = self.rpc.status().await.ok().map(|s| s.latest_height);
        match published {
            Some(b) if node.is_none_or(|n| n <= b.height) => {
                self.driver.deliver(b);
                self.set_source(true);
                tracing::info!(
                    height = self.driver.latest_height(),
                    "block feed: following the blocks published on Redis"
                );
            }
            _ => {
                self.set_source(false);
                tracing::info!(
                    published = ?published.map(|b| b.height),
                    node = ?node,
                    "block feed: no current block on Redis, following the node until the leader publishes"
                );
                self.poll_node().await;
            }
        }
    }

    async fn run(
        mut self,
        mut rx: tokio::sync::broadcast::Receiver<fred::types::Message>,
        channel: String,
        cancel: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(self.options.latest_poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                msg = rx.recv() => match msg {
                    Ok(m) if &*m.channel == channel.as_str() => {
                        if let Some(b) = m.value.as_str().as_deref().and_then(parse_payload) {
                            self.on_redis_block(b, false);
                        }
                    }
                    Ok(_) => {}
                    // Lost messages: the next latest-block read catches up.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        tracing::warn!("block feed: the Redis subscription ended");
                        return;
                    }
                },
                _ = tick.tick() => {
                    if self.driver.is_closed() {
                        return;
                    }
                    self.on_tick().await;
                }
            }
        }
    }

    async fn read_latest(&self) -> Option<Block> {
        match latest(&self.pool, &self.keys).await {
            Ok(b) => b,
            Err(e) => {
                self.metrics.l2_error("block_latest");
                tracing::debug!(error = %e, "block feed: cannot read the latest block");
                None
            }
        }
    }

    fn on_redis_block(&mut self, block: Block, from_latest_key: bool) {
        let height = block.height;
        if height < self.driver.latest_height() {
            return;
        }
        let moves = height > self.driver.latest_height();
        // Counters and the source switch come before the delivery, which
        // wakes anyone waiting for the height.
        if from_latest_key && moves {
            self.metrics.block_feed_catchups.inc();
        }
        let switch_back = !self.from_redis;
        if switch_back {
            // Redis has what the node gave us (or more): the leader is back.
            self.set_source(true);
            self.metrics
                .block_feed_switches
                .with_label_values(&["redis"])
                .inc();
            tracing::info!(
                height,
                "block feed: Redis caught up with the node, following Redis again"
            );
        }
        let _ = self.driver.deliver(block);
        if !switch_back && !moves {
            return;
        }
        self.last_redis = Instant::now();
        self.suspect_at = None;
    }

    async fn on_tick(&mut self) {
        if let Some(b) = self.read_latest().await {
            self.on_redis_block(b, true);
        }
        if !self.from_redis {
            self.poll_node().await;
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.last_redis) < self.options.stale_after {
            return;
        }
        let due = match self.suspect_at {
            Some(at) => now >= at,
            None => now.duration_since(self.last_node_check) >= self.options.stale_after,
        };
        if !due {
            return;
        }
        self.last_node_check = now;
        let ours = self.driver.latest_height();
        match self.rpc.status().await {
            Ok(s) if s.latest_height > ours => {
                if self.suspect_at.take().is_some() {
                    self.set_source(false);
                    self.metrics
                        .block_feed_switches
                        .with_label_values(&["node"])
                        .inc();
                    tracing::warn!(
                        redis_height = ours,
                        node_height = s.latest_height,
                        silent_for = ?now.duration_since(self.last_redis),
                        "block feed: Redis is stale (no leader publishing?), following the node"
                    );
                    self.poll_node().await;
                } else {
                    self.suspect_at = Some(now + 2 * self.options.latest_poll_interval);
                }
            }
            Ok(_) => self.suspect_at = None,
            Err(e) => {
                self.suspect_at = None;
                tracing::debug!(error = %e, "block feed: cannot ask the node whether Redis is stale");
            }
        }
    }

    /// One poll of the node: its latest height, and that block if newer.
    async fn poll_node(&mut self) {
        let height = match self.rpc.status().await {
            Ok(s) => s.latest_height,
            Err(e) => {
                tracing::warn!(error = %e, "block feed: node status failed");
                return;
            }
        };
        if height <= self.driver.latest_height() {
            return;
        }
        self.driver.raise_tip(height);
        match self.rpc.block(height).await {
            Ok(b) => {
                self.driver.deliver(b);
            }
            Err(e) => {
                tracing::warn!(height, error = %e, "block feed: cannot fetch a block from the node")
            }
        }
    }

    fn set_source(&mut self, redis: bool) {
        self.from_redis = redis;
        self.metrics.block_feed_redis.set(i64::from(redis));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_to_the_millisecond() {
        let b = Block {
            height: 42,
            hash: [0xab; 32],
            time: prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 123_456_789,
            },
        };
        let text = payload(&b);
        assert_eq!(text, format!("42 {} 1700000000123", "AB".repeat(32)));
        let back = parse_payload(&text).unwrap();
        assert_eq!(back.height, 42);
        assert_eq!(back.hash, b.hash);
        assert_eq!(back.time.seconds, 1_700_000_000);
        assert_eq!(back.time.nanos, 123_000_000);
        assert_eq!(parse_payload(&text.to_lowercase()).unwrap().hash, b.hash);
    }

    #[test]
    fn malformed_payloads_are_refused() {
        let hash = "00".repeat(32);
        for bad in [
            "".to_owned(),
            "x".to_owned(),
            format!("0 {hash} 1"),
            format!("1 {} 1", "00".repeat(31)),
            format!("1 {hash}"),
            format!("1 {hash} 1 extra"),
            format!("-1 {hash} 1"),
        ] {
            assert!(parse_payload(&bad).is_none(), "{bad:?}");
        }
    }
}
