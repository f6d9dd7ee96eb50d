//! What the chain says about a relay before it is sent: the session, the
//! supplier and its public key and endpoint, and the application's ring.

use anyhow::{Context, bail};
use prost::Message;
use protocol::SessionHeader;
use protocol::pb::pocket::shared::{RpcType, Supplier};

/// The RPC types the client sends over HTTP (`Rpc-Type` header values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RpcKind {
    /// JSON-RPC (`Rpc-Type: 3`).
    Jsonrpc,
    /// REST (`Rpc-Type: 4`).
    Rest,
    /// CometBFT RPC (`Rpc-Type: 5`).
    Cometbft,
}

impl RpcKind {
    /// The `Rpc-Type` header value.
    pub fn header_value(self) -> &'static str {
        match self {
            RpcKind::Jsonrpc => "3",
            RpcKind::Rest => "4",
            RpcKind::Cometbft => "5",
        }
    }

    fn rpc_type(self) -> RpcType {
        match self {
            RpcKind::Jsonrpc => RpcType::JsonRpc,
            RpcKind::Rest => RpcType::Rest,
            RpcKind::Cometbft => RpcType::CometBft,
        }
    }
}

/// A session, a supplier in it, and the keys that sign and verify.
#[derive(Debug, Clone)]
pub struct Target {
    /// The on-chain session header the relays carry.
    pub header: SessionHeader,
    /// The supplier operator the relays are addressed to.
    pub supplier: String,
    /// The supplier operator's on-chain public key (verifies responses).
    pub supplier_pubkey: [u8; 33],
    /// The supplier's endpoint for the RPC type (PATH's choice: the URL
    /// staked for the type, else the first staked in the order JSON-RPC,
    /// REST, CometBFT, gRPC).
    pub endpoint: Option<String>,
    /// The ring addresses (application first) at the session end.
    pub ring_addresses: Vec<String>,
    /// Their public keys, in the same order.
    pub ring: Vec<[u8; 33]>,
}

/// Reads the session of (`app`, `service`) at `height` (0 = latest), picks
/// the supplier (`supplier`, or the session's first), and loads the public
/// keys of the supplier and of the application's ring.
pub async fn resolve(
    query: &chain::QueryClient,
    app: &str,
    service: &str,
    supplier: Option<&str>,
    height: i64,
    kind: RpcKind,
) -> anyhow::Result<Target> {
    let session = query
        .session(app, service, height)
        .await
        .with_context(|| format!("getting the session of application {app} for {service}"))?;
    let header = session
        .header
        .clone()
        .context("the chain returned a session without a header")?;
    let chosen: &Supplier = match supplier {
        Some(addr) => session
            .suppliers
            .iter()
            .find(|s| s.operator_address == addr)
            .with_context(|| {
                let all: Vec<&str> = session
                    .suppliers
                    .iter()
                    .map(|s| s.operator_address.as_str())
                    .collect();
                format!(
                    "supplier {addr} is not in session {} (its suppliers: {})",
                    header.session_id,
                    all.join(", ")
                )
            })?,
        None => session
            .suppliers
            .first()
            .with_context(|| format!("session {} has no supplier", header.session_id))?,
    };
    let endpoint = endpoint_for(chosen, service, kind);
    let application = query
        .application(app)
        .await
        .with_context(|| format!("getting application {app}"))?;
    let ring_addresses =
        protocol::ring::ring_addresses(&application, header.session_end_block_height);
    let ring =
        futures::future::try_join_all(ring_addresses.iter().map(|a| pubkey(query, a))).await?;
    let supplier_pubkey = pubkey(query, &chosen.operator_address).await?;
    Ok(Target {
        header,
        supplier: chosen.operator_address.clone(),
        supplier_pubkey,
        endpoint,
        ring_addresses,
        ring,
    })
}

fn endpoint_for(supplier: &Supplier, service: &str, kind: RpcKind) -> Option<String> {
    let config = supplier.services.iter().find(|s| s.service_id == service)?;
    let staked = |t: RpcType| {
        config
            .endpoints
            .iter()
            .find(|e| e.rpc_type == t as i32)
            .map(|e| e.url.clone())
    };
    staked(kind.rpc_type()).or_else(|| {
        [
            RpcType::JsonRpc,
            RpcType::Rest,
            RpcType::CometBft,
            RpcType::Grpc,
        ]
        .into_iter()
        .find_map(staked)
    })
}

/// An account's secp256k1 public key as the chain stores it.
pub async fn pubkey(query: &chain::QueryClient, address: &str) -> anyhow::Result<[u8; 33]> {
    if address == protocol::ring::PLACEHOLDER_RING_ADDRESS {
        return Ok(protocol::ring::PLACEHOLDER_RING_PUBKEY);
    }
    let account = query
        .account(address)
        .await
        .with_context(|| format!("getting account {address}"))?;
    let Some(any) = account.and_then(|a| a.pub_key) else {
        bail!("account {address} has no public key on chain (it never signed a transaction)");
    };
    if any.type_url != protocol::SECP256K1_PUBKEY_TYPE_URL {
        bail!(
            "account {address} has a {} key, not secp256k1",
            any.type_url
        );
    }
    let key = protocol::pb::cosmos::crypto::secp256k1::PubKey::decode(any.value.as_slice())
        .with_context(|| format!("account {address}: public key"))?;
    key.key
        .as_slice()
        .try_into()
        .with_context(|| format!("account {address}: public key is not 33 bytes"))
}
