//! The pieces of the local network that are not ours to build in
//! production: the genesis with well-known test keys, and a demo JSON-RPC
//! backend on loopback.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use axum::Router;
use axum::routing::any;
use bytes::Bytes;

/// The one service of the localnet.
pub const SERVICE: &str = "anvil";

/// Well-known test keys (never use them for value): the scalar `n`.
const fn test_key(n: u8) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[31] = n;
    k
}

/// The application.
pub const APP_KEY: [u8; 32] = test_key(1);
/// The gateway the application delegates to (it signs the relays).
pub const GATEWAY_KEY: [u8; 32] = test_key(2);
/// The supplier operators.
pub const SUPPLIER_KEYS: [[u8; 32]; 2] = [test_key(3), test_key(4)];

/// The address of a key.
pub fn address(key: &[u8; 32]) -> anyhow::Result<String> {
    let pk = rings::PrivateKey::from_bytes(key)
        .map_err(|e| anyhow::anyhow!("test key: {e}"))?
        .public_key();
    protocol::address::address_from_pubkey(&pk).map_err(|e| anyhow::anyhow!("test key: {e}"))
}

/// The genesis: one service, an application delegating to a gateway,
/// `suppliers` suppliers, poktroll's localnet session parameters (sessions of
/// 10 blocks, claims at E+2..E+6, proofs at E+6..E+10, settlement at E+10),
/// and a proof required for every claim so that proofs are exercised.
pub fn genesis(suppliers: usize) -> anyhow::Result<chainsim::Genesis> {
    let mut yaml = format!(
        r#"
chain_id: pocket
params:
  proof:
    proof_requirement_threshold_upokt: 1
services:
  - {{ id: {SERVICE}, name: "Anvil (localnet demo JSON-RPC)", compute_units_per_relay: 1 }}
gateways:
  - {{ key: {{ private_key: "{gw}" }}, stake_upokt: 1000000000 }}
applications:
  - key: {{ private_key: "{app}" }}
    stake_upokt: 100000000000
    service_id: {SERVICE}
    delegatee_gateways: ["{gw_addr}"]
suppliers:
"#,
        gw = hex::encode(GATEWAY_KEY),
        app = hex::encode(APP_KEY),
        gw_addr = address(&GATEWAY_KEY)?,
    );
    for key in SUPPLIER_KEYS.iter().take(suppliers) {
        yaml.push_str(&format!(
            r#"  - operator: {{ private_key: "{}" }}
    stake_upokt: 1000000000
    services:
      - service_id: {SERVICE}
        endpoints: [{{ url: "http://127.0.0.1:8080", rpc_type: json_rpc }}]
"#,
            hex::encode(key)
        ));
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

/// A demo JSON-RPC node on a free loopback port: answers any request with
/// `eth_blockNumber`-style JSON echoing the request id. Counts requests.
pub async fn spawn_backend(
    cancel: tokio_util::sync::CancellationToken,
) -> anyhow::Result<(SocketAddr, Arc<AtomicU64>)> {
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
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("binding the demo backend")?;
    let addr = listener.local_addr().context("demo backend address")?;
    tokio::spawn(crate::ops::serve(listener, app, cancel));
    Ok((addr, served))
}
