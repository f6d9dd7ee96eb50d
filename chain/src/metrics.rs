//! Metrics of the chain client, registered on a registry passed in by the
//! caller (no globals). Labels come from small closed sets: method names of the
//! calls this crate makes, ABCI codes, outcome words.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

use crate::error::Result;

/// Latency buckets for queries and RPC calls (seconds).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Every metric of this crate. Cheap to clone (the metrics are shared).
#[derive(Clone, Debug)]
pub struct Metrics {
    /// `chain_query_duration_seconds{method}`: latency of each gRPC attempt.
    pub query_duration: HistogramVec,
    /// `chain_query_errors_total{method,code}`: failed gRPC attempts by status code.
    pub query_errors: IntCounterVec,
    /// `chain_query_retries_total{method}`: retried gRPC attempts.
    pub query_retries: IntCounterVec,
    /// `chain_rpc_duration_seconds{method}`: latency of each CometBFT RPC attempt.
    pub rpc_duration: HistogramVec,
    /// `chain_rpc_errors_total{method,kind}`: failed CometBFT RPC attempts.
    pub rpc_errors: IntCounterVec,
    /// `chain_tx_broadcasts_total{code}`: `BroadcastTx` results by CheckTx code
    /// (`"0"` = accepted into the mempool; `"error"` = no answer).
    pub tx_broadcasts: IntCounterVec,
    /// `chain_tx_submit_duration_seconds`: submit latency (simulate + sign + broadcast).
    pub tx_submit_duration: Histogram,
    /// `chain_tx_sequence_refreshes_total`: account refreshes after a sequence mismatch.
    pub tx_sequence_refreshes: IntCounter,
    /// `chain_tx_fee_capped_total`: fees lowered to `max_fee`.
    pub tx_fee_capped: IntCounter,
    /// `chain_tx_gas_limit`: gas limit of the last tx (simulated × adjustment).
    pub tx_gas_limit: IntGauge,
    /// `chain_block_feed_height`: last height delivered by the block feed.
    pub feed_height: IntGauge,
    /// `chain_block_feed_tip_height`: latest height known to exist on chain.
    pub feed_tip_height: IntGauge,
    /// `chain_block_feed_lag_blocks`: tip minus delivered height.
    pub feed_lag_blocks: IntGauge,
    /// `chain_block_feed_lag_seconds`: local time minus the delivered block's time
    /// when it was delivered.
    pub feed_lag_seconds: prometheus::Gauge,
    /// `chain_block_feed_websocket_up`: 1 while the websocket subscription is live.
    pub feed_websocket_up: IntGauge,
    /// `chain_block_feed_reconnects_total`: websocket (re)connection attempts that failed or ended.
    pub feed_reconnects: IntCounter,
    /// `chain_block_feed_polls_total`: `status` polls (websocket down or silent).
    pub feed_polls: IntCounter,
}

impl Metrics {
    /// Creates the metrics and registers them on `registry`.
    ///
    /// # Errors
    /// [`crate::Error::Metrics`] if a metric of the same name is already registered.
    pub fn new(registry: &Registry) -> Result<Self> {
        let m = Metrics {
            query_duration: HistogramVec::new(
                HistogramOpts::new(
                    "chain_query_duration_seconds",
                    "Latency of one gRPC query attempt",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["method"],
            )?,
            query_errors: IntCounterVec::new(
                Opts::new(
                    "chain_query_errors_total",
                    "Failed gRPC query attempts by status code",
                ),
                &["method", "code"],
            )?,
            query_retries: IntCounterVec::new(
                Opts::new("chain_query_retries_total", "Retried gRPC query attempts"),
                &["method"],
            )?,
            rpc_duration: HistogramVec::new(
                HistogramOpts::new(
                    "chain_rpc_duration_seconds",
                    "Latency of one CometBFT RPC attempt",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["method"],
            )?,
            rpc_errors: IntCounterVec::new(
                Opts::new(
                    "chain_rpc_errors_total",
                    "Failed CometBFT RPC attempts by kind",
                ),
                &["method", "kind"],
            )?,
            tx_broadcasts: IntCounterVec::new(
                Opts::new(
                    "chain_tx_broadcasts_total",
                    "BroadcastTx results by CheckTx code (error = no answer)",
                ),
                &["code"],
            )?,
            tx_submit_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "chain_tx_submit_duration_seconds",
                    "Time to simulate, sign and broadcast one tx",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
            )?,
            tx_sequence_refreshes: IntCounter::new(
                "chain_tx_sequence_refreshes_total",
                "Account refreshes after an account sequence mismatch",
            )?,
            tx_fee_capped: IntCounter::new(
                "chain_tx_fee_capped_total",
                "Tx fees lowered to the configured max_fee",
            )?,
            tx_gas_limit: IntGauge::new("chain_tx_gas_limit", "Gas limit of the last tx")?,
            feed_height: IntGauge::new(
                "chain_block_feed_height",
                "Last height delivered by the block feed",
            )?,
            feed_tip_height: IntGauge::new(
                "chain_block_feed_tip_height",
                "Latest height known to exist on chain",
            )?,
            feed_lag_blocks: IntGauge::new(
                "chain_block_feed_lag_blocks",
                "Blocks between the chain tip and the last delivered block",
            )?,
            feed_lag_seconds: prometheus::Gauge::new(
                "chain_block_feed_lag_seconds",
                "Local time minus the block time of the last delivered block, at delivery",
            )?,
            feed_websocket_up: IntGauge::new(
                "chain_block_feed_websocket_up",
                "1 while the CometBFT websocket subscription is live",
            )?,
            feed_reconnects: IntCounter::new(
                "chain_block_feed_reconnects_total",
                "CometBFT websocket connections that failed or ended",
            )?,
            feed_polls: IntCounter::new(
                "chain_block_feed_polls_total",
                "CometBFT status polls made by the block feed",
            )?,
        };
        registry.register(Box::new(m.query_duration.clone()))?;
        registry.register(Box::new(m.query_errors.clone()))?;
        registry.register(Box::new(m.query_retries.clone()))?;
        registry.register(Box::new(m.rpc_duration.clone()))?;
        registry.register(Box::new(m.rpc_errors.clone()))?;
        registry.register(Box::new(m.tx_broadcasts.clone()))?;
        registry.register(Box::new(m.tx_submit_duration.clone()))?;
        registry.register(Box::new(m.tx_sequence_refreshes.clone()))?;
        registry.register(Box::new(m.tx_fee_capped.clone()))?;
        registry.register(Box::new(m.tx_gas_limit.clone()))?;
        registry.register(Box::new(m.feed_height.clone()))?;
        registry.register(Box::new(m.feed_tip_height.clone()))?;
        registry.register(Box::new(m.feed_lag_blocks.clone()))?;
        registry.register(Box::new(m.feed_lag_seconds.clone()))?;
        registry.register(Box::new(m.feed_websocket_up.clone()))?;
        registry.register(Box::new(m.feed_reconnects.clone()))?;
        registry.register(Box::new(m.feed_polls.clone()))?;
        Ok(m)
    }

    /// Metrics registered on a private registry (tests, tools).
    ///
    /// # Errors
    /// None in practice (a fresh registry has no name clashes).
    pub fn unregistered() -> Result<Self> {
        Metrics::new(&Registry::new())
    }
}

/// The label of a gRPC method: the path without the leading slash and package
/// noise kept short, e.g. `pocket.session.Query/GetSession`.
pub(crate) fn method_label(method: &'static str) -> &'static str {
    method.strip_prefix('/').unwrap_or(method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_once_per_registry() {
        let r = Registry::new();
        let m = Metrics::new(&r).unwrap();
        m.tx_broadcasts.with_label_values(&["0"]).inc();
        assert!(Metrics::new(&r).is_err(), "double registration must fail");
        let names: Vec<String> = r.gather().iter().map(|f| f.name().to_owned()).collect();
        assert!(
            names.contains(&"chain_tx_broadcasts_total".to_owned()),
            "{names:?}"
        );
    }
}
