//! The traffic generator: relays signed one by one as the gateway (bLSAG
//! over the application's ring), spread over the services, the session's
//! suppliers and the relayers, sent over HTTP, and every response checked:
//! status, session header, the supplier's signature against its public key
//! on chain, and the backend's answer.
//!
//! It runs until relays were sent in `sessions` sessions (the session in
//! progress at the start counts as the first), the optional time cap, or
//! cancellation.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use prost::Message;
use protocol::pb::pocket::service::RelayRequestMetadata;
use protocol::pb::sdk::types::{PokthttpRequest, PokthttpResponse};
use protocol::{RelayRequest, RelayResponse, SessionHeader};
use tokio_util::sync::CancellationToken;

use super::network::{Api, GATEWAY_KEY, REST_PATH, SERVICES, address, public_key};

/// Most relays in flight at once; ticks beyond it are skipped, not queued.
pub const MAX_IN_FLIGHT: u64 = 64;
/// Deadline of one relay.
const RELAY_TIMEOUT: Duration = Duration::from_secs(10);

/// What was served for one (session, supplier).
#[derive(Debug, Clone, Default)]
pub struct Served {
    /// Service id.
    pub service: String,
    /// Session end height.
    pub session_end: i64,
    /// Relays answered and verified.
    pub relays: u64,
}

/// Counters of a run.
#[derive(Debug)]
pub struct Stats {
    /// Relays sent.
    pub sent: AtomicU64,
    /// Relays answered 200 with a valid supplier signature and a good
    /// backend answer.
    pub ok: AtomicU64,
    /// Relays that failed (any reason).
    pub failed: AtomicU64,
    /// Ticks skipped because `MAX_IN_FLIGHT` relays were pending.
    pub skipped: AtomicU64,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    failures: BTreeMap<String, u64>,
    served: BTreeMap<(String, String), Served>,
    /// Session end heights relays were sent in.
    sessions: BTreeSet<i64>,
    /// Round trips of OK relays, in microseconds.
    latency: Histogram<u64>,
}

/// Latency percentiles of OK relays.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest.
    pub max: Duration,
}

impl Stats {
    /// Empty counters.
    pub fn new() -> anyhow::Result<Self> {
        Ok(Stats {
            sent: AtomicU64::new(0),
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            inner: Mutex::new(Inner {
                failures: BTreeMap::new(),
                served: BTreeMap::new(),
                sessions: BTreeSet::new(),
                latency: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                    .context("latency histogram bounds")?,
            }),
        })
    }

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

    /// Session end heights relays were sent in.
    pub fn sessions(&self) -> BTreeSet<i64> {
        self.inner().sessions.clone()
    }

    /// Latency of OK relays (HDR histogram, 3 significant digits).
    pub fn latency(&self) -> Option<Latency> {
        let inner = self.inner();
        let h = &inner.latency;
        if h.is_empty() {
            return None;
        }
        Some(Latency {
            p50: Duration::from_micros(h.value_at_quantile(0.50)),
            p99: Duration::from_micros(h.value_at_quantile(0.99)),
            max: Duration::from_micros(h.max()),
        })
    }

    fn fail(&self, kind: impl Into<String>) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        *self.inner().failures.entry(kind.into()).or_default() += 1;
    }
}

/// Where to send, and for how long.
pub struct Traffic {
    /// Relayer addresses.
    pub relayers: Vec<SocketAddr>,
    /// Relays per second.
    pub rps: u32,
    /// Send in this many sessions (the current one counts as the first).
    pub sessions: u32,
    /// Stop sending after this long even if the sessions are not done.
    pub max_duration: Option<Duration>,
}

/// Why the traffic stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Relays were sent in every session asked for.
    Sessions,
    /// The time cap was reached.
    Duration,
    /// Cancelled (Ctrl-C).
    Cancelled,
}

/// One service as the generator sees it.
struct Target {
    id: &'static str,
    api: Api,
    app: String,
    ring: [[u8; 33]; 2],
}

struct Ctx {
    sim: Arc<chainsim::ChainSimHandle>,
    client: Client<HttpConnector, Full<Bytes>>,
    gateway: rings::PrivateKey,
    targets: Vec<Target>,
    stats: Arc<Stats>,
    in_flight: AtomicU64,
}

/// Sends relays at `rps` until `traffic.sessions` sessions saw relays (or
/// the cap, or `cancel`), then waits for the pending ones.
pub async fn run(
    sim: Arc<chainsim::ChainSimHandle>,
    traffic: Traffic,
    stats: Arc<Stats>,
    cancel: CancellationToken,
) -> anyhow::Result<Ended> {
    let gateway = rings::PrivateKey::from_bytes(&GATEWAY_KEY)
        .map_err(|e| anyhow::anyhow!("gateway key: {e}"))?;
    anyhow::ensure!(!traffic.relayers.is_empty(), "no relayer to send to");
    let mut targets = Vec::new();
    for s in SERVICES {
        targets.push(Target {
            id: s.id,
            api: s.api,
            app: address(&s.app_key)?,
            ring: [public_key(&s.app_key)?, gateway.public_key()],
        });
    }
    let ctx = Arc::new(Ctx {
        sim,
        client: Client::builder(TokioExecutor::new()).build_http(),
        gateway,
        targets,
        stats,
        in_flight: AtomicU64::new(0),
    });
    let period = Duration::from_secs(1) / traffic.rps.max(1);
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let tasks = tokio_util::task::TaskTracker::new();
    let cap = traffic
        .max_duration
        .map(|d| tokio::time::Instant::now() + d);
    let mut n: u64 = 0;
    let ended = loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = cancel.cancelled() => break Ended::Cancelled,
            _ = async {
                match cap {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => break Ended::Duration,
        }
        // The session grid at the tip: stop at the first block of the
        // session after the last one asked for.
        let height = ctx.sim.height();
        let grid = protocol::session::SessionGrid::new(&ctx.sim.shared_params_at(height))
            .map_err(|e| anyhow::anyhow!("session grid: {e}"))?;
        let session_end = grid.session_end(height);
        {
            let mut inner = ctx.stats.inner();
            if !inner.sessions.contains(&session_end) {
                if inner.sessions.len() >= traffic.sessions as usize {
                    break Ended::Sessions;
                }
                inner.sessions.insert(session_end);
            }
        }
        if ctx.in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
            ctx.stats.skipped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let this = n;
        n += 1;
        let ctx = ctx.clone();
        let relayers = traffic.relayers.clone();
        ctx.in_flight.fetch_add(1, Ordering::Relaxed);
        tasks.spawn(async move {
            ctx.stats.sent.fetch_add(1, Ordering::Relaxed);
            match tokio::time::timeout(RELAY_TIMEOUT, one_relay(&ctx, &relayers, height, this))
                .await
            {
                Ok(Ok(())) => {
                    ctx.stats.ok.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Err(kind)) => ctx.stats.fail(kind),
                Err(_) => ctx.stats.fail("timeout"),
            }
            ctx.in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    };
    tasks.close();
    tasks.wait().await;
    Ok(ended)
}

/// The `n`-th relay, signed for this request only; `Err` names the failure
/// kind. Relay `n` goes to service `n mod S`, supplier `(n / S) mod P` of
/// the session and relayer `(n / (S·P)) mod R`, so that every (service,
/// supplier) pair reaches every relayer.
async fn one_relay(ctx: &Ctx, relayers: &[SocketAddr], height: i64, n: u64) -> Result<(), String> {
    let n = n as usize;
    let target = &ctx.targets[n % ctx.targets.len()];
    let session = ctx
        .sim
        .session(&target.app, target.id, height)
        .map_err(|e| format!("no session: {e}"))?;
    let header = session
        .header
        .clone()
        .ok_or_else(|| "session without header".to_owned())?;
    if session.suppliers.is_empty() {
        return Err("no supplier in the session".into());
    }
    let per = n / ctx.targets.len();
    let supplier = session.suppliers[per % session.suppliers.len()]
        .operator_address
        .clone();
    let relayer = relayers[(per / session.suppliers.len()) % relayers.len()];
    let body = signed_request(ctx, target, &header, &supplier, n as u64)?;
    let started = Instant::now();
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("http://{relayer}/"))
        .header("content-type", "application/octet-stream")
        .header("rpc-type", target.api.rpc_type_header())
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
    verify(ctx, target.api, &header, &supplier, &bytes)?;
    let mut inner = ctx.stats.inner();
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    inner.latency.saturating_record(micros.max(1));
    let served = inner
        .served
        .entry((header.session_id.clone(), supplier))
        .or_default();
    served.service = target.id.to_owned();
    served.session_end = header.session_end_block_height;
    served.relays += 1;
    Ok(())
}

fn signed_request(
    ctx: &Ctx,
    target: &Target,
    header: &SessionHeader,
    supplier: &str,
    n: u64,
) -> Result<Vec<u8>, String> {
    let http = match target.api {
        Api::JsonRpc => PokthttpRequest {
            method: "POST".into(),
            url: "http://localnet.invalid/".into(),
            body_bz: format!(
                r#"{{"jsonrpc":"2.0","method":"eth_blockNumber","params":[],"id":{n}}}"#
            )
            .into_bytes(),
            ..Default::default()
        },
        Api::Rest => PokthttpRequest {
            method: "GET".into(),
            url: format!("http://localnet.invalid{REST_PATH}?n={n}"),
            ..Default::default()
        },
    };
    let mut req = RelayRequest {
        meta: RelayRequestMetadata {
            session_header: Some(header.clone()),
            signature: vec![],
            supplier_operator_address: supplier.to_owned(),
        },
        payload: http.encode_to_vec(),
    };
    req.meta.signature =
        rings::RingSignature::sign(&req.signable_hash(), &target.ring, &ctx.gateway)
            .map_err(|e| format!("signing: {e}"))?
            .to_bytes();
    Ok(req.encode_to_vec())
}

fn verify(
    ctx: &Ctx,
    api: Api,
    header: &SessionHeader,
    supplier: &str,
    bytes: &[u8],
) -> Result<(), String> {
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
    match api {
        Api::JsonRpc if json.get("result").is_none() => Err("JSON-RPC answer has no result".into()),
        Api::Rest if json.get("status").and_then(|s| s.as_str()) != Some("ok") => {
            Err("REST answer has no \"status\": \"ok\"".into())
        }
        _ => Ok(()),
    }
}
