//! The CometBFT JSON-RPC server (v0.38 JSON shapes: integers as strings,
//! hashes upper-case hex, tx bytes base64, times RFC 3339) with the
//! `/websocket` new-block subscription, plus the test endpoints
//! (`/chainsim/state`, `/chainsim/faults`, `/chainsim/produce_block`,
//! `/chainsim/shared_params`) and Prometheus metrics (`/metrics`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::broadcast::error::RecvError;

use crate::block::{Block, Event, TxResult, hex_upper, rfc3339};
use crate::chain::ForcedRejection;
use crate::genesis::{ParamsChangeGenesis, SharedParams};
use crate::node::Node;

/// The CometBFT version reported by `status`.
const COMETBFT_VERSION: &str = "0.38.17";

/// A JSON-RPC error.
struct RpcError {
    code: i64,
    message: &'static str,
    data: String,
}

impl RpcError {
    fn internal(data: impl Into<String>) -> Self {
        RpcError {
            code: -32603,
            message: "Internal error",
            data: data.into(),
        }
    }

    fn invalid_params(data: impl Into<String>) -> Self {
        RpcError {
            code: -32602,
            message: "Invalid params",
            data: data.into(),
        }
    }

    fn method_not_found(method: &str) -> Self {
        RpcError {
            code: -32601,
            message: "Method not found",
            data: format!("method {method:?} is not served by chainsim"),
        }
    }

    fn to_json(&self) -> Value {
        json!({"code": self.code, "message": self.message, "data": self.data})
    }
}

/// Serves the RPC router on `listener` until the node is cancelled.
pub(crate) async fn serve(node: Arc<Node>, listener: TcpListener) {
    let cancel = node.cancel.clone();
    let app = Router::new()
        .route("/", post(jsonrpc_post))
        .route("/websocket", get(websocket))
        .route("/chainsim/state", get(state))
        .route("/chainsim/faults", post(faults))
        .route("/chainsim/produce_block", post(produce_block))
        .route("/chainsim/shared_params", post(schedule_shared_params))
        .route("/metrics", get(metrics))
        .route("/{method}", get(uri_call))
        .with_state(node.clone());
    // TCP_NODELAY for the same reason as the gRPC listener: a response
    // written in several segments must not wait for a delayed ACK.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on an RPC connection");
        }
    });
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await
    {
        tracing::error!(error = %e, "chainsim RPC server failed");
        node.cancel.cancel();
    }
}

fn block_id_json(hash: Option<&[u8; 32]>) -> Value {
    match hash {
        Some(h) => json!({
            "hash": hex_upper(h),
            "parts": {"total": 1, "hash": hex_upper(&Sha256::digest(h))}
        }),
        None => json!({"hash": "", "parts": {"total": 0, "hash": ""}}),
    }
}

fn header_json(chain_id: &str, b: &Block) -> Value {
    let prev = (b.height > 1).then_some(&b.prev_hash);
    json!({
        "version": {"block": "11", "app": "0"},
        "chain_id": chain_id,
        "height": b.height.to_string(),
        "time": rfc3339(b.time_unix_nanos),
        "last_block_id": block_id_json(prev),
        "last_commit_hash": "",
        "data_hash": "",
        "validators_hash": "",
        "next_validators_hash": "",
        "consensus_hash": "",
        "app_hash": "",
        "last_results_hash": "",
        "evidence_hash": "",
        "proposer_address": ""
    })
}

fn inner_block_json(chain_id: &str, b: &Block) -> Value {
    let prev = (b.height > 1).then_some(&b.prev_hash);
    json!({
        "header": header_json(chain_id, b),
        "data": {"txs": b.txs.iter().map(|t| B64.encode(t)).collect::<Vec<_>>()},
        "evidence": {"evidence": []},
        "last_commit": {
            "height": (b.height - 1).to_string(),
            "round": 0,
            "block_id": block_id_json(prev),
            "signatures": []
        }
    })
}

fn block_json(chain_id: &str, b: &Block) -> Value {
    json!({
        "block_id": block_id_json(Some(&b.hash)),
        "block": inner_block_json(chain_id, b),
    })
}

fn events_json(events: &[Event]) -> Value {
    Value::Array(
        events
            .iter()
            .map(|e| {
                json!({
                    "type": e.kind,
                    "attributes": e.attributes.iter()
                        .map(|(k, v)| json!({"key": k, "value": v, "index": true}))
                        .collect::<Vec<_>>()
                })
            })
            .collect(),
    )
}

fn tx_result_json(r: &TxResult) -> Value {
    json!({
        "code": r.code,
        "data": null,
        "log": r.log,
        "info": "",
        "gas_wanted": r.gas_wanted.to_string(),
        "gas_used": r.gas_used.to_string(),
        "events": events_json(&r.events),
        "codespace": r.codespace,
    })
}

fn block_results_json(b: &Block) -> Value {
    let txs: Vec<Value> = b.tx_results.iter().map(tx_result_json).collect();
    json!({
        "height": b.height.to_string(),
        "txs_results": if txs.is_empty() { Value::Null } else { Value::Array(txs) },
        "finalize_block_events": events_json(&b.finalize_events),
        "validator_updates": [],
        "consensus_param_updates": null,
        "app_hash": ""
    })
}

fn new_block_event_json(chain_id: &str, b: &Block) -> Value {
    json!({
        "type": "tendermint/event/NewBlock",
        "value": {
            "block": inner_block_json(chain_id, b),
            "block_id": block_id_json(Some(&b.hash)),
            "result_finalize_block": {
                "events": events_json(&b.finalize_events),
                "tx_results": b.tx_results.iter().map(tx_result_json).collect::<Vec<_>>(),
                "validator_updates": [],
                "app_hash": ""
            }
        }
    })
}

fn new_block_header_event_json(chain_id: &str, b: &Block) -> Value {
    json!({
        "type": "tendermint/event/NewBlockHeader",
        "value": {"header": header_json(chain_id, b)}
    })
}

/// Reads an integer parameter given as a JSON number or string (URI params
/// may be quoted).
fn int_param(params: &Value, name: &str) -> Result<Option<i64>, RpcError> {
    let v = match params {
        Value::Object(m) => m.get(name),
        Value::Array(a) => a.first(),
        _ => None,
    };
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| RpcError::invalid_params(format!("{name} is not an integer"))),
        Some(Value::String(s)) => {
            let s = s.trim_matches('"');
            if s.is_empty() {
                return Ok(None);
            }
            s.parse()
                .map(Some)
                .map_err(|_| RpcError::invalid_params(format!("{name} {s:?} is not an integer")))
        }
        Some(_) => Err(RpcError::invalid_params(format!(
            "{name} has the wrong type"
        ))),
    }
}

fn str_param(params: &Value, name: &str) -> Option<String> {
    let v = match params {
        Value::Object(m) => m.get(name),
        Value::Array(a) => a.first(),
        _ => None,
    };
    v.and_then(Value::as_str)
        .map(|s| s.trim_matches('"').to_owned())
}

/// Runs one JSON-RPC method.
fn call(node: &Node, method: &str, params: &Value) -> Result<Value, RpcError> {
    match method {
        "health" => Ok(json!({})),
        "status" => {
            let chain = node.lock();
            let latest = chain.blocks.last();
            let first = chain.blocks.first();
            let hash = |b: Option<&Block>| b.map(|b| hex_upper(&b.hash)).unwrap_or_default();
            let time =
                |b: Option<&Block>| b.map(|b| rfc3339(b.time_unix_nanos)).unwrap_or_default();
            Ok(json!({
                "node_info": {
                    "protocol_version": {"p2p": "8", "block": "11", "app": "0"},
                    "id": "chainsim",
                    "listen_addr": format!("tcp://{}", node.rpc_listen),
                    "network": chain.chain_id,
                    "version": COMETBFT_VERSION,
                    "channels": "",
                    "moniker": "chainsim",
                    "other": {"tx_index": "on", "rpc_address": format!("tcp://{}", node.rpc_listen)}
                },
                "sync_info": {
                    "latest_block_hash": hash(latest),
                    "latest_app_hash": "",
                    "latest_block_height": chain.height().to_string(),
                    "latest_block_time": time(latest),
                    "earliest_block_hash": hash(first),
                    "earliest_app_hash": "",
                    "earliest_block_height": if first.is_some() { "1" } else { "0" },
                    "earliest_block_time": time(first),
                    "catching_up": false
                },
                "validator_info": {"address": "", "pub_key": null, "voting_power": "0"}
            }))
        }
        "abci_info" => {
            let chain = node.lock();
            Ok(json!({
                "response": {
                    "data": chain.chain_id,
                    "version": chain.app_version,
                    "app_version": "1",
                    "last_block_height": chain.height().to_string(),
                    "last_block_app_hash": ""
                }
            }))
        }
        "block" | "block_results" | "header" => {
            let chain = node.lock();
            let latest = chain.height();
            let h = int_param(params, "height")?
                .filter(|h| *h != 0)
                .unwrap_or(latest);
            if h > latest {
                return Err(RpcError::internal(format!(
                    "height {h} must be less than or equal to the current blockchain height {latest}"
                )));
            }
            let b = chain
                .block(h)
                .ok_or_else(|| RpcError::internal(format!("height {h} is not available")))?;
            Ok(match method {
                "block" => block_json(&chain.chain_id, b),
                "header" => json!({"header": header_json(&chain.chain_id, b)}),
                _ => block_results_json(b),
            })
        }
        "broadcast_tx_sync" | "broadcast_tx_async" => {
            let tx =
                str_param(params, "tx").ok_or_else(|| RpcError::invalid_params("missing tx"))?;
            let bytes = if let Some(hex_tx) = tx.strip_prefix("0x") {
                hex::decode(hex_tx).map_err(|e| RpcError::invalid_params(e.to_string()))?
            } else {
                B64.decode(tx.as_bytes())
                    .map_err(|e| RpcError::invalid_params(e.to_string()))?
            };
            let (hash, r) = node.lock().broadcast(&bytes);
            Ok(
                json!({"code": r.code, "data": "", "log": r.log, "codespace": r.codespace, "hash": hash}),
            )
        }
        other => Err(RpcError::method_not_found(other)),
    }
}

fn rpc_reply(id: Value, result: Result<Value, RpcError>) -> Value {
    match result {
        Ok(v) => json!({"jsonrpc": "2.0", "id": id, "result": v}),
        Err(e) => json!({"jsonrpc": "2.0", "id": id, "error": e.to_json()}),
    }
}

async fn uri_call(
    State(node): State<Arc<Node>>,
    Path(method): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let params = Value::Object(q.into_iter().map(|(k, v)| (k, Value::String(v))).collect());
    let reply = rpc_reply(json!(-1), call(&node, &method, &params));
    let status = if reply.get("error").is_some() {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    (status, Json(reply)).into_response()
}

async fn jsonrpc_post(State(node): State<Arc<Node>>, Json(req): Json<Value>) -> Json<Value> {
    let handle = |r: &Value| {
        let id = r.get("id").cloned().unwrap_or(Value::Null);
        let method = r.get("method").and_then(Value::as_str).unwrap_or("");
        let params = r.get("params").cloned().unwrap_or(Value::Null);
        rpc_reply(id, call(&node, method, &params))
    };
    match &req {
        Value::Array(batch) => Json(Value::Array(batch.iter().map(handle).collect())),
        single => Json(handle(single)),
    }
}

async fn state(State(node): State<Arc<Node>>) -> Json<crate::report::StateReport> {
    Json(node.lock().report())
}

/// Body of `POST /chainsim/faults`; every field optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsRequest {
    /// Pause (`true`) or resume (`false`) block production.
    #[serde(default)]
    pause: Option<bool>,
    /// Drop the next N accepted txs.
    #[serde(default)]
    drop_next_txs: Option<u32>,
    /// Reject the next tx with this code.
    #[serde(default)]
    reject_next_tx: Option<ForcedRejection>,
    /// `true`: drop every open websocket session (clients must reconnect).
    #[serde(default)]
    drop_websockets: bool,
}

async fn faults(State(node): State<Arc<Node>>, Json(req): Json<FaultsRequest>) -> Json<Value> {
    let websockets_dropped = if req.drop_websockets {
        node.drop_websockets()
    } else {
        0
    };
    let mut chain = node.lock();
    if let Some(p) = req.pause {
        chain.faults.paused = p;
    }
    if let Some(n) = req.drop_next_txs {
        chain.faults.drop_next_txs = n;
    }
    if let Some(r) = req.reject_next_tx {
        chain.faults.reject_next.push(r);
    }
    Json(json!({
        "paused": chain.faults.paused,
        "drop_next_txs": chain.faults.drop_next_txs,
        "pending_rejections": chain.faults.reject_next.len(),
        "websockets_dropped": websockets_dropped,
    }))
}

async fn produce_block(State(node): State<Arc<Node>>) -> Json<Value> {
    let height = node.produce_block();
    Json(json!({"height": height}))
}

/// Schedules a shared-params change (body: a `params_history` entry of the
/// genesis; omitted keys keep the value in force before the change). Answers
/// the snapshot as recorded, or 400 with the reason.
async fn schedule_shared_params(
    State(node): State<Arc<Node>>,
    Json(change): Json<ParamsChangeGenesis>,
) -> Response {
    let mut chain = node.lock();
    let before = chain.shared_params_at(change.effective_height.saturating_sub(1));
    match chain.schedule_shared_params(change.effective_height, change.shared.apply(&before)) {
        Ok(recorded) => Json(json!({
            "effective_height": change.effective_height,
            "shared": SharedParams::from_proto(&recorded),
        }))
        .into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn metrics(State(node): State<Arc<Node>>) -> impl IntoResponse {
    let chain = node.lock();
    let body = chain.counters.to_prometheus(chain.height());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        body,
    )
}

async fn websocket(State(node): State<Arc<Node>>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| ws_session(node, socket))
}

/// What a subscription pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventKind {
    NewBlock,
    NewBlockHeader,
}

struct Subscription {
    id: Value,
    query: String,
    kind: EventKind,
}

fn parse_query(query: &str) -> Option<EventKind> {
    let q: String = query.chars().filter(|c| !c.is_whitespace()).collect();
    match q.as_str() {
        "tm.event='NewBlockHeader'" => Some(EventKind::NewBlockHeader),
        "tm.event='NewBlock'" => Some(EventKind::NewBlock),
        _ => None,
    }
}

async fn ws_session(node: Arc<Node>, mut socket: WebSocket) {
    let mut feed = node.subscribe_blocks();
    let mut drops = node.watch_websocket_drops();
    let mut subs: Vec<Subscription> = Vec::new();
    let chain_id = node.lock().chain_id.clone();
    loop {
        tokio::select! {
            _ = node.cancel.cancelled() => break,
            // Returning drops the socket: the TCP connection closes without a
            // close handshake, as when a node restarts.
            _ = drops.changed() => return,
            incoming = socket.recv() => {
                let text = match incoming {
                    Some(Ok(WsMessage::Text(t))) => t.to_string(),
                    Some(Ok(WsMessage::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                    Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                };
                let reply = ws_request(&node, &mut subs, &text);
                if socket.send(WsMessage::Text(reply.to_string().into())).await.is_err() {
                    break;
                }
            }
            block = feed.recv() => {
                let block = match block {
                    Ok(b) => b,
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "websocket subscriber too slow; closing");
                        break;
                    }
                    Err(RecvError::Closed) => break,
                };
                for sub in &subs {
                    let (data, event) = match sub.kind {
                        EventKind::NewBlock => (new_block_event_json(&chain_id, &block), "NewBlock"),
                        EventKind::NewBlockHeader => (new_block_header_event_json(&chain_id, &block), "NewBlockHeader"),
                    };
                    let msg = json!({
                        "jsonrpc": "2.0",
                        "id": sub.id,
                        "result": {
                            "query": sub.query,
                            "data": data,
                            "events": {"tm.event": [event], "block.height": [block.height.to_string()]}
                        }
                    });
                    if socket.send(WsMessage::Text(msg.to_string().into())).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

fn ws_request(node: &Node, subs: &mut Vec<Subscription>, text: &str) -> Value {
    let req: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "Parse error", "data": e.to_string()}});
        }
    };
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let method = req.get("method").and_then(Value::as_str).unwrap_or("");
    let params = req.get("params").cloned().unwrap_or(Value::Null);
    let result = match method {
        "subscribe" => {
            let query = str_param(&params, "query").unwrap_or_default();
            match parse_query(&query) {
                Some(kind) => {
                    subs.push(Subscription {
                        id: id.clone(),
                        query,
                        kind,
                    });
                    Ok(json!({}))
                }
                None => Err(RpcError::invalid_params(format!(
                    "unsupported query {query:?}: chainsim serves tm.event='NewBlock' and tm.event='NewBlockHeader'"
                ))),
            }
        }
        "unsubscribe" => {
            let query = str_param(&params, "query").unwrap_or_default();
            subs.retain(|s| s.query != query);
            Ok(json!({}))
        }
        "unsubscribe_all" => {
            subs.clear();
            Ok(json!({}))
        }
        other => call(node, other, &params),
    };
    rpc_reply(id, result)
}
