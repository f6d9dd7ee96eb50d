//! Simulated relays (`--simulate --sim-key-id <id>`): probes of a supplier
//! that need no on-chain session and cost the application nothing.
//!
//! The request carries the `Pocket-Simulation-Key-Id` header and a session
//! header built here: `simv1:<unix seconds>:<hex nonce>` as the session id
//! (relayers accept it within their freshness window, 30 s by default),
//! blocks 1–10, the application of the pinned ring. It is ring-signed over
//! the ring the relayer pinned for that key id (`simulation.identities`:
//! the application's public key, then the gateways'), so the client must be
//! given the same ring. The relayer forwards it to the backend and signs the
//! answer as for any relay, but never meters, mines or publishes it; each
//! signature is served once.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use protocol::SessionHeader;

use super::keys::SigningKey;
use super::target::Target;

/// The header that marks a simulated relay.
pub const KEY_ID_HEADER: &str = "Pocket-Simulation-Key-Id";

/// Blocks of the made-up session (relayers do not check them for simulated
/// relays; `ValidateBasic` wants `1 ≤ start < end`).
const SIM_SESSION: (i64, i64) = (1, 10);

/// Simulated-relay options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SimArgs {
    /// Send simulated relays: no chain session; the relayer checks the
    /// signature against the ring pinned for `--sim-key-id` and serves
    /// without metering or mining (needs `simulation.enabled` on the
    /// relayer). Session ids carry the signing time: keep simulated load
    /// tests shorter than the relayer's freshness window (30 s by default).
    #[arg(
        long,
        requires_all = ["sim_key_id", "sim_app_pubkey", "supplier", "relayer_url"],
        conflicts_with = "height"
    )]
    pub simulate: bool,
    /// The relayer's simulation identity (`Pocket-Simulation-Key-Id`).
    #[arg(long, requires = "simulate", value_name = "ID")]
    pub sim_key_id: Option<String>,
    /// The pinned ring's application public key (33-byte compressed, hex).
    #[arg(long, requires = "simulate", value_name = "HEX")]
    pub sim_app_pubkey: Option<String>,
    /// The pinned ring's gateway public keys, comma-separated, in the
    /// relayer's order; default: the signing key's own.
    #[arg(
        long,
        requires = "simulate",
        value_delimiter = ',',
        value_name = "HEX,..."
    )]
    pub sim_gateway_pubkeys: Vec<String>,
    /// The supplier's public key to verify replies with; default: its
    /// account's key on chain (`--grpc-url`). Not needed with `--no-verify`.
    #[arg(long, requires = "simulate", value_name = "HEX")]
    pub sim_supplier_pubkey: Option<String>,
}

/// A 33-byte compressed public key from hex.
pub fn parse_pubkey(text: &str, what: &str) -> anyhow::Result<[u8; 33]> {
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    let bytes = hex::decode(t).with_context(|| format!("{what}: not hexadecimal"))?;
    let key: [u8; 33] = bytes.try_into().map_err(|b: Vec<u8>| {
        anyhow::anyhow!(
            "{what}: expected a 33-byte compressed public key, got {} bytes",
            b.len()
        )
    })?;
    if key[0] != 2 && key[0] != 3 {
        bail!("{what}: a compressed public key starts with 02 or 03");
    }
    protocol::address::address_from_pubkey(&key).with_context(|| format!("{what}: address"))?;
    Ok(key)
}

/// The pinned ring and the key that signs in it.
#[derive(Debug)]
pub struct SimRing {
    /// Application first, then the gateways.
    pub ring: Vec<[u8; 33]>,
    /// The signer (a member of `ring`).
    pub key: SigningKey,
    /// Whether the signer is the application.
    pub signer_is_app: bool,
}

/// Builds the ring `[app, gateways…]` (the signer's key when no gateway is
/// given) and picks the signer among `keys`: the one at `wanted`, else the
/// first key in the ring, gateways before the application.
pub fn ring(
    args: &SimArgs,
    keys: Vec<SigningKey>,
    wanted: Option<&str>,
) -> anyhow::Result<SimRing> {
    let app = parse_pubkey(
        args.sim_app_pubkey
            .as_deref()
            .context("--simulate needs --sim-app-pubkey")?,
        "--sim-app-pubkey",
    )?;
    let gateways = args
        .sim_gateway_pubkeys
        .iter()
        .map(|g| parse_pubkey(g, "--sim-gateway-pubkeys"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let key = if let Some(addr) = wanted {
        keys.into_iter()
            .find(|k| k.address == addr)
            .with_context(|| format!("no key for --signer {addr} among the given keys"))?
    } else if gateways.is_empty() {
        keys.into_iter()
            .find(|k| k.public_key() != app)
            .context(
                "the application cannot sign alone (rings have at least 2 members): give the pinned gateways with --sim-gateway-pubkeys, or sign with a gateway key",
            )?
    } else {
        let pos = |k: &SigningKey| {
            let pk = k.public_key();
            if gateways.contains(&pk) {
                Some(0)
            } else if pk == app {
                Some(1)
            } else {
                None
            }
        };
        keys.into_iter()
            .filter_map(|k| pos(&k).map(|p| (p, k)))
            .min_by_key(|(p, _)| *p)
            .map(|(_, k)| k)
            .context("none of the given keys is in the pinned ring (--sim-app-pubkey, --sim-gateway-pubkeys)")?
    };
    let mut ring = vec![app];
    if gateways.is_empty() {
        ring.push(key.public_key());
    } else {
        ring.extend(gateways);
    }
    if !ring.contains(&key.public_key()) {
        bail!(
            "the signing key {} is not in the pinned ring (--sim-app-pubkey, --sim-gateway-pubkeys)",
            key.address
        );
    }
    if ring.len() < 2 {
        bail!("a ring needs at least 2 members");
    }
    let signer_is_app = key.public_key() == app;
    Ok(SimRing {
        ring,
        key,
        signer_is_app,
    })
}

/// A fresh simulated session id: `simv1:<unix seconds>:<16 hex>`.
pub fn session_id() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seed = format!(
        "{}:{}:{}",
        now.as_nanos(),
        std::process::id(),
        now.as_secs()
    );
    let nonce = protocol::relay::sha256(seed.as_bytes());
    format!("simv1:{}:{}", now.as_secs(), hex::encode(&nonce[..8]))
}

/// The target of simulated relays: the made-up session of `app` (default:
/// the pinned application's address) for `service`, to `supplier`.
pub fn target(
    app: Option<&str>,
    service: &str,
    supplier: &str,
    ring: &[[u8; 33]],
    supplier_pubkey: [u8; 33],
) -> anyhow::Result<Target> {
    let ring_addresses = ring
        .iter()
        .map(|k| protocol::address::address_from_pubkey(k).context("ring address"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let application_address = match app {
        Some(a) => a.to_owned(),
        None => ring_addresses
            .first()
            .cloned()
            .context("the pinned ring is empty")?,
    };
    let header = SessionHeader {
        application_address,
        service_id: service.to_owned(),
        session_id: session_id(),
        session_start_block_height: SIM_SESSION.0,
        session_end_block_height: SIM_SESSION.1,
    };
    protocol::session::validate_session_header(&header).context("simulated session header")?;
    protocol::address::decode_address(supplier)
        .with_context(|| format!("--supplier {supplier}"))?;
    Ok(Target {
        header,
        supplier: supplier.to_owned(),
        supplier_pubkey,
        endpoint: None,
        ring_addresses,
        ring: ring.to_vec(),
    })
}
