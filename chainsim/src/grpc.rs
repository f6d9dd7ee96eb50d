//! The gRPC server: every query and tx service of wire.md §10 on one tonic
//! server, answering from the chain state. Height-dependent answers honour
//! the `x-cosmos-block-height` request header; every answer carries it back.

use std::sync::Arc;

use prost::Message;
use protocol::pb::cosmos::auth::v1beta1 as auth;
use protocol::pb::cosmos::bank::v1beta1 as bank;
use protocol::pb::cosmos::base::abci::v1beta1::{GasInfo, Result as AbciResult, TxResponse};
use protocol::pb::cosmos::base::query::v1beta1::{PageRequest, PageResponse};
use protocol::pb::cosmos::base::v1beta1::Coin;
use protocol::pb::cosmos::tx::v1beta1 as tx;
use protocol::pb::pocket::{
    application, gateway, proof, service, session, shared, supplier, tokenomics,
};
use tokio::net::TcpListener;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use crate::block::{Event, TxResult, rfc3339};
use crate::node::Node;

/// The cosmos-sdk height header.
const HEIGHT_HEADER: &str = "x-cosmos-block-height";
/// Default page size.
const DEFAULT_PAGE_LIMIT: u64 = 100;
/// Largest message the server decodes (proofs carry whole relays).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// The one implementation of every service.
#[derive(Clone)]
pub(crate) struct Api {
    node: Arc<Node>,
}

/// Serves gRPC on `listener` until the node is cancelled.
pub(crate) async fn serve(node: Arc<Node>, listener: TcpListener) {
    let api = Api { node: node.clone() };
    let cancel = node.cancel.clone();
    macro_rules! svc {
        ($server:path) => {{
            use $server as S;
            S::new(api.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES)
        }};
    }
    let router = tonic::transport::Server::builder()
        .add_service(svc!(session::query_server::QueryServer))
        .add_service(svc!(shared::query_server::QueryServer))
        .add_service(svc!(proof::query_server::QueryServer))
        .add_service(svc!(application::query_server::QueryServer))
        .add_service(svc!(gateway::query_server::QueryServer))
        .add_service(svc!(supplier::query_server::QueryServer))
        .add_service(svc!(service::query_server::QueryServer))
        .add_service(svc!(tokenomics::query_server::QueryServer))
        .add_service(svc!(auth::query_server::QueryServer))
        .add_service(svc!(bank::query_server::QueryServer))
        .add_service(svc!(tx::service_server::ServiceServer));
    // Without TCP_NODELAY, Nagle's algorithm holds back the response frames
    // written after the first until the client's delayed ACK (~40 ms per
    // call on Linux loopback, measured on `Simulate`).
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    if let Err(e) = router
        .serve_with_incoming_shutdown(incoming, cancel.cancelled_owned())
        .await
    {
        tracing::error!(error = %e, "chainsim gRPC server failed");
        node.cancel.cancel();
    }
}

type Reply<T> = Result<Response<T>, Status>;

impl Api {
    /// The height a query is about: the header's, else the latest.
    fn query_height(&self, md: &MetadataMap) -> Result<i64, Status> {
        let latest = self.node.lock().height();
        let Some(v) = md.get(HEIGHT_HEADER) else {
            return Ok(latest);
        };
        let h: i64 = v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| Status::invalid_argument("invalid x-cosmos-block-height header"))?;
        if h < 0 {
            return Err(Status::invalid_argument("height must not be negative"));
        }
        if h > latest {
            return Err(Status::invalid_argument(format!(
                "cannot query with height in the future; please provide a valid height (latest {latest}, asked {h})"
            )));
        }
        Ok(if h == 0 { latest } else { h })
    }

    fn reply<T>(&self, msg: T, height: i64) -> Reply<T> {
        let mut r = Response::new(msg);
        if let Ok(v) = height.to_string().parse() {
            r.metadata_mut().insert(HEIGHT_HEADER, v);
        }
        Ok(r)
    }
}

fn page<T: Clone>(items: Vec<T>, req: Option<&PageRequest>) -> (Vec<T>, PageResponse) {
    let total = items.len() as u64;
    let (mut offset, mut limit, count_total, reverse) = match req {
        Some(p) => (p.offset, p.limit, p.count_total, p.reverse),
        None => (0, 0, false, false),
    };
    if let Some(p) = req
        && p.key.len() == 8
    {
        let mut k = [0u8; 8];
        k.copy_from_slice(&p.key);
        offset = u64::from_be_bytes(k);
    }
    if limit == 0 {
        limit = DEFAULT_PAGE_LIMIT;
    }
    let mut items = items;
    if reverse {
        items.reverse();
    }
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(items.len());
    let end = start
        .saturating_add(usize::try_from(limit).unwrap_or(usize::MAX))
        .min(items.len());
    let next_key = if end < items.len() {
        (end as u64).to_be_bytes().to_vec()
    } else {
        Vec::new()
    };
    (
        items[start..end].to_vec(),
        PageResponse {
            next_key,
            total: if count_total { total } else { 0 },
        },
    )
}

fn coin(amount: u128) -> Coin {
    Coin {
        denom: protocol::DENOM.into(),
        amount: amount.to_string(),
    }
}

fn dehydrate(mut s: shared::Supplier, dehydrated: bool) -> shared::Supplier {
    if dehydrated {
        s.service_config_history.clear();
    }
    s
}

fn abci_events(events: &[Event]) -> Vec<protocol::pb::tendermint::abci::Event> {
    events
        .iter()
        .map(|e| protocol::pb::tendermint::abci::Event {
            r#type: e.kind.clone(),
            attributes: e
                .attributes
                .iter()
                .map(|(k, v)| protocol::pb::tendermint::abci::EventAttribute {
                    key: k.clone(),
                    value: v.clone(),
                    index: true,
                })
                .collect(),
        })
        .collect()
}

fn tx_response(hash: String, height: i64, r: &TxResult, time: Option<i128>) -> TxResponse {
    TxResponse {
        height,
        txhash: hash,
        codespace: r.codespace.clone(),
        code: r.code,
        data: String::new(),
        raw_log: r.log.clone(),
        logs: Vec::new(),
        info: String::new(),
        gas_wanted: r.gas_wanted,
        gas_used: r.gas_used,
        tx: None,
        timestamp: time.map(rfc3339).unwrap_or_default(),
        events: abci_events(&r.events),
    }
}

#[tonic::async_trait]
impl session::query_server::Query for Api {
    async fn params(
        &self,
        req: Request<session::QueryParamsRequest>,
    ) -> Reply<session::QueryParamsResponse> {
        let h = self.query_height(req.metadata())?;
        let params = self.node.lock().session_params;
        self.reply(
            session::QueryParamsResponse {
                params: Some(params),
            },
            h,
        )
    }

    async fn get_session(
        &self,
        req: Request<session::QueryGetSessionRequest>,
    ) -> Reply<session::QueryGetSessionResponse> {
        let h = self.query_height(req.metadata())?;
        let r = req.into_inner();
        let height = if r.block_height == 0 {
            h
        } else {
            r.block_height
        };
        let session = self
            .node
            .lock()
            .session(&r.application_address, &r.service_id, height)
            .map_err(|e| Status::internal(e.to_string()))?;
        self.reply(
            session::QueryGetSessionResponse {
                session: Some(session),
            },
            h,
        )
    }
}

#[tonic::async_trait]
impl shared::query_server::Query for Api {
    async fn params(
        &self,
        req: Request<shared::QueryParamsRequest>,
    ) -> Reply<shared::QueryParamsResponse> {
        let h = self.query_height(req.metadata())?;
        // Live params as of the queried (default: latest) block; a scheduled
        // change becomes live at its effective height.
        let params = self.node.lock().shared_params_at(h);
        self.reply(
            shared::QueryParamsResponse {
                params: Some(params),
            },
            h,
        )
    }

    async fn params_at_height(
        &self,
        req: Request<shared::QueryParamsAtHeightRequest>,
    ) -> Reply<shared::QueryParamsAtHeightResponse> {
        let h = self.query_height(req.metadata())?;
        let at = req.into_inner().height;
        let params = self.node.lock().shared_params_at(at);
        self.reply(
            shared::QueryParamsAtHeightResponse {
                params: Some(params),
            },
            h,
        )
    }
}

#[tonic::async_trait]
impl proof::query_server::Query for Api {
    async fn params(
        &self,
        req: Request<proof::QueryParamsRequest>,
    ) -> Reply<proof::QueryParamsResponse> {
        let h = self.query_height(req.metadata())?;
        let params = self.node.lock().proof_params.clone();
        self.reply(
            proof::QueryParamsResponse {
                params: Some(params),
            },
            h,
        )
    }

    async fn claim(
        &self,
        req: Request<proof::QueryGetClaimRequest>,
    ) -> Reply<proof::QueryGetClaimResponse> {
        let h = self.query_height(req.metadata())?;
        let r = req.into_inner();
        let claim = self
            .node
            .lock()
            .claims
            .get(&(r.session_id.clone(), r.supplier_operator_address.clone()))
            .map(|c| c.claim.clone())
            .ok_or_else(|| {
                Status::not_found(format!(
                    "claim not found for session ID {:?} and supplier {:?}",
                    r.session_id, r.supplier_operator_address
                ))
            })?;
        self.reply(proof::QueryGetClaimResponse { claim: Some(claim) }, h)
    }

    async fn all_claims(
        &self,
        req: Request<proof::QueryAllClaimsRequest>,
    ) -> Reply<proof::QueryAllClaimsResponse> {
        use proof::query_all_claims_request::Filter;
        let h = self.query_height(req.metadata())?;
        let r = req.into_inner();
        let claims: Vec<proof::Claim> = self
            .node
            .lock()
            .claims
            .values()
            .map(|c| c.claim.clone())
            .filter(|c| {
                let header = c.session_header.clone().unwrap_or_default();
                match &r.filter {
                    None => true,
                    Some(Filter::SupplierOperatorAddress(s)) => &c.supplier_operator_address == s,
                    Some(Filter::SessionId(s)) => &header.session_id == s,
                    Some(Filter::SessionEndHeight(e)) => {
                        header.session_end_block_height == i64::try_from(*e).unwrap_or(-1)
                    }
                }
            })
            .collect();
        let (claims, pagination) = page(claims, r.pagination.as_ref());
        self.reply(
            proof::QueryAllClaimsResponse {
                claims,
                pagination: Some(pagination),
            },
            h,
        )
    }

    async fn proof(
        &self,
        req: Request<proof::QueryGetProofRequest>,
    ) -> Reply<proof::QueryGetProofResponse> {
        // Proofs are deleted in the EndBlocker of the block that included
        // them, so a committed state never holds one.
        let r = req.into_inner();
        Err(Status::not_found(format!(
            "proof not found for session ID {:?} and supplier {:?}",
            r.session_id, r.supplier_operator_address
        )))
    }

    async fn all_proofs(
        &self,
        req: Request<proof::QueryAllProofsRequest>,
    ) -> Reply<proof::QueryAllProofsResponse> {
        let h = self.query_height(req.metadata())?;
        self.reply(
            proof::QueryAllProofsResponse {
                proofs: Vec::new(),
                pagination: Some(PageResponse::default()),
            },
            h,
        )
    }
}

#[tonic::async_trait]
impl application::query_server::Query for Api {
    async fn params(
        &self,
        req: Request<application::QueryParamsRequest>,
    ) -> Reply<application::QueryParamsResponse> {
        let h = self.query_height(req.metadata())?;
        let params = self.node.lock().application_params.clone();
        self.reply(
            application::QueryParamsResponse {
                params: Some(params),
            },
            h,
        )
    }

    async fn application(
        &self,
        req: Request<application::QueryGetApplicationRequest>,
    ) -> Reply<application::QueryGetApplicationResponse> {
        let h = self.query_height(req.metadata())?;
        let address = req.into_inner().address;
        let app = self
            .node
            .lock()
            .applications
            .get(&address)
            .cloned()
            .ok_or_else(|| Status::not_found(format!("application {address} not found")))?;
        self.reply(
            application::QueryGetApplicationResponse {
                application: Some(app),
            },
            h,
        )
    }

    async fn all_applications(
        &self,
        req: Request<application::QueryAllApplicationsRequest>,
    ) -> Reply<application::QueryAllApplicationsResponse> {
        let h = self.query_height(req.metadata())?;
        let r = req.into_inner();
        let apps: Vec<application::Application> = self
            .node
            .lock()
            .applications
            .values()
            .filter(|a| {
                r.delegatee_gateway_address.is_empty()
                    || a.delegatee_gateway_addresses
                        .contains(&r.delegatee_gateway_address)
            })
            .cloned()
            .collect();
        let (applications, pagination) = page(apps, r.pagination.as_ref());
        self.reply(
            application::QueryAllApplicationsResponse {
                applications,
                pagination: Some(pagination),
            },
            h,
        )
    }
}

#[tonic::async_trait]
impl gateway::query_server::Query for Api {
    async fn params(
        &self,
        req: Request<gateway::QueryParamsRequest>,
    ) -> Reply<gateway::QueryParamsResponse> {
        let h = self.query_height(req.metadata())?;
        let params = self.node.lock().gateway_params.clone();
        self.reply(
            gateway::QueryParamsResponse {
                params: Some(params),
            },
            h,
        )
    }

    async fn gateway(
        &self,
        req: Request<gateway::QueryGetGatewayRequest>,
    ) -> Reply<gateway::QueryGetGatewayResponse> {
        let h = self.query_height(req.metadata())?;
        let address = req.into_inner().address;
        let g = self
            .node
            .lock()
            .gateways
            .get(&address)
            .cloned()
            .ok_or_else(|| Status::not_found(format!("gateway {address} not found")))?;
        self.reply(gateway::QueryGetGatewayResponse { gateway: Some(g) }, h)
    }
}

#[tonic::async_trait]
impl supplier::query_server::Query for Api {
    async fn params(
        &self,
        req: Request<supplier::QueryParamsRequest>,
    ) -> Reply<supplier::QueryParamsResponse> {
        let h = self.query_height(req.metadata())?;
        let params = self.node.lock().supplier_params.clone();
        self.reply(
            supplier::QueryParamsResponse {
                params: Some(params),
            },
            h,
        )
    }

    async fn supplier(
        &self,
        req: Request<supplier::QueryGetSupplierRequest>,
    ) -> Reply<supplier::QueryGetSupplierResponse> {
        let h = self.query_height(req.metadata())?;
        let r = req.into_inner();
        let s = self
            .node
            .lock()
            .suppliers
            .get(&r.operator_address)
            .cloned()
            .ok_or_else(|| {
                Status::not_found(format!(
                    "supplier with operator address {} not found",
                    r.operator_address
                ))
            })?;
        self.reply(
            supplier::QueryGetSupplierResponse {
                supplier: Some(dehydrate(s, r.dehydrated)),
            },
            h,
        )
    }

    async fn all_suppliers(
        &self,
        req: Request<supplier::QueryAllSuppliersRequest>,
    ) -> Reply<supplier::QueryAllSuppliersResponse> {
        use supplier::query_all_suppliers_request::Filter;
        let h = self.query_height(req.metadata())?;
        let r = req.into_inner();
        let list: Vec<shared::Supplier> = self
            .node
            .lock()
            .suppliers
            .values()
            .filter(|s| match &r.filter {
                None => true,
                Some(Filter::ServiceId(id)) => s.services.iter().any(|c| &c.service_id == id),
                Some(Filter::OperatorAddress(a)) => &s.operator_address == a,
                Some(Filter::OwnerAddress(a)) => &s.owner_address == a,
            })
            .cloned()
            .map(|s| dehydrate(s, r.dehydrated))
            .collect();
        let (supplier, pagination) = page(list, r.pagination.as_ref());
        self.reply(
            supplier::QueryAllSuppliersResponse {
                supplier,
                pagination: Some(pagination),
            },
            h,
        )
    }
}

#[tonic::async_trait]
impl service::query_server::Query for Api {
    async fn params(
        &self,
        req: Request<service::QueryParamsRequest>,
    ) -> Reply<service::QueryParamsResponse> {
        let h = self.query_height(req.metadata())?;
        let params = self.node.lock().service_params.clone();
        self.reply(
            service::QueryParamsResponse {
                params: Some(params),
            },
            h,
        )
    }

    async fn service(
        &self,
        req: Request<service::QueryGetServiceRequest>,
    ) -> Reply<service::QueryGetServiceResponse> {
        let h = self.query_height(req.metadata())?;
        let id = req.into_inner().id;
        let s = self
            .node
            .lock()
            .services
            .get(&id)
            .cloned()
            .ok_or_else(|| Status::not_found(format!("service {id} not found")))?;
        self.reply(service::QueryGetServiceResponse { service: Some(s) }, h)
    }

    async fn all_services(
        &self,
        req: Request<service::QueryAllServicesRequest>,
    ) -> Reply<service::QueryAllServicesResponse> {
        let h = self.query_height(req.metadata())?;
        let r = req.into_inner();
        let list: Vec<shared::Service> = self.node.lock().services.values().cloned().collect();
        let (service, pagination) = page(list, r.pagination.as_ref());
        self.reply(
            service::QueryAllServicesResponse {
                service,
                pagination: Some(pagination),
            },
            h,
        )
    }

    async fn relay_mining_difficulty(
        &self,
        req: Request<service::QueryGetRelayMiningDifficultyRequest>,
    ) -> Reply<service::QueryGetRelayMiningDifficultyResponse> {
        let h = self.query_height(req.metadata())?;
        let id = req.into_inner().service_id;
        let chain = self.node.lock();
        if !chain.services.contains_key(&id) {
            return Err(Status::not_found(format!("service {id} not found")));
        }
        let mut d = chain.difficulty_at(&id, h);
        if d.block_height == 0 {
            d.block_height = h;
        }
        drop(chain);
        self.reply(
            service::QueryGetRelayMiningDifficultyResponse {
                relay_mining_difficulty: Some(d),
            },
            h,
        )
    }

    async fn relay_mining_difficulty_all(
        &self,
        req: Request<service::QueryAllRelayMiningDifficultyRequest>,
    ) -> Reply<service::QueryAllRelayMiningDifficultyResponse> {
        let h = self.query_height(req.metadata())?;
        let r = req.into_inner();
        let chain = self.node.lock();
        let list: Vec<service::RelayMiningDifficulty> = chain
            .services
            .keys()
            .map(|id| chain.difficulty_live(id))
            .collect();
        drop(chain);
        let (relay_mining_difficulty, pagination) = page(list, r.pagination.as_ref());
        self.reply(
            service::QueryAllRelayMiningDifficultyResponse {
                relay_mining_difficulty,
                pagination: Some(pagination),
            },
            h,
        )
    }

    async fn relay_mining_difficulty_at_height(
        &self,
        req: Request<service::QueryGetRelayMiningDifficultyAtHeightRequest>,
    ) -> Reply<service::QueryGetRelayMiningDifficultyAtHeightResponse> {
        let h = self.query_height(req.metadata())?;
        let r = req.into_inner();
        let d = self
            .node
            .lock()
            .difficulty_at(&r.service_id, r.block_height);
        self.reply(
            service::QueryGetRelayMiningDifficultyAtHeightResponse {
                relay_mining_difficulty: Some(d),
            },
            h,
        )
    }

    async fn relay_mining_difficulty_history(
        &self,
        req: Request<service::QueryGetRelayMiningDifficultyHistoryRequest>,
    ) -> Reply<service::QueryGetRelayMiningDifficultyHistoryResponse> {
        let h = self.query_height(req.metadata())?;
        let r = req.into_inner();
        let list: Vec<service::RelayMiningDifficultyUpdate> = self
            .node
            .lock()
            .difficulty_history
            .get(&r.service_id)
            .map(|v| {
                v.iter()
                    .map(|(eff, d)| service::RelayMiningDifficultyUpdate {
                        effective_height: *eff,
                        difficulty: Some(d.clone()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (relay_mining_difficulty_history, pagination) = page(list, r.pagination.as_ref());
        self.reply(
            service::QueryGetRelayMiningDifficultyHistoryResponse {
                relay_mining_difficulty_history,
                pagination: Some(pagination),
            },
            h,
        )
    }

    async fn compute_units_per_relay_at_height(
        &self,
        req: Request<service::QueryGetComputeUnitsPerRelayAtHeightRequest>,
    ) -> Reply<service::QueryGetComputeUnitsPerRelayAtHeightResponse> {
        let h = self.query_height(req.metadata())?;
        let r = req.into_inner();
        let cupr = self
            .node
            .lock()
            .cupr_at(&r.service_id, r.block_height)
            .ok_or_else(|| Status::not_found(format!("service {} not found", r.service_id)))?;
        self.reply(
            service::QueryGetComputeUnitsPerRelayAtHeightResponse {
                compute_units_per_relay: cupr,
            },
            h,
        )
    }

    async fn compute_units_per_relay_history(
        &self,
        req: Request<service::QueryGetComputeUnitsPerRelayHistoryRequest>,
    ) -> Reply<service::QueryGetComputeUnitsPerRelayHistoryResponse> {
        let h = self.query_height(req.metadata())?;
        let r = req.into_inner();
        let list: Vec<service::ServiceComputeUnitsPerRelayUpdate> = self
            .node
            .lock()
            .cupr_history
            .get(&r.service_id)
            .map(|v| {
                v.iter()
                    .map(|(eff, c)| service::ServiceComputeUnitsPerRelayUpdate {
                        effective_height: *eff,
                        service_id: r.service_id.clone(),
                        compute_units_per_relay: *c,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (compute_units_per_relay_history, pagination) = page(list, r.pagination.as_ref());
        self.reply(
            service::QueryGetComputeUnitsPerRelayHistoryResponse {
                compute_units_per_relay_history,
                pagination: Some(pagination),
            },
            h,
        )
    }
}

#[tonic::async_trait]
impl tokenomics::query_server::Query for Api {
    async fn params(
        &self,
        req: Request<tokenomics::QueryParamsRequest>,
    ) -> Reply<tokenomics::QueryParamsResponse> {
        let h = self.query_height(req.metadata())?;
        let params = self.node.lock().tokenomics_params.clone();
        self.reply(
            tokenomics::QueryParamsResponse {
                params: Some(params),
            },
            h,
        )
    }
}

#[tonic::async_trait]
impl auth::query_server::Query for Api {
    async fn account(
        &self,
        req: Request<auth::QueryAccountRequest>,
    ) -> Reply<auth::QueryAccountResponse> {
        let h = self.query_height(req.metadata())?;
        let address = req.into_inner().address;
        protocol::address::decode_address(&address)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let acc = self
            .node
            .lock()
            .accounts
            .get(&address)
            .cloned()
            .ok_or_else(|| Status::not_found(format!("account {address} not found")))?;
        let base = auth::BaseAccount {
            address,
            pub_key: acc.pubkey.map(|k| prost_types::Any {
                type_url: protocol::SECP256K1_PUBKEY_TYPE_URL.into(),
                value: protocol::pb::cosmos::crypto::secp256k1::PubKey { key: k.to_vec() }
                    .encode_to_vec(),
            }),
            account_number: acc.account_number,
            sequence: acc.sequence,
        };
        self.reply(
            auth::QueryAccountResponse {
                account: Some(prost_types::Any {
                    type_url: protocol::BASE_ACCOUNT_TYPE_URL.into(),
                    value: base.encode_to_vec(),
                }),
            },
            h,
        )
    }
}

#[tonic::async_trait]
impl bank::query_server::Query for Api {
    async fn balance(
        &self,
        req: Request<bank::QueryBalanceRequest>,
    ) -> Reply<bank::QueryBalanceResponse> {
        let h = self.query_height(req.metadata())?;
        let r = req.into_inner();
        protocol::address::decode_address(&r.address)
            .map_err(|e| Status::invalid_argument(format!("invalid address: {e}")))?;
        if r.denom.is_empty() {
            return Err(Status::invalid_argument("invalid denom"));
        }
        let amount = if r.denom == protocol::DENOM {
            self.node
                .lock()
                .accounts
                .get(&r.address)
                .map_or(0, |a| a.balance)
        } else {
            0
        };
        let mut balance = coin(amount);
        balance.denom = r.denom;
        self.reply(
            bank::QueryBalanceResponse {
                balance: Some(balance),
            },
            h,
        )
    }
}

/// Re-encodes a `Tx` (deprecated `SimulateRequest.tx`) as raw tx bytes.
fn tx_to_raw(t: &tx::Tx) -> Vec<u8> {
    tx::TxRaw {
        body_bytes: t
            .body
            .as_ref()
            .map(Message::encode_to_vec)
            .unwrap_or_default(),
        auth_info_bytes: t
            .auth_info
            .as_ref()
            .map(Message::encode_to_vec)
            .unwrap_or_default(),
        signatures: t.signatures.clone(),
    }
    .encode_to_vec()
}

#[tonic::async_trait]
impl tx::service_server::Service for Api {
    async fn simulate(&self, req: Request<tx::SimulateRequest>) -> Reply<tx::SimulateResponse> {
        let h = self.query_height(req.metadata())?;
        let r = req.into_inner();
        let bytes = if !r.tx_bytes.is_empty() {
            r.tx_bytes
        } else if let Some(t) = &r.tx {
            tx_to_raw(t)
        } else {
            return Err(Status::invalid_argument("empty txBytes is not allowed"));
        };
        let result = self.node.lock().simulate(&bytes);
        match result {
            Ok((gas, events)) => self.reply(
                tx::SimulateResponse {
                    gas_info: Some(GasInfo {
                        gas_wanted: gas,
                        gas_used: gas,
                    }),
                    result: Some(AbciResult {
                        data: Vec::new(),
                        log: String::new(),
                        events: abci_events(&events),
                        msg_responses: Vec::new(),
                    }),
                },
                h,
            ),
            Err(e) => Err(Status::unknown(format!(
                "{} [codespace {} code {}] With gas wanted: '0' and gas used: '0'",
                e.log, e.codespace, e.code
            ))),
        }
    }

    async fn get_tx(&self, req: Request<tx::GetTxRequest>) -> Reply<tx::GetTxResponse> {
        let h = self.query_height(req.metadata())?;
        let hash = req.into_inner().hash;
        let chain = self.node.lock();
        let record = chain
            .tx_record(&hash)
            .cloned()
            .ok_or_else(|| Status::not_found(format!("tx not found: {hash}")))?;
        drop(chain);
        let raw = tx::TxRaw::decode(record.bytes.as_slice()).unwrap_or_default();
        let decoded = tx::Tx {
            body: tx::TxBody::decode(raw.body_bytes.as_slice()).ok(),
            auth_info: tx::AuthInfo::decode(raw.auth_info_bytes.as_slice()).ok(),
            signatures: raw.signatures,
        };
        self.reply(
            tx::GetTxResponse {
                tx: Some(decoded),
                tx_response: Some(tx_response(
                    hash.to_ascii_uppercase(),
                    record.height,
                    &record.result,
                    Some(record.time_unix_nanos),
                )),
            },
            h,
        )
    }

    async fn broadcast_tx(
        &self,
        req: Request<tx::BroadcastTxRequest>,
    ) -> Reply<tx::BroadcastTxResponse> {
        let h = self.query_height(req.metadata())?;
        let r = req.into_inner();
        if r.tx_bytes.is_empty() {
            return Err(Status::invalid_argument("invalid empty tx"));
        }
        match tx::BroadcastMode::try_from(r.mode) {
            Ok(tx::BroadcastMode::Sync) | Ok(tx::BroadcastMode::Async) => {}
            Ok(tx::BroadcastMode::Block) => {
                return Err(Status::invalid_argument(
                    "BROADCAST_MODE_BLOCK is not supported (removed in cosmos-sdk v0.47)",
                ));
            }
            _ => {
                return Err(Status::invalid_argument(format!(
                    "{} is not a valid broadcast mode",
                    r.mode
                )));
            }
        }
        let (hash, result) = self.node.lock().broadcast(&r.tx_bytes);
        self.reply(
            tx::BroadcastTxResponse {
                tx_response: Some(tx_response(hash, 0, &result, None)),
            },
            h,
        )
    }
}
