//! Ownership and tasks: for every supplier key, a loop that takes the
//! supplier's lease when it is free, runs ingest and the lifecycle while the
//! lease is held, and stops both the moment it is lost. After a crash of the
//! owner another replica takes over within the lease TTL plus one poll.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use store::lease::{Held, Lease};
use store::leaves::LeafStore;
use store::streams::{ConsumerOptions, RelayConsumer};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::ingest::{Ingest, run as run_ingest};
use crate::runner::{LifecycleConfig, SupplierRunner};

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
    /// CometBFT RPC (seed block hashes).
    pub rpc: chain::RpcClient,
}

/// Runs one supplier until `cancel`: take the lease, work while holding it,
/// give it back on shutdown. Errors other than lease loss are logged and
/// retried; the loop only ends on `cancel`.
pub async fn run_supplier(deps: Arc<MinerDeps>, sup: SupplierDeps, cancel: CancellationToken) {
    let cfg = &deps.config;
    let instance = cfg
        .instance
        .clone()
        .unwrap_or_else(|| format!("miner-{}", std::process::id()));
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
    while !cancel.is_cancelled() {
        match lease.try_acquire().await {
            Ok(Some(held)) => {
                tracing::info!(supplier = %sup.supplier, instance = %instance, token = held.token, "took supplier lease");
                let owned = cancel.child_token();
                let alive = lease.clone().keep(held.clone(), owned.clone());
                if let Err(e) =
                    own_supplier(&deps, &sup, &keys, &instance, &held, alive, owned.clone()).await
                    && !cancel.is_cancelled()
                {
                    tracing::warn!(supplier = %sup.supplier, error = %e, "supplier work stopped");
                }
                owned.cancel();
                if cancel.is_cancelled() {
                    // Hand the supplier over at once on shutdown, before the
                    // process exits (the keeper's own release runs on a
                    // detached task that may not get to run).
                    match lease.release(&held).await {
                        // `false`: the keeper released it first (or it had expired).
                        Ok(_) => {
                            tracing::info!(supplier = %sup.supplier, instance = %instance, "supplier lease released")
                        }
                        Err(e) => {
                            tracing::warn!(supplier = %sup.supplier, error = %e, "lease release failed; it expires with its TTL")
                        }
                    }
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(supplier = %sup.supplier, error = %e, "lease acquire failed"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(cfg.lease_poll) => {}
        }
    }
}

async fn own_supplier(
    deps: &Arc<MinerDeps>,
    sup: &SupplierDeps,
    keys: &store::Keys,
    instance: &str,
    held: &Held,
    mut alive: tokio::sync::watch::Receiver<bool>,
    owned: CancellationToken,
) -> Result<()> {
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
    let ingest = Ingest::new(consumer, leaves.clone(), &sup.supplier);
    let runner = SupplierRunner::new(
        &sup.supplier,
        leaves,
        deps.cache.clone(),
        deps.query.clone(),
        deps.rpc.clone(),
        sup.account.clone(),
        LifecycleConfig {
            skip_claims_below_upokt: cfg.skip_claims_below_upokt,
            max_messages_per_tx: cfg.max_messages_per_tx,
        },
    );
    let ingest_task = async {
        // Reclaim every ~10 rounds: at most a few seconds after a takeover.
        run_ingest(&ingest, held, &owned, 10, |_| {}).await
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
                match runner.on_block(held, height).await {
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
    tokio::select! {
        r = ingest_task => r.map(|_| ()),
        r = lifecycle_task => r,
        r = lost => r,
        _ = owned.cancelled() => Ok(()),
    }
}
