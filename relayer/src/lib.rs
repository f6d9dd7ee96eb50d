//! The relayer: the front door for relays from gateways.
//!
//! - [`pipeline`]: one pipeline for every transport, in request order:
//!   decode → basic validation → service and supplier → (simulated relays) →
//!   session-height plausibility → session window with grace (params at the
//!   session end) → supplier gate → ring signature → session equals the
//!   chain's → meter → backend → sign → mine → publish.
//! - [`chain_view`]: the chain state the pipeline needs, as a trait the
//!   `cache` crate implements.
//! - [`backend`]: forwarding to the operator's nodes.
//! - [`publish`]: the bounded queue of served relays in front of the
//!   supplier streams (pipelined, retried until they land).
//! - [`error`]: blame, retry and the one `rescue` function mapping errors to
//!   HTTP answers.
//! - [`server`]: the axum router (`/health`, `/ready`, `/metrics`, relays on
//!   any other method and path).
//!
//! Invariants: stateless (all shared state in Redis or on chain); nothing
//! panics on the request path; a relay is published only after it was
//! validated and signed, and a backend 5xx is never signed or mined.

pub mod backend;
pub mod chain_view;
pub mod config;
pub mod error;
pub mod meter;
pub mod metrics;
pub mod pipeline;
pub mod publish;
pub mod server;

pub use chain_view::{ChainView, ChainViewError};
pub use config::RelayerConfig;
pub use error::{RelayError, rescue};
pub use pipeline::{Incoming, Relayer, RelayerParts};
pub use server::{Readiness, router};
