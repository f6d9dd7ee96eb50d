//! The relay pipeline, in request order. Cheap checks come before expensive
//! ones: decode → basic validation → service and supplier → simulation branch
//! → session-height plausibility → session window (params at the session end)
//! → supplier gate → ring signature → session equals the chain's → meter →
//! backend → sign → mine → publish.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use fred::prelude::*;
use prost::Message;
use protocol::pb::pocket::shared::Params as SharedParams;
use protocol::pb::relayminer::v1::MinedRelay;
use protocol::pb::sdk::types::PokthttpRequest;
use protocol::relay::{is_relay_mined, mined_relay_bytes, relay_hash, sha256};
use protocol::session::{SessionWindows, num_pending_sessions};
use protocol::{RelayRequest, RelayResponse, SessionHeader};
use rings::{KeyCache, PrivateKey};
use store::streams::RelayPublisher;
use tokio_util::task::TaskTracker;

use crate::backend::{Backend, RelayContext};
use crate::chain_view::{ChainView, ChainViewError};
use crate::config::{RelayerConfig, RpcKind, SimulationIdentity, ValidationMode};
use crate::error::RelayError;
use crate::meter::Meter;
use crate::metrics::Metrics;
use crate::publish::PublishQueue;

/// Longest session the plausibility check accepts, and how far from the
/// current height a session may lie (before any chain query is made).
const MAX_SESSION_SPAN: i64 = 10_000;

/// What arrived on the wire, transport-independent.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    /// The `Rpc-Type` header, if any.
    pub rpc_type: Option<String>,
    /// The `Pocket-Simulation-Key-Id` header, if any.
    pub simulation_key_id: Option<String>,
    /// The request body (an encoded `RelayRequest`).
    pub body: Bytes,
}

/// Everything the pipeline needs besides the chain view.
pub struct RelayerParts {
    /// Configuration (validated).
    pub config: RelayerConfig,
    /// Supplier operator keys this relayer signs for.
    pub supplier_keys: Vec<PrivateKey>,
    /// Redis command pool (meter, replay guard, publishing).
    pub redis: Pool,
    /// Metrics registry.
    pub registry: prometheus::Registry,
}

/// The relayer: one instance serves every transport.
pub struct Relayer<C: ChainView> {
    cfg: RelayerConfig,
    chain: C,
    signers: HashMap<String, PrivateKey>,
    backends: HashMap<(String, RpcKind), Arc<Backend>>,
    key_cache: KeyCache,
    publisher: PublishQueue,
    meter: Option<Meter>,
    redis: Pool,
    keys: store::Keys,
    simulation: HashMap<String, Simulated>,
    metrics: Metrics,
    tasks: TaskTracker,
}

/// A simulation identity: its config, pinned ring, application address and
/// rate limiter.
struct Simulated {
    ident: SimulationIdentity,
    ring: Vec<[u8; 33]>,
    application: String,
    limiter: parking_lot::Mutex<RateWindow>,
}

/// A one-second window counter (`max_rps` per second, 0: unlimited); the
/// window opens at the first probe after the previous one closed.
struct RateWindow {
    started: Option<Instant>,
    count: u32,
}

impl Simulated {
    fn admit(&self) -> bool {
        let max = self.ident.max_rps;
        if max == 0 {
            return true;
        }
        let mut w = self.limiter.lock();
        if w.started
            .is_none_or(|s| s.elapsed() >= Duration::from_secs(1))
        {
            w.started = Some(Instant::now());
            w.count = 0;
        }
        w.count += 1;
        w.count <= max
    }
}

/// A relay that passed validation: the facts mining needs.
struct Validated {
    header: SessionHeader,
    windows: SessionWindows,
}

impl<C: ChainView> Relayer<C> {
    /// Builds the relayer. Fails on configuration that cannot work.
    pub fn new(parts: RelayerParts, chain: C) -> Result<Arc<Self>, String> {
        let cfg = parts.config;
        let keys = store::Keys::new(&cfg.redis.namespace).map_err(|e| e.to_string())?;
        let mut signers = HashMap::new();
        for k in parts.supplier_keys {
            let addr = protocol::address::address_from_pubkey(&k.public_key())
                .map_err(|e| e.to_string())?;
            signers.insert(addr, k);
        }
        let mut backends = HashMap::new();
        for (service, svc) in &cfg.services {
            for (kind, b) in &svc.backends {
                backends.insert(
                    (service.clone(), *kind),
                    Backend::new(b, cfg.max_response_bytes)?,
                );
            }
        }
        let mut simulation = HashMap::new();
        for ident in &cfg.simulation.identities {
            let mut ring = Vec::new();
            for h in std::iter::once(&ident.app_pubkey_hex).chain(&ident.gateway_pubkeys_hex) {
                let key: [u8; 33] = hex::decode(h)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| format!("simulation identity {}: bad key {h}", ident.key_id))?;
                if key == protocol::ring::PLACEHOLDER_RING_PUBKEY {
                    return Err(format!(
                        "simulation identity {}: the placeholder ring key is public and cannot be pinned",
                        ident.key_id
                    ));
                }
                ring.push(key);
            }
            let application = protocol::address::address_from_pubkey(&ring[0])
                .map_err(|e| format!("simulation identity {}: {e}", ident.key_id))?;
            simulation.insert(
                ident.key_id.clone(),
                Simulated {
                    ident: ident.clone(),
                    ring,
                    application,
                    limiter: parking_lot::Mutex::new(RateWindow {
                        started: None,
                        count: 0,
                    }),
                },
            );
        }
        let metrics = Metrics::new(&parts.registry).map_err(|e| e.to_string())?;
        let meter = cfg
            .meter
            .enabled
            .then(|| Meter::new(parts.redis.clone(), keys.clone(), cfg.meter.fail_open));
        let publisher = PublishQueue::start(
            RelayPublisher::new(
                parts.redis.clone(),
                keys.clone(),
                cfg.publish.stream_max_len,
            ),
            cfg.publish.queue_capacity,
            metrics.clone(),
        );
        Ok(Arc::new(Relayer {
            publisher,
            key_cache: KeyCache::new(cfg.ring_key_cache_capacity),
            redis: parts.redis,
            cfg,
            chain,
            signers,
            backends,
            meter,
            keys,
            simulation,
            metrics,
            tasks: TaskTracker::new(),
        }))
    }

    /// Background work (optimistic validation) still running.
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    /// The last step of a drain, after the server and [`Relayer::tasks`]
    /// finished: publishes every queued relay and stops the queue (relays
    /// served after this are counted as dropped). Waits for Redis as long as
    /// it takes: bound it with the drain timeout.
    pub async fn flush_publishing(&self) {
        self.publisher.close_and_flush().await;
    }

    /// Served relays waiting to be published to Redis.
    pub fn publish_backlog(&self) -> usize {
        self.publisher.backlog()
    }

    /// The publish queue's capacity (`publish.queue_capacity`).
    pub fn publish_capacity(&self) -> usize {
        self.publisher.capacity()
    }

    /// The chain view.
    pub fn chain(&self) -> &C {
        &self.chain
    }

    /// Serves one relay: the encoded, signed `RelayResponse`, or the error to
    /// map with [`crate::error::rescue`].
    pub async fn serve(self: &Arc<Self>, incoming: Incoming) -> Result<Bytes, RelayError> {
        let result = self.serve_inner(incoming).await;
        if let Err(e) = &result {
            self.metrics.rejected.with_label_values(&[e.reason()]).inc();
        }
        result
    }

    async fn serve_inner(self: &Arc<Self>, incoming: Incoming) -> Result<Bytes, RelayError> {
        let started = Instant::now();
        // 1. Decode and stateless validation.
        let req = RelayRequest::decode_bytes(&incoming.body)
            .map_err(|e| RelayError::Decode(e.to_string()))?;
        req.validate_basic()
            .map_err(|e| RelayError::Invalid(e.to_string()))?;
        let header = req.session_header().cloned().unwrap_or_default();
        // 2. Service and backend kind.
        let service = self
            .cfg
            .services
            .get(&header.service_id)
            .ok_or_else(|| RelayError::UnknownService(header.service_id.clone()))?;
        let kind = match incoming.rpc_type.as_deref() {
            None | Some("") | Some("0") => service.default_backend,
            Some(v) => RpcKind::from_header(v)
                .ok_or_else(|| RelayError::Invalid(format!("Rpc-Type {v:?} is not 1..=5")))?,
        };
        let backend = self
            .backends
            .get(&(header.service_id.clone(), kind))
            .cloned()
            .ok_or_else(|| RelayError::NoBackend {
                service: header.service_id.clone(),
                rpc_type: kind.name().into(),
            })?;
        // 3. Supplier this relayer signs for.
        let supplier = req.meta.supplier_operator_address.clone();
        let signer = self
            .signers
            .get(&supplier)
            .ok_or_else(|| RelayError::UnknownSupplier(supplier.clone()))?;
        let http_req = backend_request(&req.payload, kind)?;
        let timeout = service.timeout;

        // 4. Simulated relays: pinned ring, never metered, never published.
        if let Some(key_id) = incoming.simulation_key_id.as_deref() {
            self.check_simulated(key_id, &req, &header).await?;
            let signed = self
                .forward_and_sign(&backend, &req, &http_req, signer, timeout, started)
                .await?;
            self.metrics.relays.with_label_values(&["simulated"]).inc();
            return Ok(signed.encode_to_vec().into());
        }

        if self.publisher.is_full() {
            return Err(RelayError::PublishBacklog(self.publisher.backlog()));
        }
        if !backend.has_healthy() {
            return Err(RelayError::BackendUnavailable(format!(
                "no healthy {} node for {}",
                kind.name(),
                header.service_id
            )));
        }
        match self.cfg.validation {
            ValidationMode::Eager => {
                let validated = self.validate(&req, &header).await?;
                let cost = self.meter_consume(&header, &supplier).await?;
                self.metrics
                    .stage_seconds
                    .with_label_values(&["pre_backend"])
                    .observe(started.elapsed().as_secs_f64());
                let signed = match self
                    .forward_and_sign(&backend, &req, &http_req, signer, timeout, started)
                    .await
                {
                    Ok(s) => s,
                    Err(e) => {
                        self.meter_refund(&header, &supplier, cost).await;
                        return Err(e);
                    }
                };
                let bytes: Bytes = signed.encode_to_vec().into();
                self.publish(req, signed, validated).await;
                Ok(bytes)
            }
            ValidationMode::Optimistic => {
                let signed = self
                    .forward_and_sign(&backend, &req, &http_req, signer, timeout, started)
                    .await?;
                let bytes: Bytes = signed.encode_to_vec().into();
                let this = Arc::clone(self);
                self.tasks.spawn(async move {
                    let validated = match this.validate(&req, &header).await {
                        Ok(v) => v,
                        Err(e) => {
                            this.metrics.rejected.with_label_values(&[e.reason()]).inc();
                            this.metrics
                                .relays
                                .with_label_values(&["served_not_mined"])
                                .inc();
                            return;
                        }
                    };
                    if let Err(e) = this.meter_consume(&header, &supplier).await {
                        this.metrics.rejected.with_label_values(&[e.reason()]).inc();
                        this.metrics
                            .relays
                            .with_label_values(&["served_not_mined"])
                            .inc();
                        return;
                    }
                    this.publish(req, signed, validated).await;
                });
                Ok(bytes)
            }
        }
    }

    async fn check_simulated(
        &self,
        key_id: &str,
        req: &RelayRequest,
        header: &SessionHeader,
    ) -> Result<(), RelayError> {
        if !self.cfg.simulation.enabled {
            return Err(RelayError::Simulation(
                "simulated relays are disabled".into(),
            ));
        }
        let sim = self
            .simulation
            .get(key_id)
            .ok_or_else(|| RelayError::Simulation(format!("unknown key id {key_id:?}")))?;
        let (ident, ring) = (&sim.ident, &sim.ring);
        if header.application_address != sim.application {
            return Err(RelayError::Simulation(format!(
                "the session's application {} is not the identity's {}",
                header.application_address, sim.application
            )));
        }
        if !ident.allowed_services.is_empty()
            && !ident.allowed_services.contains(&header.service_id)
        {
            return Err(RelayError::Simulation(format!(
                "service {} not allowed",
                header.service_id
            )));
        }
        if ident.require_fresh_session_id {
            check_fresh_simulation_session(
                &header.session_id,
                self.cfg.simulation.freshness_window,
            )?;
        }
        rings::verify_ring_signature(
            &req.meta.signature,
            &req.signable_hash(),
            ring,
            Some(&self.key_cache),
        )
        .map_err(|e| RelayError::Signature(e.to_string()))?;
        // Only signed probes count against the identity's rate.
        if !sim.admit() {
            return Err(RelayError::SimulationRateLimited(ident.max_rps));
        }
        // Replay guard: each signature is served once within twice the window.
        let key = self
            .keys
            .simulation_replay(&hex::encode(sha256(&req.meta.signature)));
        let ttl = (self.cfg.simulation.freshness_window * 2).max(Duration::from_secs(1));
        let fresh: Option<String> = self
            .redis
            .set(
                key.as_str(),
                "1",
                Some(Expiration::PX(ttl.as_millis() as i64)),
                Some(SetOptions::NX),
                false,
            )
            .await
            .map_err(|e| RelayError::Internal(format!("simulation replay guard: {e}")))?;
        if fresh.is_none() {
            return Err(RelayError::Simulation("replayed signature".into()));
        }
        Ok(())
    }

    /// Stages 5–9: everything that needs the chain, in cost order.
    async fn validate(
        &self,
        req: &RelayRequest,
        header: &SessionHeader,
    ) -> Result<Validated, RelayError> {
        let current = self.chain.current_height();
        let (start, end) = (
            header.session_start_block_height,
            header.session_end_block_height,
        );
        if end - start > MAX_SESSION_SPAN
            || (current > 0
                && (start > current + MAX_SESSION_SPAN || end < current - MAX_SESSION_SPAN))
        {
            return Err(RelayError::ImplausibleHeights(format!(
                "session {start}..={end} at height {current}"
            )));
        }
        let params = self.chain.shared_params_at(end).await.map_err(chain_err)?;
        let windows =
            SessionWindows::new(&params, end).map_err(|e| RelayError::Invalid(e.to_string()))?;
        if !windows.accepts_relays_at(current) {
            return Err(RelayError::SessionExpired {
                end,
                grace_end: windows.grace_period_end,
                current,
            });
        }
        let supplier = &req.meta.supplier_operator_address;
        let record = self.chain.supplier(supplier).await.map_err(|e| match e {
            ChainViewError::NotFound(m) => RelayError::SupplierInactive {
                supplier: supplier.clone(),
                service: header.service_id.clone(),
                reason: m,
            },
            other => chain_err(other),
        })?;
        if !record
            .services
            .iter()
            .any(|s| s.service_id == header.service_id)
        {
            return Err(RelayError::SupplierInactive {
                supplier: supplier.clone(),
                service: header.service_id.clone(),
                reason: "not staked for this service".into(),
            });
        }
        let ring = self
            .chain
            .ring(&header.application_address, end)
            .await
            .map_err(|e| match e {
                ChainViewError::NotFound(m) => RelayError::Signature(format!("no ring: {m}")),
                other => chain_err(other),
            })?;
        rings::verify_ring_signature(
            &req.meta.signature,
            &req.signable_hash(),
            &ring,
            Some(&self.key_cache),
        )
        .map_err(|e| RelayError::Signature(e.to_string()))?;
        let query_height = if current > end {
            end
        } else {
            current.max(start)
        };
        let session = self
            .chain
            .session(
                &header.application_address,
                &header.service_id,
                query_height,
            )
            .await
            .map_err(|e| match e {
                ChainViewError::NotFound(m) => RelayError::Session(m),
                other => chain_err(other),
            })?;
        let on_chain = session.header.clone().unwrap_or_default();
        compare_headers(header, &on_chain)?;
        if !session
            .suppliers
            .iter()
            .any(|s| &s.operator_address == supplier)
        {
            return Err(RelayError::Session(format!(
                "supplier {supplier} is not in session {}",
                header.session_id
            )));
        }
        Ok(Validated {
            header: on_chain,
            windows,
        })
    }

    async fn pricing_params(
        &self,
        header: &SessionHeader,
    ) -> Result<Arc<SharedParams>, RelayError> {
        self.chain
            .shared_params_at(header.session_start_block_height)
            .await
            .map_err(chain_err)
    }

    /// Consumes the relay's cost from the (session, supplier) budget.
    async fn meter_consume(
        &self,
        header: &SessionHeader,
        supplier: &str,
    ) -> Result<u128, RelayError> {
        let Some(meter) = &self.meter else {
            return Ok(0);
        };
        let start = header.session_start_block_height;
        let end = header.session_end_block_height;
        let (p_start, p_end) = (
            self.pricing_params(header).await?,
            self.chain.shared_params_at(end).await.map_err(chain_err)?,
        );
        let cupr = self
            .chain
            .compute_units_per_relay(&header.service_id, start)
            .await
            .map_err(chain_err)?;
        let cost = protocol::claim::relay_cost_upokt(
            cupr,
            p_start.compute_units_to_tokens_multiplier,
            p_start.compute_unit_cost_granularity,
        )
        .map_err(|e| RelayError::Internal(e.to_string()))?;
        let stake = self
            .chain
            .application_stake(&header.application_address)
            .await
            .map_err(chain_err)?;
        let nsup = self
            .chain
            .suppliers_per_session(end)
            .await
            .map_err(chain_err)?;
        let pending =
            num_pending_sessions(&p_end).map_err(|e| RelayError::Internal(e.to_string()))?;
        let max = protocol::claim::max_upokt_per_session_supplier(stake, nsup, pending)
            .map_err(|e| RelayError::Internal(e.to_string()))?;
        let windows =
            SessionWindows::new(&p_end, end).map_err(|e| RelayError::Internal(e.to_string()))?;
        // The counter matters until the claim window closes; keep it a bit longer.
        let blocks_left = (windows.claim_window_close - self.chain.current_height()).max(1) as u64;
        let ttl = Duration::from_secs(blocks_left.saturating_mul(120).min(86_400 * 7));
        meter
            .consume(supplier, &header.session_id, cost, max, ttl)
            .await?;
        Ok(cost)
    }

    async fn meter_refund(&self, header: &SessionHeader, supplier: &str, cost: u128) {
        if let (Some(meter), true) = (&self.meter, cost > 0) {
            meter.refund(supplier, &header.session_id, cost).await;
        }
    }

    async fn forward_and_sign(
        &self,
        backend: &Backend,
        req: &RelayRequest,
        http_req: &PokthttpRequest,
        signer: &PrivateKey,
        timeout: Duration,
        started: Instant,
    ) -> Result<RelayResponse, RelayError> {
        let header = req.session_header().cloned().unwrap_or_default();
        let ctx = RelayContext {
            supplier: &req.meta.supplier_operator_address,
            service: &header.service_id,
            application: &header.application_address,
        };
        let backend_started = Instant::now();
        let reply = backend.call(http_req, ctx, timeout).await?;
        self.metrics
            .stage_seconds
            .with_label_values(&["backend"])
            .observe(backend_started.elapsed().as_secs_f64());
        if reply.status >= 500 {
            return Err(RelayError::BackendStatus {
                status: http::StatusCode::from_u16(reply.status)
                    .unwrap_or(http::StatusCode::BAD_GATEWAY),
                body: reply.body,
            });
        }
        let post = Instant::now();
        let mut res = RelayResponse::new(header, reply.to_payload().encode_to_vec());
        let sig = signer
            .sign_response(&res.signable_hash())
            .map_err(|e| RelayError::Internal(format!("signing: {e}")))?;
        res.meta.supplier_operator_signature = sig.to_vec();
        self.metrics
            .stage_seconds
            .with_label_values(&["post_backend"])
            .observe(post.elapsed().as_secs_f64());
        let _ = started;
        Ok(res)
    }

    /// Mines the relay (difficulty at the session start, eligibility by the
    /// claim window) and queues it for its supplier's stream (the queue task
    /// publishes it; see [`crate::publish`]).
    async fn publish(&self, req: RelayRequest, res: RelayResponse, validated: Validated) {
        let header = &validated.header;
        let current = self.chain.current_height();
        if !validated.windows.relay_is_eligible_at(current) {
            self.metrics
                .relays
                .with_label_values(&["served_not_mined"])
                .inc();
            self.metrics.published.with_label_values(&["late"]).inc();
            return;
        }
        let start = header.session_start_block_height;
        let (target, cupr) = match (
            self.chain
                .difficulty_target(&header.service_id, start)
                .await,
            self.chain
                .compute_units_per_relay(&header.service_id, start)
                .await,
        ) {
            (Ok(t), Ok(c)) => (t, c),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "cannot mine relay: chain state unavailable");
                self.metrics.published.with_label_values(&["error"]).inc();
                return;
            }
        };
        let bytes = mined_relay_bytes(&req, &res);
        let hash = relay_hash(&bytes);
        if !is_relay_mined(&hash, &target) {
            self.metrics
                .relays
                .with_label_values(&["served_not_mined"])
                .inc();
            self.metrics
                .published
                .with_label_values(&["not_mined"])
                .inc();
            return;
        }
        let mined = MinedRelay {
            relay_hash: hash.to_vec(),
            relay_bytes: bytes,
            compute_units_per_relay: cupr,
            session_id: header.session_id.clone(),
            session_end_height: header.session_end_block_height,
            supplier_operator_address: req.meta.supplier_operator_address.clone(),
            service_id: header.service_id.clone(),
            application_address: header.application_address.clone(),
            arrival_block_height: current,
            published_at_unix_nano: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as i64)
                .unwrap_or(0),
            session_start_height: start,
        };
        self.publisher.submit(mined);
    }
}

/// The HTTP request inside a relay's payload. A JSON-RPC relay whose payload
/// is not a `POKTHTTPRequest` (raw JSON-RPC bytes, as some clients send) is
/// forwarded as a `POST` of the payload.
fn backend_request(payload: &[u8], kind: RpcKind) -> Result<PokthttpRequest, RelayError> {
    match PokthttpRequest::decode(payload) {
        Ok(r) if http::Method::from_bytes(r.method.as_bytes()).is_ok() || r.method.is_empty() => {
            Ok(r)
        }
        Ok(_) | Err(_) if kind == RpcKind::Jsonrpc => {
            let mut header = std::collections::BTreeMap::new();
            header.insert(
                "Content-Type".to_owned(),
                protocol::pb::sdk::types::Header {
                    key: "Content-Type".into(),
                    values: vec!["application/json".into()],
                },
            );
            Ok(PokthttpRequest {
                method: "POST".into(),
                header,
                url: String::new(),
                body_bz: payload.to_vec(),
            })
        }
        Ok(r) => Err(RelayError::Decode(format!(
            "payload has an invalid HTTP method {:?}",
            r.method
        ))),
        Err(e) => Err(RelayError::Decode(format!(
            "payload is not a POKTHTTPRequest: {e}"
        ))),
    }
}

fn chain_err(e: ChainViewError) -> RelayError {
    match e {
        ChainViewError::NotFound(m) => RelayError::Session(m),
        ChainViewError::Unavailable(m) => RelayError::ChainUnavailable(m),
    }
}

/// Every field of the relay's header must equal the chain's (a forged start
/// height would get the supplier slashed at proof time).
fn compare_headers(got: &SessionHeader, chain: &SessionHeader) -> Result<(), RelayError> {
    let mismatch = |field: &str, a: &dyn std::fmt::Display, b: &dyn std::fmt::Display| {
        Err(RelayError::Session(format!(
            "{field} {a} does not match the chain's {b}"
        )))
    };
    if got.application_address != chain.application_address {
        return mismatch(
            "application",
            &got.application_address,
            &chain.application_address,
        );
    }
    if got.service_id != chain.service_id {
        return mismatch("service", &got.service_id, &chain.service_id);
    }
    if got.session_start_block_height != chain.session_start_block_height {
        return mismatch(
            "start height",
            &got.session_start_block_height,
            &chain.session_start_block_height,
        );
    }
    if got.session_end_block_height != chain.session_end_block_height {
        return mismatch(
            "end height",
            &got.session_end_block_height,
            &chain.session_end_block_height,
        );
    }
    if got.session_id != chain.session_id {
        return mismatch("session id", &got.session_id, &chain.session_id);
    }
    Ok(())
}

/// A simulated session id is `simv1:<unix seconds>:<hex nonce>` within the
/// freshness window of now.
fn check_fresh_simulation_session(session_id: &str, window: Duration) -> Result<(), RelayError> {
    let mut parts = session_id.splitn(3, ':');
    let (Some("simv1"), Some(ts), Some(nonce)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(RelayError::Simulation(format!(
            "session id {session_id:?} is not simv1:<unix>:<nonce>"
        )));
    };
    let ts: u64 = ts
        .parse()
        .map_err(|_| RelayError::Simulation("simv1 timestamp is not a number".into()))?;
    if nonce.is_empty() || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RelayError::Simulation("simv1 nonce is not hex".into()));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if now.abs_diff(ts) > window.as_secs() {
        return Err(RelayError::Simulation(format!(
            "stale simulated session ({ts}, now {now})"
        )));
    }
    Ok(())
}
