//! What the relayer needs to know about the chain, as one trait. The `cache`
//! crate implements it (L1 → Redis → chain); the relayer never queries the
//! chain itself.

use std::future::Future;
use std::sync::Arc;

use protocol::pb::pocket::session::Session;
use protocol::pb::pocket::shared::{Params as SharedParams, Supplier};

/// Why chain state could not be provided.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChainViewError {
    /// The chain says the thing does not exist (app not staked, no session…):
    /// the relay is invalid.
    #[error("{0}")]
    NotFound(String),
    /// The chain or cache could not be reached: retry later.
    #[error("{0}")]
    Unavailable(String),
}

/// Chain state at the heights the protocol prescribes.
pub trait ChainView: Send + Sync + 'static {
    /// Latest block height known (from the block feed); 0 before the first block.
    fn current_height(&self) -> i64;

    /// Shared params in force at `height` (`ParamsAtHeight`).
    fn shared_params_at(
        &self,
        height: i64,
    ) -> impl Future<Output = Result<Arc<SharedParams>, ChainViewError>> + Send;

    /// The session of (`app`, `service`) containing `height`.
    fn session(
        &self,
        app: &str,
        service: &str,
        height: i64,
    ) -> impl Future<Output = Result<Arc<Session>, ChainViewError>> + Send;

    /// The compressed public keys of `app`'s ring for the session ending at
    /// `session_end` (application, delegated gateways, placeholder).
    fn ring(
        &self,
        app: &str,
        session_end: i64,
    ) -> impl Future<Output = Result<Arc<Vec<[u8; 33]>>, ChainViewError>> + Send;

    /// A supplier's on-chain record (stake status and services).
    fn supplier(
        &self,
        operator: &str,
    ) -> impl Future<Output = Result<Arc<Supplier>, ChainViewError>> + Send;

    /// Compute units per relay of `service` at `height` (the session start).
    fn compute_units_per_relay(
        &self,
        service: &str,
        height: i64,
    ) -> impl Future<Output = Result<u64, ChainViewError>> + Send;

    /// Relay difficulty target of `service` at `height` (the session start).
    fn difficulty_target(
        &self,
        service: &str,
        height: i64,
    ) -> impl Future<Output = Result<[u8; 32], ChainViewError>> + Send;

    /// The application's stake in uPOKT (for the relay meter).
    fn application_stake(
        &self,
        app: &str,
    ) -> impl Future<Output = Result<u128, ChainViewError>> + Send;

    /// `num_suppliers_per_session` at `height`.
    fn suppliers_per_session(
        &self,
        height: i64,
    ) -> impl Future<Output = Result<u64, ChainViewError>> + Send;
}

/// The chain view of a relayer that serves only simulated relays (a probe
/// endpoint with pinned rings and no chain access): every real relay is
/// answered 503, simulated ones are served.
#[derive(Debug, Clone, Copy, Default)]
pub struct Offline;

fn offline<T>() -> Result<T, ChainViewError> {
    Err(ChainViewError::Unavailable(
        "relayer runs without chain access (simulation only)".into(),
    ))
}

impl ChainView for Offline {
    fn current_height(&self) -> i64 {
        0
    }
    async fn shared_params_at(&self, _: i64) -> Result<Arc<SharedParams>, ChainViewError> {
        offline()
    }
    async fn session(&self, _: &str, _: &str, _: i64) -> Result<Arc<Session>, ChainViewError> {
        offline()
    }
    async fn ring(&self, _: &str, _: i64) -> Result<Arc<Vec<[u8; 33]>>, ChainViewError> {
        offline()
    }
    async fn supplier(&self, _: &str) -> Result<Arc<Supplier>, ChainViewError> {
        offline()
    }
    async fn compute_units_per_relay(&self, _: &str, _: i64) -> Result<u64, ChainViewError> {
        offline()
    }
    async fn difficulty_target(&self, _: &str, _: i64) -> Result<[u8; 32], ChainViewError> {
        offline()
    }
    async fn application_stake(&self, _: &str) -> Result<u128, ChainViewError> {
        offline()
    }
    async fn suppliers_per_session(&self, _: i64) -> Result<u64, ChainViewError> {
        offline()
    }
}

impl From<cache::CacheError> for ChainViewError {
    fn from(e: cache::CacheError) -> Self {
        match e {
            cache::CacheError::NotFound(m) => ChainViewError::NotFound(m),
            cache::CacheError::Unavailable(m) => ChainViewError::Unavailable(m),
        }
    }
}

/// The production chain view: the three-level cache.
impl ChainView for Arc<cache::ChainCache> {
    fn current_height(&self) -> i64 {
        self.tip()
    }
    async fn shared_params_at(&self, height: i64) -> Result<Arc<SharedParams>, ChainViewError> {
        Ok(cache::ChainCache::shared_params_at(self, height).await?)
    }
    async fn session(
        &self,
        app: &str,
        service: &str,
        height: i64,
    ) -> Result<Arc<Session>, ChainViewError> {
        Ok(cache::ChainCache::session(self, app, service, height).await?)
    }
    async fn ring(
        &self,
        app: &str,
        session_end: i64,
    ) -> Result<Arc<Vec<[u8; 33]>>, ChainViewError> {
        Ok(cache::ChainCache::ring(self, app, session_end).await?)
    }
    async fn supplier(&self, operator: &str) -> Result<Arc<Supplier>, ChainViewError> {
        Ok(cache::ChainCache::supplier(self, operator).await?)
    }
    async fn compute_units_per_relay(
        &self,
        service: &str,
        height: i64,
    ) -> Result<u64, ChainViewError> {
        Ok(cache::ChainCache::compute_units_per_relay(self, service, height).await?)
    }
    async fn difficulty_target(
        &self,
        service: &str,
        height: i64,
    ) -> Result<[u8; 32], ChainViewError> {
        Ok(cache::ChainCache::difficulty_target(self, service, height).await?)
    }
    async fn application_stake(&self, app: &str) -> Result<u128, ChainViewError> {
        let a = cache::ChainCache::application(self, app).await?;
        let stake = a.stake.as_ref().map(|c| c.amount.as_str()).unwrap_or("0");
        stake
            .parse()
            .map_err(|_| ChainViewError::NotFound(format!("application {app} stake {stake:?}")))
    }
    async fn suppliers_per_session(&self, height: i64) -> Result<u64, ChainViewError> {
        Ok(cache::ChainCache::suppliers_per_session(self, height).await?)
    }
}
