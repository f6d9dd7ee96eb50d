//! The chain client: everything the relayer and miner learn from or send to
//! the Pocket (Shannon) chain.
//!
//! - [`QueryClient`]: typed gRPC queries (wire.md §10) with per-call
//!   deadlines, bounded retries of transient failures with jittered backoff,
//!   TLS or plaintext, historical state via [`QueryClient::at_height`]
//!   (`x-cosmos-block-height`), and errors naming method and height.
//! - [`RpcClient`]: CometBFT JSON-RPC (`status`, `block`, `abci_info`).
//! - [`BlockFeed`]: every committed height exactly once and in order, with
//!   its protocol block hash (`block_id.hash`) and time: websocket
//!   subscription with reconnect, gap backfill with `block`, `status` polling
//!   while the websocket is down; the latest block on a watch channel.
//! - [`tx`]: pure tx construction and signing (SIGN_MODE_DIRECT, ordered or
//!   unordered), gas and fee arithmetic, and the [`AccountHandle`] of the task
//!   that owns a signing account's number and sequence.
//! - [`inclusion`]: claim existence and proof outcome from module state.
//! - [`keys`]: operator keys from a keys file; addresses; no key material in
//!   logs or errors.
//! - [`Metrics`]: registered on a caller-supplied prometheus registry.
//!
//! Invariants: no key material is ever formatted; a height handed out by the
//! block feed is never skipped or repeated; one task per signing account
//! touches its sequence; transaction bytes are built canonically by our own
//! encoder (prost, ascending fields, defaults omitted).

#![warn(missing_docs)]

pub mod config;
mod error;
pub mod feed;
pub mod inclusion;
pub mod keys;
mod metrics;
mod net;
pub mod query;
mod retry;
pub mod rpc;
pub mod tx;

pub use config::{
    BlockEvent, BlockFeedConfig, ChainConfig, GrpcConfig, RetryConfig, RpcConfig, TxConfig,
    TxOrdering,
};
pub use error::{
    AtHeight, Error, Result, RpcErrorKind, is_transient_grpc_code, is_transient_rpc_kind,
};
pub use feed::{BlockFeed, BlockFeedTask, ExternalFeed, StartAt};
pub use inclusion::ProofStatus;
pub use keys::{OperatorKey, load_keys_file};
pub use metrics::Metrics;
pub use query::{ClaimFilter, QueryClient};
pub use rpc::{AbciEvent, AbciInfo, Block, BlockResults, RpcClient, Status};
pub use tx::account::{AccountHandle, AccountTask, Submission, Submitted};
pub use tx::fee::GasPrice;
