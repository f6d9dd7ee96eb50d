//! A session as the miner records it in Redis (the state hash): the
//! metadata ingest wrote, the lifecycle phase, the claimed root and the
//! submitted transactions (so a new lease owner continues where the old one
//! stopped).

use std::collections::HashMap;

use protocol::SessionHeader;

use crate::error::{Error, Result};
use crate::lifecycle::Phase;

/// One session of one supplier.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// The session header as relayers validated it against the chain.
    pub header: SessionHeader,
    /// Compute units per relay the relays were weighted with.
    pub compute_units_per_relay: u64,
    /// Where the session is.
    pub phase: Phase,
    /// The claimed 48-byte root, once built.
    pub root: Option<Vec<u8>>,
    /// The claim tx (signed bytes and hash), once sent.
    pub claim_tx: Option<SentTx>,
    /// The proof tx, once sent.
    pub proof_tx: Option<SentTx>,
}

/// A transaction accepted by the node, kept for re-broadcasting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentTx {
    /// Tx hash (uppercase hex).
    pub hash: String,
    /// The signed `TxRaw` bytes.
    pub bytes: Vec<u8>,
}

impl SentTx {
    fn encode(&self) -> String {
        format!("{}:{}", self.hash, hex::encode(&self.bytes))
    }

    fn decode(s: &str) -> Option<Self> {
        let (hash, bytes) = s.split_once(':')?;
        Some(SentTx {
            hash: hash.to_owned(),
            bytes: hex::decode(bytes).ok()?,
        })
    }
}

impl SessionRecord {
    /// Parses the state hash. `None` when ingest has not written the metadata.
    pub fn from_fields(f: &HashMap<String, String>) -> Result<Option<Self>> {
        let Some(session_id) = f.get("session_id") else {
            return Ok(None);
        };
        let num = |k: &str| -> Result<i64> {
            f.get(k)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| Error::Corrupt(format!("session {session_id}: field {k}")))
        };
        let phase = match f.get("phase") {
            None => Phase::Active,
            Some(p) => {
                serde_json::from_str(p).map_err(|e| Error::Corrupt(format!("phase {p:?}: {e}")))?
            }
        };
        Ok(Some(SessionRecord {
            header: SessionHeader {
                application_address: f.get("application").cloned().unwrap_or_default(),
                service_id: f.get("service").cloned().unwrap_or_default(),
                session_id: session_id.clone(),
                session_start_block_height: num("start_height")?,
                session_end_block_height: num("end_height")?,
            },
            compute_units_per_relay: num("compute_units_per_relay")? as u64,
            phase,
            root: f.get("root").and_then(|r| hex::decode(r).ok()),
            claim_tx: f.get("claim_tx").and_then(|t| SentTx::decode(t)),
            proof_tx: f.get("proof_tx").and_then(|t| SentTx::decode(t)),
        }))
    }

    /// The fields that change over the lifecycle.
    pub fn lifecycle_fields(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![(
            "phase",
            serde_json::to_string(&self.phase).unwrap_or_else(|_| "\"active\"".into()),
        )];
        if let Some(r) = &self.root {
            out.push(("root", hex::encode(r)));
        }
        if let Some(t) = &self.claim_tx {
            out.push(("claim_tx", t.encode()));
        }
        if let Some(t) = &self.proof_tx {
            out.push(("proof_tx", t.encode()));
        }
        out
    }
}
