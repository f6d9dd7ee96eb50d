//! Typed gRPC queries (wire.md §10) with per-call deadlines, bounded retries
//! of transient failures, historical state through `x-cosmos-block-height`,
//! and errors that name the method and the height.
//!
//! [`QueryClient`] is cheap to clone (a tonic `Channel` underneath); it
//! connects lazily, so constructing it never blocks on the node.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use prost::Message;
use protocol::pb::cosmos::auth::v1beta1::{self as auth, BaseAccount};
use protocol::pb::cosmos::bank::v1beta1 as bank;
use protocol::pb::cosmos::base::abci::v1beta1::{GasInfo, TxResponse};
use protocol::pb::cosmos::base::query::v1beta1::PageRequest;
use protocol::pb::cosmos::tx::v1beta1::{
    self as txpb, BroadcastMode, BroadcastTxRequest, GetTxRequest, SimulateRequest,
};
use protocol::pb::pocket::application::{self as app, Application};
use protocol::pb::pocket::gateway::{self as gw, Gateway};
use protocol::pb::pocket::proof::{self, Claim, Proof};
use protocol::pb::pocket::service::{self as svc, RelayMiningDifficulty};
use protocol::pb::pocket::session::{self as sess, Session};
use protocol::pb::pocket::shared::{self, Service, Supplier};
use protocol::pb::pocket::supplier as sup;
use protocol::pb::pocket::tokenomics as tok;
use tonic::transport::{Channel, ClientTlsConfig};

use crate::config::GrpcConfig;
use crate::error::{AtHeight, Error, Result, is_transient_grpc_code};
use crate::metrics::{Metrics, method_label};
use crate::retry;

/// gRPC metadata key selecting historical state (cosmos-sdk).
pub const BLOCK_HEIGHT_HEADER: &str = "x-cosmos-block-height";

/// Page size of paginated queries.
const PAGE_LIMIT: u64 = 1000;
/// Upper bound on pages fetched by one paginated query (a guard against a
/// node that never ends pagination).
const MAX_PAGES: usize = 10_000;

/// Full gRPC method paths (wire.md §10), used in errors and metric labels.
pub mod methods {
    /// `pocket.session.Query/GetSession`.
    pub const GET_SESSION: &str = "/pocket.session.Query/GetSession";
    /// `pocket.session.Query/Params`.
    pub const SESSION_PARAMS: &str = "/pocket.session.Query/Params";
    /// `pocket.shared.Query/Params`.
    pub const SHARED_PARAMS: &str = "/pocket.shared.Query/Params";
    /// `pocket.shared.Query/ParamsAtHeight`.
    pub const SHARED_PARAMS_AT_HEIGHT: &str = "/pocket.shared.Query/ParamsAtHeight";
    /// `pocket.proof.Query/Params`.
    pub const PROOF_PARAMS: &str = "/pocket.proof.Query/Params";
    /// `pocket.proof.Query/Claim`.
    pub const CLAIM: &str = "/pocket.proof.Query/Claim";
    /// `pocket.proof.Query/AllClaims`.
    pub const ALL_CLAIMS: &str = "/pocket.proof.Query/AllClaims";
    /// `pocket.proof.Query/Proof`.
    pub const PROOF: &str = "/pocket.proof.Query/Proof";
    /// `pocket.application.Query/Application`.
    pub const APPLICATION: &str = "/pocket.application.Query/Application";
    /// `pocket.application.Query/AllApplications`.
    pub const ALL_APPLICATIONS: &str = "/pocket.application.Query/AllApplications";
    /// `pocket.application.Query/Params`.
    pub const APPLICATION_PARAMS: &str = "/pocket.application.Query/Params";
    /// `pocket.supplier.Query/Supplier`.
    pub const SUPPLIER: &str = "/pocket.supplier.Query/Supplier";
    /// `pocket.supplier.Query/AllSuppliers`.
    pub const ALL_SUPPLIERS: &str = "/pocket.supplier.Query/AllSuppliers";
    /// `pocket.supplier.Query/Params`.
    pub const SUPPLIER_PARAMS: &str = "/pocket.supplier.Query/Params";
    /// `pocket.gateway.Query/Gateway`.
    pub const GATEWAY: &str = "/pocket.gateway.Query/Gateway";
    /// `pocket.gateway.Query/Params`.
    pub const GATEWAY_PARAMS: &str = "/pocket.gateway.Query/Params";
    /// `pocket.service.Query/Service`.
    pub const SERVICE: &str = "/pocket.service.Query/Service";
    /// `pocket.service.Query/AllServices`.
    pub const ALL_SERVICES: &str = "/pocket.service.Query/AllServices";
    /// `pocket.service.Query/Params`.
    pub const SERVICE_PARAMS: &str = "/pocket.service.Query/Params";
    /// `pocket.service.Query/RelayMiningDifficulty` (live value).
    pub const RELAY_MINING_DIFFICULTY: &str = "/pocket.service.Query/RelayMiningDifficulty";
    /// `pocket.service.Query/RelayMiningDifficultyAtHeight`.
    pub const RELAY_MINING_DIFFICULTY_AT_HEIGHT: &str =
        "/pocket.service.Query/RelayMiningDifficultyAtHeight";
    /// `pocket.service.Query/ComputeUnitsPerRelayAtHeight`.
    pub const COMPUTE_UNITS_PER_RELAY_AT_HEIGHT: &str =
        "/pocket.service.Query/ComputeUnitsPerRelayAtHeight";
    /// `pocket.tokenomics.Query/Params`.
    pub const TOKENOMICS_PARAMS: &str = "/pocket.tokenomics.Query/Params";
    /// `cosmos.auth.v1beta1.Query/Account`.
    pub const ACCOUNT: &str = "/cosmos.auth.v1beta1.Query/Account";
    /// `cosmos.bank.v1beta1.Query/Balance`.
    pub const BALANCE: &str = "/cosmos.bank.v1beta1.Query/Balance";
    /// `cosmos.tx.v1beta1.Service/Simulate`.
    pub const SIMULATE: &str = "/cosmos.tx.v1beta1.Service/Simulate";
    /// `cosmos.tx.v1beta1.Service/BroadcastTx`.
    pub const BROADCAST_TX: &str = "/cosmos.tx.v1beta1.Service/BroadcastTx";
    /// `cosmos.tx.v1beta1.Service/GetTx`.
    pub const GET_TX: &str = "/cosmos.tx.v1beta1.Service/GetTx";
}

/// Which claims `AllClaims` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimFilter {
    /// Claims of one supplier operator.
    Supplier(String),
    /// Claims of one session (every supplier).
    SessionId(String),
    /// Claims of sessions ending at this height.
    SessionEndHeight(u64),
}

/// The typed gRPC query client. Clone it freely.
#[derive(Clone, Debug)]
pub struct QueryClient {
    channel: Channel,
    config: Arc<GrpcConfig>,
    metrics: Metrics,
    height: Option<u64>,
}

impl QueryClient {
    /// A client for `config.url` (`http://` plaintext, `https://` TLS with the
    /// system roots). Connects lazily: the first call opens the connection.
    ///
    /// # Errors
    /// [`Error::Endpoint`] for a malformed URL or TLS setup failure.
    pub fn new(config: &GrpcConfig, metrics: Metrics) -> Result<Self> {
        let bad = |reason: String| Error::Endpoint {
            url: config.url.clone(),
            reason,
        };
        let parsed = crate::net::Endpoint::parse(&config.url, crate::net::Scheme::Http)?;
        let mut endpoint = tonic::transport::Endpoint::from_shared(config.url.clone())
            .map_err(|e| bad(e.to_string()))?
            .connect_timeout(config.connect_timeout)
            .http2_keep_alive_interval(config.keepalive_interval)
            .keep_alive_timeout(
                config
                    .request_timeout
                    .max(std::time::Duration::from_secs(10)),
            )
            .keep_alive_while_idle(true)
            .tcp_nodelay(true);
        if parsed.tls {
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().with_native_roots())
                .map_err(|e| bad(e.to_string()))?;
        }
        Ok(QueryClient {
            channel: endpoint.connect_lazy(),
            config: Arc::new(config.clone()),
            metrics,
            height: None,
        })
    }

    /// The same client querying historical state at `height`
    /// (`x-cosmos-block-height`). Errors then name that height.
    #[must_use]
    pub fn at_height(&self, height: u64) -> Self {
        QueryClient {
            height: Some(height),
            ..self.clone()
        }
    }

    /// The same client querying the latest state.
    #[must_use]
    pub fn latest(&self) -> Self {
        QueryClient {
            height: None,
            ..self.clone()
        }
    }

    /// The height this client queries at (`None` = latest).
    #[must_use]
    pub fn height(&self) -> Option<u64> {
        self.height
    }

    /// One call with deadline, height header, bounded retries and metrics.
    async fn call<Req, Resp, F, Fut>(&self, method: &'static str, req: Req, f: F) -> Result<Resp>
    where
        Req: Clone,
        F: Fn(Channel, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = std::result::Result<tonic::Response<Resp>, tonic::Status>>,
    {
        let label = method_label(method);
        let policy = &self.config.retry;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut request = tonic::Request::new(req.clone());
            request.set_timeout(self.config.request_timeout);
            if let Some(h) = self.height {
                request
                    .metadata_mut()
                    .insert(BLOCK_HEIGHT_HEADER, tonic::metadata::MetadataValue::from(h));
            }
            let started = Instant::now();
            let outcome = tokio::time::timeout(
                self.config.request_timeout,
                f(self.channel.clone(), request),
            )
            .await;
            self.metrics
                .query_duration
                .with_label_values(&[label])
                .observe(started.elapsed().as_secs_f64());
            let status = match outcome {
                Ok(Ok(response)) => return Ok(response.into_inner()),
                Ok(Err(status)) => status,
                Err(_) => tonic::Status::deadline_exceeded(format!(
                    "no answer within {:?}",
                    self.config.request_timeout
                )),
            };
            let code = status.code();
            self.metrics
                .query_errors
                .with_label_values(&[label, code_label(code)])
                .inc();
            if !is_transient_grpc_code(code) || attempt >= policy.max_attempts {
                return Err(Error::Grpc {
                    method,
                    height: AtHeight(self.height),
                    code,
                    message: status.message().to_owned(),
                    attempts: attempt,
                });
            }
            self.metrics.query_retries.with_label_values(&[label]).inc();
            tracing::debug!(
                method,
                attempt,
                ?code,
                message = status.message(),
                "retrying gRPC query"
            );
            tokio::time::sleep(retry::delay_after(policy, attempt)).await;
        }
    }

    fn missing(&self, method: &'static str, field: &'static str) -> Error {
        Error::MissingField {
            method,
            height: AtHeight(self.height),
            field,
        }
    }

    fn limit(&self) -> usize {
        self.config.max_response_bytes
    }

    // ---- session ----------------------------------------------------------

    /// `GetSession(app, service, block_height)`; `block_height` 0 = latest.
    ///
    /// # Errors
    /// [`Error::Grpc`] (`Internal` when the app is not staked for the service,
    /// no supplier serves it, or the height is ahead of the node).
    pub async fn session(&self, app: &str, service: &str, block_height: i64) -> Result<Session> {
        let limit = self.limit();
        let req = sess::QueryGetSessionRequest {
            application_address: app.to_owned(),
            service_id: service.to_owned(),
            block_height,
        };
        let resp = self
            .call(methods::GET_SESSION, req, |ch, r| async move {
                sess::query_client::QueryClient::new(ch)
                    .max_decoding_message_size(limit)
                    .get_session(r)
                    .await
            })
            .await?;
        resp.session
            .ok_or_else(|| self.missing(methods::GET_SESSION, "session"))
    }

    /// Session module params.
    ///
    /// # Errors
    /// [`Error::Grpc`] or [`Error::MissingField`].
    pub async fn session_params(&self) -> Result<sess::Params> {
        let limit = self.limit();
        let resp = self
            .call(
                methods::SESSION_PARAMS,
                sess::QueryParamsRequest {},
                |ch, r| async move {
                    sess::query_client::QueryClient::new(ch)
                        .max_decoding_message_size(limit)
                        .params(r)
                        .await
                },
            )
            .await?;
        resp.params
            .ok_or_else(|| self.missing(methods::SESSION_PARAMS, "params"))
    }

    // ---- shared -----------------------------------------------------------

    /// Live shared params.
    ///
    /// # Errors
    /// [`Error::Grpc`] or [`Error::MissingField`].
    pub async fn shared_params(&self) -> Result<shared::Params> {
        let limit = self.limit();
        let resp = self
            .call(
                methods::SHARED_PARAMS,
                shared::QueryParamsRequest {},
                |ch, r| async move {
                    shared::query_client::QueryClient::new(ch)
                        .max_decoding_message_size(limit)
                        .params(r)
                        .await
                },
            )
            .await?;
        resp.params
            .ok_or_else(|| self.missing(methods::SHARED_PARAMS, "params"))
    }

    /// Shared params effective at `height` (`ParamsAtHeight`: the snapshot with
    /// the greatest effective height ≤ `height`), for window math.
    ///
    /// # Errors
    /// [`Error::Grpc`] or [`Error::MissingField`].
    pub async fn shared_params_at_height(&self, height: i64) -> Result<shared::Params> {
        let limit = self.limit();
        let req = shared::QueryParamsAtHeightRequest { height };
        let resp = self
            .call(methods::SHARED_PARAMS_AT_HEIGHT, req, |ch, r| async move {
                shared::query_client::QueryClient::new(ch)
                    .max_decoding_message_size(limit)
                    .params_at_height(r)
                    .await
            })
            .await?;
        resp.params
            .ok_or_else(|| self.missing(methods::SHARED_PARAMS_AT_HEIGHT, "params"))
    }

    // ---- proof ------------------------------------------------------------

    /// Proof module params (the chain reads these live).
    ///
    /// # Errors
    /// [`Error::Grpc`] or [`Error::MissingField`].
    pub async fn proof_params(&self) -> Result<proof::Params> {
        let limit = self.limit();
        let resp = self
            .call(
                methods::PROOF_PARAMS,
                proof::QueryParamsRequest {},
                |ch, r| async move {
                    proof::query_client::QueryClient::new(ch)
                        .max_decoding_message_size(limit)
                        .params(r)
                        .await
                },
            )
            .await?;
        resp.params
            .ok_or_else(|| self.missing(methods::PROOF_PARAMS, "params"))
    }

    /// The claim of `supplier` for `session_id`, or `None` if the chain has
    /// none (never created, dropped, or already settled and removed).
    ///
    /// # Errors
    /// [`Error::Grpc`] other than `NotFound`.
    pub async fn claim(&self, session_id: &str, supplier: &str) -> Result<Option<Claim>> {
        let limit = self.limit();
        let req = proof::QueryGetClaimRequest {
            session_id: session_id.to_owned(),
            supplier_operator_address: supplier.to_owned(),
        };
        let resp = self
            .call(methods::CLAIM, req, |ch, r| async move {
                proof::query_client::QueryClient::new(ch)
                    .max_decoding_message_size(limit)
                    .claim(r)
                    .await
            })
            .await;
        match resp {
            Ok(r) => Ok(r.claim),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// All claims matching `filter` (every page).
    ///
    /// # Errors
    /// [`Error::Grpc`].
    pub async fn claims(&self, filter: ClaimFilter) -> Result<Vec<Claim>> {
        use proof::query_all_claims_request::Filter;
        let limit = self.limit();
        let filter = match filter {
            ClaimFilter::Supplier(s) => Filter::SupplierOperatorAddress(s),
            ClaimFilter::SessionId(s) => Filter::SessionId(s),
            ClaimFilter::SessionEndHeight(h) => Filter::SessionEndHeight(h),
        };
        let mut out = Vec::new();
        let mut key = Vec::new();
        for _ in 0..MAX_PAGES {
            let req = proof::QueryAllClaimsRequest {
                pagination: Some(page(key)),
                filter: Some(filter.clone()),
            };
            let resp = self
                .call(methods::ALL_CLAIMS, req, |ch, r| async move {
                    proof::query_client::QueryClient::new(ch)
                        .max_decoding_message_size(limit)
                        .all_claims(r)
                        .await
                })
                .await?;
            out.extend(resp.claims);
            match resp
                .pagination
                .map(|p| p.next_key)
                .filter(|k| !k.is_empty())
            {
                Some(next) => key = next,
                None => return Ok(out),
            }
        }
        Ok(out)
    }

    /// The proof of `supplier` for `session_id`, or `None`. Proofs are removed
    /// in the EndBlocker of the block that validated them, so `None` is usual;
    /// use the claim's `proof_validation_status` for outcomes.
    ///
    /// # Errors
    /// [`Error::Grpc`] other than `NotFound`.
    pub async fn proof(&self, session_id: &str, supplier: &str) -> Result<Option<Proof>> {
        let limit = self.limit();
        let req = proof::QueryGetProofRequest {
            session_id: session_id.to_owned(),
            supplier_operator_address: supplier.to_owned(),
        };
        let resp = self
            .call(methods::PROOF, req, |ch, r| async move {
                proof::query_client::QueryClient::new(ch)
                    .max_decoding_message_size(limit)
                    .proof(r)
                    .await
            })
            .await;
        match resp {
            Ok(r) => Ok(r.proof),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    // ---- application ------------------------------------------------------

    /// The application at `address` (current delegations; past ones are
    /// reconstructed client-side, signatures.md §2).
    ///
    /// # Errors
    /// [`Error::Grpc`] (`NotFound` if not staked: see [`Error::is_not_found`]).
    pub async fn application(&self, address: &str) -> Result<Application> {
        let limit = self.limit();
        let req = app::QueryGetApplicationRequest {
            address: address.to_owned(),
        };
        let resp = self
            .call(methods::APPLICATION, req, |ch, r| async move {
                app::query_client::QueryClient::new(ch)
                    .max_decoding_message_size(limit)
                    .application(r)
                    .await
            })
            .await?;
        resp.application
            .ok_or_else(|| self.missing(methods::APPLICATION, "application"))
    }

    /// All applications, optionally only those delegating to `gateway`.
    ///
    /// # Errors
    /// [`Error::Grpc`].
    pub async fn applications(&self, delegatee_gateway: Option<&str>) -> Result<Vec<Application>> {
        let limit = self.limit();
        let mut out = Vec::new();
        let mut key = Vec::new();
        for _ in 0..MAX_PAGES {
            let req = app::QueryAllApplicationsRequest {
                pagination: Some(page(key)),
                delegatee_gateway_address: delegatee_gateway.unwrap_or_default().to_owned(),
            };
            let resp = self
                .call(methods::ALL_APPLICATIONS, req, |ch, r| async move {
                    app::query_client::QueryClient::new(ch)
                        .max_decoding_message_size(limit)
                        .all_applications(r)
                        .await
                })
                .await?;
            out.extend(resp.applications);
            match resp
                .pagination
                .map(|p| p.next_key)
                .filter(|k| !k.is_empty())
            {
                Some(next) => key = next,
                None => return Ok(out),
            }
        }
        Ok(out)
    }

    /// Application module params.
    ///
    /// # Errors
    /// [`Error::Grpc`] or [`Error::MissingField`].
    pub async fn application_params(&self) -> Result<app::Params> {
        let limit = self.limit();
        let resp = self
            .call(
                methods::APPLICATION_PARAMS,
                app::QueryParamsRequest {},
                |ch, r| async move {
                    app::query_client::QueryClient::new(ch)
                        .max_decoding_message_size(limit)
                        .params(r)
                        .await
                },
            )
            .await?;
        resp.params
            .ok_or_else(|| self.missing(methods::APPLICATION_PARAMS, "params"))
    }

    // ---- supplier ---------------------------------------------------------

    /// The supplier with operator `address` (full, not dehydrated).
    ///
    /// # Errors
    /// [`Error::Grpc`] (`NotFound` if not staked).
    pub async fn supplier(&self, address: &str) -> Result<Supplier> {
        let limit = self.limit();
        let req = sup::QueryGetSupplierRequest {
            operator_address: address.to_owned(),
            dehydrated: false,
        };
        let resp = self
            .call(methods::SUPPLIER, req, |ch, r| async move {
                sup::query_client::QueryClient::new(ch)
                    .max_decoding_message_size(limit)
                    .supplier(r)
                    .await
            })
            .await?;
        resp.supplier
            .ok_or_else(|| self.missing(methods::SUPPLIER, "supplier"))
    }

    /// All suppliers, optionally only those staked for `service_id`.
    ///
    /// # Errors
    /// [`Error::Grpc`].
    pub async fn suppliers(&self, service_id: Option<&str>) -> Result<Vec<Supplier>> {
        let limit = self.limit();
        let mut out = Vec::new();
        let mut key = Vec::new();
        for _ in 0..MAX_PAGES {
            let req = sup::QueryAllSuppliersRequest {
                pagination: Some(page(key)),
                dehydrated: false,
                filter: service_id
                    .map(|s| sup::query_all_suppliers_request::Filter::ServiceId(s.to_owned())),
            };
            let resp = self
                .call(methods::ALL_SUPPLIERS, req, |ch, r| async move {
                    sup::query_client::QueryClient::new(ch)
                        .max_decoding_message_size(limit)
                        .all_suppliers(r)
                        .await
                })
                .await?;
            out.extend(resp.supplier);
            match resp
                .pagination
                .map(|p| p.next_key)
                .filter(|k| !k.is_empty())
            {
                Some(next) => key = next,
                None => return Ok(out),
            }
        }
        Ok(out)
    }

    /// Supplier module params.
    ///
    /// # Errors
    /// [`Error::Grpc`] or [`Error::MissingField`].
    pub async fn supplier_params(&self) -> Result<sup::Params> {
        let limit = self.limit();
        let resp = self
            .call(
                methods::SUPPLIER_PARAMS,
                sup::QueryParamsRequest {},
                |ch, r| async move {
                    sup::query_client::QueryClient::new(ch)
                        .max_decoding_message_size(limit)
                        .params(r)
                        .await
                },
            )
            .await?;
        resp.params
            .ok_or_else(|| self.missing(methods::SUPPLIER_PARAMS, "params"))
    }

    // ---- gateway ----------------------------------------------------------

    /// The gateway at `address`.
    ///
    /// # Errors
    /// [`Error::Grpc`] (`NotFound` if not staked).
    pub async fn gateway(&self, address: &str) -> Result<Gateway> {
        let limit = self.limit();
        let req = gw::QueryGetGatewayRequest {
            address: address.to_owned(),
            dehydrated: false,
        };
        let resp = self
            .call(methods::GATEWAY, req, |ch, r| async move {
                gw::query_client::QueryClient::new(ch)
                    .max_decoding_message_size(limit)
                    .gateway(r)
                    .await
            })
            .await?;
        resp.gateway
            .ok_or_else(|| self.missing(methods::GATEWAY, "gateway"))
    }

    /// Gateway module params.
    ///
    /// # Errors
    /// [`Error::Grpc`] or [`Error::MissingField`].
    pub async fn gateway_params(&self) -> Result<gw::Params> {
        let limit = self.limit();
        let resp = self
            .call(
                methods::GATEWAY_PARAMS,
                gw::QueryParamsRequest {},
                |ch, r| async move {
                    gw::query_client::QueryClient::new(ch)
                        .max_decoding_message_size(limit)
                        .params(r)
                        .await
                },
            )
            .await?;
        resp.params
            .ok_or_else(|| self.missing(methods::GATEWAY_PARAMS, "params"))
    }

    // ---- service ----------------------------------------------------------

    /// The service `id`.
    ///
    /// # Errors
    /// [`Error::Grpc`] (`NotFound` if unknown).
    pub async fn service(&self, id: &str) -> Result<Service> {
        let limit = self.limit();
        let req = svc::QueryGetServiceRequest {
            id: id.to_owned(),
            dehydrated: false,
        };
        let resp = self
            .call(methods::SERVICE, req, |ch, r| async move {
                svc::query_client::QueryClient::new(ch)
                    .max_decoding_message_size(limit)
                    .service(r)
                    .await
            })
            .await?;
        resp.service
            .ok_or_else(|| self.missing(methods::SERVICE, "service"))
    }

    /// All services.
    ///
    /// # Errors
    /// [`Error::Grpc`].
    pub async fn services(&self) -> Result<Vec<Service>> {
        let limit = self.limit();
        let mut out = Vec::new();
        let mut key = Vec::new();
        for _ in 0..MAX_PAGES {
            let req = svc::QueryAllServicesRequest {
                pagination: Some(page(key)),
                dehydrated: false,
            };
            let resp = self
                .call(methods::ALL_SERVICES, req, |ch, r| async move {
                    svc::query_client::QueryClient::new(ch)
                        .max_decoding_message_size(limit)
                        .all_services(r)
                        .await
                })
                .await?;
            out.extend(resp.service);
            match resp
                .pagination
                .map(|p| p.next_key)
                .filter(|k| !k.is_empty())
            {
                Some(next) => key = next,
                None => return Ok(out),
            }
        }
        Ok(out)
    }

    /// Service module params.
    ///
    /// # Errors
    /// [`Error::Grpc`] or [`Error::MissingField`].
    pub async fn service_params(&self) -> Result<svc::Params> {
        let limit = self.limit();
        let resp = self
            .call(
                methods::SERVICE_PARAMS,
                svc::QueryParamsRequest {},
                |ch, r| async move {
                    svc::query_client::QueryClient::new(ch)
                        .max_decoding_message_size(limit)
                        .params(r)
                        .await
                },
            )
            .await?;
        resp.params
            .ok_or_else(|| self.missing(methods::SERVICE_PARAMS, "params"))
    }

    /// The **live** relay mining difficulty of `service_id`. Do not use it for
    /// mining: use [`Self::relay_mining_difficulty_at_height`] with the session
    /// start height.
    ///
    /// # Errors
    /// [`Error::Grpc`] or [`Error::MissingField`].
    pub async fn relay_mining_difficulty(&self, service_id: &str) -> Result<RelayMiningDifficulty> {
        let limit = self.limit();
        let req = svc::QueryGetRelayMiningDifficultyRequest {
            service_id: service_id.to_owned(),
        };
        let resp = self
            .call(methods::RELAY_MINING_DIFFICULTY, req, |ch, r| async move {
                svc::query_client::QueryClient::new(ch)
                    .max_decoding_message_size(limit)
                    .relay_mining_difficulty(r)
                    .await
            })
            .await?;
        resp.relay_mining_difficulty
            .ok_or_else(|| self.missing(methods::RELAY_MINING_DIFFICULTY, "relayMiningDifficulty"))
    }

    /// The relay mining difficulty of `service_id` effective at `block_height`
    /// (use the session start height; the base difficulty when no history).
    ///
    /// # Errors
    /// [`Error::Grpc`] or [`Error::MissingField`].
    pub async fn relay_mining_difficulty_at_height(
        &self,
        service_id: &str,
        block_height: i64,
    ) -> Result<RelayMiningDifficulty> {
        let limit = self.limit();
        let req = svc::QueryGetRelayMiningDifficultyAtHeightRequest {
            service_id: service_id.to_owned(),
            block_height,
        };
        let resp = self
            .call(
                methods::RELAY_MINING_DIFFICULTY_AT_HEIGHT,
                req,
                |ch, r| async move {
                    svc::query_client::QueryClient::new(ch)
                        .max_decoding_message_size(limit)
                        .relay_mining_difficulty_at_height(r)
                        .await
                },
            )
            .await?;
        resp.relay_mining_difficulty.ok_or_else(|| {
            self.missing(
                methods::RELAY_MINING_DIFFICULTY_AT_HEIGHT,
                "relayMiningDifficulty",
            )
        })
    }

    /// Compute units per relay of `service_id` at `block_height` (the SMST
    /// weight: use the session start height).
    ///
    /// # Errors
    /// [`Error::Grpc`] (`Unimplemented` on chains older than v0.1.35).
    pub async fn compute_units_per_relay_at_height(
        &self,
        service_id: &str,
        block_height: i64,
    ) -> Result<u64> {
        let limit = self.limit();
        let req = svc::QueryGetComputeUnitsPerRelayAtHeightRequest {
            service_id: service_id.to_owned(),
            block_height,
        };
        let resp = self
            .call(
                methods::COMPUTE_UNITS_PER_RELAY_AT_HEIGHT,
                req,
                |ch, r| async move {
                    svc::query_client::QueryClient::new(ch)
                        .max_decoding_message_size(limit)
                        .compute_units_per_relay_at_height(r)
                        .await
                },
            )
            .await?;
        Ok(resp.compute_units_per_relay)
    }

    // ---- tokenomics -------------------------------------------------------

    /// Tokenomics module params.
    ///
    /// # Errors
    /// [`Error::Grpc`] or [`Error::MissingField`].
    pub async fn tokenomics_params(&self) -> Result<tok::Params> {
        let limit = self.limit();
        let resp = self
            .call(
                methods::TOKENOMICS_PARAMS,
                tok::QueryParamsRequest {},
                |ch, r| async move {
                    tok::query_client::QueryClient::new(ch)
                        .max_decoding_message_size(limit)
                        .params(r)
                        .await
                },
            )
            .await?;
        resp.params
            .ok_or_else(|| self.missing(methods::TOKENOMICS_PARAMS, "params"))
    }

    // ---- auth and bank ----------------------------------------------------

    /// The base account at `address`, or `None` if the chain has no account
    /// there (never funded). `pub_key` is `None` until the account has signed
    /// a tx (README pitfall 9).
    ///
    /// # Errors
    /// [`Error::Grpc`] other than `NotFound`; [`Error::Decode`] for an account
    /// that is not a `BaseAccount`.
    pub async fn account(&self, address: &str) -> Result<Option<BaseAccount>> {
        let limit = self.limit();
        let req = auth::QueryAccountRequest {
            address: address.to_owned(),
        };
        let resp = self
            .call(methods::ACCOUNT, req, |ch, r| async move {
                auth::query_client::QueryClient::new(ch)
                    .max_decoding_message_size(limit)
                    .account(r)
                    .await
            })
            .await;
        let any = match resp {
            Ok(r) => r
                .account
                .ok_or_else(|| self.missing(methods::ACCOUNT, "account"))?,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        if any.type_url != protocol::BASE_ACCOUNT_TYPE_URL {
            return Err(Error::Decode {
                method: methods::ACCOUNT,
                reason: format!("account {address} is a {}, not a BaseAccount", any.type_url),
            });
        }
        BaseAccount::decode(any.value.as_slice())
            .map(Some)
            .map_err(|e| Error::Decode {
                method: methods::ACCOUNT,
                reason: e.to_string(),
            })
    }

    /// The `upokt` balance of `address` (0 for an unknown account).
    ///
    /// # Errors
    /// [`Error::Grpc`]; [`Error::Decode`] for a non-integer amount.
    pub async fn balance(&self, address: &str) -> Result<u128> {
        let limit = self.limit();
        let req = bank::QueryBalanceRequest {
            address: address.to_owned(),
            denom: protocol::DENOM.to_owned(),
        };
        let resp = self
            .call(methods::BALANCE, req, |ch, r| async move {
                bank::query_client::QueryClient::new(ch)
                    .max_decoding_message_size(limit)
                    .balance(r)
                    .await
            })
            .await?;
        let Some(coin) = resp.balance else {
            return Ok(0);
        };
        if coin.amount.is_empty() {
            return Ok(0);
        }
        coin.amount.parse::<u128>().map_err(|e| Error::Decode {
            method: methods::BALANCE,
            reason: format!("amount {:?}: {e}", coin.amount),
        })
    }

    // ---- tx service -------------------------------------------------------

    /// `Simulate` of signed (or unsigned) tx bytes: the gas the chain would use.
    /// Not retried on `Unknown` (the node's answer for a failing tx).
    ///
    /// # Errors
    /// [`Error::Grpc`] carrying the node's reason.
    pub async fn simulate(&self, tx_bytes: Vec<u8>) -> Result<GasInfo> {
        let limit = self.limit();
        #[allow(deprecated)]
        let req = SimulateRequest { tx: None, tx_bytes };
        let resp = self
            .call(methods::SIMULATE, req, |ch, r| async move {
                txpb::service_client::ServiceClient::new(ch)
                    .max_decoding_message_size(limit)
                    .simulate(r)
                    .await
            })
            .await?;
        resp.gas_info
            .ok_or_else(|| self.missing(methods::SIMULATE, "gas_info"))
    }

    /// `BroadcastTx` in SYNC mode: the CheckTx result (code 0 = in the mempool,
    /// not yet included). Re-sending the same bytes is safe (code 19 = already
    /// in the mempool cache), so transient failures are retried.
    ///
    /// # Errors
    /// [`Error::Grpc`] when no answer could be had; a CheckTx rejection is an
    /// `Ok` response with a non-zero code.
    pub async fn broadcast_tx_sync(&self, tx_bytes: Vec<u8>) -> Result<TxResponse> {
        let limit = self.limit();
        let req = BroadcastTxRequest {
            tx_bytes,
            mode: BroadcastMode::Sync as i32,
        };
        let resp = self
            .call(methods::BROADCAST_TX, req, |ch, r| async move {
                txpb::service_client::ServiceClient::new(ch)
                    .max_decoding_message_size(limit)
                    .broadcast_tx(r)
                    .await
            })
            .await?;
        resp.tx_response
            .ok_or_else(|| self.missing(methods::BROADCAST_TX, "tx_response"))
    }

    /// `GetTx` by hash (needs tx indexing on the node): the DeliverTx result of
    /// an included tx, or `None` if the node does not know it.
    ///
    /// # Errors
    /// [`Error::Grpc`] other than `NotFound`.
    pub async fn tx(&self, hash: &str) -> Result<Option<TxResponse>> {
        let limit = self.limit();
        let req = GetTxRequest {
            hash: hash.to_owned(),
        };
        let resp = self
            .call(methods::GET_TX, req, |ch, r| async move {
                txpb::service_client::ServiceClient::new(ch)
                    .max_decoding_message_size(limit)
                    .get_tx(r)
                    .await
            })
            .await;
        match resp {
            Ok(r) => Ok(r.tx_response),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn page(key: Vec<u8>) -> PageRequest {
    PageRequest {
        key,
        offset: 0,
        limit: PAGE_LIMIT,
        count_total: false,
        reverse: false,
    }
}

/// A short, closed-set label for a gRPC code.
fn code_label(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::Ok => "ok",
        tonic::Code::Cancelled => "cancelled",
        tonic::Code::Unknown => "unknown",
        tonic::Code::InvalidArgument => "invalid_argument",
        tonic::Code::DeadlineExceeded => "deadline_exceeded",
        tonic::Code::NotFound => "not_found",
        tonic::Code::AlreadyExists => "already_exists",
        tonic::Code::PermissionDenied => "permission_denied",
        tonic::Code::ResourceExhausted => "resource_exhausted",
        tonic::Code::FailedPrecondition => "failed_precondition",
        tonic::Code::Aborted => "aborted",
        tonic::Code::OutOfRange => "out_of_range",
        tonic::Code::Unimplemented => "unimplemented",
        tonic::Code::Internal => "internal",
        tonic::Code::Unavailable => "unavailable",
        tonic::Code::DataLoss => "data_loss",
        tonic::Code::Unauthenticated => "unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_plaintext_and_tls_clients_without_connecting() {
        let metrics = Metrics::unregistered().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // connect_lazy needs a runtime context but opens no connection.
        let _guard = rt.enter();
        for url in ["http://127.0.0.1:9090", "https://grpc.example.invalid:443"] {
            let cfg = GrpcConfig {
                url: url.into(),
                ..GrpcConfig::default()
            };
            let q = QueryClient::new(&cfg, metrics.clone()).unwrap();
            assert_eq!(q.height(), None);
            assert_eq!(q.at_height(7).height(), Some(7));
            assert_eq!(q.at_height(7).latest().height(), None);
        }
        let bad = GrpcConfig {
            url: "grpc://127.0.0.1:9090".into(),
            ..GrpcConfig::default()
        };
        assert!(matches!(
            QueryClient::new(&bad, metrics),
            Err(Error::Endpoint { .. })
        ));
    }

    #[test]
    fn code_labels_are_snake_case() {
        assert_eq!(
            code_label(tonic::Code::DeadlineExceeded),
            "deadline_exceeded"
        );
        assert_eq!(code_label(tonic::Code::Unavailable), "unavailable");
    }
}
