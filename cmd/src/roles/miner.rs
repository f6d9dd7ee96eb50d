//! `pocket-relay-miner miner`: one supplier loop per key (lease, ingest,
//! claims and proofs), with `/health`, `/ready` and `/metrics` on
//! `listen`. Shutdown: readiness false, every supplier loop stops and
//! releases its lease (another replica takes over at once), then the block
//! feed and the account tasks stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use miner::supervisor::{MinerConfig, MinerDeps, SupplierDeps, run_miner};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{ChainLink, connect_redis, drain};
use crate::ops;

/// How long start-up waits for the first block.
const TIP_WAIT: Duration = Duration::from_secs(60);
/// How long the supplier loops get to stop and release their leases.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running miner.
pub struct MinerHandle {
    /// Where `/health`, `/ready` and `/metrics` are served.
    pub ops_addr: SocketAddr,
    /// Ends after `stop` fired and every supplier loop stopped: `Ok(true)`
    /// when they all stopped in time. An error when a critical task (the
    /// block feed) died.
    pub done: JoinHandle<anyhow::Result<bool>>,
}

/// Starts a miner from a validated configuration and its supplier keys.
/// Returns once every supplier loop runs. Cancelling `stop` stops it.
pub async fn start(
    cfg: MinerConfig,
    keys: Vec<chain::OperatorKey>,
    stop: CancellationToken,
) -> anyhow::Result<MinerHandle> {
    let background = CancellationToken::new();
    let guard = background.clone().drop_guard();
    let registry = prometheus::Registry::new();
    let (pool, info) = connect_redis(&cfg.redis).await?;
    let link =
        ChainLink::connect(&cfg.chain, &cfg.redis, pool.clone(), &registry, &background).await?;
    let ready = Arc::new(ops::Ready::default());
    let listener = ops::bind(cfg.listen, "miner operations").await?;
    let ops_addr = listener
        .local_addr()
        .context("operations listener address")?;
    let ops_server = tokio::spawn(ops::serve(
        listener,
        ops::ops_router(ready.clone(), registry.clone()),
        background.clone(),
    ));
    link.wait_for_tip(TIP_WAIT, &stop).await?;

    let mut suppliers = Vec::new();
    for key in keys {
        let supplier = key.address().to_owned();
        let (account, _task) = chain::AccountHandle::spawn(
            key,
            link.query.clone(),
            link.cache.feed().watch(),
            cfg.chain.tx.clone(),
            cfg.chain.chain_id.clone(),
            link.metrics.clone(),
            background.clone(),
        );
        suppliers.push(SupplierDeps { supplier, account });
    }
    let names: Vec<String> = suppliers.iter().map(|s| s.supplier.clone()).collect();
    let deps = Arc::new(MinerDeps {
        config: cfg,
        pool,
        has_xackdel: info.has_xackdel,
        cache: link.cache.clone(),
        query: link.query.clone(),
        rpc: link.rpc.clone(),
        metrics: miner::metrics::Metrics::new(&registry).context("registering miner metrics")?,
    });
    let loops = TaskTracker::new();
    loops.spawn(run_miner(deps, suppliers, stop.clone()));
    loops.close();
    ready.set(true);
    tracing::info!(%ops_addr, suppliers = ?names, "miner running");

    let mut feed_task = link.feed_task;
    let done = tokio::spawn(async move {
        let guard = guard;
        let failure = tokio::select! {
            biased;
            _ = stop.cancelled() => None,
            _ = &mut feed_task => Some(anyhow::anyhow!("the block feed stopped: the miner cannot follow sessions")),
        };
        ready.set(false);
        stop.cancel();
        tracing::info!("miner stopping: releasing supplier leases");
        let stopped = drain("supplier loops", STOP_TIMEOUT, loops.wait()).await;
        drop(guard);
        let _ = ops_server.await;
        match failure {
            Some(e) => Err(e),
            None => Ok(stopped),
        }
    });
    Ok(MinerHandle { ops_addr, done })
}

/// `pocket-relay-miner miner --config <file>`.
pub async fn run(path: &std::path::Path) -> anyhow::Result<()> {
    let (loaded, keys) = crate::config::load(crate::config::Role::Miner, path)?;
    let crate::config::Loaded::Miner(cfg) = loaded else {
        anyhow::bail!("internal: a miner configuration was expected");
    };
    let stop = CancellationToken::new();
    let starting = async { anyhow::Ok(start(*cfg, keys, stop.clone()).await?.done) };
    let stopped = ops::run_until_signal(starting, stop.clone(), "miner").await?;
    if stopped == Some(false) {
        tracing::warn!(
            "exiting before every supplier loop stopped; its lease expires with its TTL"
        );
    }
    Ok(())
}
