//! `pocket-relay-miner relayer`: the relay server.
//!
//! Start-up: Redis, chain clients (chain id checked), block feed (the
//! leader's blocks on Redis, or the node: `chain_feed`), cache with its
//! invalidation listener, the relay router served at once (not ready), then
//! the supplier checks (every operator account has its public key on chain,
//! README pitfall 9), cache warm-up (params, then the configured and known
//! applications with their rings: `cache_warmup`), and readiness. Shutdown:
//! readiness false, stop accepting, in-flight relays and the relayer's
//! background tasks (publishing) drained under `drain_timeout`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use relayer::config::{CacheWarmupConfig, ChainFeedConfig, ChainFeedSource};
use relayer::{Readiness, Relayer, RelayerConfig, RelayerParts};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{BlockSource, ChainLink, connect_redis, drain};
use crate::ops;

/// How long start-up waits for the first block.
const TIP_WAIT: Duration = Duration::from_secs(60);

/// A running relayer.
pub struct RelayerHandle {
    /// Where relays (and `/health`, `/ready`, `/metrics`) are served.
    pub addr: SocketAddr,
    /// Ends after `stop` fired and the drain finished: `Ok(true)` when it
    /// completed in time. An error when a critical task (the block feed) died.
    pub done: JoinHandle<anyhow::Result<bool>>,
}

/// Starts a relayer from a validated configuration and its supplier keys.
/// Returns once it is ready. Cancelling `stop` drains and stops it.
pub async fn start(
    cfg: RelayerConfig,
    keys: Vec<chain::OperatorKey>,
    stop: CancellationToken,
) -> anyhow::Result<RelayerHandle> {
    // Background work (block feed, invalidations) outlives `stop` until the
    // drain is over: in-flight relays still need the cache.
    let background = CancellationToken::new();
    let guard = background.clone().drop_guard();
    let registry = prometheus::Registry::new();
    let (pool, _) = connect_redis(&cfg.redis).await?;
    let link = ChainLink::connect_with(
        &cfg.chain,
        &cfg.redis,
        pool.clone(),
        &registry,
        block_source(&cfg.chain_feed),
        &background,
    )
    .await?;
    let warmup = cfg.cache_warmup.clone();
    let signers = ring_keys(&keys)?;
    let drain_timeout = cfg.drain_timeout;
    let listen = cfg.listen;
    let max_body = cfg.max_body_bytes;
    let services: Vec<String> = cfg.services.keys().cloned().collect();
    let relayer = Relayer::new(
        RelayerParts {
            config: cfg,
            supplier_keys: signers,
            redis: pool,
            registry: registry.clone(),
        },
        link.cache.clone(),
    )
    .map_err(|e| anyhow::anyhow!("building the relayer: {e}"))?;
    let ready = Arc::new(Readiness::default());
    let listener = ops::bind(listen, "relay").await?;
    let addr = listener.local_addr().context("relay listener address")?;
    let router = relayer::router(relayer.clone(), ready.clone(), registry, max_body);
    let mut server = tokio::spawn(ops::serve(listener, router, stop.clone()));
    tracing::info!(%addr, "relay server listening (not ready yet)");

    let warm = async {
        let tip = link.wait_for_tip(TIP_WAIT, &stop).await?;
        check_suppliers(&link.cache, &keys, &services).await?;
        warm_up(&link.cache, tip, &warmup).await
    };
    if let Err(e) = warm.await {
        stop.cancel();
        let _ = (&mut server).await;
        return Err(e);
    }
    ready.set(true);
    tracing::info!(%addr, suppliers = keys.len(), "relayer ready");

    let mut feed_task = link.feed_task;
    let done = tokio::spawn(async move {
        let _guard = guard;
        let (failure, server_ended) = tokio::select! {
            biased;
            _ = stop.cancelled() => (None, false),
            _ = &mut feed_task => (Some(anyhow::anyhow!("the block feed stopped: the relayer cannot validate relays")), false),
            _ = &mut server => {
                let failure = (!stop.is_cancelled())
                    .then(|| anyhow::anyhow!("the relay server stopped"));
                (failure, true)
            }
        };
        ready.set(false);
        stop.cancel();
        tracing::info!("relayer draining: not ready, no new connections");
        let started = tokio::time::Instant::now();
        let served = server_ended || drain("in-flight relays", drain_timeout, &mut server).await;
        relayer.tasks().close();
        let rest = drain_timeout.saturating_sub(started.elapsed());
        let published = drain("relay publishing", rest, async {
            relayer.tasks().wait().await;
            let backlog = relayer.publish_backlog();
            if backlog > 0 {
                tracing::info!(backlog, "publishing the queued relays");
            }
            relayer.flush_publishing().await;
        })
        .await;
        let complete = served && published;
        if complete {
            tracing::info!("relayer drain completed");
        } else {
            tracing::warn!("relayer drain did not complete within drain_timeout");
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(complete),
        }
    });
    Ok(RelayerHandle { addr, done })
}

/// `pocket-relay-miner relayer --config <file>`.
pub async fn run(path: &std::path::Path) -> anyhow::Result<()> {
    let (loaded, keys) = crate::config::load(crate::config::Role::Relayer, path)?;
    let crate::config::Loaded::Relayer(cfg) = loaded else {
        anyhow::bail!("internal: a relayer configuration was expected");
    };
    let stop = CancellationToken::new();
    let starting = async { anyhow::Ok(start(*cfg, keys, stop.clone()).await?.done) };
    let stopped = ops::run_until_signal(starting, stop.clone(), "relayer").await?;
    if stopped == Some(false) {
        tracing::warn!("exiting with relays or publications still in flight");
    }
    Ok(())
}

/// The operator keys as `rings` response signers. The raw secret is copied
/// only for the conversion and overwritten right after.
pub fn ring_keys(keys: &[chain::OperatorKey]) -> anyhow::Result<Vec<rings::PrivateKey>> {
    keys.iter()
        .map(|k| {
            let mut secret = k.secret_bytes();
            let key = rings::PrivateKey::from_bytes(&secret);
            secret.fill(0);
            key.map_err(|e| anyhow::anyhow!("supplier key {}: {e}", k.address()))
        })
        .collect()
}

/// README pitfall 9: PATH verifies every response with the operator's public
/// key on chain and blacklists a supplier without one. Refuse to start when a
/// key is missing or differs; warn about suppliers not staked for the
/// configured services.
async fn check_suppliers(
    cache: &cache::ChainCache,
    keys: &[chain::OperatorKey],
    services: &[String],
) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    let mut staked_services = std::collections::BTreeSet::new();
    for k in keys {
        let addr = k.address();
        match cache.pubkey(addr).await {
            Ok(pk) if pk == k.public_key() => {}
            Ok(_) => problems.push(format!(
                "supplier operator {addr}: the public key on chain is not this key's"
            )),
            Err(cache::CacheError::NotFound(_)) => problems.push(format!(
                "supplier operator {addr} has no public key on chain: PATH cannot verify its \
                 responses and blacklists it. Send any transaction signed by this account (e.g. a \
                 1upokt transfer to itself) and start again"
            )),
            Err(e @ cache::CacheError::Unavailable(_)) => {
                return Err(anyhow::anyhow!("checking supplier {addr}'s account: {e}"));
            }
        }
        match cache.supplier(addr).await {
            Ok(s) => staked_services.extend(s.services.iter().map(|s| s.service_id.clone())),
            Err(cache::CacheError::NotFound(_)) => tracing::warn!(
                supplier = addr,
                "supplier is not staked: its relays are refused until it is"
            ),
            Err(e) => return Err(anyhow::anyhow!("checking supplier {addr}: {e}")),
        }
    }
    for s in services {
        if !staked_services.contains(s) {
            tracing::warn!(
                service = %s,
                "no configured supplier is staked for this service: its relays are refused"
            );
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "refusing to serve:\n  - {}",
            problems.join("\n  - ")
        ))
    }
}

/// The relayer's block source from its configuration.
fn block_source(cfg: &ChainFeedConfig) -> BlockSource {
    match cfg.source {
        ChainFeedSource::Node => BlockSource::Node,
        ChainFeedSource::Redis => BlockSource::Redis(cache::blocks::FollowOptions {
            latest_poll_interval: cfg.latest_poll_interval,
            stale_after: cfg.stale_after,
        }),
    }
}

/// Loads what every relay needs first, so the first relays do not all miss:
/// the params at the tip (required), then the configured and known
/// applications with their rings (best effort, bounded by its timeout).
async fn warm_up(
    cache: &cache::ChainCache,
    tip: i64,
    cfg: &CacheWarmupConfig,
) -> anyhow::Result<()> {
    cache
        .shared_params_at(tip)
        .await
        .map_err(|e| anyhow::anyhow!("warming the cache (shared params at {tip}): {e}"))?;
    cache
        .suppliers_per_session(tip)
        .await
        .map_err(|e| anyhow::anyhow!("warming the cache (session params at {tip}): {e}"))?;
    if !cfg.enabled {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let report = cache
        .warm_up(&cfg.known_applications, cfg.concurrency, cfg.timeout)
        .await;
    tracing::info!(
        applications = report.requested,
        warmed = report.warmed,
        rings = report.rings,
        not_found = report.not_found,
        failed = report.failed,
        timed_out = report.timed_out,
        took = ?started.elapsed(),
        "cache warmed up"
    );
    Ok(())
}
