//! Configuration of the chain client. Every default lives in this file
//! (the `Default` impls below); durations are human strings (`"5s"`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::tx::fee::GasPrice;

/// Everything the chain client needs: endpoints, retry policy, block feed and
/// transaction settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainConfig {
    /// Chain id (`pocket` on mainnet and localnet). Part of every sign doc;
    /// checked against the node's `status` by [`crate::RpcClient::check_chain_id`].
    pub chain_id: String,
    /// The node's gRPC endpoint (queries, `Simulate`, `BroadcastTx`).
    pub grpc: GrpcConfig,
    /// The node's CometBFT RPC endpoint (`status`, `block`, websocket).
    pub rpc: RpcConfig,
    /// The block feed.
    pub block_feed: BlockFeedConfig,
    /// Transactions.
    pub tx: TxConfig,
}

/// The gRPC endpoint and its per-call policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// `http://host:port` for plaintext, `https://host:port` for TLS (system
    /// roots).
    pub url: String,
    /// Deadline for establishing the connection.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Deadline of one attempt of one call (sent as `grpc-timeout` too).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Retries of transient failures (`Unavailable`, `DeadlineExceeded`,
    /// `ResourceExhausted`, `Aborted`).
    pub retry: RetryConfig,
    /// Largest response accepted, in bytes.
    pub max_response_bytes: usize,
    /// HTTP/2 keep-alive ping interval.
    #[serde(with = "humantime_serde")]
    pub keepalive_interval: Duration,
}

/// The CometBFT RPC endpoint and its per-call policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RpcConfig {
    /// `http://host:26657` or `https://...`. JSON-RPC 2.0 requests are POSTed
    /// to this URL.
    pub url: String,
    /// Websocket URL; by default the RPC URL with `ws`/`wss` and path
    /// `/websocket`.
    pub websocket_url: Option<String>,
    /// Deadline for establishing a connection (TCP + TLS).
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Deadline of one attempt of one call.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Retries of transient failures (transport, timeout, HTTP 429/5xx).
    pub retry: RetryConfig,
    /// Largest response body accepted, in bytes.
    pub max_response_bytes: usize,
}

/// Bounded retries with exponential backoff and full jitter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Total attempts including the first (1 = no retry).
    pub max_attempts: u32,
    /// Backoff before the second attempt (upper bound of the jittered delay).
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// Largest backoff between attempts.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
}

/// Which CometBFT event the block feed subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockEvent {
    /// `tm.event='NewBlockHeader'` (lighter; the hash is fetched with `block`).
    NewBlockHeader,
    /// `tm.event='NewBlock'`.
    NewBlock,
}

/// The block feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlockFeedConfig {
    /// Event subscribed to on the websocket.
    pub event: BlockEvent,
    /// How often `status` is polled while the websocket is down.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// With the websocket up but no new height for this long, `status` is
    /// polled anyway (a subscription can stay open yet stop delivering).
    #[serde(with = "humantime_serde")]
    pub stall_timeout: Duration,
    /// First websocket reconnect backoff.
    #[serde(with = "humantime_serde")]
    pub reconnect_initial_backoff: Duration,
    /// Largest websocket reconnect backoff.
    #[serde(with = "humantime_serde")]
    pub reconnect_max_backoff: Duration,
    /// Websocket ping interval. A connection that delivers no frame at all
    /// (events, pongs) for twice this long is considered dead and reconnected.
    #[serde(with = "humantime_serde")]
    pub ping_interval: Duration,
    /// Capacity of the ordered block channel handed to the consumer. When full,
    /// the feed waits (nothing is dropped: missed heights are fetched later).
    pub channel_capacity: usize,
}

/// How transactions are sequenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxOrdering {
    /// `SignerInfo.sequence` = the account sequence; one task owns it.
    Ordered,
    /// cosmos-sdk v0.53 unordered txs: sequence 0, `timeout_timestamp`
    /// anchored on the latest block time (wire.md §11.3).
    Unordered,
}

/// Transactions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TxConfig {
    /// Gas price as `<decimal><denom>`, e.g. `0.000001upokt`. A node setting,
    /// not a protocol constant: match the node you submit to.
    pub gas_price: GasPrice,
    /// Simulated gas is multiplied by this.
    pub gas_adjustment: f64,
    /// Fixed gas limit; `None` (default) simulates every tx.
    pub gas_limit: Option<u64>,
    /// Upper bound of the fee of one tx, in the gas price denom. A computed fee
    /// above it is lowered to it (and counted in metrics); a node whose minimum
    /// gas price it no longer meets answers code 13 (typed error).
    pub max_fee: u128,
    /// Memo of every tx (at most 256 characters).
    pub memo: String,
    /// Ordered or unordered txs.
    pub ordering: TxOrdering,
    /// Default `timeout_height` = latest height + this, unless the submission
    /// gives its own (e.g. the claim window close height). `None`: no timeout
    /// height by default.
    pub timeout_blocks: Option<u64>,
    /// Unordered txs: `timeout_timestamp` = latest block time + this
    /// (at most 10 minutes minus a margin, see `validate`).
    #[serde(with = "humantime_serde")]
    pub unordered_ttl: Duration,
    /// How long a submission waits for the first block (to anchor timeouts).
    #[serde(with = "humantime_serde")]
    pub tip_wait: Duration,
    /// Pending submissions per account task before new ones are refused.
    pub queue_capacity: usize,
}

/// The largest unordered TTL we accept: the chain's 10 minutes minus a margin
/// for our view of the latest block being a little behind the node's.
pub const MAX_UNORDERED_TTL: Duration = Duration::from_secs(9 * 60 + 30);

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            chain_id: "pocket".into(),
            grpc: GrpcConfig::default(),
            rpc: RpcConfig::default(),
            block_feed: BlockFeedConfig::default(),
            tx: TxConfig::default(),
        }
    }
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            url: "http://127.0.0.1:9090".into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            retry: RetryConfig::default(),
            max_response_bytes: 32 * 1024 * 1024,
            keepalive_interval: Duration::from_secs(60),
        }
    }
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig {
            url: "http://127.0.0.1:26657".into(),
            websocket_url: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            retry: RetryConfig::default(),
            max_response_bytes: 32 * 1024 * 1024,
        }
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl Default for BlockFeedConfig {
    fn default() -> Self {
        BlockFeedConfig {
            event: BlockEvent::NewBlockHeader,
            poll_interval: Duration::from_secs(1),
            stall_timeout: Duration::from_secs(90),
            reconnect_initial_backoff: Duration::from_secs(1),
            reconnect_max_backoff: Duration::from_secs(15),
            ping_interval: Duration::from_secs(20),
            channel_capacity: 256,
        }
    }
}

impl Default for TxConfig {
    fn default() -> Self {
        TxConfig {
            gas_price: GasPrice::default(),
            gas_adjustment: 1.7,
            gas_limit: None,
            max_fee: 10_000_000,
            memo: String::new(),
            ordering: TxOrdering::Ordered,
            timeout_blocks: None,
            unordered_ttl: Duration::from_secs(5 * 60),
            tip_wait: Duration::from_secs(30),
            queue_capacity: 256,
        }
    }
}

impl ChainConfig {
    /// Checks the configuration. Returns warnings (usable but suspicious
    /// settings) or the first error.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field.
    pub fn validate(&self) -> Result<Vec<String>> {
        let mut warnings = Vec::new();
        if self.chain_id.trim().is_empty() {
            return Err(Error::Config("chain_id is empty".into()));
        }
        crate::net::Endpoint::parse(&self.grpc.url, crate::net::Scheme::Http)?;
        crate::net::Endpoint::parse(&self.rpc.url, crate::net::Scheme::Http)?;
        if let Some(ws) = &self.rpc.websocket_url {
            crate::net::Endpoint::parse(ws, crate::net::Scheme::Ws)?;
        }
        for (name, d) in [
            ("grpc.connect_timeout", self.grpc.connect_timeout),
            ("grpc.request_timeout", self.grpc.request_timeout),
            ("rpc.connect_timeout", self.rpc.connect_timeout),
            ("rpc.request_timeout", self.rpc.request_timeout),
            ("block_feed.poll_interval", self.block_feed.poll_interval),
            ("block_feed.stall_timeout", self.block_feed.stall_timeout),
            ("block_feed.ping_interval", self.block_feed.ping_interval),
            (
                "block_feed.reconnect_initial_backoff",
                self.block_feed.reconnect_initial_backoff,
            ),
        ] {
            if d.is_zero() {
                return Err(Error::Config(format!("{name} must be > 0")));
            }
        }
        for (name, r) in [
            ("grpc.retry", &self.grpc.retry),
            ("rpc.retry", &self.rpc.retry),
        ] {
            if r.max_attempts == 0 {
                return Err(Error::Config(format!("{name}.max_attempts must be ≥ 1")));
            }
            if r.max_backoff < r.initial_backoff {
                return Err(Error::Config(format!(
                    "{name}.max_backoff is below initial_backoff"
                )));
            }
        }
        if self.block_feed.channel_capacity == 0 {
            return Err(Error::Config(
                "block_feed.channel_capacity must be > 0".into(),
            ));
        }
        if self.block_feed.stall_timeout < self.block_feed.poll_interval {
            warnings.push("block_feed.stall_timeout is below poll_interval".into());
        }
        let tx = &self.tx;
        if !(tx.gas_adjustment.is_finite() && (1.0..=10.0).contains(&tx.gas_adjustment)) {
            return Err(Error::Config(format!(
                "tx.gas_adjustment {} must be within [1, 10]",
                tx.gas_adjustment
            )));
        }
        if tx.gas_limit == Some(0) {
            return Err(Error::Config(
                "tx.gas_limit must be > 0 (omit it to simulate)".into(),
            ));
        }
        if tx.max_fee == 0 {
            return Err(Error::Config("tx.max_fee must be > 0".into()));
        }
        if tx.memo.chars().count() > 256 {
            return Err(Error::Config(
                "tx.memo is longer than 256 characters".into(),
            ));
        }
        if tx.queue_capacity == 0 {
            return Err(Error::Config("tx.queue_capacity must be > 0".into()));
        }
        if tx.timeout_blocks == Some(0) {
            return Err(Error::Config(
                "tx.timeout_blocks must be > 0 (omit it for none)".into(),
            ));
        }
        if tx.ordering == TxOrdering::Unordered {
            if tx.unordered_ttl.is_zero() || tx.unordered_ttl > MAX_UNORDERED_TTL {
                return Err(Error::Config(format!(
                    "tx.unordered_ttl must be within (0, {}]",
                    humantime_serde::re::humantime::format_duration(MAX_UNORDERED_TTL)
                )));
            }
            if tx.unordered_ttl < Duration::from_secs(60) {
                warnings.push(
                    "tx.unordered_ttl is under 1 minute: a tx may expire before a block includes it"
                        .into(),
                );
            }
        }
        if tx.gas_price.is_zero() {
            warnings.push(
                "tx.gas_price is zero: nodes with a minimum gas price reject the txs (code 13)"
                    .into(),
            );
        }
        Ok(warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let w = ChainConfig::default().validate().unwrap();
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn parses_yaml_with_human_durations() {
        let yaml = r#"
chain_id: pocket-lego-testnet
grpc:
  url: https://grpc.example.invalid:443
  request_timeout: 3s
  retry:
    max_attempts: 5
    initial_backoff: 100ms
    max_backoff: 1s
rpc:
  url: http://127.0.0.1:26657
block_feed:
  event: new_block
  poll_interval: 500ms
tx:
  gas_price: 0.00001upokt
  gas_adjustment: 1.5
  ordering: unordered
  unordered_ttl: 2m
  max_fee: 5000
"#;
        let c: ChainConfig = serde_saphyr::from_str(yaml).unwrap();
        assert_eq!(c.chain_id, "pocket-lego-testnet");
        assert_eq!(c.grpc.request_timeout, Duration::from_secs(3));
        assert_eq!(c.grpc.retry.max_attempts, 5);
        assert_eq!(c.block_feed.event, BlockEvent::NewBlock);
        assert_eq!(c.block_feed.poll_interval, Duration::from_millis(500));
        assert_eq!(c.tx.ordering, TxOrdering::Unordered);
        assert_eq!(c.tx.unordered_ttl, Duration::from_secs(120));
        assert_eq!(c.tx.gas_price.to_string(), "0.00001upokt");
        assert_eq!(c.tx.max_fee, 5000);
        // Unset fields keep their defaults.
        assert_eq!(c.rpc.request_timeout, Duration::from_secs(5));
        c.validate().unwrap();
    }

    #[test]
    fn rejects_unknown_fields() {
        let yaml = "grpc:\n  url: http://127.0.0.1:9090\n  insecure: true\n";
        assert!(serde_saphyr::from_str::<ChainConfig>(yaml).is_err());
    }

    #[test]
    fn rejects_bad_values() {
        let mut c = ChainConfig::default();
        c.tx.gas_adjustment = 0.5;
        assert!(c.validate().is_err());
        let mut c = ChainConfig::default();
        c.tx.ordering = TxOrdering::Unordered;
        c.tx.unordered_ttl = Duration::from_secs(600);
        assert!(c.validate().is_err());
        let mut c = ChainConfig::default();
        c.grpc.url = "ftp://x".into();
        assert!(c.validate().is_err());
        let mut c = ChainConfig::default();
        c.grpc.retry.max_attempts = 0;
        assert!(c.validate().is_err());
    }
}
