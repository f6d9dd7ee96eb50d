//! Transactions: pure construction and signing ([`build`]), gas and fee
//! arithmetic ([`fee`]), and the task that owns a signing account and submits
//! its transactions ([`account`]).

pub mod account;
pub mod build;
pub mod fee;

/// CheckTx codes of cosmos-sdk's root codespace (`sdk`) that this crate acts on.
pub mod codes {
    /// Accepted.
    pub const OK: u32 = 0;
    /// The tx could not be decoded.
    pub const TX_DECODE: u32 = 2;
    /// Signature verification failed (wrong account number, chain id, key).
    pub const UNAUTHORIZED: u32 = 4;
    /// The fee payer cannot pay.
    pub const INSUFFICIENT_FUNDS: u32 = 5;
    /// The gas limit is below what the tx uses.
    pub const OUT_OF_GAS: u32 = 11;
    /// The fee is below the node's minimum gas price × gas limit.
    pub const INSUFFICIENT_FEE: u32 = 13;
    /// The same tx bytes are already in the mempool (or its cache).
    pub const TX_IN_MEMPOOL_CACHE: u32 = 19;
    /// The mempool is full.
    pub const MEMPOOL_IS_FULL: u32 = 20;
    /// The tx is larger than the node accepts.
    pub const TX_TOO_LARGE: u32 = 21;
    /// The tx's timeout height has passed.
    pub const TX_TIMEOUT_HEIGHT: u32 = 30;
    /// The tx's sequence is not the account's next sequence.
    pub const WRONG_SEQUENCE: u32 = 32;
    /// The root codespace.
    pub const SDK_CODESPACE: &str = "sdk";
}

pub use account::{AccountHandle, Submission, Submitted};
pub use build::{SignedTx, TxSpec, claim_any, proof_any, sign};
pub use fee::{Fee, GasPrice, adjusted_gas, compute_fee};
