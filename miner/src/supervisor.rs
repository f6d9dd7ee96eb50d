//! Ownership and tasks: for every supplier key, a loop that takes the
//! supplier's lease when it is free, runs ingest and the lifecycle while the
//! lease is held, and stops both the moment it is lost. After a crash of the
//! owner another replica takes over within the lease TTL plus one poll.
//!
//! Balance: every replica heartbeats into a sorted set; each aims to own
//! `ceil(suppliers / live replicas)` suppliers, takes free leases only while
//! below that share (or when a lease has stayed free for several polls, so
//! nothing is left unowned), and hands surplus suppliers over gracefully
//! (release, then a cool-down) when a replica joins.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use store::lease::{Held, Lease};
use store::leaves::LeafStore;
use store::streams::{ConsumerOptions, RelayConsumer};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::ingest::{Ingest, run as run_ingest};
use crate::metrics::Metrics;
use crate::runner::{LifecycleConfig, RunnerChain, SupplierRunner, SupplierStatus};

/// The miner's configuration (`config.miner.example.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MinerConfig {
    /// Redis (streams, leaves, leases).
    pub redis: store::RedisConfig,
    /// The chain node (queries, blocks, transactions).
    pub chain: chain::ChainConfig,
    /// Supplier operator keys (several suppliers per process).
    pub keys_file: Option<PathBuf>,
    /// This replica's name in leases and consumer groups (default host-pid).
    pub instance: Option<String>,
    /// Address of the operations endpoints (`/health`, `/ready`, `/metrics`).
    pub listen: SocketAddr,
    /// Lease time-to-live: how long a dead owner keeps a supplier. Renewed
    /// every third of it.
    #[serde(with = "humantime_serde")]
    pub lease_ttl: Duration,
    /// How often a replica without a supplier's lease tries to take it.
    #[serde(with = "humantime_serde")]
    pub lease_poll: Duration,
    /// Stream entries per read.
    pub ingest_batch: usize,
    /// Longest a stream read blocks.
    #[serde(with = "humantime_serde")]
    pub ingest_block: Duration,
    /// Entries pending this long with another consumer are reclaimed.
    #[serde(with = "humantime_serde")]
    pub reclaim_idle: Duration,
    /// Lifetime of a session's leaves and state without writes.
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
    /// Skip claims worth less than this many uPOKT (0 claims everything).
    pub skip_claims_below_upokt: u128,
    /// Most claim or proof messages per transaction.
    pub max_messages_per_tx: usize,
}

impl Default for MinerConfig {
    fn default() -> Self {
        MinerConfig {
            redis: store::RedisConfig::default(),
            chain: chain::ChainConfig::default(),
            keys_file: None,
            instance: None,
            listen: SocketAddr::from(([0, 0, 0, 0], 9092)),
            lease_ttl: Duration::from_secs(3),
            lease_poll: Duration::from_millis(500),
            ingest_batch: 1000,
            ingest_block: Duration::from_millis(200),
            reclaim_idle: Duration::from_secs(2),
            session_ttl: Duration::from_secs(24 * 3600),
            skip_claims_below_upokt: 1,
            max_messages_per_tx: 32,
        }
    }
}

impl MinerConfig {
    /// Parses YAML, rejecting unknown keys.
    pub fn from_yaml(text: &str) -> std::result::Result<Self, String> {
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    }

    /// `Ok(warnings)` when the configuration can run, else every error.
    pub fn validate(&self) -> std::result::Result<Vec<String>, Vec<String>> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        match self.redis.validate() {
            Ok(w) => warnings.extend(w),
            Err(e) => errors.push(e.to_string()),
        }
        match self.chain.validate() {
            Ok(w) => warnings.extend(w),
            Err(e) => errors.push(e.to_string()),
        }
        if self.keys_file.is_none() {
            errors.push("keys_file is required (supplier operator keys)".into());
        }
        if self.lease_ttl < Duration::from_millis(300) {
            errors.push("lease_ttl below 300ms cannot be renewed reliably".into());
        }
        if self.lease_ttl > Duration::from_secs(30) {
            warnings.push("lease_ttl above 30s slows failover".into());
        }
        if self.ingest_block >= self.lease_ttl {
            errors.push("ingest_block must be shorter than lease_ttl".into());
        }
        if self.ingest_batch == 0 || self.max_messages_per_tx == 0 {
            errors.push("ingest_batch and max_messages_per_tx must be positive".into());
        }
        if errors.is_empty() {
            Ok(warnings)
        } else {
            Err(errors)
        }
    }
}

/// Everything one supplier needs, built once per process.
pub struct SupplierDeps {
    /// Supplier operator address.
    pub supplier: String,
    /// Its signing account (one task per key).
    pub account: chain::AccountHandle,
}

/// Shared by every supplier loop of a process.
pub struct MinerDeps {
    /// Configuration.
    pub config: MinerConfig,
    /// Redis command pool.
    pub pool: fred::prelude::Pool,
    /// Whether the server has XACKDEL.
    pub has_xackdel: bool,
    /// The chain cache (params, difficulty, tip).
    pub cache: Arc<cache::ChainCache>,
    /// Queries.
    pub query: chain::QueryClient,
    /// CometBFT RPC (seed block hashes, settlement results).
    pub rpc: chain::RpcClient,
    /// Miner metrics.
    pub metrics: Metrics,
}

impl MinerDeps {
    /// This replica's name (configured, else `miner-<pid>`).
    pub fn instance(&self) -> String {
        self.config
            .instance
            .clone()
            .unwrap_or_else(|| format!("miner-{}", std::process::id()))
    }
}

/// Polls a lease must stay free before a replica at its share takes it.
const FREE_POLLS_BEFORE_TAKING: u32 = 3;

/// How many suppliers this replica owns and should own.
#[derive(Debug)]
pub struct Ownership {
    total: usize,
    held: AtomicUsize,
    share: AtomicUsize,
    to_release: AtomicUsize,
}

impl Ownership {
    /// For `total` supplier keys; until the first heartbeat the share is all of them.
    pub fn new(total: usize) -> Self {
        Ownership {
            total,
            held: AtomicUsize::new(0),
            share: AtomicUsize::new(total),
            to_release: AtomicUsize::new(0),
        }
    }

    /// Suppliers owned now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// Suppliers this replica aims to own.
    pub fn share(&self) -> usize {
        self.share.load(Ordering::SeqCst)
    }

    /// Sets the share from the number of live replicas; asks for surplus
    /// suppliers to be handed over. Returns the share.
    pub fn rebalance(&self, live_replicas: usize) -> usize {
        let share = self.total.div_ceil(live_replicas.max(1));
        self.share.store(share, Ordering::SeqCst);
        let held = self.held();
        self.to_release
            .store(held.saturating_sub(share), Ordering::SeqCst);
        share
    }

    /// Takes one hand-over request, if any.
    fn take_release(&self) -> bool {
        self.to_release
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
            .is_ok()
    }
}

/// Heartbeats this replica every third of the lease TTL and keeps the
/// ownership share current, until `cancel`; then leaves the replica set.
pub async fn heartbeat(deps: Arc<MinerDeps>, ownership: Arc<Ownership>, cancel: CancellationToken) {
    let keys = match store::Keys::new(&deps.config.redis.namespace) {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(error = %e, "bad namespace");
            return;
        }
    };
    let instance = deps.instance();
    let every = deps.config.lease_ttl / 3;
    let mut last_share = usize::MAX;
    loop {
        match beat(&deps.pool, &keys, &instance, deps.config.lease_ttl).await {
            Ok(live) => {
                let share = ownership.rebalance(live);
                deps.metrics.replicas.set(live as i64);
                deps.metrics.share.set(share as i64);
                if share != last_share {
                    tracing::info!(%instance, live_replicas = live, share, "supplier share");
                    last_share = share;
                }
            }
            Err(e) => tracing::warn!(error = %e, "miner heartbeat failed"),
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
    }
    let _ = fred::prelude::SortedSetsInterface::zrem::<i64, _, _>(
        &deps.pool,
        keys.miner_replicas(),
        instance.as_str(),
    )
    .await;
}

/// One heartbeat: records this replica, drops stale ones, counts the live.
async fn beat(
    pool: &fred::prelude::Pool,
    keys: &store::Keys,
    instance: &str,
    ttl: Duration,
) -> std::result::Result<usize, fred::error::Error> {
    use fred::prelude::*;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as f64)
        .unwrap_or(0.0);
    let key = keys.miner_replicas();
    let stale = now - 3.0 * ttl.as_millis() as f64;
    let pipe = pool.next().pipeline();
    let _: () = pipe
        .zadd(key.as_str(), None, None, false, false, (now, instance))
        .await?;
    let _: () = pipe
        .zremrangebyscore(key.as_str(), f64::NEG_INFINITY, stale)
        .await?;
    let _: () = pipe.zcard(key.as_str()).await?;
    let _: () = pipe
        .pexpire(key.as_str(), (ttl.as_millis() * 10) as i64, None)
        .await?;
    let (_, _, live, _): (i64, i64, i64, i64) = pipe.all().await?;
    Ok(usize::try_from(live).unwrap_or(1).max(1))
}

/// Runs every supplier of this replica, its heartbeat and the global
/// leader loop until `cancel`; returns when all of them stopped (leases
/// released).
pub async fn run_miner(
    deps: Arc<MinerDeps>,
    suppliers: Vec<SupplierDeps>,
    cancel: CancellationToken,
) {
    let ownership = Arc::new(Ownership::new(suppliers.len()));
    let tasks = tokio_util::task::TaskTracker::new();
    tasks.spawn(heartbeat(deps.clone(), ownership.clone(), cancel.clone()));
    tasks.spawn(crate::leader::run_leader(deps.clone(), cancel.clone()));
    for s in suppliers {
        tasks.spawn(run_supplier(
            deps.clone(),
            s,
            ownership.clone(),
            cancel.clone(),
        ));
    }
    tasks.close();
    tasks.wait().await;
}

/// How the ownership of a supplier ended.
enum Ended {
    /// Lost, failed or cancelled.
    Stopped,
    /// Handed over to rebalance.
    HandedOver,
}

/// Runs one supplier until `cancel`: take the lease when it is free and
/// this replica is below its share, work while holding it, hand it over
/// when asked to rebalance, give it back on shutdown. Errors other than
/// lease loss are logged and retried; the loop only ends on `cancel`.
pub async fn run_supplier(
    deps: Arc<MinerDeps>,
    sup: SupplierDeps,
    ownership: Arc<Ownership>,
    cancel: CancellationToken,
) {
    let cfg = &deps.config;
    let instance = deps.instance();
    let keys = match store::Keys::new(&cfg.redis.namespace) {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(error = %e, "bad namespace");
            return;
        }
    };
    let lease_key = keys.supplier_lease(&sup.supplier);
    let lease = Lease::new(
        deps.pool.clone(),
        lease_key.clone(),
        keys.lease_fence(&lease_key),
        &instance,
        cfg.lease_ttl,
    );
    let events = |e: &str| {
        deps.metrics
            .lease_events
            .with_label_values(&["supplier", e])
            .inc()
    };
    let mut free_polls = 0u32;
    let mut cooldown_until: Option<Instant> = None;
    while !cancel.is_cancelled() {
        let cooling = cooldown_until.is_some_and(|t| Instant::now() < t);
        let below_share = ownership.held() < ownership.share() && !cooling;
        let unowned_too_long = free_polls >= FREE_POLLS_BEFORE_TAKING * if cooling { 3 } else { 1 };
        if below_share || unowned_too_long {
            match lease.try_acquire().await {
                Ok(Some(held)) => {
                    free_polls = 0;
                    ownership.held.fetch_add(1, Ordering::SeqCst);
                    deps.metrics.leases_held.inc();
                    events("acquired");
                    tracing::info!(supplier = %sup.supplier, instance = %instance, token = held.token, "took supplier lease");
                    let owned = cancel.child_token();
                    let alive = lease.clone().keep(held.clone(), owned.clone());
                    let ended = match own_supplier(
                        &deps,
                        &sup,
                        &keys,
                        &instance,
                        &held,
                        &ownership,
                        alive,
                        owned.clone(),
                    )
                    .await
                    {
                        Ok(e) => e,
                        Err(e) => {
                            if !cancel.is_cancelled() {
                                tracing::warn!(supplier = %sup.supplier, error = %e, "supplier work stopped");
                                if matches!(e, Error::Store(store::Error::LeaseLost { .. })) {
                                    events("lost");
                                }
                            }
                            Ended::Stopped
                        }
                    };
                    owned.cancel();
                    ownership.held.fetch_sub(1, Ordering::SeqCst);
                    deps.metrics.leases_held.dec();
                    let handed_over = matches!(ended, Ended::HandedOver);
                    if cancel.is_cancelled() || handed_over {
                        // Hand the supplier over at once (the keeper's own
                        // release runs on a detached task that may not get
                        // to run before the process exits).
                        match lease.release(&held).await {
                            // `false`: the keeper released it first (or it had expired).
                            Ok(_) => {
                                events(if handed_over {
                                    "handed_over"
                                } else {
                                    "released"
                                });
                                tracing::info!(supplier = %sup.supplier, instance = %instance, handed_over, "supplier lease released")
                            }
                            Err(e) => {
                                tracing::warn!(supplier = %sup.supplier, error = %e, "lease release failed; it expires with its TTL")
                            }
                        }
                        if cancel.is_cancelled() {
                            return;
                        }
                        cooldown_until = Some(Instant::now() + cfg.lease_ttl * 3);
                    }
                }
                Ok(None) => free_polls = 0,
                Err(e) => {
                    tracing::warn!(supplier = %sup.supplier, error = %e, "lease acquire failed")
                }
            }
        } else {
            match lease.holder().await {
                Ok(None) => free_polls += 1,
                Ok(Some(_)) => free_polls = 0,
                Err(e) => tracing::warn!(supplier = %sup.supplier, error = %e, "lease read failed"),
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(cfg.lease_poll) => {}
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn own_supplier(
    deps: &Arc<MinerDeps>,
    sup: &SupplierDeps,
    keys: &store::Keys,
    instance: &str,
    held: &Held,
    ownership: &Ownership,
    mut alive: tokio::sync::watch::Receiver<bool>,
    owned: CancellationToken,
) -> Result<Ended> {
    let cfg = &deps.config;
    let leaves = LeafStore::new(
        deps.pool.clone(),
        keys.clone(),
        &sup.supplier,
        cfg.session_ttl,
    );
    let client = store::connect_client(&cfg.redis).await?;
    let consumer = RelayConsumer::new(
        client,
        keys.clone(),
        &sup.supplier,
        ConsumerOptions {
            consumer: instance.to_owned(),
            batch: cfg.ingest_batch,
            block: cfg.ingest_block,
            claim_idle: cfg.reclaim_idle,
        },
        deps.has_xackdel,
    )
    .await?;
    let opts = ConsumerOptions {
        consumer: instance.to_owned(),
        batch: cfg.ingest_batch,
        block: cfg.ingest_block,
        claim_idle: cfg.reclaim_idle,
    };
    let drainer = RelayConsumer::new(
        store::connect_client(&cfg.redis).await?,
        keys.clone(),
        &sup.supplier,
        opts,
        deps.has_xackdel,
    )
    .await?;
    let ingest = Ingest::new(consumer, leaves.clone(), &sup.supplier).with_drainer(drainer);
    let runner = SupplierRunner::new(
        &sup.supplier,
        leaves.clone(),
        RunnerChain {
            cache: deps.cache.clone(),
            query: deps.query.clone(),
            rpc: deps.rpc.clone(),
            account: sup.account.clone(),
        },
        LifecycleConfig {
            skip_claims_below_upokt: cfg.skip_claims_below_upokt,
            max_messages_per_tx: cfg.max_messages_per_tx,
        },
        deps.metrics.clone(),
    );
    match leaves.read_status().await {
        Ok(Some(json)) => match serde_json::from_str::<SupplierStatus>(&json) {
            Ok(previous) => runner.continue_status(&previous),
            Err(e) => tracing::debug!(error = %e, "previous status unreadable"),
        },
        Ok(None) => {}
        Err(e) => tracing::debug!(error = %e, "previous status not read"),
    }
    let ingest_task = async {
        // Reclaim every ~10 rounds: at most a few seconds after a takeover.
        run_ingest(&ingest, held, &owned, 10, |s| runner.record_ingest(s)).await
    };
    let lifecycle_task = async {
        let mut blocks = deps.cache.feed().watch();
        let mut last = 0i64;
        loop {
            let height = blocks
                .borrow_and_update()
                .as_ref()
                .map(|b| b.height as i64)
                .unwrap_or(0);
            if height > last {
                match runner.on_block(held, height, Some(&ingest)).await {
                    Ok(report) if report != Default::default() => {
                        tracing::info!(supplier = %sup.supplier, height, ?report, "lifecycle")
                    }
                    Ok(_) => {}
                    Err(Error::Store(store::Error::LeaseLost { key })) => {
                        return Err(Error::Store(store::Error::LeaseLost { key }));
                    }
                    Err(e) => {
                        tracing::warn!(supplier = %sup.supplier, height, error = %e, "lifecycle step failed")
                    }
                }
                last = height;
            }
            tokio::select! {
                _ = owned.cancelled() => return Ok(()),
                r = blocks.changed() => if r.is_err() { return Ok(()) },
            }
        }
    };
    let lost = async {
        let _ = alive.wait_for(|v| !*v).await;
        Err::<(), Error>(Error::Store(store::Error::LeaseLost {
            key: held.key.clone(),
        }))
    };
    let hand_over = async {
        loop {
            tokio::time::sleep(cfg.lease_poll).await;
            if ownership.take_release() {
                tracing::info!(supplier = %sup.supplier, "handing the supplier over to balance replicas");
                return;
            }
        }
    };
    tokio::select! {
        r = ingest_task => r.map(|_| Ended::Stopped),
        r = lifecycle_task => r.map(|_| Ended::Stopped),
        r = lost => r.map(|_| Ended::Stopped),
        _ = hand_over => Ok(Ended::HandedOver),
        _ = owned.cancelled() => Ok(Ended::Stopped),
    }
}
