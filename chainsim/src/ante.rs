//! Transactions as cosmos-sdk v0.53 handles them: decoding (ADR-027 raw-tx
//! rules, unknown-field rejection), the ante handler (extension options,
//! stateless msg checks, signer count, memo, timeouts, unordered txs, gas for
//! tx size, minimum fee, fee payer funds, public keys, sequence, SIGN_MODE_DIRECT
//! signature), then CheckTx, Simulate and DeliverTx built on it.
//!
//! Error codes are cosmos-sdk's `types/errors` (codespace `sdk`) and
//! poktroll's `x/proof/types/errors.go` (codespace `proof`).

use k256::ecdsa::signature::hazmat::PrehashVerifier;
use k256::elliptic_curve::scalar::IsHigh;
use prost::Message;
use prost::bytes::Buf;
use prost::encoding::{DecodeContext, WireType, decode_key, skip_field};
use protocol::pb::cosmos::crypto::secp256k1::PubKey;
use protocol::pb::cosmos::tx::signing::v1beta1::SignMode;
use protocol::pb::cosmos::tx::v1beta1::{
    AuthInfo, SignDoc, TxBody, TxRaw, mode_info::Sum as ModeSum,
};
use protocol::pb::pocket::proof::{MsgCreateClaim, MsgSubmitProof};
use sha2::{Digest, Sha256};

use crate::block::{Event, TxResult};
use crate::chain::{Chain, TxRecord};

/// Cosmos-sdk root error codes (codespace `sdk`).
pub mod codes {
    /// Tx parse error.
    pub const TX_DECODE: u32 = 2;
    /// Unauthorized (signature verification, signer count).
    pub const UNAUTHORIZED: u32 = 4;
    /// Insufficient funds.
    pub const INSUFFICIENT_FUNDS: u32 = 5;
    /// Invalid address.
    pub const INVALID_ADDRESS: u32 = 7;
    /// Invalid public key.
    pub const INVALID_PUBKEY: u32 = 8;
    /// Unknown address (no such account).
    pub const UNKNOWN_ADDRESS: u32 = 9;
    /// Invalid coins.
    pub const INVALID_COINS: u32 = 10;
    /// Out of gas.
    pub const OUT_OF_GAS: u32 = 11;
    /// Memo too large.
    pub const MEMO_TOO_LARGE: u32 = 12;
    /// Insufficient fee.
    pub const INSUFFICIENT_FEE: u32 = 13;
    /// No signatures supplied.
    pub const NO_SIGNATURES: u32 = 15;
    /// Invalid request.
    pub const INVALID_REQUEST: u32 = 18;
    /// Tx already in the mempool cache.
    pub const TX_IN_MEMPOOL_CACHE: u32 = 19;
    /// Tx timeout height passed.
    pub const TX_TIMEOUT_HEIGHT: u32 = 30;
    /// Unknown extension options.
    pub const UNKNOWN_EXTENSION_OPTIONS: u32 = 31;
    /// Account sequence mismatch.
    pub const WRONG_SEQUENCE: u32 = 32;
    /// Tx timeout timestamp passed (cosmos-sdk v0.53 `ErrTxTimeout`).
    pub const TX_TIMEOUT: u32 = 42;
}

/// Gas charged per tx byte (cosmos-sdk `TxSizeCostPerByte`).
const GAS_PER_TX_BYTE: u64 = 10;
/// Gas charged per secp256k1 signature verification.
const GAS_PER_SIGNATURE: u64 = 1000;
/// Extra gas of an unordered tx (cosmos-sdk v0.53).
const GAS_UNORDERED: u64 = 2240;
/// Store reads and writes of the ante handler (fee deduction, account update).
const GAS_ANTE_BASE: u64 = 30_000;
/// Gas per `MsgCreateClaim` (session hydration, claim write).
const GAS_CLAIM: u64 = 25_000;
/// Gas per `MsgSubmitProof`, plus [`GAS_PER_PROOF_BYTE`] per proof byte.
const GAS_PROOF: u64 = 50_000;
/// Gas per proof byte.
const GAS_PER_PROOF_BYTE: u64 = 2;
/// Gas per `MsgSend`.
const GAS_SEND: u64 = 15_000;
/// Longest memo (auth `MaxMemoCharacters`).
const MAX_MEMO_CHARS: usize = 256;
/// Longest unordered-tx TTL: 10 minutes.
const MAX_UNORDERED_TTL_NANOS: i128 = 10 * 60 * 1_000_000_000;

/// Type URL of a bank send.
pub const MSG_SEND_TYPE_URL: &str = "/cosmos.bank.v1beta1.MsgSend";

/// `cosmos.bank.v1beta1.MsgSend` (not in `protocol`: only the simulator and
/// its tests use it, to move funds and to put a public key on chain).
#[derive(Clone, PartialEq, Message)]
pub struct MsgSend {
    /// Sender (the signer).
    #[prost(string, tag = "1")]
    pub from_address: String,
    /// Recipient (created if missing).
    #[prost(string, tag = "2")]
    pub to_address: String,
    /// Amounts (only `upokt` is tracked).
    #[prost(message, repeated, tag = "3")]
    pub amount: Vec<protocol::pb::cosmos::base::v1beta1::Coin>,
}

/// Why a tx (or one of its messages) is rejected: the ABCI code, codespace
/// and log the chain answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TxError {
    pub codespace: &'static str,
    pub code: u32,
    pub log: String,
}

impl TxError {
    pub(crate) fn sdk(code: u32, log: impl Into<String>) -> Self {
        TxError {
            codespace: "sdk",
            code,
            log: log.into(),
        }
    }

    pub(crate) fn proof(code: u32, log: impl Into<String>) -> Self {
        TxError {
            codespace: "proof",
            code,
            log: log.into(),
        }
    }

    fn into_result(self, gas_wanted: u64, gas_used: u64) -> TxResult {
        TxResult {
            code: self.code,
            codespace: self.codespace.into(),
            log: self.log,
            gas_wanted: gas_i64(gas_wanted),
            gas_used: gas_i64(gas_used),
            events: Vec::new(),
        }
    }
}

fn gas_i64(g: u64) -> i64 {
    i64::try_from(g).unwrap_or(i64::MAX)
}

/// A decoded message of a tx.
#[derive(Debug, Clone)]
pub(crate) enum Msg {
    CreateClaim(MsgCreateClaim),
    SubmitProof(MsgSubmitProof),
    Send(MsgSend),
}

impl Msg {
    pub(crate) fn signer(&self) -> &str {
        match self {
            Msg::CreateClaim(m) => &m.supplier_operator_address,
            Msg::SubmitProof(m) => &m.supplier_operator_address,
            Msg::Send(m) => &m.from_address,
        }
    }

    pub(crate) fn type_url(&self) -> &'static str {
        match self {
            Msg::CreateClaim(_) => protocol::MSG_CREATE_CLAIM_TYPE_URL,
            Msg::SubmitProof(_) => protocol::MSG_SUBMIT_PROOF_TYPE_URL,
            Msg::Send(_) => MSG_SEND_TYPE_URL,
        }
    }

    fn gas(&self) -> u64 {
        match self {
            Msg::CreateClaim(_) => GAS_CLAIM,
            Msg::SubmitProof(m) => {
                GAS_PROOF.saturating_add(GAS_PER_PROOF_BYTE.saturating_mul(m.proof.len() as u64))
            }
            Msg::Send(_) => GAS_SEND,
        }
    }
}

/// A decoded transaction.
#[derive(Debug, Clone)]
pub(crate) struct DecodedTx {
    pub len: usize,
    pub body_bytes: Vec<u8>,
    pub auth_info_bytes: Vec<u8>,
    pub signatures: Vec<Vec<u8>>,
    pub body: TxBody,
    pub auth: AuthInfo,
    pub msgs: Vec<Msg>,
    /// Distinct signers in order of first appearance.
    pub signers: Vec<String>,
}

impl DecodedTx {
    fn gas_limit(&self) -> u64 {
        self.auth.fee.as_ref().map_or(0, |f| f.gas_limit)
    }

    fn msgs_gas(&self) -> u64 {
        self.msgs
            .iter()
            .fold(0u64, |acc, m| acc.saturating_add(m.gas()))
    }
}

/// How the ante handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Check,
    Simulate,
    Deliver,
}

/// State changes of a passed ante handler.
#[derive(Debug, Clone, Default)]
pub(crate) struct AnteEffects {
    fee_payer: String,
    fee: u128,
    seq_bumps: Vec<String>,
    pubkeys: Vec<(String, [u8; 33])>,
    unordered: Option<(String, i128)>,
    gas_used: u64,
}

/// The tx hash: upper-case hex SHA-256 of the raw bytes.
pub(crate) fn tx_hash_hex(bytes: &[u8]) -> String {
    hex::encode_upper(Sha256::digest(bytes))
}

/// Lists `(field, wire type)` of a protobuf message's top-level fields.
fn scan_fields(mut buf: &[u8]) -> Result<Vec<(u32, WireType)>, String> {
    let mut out = Vec::new();
    while buf.has_remaining() {
        let (tag, wt) = decode_key(&mut buf).map_err(|e| e.to_string())?;
        skip_field(wt, tag, &mut buf, DecodeContext::default()).map_err(|e| e.to_string())?;
        out.push((tag, wt));
    }
    Ok(out)
}

fn decode_err(log: impl std::fmt::Display) -> TxError {
    TxError::sdk(codes::TX_DECODE, format!("{log}: tx parse error"))
}

/// Decodes raw tx bytes as the cosmos-sdk tx decoder does.
pub(crate) fn decode_tx(bytes: &[u8]) -> Result<DecodedTx, TxError> {
    // ADR-027: TxRaw fields ascending, body and auth info at most once,
    // everything length-delimited, nothing unknown.
    let fields = scan_fields(bytes).map_err(decode_err)?;
    let mut last = 0;
    for (tag, wt) in &fields {
        if !matches!(tag, 1..=3) || *wt != WireType::LengthDelimited {
            return Err(decode_err(format!(
                "unknown or malformed TxRaw field {tag}"
            )));
        }
        if *tag < last || (*tag == last && *tag != 3) {
            return Err(decode_err("TxRaw fields are not in canonical order"));
        }
        last = *tag;
    }
    let raw = TxRaw::decode(bytes).map_err(decode_err)?;
    for (tag, _) in scan_fields(&raw.auth_info_bytes).map_err(decode_err)? {
        if !matches!(tag, 1..=3) {
            return Err(decode_err(format!("unknown AuthInfo field {tag}")));
        }
    }
    for (tag, _) in scan_fields(&raw.body_bytes).map_err(decode_err)? {
        let known = matches!(tag, 1..=5 | 1023 | 2047);
        let non_critical = tag & 1024 != 0;
        if !known && !non_critical {
            return Err(decode_err(format!("unknown critical TxBody field {tag}")));
        }
    }
    let body = TxBody::decode(raw.body_bytes.as_slice()).map_err(decode_err)?;
    let auth = AuthInfo::decode(raw.auth_info_bytes.as_slice()).map_err(decode_err)?;
    let mut msgs = Vec::with_capacity(body.messages.len());
    for any in &body.messages {
        let value = any.value.as_slice();
        let msg = match any.type_url.as_str() {
            protocol::MSG_CREATE_CLAIM_TYPE_URL => {
                Msg::CreateClaim(MsgCreateClaim::decode(value).map_err(decode_err)?)
            }
            protocol::MSG_SUBMIT_PROOF_TYPE_URL => {
                Msg::SubmitProof(MsgSubmitProof::decode(value).map_err(decode_err)?)
            }
            MSG_SEND_TYPE_URL => Msg::Send(MsgSend::decode(value).map_err(decode_err)?),
            other => {
                return Err(decode_err(format!("unable to resolve type URL {other}")));
            }
        };
        msgs.push(msg);
    }
    let mut signers: Vec<String> = Vec::new();
    for m in &msgs {
        if !signers.iter().any(|s| s == m.signer()) {
            signers.push(m.signer().to_owned());
        }
    }
    Ok(DecodedTx {
        len: bytes.len(),
        body_bytes: raw.body_bytes,
        auth_info_bytes: raw.auth_info_bytes,
        signatures: raw.signatures,
        body,
        auth,
        msgs,
        signers,
    })
}

/// Stateless message checks (each message's `ValidateBasic`).
fn validate_basic(msg: &Msg) -> Result<(), TxError> {
    use crate::msgs::proof_codes as pc;
    match msg {
        Msg::CreateClaim(m) => {
            protocol::address::decode_address(&m.supplier_operator_address).map_err(|e| {
                TxError::proof(
                    pc::INVALID_ADDRESS,
                    format!("invalid supplier address: {e}"),
                )
            })?;
            let header = m.session_header.as_ref().ok_or_else(|| {
                TxError::proof(pc::INVALID_SESSION_HEADER, "session header is missing")
            })?;
            protocol::session::validate_session_header(header)
                .map_err(|e| TxError::proof(pc::INVALID_SESSION_HEADER, e.to_string()))?;
            let root = protocol::claim::ClaimRoot::parse(&m.root_hash)
                .map_err(|e| TxError::proof(pc::INVALID_CLAIM_ROOT_HASH, e.to_string()))?;
            if root.count == 0 || root.sum == 0 {
                return Err(TxError::proof(
                    pc::INVALID_CLAIM_ROOT_HASH,
                    format!(
                        "root has count {} and sum {}; both must be > 0",
                        root.count, root.sum
                    ),
                ));
            }
        }
        Msg::SubmitProof(m) => {
            protocol::address::decode_address(&m.supplier_operator_address).map_err(|e| {
                TxError::proof(
                    pc::INVALID_ADDRESS,
                    format!("invalid supplier address: {e}"),
                )
            })?;
            let header = m.session_header.as_ref().ok_or_else(|| {
                TxError::proof(pc::INVALID_SESSION_HEADER, "session header is missing")
            })?;
            protocol::session::validate_session_header(header)
                .map_err(|e| TxError::proof(pc::INVALID_SESSION_HEADER, e.to_string()))?;
            if m.proof.is_empty() {
                return Err(TxError::proof(pc::INVALID_PROOF, "proof is empty"));
            }
        }
        Msg::Send(m) => {
            for (field, a) in [("from", &m.from_address), ("to", &m.to_address)] {
                protocol::address::decode_address(a).map_err(|e| {
                    TxError::sdk(
                        codes::INVALID_ADDRESS,
                        format!("invalid {field} address: {e}"),
                    )
                })?;
            }
            for c in &m.amount {
                parse_amount(&c.amount)?;
            }
        }
    }
    Ok(())
}

/// Parses a coin amount (a decimal integer string).
pub(crate) fn parse_amount(s: &str) -> Result<u128, TxError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TxError::sdk(
            codes::INVALID_COINS,
            format!("invalid coin amount {s:?}"),
        ));
    }
    s.parse()
        .map_err(|_| TxError::sdk(codes::INVALID_COINS, format!("coin amount {s} overflows")))
}

fn verify_tx_signature(pubkey: &[u8; 33], sign_bytes: &[u8], signature: &[u8]) -> bool {
    let Ok(key) = k256::ecdsa::VerifyingKey::from_sec1_bytes(pubkey) else {
        return false;
    };
    let Ok(sig) = k256::ecdsa::Signature::from_slice(signature) else {
        return false;
    };
    if bool::from(sig.s().is_high()) {
        return false;
    }
    key.verify_prehash(&Sha256::digest(sign_bytes), &sig)
        .is_ok()
}

impl Chain {
    fn account_sequence(&self, addr: &str, mode: Mode) -> Option<u64> {
        let acc = self.accounts.get(addr)?;
        Some(match mode {
            Mode::Check | Mode::Simulate => self
                .check
                .sequences
                .get(addr)
                .copied()
                .unwrap_or(acc.sequence),
            Mode::Deliver => acc.sequence,
        })
    }

    fn account_balance(&self, addr: &str, mode: Mode) -> u128 {
        let balance = self.accounts.get(addr).map_or(0, |a| a.balance);
        match mode {
            Mode::Check | Mode::Simulate => {
                balance.saturating_sub(self.check.spent.get(addr).copied().unwrap_or(0))
            }
            Mode::Deliver => balance,
        }
    }

    fn account_pubkey(&self, addr: &str, mode: Mode) -> Option<[u8; 33]> {
        let on_chain = self.accounts.get(addr).and_then(|a| a.pubkey);
        match mode {
            Mode::Check | Mode::Simulate => {
                on_chain.or_else(|| self.check.pubkeys.get(addr).copied())
            }
            Mode::Deliver => on_chain,
        }
    }

    /// The ante handler. `height`/`time` are the context's block height and
    /// time (latest committed in CheckTx and Simulate, the new block in DeliverTx).
    pub(crate) fn ante(
        &self,
        tx: &DecodedTx,
        mode: Mode,
        height: i64,
        time: i128,
    ) -> Result<AnteEffects, TxError> {
        if !tx.body.extension_options.is_empty() {
            return Err(TxError::sdk(
                codes::UNKNOWN_EXTENSION_OPTIONS,
                "unknown extension options",
            ));
        }
        if tx.msgs.is_empty() {
            return Err(TxError::sdk(
                codes::INVALID_REQUEST,
                "must contain at least one message: invalid request",
            ));
        }
        for m in &tx.msgs {
            validate_basic(m)?;
        }
        if tx.signatures.is_empty() && mode != Mode::Simulate {
            return Err(TxError::sdk(codes::NO_SIGNATURES, "no signatures supplied"));
        }
        let n = tx.signers.len();
        if tx.auth.signer_infos.len() != n || (mode != Mode::Simulate && tx.signatures.len() != n) {
            return Err(TxError::sdk(
                codes::UNAUTHORIZED,
                format!(
                    "wrong number of signers; expected {n}, got {} signer infos and {} signatures: unauthorized",
                    tx.auth.signer_infos.len(),
                    tx.signatures.len()
                ),
            ));
        }
        let fee = tx
            .auth
            .fee
            .as_ref()
            .ok_or_else(|| TxError::sdk(codes::INVALID_REQUEST, "fee is missing"))?;
        if tx.body.memo.chars().count() > MAX_MEMO_CHARS {
            return Err(TxError::sdk(
                codes::MEMO_TOO_LARGE,
                format!(
                    "maximum number of characters is {MAX_MEMO_CHARS} but received {} characters: memo too large",
                    tx.body.memo.chars().count()
                ),
            ));
        }
        if tx.body.timeout_height > 0 && height as u64 > tx.body.timeout_height {
            return Err(TxError::sdk(
                codes::TX_TIMEOUT_HEIGHT,
                format!(
                    "block height: {height}, timeout height: {}: tx timeout height",
                    tx.body.timeout_height
                ),
            ));
        }
        let timeout_ts = tx
            .body
            .timeout_timestamp
            .as_ref()
            .map(|t| i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos));
        if let Some(t) = timeout_ts.filter(|t| *t != 0)
            && time > t
        {
            return Err(TxError::sdk(
                codes::TX_TIMEOUT,
                format!(
                    "block time: {}, timeout timestamp: {}: tx timeout",
                    crate::block::rfc3339(time),
                    crate::block::rfc3339(t)
                ),
            ));
        }
        let mut effects = AnteEffects::default();
        if tx.body.unordered {
            let t = timeout_ts.filter(|t| *t != 0).ok_or_else(|| {
                TxError::sdk(
                    codes::INVALID_REQUEST,
                    "unordered transaction must have timeout_timestamp set: invalid request",
                )
            })?;
            if t > time + MAX_UNORDERED_TTL_NANOS {
                return Err(TxError::sdk(
                    codes::INVALID_REQUEST,
                    format!(
                        "unordered tx ttl exceeds 10m0s (timeout {}, block time {}): invalid request",
                        crate::block::rfc3339(t),
                        crate::block::rfc3339(time)
                    ),
                ));
            }
            if tx.auth.signer_infos.iter().any(|i| i.sequence != 0) {
                return Err(TxError::sdk(
                    codes::INVALID_REQUEST,
                    "sequence is not allowed for unordered transactions: invalid request",
                ));
            }
            let key = (tx.signers[0].clone(), t);
            let seen = self.unordered_nonces.contains_key(&key)
                || (mode != Mode::Deliver && self.check.unordered.contains(&key));
            if seen {
                return Err(TxError::sdk(
                    codes::INVALID_REQUEST,
                    "tx is duplicated (same signer and timeout_timestamp): invalid request",
                ));
            }
            effects.unordered = Some(key);
        }
        // Gas for tx size and signatures.
        let mut gas = GAS_ANTE_BASE
            .saturating_add(GAS_PER_TX_BYTE.saturating_mul(tx.len as u64))
            .saturating_add(GAS_PER_SIGNATURE.saturating_mul(n as u64));
        if tx.body.unordered {
            gas = gas.saturating_add(GAS_UNORDERED);
        }
        if mode != Mode::Simulate && gas > fee.gas_limit {
            return Err(TxError::sdk(
                codes::OUT_OF_GAS,
                format!(
                    "out of gas in location: txSize; gasWanted: {}, gasUsed: {gas}: out of gas",
                    fee.gas_limit
                ),
            ));
        }
        effects.gas_used = gas;
        // Fee amount (only upokt is a known denom).
        let mut fee_upokt: u128 = 0;
        let mut other_denoms = false;
        for c in &fee.amount {
            let amount = parse_amount(&c.amount)?;
            if c.denom == protocol::DENOM {
                fee_upokt = fee_upokt.saturating_add(amount);
            } else if amount > 0 {
                other_denoms = true;
            }
        }
        if mode == Mode::Check {
            let (num, scale) = self.min_gas_price;
            let denom = 10u128.pow(scale);
            let required = (num.saturating_mul(u128::from(fee.gas_limit))).div_ceil(denom);
            if fee_upokt < required {
                return Err(TxError::sdk(
                    codes::INSUFFICIENT_FEE,
                    format!(
                        "insufficient fees; got: {fee_upokt}upokt required: {required}upokt: insufficient fee"
                    ),
                ));
            }
        }
        for s in &tx.signers {
            if !self.accounts.contains_key(s) {
                return Err(TxError::sdk(
                    codes::UNKNOWN_ADDRESS,
                    format!("account {s} does not exist: unknown address"),
                ));
            }
        }
        let payer = if fee.payer.is_empty() {
            tx.signers[0].clone()
        } else {
            fee.payer.clone()
        };
        let balance = self.account_balance(&payer, mode);
        if other_denoms || balance < fee_upokt {
            return Err(TxError::sdk(
                codes::INSUFFICIENT_FUNDS,
                format!(
                    "spendable balance {balance}upokt is smaller than {fee_upokt}upokt: insufficient funds"
                ),
            ));
        }
        effects.fee_payer = payer;
        effects.fee = fee_upokt;
        // Public keys, sequences and signatures.
        for (i, signer) in tx.signers.iter().enumerate() {
            let info = &tx.auth.signer_infos[i];
            let mut pubkey = self.account_pubkey(signer, mode);
            if let Some(any) = &info.public_key {
                if any.type_url != protocol::SECP256K1_PUBKEY_TYPE_URL {
                    return Err(TxError::sdk(
                        codes::INVALID_PUBKEY,
                        format!(
                            "unsupported public key type {}: invalid pubkey",
                            any.type_url
                        ),
                    ));
                }
                let pk = PubKey::decode(any.value.as_slice())
                    .ok()
                    .and_then(|p| <[u8; 33]>::try_from(p.key).ok())
                    .ok_or_else(|| {
                        TxError::sdk(codes::INVALID_PUBKEY, "malformed secp256k1 public key")
                    })?;
                let addr = protocol::address::address_from_pubkey(&pk)
                    .map_err(|e| TxError::sdk(codes::INVALID_PUBKEY, e.to_string()))?;
                if &addr != signer {
                    return Err(TxError::sdk(
                        codes::INVALID_PUBKEY,
                        format!(
                            "pubKey does not match signer address {signer} with signer index: {i}: invalid pubkey"
                        ),
                    ));
                }
                if pubkey.is_none() {
                    effects.pubkeys.push((signer.clone(), pk));
                }
                pubkey = Some(pk);
            }
            let mode_ok = matches!(
                info.mode_info.as_ref().and_then(|m| m.sum.as_ref()),
                Some(ModeSum::Single(s)) if s.mode == SignMode::Direct as i32
            );
            if !mode_ok && mode != Mode::Simulate {
                return Err(TxError::sdk(
                    codes::UNAUTHORIZED,
                    "only SIGN_MODE_DIRECT single signatures are supported: unauthorized",
                ));
            }
            let account_number = self.accounts.get(signer).map_or(0, |a| a.account_number);
            let sequence = self.account_sequence(signer, mode).unwrap_or(0);
            if !tx.body.unordered {
                if info.sequence != sequence {
                    return Err(TxError::sdk(
                        codes::WRONG_SEQUENCE,
                        format!(
                            "account sequence mismatch, expected {sequence}, got {}: incorrect account sequence",
                            info.sequence
                        ),
                    ));
                }
                effects.seq_bumps.push(signer.clone());
            }
            if mode == Mode::Simulate {
                continue;
            }
            let pubkey = pubkey.ok_or_else(|| {
                TxError::sdk(
                    codes::INVALID_PUBKEY,
                    format!("pubkey on account {signer} is not set: invalid pubkey"),
                )
            })?;
            let sign_doc = SignDoc {
                body_bytes: tx.body_bytes.clone(),
                auth_info_bytes: tx.auth_info_bytes.clone(),
                chain_id: self.chain_id.clone(),
                account_number,
            }
            .encode_to_vec();
            if !verify_tx_signature(&pubkey, &sign_doc, &tx.signatures[i]) {
                return Err(TxError::sdk(
                    codes::UNAUTHORIZED,
                    format!(
                        "signature verification failed; please verify account number ({account_number}), sequence ({}) and chain-id ({}): unauthorized",
                        info.sequence, self.chain_id
                    ),
                ));
            }
        }
        Ok(effects)
    }

    fn apply_ante_check(&mut self, e: &AnteEffects) {
        *self.check.spent.entry(e.fee_payer.clone()).or_default() += e.fee;
        for s in &e.seq_bumps {
            let next = self.account_sequence(s, Mode::Check).unwrap_or(0) + 1;
            self.check.sequences.insert(s.clone(), next);
        }
        for (a, k) in &e.pubkeys {
            self.check.pubkeys.insert(a.clone(), *k);
        }
        if let Some(n) = &e.unordered {
            self.check.unordered.insert(n.clone());
        }
    }

    fn apply_ante_deliver(&mut self, e: &AnteEffects) {
        if let Some(acc) = self.accounts.get_mut(&e.fee_payer) {
            acc.balance = acc.balance.saturating_sub(e.fee);
        }
        for s in &e.seq_bumps {
            if let Some(acc) = self.accounts.get_mut(s) {
                acc.sequence += 1;
            }
        }
        for (a, k) in &e.pubkeys {
            if let Some(acc) = self.accounts.get_mut(a) {
                acc.pubkey = acc.pubkey.or(Some(*k));
            }
        }
        if let Some(n) = &e.unordered {
            self.unordered_nonces.insert(n.clone(), ());
        }
    }

    /// `BroadcastTx` in SYNC mode: CheckTx, then the mempool (or the drop knob).
    /// Returns the tx hash and the CheckTx result.
    pub(crate) fn broadcast(&mut self, bytes: &[u8]) -> (String, TxResult) {
        let hash = tx_hash_hex(bytes);
        self.counters.txs_checked += 1;
        if !self.faults.reject_next.is_empty() {
            let forced = self.faults.reject_next.remove(0);
            self.counters.txs_forced_rejections += 1;
            tracing::warn!(txhash = %hash, code = forced.code, "tx rejected by the reject_next_tx fault knob");
            return (
                hash,
                TxResult {
                    code: forced.code,
                    codespace: forced.codespace,
                    log: if forced.log.is_empty() {
                        "rejected by the chainsim fault knob".into()
                    } else {
                        forced.log
                    },
                    ..TxResult::default()
                },
            );
        }
        let result = self.check_tx(bytes, &hash);
        match result {
            Ok((effects, gas_wanted)) => {
                self.apply_ante_check(&effects);
                self.counters.txs_accepted += 1;
                if self.faults.drop_next_txs > 0 {
                    self.faults.drop_next_txs -= 1;
                    self.counters.txs_dropped += 1;
                    tracing::info!(txhash = %hash, "accepted tx dropped by the drop_next_txs fault knob");
                } else {
                    self.mempool.push(bytes.to_vec());
                    self.mempool_hashes.insert(hash.clone());
                }
                let r = TxResult {
                    gas_wanted: gas_i64(gas_wanted),
                    gas_used: gas_i64(effects.gas_used),
                    ..TxResult::default()
                };
                (hash, r)
            }
            Err(e) => {
                self.counters.txs_rejected += 1;
                tracing::warn!(
                    txhash = %hash,
                    code = e.code,
                    codespace = e.codespace,
                    rule = %e.log,
                    "tx rejected by CheckTx"
                );
                (hash, e.into_result(0, 0))
            }
        }
    }

    fn check_tx(&self, bytes: &[u8], hash: &str) -> Result<(AnteEffects, u64), TxError> {
        if self.mempool_hashes.contains(hash)
            || self.tx_index.get(hash).is_some_and(|r| r.result.is_ok())
        {
            return Err(TxError::sdk(
                codes::TX_IN_MEMPOOL_CACHE,
                "tx already exists in cache",
            ));
        }
        let tx = decode_tx(bytes)?;
        let effects = self.ante(&tx, Mode::Check, self.height(), self.latest_time())?;
        Ok((effects, tx.gas_limit()))
    }

    /// `Simulate`: the ante handler without signature checks, then the
    /// messages on a throw-away copy of the state. Returns the gas used.
    pub(crate) fn simulate(&mut self, bytes: &[u8]) -> Result<(u64, Vec<Event>), TxError> {
        let tx = decode_tx(bytes)?;
        let height = self.height();
        let time = self.latest_time();
        let effects = self.ante(&tx, Mode::Simulate, height, time)?;
        let gas = effects.gas_used.saturating_add(tx.msgs_gas());
        let snapshot = self.snapshot();
        // A simulation changes nothing, counters included (a simulated claim
        // is not a created claim).
        let counters = self.counters.clone();
        let result = self.execute_msgs(&tx, height, time);
        self.restore(snapshot);
        self.counters = counters;
        result.map(|events| (gas, events))
    }

    /// DeliverTx at `height`/`time`: ante (its effects stay even if a message
    /// fails), gas, then all messages or none.
    pub(crate) fn deliver_tx(&mut self, bytes: &[u8], height: i64, time: i128) -> TxResult {
        let tx = match decode_tx(bytes) {
            Ok(tx) => tx,
            Err(e) => return e.into_result(0, 0),
        };
        let gas_wanted = tx.gas_limit();
        let effects = match self.ante(&tx, Mode::Deliver, height, time) {
            Ok(e) => e,
            Err(e) => return e.into_result(gas_wanted, 0),
        };
        self.apply_ante_deliver(&effects);
        let gas_used = effects.gas_used.saturating_add(tx.msgs_gas());
        if gas_used > gas_wanted {
            return TxError::sdk(
                codes::OUT_OF_GAS,
                format!("out of gas in location: msgs; gasWanted: {gas_wanted}, gasUsed: {gas_used}: out of gas"),
            )
            .into_result(gas_wanted, gas_wanted);
        }
        let snapshot = self.snapshot();
        match self.execute_msgs(&tx, height, time) {
            Ok(mut events) => {
                events.insert(
                    0,
                    Event::new("tx")
                        .attr("fee", format!("{}upokt", effects.fee))
                        .attr("fee_payer", &effects.fee_payer),
                );
                TxResult {
                    code: 0,
                    codespace: String::new(),
                    log: String::new(),
                    gas_wanted: gas_i64(gas_wanted),
                    gas_used: gas_i64(gas_used),
                    events,
                }
            }
            Err(e) => {
                self.restore(snapshot);
                e.into_result(gas_wanted, gas_used)
            }
        }
    }

    /// The tx record of an included tx.
    pub(crate) fn tx_record(&self, hash: &str) -> Option<&TxRecord> {
        self.tx_index.get(&hash.to_ascii_uppercase())
    }
}
