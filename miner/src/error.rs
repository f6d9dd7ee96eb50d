//! The one error type of this crate.

/// What went wrong in the miner.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Redis failed, or the lease was lost (see [`store::Error::LeaseLost`]).
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The trie library refused (bad proof input, missing value).
    #[error("smst: {0}")]
    Smst(#[from] smst::Error),
    /// Stored data is not what this code writes.
    #[error("corrupt session data: {0}")]
    Corrupt(String),
    /// A proof or root we built failed our own check; never sent.
    #[error("self-check failed: {0}")]
    SelfCheck(String),
    /// A chain query or transaction failed.
    #[error("chain: {0}")]
    Chain(String),
}

impl Error {
    /// Whether the same operation may succeed later (Redis or chain transient).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Store(e) => e.is_retryable(),
            Error::Chain(_) => true,
            _ => false,
        }
    }
}

/// Result with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
