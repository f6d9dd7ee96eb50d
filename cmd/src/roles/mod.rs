//! The long-running roles (`relayer`, `miner`) as start functions that the
//! commands and `localnet` share: each builds its dependencies from a
//! validated configuration, serves, and drains on cancel.

pub mod miner;
pub mod relayer;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

/// Where a role learns new blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockSource {
    /// The node: websocket subscription, gap backfill, `status` polls (the
    /// miner; its leader publishes these blocks on Redis).
    Node,
    /// The blocks the leader publishes on Redis, the node while Redis is
    /// stale (the relayer).
    Redis(cache::blocks::FollowOptions),
}

/// The chain side of a role: clients, the block feed and the cache.
pub struct ChainLink {
    /// Chain metrics (registered on the role's registry).
    pub metrics: chain::Metrics,
    /// gRPC queries.
    pub query: chain::QueryClient,
    /// CometBFT RPC.
    pub rpc: chain::RpcClient,
    /// The cache over the chain (L2 in Redis), tip from the block feed.
    pub cache: Arc<cache::ChainCache>,
    /// The block feed task (the node feed or the Redis follower): critical,
    /// it ends only on cancel.
    pub feed_task: tokio::task::JoinHandle<()>,
}

impl ChainLink {
    /// [`ChainLink::connect_with`] the block feed following the node (the
    /// miner's).
    pub async fn connect(
        cfg: &chain::ChainConfig,
        redis_cfg: &store::RedisConfig,
        pool: fred::prelude::Pool,
        registry: &prometheus::Registry,
        cancel: &CancellationToken,
    ) -> anyhow::Result<ChainLink> {
        Self::connect_with(cfg, redis_cfg, pool, registry, BlockSource::Node, cancel).await
    }

    /// Connects to the chain: checks the chain id, starts the block feed
    /// (from `blocks`) and the cache with its Redis invalidation listener,
    /// and registers the chain and cache metrics on `registry`. Stops when
    /// `cancel` fires.
    pub async fn connect_with(
        cfg: &chain::ChainConfig,
        redis_cfg: &store::RedisConfig,
        pool: fred::prelude::Pool,
        registry: &prometheus::Registry,
        blocks: BlockSource,
        cancel: &CancellationToken,
    ) -> anyhow::Result<ChainLink> {
        let metrics = chain::Metrics::new(registry).context("registering chain metrics")?;
        let cache_metrics = cache::Metrics::new(registry).context("registering cache metrics")?;
        let query = chain::QueryClient::new(&cfg.grpc, metrics.clone()).context("chain gRPC")?;
        let rpc = chain::RpcClient::new(&cfg.rpc, metrics.clone()).context("chain RPC")?;
        rpc.check_chain_id(&cfg.chain_id)
            .await
            .with_context(|| format!("checking the chain id at {}", cfg.rpc.url))?;
        let keys = store::Keys::new(&redis_cfg.namespace).context("redis namespace")?;
        let (feed, feed_task) = match blocks {
            BlockSource::Node => {
                let (feed, task, mut blocks) = chain::BlockFeed::new(
                    rpc.clone(),
                    cfg.block_feed.clone(),
                    chain::StartAt::Tip,
                    cancel.clone(),
                );
                let feed_task = tokio::spawn(async move {
                    // Only the latest block matters here; keep the ordered
                    // channel drained so the feed never pauses.
                    let drain = async { while blocks.recv().await.is_some() {} };
                    tokio::join!(task.run(), drain);
                });
                (feed, feed_task)
            }
            BlockSource::Redis(options) => {
                let subscriber = store::connect_subscriber(redis_cfg)
                    .await
                    .context("connecting the block feed subscriber")?;
                cache::blocks::follow(
                    subscriber,
                    pool.clone(),
                    keys.clone(),
                    rpc.clone(),
                    options,
                    cache_metrics.clone(),
                    cancel.clone(),
                )
                .await
                .map_err(|e| anyhow::anyhow!("following the blocks on Redis: {e}"))?
            }
        };
        let cache = cache::ChainCache::with_metrics(
            query.clone(),
            feed,
            Some((pool, keys.clone())),
            cache::Ttls::default(),
            cache_metrics,
        );
        let subscriber = store::connect_subscriber(redis_cfg)
            .await
            .context("connecting the cache invalidation subscriber")?;
        // Detached: it stops with `cancel`.
        let _listener = cache
            .spawn_invalidation_listener(subscriber, keys, cancel.clone())
            .await
            .map_err(|e| anyhow::anyhow!("cache invalidation listener: {e}"))?;
        Ok(ChainLink {
            metrics,
            query,
            rpc,
            cache,
            feed_task,
        })
    }

    /// Waits for the first block from the feed, or fails after `timeout` or on cancel.
    pub async fn wait_for_tip(
        &self,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> anyhow::Result<i64> {
        tokio::select! {
            r = self.cache.feed().wait_for_height(1, timeout) => {
                let b = r.context("waiting for the first block from the chain")?;
                Ok(i64::try_from(b.height).unwrap_or(i64::MAX))
            }
            _ = cancel.cancelled() => anyhow::bail!("cancelled while waiting for the chain"),
        }
    }
}

/// Connects the Redis command pool and logs what the server is.
pub async fn connect_redis(
    cfg: &store::RedisConfig,
) -> anyhow::Result<(fred::prelude::Pool, store::ServerInfo)> {
    let pool = store::connect_pool(cfg)
        .await
        .with_context(|| format!("connecting to Redis at {}", store::redact(&cfg.url)))?;
    let info = store::probe(pool.next())
        .await
        .context("probing the Redis server")?;
    tracing::info!(
        url = %store::redact(&cfg.url),
        version = %info.version,
        valkey = ?info.valkey_version,
        xackdel = info.has_xackdel,
        "connected to Redis"
    );
    Ok((pool, info))
}

/// Waits up to `timeout` for `what` to finish; logs and returns whether it did.
pub async fn drain<F: std::future::Future>(what: &str, timeout: Duration, fut: F) -> bool {
    match tokio::time::timeout(timeout, fut).await {
        Ok(_) => {
            tracing::info!("{what}: drained");
            true
        }
        Err(_) => {
            tracing::warn!(
                "{what}: drain did not complete within {}",
                humantime_serde::re::humantime::format_duration(timeout)
            );
            false
        }
    }
}
