//! The one error type of this crate.

/// What went wrong talking to Redis or with what it returned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client or server failed (connection, timeout, command error).
    #[error("redis {op}: {source}")]
    Redis {
        /// The operation, e.g. `XADD ha:relays:{pokt1…}`.
        op: String,
        /// The client's error.
        #[source]
        source: fred::error::Error,
    },
    /// A reply had a shape we do not understand.
    #[error("unexpected redis reply to {op}: {detail}")]
    Reply {
        /// The operation.
        op: String,
        /// What was wrong with it.
        detail: String,
    },
    /// Configuration that cannot work.
    #[error("invalid redis config: {0}")]
    Config(String),
    /// A fenced write was refused: this process no longer holds the lease.
    #[error("lease {key} is not held by this process (fenced write refused)")]
    LeaseLost {
        /// The lease key.
        key: String,
    },
    /// A write to a session whose leaf set is final (its claim root was computed).
    #[error("session {session_id} is sealed")]
    SessionSealed {
        /// The session.
        session_id: String,
    },
    /// The test harness could not start a server.
    #[error("redis-server: {0}")]
    Server(String),
}

impl Error {
    pub(crate) fn redis(op: impl Into<String>, source: fred::error::Error) -> Self {
        Error::Redis {
            op: op.into(),
            source,
        }
    }

    pub(crate) fn reply(op: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Reply {
            op: op.into(),
            detail: detail.into(),
        }
    }

    /// Whether retrying the same operation later may succeed (connection
    /// loss, timeouts, server busy/loading). Lease loss and bad replies are not.
    pub fn is_retryable(&self) -> bool {
        use fred::error::ErrorKind;
        match self {
            Error::Redis { source, .. } => {
                matches!(
                    source.kind(),
                    ErrorKind::IO
                        | ErrorKind::Timeout
                        | ErrorKind::Canceled
                        | ErrorKind::Backpressure
                        | ErrorKind::Cluster
                ) || source.details().starts_with("LOADING")
                    || source.details().starts_with("BUSY")
                    || source.details().starts_with("TRYAGAIN")
            }
            _ => false,
        }
    }
}

/// Result with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
