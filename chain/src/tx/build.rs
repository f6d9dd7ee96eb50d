//! Pure transaction construction (wire.md §11): `TxBody`, `AuthInfo`,
//! `SignDoc` (SIGN_MODE_DIRECT), signature, `TxRaw` and its hash. No I/O, no
//! clock: the caller supplies account number, sequence, gas, fee and timeouts.
//!
//! prost encodes fields in ascending order and omits defaults, which is the
//! canonical (ADR-027) encoding the chain's decoder demands.

use prost::Message;
use prost_types::{Any, Timestamp};
use protocol::pb::cosmos::base::v1beta1::Coin;
use protocol::pb::cosmos::crypto::secp256k1::PubKey;
use protocol::pb::cosmos::tx::signing::v1beta1::SignMode;
use protocol::pb::cosmos::tx::v1beta1::{
    AuthInfo, Fee, ModeInfo, SignDoc, SignerInfo, TxBody, TxRaw, mode_info,
};
use protocol::pb::pocket::proof::{MsgCreateClaim, MsgSubmitProof};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::keys::OperatorKey;

/// Everything that goes into one single-signer transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct TxSpec {
    /// The messages (at least one), already wrapped in `Any`.
    pub messages: Vec<Any>,
    /// Memo (at most 256 characters).
    pub memo: String,
    /// `timeout_height` (0 = none).
    pub timeout_height: u64,
    /// `Some(t)`: an unordered tx with `timeout_timestamp = t` and sequence 0.
    /// `None`: an ordered tx.
    pub unordered_timeout: Option<Timestamp>,
    /// Chain id.
    pub chain_id: String,
    /// The signer's account number.
    pub account_number: u64,
    /// The signer's sequence (ignored, written as 0, for unordered txs).
    pub sequence: u64,
    /// Gas limit.
    pub gas_limit: u64,
    /// Fee amount (0 = no fee coin).
    pub fee_amount: u128,
    /// Fee denom.
    pub fee_denom: String,
}

/// A signed transaction and the intermediate bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    /// `TxBody` bytes.
    pub body_bytes: Vec<u8>,
    /// `AuthInfo` bytes.
    pub auth_info_bytes: Vec<u8>,
    /// `SignDoc` bytes (what was signed).
    pub sign_doc_bytes: Vec<u8>,
    /// 64-byte `r‖s` signature.
    pub signature: [u8; 64],
    /// `TxRaw` bytes (what is broadcast).
    pub tx_bytes: Vec<u8>,
    /// SHA-256 of `tx_bytes`.
    pub hash: [u8; 32],
}

impl SignedTx {
    /// The tx hash as uppercase hex (how nodes print it).
    #[must_use]
    pub fn hash_hex(&self) -> String {
        hex::encode_upper(self.hash)
    }
}

/// Wraps a `MsgCreateClaim` in an `Any`.
#[must_use]
pub fn claim_any(msg: &MsgCreateClaim) -> Any {
    Any {
        type_url: protocol::MSG_CREATE_CLAIM_TYPE_URL.to_owned(),
        value: msg.encode_to_vec(),
    }
}

/// Wraps a `MsgSubmitProof` in an `Any`.
#[must_use]
pub fn proof_any(msg: &MsgSubmitProof) -> Any {
    Any {
        type_url: protocol::MSG_SUBMIT_PROOF_TYPE_URL.to_owned(),
        value: msg.encode_to_vec(),
    }
}

/// The `TxBody` of `spec`.
#[must_use]
pub fn body(spec: &TxSpec) -> TxBody {
    TxBody {
        messages: spec.messages.clone(),
        memo: spec.memo.clone(),
        timeout_height: spec.timeout_height,
        unordered: spec.unordered_timeout.is_some(),
        timeout_timestamp: spec.unordered_timeout,
        extension_options: Vec::new(),
        non_critical_extension_options: Vec::new(),
    }
}

/// The `AuthInfo` of `spec` for the signer `public_key`: one `SignerInfo`
/// (pubkey always included, SIGN_MODE_DIRECT, the sequence or 0 for unordered)
/// and the fee.
#[must_use]
pub fn auth_info(spec: &TxSpec, public_key: &[u8; 33]) -> AuthInfo {
    let pubkey = Any {
        type_url: protocol::SECP256K1_PUBKEY_TYPE_URL.to_owned(),
        value: PubKey {
            key: public_key.to_vec(),
        }
        .encode_to_vec(),
    };
    let sequence = if spec.unordered_timeout.is_some() {
        0
    } else {
        spec.sequence
    };
    let amount = if spec.fee_amount == 0 {
        Vec::new()
    } else {
        vec![Coin {
            denom: spec.fee_denom.clone(),
            amount: spec.fee_amount.to_string(),
        }]
    };
    AuthInfo {
        signer_infos: vec![SignerInfo {
            public_key: Some(pubkey),
            mode_info: Some(ModeInfo {
                sum: Some(mode_info::Sum::Single(mode_info::Single {
                    mode: SignMode::Direct as i32,
                })),
            }),
            sequence,
        }],
        fee: Some(Fee {
            amount,
            gas_limit: spec.gas_limit,
            payer: String::new(),
            granter: String::new(),
        }),
        tip: None,
    }
}

/// The SIGN_MODE_DIRECT sign doc bytes.
#[must_use]
pub fn sign_doc_bytes(
    body_bytes: &[u8],
    auth_info_bytes: &[u8],
    chain_id: &str,
    account_number: u64,
) -> Vec<u8> {
    SignDoc {
        body_bytes: body_bytes.to_vec(),
        auth_info_bytes: auth_info_bytes.to_vec(),
        chain_id: chain_id.to_owned(),
        account_number,
    }
    .encode_to_vec()
}

/// Builds and signs `spec` with `key`.
///
/// # Errors
/// [`Error::Build`] for a spec the chain would reject outright (no messages,
/// empty chain id, memo over 256 characters) or a signing failure.
pub fn sign(spec: &TxSpec, key: &OperatorKey) -> Result<SignedTx> {
    if spec.messages.is_empty() {
        return Err(Error::Build("a tx needs at least one message".into()));
    }
    if spec.chain_id.is_empty() {
        return Err(Error::Build("empty chain id".into()));
    }
    if spec.memo.chars().count() > 256 {
        return Err(Error::Build("memo longer than 256 characters".into()));
    }
    let body_bytes = body(spec).encode_to_vec();
    let auth_info_bytes = auth_info(spec, &key.public_key()).encode_to_vec();
    let sign_doc_bytes = sign_doc_bytes(
        &body_bytes,
        &auth_info_bytes,
        &spec.chain_id,
        spec.account_number,
    );
    let signature = key.sign_direct(&sign_doc_bytes)?;
    let tx_bytes = TxRaw {
        body_bytes: body_bytes.clone(),
        auth_info_bytes: auth_info_bytes.clone(),
        signatures: vec![signature.to_vec()],
    }
    .encode_to_vec();
    let hash: [u8; 32] = Sha256::digest(&tx_bytes).into();
    Ok(SignedTx {
        body_bytes,
        auth_info_bytes,
        sign_doc_bytes,
        signature,
        tx_bytes,
        hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::pb::pocket::session::SessionHeader;

    const SUPPLIER_HEX: &str = "64058c775d6a3606abe563287d478120e03e19f654f019ec9c2b1b9d41697584";

    /// The `MsgCreateClaim` of wire.md §11.4 (signatures.md §6 session,
    /// smst.md §9.2 root).
    fn example_claim() -> MsgCreateClaim {
        MsgCreateClaim {
            supplier_operator_address: "pokt1rvvk8e7qrv4xqg9fzhvmq9gw7uy7yul9qv280d".into(),
            session_header: Some(SessionHeader {
                application_address: "pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4".into(),
                service_id: "anvil".into(),
                session_id: "e547bbc73c24b44295ca4cbe57b50d8a55620c04dc4c4146de63a01cafd9127d"
                    .into(),
                session_start_block_height: 21,
                session_end_block_height: 30,
            }),
            root_hash: hex::decode(
                "a9b7e9ae276e926ba7961ab57ec123551e44e244bd7b0e55e2fe5c5f1bd099e600000000000000640000000000000001",
            )
            .unwrap(),
        }
    }

    fn example_spec() -> TxSpec {
        TxSpec {
            messages: vec![claim_any(&example_claim())],
            memo: String::new(),
            timeout_height: 0,
            unordered_timeout: Some(Timestamp {
                seconds: 1_767_225_600,
                nanos: 0,
            }),
            chain_id: "pocket".into(),
            account_number: 12345,
            sequence: 0,
            gas_limit: 200_000,
            fee_amount: 1,
            fee_denom: "upokt".into(),
        }
    }

    /// wire.md §11.4, byte for byte.
    #[test]
    fn reproduces_worked_example() {
        let msg = example_claim().encode_to_vec();
        assert_eq!(msg.len(), 219);
        let header = hex::encode(example_claim().session_header.unwrap().encode_to_vec());
        assert_eq!(
            format!(
                "0a2b{}127a{header}1a30",
                hex::encode("pokt1rvvk8e7qrv4xqg9fzhvmq9gw7uy7yul9qv280d")
            ),
            hex::encode(&msg[..2 + 43 + 2 + 122 + 2])
        );

        let key = OperatorKey::from_hex(SUPPLIER_HEX).unwrap();
        let tx = sign(&example_spec(), &key).unwrap();

        let body_hex = format!(
            "0afc010a1c2f706f636b65742e70726f6f662e4d7367437265617465436c61696d12db01{}20012a060880f2d6ca06",
            hex::encode(&msg)
        );
        assert_eq!(hex::encode(&tx.body_bytes), body_hex);
        let auth_hex = "0a4e0a460a1f2f636f736d6f732e63727970746f2e736563703235366b312e5075624b657912230a210387d29e4d428aa9e1dfe447bfe18a0a05f7c9b77aba161df5c155e774c180fde112040a02080112100a0a0a0575706f6b7412013110c09a0c";
        assert_eq!(hex::encode(&tx.auth_info_bytes), auth_hex);
        assert_eq!(
            hex::encode(&tx.sign_doc_bytes),
            format!("0a8902{body_hex}1262{auth_hex}1a06706f636b657420b960")
        );
        assert_eq!(
            hex::encode(Sha256::digest(&tx.sign_doc_bytes)),
            "69999e68c08a579f73d289a8e039d94f79d7bd465b3b9d91b4fc9b2422e5e925"
        );
        let sig_hex = "1fea9d4549bbcf33b9f7b9ae19a98f5a6334c03b02af8004067d8643498acd9d7fd4a772374fceb972b3c28c3857495a16bbadb239c21f4a9c8d8617b0e07ad1";
        assert_eq!(hex::encode(tx.signature), sig_hex);
        assert_eq!(
            hex::encode(&tx.tx_bytes),
            format!("0a8902{body_hex}1262{auth_hex}1a40{sig_hex}")
        );
        assert_eq!(
            tx.hash_hex(),
            "3E87E1A09A964074BD0A9A4DF4BD51975B4013D3CEAC461D4C4CE60737925828"
        );
    }

    #[test]
    fn ordered_tx_carries_sequence_and_no_unordered_fields() {
        let key = OperatorKey::from_hex(SUPPLIER_HEX).unwrap();
        let mut spec = example_spec();
        spec.unordered_timeout = None;
        spec.sequence = 7;
        spec.timeout_height = 99;
        let tx = sign(&spec, &key).unwrap();
        let body = TxBody::decode(tx.body_bytes.as_slice()).unwrap();
        assert!(!body.unordered);
        assert!(body.timeout_timestamp.is_none());
        assert_eq!(body.timeout_height, 99);
        let auth = AuthInfo::decode(tx.auth_info_bytes.as_slice()).unwrap();
        assert_eq!(auth.signer_infos[0].sequence, 7);

        // Unordered: the sequence is forced to 0 whatever the spec says.
        let mut spec = example_spec();
        spec.sequence = 7;
        let auth = auth_info(&spec, &key.public_key());
        assert_eq!(auth.signer_infos[0].sequence, 0);
    }

    #[test]
    fn several_messages_and_zero_fee() {
        let key = OperatorKey::from_hex(SUPPLIER_HEX).unwrap();
        let mut spec = example_spec();
        let proof = MsgSubmitProof {
            supplier_operator_address: "pokt1rvvk8e7qrv4xqg9fzhvmq9gw7uy7yul9qv280d".into(),
            session_header: example_claim().session_header,
            proof: vec![1, 2, 3],
        };
        spec.messages.push(proof_any(&proof));
        spec.fee_amount = 0;
        let tx = sign(&spec, &key).unwrap();
        let body = TxBody::decode(tx.body_bytes.as_slice()).unwrap();
        assert_eq!(body.messages.len(), 2);
        assert_eq!(
            body.messages[1].type_url,
            protocol::MSG_SUBMIT_PROOF_TYPE_URL
        );
        let auth = AuthInfo::decode(tx.auth_info_bytes.as_slice()).unwrap();
        assert!(auth.fee.unwrap().amount.is_empty());
    }

    #[test]
    fn rejects_invalid_specs() {
        let key = OperatorKey::from_hex(SUPPLIER_HEX).unwrap();
        let mut spec = example_spec();
        spec.messages.clear();
        assert!(sign(&spec, &key).is_err());
        let mut spec = example_spec();
        spec.memo = "x".repeat(257);
        assert!(sign(&spec, &key).is_err());
        let mut spec = example_spec();
        spec.chain_id.clear();
        assert!(sign(&spec, &key).is_err());
    }
}
