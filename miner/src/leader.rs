//! The global leader: one replica at a time (a lease like a supplier's)
//! runs the chain-facing singletons for everyone: it publishes each block
//! of its feed to Redis (relayers follow blocks from there) and refreshes
//! the cached applications and suppliers every few blocks, publishing an
//! invalidation when the chain changed one. Losing the lease stops both at
//! once; another replica takes over within the lease TTL plus one poll.

use std::sync::Arc;

use store::lease::{Held, Lease};
use tokio_util::sync::CancellationToken;

use crate::supervisor::MinerDeps;

/// Blocks between two refreshes of the known cache entries.
pub const REFRESH_EVERY_BLOCKS: u64 = 4;

/// Runs the leader loop until `cancel`: take the leader lease when free,
/// lead while holding it, release it on shutdown.
pub async fn run_leader(deps: Arc<MinerDeps>, cancel: CancellationToken) {
    let cfg = &deps.config;
    let keys = match store::Keys::new(&cfg.redis.namespace) {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(error = %e, "bad namespace");
            return;
        }
    };
    let instance = deps.instance();
    let key = keys.leader_lease();
    let lease = Lease::new(
        deps.pool.clone(),
        key.clone(),
        keys.lease_fence(&key),
        &instance,
        cfg.lease_ttl,
    );
    let event = |e: &str| {
        deps.metrics
            .lease_events
            .with_label_values(&["leader", e])
            .inc()
    };
    while !cancel.is_cancelled() {
        match lease.try_acquire().await {
            Ok(Some(held)) => {
                event("acquired");
                deps.metrics.leader.set(1);
                tracing::info!(%instance, token = held.token, "became the global leader");
                let leading = cancel.child_token();
                let mut alive = lease.clone().keep(held.clone(), leading.clone());
                tokio::select! {
                    _ = lead(&deps, &keys, &held, &leading) => {}
                    _ = alive.wait_for(|v| !*v) => {
                        event("lost");
                        tracing::warn!(%instance, "lost the global leader lease");
                    }
                    _ = cancel.cancelled() => {}
                }
                leading.cancel();
                deps.metrics.leader.set(0);
                if cancel.is_cancelled() {
                    if lease.release(&held).await.is_ok() {
                        event("released");
                        tracing::info!(%instance, "global leader lease released");
                    }
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "leader lease acquire failed"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(cfg.lease_poll) => {}
        }
    }
}

/// The leader's duties, until `leading` is cancelled: publish every block
/// the feed delivers; refresh the known cache entries every few blocks.
async fn lead(deps: &MinerDeps, keys: &store::Keys, held: &Held, leading: &CancellationToken) {
    let mut blocks = deps.cache.feed().watch();
    let mut last_published = 0u64;
    let mut last_refresh = 0u64;
    loop {
        let latest = blocks.borrow_and_update().clone();
        if let Some(block) = latest.filter(|b| b.height > last_published) {
            match cache::blocks::publish(&deps.pool, keys, &block).await {
                Ok(()) => {
                    deps.metrics.blocks_published.inc();
                    last_published = block.height;
                }
                Err(e) => tracing::warn!(height = block.height, error = %e, "block not published"),
            }
            if block.height >= last_refresh + REFRESH_EVERY_BLOCKS {
                last_refresh = block.height;
                match deps.cache.refresh_known().await {
                    Ok(report) => {
                        tracing::debug!(
                            ?report,
                            token = held.token,
                            "known cache entries refreshed"
                        )
                    }
                    Err(e) => tracing::warn!(error = %e, "cache refresh failed"),
                }
            }
        }
        tokio::select! {
            _ = leading.cancelled() => return,
            r = blocks.changed() => if r.is_err() { return },
        }
    }
}
