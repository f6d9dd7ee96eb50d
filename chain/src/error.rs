//! The one error type of this crate.
//!
//! Every variant names what was asked (gRPC method or CometBFT endpoint) and,
//! where it applies, the height it was asked at. Retry policy reads as
//! [`Error::is_retryable`], never as string matching on messages.

use std::fmt;
use std::path::PathBuf;

/// A height a query was made at: `latest` or a fixed block height
/// (`x-cosmos-block-height`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AtHeight(pub Option<u64>);

impl fmt::Display for AtHeight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(h) => write!(f, "height {h}"),
            None => f.write_str("latest height"),
        }
    }
}

/// What went wrong talking to the chain, building a transaction or loading keys.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid (a field and why).
    #[error("invalid chain configuration: {0}")]
    Config(String),

    /// An endpoint URL cannot be used.
    #[error("invalid endpoint {url:?}: {reason}")]
    Endpoint {
        /// The URL as configured.
        url: String,
        /// Why it is rejected.
        reason: String,
    },

    /// A gRPC call failed (after the retries its code allows).
    #[error("gRPC {method} at {height} failed after {attempts} attempt(s): {code:?}: {message}")]
    Grpc {
        /// Full method path, e.g. `/pocket.session.Query/GetSession`.
        method: &'static str,
        /// Height the query was made at.
        height: AtHeight,
        /// The gRPC status code (`DeadlineExceeded` for our own per-call deadline).
        code: tonic::Code,
        /// The status message from the node.
        message: String,
        /// How many attempts were made.
        attempts: u32,
    },

    /// A gRPC response lacked a field the chain always sets.
    #[error("gRPC {method} at {height}: response has no {field}")]
    MissingField {
        /// Full method path.
        method: &'static str,
        /// Height the query was made at.
        height: AtHeight,
        /// The missing field.
        field: &'static str,
    },

    /// A response could not be decoded (protobuf `Any`, JSON, hex, time).
    #[error("{method}: cannot decode response: {reason}")]
    Decode {
        /// Method or endpoint name.
        method: &'static str,
        /// What was wrong.
        reason: String,
    },

    /// A CometBFT JSON-RPC call failed (after the retries its kind allows).
    #[error(
        "CometBFT RPC {method} at {height} failed after {attempts} attempt(s): {kind}: {reason}"
    )]
    Rpc {
        /// JSON-RPC method, e.g. `block`.
        method: &'static str,
        /// Height asked for (`latest` when none).
        height: AtHeight,
        /// Transport, HTTP status, JSON-RPC error or timeout.
        kind: RpcErrorKind,
        /// Details.
        reason: String,
        /// How many attempts were made.
        attempts: u32,
    },

    /// The CometBFT websocket subscription failed.
    #[error("CometBFT websocket {url}: {reason}")]
    WebSocket {
        /// The websocket URL.
        url: String,
        /// What went wrong.
        reason: String,
    },

    /// `Simulate` rejected the transaction (the message says why; the node
    /// gives no structured code for simulation failures).
    #[error("simulating tx for {signer} failed: {message}")]
    Simulate {
        /// Signer address.
        signer: String,
        /// True when the node reported an account sequence mismatch.
        sequence_mismatch: bool,
        /// The node's message.
        message: String,
    },

    /// CheckTx rejected the transaction with code 13: the fee is below the
    /// node's minimum gas price. Raise `gas_price` (or `max_fee`) and resubmit.
    #[error(
        "tx {txhash} from {signer} rejected: insufficient fee (paid {fee_upokt}upokt for {gas_limit} gas): {raw_log}"
    )]
    InsufficientFee {
        /// Signer address.
        signer: String,
        /// The rejected tx hash (uppercase hex).
        txhash: String,
        /// The fee that was offered.
        fee_upokt: u128,
        /// The gas limit that was set.
        gas_limit: u64,
        /// The node's log.
        raw_log: String,
    },

    /// CheckTx rejected the transaction with code 32 even after refreshing the
    /// account and retrying once.
    #[error(
        "tx from {signer} rejected: account sequence mismatch (sent {sent}) after one refresh: {raw_log}"
    )]
    SequenceMismatch {
        /// Signer address.
        signer: String,
        /// The sequence the last attempt carried.
        sent: u64,
        /// The node's log.
        raw_log: String,
    },

    /// CheckTx rejected the transaction with another non-zero code.
    #[error("tx {txhash} from {signer} rejected by CheckTx: code {code} ({codespace}): {raw_log}")]
    TxRejected {
        /// Signer address.
        signer: String,
        /// The rejected tx hash (uppercase hex).
        txhash: String,
        /// ABCI code.
        code: u32,
        /// Codespace (`sdk`, `proof`, ...).
        codespace: String,
        /// The node's log.
        raw_log: String,
    },

    /// The signer's account does not exist on chain (never funded).
    #[error("account {address} not found on chain")]
    AccountNotFound {
        /// The account address.
        address: String,
    },

    /// No block is known yet, so no timeout can be anchored.
    #[error("no chain tip known after waiting {waited:?}")]
    NoChainTip {
        /// How long we waited for the first block.
        waited: std::time::Duration,
    },

    /// The account task's queue is full (load shedding).
    #[error("transaction queue of {signer} is full ({capacity} pending)")]
    QueueFull {
        /// Signer address.
        signer: String,
        /// Queue capacity.
        capacity: usize,
    },

    /// The account task has stopped (shutdown or cancelled).
    #[error("account task of {signer} has stopped")]
    AccountTaskStopped {
        /// Signer address.
        signer: String,
    },

    /// A transaction could not be built (bad input, encoding).
    #[error("cannot build tx: {0}")]
    Build(String),

    /// A keys file could not be read or parsed. Never contains key material.
    #[error("keys file {path}: {reason}")]
    KeysFile {
        /// The file.
        path: PathBuf,
        /// What is wrong (no key material).
        reason: String,
    },

    /// A keys file is readable or writable by everyone.
    #[error("keys file {path} has mode {mode:o}; it must not be accessible by others (chmod 600)")]
    InsecureKeysFile {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// A private key is malformed. Never contains key material.
    #[error("invalid private key #{index}: {reason}")]
    InvalidKey {
        /// Position of the key in its source (0-based).
        index: usize,
        /// What is wrong (no key material).
        reason: String,
    },

    /// Registering a metric failed (e.g. registered twice on one registry).
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),

    /// The operation was cancelled by shutdown.
    #[error("cancelled")]
    Cancelled,
}

/// Why a CometBFT JSON-RPC call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcErrorKind {
    /// Could not connect, TLS failed, or the connection broke.
    Transport,
    /// Our per-call deadline passed.
    Timeout,
    /// HTTP status other than 200.
    Http(u16),
    /// The node answered with a JSON-RPC error object.
    JsonRpc(i64),
    /// The answer was not the JSON we expect.
    Malformed,
}

impl fmt::Display for RpcErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcErrorKind::Transport => f.write_str("transport"),
            RpcErrorKind::Timeout => f.write_str("timeout"),
            RpcErrorKind::Http(s) => write!(f, "HTTP {s}"),
            RpcErrorKind::JsonRpc(c) => write!(f, "JSON-RPC error {c}"),
            RpcErrorKind::Malformed => f.write_str("malformed response"),
        }
    }
}

/// Whether a gRPC status code is transient: the same call may succeed later.
///
/// `Unavailable` (connection refused/reset, node restarting), `DeadlineExceeded`
/// (our deadline or the node's), `ResourceExhausted` (rate limit, message too
/// large is also reported so but is rare for queries) and `Aborted`. Everything
/// else (`NotFound`, `InvalidArgument`, `Internal` — e.g. `GetSession` for an
/// unstaked application —, `Unknown`, `Unimplemented`) is an answer, not a
/// failure to get one.
#[must_use]
pub fn is_transient_grpc_code(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::ResourceExhausted
            | tonic::Code::Aborted
    )
}

/// Whether a CometBFT JSON-RPC failure is transient.
#[must_use]
pub fn is_transient_rpc_kind(kind: RpcErrorKind) -> bool {
    match kind {
        RpcErrorKind::Transport | RpcErrorKind::Timeout => true,
        // 429 and 5xx come from proxies in front of the node and pass.
        RpcErrorKind::Http(status) => status == 429 || status >= 500,
        RpcErrorKind::JsonRpc(_) | RpcErrorKind::Malformed => false,
    }
}

impl Error {
    /// Whether retrying the same operation later may succeed without changing
    /// anything: transient transport failures, timeouts, a full queue, and a
    /// sequence mismatch (the account is refreshed on the next attempt).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Grpc { code, .. } => is_transient_grpc_code(*code),
            Error::Rpc { kind, .. } => is_transient_rpc_kind(*kind),
            Error::WebSocket { .. }
            | Error::QueueFull { .. }
            | Error::NoChainTip { .. }
            | Error::SequenceMismatch { .. } => true,
            Error::Simulate {
                sequence_mismatch, ..
            } => *sequence_mismatch,
            // 20 = mempool is full.
            Error::TxRejected { code, .. } => *code == crate::tx::codes::MEMPOOL_IS_FULL,
            Error::Config(_)
            | Error::Endpoint { .. }
            | Error::MissingField { .. }
            | Error::Decode { .. }
            | Error::InsufficientFee { .. }
            | Error::AccountNotFound { .. }
            | Error::AccountTaskStopped { .. }
            | Error::Build(_)
            | Error::KeysFile { .. }
            | Error::InsecureKeysFile { .. }
            | Error::InvalidKey { .. }
            | Error::Metrics(_)
            | Error::Cancelled => false,
        }
    }

    /// Whether the chain answered "not found" (gRPC `NotFound`).
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Error::Grpc {
                code: tonic::Code::NotFound,
                ..
            }
        )
    }

    /// The gRPC status code, if this is a gRPC failure.
    #[must_use]
    pub fn grpc_code(&self) -> Option<tonic::Code> {
        match self {
            Error::Grpc { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Result with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_grpc_codes() {
        for code in [
            tonic::Code::Unavailable,
            tonic::Code::DeadlineExceeded,
            tonic::Code::ResourceExhausted,
            tonic::Code::Aborted,
        ] {
            assert!(is_transient_grpc_code(code), "{code:?}");
        }
        for code in [
            tonic::Code::Ok,
            tonic::Code::NotFound,
            tonic::Code::InvalidArgument,
            tonic::Code::Internal,
            tonic::Code::Unknown,
            tonic::Code::Unimplemented,
            tonic::Code::PermissionDenied,
            tonic::Code::Unauthenticated,
            tonic::Code::FailedPrecondition,
            tonic::Code::Cancelled,
        ] {
            assert!(!is_transient_grpc_code(code), "{code:?}");
        }
    }

    #[test]
    fn transient_rpc_kinds() {
        assert!(is_transient_rpc_kind(RpcErrorKind::Transport));
        assert!(is_transient_rpc_kind(RpcErrorKind::Timeout));
        assert!(is_transient_rpc_kind(RpcErrorKind::Http(503)));
        assert!(is_transient_rpc_kind(RpcErrorKind::Http(429)));
        assert!(!is_transient_rpc_kind(RpcErrorKind::Http(404)));
        assert!(!is_transient_rpc_kind(RpcErrorKind::JsonRpc(-32603)));
        assert!(!is_transient_rpc_kind(RpcErrorKind::Malformed));
    }

    #[test]
    fn errors_name_method_and_height() {
        let e = Error::Grpc {
            method: "/pocket.shared.Query/ParamsAtHeight",
            height: AtHeight(Some(42)),
            code: tonic::Code::Unavailable,
            message: "connection refused".into(),
            attempts: 3,
        };
        let s = e.to_string();
        assert!(s.contains("/pocket.shared.Query/ParamsAtHeight"), "{s}");
        assert!(s.contains("height 42"), "{s}");
        assert!(e.is_retryable());
        let nf = Error::Grpc {
            method: "/pocket.proof.Query/Claim",
            height: AtHeight(None),
            code: tonic::Code::NotFound,
            message: "claim not found".into(),
            attempts: 1,
        };
        assert!(nf.is_not_found());
        assert!(!nf.is_retryable());
        assert!(nf.to_string().contains("latest height"));
    }

    #[test]
    fn tx_error_classification() {
        let full = Error::TxRejected {
            signer: "pokt1x".into(),
            txhash: "AB".into(),
            code: 20,
            codespace: "sdk".into(),
            raw_log: "mempool is full".into(),
        };
        assert!(full.is_retryable());
        let fee = Error::InsufficientFee {
            signer: "pokt1x".into(),
            txhash: "AB".into(),
            fee_upokt: 1,
            gas_limit: 100,
            raw_log: "insufficient fee".into(),
        };
        assert!(!fee.is_retryable());
        let sim = Error::Simulate {
            signer: "pokt1x".into(),
            sequence_mismatch: true,
            message: "account sequence mismatch".into(),
        };
        assert!(sim.is_retryable());
    }
}
