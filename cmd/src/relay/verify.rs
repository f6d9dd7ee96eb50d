//! Checking a reply as PATH does (transports.md §2.1), and a little more:
//! HTTP 200; the body decodes as `RelayResponse`; no `relay_miner_error`;
//! `ValidateBasic`; the header equals the request's; `payload_hash` is the
//! payload's SHA-256; the supplier signature verifies with the supplier's
//! on-chain key (signatures.md §4.2); the payload decodes as
//! `POKTHTTPResponse`.

use std::fmt;

use prost::Message;
use protocol::pb::sdk::types::PokthttpResponse;
use protocol::{RelayResponse, SessionHeader};

use super::send::Reply;

/// Why a relay failed, from the gateway's point of view. A small closed set:
/// the load test's summary counts failures by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureKind {
    /// No connection, connection reset, unreadable reply.
    Transport,
    /// No complete reply within the timeout.
    Timeout,
    /// A status other than 200 (the relayer refused or failed).
    Status(u16),
    /// The body is not a `RelayResponse` (or a bad gzip stream).
    Decode,
    /// A 200 reply carrying a `relay_miner_error` (poktroll-style refusal).
    ErrorReply,
    /// `ValidateBasic` fails: no header, or no supplier signature.
    Basic,
    /// The response's session header differs from the request's.
    HeaderMismatch,
    /// `payload_hash` is missing or is not `SHA-256(payload)`.
    PayloadHash,
    /// The supplier signature does not verify with the on-chain key.
    Signature,
    /// The payload is not a `POKTHTTPResponse`.
    Payload,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::Transport => f.write_str("transport error"),
            FailureKind::Timeout => f.write_str("timeout"),
            FailureKind::Status(s) => write!(f, "HTTP {s}"),
            FailureKind::Decode => f.write_str("not a RelayResponse"),
            FailureKind::ErrorReply => f.write_str("relay miner error reply"),
            FailureKind::Basic => f.write_str("basic validation"),
            FailureKind::HeaderMismatch => f.write_str("session header mismatch"),
            FailureKind::PayloadHash => f.write_str("payload hash mismatch"),
            FailureKind::Signature => f.write_str("supplier signature verification failed"),
            FailureKind::Payload => f.write_str("payload is not a POKTHTTPResponse"),
        }
    }
}

/// A failed relay: its kind and a human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Why, as a closed set.
    pub kind: FailureKind,
    /// What exactly (the relayer's error text, the decoder's message…).
    pub detail: String,
}

impl Failure {
    /// A failure of `kind`.
    pub fn new(kind: FailureKind, detail: String) -> Self {
        Failure { kind, detail }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

impl std::error::Error for Failure {}

/// A relay that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The backend's status inside `POKTHTTPResponse`.
    pub backend_status: u32,
    /// The backend's body.
    pub body: Vec<u8>,
    /// Whether the supplier signature was checked (not with `--verify off`).
    pub signature_checked: bool,
}

/// Checks replies to requests carrying `header`, signed by `supplier_pubkey`.
#[derive(Debug, Clone)]
pub struct Verifier {
    header: SessionHeader,
    supplier_pubkey: [u8; 33],
    check_signature: bool,
}

impl Verifier {
    /// A verifier; `check_signature = false` skips only the ECDSA check (the
    /// expensive part), never the decoding.
    pub fn new(header: SessionHeader, supplier_pubkey: [u8; 33], check_signature: bool) -> Self {
        Verifier {
            header,
            supplier_pubkey,
            check_signature,
        }
    }

    /// Every check, in PATH's order.
    pub fn check(&self, reply: &Reply) -> Result<Verified, Failure> {
        if reply.status != 200 {
            return Err(Failure::new(
                FailureKind::Status(reply.status),
                excerpt(&reply.body),
            ));
        }
        let res = RelayResponse::decode_bytes(&reply.body)
            .map_err(|e| Failure::new(FailureKind::Decode, e.to_string()))?;
        if let Some(err) = &res.relay_miner_error {
            return Err(Failure::new(
                FailureKind::ErrorReply,
                format!(
                    "{} code {}: {} {}",
                    err.codespace,
                    err.code,
                    err.description,
                    String::from_utf8_lossy(&res.payload)
                ),
            ));
        }
        res.validate_basic()
            .map_err(|e| Failure::new(FailureKind::Basic, e.to_string()))?;
        if res.meta.session_header.as_ref() != Some(&self.header) {
            return Err(Failure::new(
                FailureKind::HeaderMismatch,
                format!(
                    "expected session {}, got {:?}",
                    self.header.session_id,
                    res.meta.session_header.as_ref().map(|h| &h.session_id)
                ),
            ));
        }
        let hash = protocol::relay::sha256(&res.payload);
        if res.payload_hash.as_deref() != Some(hash.as_slice()) {
            return Err(Failure::new(
                FailureKind::PayloadHash,
                format!(
                    "payload_hash {} is not SHA-256(payload) {}",
                    res.payload_hash
                        .as_deref()
                        .map(hex::encode)
                        .unwrap_or_default(),
                    hex::encode(hash)
                ),
            ));
        }
        if self.check_signature {
            rings::verify_response(
                &self.supplier_pubkey,
                &res.signable_hash(),
                &res.meta.supplier_operator_signature,
            )
            .map_err(|e| {
                Failure::new(
                    FailureKind::Signature,
                    format!(
                        "{e} (supplier {} on-chain key {})",
                        self.header_supplier_hint(),
                        hex::encode(self.supplier_pubkey)
                    ),
                )
            })?;
        }
        let http = PokthttpResponse::decode(res.payload.as_slice())
            .map_err(|e| Failure::new(FailureKind::Payload, e.to_string()))?;
        Ok(Verified {
            backend_status: http.status_code,
            body: http.body_bz,
            signature_checked: self.check_signature,
        })
    }

    fn header_supplier_hint(&self) -> String {
        protocol::address::address_from_pubkey(&self.supplier_pubkey).unwrap_or_default()
    }
}

/// The start of a body, as text, for error details.
fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX)]);
    let mut s = text.trim().to_owned();
    if body.len() > MAX {
        s.push('…');
    }
    s
}
