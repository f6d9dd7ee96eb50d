//! CometBFT JSON-RPC (v0.38) over HTTP/1.1: `status`, `block`, `abci_info`
//! (wire.md §12). JSON-RPC 2.0 requests are POSTed to the configured URL;
//! one idle keep-alive connection is reused between calls.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::config::RpcConfig;
use crate::error::{AtHeight, Error, Result, RpcErrorKind, is_transient_rpc_kind};
use crate::metrics::Metrics;
use crate::net::{Endpoint, Scheme};
use crate::retry;

/// A committed block as the protocol sees it: height, `block_id.hash` (the
/// hash used for session ids and proof seeds) and header time.
#[derive(Clone, PartialEq, Eq)]
pub struct Block {
    /// Block height.
    pub height: u64,
    /// `block_id.hash` (32 bytes).
    pub hash: [u8; 32],
    /// Header time.
    pub time: prost_types::Timestamp,
}

impl Block {
    /// The hash as uppercase hex, as CometBFT prints it.
    #[must_use]
    pub fn hash_hex(&self) -> String {
        hex::encode_upper(self.hash)
    }

    /// The block time in nanoseconds since the Unix epoch.
    #[must_use]
    pub fn time_unix_nanos(&self) -> i128 {
        i128::from(self.time.seconds) * 1_000_000_000 + i128::from(self.time.nanos)
    }
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("height", &self.height)
            .field("hash", &self.hash_hex())
            .field("time", &self.time.to_string())
            .finish()
    }
}

/// An ABCI event: its type and attributes in order. Attribute values are as
/// the node prints them: typed events JSON-encode theirs (`"\"pokt1…\""`);
/// [`AbciEvent::attr`] removes that quoting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbciEvent {
    /// Event type, e.g. `pocket.tokenomics.EventClaimSettled`.
    pub kind: String,
    /// (key, value) pairs.
    pub attributes: Vec<(String, String)>,
}

impl AbciEvent {
    /// The first value of attribute `key`, without JSON string quoting.
    #[must_use]
    pub fn attr(&self, key: &str) -> Option<String> {
        let raw = &self.attributes.iter().find(|(k, _)| k == key)?.1;
        Some(match serde_json::from_str::<Value>(raw) {
            Ok(Value::String(s)) => s,
            _ => raw.clone(),
        })
    }
}

/// `block_results` of one height.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlockResults {
    /// The height.
    pub height: u64,
    /// Events of every tx result, in order.
    pub tx_events: Vec<AbciEvent>,
    /// EndBlocker events (`finalize_block_events`; `end_block_events` before v0.38).
    pub finalize_events: Vec<AbciEvent>,
}

fn parse_events(v: &Value) -> Vec<AbciEvent> {
    v.as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| AbciEvent {
                    kind: e["type"].as_str().unwrap_or_default().to_owned(),
                    attributes: e["attributes"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|kv| {
                                    (
                                        kv["key"].as_str().unwrap_or_default().to_owned(),
                                        kv["value"].as_str().unwrap_or_default().to_owned(),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn parse_block_results(height: u64, v: &Value) -> BlockResults {
    let tx_events = v["txs_results"]
        .as_array()
        .map(|txs| {
            txs.iter()
                .flat_map(|t| parse_events(&t["events"]))
                .collect()
        })
        .unwrap_or_default();
    let mut finalize_events = parse_events(&v["finalize_block_events"]);
    finalize_events.extend(parse_events(&v["end_block_events"]));
    BlockResults {
        height,
        tx_events,
        finalize_events,
    }
}

/// The node's `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// `node_info.network`: the chain id.
    pub chain_id: String,
    /// `node_info.version`: CometBFT version.
    pub node_version: String,
    /// `sync_info.latest_block_height`.
    pub latest_height: u64,
    /// `sync_info.latest_block_time`.
    pub latest_time: prost_types::Timestamp,
    /// `sync_info.catching_up`.
    pub catching_up: bool,
}

/// The node's `abci_info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbciInfo {
    /// `response.version`: the application version string (e.g. `v0.1.35`),
    /// for version-gated rules (README pitfall 13).
    pub version: String,
    /// `response.last_block_height`.
    pub last_block_height: u64,
}

/// The CometBFT JSON-RPC client. Clone it freely.
#[derive(Clone, Debug)]
pub struct RpcClient {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    websocket: Endpoint,
    config: RpcConfig,
    metrics: Metrics,
    idle: Mutex<Option<SendRequest<Full<Bytes>>>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcClient")
            .field("url", &self.endpoint.url)
            .field("websocket", &self.websocket.url)
            .finish_non_exhaustive()
    }
}

/// One failed attempt.
#[derive(Debug)]
struct Failure {
    kind: RpcErrorKind,
    reason: String,
}

impl Failure {
    fn new(kind: RpcErrorKind, reason: impl Into<String>) -> Self {
        Failure {
            kind,
            reason: reason.into(),
        }
    }
}

impl RpcClient {
    /// A client for `config.url` (and its websocket URL). Connects lazily.
    ///
    /// # Errors
    /// [`Error::Endpoint`] for malformed URLs.
    pub fn new(config: &RpcConfig, metrics: Metrics) -> Result<Self> {
        let endpoint = Endpoint::parse(&config.url, Scheme::Http)?;
        let websocket = match &config.websocket_url {
            Some(url) => Endpoint::parse(url, Scheme::Ws)?,
            None => endpoint.websocket_of()?,
        };
        Ok(RpcClient {
            inner: Arc::new(Inner {
                endpoint,
                websocket,
                config: config.clone(),
                metrics,
                idle: Mutex::new(None),
                next_id: AtomicU64::new(1),
            }),
        })
    }

    pub(crate) fn websocket_endpoint(&self) -> &Endpoint {
        &self.inner.websocket
    }

    pub(crate) fn config(&self) -> &RpcConfig {
        &self.inner.config
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// `status`.
    ///
    /// # Errors
    /// [`Error::Rpc`] or [`Error::Decode`].
    pub async fn status(&self) -> Result<Status> {
        let v = self.call("status", json!({}), None).await?;
        parse_status(&v)
    }

    /// `block` at `height`.
    ///
    /// # Errors
    /// [`Error::Rpc`] (a JSON-RPC error when the height is above the tip or
    /// pruned) or [`Error::Decode`].
    pub async fn block(&self, height: u64) -> Result<Block> {
        let v = self
            .call(
                "block",
                json!({ "height": height.to_string() }),
                Some(height),
            )
            .await?;
        let block = parse_block(&v)?;
        if block.height != height {
            return Err(Error::Decode {
                method: "block",
                reason: format!("asked for height {height}, got {}", block.height),
            });
        }
        Ok(block)
    }

    /// The latest `block`.
    ///
    /// # Errors
    /// [`Error::Rpc`] or [`Error::Decode`].
    pub async fn latest_block(&self) -> Result<Block> {
        let v = self.call("block", json!({}), None).await?;
        parse_block(&v)
    }

    /// `block_results` at `height`: the events of the block's txs and of
    /// its EndBlocker (`finalize_block_events`: settlement, proof validation).
    ///
    /// # Errors
    /// [`Error::Rpc`] (a JSON-RPC error when the height is above the tip or
    /// pruned) or [`Error::Decode`].
    pub async fn block_results(&self, height: u64) -> Result<BlockResults> {
        let v = self
            .call(
                "block_results",
                json!({ "height": height.to_string() }),
                Some(height),
            )
            .await?;
        Ok(parse_block_results(height, &v))
    }

    /// `abci_info`.
    ///
    /// # Errors
    /// [`Error::Rpc`] or [`Error::Decode`].
    pub async fn abci_info(&self) -> Result<AbciInfo> {
        let v = self.call("abci_info", json!({}), None).await?;
        let r = &v["response"];
        Ok(AbciInfo {
            version: r["version"].as_str().unwrap_or_default().to_owned(),
            last_block_height: opt_u64(&r["last_block_height"]).unwrap_or(0),
        })
    }

    /// Checks that the node serves `expected` (from `status`).
    ///
    /// # Errors
    /// [`Error::Config`] on a mismatch, or the `status` error.
    pub async fn check_chain_id(&self, expected: &str) -> Result<()> {
        let status = self.status().await?;
        if status.chain_id != expected {
            return Err(Error::Config(format!(
                "chain_id is {expected:?} but the node at {} serves {:?}",
                self.inner.endpoint.url, status.chain_id
            )));
        }
        Ok(())
    }

    /// One JSON-RPC call with deadline and bounded retries; returns `result`.
    async fn call(
        &self,
        method: &'static str,
        params: Value,
        height: Option<u64>,
    ) -> Result<Value> {
        let cfg = &self.inner.config;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
            let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
            let started = Instant::now();
            let outcome = match tokio::time::timeout(
                cfg.request_timeout,
                self.post(body.to_string()),
            )
            .await
            {
                Ok(r) => r,
                Err(_) => Err(Failure::new(
                    RpcErrorKind::Timeout,
                    format!("no answer within {:?}", cfg.request_timeout),
                )),
            };
            self.inner
                .metrics
                .rpc_duration
                .with_label_values(&[method])
                .observe(started.elapsed().as_secs_f64());
            let failure = match outcome.and_then(|bytes| parse_envelope(&bytes)) {
                Ok(v) => return Ok(v),
                Err(f) => f,
            };
            self.inner
                .metrics
                .rpc_errors
                .with_label_values(&[method, kind_label(failure.kind)])
                .inc();
            if !is_transient_rpc_kind(failure.kind) || attempt >= cfg.retry.max_attempts {
                return Err(Error::Rpc {
                    method,
                    height: AtHeight(height),
                    kind: failure.kind,
                    reason: failure.reason,
                    attempts: attempt,
                });
            }
            tracing::debug!(method, attempt, kind = %failure.kind, reason = %failure.reason, "retrying CometBFT RPC call");
            tokio::time::sleep(retry::delay_after(&cfg.retry, attempt)).await;
        }
    }

    /// POSTs `body`; returns the response body of a 200 answer.
    async fn post(&self, body: String) -> std::result::Result<Bytes, Failure> {
        let body = Bytes::from(body);
        let reused = self.inner.idle.lock().await.take();
        let mut sender = match reused {
            Some(mut s) => match s.ready().await {
                Ok(()) => s,
                Err(_) => self.connect().await?,
            },
            None => self.connect().await?,
        };
        let response = match sender.send_request(self.request(body.clone())?).await {
            Ok(r) => r,
            // A kept-alive connection the server closed meanwhile: one fresh try.
            Err(e) if e.is_canceled() || e.is_closed() || e.is_incomplete_message() => {
                sender = self.connect().await?;
                sender
                    .send_request(self.request(body)?)
                    .await
                    .map_err(|e| Failure::new(RpcErrorKind::Transport, e.to_string()))?
            }
            Err(e) => return Err(Failure::new(RpcErrorKind::Transport, e.to_string())),
        };
        let status = response.status();
        let limited = Limited::new(response.into_body(), self.inner.config.max_response_bytes);
        let bytes = limited
            .collect()
            .await
            .map_err(|e| Failure::new(RpcErrorKind::Transport, e.to_string()))?
            .to_bytes();
        {
            let mut idle = self.inner.idle.lock().await;
            if idle.is_none() && !sender.is_closed() {
                *idle = Some(sender);
            }
        }
        // CometBFT answers JSON-RPC errors with HTTP 500 and a JSON body:
        // prefer the body when it parses.
        if status != http::StatusCode::OK && serde_json::from_slice::<Value>(&bytes).is_err() {
            return Err(Failure::new(
                RpcErrorKind::Http(status.as_u16()),
                String::from_utf8_lossy(&bytes[..bytes.len().min(256)]).into_owned(),
            ));
        }
        Ok(bytes)
    }

    fn request(&self, body: Bytes) -> std::result::Result<http::Request<Full<Bytes>>, Failure> {
        http::Request::post(self.inner.endpoint.path.as_str())
            .header(http::header::HOST, self.inner.endpoint.authority.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(body))
            .map_err(|e| Failure::new(RpcErrorKind::Transport, e.to_string()))
    }

    async fn connect(&self) -> std::result::Result<SendRequest<Full<Bytes>>, Failure> {
        let stream = self
            .inner
            .endpoint
            .connect(self.inner.config.connect_timeout)
            .await
            .map_err(|e| Failure::new(RpcErrorKind::Transport, e.to_string()))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Failure::new(RpcErrorKind::Transport, e.to_string()))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "CometBFT RPC connection ended");
            }
        });
        Ok(sender)
    }
}

fn kind_label(kind: RpcErrorKind) -> &'static str {
    match kind {
        RpcErrorKind::Transport => "transport",
        RpcErrorKind::Timeout => "timeout",
        RpcErrorKind::Http(_) => "http",
        RpcErrorKind::JsonRpc(_) => "jsonrpc",
        RpcErrorKind::Malformed => "malformed",
    }
}

/// Splits a JSON-RPC 2.0 response into its `result` or its `error`.
fn parse_envelope(bytes: &[u8]) -> std::result::Result<Value, Failure> {
    let mut v: Value = serde_json::from_slice(bytes)
        .map_err(|e| Failure::new(RpcErrorKind::Malformed, e.to_string()))?;
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        let code = err["code"].as_i64().unwrap_or(0);
        let message = err["message"].as_str().unwrap_or_default();
        let data = err["data"].as_str().unwrap_or_default();
        return Err(Failure::new(
            RpcErrorKind::JsonRpc(code),
            format!("{message}: {data}")
                .trim_end_matches(": ")
                .to_owned(),
        ));
    }
    match v.get_mut("result") {
        Some(r) if !r.is_null() => Ok(r.take()),
        _ => Err(Failure::new(RpcErrorKind::Malformed, "no result")),
    }
}

/// A JSON integer given as a string (CometBFT) or a number.
fn opt_u64(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn decode_err(method: &'static str, reason: impl Into<String>) -> Error {
    Error::Decode {
        method,
        reason: reason.into(),
    }
}

fn parse_time(method: &'static str, v: &Value) -> Result<prost_types::Timestamp> {
    let s = v
        .as_str()
        .ok_or_else(|| decode_err(method, "time is missing"))?;
    prost_types::Timestamp::from_str(s).map_err(|e| decode_err(method, format!("time {s:?}: {e}")))
}

/// Parses a `block` result.
pub(crate) fn parse_block(v: &Value) -> Result<Block> {
    let hash_hex = v["block_id"]["hash"]
        .as_str()
        .ok_or_else(|| decode_err("block", "block_id.hash is missing"))?;
    let hash: [u8; 32] = hex::decode(hash_hex)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            decode_err(
                "block",
                format!("block_id.hash {hash_hex:?} is not 32 hex bytes"),
            )
        })?;
    let header = &v["block"]["header"];
    let height = opt_u64(&header["height"])
        .ok_or_else(|| decode_err("block", "block.header.height is missing"))?;
    let time = parse_time("block", &header["time"])?;
    Ok(Block { height, hash, time })
}

/// Parses a `status` result.
pub(crate) fn parse_status(v: &Value) -> Result<Status> {
    let sync = &v["sync_info"];
    Ok(Status {
        chain_id: v["node_info"]["network"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        node_version: v["node_info"]["version"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        latest_height: opt_u64(&sync["latest_block_height"])
            .ok_or_else(|| decode_err("status", "sync_info.latest_block_height is missing"))?,
        latest_time: parse_time("status", &sync["latest_block_time"])?,
        catching_up: sync["catching_up"].as_bool().unwrap_or(false),
    })
}

/// The height announced by a websocket event (`NewBlockHeader` or `NewBlock`),
/// or `None` for the subscription acknowledgement and other messages.
pub(crate) fn event_height(v: &Value) -> Option<u64> {
    let value = &v["result"]["data"]["value"];
    opt_u64(&value["header"]["height"]).or_else(|| opt_u64(&value["block"]["header"]["height"]))
}

/// Seconds between `time` and now (negative if `time` is in the future).
pub(crate) fn age_seconds(time: &prost_types::Timestamp) -> f64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let t = time.seconds as f64 + f64::from(time.nanos) / 1e9;
    now - t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_block() {
        let v: Value = serde_json::from_str(
            r#"{"block_id":{"hash":"123204D3D22583817FE43FF7377DC0C9F85E74C532803A5F3C58EE67AC677C80","parts":{"total":1,"hash":"00"}},
               "block":{"header":{"chain_id":"pocket","height":"21","time":"2026-01-01T00:00:01.5Z"},"data":{"txs":[]}}}"#,
        )
        .unwrap();
        let b = parse_block(&v).unwrap();
        assert_eq!(b.height, 21);
        assert_eq!(
            b.hash_hex(),
            "123204D3D22583817FE43FF7377DC0C9F85E74C532803A5F3C58EE67AC677C80"
        );
        assert_eq!(b.time.seconds, 1_767_225_601);
        assert_eq!(b.time.nanos, 500_000_000);
        assert!(parse_block(&serde_json::json!({"block_id":{"hash":"00"}})).is_err());
    }

    #[test]
    fn parses_status() {
        let v: Value = serde_json::from_str(
            r#"{"node_info":{"network":"pocket","version":"0.38.17"},
               "sync_info":{"latest_block_height":"7","latest_block_hash":"AB","latest_block_time":"2026-01-01T00:00:00Z","catching_up":false}}"#,
        )
        .unwrap();
        let s = parse_status(&v).unwrap();
        assert_eq!(s.chain_id, "pocket");
        assert_eq!(s.latest_height, 7);
        assert!(!s.catching_up);
    }

    #[test]
    fn splits_envelope() {
        let ok = parse_envelope(br#"{"jsonrpc":"2.0","id":1,"result":{"a":1}}"#).unwrap();
        assert_eq!(ok["a"], 1);
        let Err(err) = parse_envelope(
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"Internal error","data":"height 9 must be less than or equal to the current blockchain height 5"}}"#,
        ) else {
            panic!("expected an error")
        };
        assert_eq!(err.kind, RpcErrorKind::JsonRpc(-32603));
        assert!(err.reason.contains("height 9"), "{}", err.reason);
        assert!(parse_envelope(b"not json").is_err());
    }

    #[test]
    fn event_heights() {
        let header: Value = serde_json::from_str(
            r#"{"jsonrpc":"2.0","id":1,"result":{"query":"tm.event='NewBlockHeader'","data":{"type":"tendermint/event/NewBlockHeader","value":{"header":{"height":"12"}}}}}"#,
        )
        .unwrap();
        assert_eq!(event_height(&header), Some(12));
        let block: Value = serde_json::from_str(
            r#"{"jsonrpc":"2.0","id":1,"result":{"data":{"type":"tendermint/event/NewBlock","value":{"block":{"header":{"height":"13"}}}}}}"#,
        )
        .unwrap();
        assert_eq!(event_height(&block), Some(13));
        let ack: Value = serde_json::from_str(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#).unwrap();
        assert_eq!(event_height(&ack), None);
    }
}
