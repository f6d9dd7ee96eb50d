//! The one error type of this crate.

use std::net::SocketAddr;

/// What went wrong starting or driving the simulator. Transaction and query
/// rejections are not errors of the simulator: they are answers (cosmos error
/// codes in a `TxResponse`, gRPC statuses) and never surface here.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The genesis file could not be read.
    #[error("cannot read genesis file {path}: {source}")]
    ReadGenesis {
        /// The path as given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The genesis YAML does not parse (unknown field, wrong type, ...).
    #[error("invalid genesis YAML: {0}")]
    ParseGenesis(String),
    /// The genesis parses but is inconsistent (bad key, unknown service, ...).
    #[error("invalid genesis: {field}: {reason}")]
    InvalidGenesis {
        /// Where in the genesis, e.g. `suppliers[0].operator`.
        field: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The simulator was shut down (its cancellation token fired).
    #[error("the simulator is shut down")]
    ShutDown,
    /// A wait for a condition ran past its deadline.
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        waited: std::time::Duration,
    },
    /// A shared-parameter change cannot be scheduled (not a future session
    /// boundary, out of order, or parameters the session math cannot use).
    #[error("cannot schedule shared params at height {effective_height}: {reason}")]
    ParamsChange {
        /// The effective height asked for.
        effective_height: i64,
        /// Why it is rejected.
        reason: String,
    },
    /// A chain query asked for something that does not exist or is invalid.
    #[error("{0}")]
    Query(String),
    /// A protocol computation failed on chain data (bad params in genesis).
    #[error("protocol: {0}")]
    Protocol(#[from] protocol::Error),
}

impl Error {
    pub(crate) fn genesis(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidGenesis {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Result with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
