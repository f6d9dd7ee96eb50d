//! Relay request and response: the hand-written message types, their signable
//! bytes and hashes, the mined `Relay` and its hash, and the difficulty check.
//!
//! gogoproto marks `RelayRequest.meta` and `RelayResponse.meta` non-nullable:
//! they are always encoded, even when empty. Here they are plain fields (not
//! `Option`), so no code path can leave them out. `RelayResponse.payload_hash`
//! keeps its presence (`Option`) because Go treats a present-but-empty field as
//! set (the payload is then excluded from the signable bytes).

use prost::Message;
use prost::bytes::{Buf, BufMut};
use prost::encoding::{self, DecodeContext, WireType};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::session::validate_session_header;

pub use crate::pb::pocket::service::{
    Relay, RelayMinerError, RelayRequestMetadata, RelayResponseMetadata,
};
pub use crate::pb::pocket::session::SessionHeader;

/// Relay difficulty target that mines every relay (32 × `0xff`).
pub const BASE_TARGET_HASH: [u8; 32] = [0xff; 32];

/// A relay request as a gateway sends it (`pocket.service.RelayRequest`).
#[derive(Clone, PartialEq, Eq, Hash, Message)]
pub struct RelayRequest {
    /// Always encoded (gogoproto non-nullable).
    #[prost(message, required, tag = "1")]
    pub meta: RelayRequestMetadata,
    /// Serialized `POKTHTTPRequest` for HTTP relays, a raw frame for WebSocket.
    #[prost(bytes = "vec", tag = "2")]
    pub payload: Vec<u8>,
}

/// A relay response as a relayer returns it (`pocket.service.RelayResponse`).
#[derive(Clone, PartialEq, Eq, Hash, Default, Debug)]
pub struct RelayResponse {
    /// Always encoded (gogoproto non-nullable).
    pub meta: RelayResponseMetadata,
    /// Serialized `POKTHTTPResponse` for HTTP relays, a raw frame for WebSocket.
    pub payload: Vec<u8>,
    /// Set only on error replies.
    pub relay_miner_error: Option<RelayMinerError>,
    /// `SHA-256(payload)`. `Some(empty)` is a field present on the wire with
    /// length 0: Go treats it as set. The encoder never writes an empty value.
    pub payload_hash: Option<Vec<u8>>,
}

impl RelayRequest {
    /// Decodes a request from untrusted bytes. Unknown fields are dropped, as
    /// the Go decoder does.
    pub fn decode_bytes(bytes: &[u8]) -> Result<Self> {
        Self::decode(bytes).map_err(|e| Error::decode("pocket.service.RelayRequest", e))
    }

    /// The session header, if present.
    pub fn session_header(&self) -> Option<&SessionHeader> {
        self.meta.session_header.as_ref()
    }

    /// Stateless validity (Go `RelayRequest.ValidateBasic`): a valid session
    /// header, a non-empty signature and a non-empty supplier address.
    pub fn validate_basic(&self) -> Result<()> {
        const MSG: &str = "RelayRequestMetadata";
        let header = self
            .session_header()
            .ok_or_else(|| Error::field(MSG, "session_header", "missing"))?;
        validate_session_header(header)?;
        if self.meta.signature.is_empty() {
            return Err(Error::field(MSG, "signature", "missing"));
        }
        if self.meta.supplier_operator_address.is_empty() {
            return Err(Error::field(MSG, "supplier_operator_address", "missing"));
        }
        Ok(())
    }

    /// The bytes the ring signature covers: this request re-encoded
    /// canonically with `meta.signature` empty. Never the bytes as received.
    pub fn signable_bytes(&self) -> Vec<u8> {
        let meta = RelayRequestMetadata {
            session_header: self.meta.session_header.clone(),
            signature: Vec::new(),
            supplier_operator_address: self.meta.supplier_operator_address.clone(),
        };
        let mut buf = Vec::with_capacity(meta.encoded_len() + self.payload.len() + 8);
        encoding::message::encode(1, &meta, &mut buf);
        if !self.payload.is_empty() {
            encoding::bytes::encode(2, &self.payload, &mut buf);
        }
        buf
    }

    /// `SHA-256(signable_bytes)`: the message given to the ring signer.
    pub fn signable_hash(&self) -> [u8; 32] {
        sha256(&self.signable_bytes())
    }
}

impl RelayResponse {
    /// Decodes a response from untrusted bytes. Unknown fields are dropped.
    pub fn decode_bytes(bytes: &[u8]) -> Result<Self> {
        Self::decode(bytes).map_err(|e| Error::decode("pocket.service.RelayResponse", e))
    }

    /// A response to `header` carrying `payload`, with `payload_hash` set.
    /// The signature is left empty for the signer to fill.
    pub fn new(header: SessionHeader, payload: Vec<u8>) -> Self {
        let payload_hash = Some(sha256(&payload).to_vec());
        RelayResponse {
            meta: RelayResponseMetadata {
                session_header: Some(header),
                supplier_operator_signature: Vec::new(),
            },
            payload,
            relay_miner_error: None,
            payload_hash,
        }
    }

    /// Stateless validity (Go `RelayResponse.ValidateBasic`): a valid session
    /// header and a non-empty supplier signature.
    pub fn validate_basic(&self) -> Result<()> {
        const MSG: &str = "RelayResponseMetadata";
        let header = self
            .meta
            .session_header
            .as_ref()
            .ok_or_else(|| Error::field(MSG, "session_header", "missing"))?;
        validate_session_header(header)?;
        if self.meta.supplier_operator_signature.is_empty() {
            return Err(Error::field(MSG, "supplier_operator_signature", "missing"));
        }
        Ok(())
    }

    /// The bytes the supplier signature covers: this response re-encoded with
    /// the signature cleared and, when `payload_hash` is set (even empty), the
    /// payload cleared. `relay_miner_error` stays in.
    pub fn signable_bytes(&self) -> Vec<u8> {
        let signable = RelayResponse {
            meta: RelayResponseMetadata {
                session_header: self.meta.session_header.clone(),
                supplier_operator_signature: Vec::new(),
            },
            payload: if self.payload_hash.is_some() {
                Vec::new()
            } else {
                self.payload.clone()
            },
            relay_miner_error: self.relay_miner_error.clone(),
            payload_hash: self.payload_hash.clone(),
        };
        signable.encode_to_vec()
    }

    /// `SHA-256(signable_bytes)`: the 32-byte message the supplier signs (the
    /// ECDSA digest is SHA-256 of this, see the `rings` crate).
    pub fn signable_hash(&self) -> [u8; 32] {
        sha256(&self.signable_bytes())
    }

    /// This response with the payload removed (what the SMST stores). Its
    /// signable bytes, and therefore its signature, are unchanged when
    /// `payload_hash` is set.
    pub fn dehydrated(&self) -> RelayResponse {
        RelayResponse {
            meta: self.meta.clone(),
            payload: Vec::new(),
            relay_miner_error: self.relay_miner_error.clone(),
            payload_hash: self.payload_hash.clone(),
        }
    }
}

impl Message for RelayResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        encoding::message::encode(1, &self.meta, buf);
        if !self.payload.is_empty() {
            encoding::bytes::encode(2, &self.payload, buf);
        }
        if let Some(err) = &self.relay_miner_error {
            encoding::message::encode(3, err, buf);
        }
        if let Some(hash) = self.payload_hash.as_ref().filter(|h| !h.is_empty()) {
            encoding::bytes::encode(4, hash, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        match tag {
            1 => encoding::message::merge(wire_type, &mut self.meta, buf, ctx),
            2 => encoding::bytes::merge(wire_type, &mut self.payload, buf, ctx),
            3 => encoding::message::merge(
                wire_type,
                self.relay_miner_error.get_or_insert_with(Default::default),
                buf,
                ctx,
            ),
            4 => encoding::bytes::merge(
                wire_type,
                self.payload_hash.get_or_insert_with(Vec::new),
                buf,
                ctx,
            ),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        encoding::message::encoded_len(1, &self.meta)
            + if self.payload.is_empty() {
                0
            } else {
                encoding::bytes::encoded_len(2, &self.payload)
            }
            + self
                .relay_miner_error
                .as_ref()
                .map_or(0, |e| encoding::message::encoded_len(3, e))
            + self
                .payload_hash
                .as_ref()
                .filter(|h| !h.is_empty())
                .map_or(0, |h| encoding::bytes::encoded_len(4, h))
    }

    fn clear(&mut self) {
        *self = RelayResponse::default();
    }
}

/// The bytes of the relay the miner stores and hashes: `Relay{req, res}` with
/// the response payload removed.
pub fn mined_relay_bytes(req: &RelayRequest, res: &RelayResponse) -> Vec<u8> {
    Relay {
        req: Some(req.clone()),
        res: Some(res.dehydrated()),
    }
    .encode_to_vec()
}

/// The relay hash: `SHA-256` of [`mined_relay_bytes`]. The SMST key.
pub fn relay_hash(mined_relay_bytes: &[u8]) -> [u8; 32] {
    sha256(mined_relay_bytes)
}

/// Whether a relay is mined (billable): `relay_hash < target_hash` as 32-byte
/// big-endian numbers.
pub fn is_relay_mined(relay_hash: &[u8; 32], target_hash: &[u8; 32]) -> bool {
    relay_hash < target_hash
}

/// Checks a chain-provided difficulty target: exactly 32 bytes, not zero.
pub fn parse_target_hash(target_hash: &[u8]) -> Result<[u8; 32]> {
    let target: [u8; 32] = target_hash.try_into().map_err(|_| {
        Error::InvalidTargetHash(format!("{} bytes, expected 32", target_hash.len()))
    })?;
    if target == [0u8; 32] {
        return Err(Error::InvalidTargetHash("zero target mines nothing".into()));
    }
    Ok(target)
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}
