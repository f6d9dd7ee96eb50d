//! A bounded traffic generator: relays signed one by one as the gateway
//! (bLSAG over the application's ring), sent to the relayers over HTTP, and
//! every response checked: status, session header, the supplier's signature
//! against its public key on chain, and the JSON-RPC answer.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use prost::Message;
use protocol::pb::pocket::service::RelayRequestMetadata;
use protocol::pb::sdk::types::{PokthttpRequest, PokthttpResponse};
use protocol::{RelayRequest, RelayResponse, SessionHeader};
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio_util::sync::CancellationToken;

use super::network::{APP_KEY, GATEWAY_KEY, SERVICE, address};

/// Most relays in flight at once; ticks beyond it are skipped, not queued.
const MAX_IN_FLIGHT: u64 = 64;
/// Deadline of one relay.
const RELAY_TIMEOUT: Duration = Duration::from_secs(10);

/// What was served for one (session, supplier).
#[derive(Debug, Clone, Default)]
pub struct Served {
    /// Session end height.
    pub session_end: i64,
    /// Relays answered and verified.
    pub relays: u64,
}

/// Counters of a run.
#[derive(Debug, Default)]
pub struct Stats {
    /// Relays sent.
    pub sent: AtomicU64,
    /// Relays answered 200 with a valid supplier signature.
    pub ok: AtomicU64,
    /// Relays that failed (any reason).
    pub failed: AtomicU64,
    /// Ticks skipped because `MAX_IN_FLIGHT` relays were pending.
    pub skipped: AtomicU64,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    failures: BTreeMap<String, u64>,
    served: BTreeMap<(String, String), Served>,
    latencies_us: Vec<u64>,
}

impl Stats {
    /// The details (a panic elsewhere does not make the counters meaningless).
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Failures by kind.
    pub fn failures(&self) -> BTreeMap<String, u64> {
        self.inner().failures.clone()
    }

    /// What was served, by (session id, supplier).
    pub fn served(&self) -> BTreeMap<(String, String), Served> {
        self.inner().served.clone()
    }

    /// Latency percentiles (p50, p99) of verified relays.
    pub fn latency(&self) -> Option<(Duration, Duration)> {
        let mut v = self.inner().latencies_us.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let at = |q: f64| {
            let i = ((v.len() as f64 - 1.0) * q).round() as usize;
            Duration::from_micros(v[i.min(v.len() - 1)])
        };
        Some((at(0.50), at(0.99)))
    }

    fn fail(&self, kind: impl Into<String>) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        *self.inner().failures.entry(kind.into()).or_default() += 1;
    }
}

/// Where to send and who signs.
pub struct Traffic {
    /// Relayer addresses (round robin).
    pub relayers: Vec<SocketAddr>,
    /// Relays per second.
    pub rps: u32,
    /// How long to send.
    pub duration: Duration,
}

struct Ctx {
    sim: Arc<chainsim::ChainSimHandle>,
    client: Client<HttpConnector, Full<Bytes>>,
    gateway: rings::PrivateKey,
    ring: [[u8; 33]; 2],
    app: String,
    stats: Arc<Stats>,
    in_flight: AtomicU64,
}

/// Sends relays at `rps` for `duration` (or until `cancel`), then waits for
/// the pending ones.
pub async fn run(
    sim: Arc<chainsim::ChainSimHandle>,
    traffic: Traffic,
    stats: Arc<Stats>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let gateway = rings::PrivateKey::from_bytes(&GATEWAY_KEY)
        .map_err(|e| anyhow::anyhow!("gateway key: {e}"))?;
    let app_key =
        rings::PrivateKey::from_bytes(&APP_KEY).map_err(|e| anyhow::anyhow!("app key: {e}"))?;
    anyhow::ensure!(!traffic.relayers.is_empty(), "no relayer to send to");
    let ctx = Arc::new(Ctx {
        ring: [app_key.public_key(), gateway.public_key()],
        sim,
        client: Client::builder(TokioExecutor::new()).build_http(),
        gateway,
        app: address(&APP_KEY)?,
        stats,
        in_flight: AtomicU64::new(0),
    });
    let period = Duration::from_secs(1) / traffic.rps.max(1);
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let tasks = tokio_util::task::TaskTracker::new();
    let end = tokio::time::Instant::now() + traffic.duration;
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep_until(end) => break,
        }
        if ctx.in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
            ctx.stats.skipped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        n += 1;
        let relayer = traffic.relayers[(n as usize) % traffic.relayers.len()];
        let ctx = ctx.clone();
        ctx.in_flight.fetch_add(1, Ordering::Relaxed);
        tasks.spawn(async move {
            ctx.stats.sent.fetch_add(1, Ordering::Relaxed);
            match tokio::time::timeout(RELAY_TIMEOUT, one_relay(&ctx, relayer, n)).await {
                Ok(Ok(())) => {
                    ctx.stats.ok.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Err(kind)) => ctx.stats.fail(kind),
                Err(_) => ctx.stats.fail("timeout"),
            }
            ctx.in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }
    tasks.close();
    tasks.wait().await;
    Ok(())
}

/// One relay, signed for this request only; `Err` names the failure kind.
async fn one_relay(ctx: &Ctx, relayer: SocketAddr, n: u64) -> Result<(), String> {
    let height = ctx.sim.height();
    let session = ctx
        .sim
        .session(&ctx.app, SERVICE, height)
        .map_err(|e| format!("no session: {e}"))?;
    let header = session
        .header
        .clone()
        .ok_or_else(|| "session without header".to_owned())?;
    if session.suppliers.is_empty() {
        return Err("no supplier in the session".into());
    }
    let supplier = session.suppliers[(n as usize) % session.suppliers.len()]
        .operator_address
        .clone();
    let body = signed_request(ctx, &header, &supplier, n)?;
    let started = Instant::now();
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("http://{relayer}/"))
        .header("content-type", "application/octet-stream")
        .header("rpc-type", "3")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("request: {e}"))?;
    let resp = ctx
        .client
        .request(req)
        .await
        .map_err(|_| "connection".to_owned())?;
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|_| "reading the response".to_owned())?
        .to_bytes();
    let latency = started.elapsed();
    if !status.is_success() {
        let text = String::from_utf8_lossy(&bytes);
        let reason: String = text.chars().take(80).collect();
        return Err(format!("HTTP {}: {reason}", status.as_u16()));
    }
    verify(ctx, &header, &supplier, &bytes)?;
    let mut inner = ctx.stats.inner();
    inner.latencies_us.push(latency.as_micros() as u64);
    let served = inner
        .served
        .entry((header.session_id.clone(), supplier))
        .or_default();
    served.session_end = header.session_end_block_height;
    served.relays += 1;
    Ok(())
}

fn signed_request(
    ctx: &Ctx,
    header: &SessionHeader,
    supplier: &str,
    n: u64,
) -> Result<Vec<u8>, String> {
    let http = PokthttpRequest {
        method: "POST".into(),
        url: "http://localnet.invalid/".into(),
        body_bz: format!(r#"{{"jsonrpc":"2.0","method":"eth_blockNumber","params":[],"id":{n}}}"#)
            .into_bytes(),
        ..Default::default()
    };
    let mut req = RelayRequest {
        meta: RelayRequestMetadata {
            session_header: Some(header.clone()),
            signature: vec![],
            supplier_operator_address: supplier.to_owned(),
        },
        payload: http.encode_to_vec(),
    };
    req.meta.signature = rings::RingSignature::sign(&req.signable_hash(), &ctx.ring, &ctx.gateway)
        .map_err(|e| format!("signing: {e}"))?
        .to_bytes();
    Ok(req.encode_to_vec())
}

fn verify(ctx: &Ctx, header: &SessionHeader, supplier: &str, bytes: &[u8]) -> Result<(), String> {
    let res = RelayResponse::decode_bytes(bytes).map_err(|_| "undecodable response".to_owned())?;
    res.validate_basic()
        .map_err(|e| format!("invalid response: {e}"))?;
    if res.meta.session_header.as_ref() != Some(header) {
        return Err("response for another session".into());
    }
    let key = ctx
        .sim
        .account(supplier)
        .and_then(|a| a.public_key)
        .ok_or_else(|| "supplier has no public key on chain".to_owned())?;
    rings::verify_response(
        &key,
        &res.signable_hash(),
        &res.meta.supplier_operator_signature,
    )
    .map_err(|_| "bad supplier signature".to_owned())?;
    let http = PokthttpResponse::decode(res.payload.as_slice())
        .map_err(|_| "payload is not a POKTHTTPResponse".to_owned())?;
    if http.status_code != 200 {
        return Err(format!("backend status {}", http.status_code));
    }
    let json: serde_json::Value = serde_json::from_slice(&http.body_bz)
        .map_err(|_| "backend answer is not JSON".to_owned())?;
    if json.get("result").is_none() {
        return Err("backend answer has no result".into());
    }
    Ok(())
}
