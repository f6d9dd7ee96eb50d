//! The three-level cache in front of the chain: L1 in-process (lock-free
//! reads), L2 Redis (shared by every replica), L3 the chain (`chain`).
//!
//! Values fixed at a height (params, sessions, difficulty and compute units
//! at a past height, account public keys) are kept long; live ones
//! (applications and their rings, suppliers) briefly, and are dropped at once
//! by an invalidation published on Redis. Concurrent misses for one key in a
//! process cause one load. The chain height comes from the block feed.
//!
//! Invariant: a failed chain query is never cached; `NotFound` is reported
//! as such so callers can tell an invalid relay from an unavailable chain.

mod tier;

use std::sync::Arc;
use std::time::Duration;

use fred::prelude::*;
use prost::Message;
use protocol::pb::pocket::application::Application;
use protocol::pb::pocket::session::Session;
use protocol::pb::pocket::shared::{Params as SharedParams, Supplier};

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

/// Entity names used in L2 keys and invalidation channels.
pub mod entity {
    /// Applications (and the rings derived from them).
    pub const APPLICATION: &str = "application";
    /// Suppliers.
    pub const SUPPLIER: &str = "supplier";
}

impl ChainCache {
    /// A cache over `query` with the chain tip from `feed`, and L2 in Redis
    /// when `redis` is given.
    pub fn new(
        query: chain::QueryClient,
        feed: chain::BlockFeed,
        redis: Option<(Pool, store::Keys)>,
        ttls: Ttls,
    ) -> Arc<Self> {
        Arc::new(ChainCache {
            query,
            feed,
            redis,
            ttls,
            params: Tier::default(),
            sessions: Tier::default(),
            apps: Tier::default(),
            pubkeys: Tier::default(),
            rings: Tier::default(),
            suppliers: Tier::default(),
            cupr: Tier::default(),
            difficulty: Tier::default(),
            suppliers_per_session: Tier::default(),
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

    fn ttl_at(&self, height: i64) -> Duration {
        if height <= self.tip() {
            self.ttls.immutable
        } else {
            self.ttls.live
        }
    }

    async fn l2_get(&self, entity: &str, id: &str) -> Option<Vec<u8>> {
        let (pool, keys) = self.redis.as_ref()?;
        let key = keys.cache_entry(entity, id);
        match pool.get::<fred::types::Value, _>(key.as_str()).await {
            Ok(v) => v.as_bytes().map(<[u8]>::to_vec),
            Err(e) => {
                tracing::debug!(error = %e, "cache L2 read failed");
                None
            }
        }
    }

    async fn l2_put(&self, entity: &str, id: &str, bytes: Vec<u8>, ttl: Duration) {
        if let Some((pool, keys)) = &self.redis {
            let key = keys.cache_entry(entity, id);
            let px = Some(Expiration::PX(ttl.as_millis().max(1) as i64));
            if let Err(e) = pool
                .set::<(), _, _>(key.as_str(), bytes, px, None, false)
                .await
            {
                tracing::debug!(error = %e, "cache L2 write failed");
            }
        }
    }

    /// Loads through L2 then L3, storing in L2 on an L3 load.
    async fn through<V, F, Fut>(
        &self,
        entity: &str,
        id: String,
        ttl: Duration,
        decode: impl Fn(&[u8]) -> Option<V>,
        encode: impl Fn(&V) -> Vec<u8>,
        load: F,
    ) -> Result<(V, Duration), CacheError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, CacheError>>,
    {
        if let Some(v) = self.l2_get(entity, &id).await.and_then(|b| decode(&b)) {
            return Ok((v, ttl));
        }
        let v = load().await?;
        self.l2_put(entity, &id, encode(&v), ttl).await;
        Ok((v, ttl))
    }

    /// Shared params in force at `height`.
    pub async fn shared_params_at(&self, height: i64) -> Result<Arc<SharedParams>, CacheError> {
        let ttl = self.ttl_at(height);
        self.params
            .get_or_load(&height, || {
                self.through(
                    "shared_params",
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
                    "session",
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
                    "pubkey",
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
            .get_or_load(&key, || async {
                let application = self.application(app).await?;
                let addresses = protocol::ring::ring_addresses(&application, session_end);
                let keys =
                    futures::future::try_join_all(addresses.iter().map(|a| self.pubkey(a))).await?;
                Ok((Arc::new(keys), ttl))
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
                    "cupr",
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
                    "difficulty",
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
            .get_or_load(&h, || async {
                let q = self.query.at_height(h as u64);
                Ok((q.session_params().await?.num_suppliers_per_session, ttl))
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

    /// Publishes an invalidation to every process (and applies it here).
    pub async fn invalidate(&self, entity_name: &str, id: &str) -> Result<(), CacheError> {
        self.invalidate_local(entity_name, id);
        if let Some((pool, keys)) = &self.redis {
            let _ = pool.del::<i64, _>(keys.cache_entry(entity_name, id)).await;
            pool.next()
                .publish::<i64, _, _>(keys.cache_invalidation_channel(entity_name), id)
                .await
                .map_err(|e| CacheError::Unavailable(e.to_string()))?;
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
        let channels: Vec<String> = [entity::APPLICATION, entity::SUPPLIER]
            .iter()
            .map(|e| keys.cache_invalidation_channel(e))
            .collect();
        let mut rx = subscriber.message_rx();
        subscriber
            .subscribe(channels)
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
                            for e in [entity::APPLICATION, entity::SUPPLIER] {
                                if channel == keys.cache_invalidation_channel(e) {
                                    this.invalidate_local(e, &id);
                                }
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            this.invalidate_local(entity::APPLICATION, "");
                            this.invalidate_local(entity::SUPPLIER, "");
                        }
                        Err(_) => return,
                    }
                }
            }
        }))
    }
}
