//! `make bench-relayer`: the relayer's throughput, CPU per relay and latency
//! on loopback, with full (eager) validation, the meter on and every relay
//! mined and published to Redis. Figures: docs/benchmarks.md, "relayer".
//!
//! Layout: this process runs chainsim (paused, so the session stays open), a
//! fast JSON-RPC backend and the load generator (the `relay` client's
//! engine); `redis-server` runs as its own process; the relayer is the
//! production binary (`pocket-relay-miner relayer --config …`) in its own
//! process, so its CPU time is read from `/proc/<pid>/stat` alone.
//! `BENCH_RELAYER=inprocess` runs the relayer library instead, in this bench
//! binary re-executed as a child (`RELAYER_BENCH_CHILD`).
//!
//! Every request is signed before the timed phases, each separately (none is
//! sent twice); replies are verified after each timed phase so that
//! verification does not compete with the relayer for the 2 cores.
//!
//! Phases: warm-up; throughput (closed loop); a fixed 1,000 relays/s run;
//! then a CPU split — the same load against the relayer with the meter off
//! and against stripped servers (echo; echo + crypto; echo + backend client)
//! re-executed from this binary — and the one-thread cost of ring verify,
//! response sign and one XADD publish.
//!
//! Knobs (environment): `BENCH_SECONDS` (throughput phase, default 10),
//! `BENCH_REQUESTS` (pre-signed for it, default 30000), `BENCH_CONCURRENCY`
//! (default 32), `BENCH_RATE_SECONDS` (the 1,000 relays/s phase, default 10),
//! `BENCH_SPLIT_SECONDS` (each CPU-split server, default 4).

#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../src/relay/mod.rs"]
mod relay;
#[path = "../tests/support/relay_env.rs"]
mod relay_env;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use prost::Message;
use relay::load::{LoadReport, Plan, VerifyMode};
use relay::sign::{Payload, Signer};
use relay::target::RpcKind;
use relay_env::*;
use tokio_util::sync::CancellationToken;

const CHILD_ENV: &str = "RELAYER_BENCH_CHILD";
const WARMUP: usize = 1_000;
const RATE: f64 = 1_000.0;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(&spec);
    }
    // `cargo bench` passes --bench; `cargo test --all-targets` does not, and
    // must not start a minute-long load test.
    if !std::env::args().any(|a| a == "--bench") {
        println!("relayer bench: run it with `make bench-relayer` (cargo bench)");
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(parent())
}

// ---- the relayer child --------------------------------------------------

/// What the child serves: the relayer, or a stripped-down server used to
/// split the relayer's CPU into parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The production relayer: eager validation, meter on.
    Full,
    /// The production relayer with the meter off.
    NoMeter,
    /// HTTP server + decode the request + encode a response; nothing else.
    Echo,
    /// `Echo` + the relayer's backend client calling the backend.
    Proxy,
    /// `Echo` + ring verify (warm key cache) + response sign; no backend.
    Crypto,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::NoMeter => "nometer",
            Mode::Echo => "echo",
            Mode::Proxy => "proxy",
            Mode::Crypto => "crypto",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Mode::Full,
            Mode::NoMeter,
            Mode::Echo,
            Mode::Proxy,
            Mode::Crypto,
        ]
        .into_iter()
        .find(|m| m.name() == s)
    }
}

/// `mode grpc_url rpc_url redis_url namespace backend_addr`, space-separated.
fn child(spec: &str) -> anyhow::Result<()> {
    let parts: Vec<&str> = spec.split(' ').collect();
    let [mode, grpc, rpc, redis_url, namespace, backend] = parts.as_slice() else {
        anyhow::bail!("bad {CHILD_ENV}: {spec}");
    };
    let mode = Mode::parse(mode).context("mode")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let cancel = CancellationToken::new();
        let redis = store::RedisConfig {
            url: (*redis_url).to_owned(),
            namespace: (*namespace).to_owned(),
            ..Default::default()
        };
        let mut config = relayer_config(redis, backend.parse()?);
        config.meter.enabled = mode != Mode::NoMeter;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("LISTEN {}", listener.local_addr()?);
        std::io::stdout().flush()?;
        // The parent holds our stdin: when it closes (or dies), stop.
        let stop = cancel.clone();
        std::thread::spawn(move || {
            let mut sink = String::new();
            while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
            stop.cancel();
        });
        match mode {
            Mode::Full | Mode::NoMeter => {
                serve_relayer(
                    listener,
                    config,
                    vec![pk(&SUPPLIER_KEY)],
                    (*grpc).to_owned(),
                    (*rpc).to_owned(),
                    cancel,
                )
                .await
            }
            Mode::Echo | Mode::Proxy | Mode::Crypto => {
                serve_stripped(listener, mode, &config, cancel).await
            }
        }
    })
}

/// The `Echo`, `Proxy` and `Crypto` servers (the first two sign with a
/// dummy signature; `Crypto` verifies the ring signature against the keys it
/// embeds and signs for real).
async fn serve_stripped(
    listener: tokio::net::TcpListener,
    mode: Mode,
    config: &relayer::RelayerConfig,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    use axum::routing::{any, get};
    let backend_cfg = config
        .services
        .get("anvil")
        .and_then(|s| s.backends.get(&relayer::config::RpcKind::Jsonrpc))
        .context("anvil backend")?;
    let backend = relayer::backend::Backend::new(backend_cfg, config.max_response_bytes)
        .map_err(|e| anyhow::anyhow!(e))?;
    let fixed = protocol::pb::sdk::types::PokthttpResponse {
        status_code: 200,
        body_bz: BACKEND_BODY.as_bytes().to_vec(),
        ..Default::default()
    }
    .encode_to_vec();
    let keys = std::sync::Arc::new(rings::KeyCache::default());
    let supplier = pk(&SUPPLIER_KEY);
    let app = axum::Router::new()
        .route("/ready", get(|| async { "ready" }))
        .fallback(any(move |body: Bytes| {
            let (backend, fixed) = (backend.clone(), fixed.clone());
            let (keys, supplier) = (keys.clone(), supplier.clone());
            async move {
                let req = protocol::RelayRequest::decode_bytes(&body).unwrap();
                let header = req.meta.session_header.clone().unwrap_or_default();
                let payload = if mode == Mode::Proxy {
                    let http_req =
                        protocol::pb::sdk::types::PokthttpRequest::decode(req.payload.as_slice())
                            .unwrap();
                    let ctx = relayer::backend::RelayContext {
                        supplier: &req.meta.supplier_operator_address,
                        service: &header.service_id,
                        application: &header.application_address,
                    };
                    backend
                        .call(&http_req, ctx, Duration::from_secs(10))
                        .await
                        .unwrap()
                        .to_payload()
                        .encode_to_vec()
                } else {
                    fixed
                };
                let mut res = protocol::RelayResponse::new(header, payload);
                res.meta.supplier_operator_signature = if mode == Mode::Crypto {
                    let sig = rings::RingSignature::from_bytes(&req.meta.signature).unwrap();
                    let ring: Vec<[u8; 33]> = sig.public_keys().copied().collect();
                    rings::verify_ring_signature(
                        &req.meta.signature,
                        &req.signable_hash(),
                        &ring,
                        Some(&keys),
                    )
                    .unwrap();
                    supplier
                        .sign_response(&res.signable_hash())
                        .unwrap()
                        .to_vec()
                } else {
                    vec![1; 64]
                };
                res.encode_to_vec()
            }
        }));
    axum::serve(listener, app)
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await
        .context("stripped server")
}

/// The relayer (or a stripped server) in a child process, killed on drop.
struct RelayerProcess {
    child: Child,
    addr: std::net::SocketAddr,
    /// Config and keys files of the production binary, removed on drop.
    files: Vec<std::path::PathBuf>,
}

impl RelayerProcess {
    /// This bench re-executed as a child in `mode`.
    fn reexec(mode: Mode, spec: &str) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .env(CHILD_ENV, format!("{} {spec}", mode.name()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("spawning the relayer child")?;
        let stdout = child.stdout.take().context("child stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("LISTEN ")
            .with_context(|| format!("relayer child said {line:?}"))?
            .parse()?;
        Ok(RelayerProcess {
            child,
            addr,
            files: Vec::new(),
        })
    }

    /// `pocket-relay-miner relayer --config <file>`, the production binary,
    /// with `config` (its listen address, keys file and chain endpoints are
    /// filled in here).
    fn binary(mut config: relayer::RelayerConfig, grpc: &str, rpc: &str) -> anyhow::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir();
        let stem = format!("bench-relayer-{}-{}", std::process::id(), rand_suffix());
        let keys = dir.join(format!("{stem}-keys.yaml"));
        std::fs::write(
            &keys,
            format!("keys: [\"{}\"]\n", hex::encode(SUPPLIER_KEY)),
        )?;
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600))?;
        let addr = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
            probe.local_addr()?
        };
        config.listen = addr;
        config.keys_file = Some(keys.clone());
        config.chain.grpc.url = grpc.to_owned();
        config.chain.rpc.url = rpc.to_owned();
        let path = dir.join(format!("{stem}.yaml"));
        std::fs::write(&path, serde_saphyr::to_string(&config)?)?;
        let child = Command::new(env!("CARGO_BIN_EXE_pocket-relay-miner"))
            .args(["relayer", "--config"])
            .arg(&path)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("spawning pocket-relay-miner relayer")?;
        Ok(RelayerProcess {
            child,
            addr,
            files: vec![keys, path],
        })
    }

    fn cpu(&self) -> anyhow::Result<Duration> {
        process_cpu(self.child.id())
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now())
}

impl Drop for RelayerProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

// ---- CPU accounting -------------------------------------------------------

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a whole process (every thread), from `/proc/<pid>/stat`.
fn process_cpu(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may contain spaces): state is
    // field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').context("stat format")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(Duration::from_secs_f64(
        ticks as f64 / clock_ticks_per_second(),
    ))
}

/// The pid of the `redis-server` serving `port` (its process title names it).
fn redis_pid(port: u16) -> Option<u32> {
    let needle = format!(":{port}");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
        let cmd = String::from_utf8_lossy(&cmd);
        (cmd.contains("redis-server") && cmd.contains(&needle)).then_some(pid)
    })
}

struct Cpu {
    relayer: Duration,
    redis: Duration,
    us: Duration,
}

fn cpu_now(relayer: &RelayerProcess, redis: Option<u32>) -> anyhow::Result<Cpu> {
    Ok(Cpu {
        relayer: relayer.cpu()?,
        redis: redis.map(process_cpu).transpose()?.unwrap_or_default(),
        us: process_cpu(std::process::id())?,
    })
}

// ---- the pure-CPU costs of one relay ---------------------------------------

/// Per-operation CPU of the relayer's in-process work, measured on one thread.
struct Costs {
    verify: Duration,
    /// The same verification without a key cache (DESIGN §7's "ring verify,
    /// ring of 2, from wire bytes").
    verify_uncached: Duration,
    sign: Duration,
    /// The same verify and sign with the other core running the same crypto
    /// (what a saturated relayer's crypto runs beside; on this VM the two
    /// vCPUs slow each other down).
    verify_busy: Duration,
    sign_busy: Duration,
    decode_and_hash: Duration,
    build_response: Duration,
    mine: Duration,
}

/// Wall time per call of `f` on this thread: the fastest of 8 batches (the
/// machine is shared; the minimum is the least disturbed estimate of CPU
/// cost, and the rest of the bench is idle while this runs).
fn per_op(n: usize, mut f: impl FnMut(usize)) -> Duration {
    let batch = (n / 8).max(1);
    (0..n / batch)
        .map(|b| {
            let start = Instant::now();
            for i in b * batch..(b + 1) * batch {
                f(i);
            }
            start.elapsed() / batch as u32
        })
        .min()
        .unwrap_or_default()
}

fn measure_costs(requests: &[Bytes], ring: &[[u8; 33]]) -> Costs {
    let n = requests.len().min(2_000);
    let decoded: Vec<protocol::RelayRequest> = requests[..n]
        .iter()
        .map(|b| protocol::RelayRequest::decode_bytes(b).unwrap())
        .collect();
    let hashes: Vec<[u8; 32]> = decoded.iter().map(|r| r.signable_hash()).collect();
    let cache = rings::KeyCache::default();
    for k in ring {
        cache.prepare(k).unwrap();
    }
    let supplier = pk(&SUPPLIER_KEY);
    let header = decoded[0].meta.session_header.clone().unwrap();
    let payload = protocol::pb::sdk::types::PokthttpResponse {
        status_code: 200,
        body_bz: BACKEND_BODY.as_bytes().to_vec(),
        ..Default::default()
    };
    let response = |i: usize| {
        let mut p = payload.clone();
        p.body_bz.extend_from_slice(&i.to_be_bytes());
        let mut res = protocol::RelayResponse::new(header.clone(), p.encode_to_vec());
        res.meta.supplier_operator_signature = vec![0; 64];
        res
    };
    let verify = per_op(n, |i| {
        rings::verify_ring_signature(&decoded[i].meta.signature, &hashes[i], ring, Some(&cache))
            .unwrap();
    });
    let verify_uncached = per_op(n / 4, |i| {
        rings::verify_ring_signature(&decoded[i].meta.signature, &hashes[i], ring, None).unwrap();
    });
    let sign = per_op(n, |i| {
        let mut msg = hashes[i];
        msg[0] ^= 1;
        std::hint::black_box(supplier.sign_response(&msg).unwrap());
    });
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (verify_busy, sign_busy) = std::thread::scope(|scope| {
        let busy = scope.spawn(|| {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::hint::black_box(rings::verify_ring_signature(
                    &decoded[i % n].meta.signature,
                    &hashes[i % n],
                    ring,
                    Some(&cache),
                ))
                .ok();
                i += 1;
            }
        });
        let verify = per_op(n, |i| {
            rings::verify_ring_signature(
                &decoded[i].meta.signature,
                &hashes[i],
                ring,
                Some(&cache),
            )
            .unwrap();
        });
        let sign = per_op(n, |i| {
            let mut msg = hashes[i];
            msg[0] ^= 1;
            std::hint::black_box(supplier.sign_response(&msg).unwrap());
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        busy.join().unwrap();
        (verify, sign)
    });
    let decode_and_hash = per_op(n, |i| {
        let r = protocol::RelayRequest::decode_bytes(&requests[i]).unwrap();
        r.validate_basic().unwrap();
        std::hint::black_box(r.signable_hash());
    });
    let build_response = per_op(n, |i| {
        let res = response(i);
        std::hint::black_box(res.signable_hash());
        std::hint::black_box(res.encode_to_vec());
    });
    let responses: Vec<_> = (0..n).map(response).collect();
    let mine = per_op(n, |i| {
        let bytes = protocol::relay::mined_relay_bytes(&decoded[i], &responses[i]);
        let hash = protocol::relay::relay_hash(&bytes);
        let m = protocol::pb::relayminer::v1::MinedRelay {
            relay_hash: hash.to_vec(),
            relay_bytes: bytes,
            ..Default::default()
        };
        std::hint::black_box(m.encode_to_vec());
    });
    Costs {
        verify,
        verify_uncached,
        sign,
        verify_busy,
        sign_busy,
        decode_and_hash,
        build_response,
        mine,
    }
}

/// Client-side CPU of publishing one mined relay (one XADD through the
/// store's publisher, fred pool, 32 in flight), measured on this process
/// while it does nothing else.
async fn publish_cost(redis: &store::RedisConfig, sample: &Bytes) -> anyhow::Result<Duration> {
    const N: usize = 20_000;
    let pool = store::connect_pool(redis).await?;
    let keys = store::Keys::new(&redis.namespace)?;
    let publisher = std::sync::Arc::new(store::streams::RelayPublisher::new(pool, keys, 1_000_000));
    let req = protocol::RelayRequest::decode_bytes(sample)?;
    let mut res = protocol::RelayResponse::new(
        req.meta.session_header.clone().unwrap_or_default(),
        BACKEND_BODY.as_bytes().to_vec(),
    );
    res.meta.supplier_operator_signature = vec![1; 64];
    let bytes = protocol::relay::mined_relay_bytes(&req, &res);
    let mined = std::sync::Arc::new(protocol::pb::relayminer::v1::MinedRelay {
        relay_hash: protocol::relay::relay_hash(&bytes).to_vec(),
        relay_bytes: bytes,
        supplier_operator_address: "publish-cost-bench".into(),
        ..Default::default()
    });
    let before = process_cpu(std::process::id())?;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (publisher, mined) = (publisher.clone(), mined.clone());
        tasks.spawn(async move {
            for _ in 0..N / 32 {
                publisher.publish(&mined).await?;
            }
            Ok::<_, store::Error>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let cpu = process_cpu(std::process::id())? - before;
    Ok(cpu / (N / 32 * 32) as u32)
}

// ---- the parent -----------------------------------------------------------

/// `(sum, count)` of the relayer's per-stage wall-time histograms.
async fn stage_totals(relayer: std::net::SocketAddr) -> BTreeMap<String, (f64, f64)> {
    use http_body_util::{BodyExt, Empty};
    let client: hyper_util::client::legacy::Client<_, Empty<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let mut out = BTreeMap::new();
    let Ok(uri) = format!("http://{relayer}/metrics").parse::<http::Uri>() else {
        return out;
    };
    let Ok(resp) = client.get(uri).await else {
        return out;
    };
    let Ok(body) = resp.into_body().collect().await else {
        return out;
    };
    let text = String::from_utf8_lossy(&body.to_bytes()).into_owned();
    let value = |name: &str, stage: &str| -> Option<f64> {
        text.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?;
            let rest = rest.strip_prefix(&format!("{{stage=\"{stage}\"}} "))?;
            rest.trim().parse().ok()
        })
    };
    for stage in ["pre_backend", "backend", "post_backend"] {
        if let (Some(sum), Some(count)) = (
            value("relayer_relay_duration_seconds_sum", stage),
            value("relayer_relay_duration_seconds_count", stage),
        ) {
            out.insert(stage.to_owned(), (sum, count));
        }
    }
    out
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn check_all_ok(what: &str, r: &LoadReport) -> anyhow::Result<()> {
    if r.failed() > 0 || r.ok == 0 {
        anyhow::bail!(
            "{what}: {} ok, {} failed: {:?}",
            r.ok,
            r.failed(),
            r.failures
        );
    }
    Ok(())
}

/// One timed run against a child: the report and the CPU it cost.
struct Measured {
    report: LoadReport,
    relayer_cpu: Duration,
    redis_cpu: Duration,
    us_cpu: Duration,
}

impl Measured {
    /// CPU per OK relay, in µs.
    fn per_relay(&self, cpu: Duration) -> f64 {
        us(cpu) / self.report.ok.max(1) as f64
    }
}

async fn measure(
    child: &RelayerProcess,
    redis_pid: Option<u32>,
    sender: &relay::send::Sender,
    verifier: &relay::verify::Verifier,
    requests: Vec<Bytes>,
    plan: &Plan,
) -> anyhow::Result<Measured> {
    let before = cpu_now(child, redis_pid)?;
    let report = relay::load::run(sender, verifier, requests, plan).await?;
    let after = cpu_now(child, redis_pid)?;
    Ok(Measured {
        report,
        relayer_cpu: after.relayer - before.relayer,
        redis_cpu: after.redis - before.redis,
        us_cpu: after.us - before.us,
    })
}

/// Starts the servers under test.
struct Launcher {
    /// `grpc rpc redis_url namespace backend` for re-executed children.
    spec: String,
    grpc: String,
    rpc: String,
    redis: store::RedisConfig,
    backend: std::net::SocketAddr,
    /// Run the relayer as the production binary (else re-executed in-process code).
    binary: bool,
}

impl Launcher {
    fn start(&self, mode: Mode) -> anyhow::Result<RelayerProcess> {
        match mode {
            Mode::Full | Mode::NoMeter if self.binary => {
                let mut config = relayer_config(self.redis.clone(), self.backend);
                config.meter.enabled = mode == Mode::Full;
                RelayerProcess::binary(config, &self.grpc, &self.rpc)
            }
            _ => RelayerProcess::reexec(mode, &self.spec),
        }
    }
}

/// A child in `mode`, warmed up with `warm`, then loaded with `requests`.
async fn ablation(
    mode: Mode,
    launcher: &Launcher,
    redis_pid: Option<u32>,
    verifier: &relay::verify::Verifier,
    warm: Vec<Bytes>,
    requests: Vec<Bytes>,
    plan: &Plan,
) -> anyhow::Result<Measured> {
    let child = launcher.start(mode)?;
    wait_ready(child.addr, Duration::from_secs(60)).await?;
    let sender = relay::send::Sender::new(
        &format!("http://{}/", child.addr),
        "POST",
        RpcKind::Jsonrpc,
        Duration::from_secs(10),
        plan.concurrency,
    )?;
    let warm = relay::load::run(&sender, verifier, warm, plan).await?;
    check_all_ok(mode.name(), &warm)?;
    let m = measure(&child, redis_pid, &sender, verifier, requests, plan).await?;
    check_all_ok(mode.name(), &m.report)?;
    Ok(m)
}

async fn parent() -> anyhow::Result<()> {
    let seconds: u64 = env_or("BENCH_SECONDS", 10);
    let requests_n: usize = env_or("BENCH_REQUESTS", 30_000);
    let concurrency: usize = env_or("BENCH_CONCURRENCY", 32);
    let rate_seconds: u64 = env_or("BENCH_RATE_SECONDS", 10);
    let split_seconds: u64 = env_or("BENCH_SPLIT_SECONDS", 4);
    let rate_n = (RATE as usize) * rate_seconds as usize;
    // The no-meter relayer runs for `split_seconds`; sign enough for 4,000/s.
    let split_n = 4_000 * split_seconds as usize;
    let split_warm = 500;
    // The crypto-only server runs as long; it is faster.
    let crypto_n = 6_000 * split_seconds as usize;

    let load_average = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let redis = store::testing::RedisServer::start()?;
    let redis_config = redis.config();
    let redis_pid = redis_pid(redis.port());
    let cancel = CancellationToken::new();
    let _stop = cancel.clone().drop_guard();
    let sim = start_sim(genesis(1 << 60, "http://127.0.0.1:1/"), &cancel).await;
    let backend = spawn_backend(&cancel).await;
    let spec = format!(
        "{} {} {} {} {backend}",
        sim.grpc_url(),
        sim.rpc_url(),
        redis_config.url,
        redis_config.namespace
    );
    let launcher = Launcher {
        spec,
        grpc: sim.grpc_url(),
        rpc: sim.rpc_url(),
        redis: redis_config.clone(),
        backend,
        binary: std::env::var("BENCH_RELAYER").map_or(true, |v| v != "inprocess"),
    };
    let relayer = launcher.start(Mode::Full)?;
    wait_ready(relayer.addr, Duration::from_secs(60))
        .await
        .context("the relayer did not become ready (BENCH_RELAYER=inprocess runs the relayer library code in a re-executed child instead of the binary)")?;

    // The relay client's own steps: session, ring, signer, sender, verifier.
    let query = chain::QueryClient::new(
        &chain::GrpcConfig {
            url: sim.grpc_url(),
            ..Default::default()
        },
        chain::Metrics::new(&prometheus::Registry::new())?,
    )?;
    let target =
        relay::target::resolve(&query, &addr(&APP_KEY), "anvil", None, 0, RpcKind::Jsonrpc).await?;
    let signer = Signer {
        key: relay::keys::SigningKey::from_hex(&hex::encode(GATEWAY_KEY), "gateway")?,
        ring: target.ring.clone(),
    };
    let url = format!("http://{}/", relayer.addr);
    let payload = Payload::new(
        "POST",
        &url,
        "/",
        br#"{"jsonrpc":"2.0","method":"eth_blockNumber","params":[],"id":1}"#.to_vec(),
    );
    let verifier =
        relay::verify::Verifier::new(target.header.clone(), target.supplier_pubkey, true);
    let sender = relay::send::Sender::new(
        &url,
        "POST",
        RpcKind::Jsonrpc,
        Duration::from_secs(10),
        concurrency,
    )?;

    let total = WARMUP + requests_n + rate_n + split_warm + split_n + crypto_n;
    eprintln!("signing {total} distinct requests on every core…");
    let signing = Instant::now();
    let mut all = {
        let (t, p, s) = (target.clone(), payload.clone(), signer.clone());
        tokio::task::spawn_blocking(move || relay::sign::sign_many(&t, &p, &s, 0, total)).await??
    };
    eprintln!("signed in {:.1} s", signing.elapsed().as_secs_f64());
    let crypto_requests = all.split_off(WARMUP + requests_n + rate_n + split_warm + split_n);
    let split_requests = all.split_off(WARMUP + requests_n + rate_n + split_warm);
    let split_warmup = all.split_off(WARMUP + requests_n + rate_n);
    let rate_requests = all.split_off(WARMUP + requests_n);
    let timed = all.split_off(WARMUP);
    let warmup = all;

    eprintln!("measuring ring verify and response sign on one thread…");
    let costs = {
        let (reqs, ring) = (timed.clone(), target.ring.clone());
        tokio::task::spawn_blocking(move || measure_costs(&reqs, &ring)).await?
    };

    let publish = publish_cost(&redis_config, &timed[0]).await?;

    let closed = |duration| Plan {
        concurrency,
        duration,
        rps: None,
        verify: VerifyMode::After,
        progress: false,
    };
    let warm =
        relay::load::run(&sender, &verifier, warmup, &closed(Duration::from_secs(30))).await?;
    check_all_ok("warm-up", &warm)?;

    eprintln!("throughput: {requests_n} relays at concurrency {concurrency}, at most {seconds} s…");
    let stages_before = stage_totals(relayer.addr).await;
    let run = measure(
        &relayer,
        redis_pid,
        &sender,
        &verifier,
        timed,
        &closed(Duration::from_secs(seconds)),
    )
    .await?;
    check_all_ok("throughput", &run.report)?;
    let stages_after = stage_totals(relayer.addr).await;

    eprintln!("fixed rate: {RATE} relays/s for {rate_seconds} s…");
    let rated = measure(
        &relayer,
        redis_pid,
        &sender,
        &verifier,
        rate_requests,
        &Plan {
            concurrency: 64,
            duration: Duration::from_secs(rate_seconds),
            rps: Some(RATE),
            verify: VerifyMode::After,
            progress: false,
        },
    )
    .await?;
    check_all_ok("fixed rate", &rated.report)?;
    drop(relayer);

    // Where the relayer's CPU goes: the same load against stripped servers.
    eprintln!(
        "CPU split: no-meter relayer, crypto-only, proxy and echo servers, {split_seconds} s each…"
    );
    let split_plan = closed(Duration::from_secs(split_seconds));
    let no_meter = ablation(
        Mode::NoMeter,
        &launcher,
        redis_pid,
        &verifier,
        split_warmup,
        split_requests,
        &split_plan,
    )
    .await?;
    // Stripped servers verify nothing: distinct unsigned requests will do,
    // and their replies carry a dummy signature (checked for all but that).
    let unsigned = |from: u64, n: usize| -> Vec<Bytes> {
        (0..n as u64)
            .map(|i| {
                let mut r = relay::sign::request(&target, &payload, from + i);
                r.meta.signature = vec![2; 199];
                Bytes::from(r.encode_to_vec())
            })
            .collect()
    };
    let mut crypto_requests = crypto_requests;
    let crypto_warm = crypto_requests.split_off(crypto_requests.len() - split_warm);
    let crypto = ablation(
        Mode::Crypto,
        &launcher,
        redis_pid,
        &verifier,
        crypto_warm,
        crypto_requests,
        &split_plan,
    )
    .await?;
    let lenient =
        relay::verify::Verifier::new(target.header.clone(), target.supplier_pubkey, false);
    let big = 40_000 * split_seconds as usize;
    let proxy = ablation(
        Mode::Proxy,
        &launcher,
        redis_pid,
        &lenient,
        unsigned(10_000_000, 1_000),
        unsigned(11_000_000, big),
        &split_plan,
    )
    .await?;
    let echo = ablation(
        Mode::Echo,
        &launcher,
        redis_pid,
        &lenient,
        unsigned(20_000_000, 1_000),
        unsigned(21_000_000, big),
        &split_plan,
    )
    .await?;

    // ---- report ----
    let r = &run.report;
    let crypto_cost = costs.verify + costs.sign;
    let relayer_us = run.per_relay(run.relayer_cpu);
    let ratio = relayer_us / us(crypto_cost);
    println!();
    println!("relayer bench (eager validation, meter on, every relay mined and published)");
    println!(
        "  relayer: {} (its own process); load generator (the relay client's engine), backend and chainsim: this process; redis-server: its own",
        if launcher.binary {
            "`pocket-relay-miner relayer --config …`"
        } else {
            "the relayer library re-executed in a child (BENCH_RELAYER=inprocess)"
        }
    );
    println!("  load average at start: {load_average}");
    println!();
    println!(
        "throughput  {:.0} relays/s   ({} ok of {} pre-signed, {:.2} s, concurrency {concurrency}; target ≥ 2,500)",
        r.ok_per_second(),
        r.ok,
        r.planned,
        r.elapsed.as_secs_f64()
    );
    println!(
        "latency     p50 {} · p95 {} · p99 {} · max {}",
        ms(r.latency_at(0.5)),
        ms(r.latency_at(0.95)),
        ms(r.latency_at(0.99)),
        ms(r.latency_max())
    );
    println!(
        "relayer CPU {:.3} s per 1,000 relays ({relayer_us:.0} µs/relay)",
        relayer_us / 1e3
    );
    println!(
        "crypto      {:.3} s per 1,000 (ring verify, ring of 2 from wire bytes, warm cache {:.0} µs + response sign {:.0} µs)",
        us(crypto_cost) / 1e3,
        us(costs.verify),
        us(costs.sign)
    );
    println!("ratio       {ratio:.2} × (verify + sign)   (target ≤ 1.30)");
    let uncached = costs.verify_uncached + costs.sign;
    println!(
        "uncached    {:.3} s per 1,000 (verify without key cache {:.0} µs + sign): ratio {:.2} × (DESIGN §7's \"ring verify, from wire bytes\")",
        us(uncached) / 1e3,
        us(costs.verify_uncached),
        relayer_us / us(uncached).max(1.0)
    );
    let crypto_busy = costs.verify_busy + costs.sign_busy;
    println!(
        "crypto busy {:.3} s per 1,000 with the other core running the same crypto (verify {:.0} µs + sign {:.0} µs): ratio {:.2} × — the like-for-like figure, as a saturated relayer's crypto runs beside a busy core",
        us(crypto_busy) / 1e3,
        us(costs.verify_busy),
        us(costs.sign_busy),
        relayer_us / us(crypto_busy).max(1.0)
    );
    println!(
        "elsewhere   redis-server {:.0} µs/relay · load generator + backend {:.0} µs/relay",
        run.per_relay(run.redis_cpu),
        run.per_relay(run.us_cpu)
    );
    let stage_line: Vec<String> = stages_after
        .iter()
        .filter_map(|(k, (sum, count))| {
            let (s0, c0) = stages_before.get(k).copied().unwrap_or_default();
            (count > &c0).then(|| format!("{k} {:.0} µs", (sum - s0) / (count - c0) * 1e6))
        })
        .collect();
    if !stage_line.is_empty() {
        println!(
            "stages      mean wall time in the relayer (queueing included): {}",
            stage_line.join(" · ")
        );
    }
    println!();
    let rr = &rated.report;
    println!(
        "at {RATE} relays/s  p50 {} · p95 {} · p99 {} · max {}   ({} ok, {:.0} relays/s, {} sends > 1 ms late; target p99 ≤ 5 ms)",
        ms(rr.latency_at(0.5)),
        ms(rr.latency_at(0.95)),
        ms(rr.latency_at(0.99)),
        ms(rr.latency_max()),
        rr.ok,
        rr.ok_per_second(),
        rr.behind_schedule
    );
    println!(
        "            relayer CPU {:.0} µs/relay at this rate",
        rated.per_relay(rated.relayer_cpu)
    );
    println!();
    let nm = no_meter.per_relay(no_meter.relayer_cpu);
    let px = proxy.per_relay(proxy.relayer_cpu);
    let ec = echo.per_relay(echo.relayer_cpu);
    let cr = crypto.per_relay(crypto.relayer_cpu);
    println!("CPU split   per relay, each server saturated at concurrency {concurrency}:");
    println!(
        "  echo       {ec:>4.0} µs  HTTP server + decode request + encode reply ({:.0} relays/s)",
        echo.report.ok_per_second()
    );
    println!(
        "  crypto     {cr:>4.0} µs  echo + ring verify + response sign: {:.0} µs under load vs {:.0} µs on an idle core ({:.0} relays/s)",
        cr - ec,
        us(crypto_cost),
        crypto.report.ok_per_second()
    );
    println!(
        "  proxy      {px:>4.0} µs  echo + the relayer's backend client: {:.0} µs ({:.0} relays/s)",
        px - ec,
        proxy.report.ok_per_second()
    );
    println!(
        "  no meter   {nm:>4.0} µs  the relayer without meter: beyond echo + client + crypto-under-load, {:.0} µs for validation glue, chain cache, mining, publish ({:.0} relays/s; redis {:.0} µs/relay)",
        nm - px - (cr - ec),
        no_meter.report.ok_per_second(),
        no_meter.per_relay(no_meter.redis_cpu)
    );
    println!(
        "             of which one XADD publish, client side alone (fred): {:.0} µs",
        us(publish)
    );
    println!(
        "  full       {relayer_us:>4.0} µs  + meter (a Redis reservation per ≤ 32 relays): {:.0} µs (redis {:.0} µs/relay)",
        relayer_us - nm,
        run.per_relay(run.redis_cpu)
    );
    println!(
        "  pure CPU of the in-process steps, one thread: decode + validate + signable hash {:.1} µs · response build + hash + encode {:.1} µs · mined relay bytes + hash + encode {:.1} µs",
        us(costs.decode_and_hash),
        us(costs.build_response),
        us(costs.mine)
    );
    println!();
    println!(
        "verified    {} supplier signatures (every reply of the relayer, after each timed phase)",
        warm.signatures_checked
            + r.signatures_checked
            + rr.signatures_checked
            + no_meter.report.signatures_checked
            + crypto.report.signatures_checked
    );
    Ok(())
}
