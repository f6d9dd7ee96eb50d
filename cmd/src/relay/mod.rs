//! `pocket-relay-miner relay`: a gateway-side client that sends real,
//! correctly signed relays to a relayer and checks every answer — one relay,
//! or a load test operators can trust (every request signed separately before
//! the timed phase, none sent twice, every reply verified).
//!
//! Stages, in request order:
//! - [`keys`]: the signing key (gateway or application), from a keys file or hex.
//! - [`target`]: what the chain says: the session, the supplier, its endpoint
//!   and public key, the application's ring (signatures.md §2.1).
//! - [`sign`]: building `RelayRequest`s and ring-signing each one.
//! - [`send`]: one HTTP relay (transports.md §2), timed.
//! - [`verify`]: the checks PATH makes on a reply, and a few more.
//! - [`load`]: the load test engine and its report.
//! - [`simulate`]: simulated relays (`--simulate`): no chain session, a ring
//!   pinned on the relayer.
//!
//! The result is printed as text or, with `--output json`, as one JSON
//! object (see [`render_json`]).
//!
//! The client does not restrict where relays go; tests and benches send only
//! to loopback.

pub mod keys;
pub mod load;
pub mod send;
pub mod sign;
pub mod simulate;
pub mod target;
pub mod verify;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use load::{LoadReport, Plan, VerifyMode};
use send::Sender;
use sign::{Payload, Signer};
use target::{RpcKind, Target};
use verify::{Failure, Verified, Verifier};

/// Most requests one load test may prepare (they are signed and held in
/// memory before the timed phase).
pub const MAX_COUNT: u64 = 1_000_000;

/// Send a relay, or a load test, to a relayer: signed with a gateway or
/// application key, every reply verified against the supplier's on-chain key.
#[derive(Debug, Clone, clap::Args)]
pub struct RelayArgs {
    /// RPC type of the relay (sent as the `Rpc-Type` header).
    #[arg(value_enum)]
    pub rpc_type: RpcKind,
    /// Chain gRPC endpoint (sessions, applications, accounts).
    #[arg(long, default_value = "http://127.0.0.1:9090")]
    pub grpc_url: String,
    /// Service id, e.g. `anvil`.
    #[arg(long)]
    pub service: String,
    /// Application address; default: the signing key's own (an application
    /// signing for itself).
    #[arg(long)]
    pub app: Option<String>,
    /// Supplier operator address; default: the session's first supplier.
    #[arg(long)]
    pub supplier: Option<String>,
    /// Relayer URL; default: the supplier's endpoint staked for this RPC type.
    #[arg(long)]
    pub relayer_url: Option<String>,
    /// Keys file with the signing key(s): `keys: ["<64 hex>", ...]`, mode 600.
    #[arg(long, conflicts_with = "key_hex", required_unless_present = "key_hex")]
    pub keys_file: Option<PathBuf>,
    /// Signing key as 64 hex characters. Other local users can read it in the
    /// process list: use it only for throwaway keys.
    #[arg(long)]
    pub key_hex: Option<String>,
    /// Address of the key that signs; default: the first key in the ring,
    /// gateways before the application.
    #[arg(long)]
    pub signer: Option<String>,
    /// Height whose session is used (0 = the latest block).
    #[arg(long, default_value_t = 0)]
    pub height: i64,
    /// HTTP method of the backend request; default POST for jsonrpc, GET otherwise.
    #[arg(long)]
    pub method: Option<String>,
    /// Path and query of the backend request, e.g. `/status` (REST, CometBFT).
    #[arg(long, default_value = "/")]
    pub path: String,
    /// Body of the backend request; default: an `eth_blockNumber` call for
    /// jsonrpc, empty otherwise. A JSON-RPC `"id"` is replaced per request.
    #[arg(long)]
    pub data: Option<String>,
    /// Deadline of one relay (connect, send, whole reply).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// When replies are checked: inline, after the timed phase, or off
    /// (decode only, no supplier signature check).
    #[arg(long, value_enum, default_value_t = VerifyMode::Inline)]
    pub verify: VerifyMode,
    /// Same as `--verify off`.
    #[arg(long, conflicts_with = "verify")]
    pub no_verify: bool,
    /// How the result is printed on stdout (progress and warnings go to
    /// stderr either way).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Load test options.
    #[command(flatten)]
    pub load: LoadArgs,
    /// Simulated-relay options.
    #[command(flatten)]
    pub sim: simulate::SimArgs,
}

/// How the result is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// For people.
    Text,
    /// One JSON object (see `render_json`).
    Json,
}

/// A load test: bounded by `--count` and by `--duration`, whichever comes first.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// Run a load test instead of sending one relay.
    #[arg(long)]
    pub load_test: bool,
    /// Relays to send, each signed separately before the timed phase (at most 1,000,000).
    #[arg(long, default_value_t = 1000, requires = "load_test")]
    pub count: u64,
    /// Longest time the load runs.
    #[arg(long, default_value = "60s", value_parser = parse_duration, requires = "load_test")]
    pub duration: Duration,
    /// Relays in flight at once.
    #[arg(long, default_value_t = 16, requires = "load_test")]
    pub concurrency: usize,
    /// Fixed send rate in relays/s (at most `--concurrency` in flight);
    /// default: as fast as the concurrency allows.
    #[arg(long, requires = "load_test")]
    pub rps: Option<f64>,
    /// Extra relays sent before the timed phase and left out of the figures
    /// (warms connections and the relayer's caches).
    #[arg(long, default_value_t = 0, requires = "load_test")]
    pub warmup: u64,
}

/// What a run found.
#[derive(Debug, Clone)]
pub enum Report {
    /// One relay.
    Single(Box<SingleReport>),
    /// A load test.
    Load(Box<LoadSummary>),
}

/// Where the relays went and who signed them.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Relayer URL.
    pub url: String,
    /// The session and supplier.
    pub target: Target,
    /// Signer address.
    pub signer: String,
    /// Whether the signer is the application itself.
    pub signer_is_app: bool,
    /// Ring size used for signing.
    pub ring_size: usize,
    /// The simulation key id, for simulated relays.
    pub simulated: Option<String>,
}

/// One relay's outcome.
#[derive(Debug, Clone)]
pub struct SingleReport {
    /// Where it went.
    pub info: RunInfo,
    /// Round trip.
    pub latency: Option<Duration>,
    /// Verified payload, or why not.
    pub outcome: Result<Verified, Failure>,
}

/// A load test's outcome.
#[derive(Debug, Clone)]
pub struct LoadSummary {
    /// Where it went.
    pub info: RunInfo,
    /// Figures.
    pub report: LoadReport,
}

/// Runs the `relay` command: prints the result on stdout; fails (non-zero
/// exit) when any relay failed.
pub async fn run(args: RelayArgs) -> anyhow::Result<()> {
    let report = execute(&args).await?;
    match args.output {
        OutputFormat::Text => print!("{}", render(&report)),
        OutputFormat::Json => println!("{}", render_json(&report)),
    }
    match &report {
        Report::Single(s) => match &s.outcome {
            Ok(_) => Ok(()),
            Err(f) => bail!("relay failed: {f}"),
        },
        Report::Load(l) => {
            let failed = l.report.failed();
            if failed > 0 {
                bail!("{failed} of {} relays failed", l.report.sent);
            }
            if l.report.ok == 0 {
                bail!("no relay was sent");
            }
            Ok(())
        }
    }
}

/// Does the work of [`run`] without printing the result.
pub async fn execute(args: &RelayArgs) -> anyhow::Result<Report> {
    let keys = match (&args.keys_file, &args.key_hex) {
        (Some(path), _) => keys::load_keys_file(path)?,
        (None, Some(hex)) => vec![keys::SigningKey::from_hex(hex, "--key-hex")?],
        (None, None) => bail!("give the signing key with --keys-file or --key-hex"),
    };
    let verify = if args.no_verify {
        VerifyMode::Off
    } else {
        args.verify
    };
    let (target, key, ring, signer_is_app) = if args.sim.simulate {
        simulated_target(args, keys, verify).await?
    } else {
        chain_target(args, keys).await?
    };
    let url = args
        .relayer_url
        .clone()
        .or_else(|| target.endpoint.clone())
        .with_context(|| {
            format!(
                "supplier {} has no endpoint for {}; give --relayer-url",
                target.supplier, args.service
            )
        })?;
    let method = args.method.clone().unwrap_or_else(|| {
        match args.rpc_type {
            RpcKind::Jsonrpc => "POST",
            RpcKind::Rest | RpcKind::Cometbft => "GET",
        }
        .to_owned()
    });
    let body = args
        .data
        .clone()
        .map(String::into_bytes)
        .unwrap_or_else(|| match args.rpc_type {
            RpcKind::Jsonrpc => {
                br#"{"jsonrpc":"2.0","method":"eth_blockNumber","params":[],"id":1}"#.to_vec()
            }
            RpcKind::Rest | RpcKind::Cometbft => Vec::new(),
        });
    let base = target.endpoint.clone().unwrap_or_else(|| url.clone());
    let payload = Payload::new(&method, &base, &args.path, body);
    let verifier = Verifier::new(
        target.header.clone(),
        target.supplier_pubkey,
        verify != VerifyMode::Off,
    );
    let concurrency = if args.load.load_test {
        args.load.concurrency
    } else {
        1
    };
    let mut sender = Sender::new(&url, &method, args.rpc_type, args.timeout, concurrency)?;
    if let Some(id) = &args.sim.sim_key_id {
        sender = sender.with_header(simulate::KEY_ID_HEADER, id)?;
    }
    let signer = Signer { key, ring };
    let info = RunInfo {
        url: sender.url(),
        ring_size: signer.ring.len(),
        signer: signer.key.address.clone(),
        signer_is_app,
        target,
        simulated: args.sim.sim_key_id.clone(),
    };

    if !args.load.load_test {
        let body = sign::sign_many(&info.target, &payload, &signer, 0, 1)?
            .pop()
            .context("one request was signed")?;
        let (latency, outcome) = match sender.send(body).await {
            Ok(reply) => (Some(reply.latency), verifier.check(&reply)),
            Err(f) => (None, Err(f)),
        };
        return Ok(Report::Single(Box::new(SingleReport {
            info,
            latency,
            outcome,
        })));
    }

    let load = &args.load;
    if load.count == 0 || load.count > MAX_COUNT {
        bail!("--count must be 1..={MAX_COUNT}");
    }
    if load.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let total = usize::try_from(load.count + load.warmup).context("--count too large")?;
    eprintln!(
        "signing {total} requests with {} ({})…",
        signer.key.address,
        if signer_is_app {
            "application"
        } else {
            "gateway"
        }
    );
    let signing = {
        let (target, payload, signer) = (info.target.clone(), payload.clone(), signer.clone());
        tokio::task::spawn_blocking(move || sign::sign_many(&target, &payload, &signer, 0, total))
    };
    let mut requests = signing.await.context("the signing task panicked")??;
    let timed = requests.split_off(usize::try_from(load.warmup).context("--warmup too large")?);
    let plan = Plan {
        concurrency: load.concurrency,
        duration: load.duration,
        rps: load.rps,
        verify,
        progress: true,
    };
    if !requests.is_empty() {
        eprintln!("warming up with {} relays…", requests.len());
        let warm = load::run(
            &sender,
            &verifier,
            requests,
            &Plan {
                rps: None,
                progress: false,
                ..plan.clone()
            },
        )
        .await?;
        if warm.failed() > 0 {
            eprintln!(
                "warning: {} warm-up relays failed: {}",
                warm.failed(),
                describe_failures(&warm)
            );
        }
    }
    let report = load::run(&sender, &verifier, timed, &plan).await?;
    Ok(Report::Load(Box::new(LoadSummary { info, report })))
}

/// The session and supplier from the chain, the signer among `keys` and
/// the ring it signs with.
async fn chain_target(
    args: &RelayArgs,
    keys: Vec<keys::SigningKey>,
) -> anyhow::Result<(Target, keys::SigningKey, Vec<[u8; 33]>, bool)> {
    let app = match (&args.app, keys.as_slice()) {
        (Some(app), _) => app.clone(),
        (None, [only]) => only.address.clone(),
        (None, _) => bail!("--app is required when the keys file holds several keys"),
    };
    let query = query_client(&args.grpc_url)?;
    let target = target::resolve(
        &query,
        &app,
        &args.service,
        args.supplier.as_deref(),
        args.height,
        args.rpc_type,
    )
    .await?;
    let app_pubkey = target
        .ring
        .first()
        .copied()
        .context("the application's ring is empty")?;
    let key = keys::choose_signer(keys, args.signer.as_deref(), &target.ring, &app_pubkey)?;
    let ring = if target.ring.contains(&key.public_key()) {
        target.ring.clone()
    } else {
        eprintln!(
            "warning: {} is neither application {app} nor one of its gateways at this session; the relayer should refuse these relays",
            key.address
        );
        vec![app_pubkey, key.public_key()]
    };
    let signer_is_app = key.public_key() == app_pubkey;
    Ok((target, key, ring, signer_is_app))
}

/// A made-up session over the pinned ring (`--simulate`); the chain is
/// asked only for the supplier's public key, and only when replies are
/// verified without `--sim-supplier-pubkey`.
async fn simulated_target(
    args: &RelayArgs,
    keys: Vec<keys::SigningKey>,
    verify: VerifyMode,
) -> anyhow::Result<(Target, keys::SigningKey, Vec<[u8; 33]>, bool)> {
    let supplier = args
        .supplier
        .as_deref()
        .context("--simulate needs --supplier")?;
    let sim = simulate::ring(&args.sim, keys, args.signer.as_deref())?;
    let supplier_pubkey = match (&args.sim.sim_supplier_pubkey, verify) {
        (Some(hex), _) => simulate::parse_pubkey(hex, "--sim-supplier-pubkey")?,
        // Never used: the signature is not checked.
        (None, VerifyMode::Off) => protocol::ring::PLACEHOLDER_RING_PUBKEY,
        (None, _) => target::pubkey(&query_client(&args.grpc_url)?, supplier)
            .await
            .with_context(|| {
                format!(
                    "the supplier's public key (from {}); give --sim-supplier-pubkey, or --no-verify",
                    args.grpc_url
                )
            })?,
    };
    let target = simulate::target(
        args.app.as_deref(),
        &args.service,
        supplier,
        &sim.ring,
        supplier_pubkey,
    )?;
    Ok((target, sim.key, sim.ring, sim.signer_is_app))
}

fn query_client(url: &str) -> anyhow::Result<chain::QueryClient> {
    let metrics =
        chain::Metrics::new(&prometheus::Registry::new()).context("chain client metrics")?;
    let grpc = chain::GrpcConfig {
        url: url.to_owned(),
        ..Default::default()
    };
    chain::QueryClient::new(&grpc, metrics).context("chain gRPC client")
}

/// The human-readable result.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let info = match report {
        Report::Single(s) => &s.info,
        Report::Load(l) => &l.info,
    };
    let h = &info.target.header;
    let who = if info.signer_is_app {
        "application"
    } else {
        "gateway"
    };
    let context = match &info.simulated {
        None => format!(
            "  session {} · app {} · service {} · blocks {}–{}\n  supplier {} at {}\n  signed by {who} {} (ring of {}; on-chain ring {})\n",
            h.session_id,
            h.application_address,
            h.service_id,
            h.session_start_block_height,
            h.session_end_block_height,
            info.target.supplier,
            info.url,
            info.signer,
            info.ring_size,
            info.target.ring_addresses.join(", "),
        ),
        Some(key_id) => format!(
            "  simulated (key id {key_id}) · session {} · app {} · service {}\n  supplier {} at {}\n  signed by {who} {} (pinned ring of {}: {})\n",
            h.session_id,
            h.application_address,
            h.service_id,
            info.target.supplier,
            info.url,
            info.signer,
            info.ring_size,
            info.target.ring_addresses.join(", "),
        ),
    };
    match report {
        Report::Single(s) => {
            let latency = s
                .latency
                .map(|d| format!(" in {}", ms(d)))
                .unwrap_or_default();
            match &s.outcome {
                Ok(v) => {
                    let _ = writeln!(out, "relay OK{latency}");
                    out.push_str(&context);
                    let _ = writeln!(
                        out,
                        "  {} · backend status {}",
                        if v.signature_checked {
                            "supplier signature verified with the on-chain key"
                        } else {
                            "supplier signature NOT checked (--verify off)"
                        },
                        v.backend_status
                    );
                    let _ = writeln!(out, "{}", String::from_utf8_lossy(&v.body));
                }
                Err(f) => {
                    let _ = writeln!(out, "relay FAILED{latency}: {f}");
                    out.push_str(&context);
                }
            }
        }
        Report::Load(l) => {
            let r = &l.report;
            let _ = writeln!(
                out,
                "load test · concurrency {} · rate {} · verify {}",
                r.plan.concurrency,
                r.plan
                    .rps
                    .map_or("unlimited".to_owned(), |x| format!("{x} relays/s")),
                match r.plan.verify {
                    VerifyMode::Inline => "inline",
                    VerifyMode::After => "after the timed phase",
                    VerifyMode::Off => "off",
                }
            );
            out.push_str(&context);
            let ended = if r.sent as usize >= r.planned {
                "every request sent"
            } else {
                "duration reached"
            };
            let _ = writeln!(
                out,
                "  relays      {} planned · {} sent · {} ok · {} failed ({ended})",
                r.planned,
                r.sent,
                r.ok,
                r.failed()
            );
            let _ = writeln!(
                out,
                "  throughput  {:.1} ok relays/s over {:.2} s",
                r.ok_per_second(),
                r.elapsed.as_secs_f64()
            );
            if r.ok > 0 {
                let _ = writeln!(
                    out,
                    "  latency     p50 {} · p90 {} · p95 {} · p99 {} · p99.9 {} · max {}",
                    ms(r.latency_at(0.50)),
                    ms(r.latency_at(0.90)),
                    ms(r.latency_at(0.95)),
                    ms(r.latency_at(0.99)),
                    ms(r.latency_at(0.999)),
                    ms(r.latency_max()),
                );
            }
            let statuses: Vec<String> = r
                .backend_statuses
                .iter()
                .map(|(s, n)| format!("{s} ×{n}"))
                .collect();
            let statuses = if statuses.is_empty() {
                "no OK relay".to_owned()
            } else {
                format!("status {}", statuses.join(" · "))
            };
            let _ = writeln!(out, "  backend     {statuses}");
            let _ = writeln!(
                out,
                "  signatures  {} supplier signatures verified",
                r.signatures_checked
            );
            if r.plan.rps.is_some() {
                let _ = writeln!(
                    out,
                    "  schedule    {} sends started > 1 ms late",
                    r.behind_schedule
                );
            }
            if r.failures.is_empty() {
                let _ = writeln!(out, "  failures    none");
            } else {
                let _ = writeln!(out, "  failures    {}", describe_failures(r));
            }
        }
    }
    out
}

/// The machine-readable result (`--output json`): one object.
///
/// Both kinds carry `mode` (`"single"` or `"load_test"`), `ok` (every relay
/// passed), `url`, `service`, `session_id`, `application`, `supplier`,
/// `signer`, `signer_is_app`, `ring_size` and `simulated` (the key id or
/// `null`). One relay adds `latency_ms`, `backend_status`, `body`,
/// `signature_checked` and `error` (`{kind, detail}` or `null`). A load test
/// adds `planned`, `sent`, `succeeded`, `failed`, `elapsed_s`,
/// `relays_per_second` (OK relays per second of the timed phase),
/// `latency_ms` (`p50`, `p90`, `p95`, `p99`, `p99_9`, `max`, `mean`; `null`
/// without an OK relay), `errors` (by kind: `{count, example}`),
/// `backend_statuses`, `signatures_checked`, `behind_schedule`,
/// `concurrency`, `rps` and `verify`.
pub fn render_json(report: &Report) -> serde_json::Value {
    use serde_json::{Map, Value, json};
    let info = match report {
        Report::Single(s) => &s.info,
        Report::Load(l) => &l.info,
    };
    let h = &info.target.header;
    let mut out = Map::new();
    let mut put = |k: &str, v: Value| {
        out.insert(k.to_owned(), v);
    };
    put(
        "mode",
        json!(match report {
            Report::Single(_) => "single",
            Report::Load(_) => "load_test",
        }),
    );
    put("url", json!(info.url));
    put("service", json!(h.service_id));
    put("session_id", json!(h.session_id));
    put("application", json!(h.application_address));
    put("supplier", json!(info.target.supplier));
    put("signer", json!(info.signer));
    put("signer_is_app", json!(info.signer_is_app));
    put("ring_size", json!(info.ring_size));
    put("simulated", json!(info.simulated));
    let millis = |d: Duration| d.as_secs_f64() * 1e3;
    match report {
        Report::Single(s) => {
            put("ok", json!(s.outcome.is_ok()));
            put("latency_ms", json!(s.latency.map(millis)));
            match &s.outcome {
                Ok(v) => {
                    put("backend_status", json!(v.backend_status));
                    put("body", json!(String::from_utf8_lossy(&v.body)));
                    put("signature_checked", json!(v.signature_checked));
                    put("error", Value::Null);
                }
                Err(f) => {
                    put("backend_status", Value::Null);
                    put("body", Value::Null);
                    put("signature_checked", json!(false));
                    put(
                        "error",
                        json!({ "kind": f.kind.to_string(), "detail": f.detail }),
                    );
                }
            }
        }
        Report::Load(l) => {
            let r = &l.report;
            put("ok", json!(r.failed() == 0 && r.ok > 0));
            put("planned", json!(r.planned));
            put("sent", json!(r.sent));
            put("succeeded", json!(r.ok));
            put("failed", json!(r.failed()));
            put("elapsed_s", json!(r.elapsed.as_secs_f64()));
            put("relays_per_second", json!(r.ok_per_second()));
            put(
                "latency_ms",
                if r.ok == 0 {
                    Value::Null
                } else {
                    json!({
                        "p50": millis(r.latency_at(0.50)),
                        "p90": millis(r.latency_at(0.90)),
                        "p95": millis(r.latency_at(0.95)),
                        "p99": millis(r.latency_at(0.99)),
                        "p99_9": millis(r.latency_at(0.999)),
                        "max": millis(r.latency_max()),
                        "mean": r.latency.mean() / 1e3,
                    })
                },
            );
            let errors: Map<String, Value> = r
                .failures
                .iter()
                .map(|(kind, (n, example))| {
                    (kind.to_string(), json!({ "count": n, "example": example }))
                })
                .collect();
            put("errors", Value::Object(errors));
            let statuses: Map<String, Value> = r
                .backend_statuses
                .iter()
                .map(|(s, n)| (s.to_string(), json!(n)))
                .collect();
            put("backend_statuses", Value::Object(statuses));
            put("signatures_checked", json!(r.signatures_checked));
            put("behind_schedule", json!(r.behind_schedule));
            put("concurrency", json!(r.plan.concurrency));
            put("rps", json!(r.plan.rps));
            put(
                "verify",
                json!(match r.plan.verify {
                    VerifyMode::Inline => "inline",
                    VerifyMode::After => "after",
                    VerifyMode::Off => "off",
                }),
            );
        }
    }
    Value::Object(out)
}

fn describe_failures(r: &LoadReport) -> String {
    r.failures
        .iter()
        .map(|(kind, (n, example))| format!("{kind} ×{n} (e.g. {example})"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime_serde::re::humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}
