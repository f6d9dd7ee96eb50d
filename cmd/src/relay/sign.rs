//! Building relay requests and ring-signing each one separately
//! (signatures.md §1–§3).
//!
//! Every request gets its own randomized bLSAG signature, and JSON-RPC bodies
//! with an `"id"` get their own id, so no two requests of a run are equal: a
//! relayer (or a cache in front of it) can never serve one from another's
//! work, and every relay the relayer mines has a distinct relay hash.

use std::collections::BTreeMap;
use std::collections::HashSet;

use anyhow::{Context, bail};
use bytes::Bytes;
use prost::Message;
use protocol::RelayRequest;
use protocol::pb::pocket::service::RelayRequestMetadata;
use protocol::pb::sdk::types::{Header, PokthttpRequest};

use super::keys::SigningKey;
use super::target::Target;

/// The HTTP request a relay carries to the supplier's backend.
#[derive(Debug, Clone)]
pub struct Payload {
    /// The client's HTTP method (`POST` for JSON-RPC).
    pub method: String,
    /// Endpoint URL + path and query (the relayer uses only the path and query).
    pub url: String,
    /// The client's body.
    pub body: Vec<u8>,
}

/// The signer and the ring it signs with.
#[derive(Debug, Clone)]
pub struct Signer {
    /// Gateway or application key.
    pub key: SigningKey,
    /// The ring's public keys (application first), containing the signer.
    pub ring: Vec<[u8; 33]>,
}

impl Payload {
    /// `base` joined with `path` (one slash between them).
    pub fn new(method: &str, base: &str, path: &str, body: Vec<u8>) -> Self {
        let url = if path.is_empty() || path == "/" {
            base.to_owned()
        } else {
            format!(
                "{}/{}",
                base.trim_end_matches('/'),
                path.trim_start_matches('/')
            )
        };
        Payload {
            method: method.to_owned(),
            url,
            body,
        }
    }

    /// The encoded `POKTHTTPRequest` of the `n`-th request: PATH forwards only
    /// `Content-Type: application/json`. A JSON object body with an `"id"`
    /// gets `n + 1` as its id.
    fn encode(&self, n: u64) -> Vec<u8> {
        let mut header = BTreeMap::new();
        header.insert(
            "Content-Type".to_owned(),
            Header {
                key: "Content-Type".into(),
                values: vec!["application/json".into()],
            },
        );
        PokthttpRequest {
            method: self.method.clone(),
            header,
            url: self.url.clone(),
            body_bz: with_jsonrpc_id(&self.body, n + 1),
        }
        .encode_to_vec()
    }
}

/// `body` with its top-level `"id"` set to `id`, when it is a JSON object that
/// has one; `body` unchanged otherwise.
fn with_jsonrpc_id(body: &[u8], id: u64) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut map)) if map.contains_key("id") => {
            map.insert("id".into(), id.into());
            serde_json::to_vec(&map).unwrap_or_else(|_| body.to_vec())
        }
        _ => body.to_vec(),
    }
}

/// The unsigned `n`-th request to `target`.
pub fn request(target: &Target, payload: &Payload, n: u64) -> RelayRequest {
    RelayRequest {
        meta: RelayRequestMetadata {
            session_header: Some(target.header.clone()),
            signature: Vec::new(),
            supplier_operator_address: target.supplier.clone(),
        },
        payload: payload.encode(n),
    }
}

/// Signs `req` in place.
pub fn sign(req: &mut RelayRequest, signer: &Signer) -> anyhow::Result<()> {
    req.meta.signature =
        rings::RingSignature::sign(&req.signable_hash(), &signer.ring, &signer.key.key)
            .context("ring-signing the relay request")?
            .to_bytes();
    Ok(())
}

/// Requests `first..first + count`, each signed separately, encoded; signed on
/// every core (this is the slow part: a ring signature costs about 0.3 ms).
/// Fails if two signatures are equal (a broken random source).
pub fn sign_many(
    target: &Target,
    payload: &Payload,
    signer: &Signer,
    first: u64,
    count: usize,
) -> anyhow::Result<Vec<Bytes>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, count.max(1));
    let chunk = count.div_ceil(threads).max(1);
    let parts: Vec<anyhow::Result<Vec<Bytes>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let start = (t * chunk).min(count);
                let end = ((t + 1) * chunk).min(count);
                scope.spawn(move || {
                    (start..end)
                        .map(|i| {
                            let mut req = request(target, payload, first + i as u64);
                            sign(&mut req, signer)?;
                            Ok(Bytes::from(req.encode_to_vec()))
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a signing thread panicked")))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(count);
    for part in parts {
        out.extend(part?);
    }
    let mut seen = HashSet::with_capacity(out.len());
    for body in &out {
        if !seen.insert(protocol::relay::sha256(body)) {
            bail!("two signed requests are identical: the random source is broken");
        }
    }
    Ok(out)
}
