//! The three-level cache in front of the chain: L1 in-process (lock-free
//! reads), L2 Redis (shared by every replica), L3 the chain (`chain`).
//!
//! Values fixed at a height (params, sessions, difficulty and compute units
//! at a past height, account public keys) are kept long; live ones
//! (applications and their rings, suppliers) briefly, and are dropped at once
//! by an invalidation published on Redis. Concurrent misses for one key cause
//! one chain query: in a process through [`Tier::get_or_load`], across
//! processes through a short Redis lock whose losers poll L2 (`flight.rs`).
//! The chain height comes from the block feed.
//!
//! - [`blocks`]: the block feed through Redis: the leader publishes every
//!   block, everyone else follows (catching up by height from the latest-block
//!   key, falling back to the node when Redis goes stale).
//! - Known ids (`known.rs`): applications and suppliers loaded from the chain
//!   are remembered in Redis sets for [`ChainCache::warm_up`] at start and the
//!   leader's [`ChainCache::refresh_known`].
//! - [`Metrics`]: hits per level, chain loads, invalidations, waits.
//!
//! Invariant: a failed chain query is never cached; `NotFound` is reported
//! as such so callers can tell an invalid relay from an unavailable chain.

pub mod blocks;
mod flight;
mod known;
mod metrics;
mod tier;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use fred::prelude::*;
use prost::Message;
use protocol::pb::pocket::application::Application;
use protocol::pb::pocket::session::Session;
use protocol::pb::pocket::shared::{Params as SharedParams, Supplier};

pub use known::{RefreshCounts, RefreshReport, WarmUpReport};
use metrics::EntityMetrics;
pub use metrics::Metrics;
pub use tier::Tier;

/// Why a value could not be provided.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CacheError {
    /// The chain says it does not exist (or the query is invalid for it).
    #[error("not found: {0}")]
    NotFound(String),
    /// The chain (or Redis) could not answer; retry later.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl From<chain::Error> for CacheError {
    fn from(e: chain::Error) -> Self {
        if e.is_retryable() {
            CacheError::Unavailable(e.to_string())
        } else {
            CacheError::NotFound(e.to_string())
        }
    }
}

/// Cache lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct Ttls {
    /// Values fixed at a height at or below the chain tip.
    pub immutable: Duration,
    /// Live values (applications, rings, suppliers, values at future heights).
    pub live: Duration,
}

impl Default for Ttls {
    fn default() -> Self {
        Ttls {
            immutable: Duration::from_secs(3600),
            live: Duration::from_secs(30),
        }
    }
}

/// The chain cache shared by a process.
pub struct ChainCache {
    query: chain::QueryClient,
    feed: chain::BlockFeed,
    redis: Option<(Pool, store::Keys)>,
    ttls: Ttls,
    metrics: Metrics,
    m: PerEntity,
    /// Identifies this cache's single-flight locks in Redis.
    lock_owner: String,
    lock_seq: AtomicU64,
    params: Tier<i64, Arc<SharedParams>>,
    sessions: Tier<(String, String, i64), Arc<Session>>,
    apps: Tier<String, Arc<Application>>,
    pubkeys: Tier<String, [u8; 33]>,
    rings: Tier<(String, i64), Arc<Vec<[u8; 33]>>>,
    suppliers: Tier<String, Arc<Supplier>>,
    cupr: Tier<(String, i64), u64>,
    difficulty: Tier<(String, i64), [u8; 32]>,
    suppliers_per_session: Tier<i64, u64>,
}

/// The metric children of every entity.
struct PerEntity {
    params: EntityMetrics,
    session: EntityMetrics,
    application: EntityMetrics,
    pubkey: EntityMetrics,
    ring: EntityMetrics,
    supplier: EntityMetrics,
    cupr: EntityMetrics,
    difficulty: EntityMetrics,
    session_params: EntityMetrics,
}

/// Entity names: L2 keys, invalidation channels, known sets and metric labels.
pub mod entity {
    /// Applications (and the rings derived from them).
    pub const APPLICATION: &str = "application";
    /// Suppliers.
    pub const SUPPLIER: &str = "supplier";
    /// Shared params at a height.
    pub const SHARED_PARAMS: &str = "shared_params";
    /// Sessions by (application, service, height).
    pub const SESSION: &str = "session";
    /// Account public keys.
    pub const PUBKEY: &str = "pubkey";
    /// Rings (L1 only: built from the application and public keys).
    pub const RING: &str = "ring";
    /// Compute units per relay of a service at a height.
    pub const CUPR: &str = "cupr";
    /// Relay mining difficulty of a service at a height.
    pub const DIFFICULTY: &str = "difficulty";
    /// `num_suppliers_per_session` at a height (L1 only).
    pub const SESSION_PARAMS: &str = "session_params";
    /// Every entity name (the closed set of the `entity` metric label).
    pub const ALL: [&str; 9] = [
        APPLICATION,
        SUPPLIER,
        SHARED_PARAMS,
        SESSION,
        PUBKEY,
        RING,
        CUPR,
        DIFFICULTY,
        SESSION_PARAMS,
    ];
    /// Entities that can be invalidated (live values).
    pub const INVALIDATED: [&str; 2] = [APPLICATION, SUPPLIER];
}

impl ChainCache {
    /// A cache over `query` with the chain tip from `feed`, and L2 in Redis
    /// when `redis` is given; metrics registered nowhere.
    pub fn new(
        query: chain::QueryClient,
        feed: chain::BlockFeed,
        redis: Option<(Pool, store::Keys)>,
        ttls: Ttls,
    ) -> Arc<Self> {
        ChainCache::with_metrics(query, feed, redis, ttls, Metrics::detached())
    }

    /// [`ChainCache::new`] reporting on `metrics`.
    pub fn with_metrics(
        query: chain::QueryClient,
        feed: chain::BlockFeed,
        redis: Option<(Pool, store::Keys)>,
        ttls: Ttls,
        metrics: Metrics,
    ) -> Arc<Self> {
        let m = PerEntity {
            params: metrics.entity(entity::SHARED_PARAMS),
            session: metrics.entity(entity::SESSION),
            application: metrics.entity(entity::APPLICATION),
            pubkey: metrics.entity(entity::PUBKEY),
            ring: metrics.entity(entity::RING),
            supplier: metrics.entity(entity::SUPPLIER),
            cupr: metrics.entity(entity::CUPR),
            difficulty: metrics.entity(entity::DIFFICULTY),
            session_params: metrics.entity(entity::SESSION_PARAMS),
        };
        Arc::new(ChainCache {
            query,
            feed,
            redis,
            ttls,
            lock_owner: format!("{:016x}", rand::random::<u64>()),
            lock_seq: AtomicU64::new(0),
            params: Tier::counted(m.params.l1_hits.clone()),
            sessions: Tier::counted(m.session.l1_hits.clone()),
            apps: Tier::counted(m.application.l1_hits.clone()),
            pubkeys: Tier::counted(m.pubkey.l1_hits.clone()),
            rings: Tier::counted(m.ring.l1_hits.clone()),
            suppliers: Tier::counted(m.supplier.l1_hits.clone()),
            cupr: Tier::counted(m.cupr.l1_hits.clone()),
            difficulty: Tier::counted(m.difficulty.l1_hits.clone()),
            suppliers_per_session: Tier::counted(m.session_params.l1_hits.clone()),
            metrics,
            m,
        })
    }

    /// The latest block height seen (0 before the first block).
    pub fn tip(&self) -> i64 {
        i64::try_from(self.feed.tip_height()).unwrap_or(i64::MAX)
    }

    /// The block feed.
    pub fn feed(&self) -> &chain::BlockFeed {
        &self.feed
    }

    /// The metrics this cache reports on.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn ttl_at(&self, height: i64) -> Duration {
        if height <= self.tip() {
            self.ttls.immutable
        } else {
            self.ttls.live
        }
    }

    /// Shared params in force at `height`.
    pub async fn shared_params_at(&self, height: i64) -> Result<Arc<SharedParams>, CacheError> {
        let ttl = self.ttl_at(height);
        self.params
            .get_or_load(&height, || {
                self.through(
                    entity::SHARED_PARAMS,
                    &self.m.params,
                    height.to_string(),
                    ttl,
                    |b| SharedParams::decode(b).ok().map(Arc::new),
                    |v| v.encode_to_vec(),
                    || async { Ok(Arc::new(self.query.shared_params_at_height(height).await?)) },
                )
            })
            .await
    }

    /// The session of (`app`, `service`) at `height`.
    pub async fn session(
        &self,
        app: &str,
        service: &str,
        height: i64,
    ) -> Result<Arc<Session>, CacheError> {
        let ttl = self.ttl_at(height);
        let key = (app.to_owned(), service.to_owned(), height);
        self.sessions
            .get_or_load(&key, || {
                self.through(
                    entity::SESSION,
                    &self.m.session,
                    format!("{app}:{service}:{height}"),
                    ttl,
                    |b| Session::decode(b).ok().map(Arc::new),
                    |v| v.encode_to_vec(),
                    || async { Ok(Arc::new(self.query.session(app, service, height).await?)) },
                )
            })
            .await
    }

    /// An application (live).
    pub async fn application(&self, app: &str) -> Result<Arc<Application>, CacheError> {
        let ttl = self.ttls.live;
        self.apps
            .get_or_load(&app.to_owned(), || {
                self.through(
                    entity::APPLICATION,
                    &self.m.application,
                    app.to_owned(),
                    ttl,
                    |b| Application::decode(b).ok().map(Arc::new),
                    |v| v.encode_to_vec(),
                    || async { Ok(Arc::new(self.query.application(app).await?)) },
                )
            })
            .await
    }

    /// The 33-byte public key of an account; `NotFound` while the account has none.
    pub async fn pubkey(&self, address: &str) -> Result<[u8; 33], CacheError> {
        if address == protocol::ring::PLACEHOLDER_RING_ADDRESS {
            return Ok(protocol::ring::PLACEHOLDER_RING_PUBKEY);
        }
        let ttl = self.ttls.immutable;
        self.pubkeys
            .get_or_load(&address.to_owned(), || {
                self.through(
                    entity::PUBKEY,
                    &self.m.pubkey,
                    address.to_owned(),
                    ttl,
                    |b| b.try_into().ok(),
                    |v: &[u8; 33]| v.to_vec(),
                    || async {
                        let account = self.query.account(address).await?;
                        let any = account.and_then(|a| a.pub_key).ok_or_else(|| {
                            CacheError::NotFound(format!("account {address} has no public key"))
                        })?;
                        if any.type_url != protocol::SECP256K1_PUBKEY_TYPE_URL {
                            return Err(CacheError::NotFound(format!(
                                "account {address} key is {}",
                                any.type_url
                            )));
                        }
                        let pk = protocol::pb::cosmos::crypto::secp256k1::PubKey::decode(
                            any.value.as_slice(),
                        )
                        .map_err(|e| CacheError::NotFound(format!("account {address} key: {e}")))?;
                        pk.key.as_slice().try_into().map_err(|_| {
                            CacheError::NotFound(format!("account {address} key is not 33 bytes"))
                        })
                    },
                )
            })
            .await
    }

    /// The public keys of `app`'s ring for the session ending at `session_end`.
    pub async fn ring(
        &self,
        app: &str,
        session_end: i64,
    ) -> Result<Arc<Vec<[u8; 33]>>, CacheError> {
        let ttl = self.ttls.live;
        let key = (app.to_owned(), session_end);
        self.rings
            .get_or_load(&key, || {
                // A rebuild: its own chain queries count under application
                // and pubkey.
                self.timed_load(&self.m.ring, async {
                    let application = self.application(app).await?;
                    let addresses = protocol::ring::ring_addresses(&application, session_end);
                    let keys =
                        futures::future::try_join_all(addresses.iter().map(|a| self.pubkey(a)))
                            .await?;
                    Ok((Arc::new(keys), ttl))
                })
            })
            .await
    }

    /// A supplier (live).
    pub async fn supplier(&self, operator: &str) -> Result<Arc<Supplier>, CacheError> {
        let ttl = self.ttls.live;
        self.suppliers
            .get_or_load(&operator.to_owned(), || {
                self.through(
                    entity::SUPPLIER,
                    &self.m.supplier,
                    operator.to_owned(),
                    ttl,
                    |b| Supplier::decode(b).ok().map(Arc::new),
                    |v| v.encode_to_vec(),
                    || async { Ok(Arc::new(self.query.supplier(operator).await?)) },
                )
            })
            .await
    }

    /// Compute units per relay of `service` at `height`.
    pub async fn compute_units_per_relay(
        &self,
        service: &str,
        height: i64,
    ) -> Result<u64, CacheError> {
        let ttl = self.ttl_at(height);
        self.cupr
            .get_or_load(&(service.to_owned(), height), || {
                self.through(
                    entity::CUPR,
                    &self.m.cupr,
                    format!("{service}:{height}"),
                    ttl,
                    |b| std::str::from_utf8(b).ok()?.parse().ok(),
                    |v: &u64| v.to_string().into_bytes(),
                    || async {
                        Ok(self
                            .query
                            .compute_units_per_relay_at_height(service, height)
                            .await?)
                    },
                )
            })
            .await
    }

    /// Relay difficulty target of `service` at `height`.
    pub async fn difficulty_target(
        &self,
        service: &str,
        height: i64,
    ) -> Result<[u8; 32], CacheError> {
        let ttl = self.ttl_at(height);
        self.difficulty
            .get_or_load(&(service.to_owned(), height), || {
                self.through(
                    entity::DIFFICULTY,
                    &self.m.difficulty,
                    format!("{service}:{height}"),
                    ttl,
                    |b| b.try_into().ok(),
                    |v: &[u8; 32]| v.to_vec(),
                    || async {
                        let d = self
                            .query
                            .relay_mining_difficulty_at_height(service, height)
                            .await?;
                        protocol::relay::parse_target_hash(&d.target_hash)
                            .map_err(|e| CacheError::NotFound(e.to_string()))
                    },
                )
            })
            .await
    }

    /// `num_suppliers_per_session` at `height`.
    pub async fn suppliers_per_session(&self, height: i64) -> Result<u64, CacheError> {
        let ttl = self.ttl_at(height);
        let h = height.min(self.tip()).max(1);
        self.suppliers_per_session
            .get_or_load(&h, || {
                self.timed_load(&self.m.session_params, async {
                    let q = self.query.at_height(h as u64);
                    Ok((q.session_params().await?.num_suppliers_per_session, ttl))
                })
            })
            .await
    }

    /// The application in L1, if fresh (no loading): what a relay would hit.
    pub fn peek_application(&self, app: &str) -> Option<Arc<Application>> {
        self.apps.get(&app.to_owned())
    }

    /// Drops an application (and its rings) or a supplier from L1, e.g. on an
    /// invalidation message; an empty id drops every entry of the entity.
    pub fn invalidate_local(&self, entity_name: &str, id: &str) {
        match entity_name {
            entity::APPLICATION => {
                self.apps.invalidate(|k| id.is_empty() || k == id);
                self.rings.invalidate(|k| id.is_empty() || k.0 == id);
            }
            entity::SUPPLIER => self.suppliers.invalidate(|k| id.is_empty() || k == id),
            _ => {}
        }
    }

    /// Deletes the L2 entry and publishes an invalidation to every process
    /// (and applies it here). An empty id clears the entity in every L1 (L2
    /// entries then expire on their own).
    pub async fn invalidate(&self, entity_name: &str, id: &str) -> Result<(), CacheError> {
        if let Some((pool, keys)) = &self.redis
            && !id.is_empty()
            && let Err(e) = pool.del::<i64, _>(keys.cache_entry(entity_name, id)).await
        {
            self.metrics.l2_error("del");
            tracing::debug!(error = %e, "cache L2 delete failed");
        }
        self.publish_invalidation(entity_name, id).await
    }

    /// Applies an invalidation here and publishes it to every other process,
    /// leaving L2 as it is (the caller wrote the fresh value there first).
    async fn publish_invalidation(&self, entity_name: &str, id: &str) -> Result<(), CacheError> {
        self.invalidate_local(entity_name, id);
        self.metrics.invalidated(entity_name, false);
        if let Some((pool, keys)) = &self.redis {
            pool.next()
                .publish::<i64, _, _>(keys.cache_invalidation_channel(entity_name), id)
                .await
                .map_err(|e| {
                    self.metrics.l2_error("publish");
                    CacheError::Unavailable(format!("publishing a cache invalidation: {e}"))
                })?;
        }
        Ok(())
    }

    /// Subscribes to invalidations published by other processes and applies
    /// them until `cancel`. Returns once the subscription is confirmed, so no
    /// invalidation published afterwards is missed. A lagging receiver drops
    /// every live entry rather than miss one.
    pub async fn spawn_invalidation_listener(
        self: &Arc<Self>,
        subscriber: fred::clients::SubscriberClient,
        keys: store::Keys,
        cancel: tokio_util::sync::CancellationToken,
    ) -> Result<tokio::task::JoinHandle<()>, CacheError> {
        let channels: Vec<String> = entity::INVALIDATED
            .iter()
            .map(|e| keys.cache_invalidation_channel(e))
            .collect();
        let mut rx = subscriber.message_rx();
        subscriber
            .subscribe(channels)
            .await
            .map_err(|e| CacheError::Unavailable(format!("cache invalidation subscribe: {e}")))?;
        // `subscribe` returns once the command is queued; a reply to a later
        // PING on the same connection means the server has applied it.
        subscriber
            .ping::<fred::types::Value>(None)
            .await
            .map_err(|e| CacheError::Unavailable(format!("cache invalidation subscribe: {e}")))?;
        let this = Arc::clone(self);
        Ok(tokio::spawn(async move {
            let _keep = subscriber;
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    msg = rx.recv() => match msg {
                        Ok(m) => {
                            let channel = m.channel.to_string();
                            let id = m.value.as_string().unwrap_or_default();
                            for e in entity::INVALIDATED {
                                if channel == keys.cache_invalidation_channel(e) {
                                    this.invalidate_local(e, &id);
                                    this.metrics.invalidated(e, true);
                                }
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            for e in entity::INVALIDATED {
                                this.invalidate_local(e, "");
                            }
                        }
                        Err(_) => return,
                    }
                }
            }
        }))
    }
}
