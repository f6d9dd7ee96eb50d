//! The pieces of the local network that are not ours to build in
//! production: the genesis with well-known test keys, and the demo backends
//! (a JSON-RPC node and a REST API) on loopback.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{any, get};
use bytes::Bytes;

/// How a service's backend is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// JSON-RPC over HTTP POST (`Rpc-Type: 3`).
    JsonRpc,
    /// REST: HTTP GET of a path (`Rpc-Type: 4`).
    Rest,
}

impl Api {
    /// The `Rpc-Type` header value.
    pub fn rpc_type_header(self) -> &'static str {
        match self {
            Api::JsonRpc => "3",
            Api::Rest => "4",
        }
    }

    /// The genesis `rpc_type` of a supplier endpoint.
    fn genesis_rpc_type(self) -> &'static str {
        match self {
            Api::JsonRpc => "json_rpc",
            Api::Rest => "rest",
        }
    }

    /// The relayer's backend kind.
    pub fn backend_kind(self) -> relayer::config::RpcKind {
        match self {
            Api::JsonRpc => relayer::config::RpcKind::Jsonrpc,
            Api::Rest => relayer::config::RpcKind::Rest,
        }
    }

    /// A name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Api::JsonRpc => "JSON-RPC",
            Api::Rest => "REST",
        }
    }
}

/// One service of the localnet: its id, how it is spoken to, and the
/// application staked for it (an application stakes for one service).
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// Service id.
    pub id: &'static str,
    /// Backend protocol.
    pub api: Api,
    /// The application staked for it.
    pub app_key: [u8; 32],
}

/// Well-known test keys (never use them for value): the scalar `n`.
const fn test_key(n: u8) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[31] = n;
    k
}

/// The gateway both applications delegate to (it signs the relays).
pub const GATEWAY_KEY: [u8; 32] = test_key(2);
/// The supplier operators (both stake every service).
pub const SUPPLIER_KEYS: [[u8; 32]; 2] = [test_key(3), test_key(4)];

/// The JSON-RPC service (an Ethereum-like node answering `eth_blockNumber`).
pub const ANVIL: Service = Service {
    id: "anvil",
    api: Api::JsonRpc,
    app_key: test_key(1),
};
/// The REST service (`GET /v1/status`).
pub const REST_DEMO: Service = Service {
    id: "rest-demo",
    api: Api::Rest,
    app_key: test_key(5),
};
/// Every service, in traffic order.
pub const SERVICES: [Service; 2] = [ANVIL, REST_DEMO];

/// The path the traffic asks the REST backend for.
pub const REST_PATH: &str = "/v1/status";

/// The simulation key id the localnet relayers accept (pinned to the
/// `anvil` application and the gateway): `relay --simulate --sim-key-id localnet`.
pub const SIM_KEY_ID: &str = "localnet";

/// The address of a key.
pub fn address(key: &[u8; 32]) -> anyhow::Result<String> {
    protocol::address::address_from_pubkey(&public_key(key)?)
        .map_err(|e| anyhow::anyhow!("test key: {e}"))
}

/// The compressed public key of a key.
pub fn public_key(key: &[u8; 32]) -> anyhow::Result<[u8; 33]> {
    Ok(rings::PrivateKey::from_bytes(key)
        .map_err(|e| anyhow::anyhow!("test key: {e}"))?
        .public_key())
}

/// The genesis: both services, one application per service delegating to
/// the gateway, `suppliers` suppliers each staked for both services,
/// poktroll's localnet session parameters (sessions of 10 blocks, claims at
/// E+2..E+6, proofs at E+6..E+10, settlement at E+10), and a proof required
/// for every claim so that proofs are exercised.
pub fn genesis(suppliers: usize) -> anyhow::Result<chainsim::Genesis> {
    let gw_addr = address(&GATEWAY_KEY)?;
    let mut yaml = String::from(
        "chain_id: pocket\nparams:\n  proof:\n    proof_requirement_threshold_upokt: 1\nservices:\n",
    );
    for s in SERVICES {
        yaml.push_str(&format!(
            "  - {{ id: {}, name: \"localnet demo {} service\", compute_units_per_relay: 1 }}\n",
            s.id,
            s.api.name()
        ));
    }
    yaml.push_str(&format!(
        "gateways:\n  - {{ key: {{ private_key: \"{}\" }}, stake_upokt: 1000000000 }}\napplications:\n",
        hex::encode(GATEWAY_KEY)
    ));
    for s in SERVICES {
        yaml.push_str(&format!(
            "  - key: {{ private_key: \"{}\" }}\n    stake_upokt: 100000000000\n    service_id: {}\n    delegatee_gateways: [\"{gw_addr}\"]\n",
            hex::encode(s.app_key),
            s.id
        ));
    }
    yaml.push_str("suppliers:\n");
    for key in SUPPLIER_KEYS.iter().take(suppliers) {
        yaml.push_str(&format!(
            "  - operator: {{ private_key: \"{}\" }}\n    stake_upokt: 1000000000\n    services:\n",
            hex::encode(key)
        ));
        for s in SERVICES {
            yaml.push_str(&format!(
                "      - service_id: {}\n        endpoints: [{{ url: \"http://127.0.0.1:8080\", rpc_type: {} }}]\n",
                s.id,
                s.api.genesis_rpc_type()
            ));
        }
    }
    chainsim::Genesis::from_yaml(&yaml).context("localnet genesis")
}

/// The keys file of the localnet suppliers (YAML, as operators write it).
pub fn keys_file_text(suppliers: usize) -> String {
    let mut text =
        String::from("# localnet supplier operator keys (well-known test keys)\nkeys:\n");
    for key in SUPPLIER_KEYS.iter().take(suppliers) {
        text.push_str(&format!("  - \"{}\"\n", hex::encode(key)));
    }
    text
}

/// A running demo backend.
pub struct Backend {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Requests it answered.
    pub served: Arc<AtomicU64>,
}

/// A demo JSON-RPC node on a free loopback port: answers any request with
/// `eth_blockNumber`-style JSON echoing the request id.
pub async fn spawn_jsonrpc_backend(
    cancel: tokio_util::sync::CancellationToken,
) -> anyhow::Result<Backend> {
    let served = Arc::new(AtomicU64::new(0));
    let counter = served.clone();
    let app = Router::new().fallback(any(move |body: Bytes| {
        let counter = counter.clone();
        async move {
            let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
            let id = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("id").cloned())
                .unwrap_or(serde_json::Value::Null);
            let reply = serde_json::json!({
                "jsonrpc": "2.0",
                "id": id,
                "result": format!("{:#x}", 0x1000 + n),
            });
            ([("content-type", "application/json")], reply.to_string())
        }
    }));
    serve(app, served, cancel, "JSON-RPC").await
}

/// A demo REST API on a free loopback port: `GET /v1/status` answers JSON
/// (`{"status":"ok","service":"rest-demo","requests":n}`); any other path
/// or method answers 404 JSON, so a relayer that mangles the path fails
/// the traffic's checks.
pub async fn spawn_rest_backend(
    cancel: tokio_util::sync::CancellationToken,
) -> anyhow::Result<Backend> {
    let served = Arc::new(AtomicU64::new(0));
    let counter = served.clone();
    let app = Router::new()
        .route(
            REST_PATH,
            get(move || {
                let counter = counter.clone();
                async move {
                    let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
                    let reply = serde_json::json!({
                        "status": "ok",
                        "service": REST_DEMO.id,
                        "requests": n,
                    });
                    ([("content-type", "application/json")], reply.to_string())
                }
            }),
        )
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                [("content-type", "application/json")],
                r#"{"error":"not found"}"#,
            )
        });
    serve(app, served, cancel, "REST").await
}

async fn serve(
    app: Router,
    served: Arc<AtomicU64>,
    cancel: tokio_util::sync::CancellationToken,
    what: &str,
) -> anyhow::Result<Backend> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .with_context(|| format!("binding the demo {what} backend"))?;
    let addr = listener
        .local_addr()
        .with_context(|| format!("demo {what} backend address"))?;
    tokio::spawn(crate::ops::serve(listener, app, cancel));
    Ok(Backend { addr, served })
}
