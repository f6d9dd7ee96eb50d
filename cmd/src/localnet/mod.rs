//! `pocket-relay-miner localnet`: the whole network on one machine.
//!
//! Starts, all on loopback: Redis (`redis-server` as a child process on a
//! free port, or an existing server given by `--redis-url`, under a
//! namespace of its own), the chain simulator with a localnet genesis and
//! fast blocks (two services, an application per service delegating to one
//! gateway, two suppliers staked for both), two demo backends (JSON-RPC and
//! REST), relayers and miners in-process (the same start-up code as the
//! `relayer` and `miner` commands), then a traffic generator signing every
//! relay as the gateway and verifying every response, spread over both
//! services, both suppliers and every relayer.
//!
//! The traffic runs until relays were sent in `--sessions` sessions (the
//! session in progress when it starts counts as the first), or `--duration`
//! if that comes first, or Ctrl-C. The network then runs on until every
//! (session, supplier) that served relays has settled, and prints a summary.
//! Success: at least one claim settled valid and every claim of a served
//! session settled valid (none invalid, none missing a proof, none
//! unsettled). With `--keep-running` everything stays up after the summary,
//! its endpoints printed, until Ctrl-C.

mod network;
mod traffic;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use chainsim::{ProofStatus, SettlementOutcome};
use tokio_util::sync::CancellationToken;

use crate::roles;
use network::{ANVIL, GATEWAY_KEY, REST_DEMO, REST_PATH, SERVICES, SIM_KEY_ID, SUPPLIER_KEYS};

/// `localnet` options.
#[derive(Debug, Clone, clap::Args)]
pub struct LocalnetArgs {
    /// Sessions of traffic: relays are sent until this many sessions have
    /// served relays (the session in progress at the start counts as the
    /// first). Each session gives a claim and a proof per (service,
    /// supplier); the run ends once all of them settled.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub sessions: u32,
    /// Longest time the traffic runs, a cap on `--sessions` (e.g. `30s`,
    /// `2m`); default: no cap.
    #[arg(long, value_parser = crate::parse_duration)]
    pub duration: Option<Duration>,
    /// Relayer replicas (the generator spreads relays over them).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub relayers: u8,
    /// Miner replicas (supplier leases are shared among them).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub miners: u8,
    /// Suppliers, each staked for both services (each relay goes to one of
    /// them).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub suppliers: u8,
    /// Relays per second sent by the traffic generator (over both services).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=2000))]
    pub rps: u32,
    /// Time between blocks (sessions are 10 blocks).
    #[arg(long, default_value = "1s", value_parser = crate::parse_duration)]
    pub block_time: Duration,
    /// Use this Redis (e.g. `redis://127.0.0.1:6379/0`) instead of starting
    /// `redis-server`; the run uses a namespace of its own and deletes its
    /// keys at the end.
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,
    /// After the summary, leave the network up (traffic stopped), print its
    /// endpoints and wait for Ctrl-C.
    #[arg(long)]
    pub keep_running: bool,
}

/// The outcome of a run.
#[derive(Debug, Default)]
pub struct Report {
    /// Relays sent.
    pub sent: u64,
    /// Relays answered 200 with a valid supplier signature and a good
    /// backend answer: the relays served.
    pub ok: u64,
    /// Relays that failed.
    pub failed: u64,
    /// Served relays by service.
    pub by_service: BTreeMap<String, u64>,
    /// Sessions of traffic.
    pub sessions: u64,
    /// (session, supplier) pairs that served relays: each should give a claim.
    pub served_pairs: u64,
    /// Claims on chain (stored or settled).
    pub claims: u64,
    /// Relays in the claims of served (session, supplier) pairs.
    pub relays_in_claims: u64,
    /// Proofs accepted on chain and validated.
    pub proofs_valid: u64,
    /// Proofs accepted on chain that failed validation.
    pub proofs_invalid: u64,
    /// Claims settled valid (paid).
    pub settled_valid: u64,
    /// Claims expired with an invalid proof.
    pub settled_invalid: u64,
    /// Claims expired with a missing proof.
    pub settled_missing: u64,
    /// (session, supplier) pairs that served relays but never settled.
    pub unsettled: u64,
}

impl Report {
    /// Whether the run shows the network working end to end.
    pub fn success(&self) -> bool {
        self.settled_valid > 0
            && self.settled_invalid == 0
            && self.settled_missing == 0
            && self.unsettled == 0
    }
}

/// Removes the run's temporary folder.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where Redis is.
enum Redis {
    /// Our child process (stopped on drop).
    Spawned(store::testing::RedisServer),
    /// The user's server; our keys are deleted at the end.
    External(fred::prelude::Pool),
}

/// One endpoint of the running network, for `--keep-running`.
struct Endpoint {
    name: String,
    url: String,
    what: String,
}

/// A namespace no other run uses: `localnet-<pid>-<time>` (≤ 32 chars).
fn unique_namespace() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    format!(
        "localnet-{:x}-{:x}",
        std::process::id(),
        nanos & 0xffff_ffff
    )
}

/// Runs the local network; `Ok(true)` when every claim of a served session
/// settled valid and at least one did.
pub async fn run(args: LocalnetArgs) -> anyhow::Result<bool> {
    let wall = Instant::now();
    let cancel = CancellationToken::new();
    let _stop_all = cancel.clone().drop_guard();
    let suppliers = usize::from(args.suppliers);
    let fmt = |d: Duration| humantime_serde::re::humantime::format_duration(d).to_string();
    println!(
        "localnet: {} services, {suppliers} supplier(s), {} relayer(s), {} miner(s); {} relays/s for {} session(s){}; blocks every {}",
        SERVICES.len(),
        args.relayers,
        args.miners,
        args.rps,
        args.sessions,
        args.duration
            .map(|d| format!(" (at most {})", fmt(d)))
            .unwrap_or_default(),
        fmt(args.block_time),
    );
    let mut endpoints = Vec::new();

    // Redis.
    let (redis, redis_cfg) = match &args.redis_url {
        None => {
            let server = tokio::task::spawn_blocking(store::testing::RedisServer::start)
                .await
                .context("starting redis-server")?
                .context("starting redis-server (is it installed? `make deps` installs it)")?;
            let mut cfg = server.config();
            cfg.namespace = "localnet".into();
            (Redis::Spawned(server), cfg)
        }
        Some(url) => {
            let cfg = store::RedisConfig {
                url: url.clone(),
                namespace: unique_namespace(),
                ..Default::default()
            };
            cfg.validate()
                .map_err(|e| anyhow::anyhow!("--redis-url: {e}"))?;
            let (pool, _) = roles::connect_redis(&cfg).await?;
            (Redis::External(pool), cfg)
        }
    };
    let redis_url = store::redact(&redis_cfg.url);
    println!(
        "  redis      {redis_url} (namespace {})",
        redis_cfg.namespace
    );
    endpoints.push(Endpoint {
        name: "redis".into(),
        url: redis_url,
        what: format!("namespace {}", redis_cfg.namespace),
    });

    // Chain.
    let sim = chainsim::ChainSim::start(
        network::genesis(suppliers)?,
        chainsim::Options {
            grpc_listen: ([127, 0, 0, 1], 0).into(),
            rpc_listen: ([127, 0, 0, 1], 0).into(),
            block_time: args.block_time,
            start_paused: false,
        },
        cancel.clone(),
    )
    .await
    .context("starting chainsim")?;
    let sim = Arc::new(sim);
    println!(
        "  chainsim   gRPC {} · RPC {} · state {}/chainsim/state",
        sim.grpc_url(),
        sim.rpc_url(),
        sim.rpc_url()
    );
    endpoints.push(Endpoint {
        name: "chainsim-grpc".into(),
        url: sim.grpc_url(),
        what: "gRPC queries and txs".into(),
    });
    endpoints.push(Endpoint {
        name: "chainsim-rpc".into(),
        url: sim.rpc_url(),
        what: format!(
            "CometBFT RPC; {} · /chainsim/state · /metrics",
            sim.websocket_url()
        ),
    });
    let mut chain_cfg = chain::ChainConfig {
        chain_id: sim.chain_id(),
        ..Default::default()
    };
    chain_cfg.grpc.url = sim.grpc_url();
    chain_cfg.rpc.url = sim.rpc_url();
    chain_cfg.block_feed.poll_interval = args.block_time.min(Duration::from_secs(1));

    // Backends and keys.
    let jsonrpc = network::spawn_jsonrpc_backend(cancel.clone()).await?;
    let rest = network::spawn_rest_backend(cancel.clone()).await?;
    println!(
        "  backends   {} http://{}/ (JSON-RPC) · {} http://{}{REST_PATH} (REST)",
        ANVIL.id, jsonrpc.addr, REST_DEMO.id, rest.addr
    );
    endpoints.push(Endpoint {
        name: format!("backend-{}", ANVIL.id),
        url: format!("http://{}/", jsonrpc.addr),
        what: "demo JSON-RPC node (POST)".into(),
    });
    endpoints.push(Endpoint {
        name: format!("backend-{}", REST_DEMO.id),
        url: format!("http://{}{REST_PATH}", rest.addr),
        what: "demo REST API (GET)".into(),
    });
    let dir = TempDir(std::env::temp_dir().join(format!("prm-localnet-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).context("creating the localnet folder")?;
    let keys_file = dir.0.join("supplier-keys.yaml");
    write_private(&keys_file, &network::keys_file_text(suppliers))?;

    // Relayers.
    let mut relayer_stops = Vec::new();
    let mut relayer_dones = Vec::new();
    let mut relayer_addrs = Vec::new();
    for i in 0..args.relayers {
        let mut cfg = relayer::RelayerConfig {
            listen: ([127, 0, 0, 1], 0).into(),
            redis: redis_cfg.clone(),
            chain: chain_cfg.clone(),
            keys_file: Some(keys_file.clone()),
            drain_timeout: Duration::from_secs(5),
            ..Default::default()
        };
        cfg.services
            .insert(ANVIL.id.into(), service(ANVIL.api, jsonrpc.addr, "/"));
        cfg.services
            .insert(REST_DEMO.id.into(), service(REST_DEMO.api, rest.addr, "/"));
        cfg.simulation = simulation()?;
        let keys = checked(cfg.validate(), cfg.keys_file.as_deref(), "relayer")?;
        let stop = CancellationToken::new();
        let h = roles::relayer::start(cfg, keys, stop.clone())
            .await
            .with_context(|| format!("starting relayer {i}"))?;
        println!(
            "  relayer {i}  http://{} (relays, /ready, /metrics)",
            h.addr
        );
        endpoints.push(Endpoint {
            name: format!("relayer-{i}"),
            url: format!("http://{}/", h.addr),
            what: "relays (POST); /health · /ready · /metrics".into(),
        });
        relayer_addrs.push(h.addr);
        relayer_stops.push(stop);
        relayer_dones.push(h.done);
    }

    // Miners.
    let mut miner_stops = Vec::new();
    let mut miner_dones = Vec::new();
    for i in 0..args.miners {
        let cfg = miner::supervisor::MinerConfig {
            listen: ([127, 0, 0, 1], 0).into(),
            redis: redis_cfg.clone(),
            chain: chain_cfg.clone(),
            keys_file: Some(keys_file.clone()),
            instance: Some(format!("localnet-miner-{i}")),
            ..Default::default()
        };
        let keys = checked(cfg.validate(), cfg.keys_file.as_deref(), "miner")?;
        let stop = CancellationToken::new();
        let h = roles::miner::start(cfg, keys, stop.clone())
            .await
            .with_context(|| format!("starting miner {i}"))?;
        println!("  miner {i}    http://{} (/ready, /metrics)", h.ops_addr);
        endpoints.push(Endpoint {
            name: format!("miner-{i}"),
            url: format!("http://{}/", h.ops_addr),
            what: "/health · /ready · /metrics".into(),
        });
        miner_stops.push(stop);
        miner_dones.push(h.done);
    }

    // Traffic, with a progress line.
    println!(
        "traffic: {} relays/s over {} services and {suppliers} supplier(s) until {} session(s) served relays{}",
        args.rps,
        SERVICES.len(),
        args.sessions,
        args.duration
            .map(|d| format!(" or {} passed", fmt(d)))
            .unwrap_or_default(),
    );
    let stats = Arc::new(traffic::Stats::new()?);
    let progress_stop = cancel.child_token();
    let progress = {
        let (sim, stats, cancel) = (sim.clone(), stats.clone(), progress_stop.clone());
        let every = (args.block_time * 2).max(Duration::from_secs(2));
        let sessions = args.sessions;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            let mut last = (Instant::now(), 0u64);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let ok = stats.ok.load(Ordering::Relaxed);
                        let rate = (ok - last.1.min(ok)) as f64 / last.0.elapsed().as_secs_f64().max(1e-3);
                        last = (Instant::now(), ok);
                        println!("{}", progress_line(wall, &sim, &stats, sessions, rate));
                    }
                    _ = cancel.cancelled() => return,
                }
            }
        })
    };
    let traffic_stop = cancel.child_token();
    let traffic = traffic::run(
        sim.clone(),
        traffic::Traffic {
            relayers: relayer_addrs.clone(),
            rps: args.rps,
            sessions: args.sessions,
            max_duration: args.duration,
        },
        stats.clone(),
        traffic_stop.clone(),
    );
    tokio::pin!(traffic);
    // On Ctrl-C the generator stops sending and waits for the relays in
    // flight, so that every relay it counts is accounted for.
    let ended = tokio::select! {
        r = &mut traffic => r?,
        _ = crate::ops::shutdown_signal() => {
            traffic_stop.cancel();
            traffic.await?
        }
    };
    println!(
        "traffic stopped: {}",
        match ended {
            traffic::Ended::Sessions => "every session asked for served relays".to_owned(),
            traffic::Ended::Duration => format!(
                "--duration reached after {} of {} session(s)",
                stats.sessions().len(),
                args.sessions
            ),
            traffic::Ended::Cancelled =>
                "interrupted; waiting for the sessions served so far to settle (Ctrl-C again to stop waiting)".to_owned(),
        }
    );

    // Settlement of every session that served relays.
    let served = stats.served();
    let mut settle_at = 0;
    for s in served.values() {
        let w = sim
            .session_windows(s.session_end)
            .context("session windows")?;
        settle_at = settle_at.max(w.settlement_height);
    }
    let mut interrupted = false;
    if settle_at > 0 {
        println!(
            "waiting for settlement at height {settle_at} (now {})",
            sim.height()
        );
        let blocks = (settle_at - sim.height()).max(0) as u32 + 3;
        let timeout = args.block_time * blocks * 3 + Duration::from_secs(30);
        let wanted: Vec<(String, String)> = served.keys().cloned().collect();
        let waited = tokio::select! {
            r = sim.wait_for("settlement of every served session", timeout, |s| {
                s.height > settle_at
                    || wanted.iter().all(|(id, sup)| {
                        s.settlements
                            .iter()
                            .any(|x| &x.session_id == id && &x.supplier_operator_address == sup)
                    })
            }) => r.map(|_| ()).map_err(|e| e.to_string()),
            _ = crate::ops::shutdown_signal() => Err("interrupted".into()),
        };
        if let Err(e) = waited {
            interrupted = e == "interrupted";
            println!("settlement wait ended early: {e}");
        }
    }
    progress_stop.cancel();
    let _ = progress.await;

    let report = report(&sim, &stats, &served);
    let backends = [
        (ANVIL.id, jsonrpc.served.load(Ordering::Relaxed)),
        (REST_DEMO.id, rest.served.load(Ordering::Relaxed)),
    ];
    print!(
        "{}",
        summary(&report, &sim, &stats, &backends, wall, &relayer_addrs)
    );

    if args.keep_running && !interrupted {
        print!("{}", endpoints_text(&endpoints, &sim, &relayer_addrs)?);
        crate::ops::shutdown_signal().await;
        println!("stopping");
    }

    // Shutdown: drain relayers, stop miners (leases released), then the rest.
    for s in relayer_stops.iter().chain(&miner_stops) {
        s.cancel();
    }
    for d in relayer_dones.into_iter().chain(miner_dones) {
        match tokio::time::timeout(Duration::from_secs(20), d).await {
            Ok(Ok(Ok(_))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "a localnet role ended with an error"),
            Ok(Err(e)) => tracing::warn!(error = %e, "a localnet role panicked"),
            Err(_) => tracing::warn!("a localnet role did not stop in time"),
        }
    }
    cancel.cancel();
    if let Ok(sim) = Arc::try_unwrap(sim) {
        let _ = tokio::time::timeout(Duration::from_secs(5), sim.join()).await;
    }
    match redis {
        Redis::Spawned(server) => drop(server),
        Redis::External(pool) => match delete_namespace(&pool, &redis_cfg.namespace).await {
            Ok(n) => println!(
                "deleted {n} key(s) of namespace {} from {}",
                redis_cfg.namespace,
                store::redact(&redis_cfg.url)
            ),
            Err(e) => println!(
                "warning: could not delete the keys of namespace {}: {e:#}",
                redis_cfg.namespace
            ),
        },
    }
    Ok(report.success())
}

/// A relayer service: `api` backend at `http://{addr}{base}`, used also when
/// a relay has no `Rpc-Type`.
fn service(
    api: network::Api,
    addr: std::net::SocketAddr,
    base: &str,
) -> relayer::config::ServiceConfig {
    let mut s = relayer::config::ServiceConfig {
        default_backend: api.backend_kind(),
        ..Default::default()
    };
    s.backends.insert(
        api.backend_kind(),
        relayer::config::BackendConfig {
            urls: vec![format!("http://{addr}{base}")],
            ..Default::default()
        },
    );
    s
}

/// Simulated relays on: key id `localnet`, the ring of the `anvil`
/// application and the gateway pinned.
fn simulation() -> anyhow::Result<relayer::config::SimulationConfig> {
    Ok(relayer::config::SimulationConfig {
        enabled: true,
        identities: vec![relayer::config::SimulationIdentity {
            key_id: SIM_KEY_ID.into(),
            app_pubkey_hex: hex::encode(network::public_key(&ANVIL.app_key)?),
            gateway_pubkeys_hex: vec![hex::encode(network::public_key(&GATEWAY_KEY)?)],
            allowed_services: Vec::new(),
            require_fresh_session_id: true,
            max_rps: 0,
        }],
        ..Default::default()
    })
}

/// Deletes every key of `namespace` (`<namespace>:*`); the count deleted.
async fn delete_namespace(pool: &fred::prelude::Pool, namespace: &str) -> anyhow::Result<u64> {
    use fred::prelude::*;
    use futures::TryStreamExt;
    let keys: Vec<Key> = pool
        .next()
        .scan_buffered(format!("{namespace}:*"), Some(500), None)
        .try_collect()
        .await
        .context("SCAN")?;
    let mut deleted = 0u64;
    // One key per command: works on a cluster too (keys of several slots).
    for key in keys {
        let n: u64 = pool.unlink(key).await.context("UNLINK")?;
        deleted += n;
    }
    Ok(deleted)
}

/// Validation of a generated configuration and its keys: any error is a bug here.
fn checked(
    validation: Result<Vec<String>, Vec<String>>,
    keys_file: Option<&std::path::Path>,
    role: &str,
) -> anyhow::Result<Vec<chain::OperatorKey>> {
    let (warnings, errors, keys) = crate::config::check(validation, keys_file);
    for w in warnings {
        tracing::debug!(role, "{w}");
    }
    anyhow::ensure!(
        errors.is_empty(),
        "generated {role} configuration is invalid: {}",
        errors.join("; ")
    );
    Ok(keys)
}

/// Writes a file readable by its owner only (keys files must not be
/// world-readable).
fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("chmod 600 {}", path.display()))?;
    }
    Ok(())
}

fn progress_line(
    wall: Instant,
    sim: &chainsim::ChainSimHandle,
    stats: &traffic::Stats,
    sessions: u32,
    rate: f64,
) -> String {
    let state = sim.state();
    let claims = claims(&state);
    let (valid, invalid, missing) = outcomes(&claims);
    let proofs = state
        .proofs
        .iter()
        .filter(|p| p.status == ProofStatus::Valid)
        .count();
    format!(
        "[{:>4}s] height {:>4} · session {}/{sessions} · {rate:.0} relays/s · sent {} ok {} errors {} · claimed {} · proven {proofs} · settled valid {valid} invalid {invalid} missing {missing}",
        wall.elapsed().as_secs(),
        state.height,
        stats.sessions().len(),
        stats.sent.load(Ordering::Relaxed),
        stats.ok.load(Ordering::Relaxed),
        stats.failed.load(Ordering::Relaxed),
        claims.len(),
    )
}

/// What the chain knows of one claim.
struct ClaimFacts {
    /// Relays in its root.
    relays: u64,
    /// How it settled, if it did.
    outcome: Option<SettlementOutcome>,
}

/// Every claim by (session id, supplier): those still stored and those
/// settled (settlement removes the stored claim).
fn claims(state: &chainsim::StateReport) -> BTreeMap<(String, String), ClaimFacts> {
    let mut out = BTreeMap::new();
    for c in &state.claims {
        out.insert(
            (c.session_id.clone(), c.supplier_operator_address.clone()),
            ClaimFacts {
                relays: c.num_relays,
                outcome: None,
            },
        );
    }
    for s in &state.settlements {
        out.insert(
            (s.session_id.clone(), s.supplier_operator_address.clone()),
            ClaimFacts {
                relays: s.num_relays,
                outcome: Some(s.outcome),
            },
        );
    }
    out
}

fn outcomes(claims: &BTreeMap<(String, String), ClaimFacts>) -> (u64, u64, u64) {
    let count =
        |o: SettlementOutcome| claims.values().filter(|c| c.outcome == Some(o)).count() as u64;
    (
        count(SettlementOutcome::Settled),
        count(SettlementOutcome::ExpiredProofInvalid),
        count(SettlementOutcome::ExpiredProofMissing),
    )
}

fn report(
    sim: &chainsim::ChainSimHandle,
    stats: &traffic::Stats,
    served: &BTreeMap<(String, String), traffic::Served>,
) -> Report {
    let state = sim.state();
    let claims = claims(&state);
    let (settled_valid, settled_invalid, settled_missing) = outcomes(&claims);
    let mut by_service = BTreeMap::new();
    for s in served.values() {
        *by_service.entry(s.service.clone()).or_default() += s.relays;
    }
    let unsettled = served
        .keys()
        .filter(|k| claims.get(*k).is_none_or(|c| c.outcome.is_none()))
        .count() as u64;
    let relays_in_claims = served
        .keys()
        .filter_map(|k| claims.get(k))
        .map(|c| c.relays)
        .sum();
    let proof = |st: ProofStatus| state.proofs.iter().filter(|p| p.status == st).count() as u64;
    Report {
        sent: stats.sent.load(Ordering::Relaxed),
        ok: stats.ok.load(Ordering::Relaxed),
        failed: stats.failed.load(Ordering::Relaxed),
        by_service,
        sessions: stats.sessions().len() as u64,
        served_pairs: served.len() as u64,
        claims: claims.len() as u64,
        relays_in_claims,
        proofs_valid: proof(ProofStatus::Valid),
        proofs_invalid: proof(ProofStatus::Invalid),
        settled_valid,
        settled_invalid,
        settled_missing,
        unsettled,
    }
}

/// The summary table.
fn summary(
    r: &Report,
    sim: &chainsim::ChainSimHandle,
    stats: &traffic::Stats,
    backends: &[(&str, u64)],
    wall: Instant,
    relayers: &[std::net::SocketAddr],
) -> String {
    let state = sim.state();
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "  {label:<30} {value}");
    };
    let list = |items: &mut dyn Iterator<Item = (String, u64)>| {
        items
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(" · ")
    };
    let sessions = stats.sessions();
    line(
        "traffic",
        format!(
            "{} session(s){} · {} services · {} relayer(s)",
            r.sessions,
            match (sessions.first(), sessions.last()) {
                (Some(first), Some(last)) => {
                    let n = protocol::session::SessionGrid::new(&sim.shared_params_at(*first))
                        .map(|g| g.blocks_per_session())
                        .unwrap_or(0);
                    format!(" (blocks {}–{last})", first - n + 1)
                }
                _ => String::new(),
            },
            SERVICES.len(),
            relayers.len(),
        ),
    );
    line("relays sent", r.sent.to_string());
    line("relays served", r.ok.to_string());
    line(
        "relays served by service",
        list(&mut SERVICES.iter().map(|s| {
            (
                s.id.to_owned(),
                r.by_service.get(s.id).copied().unwrap_or(0),
            )
        })),
    );
    line("relays failed", r.failed.to_string());
    let mut failures = String::new();
    for (kind, n) in stats.failures() {
        let _ = writeln!(failures, "    {n:>6}  {kind}");
    }
    let skipped = stats.skipped.load(Ordering::Relaxed);
    match stats.latency() {
        Some(l) => line(
            "latency p50 / p99 / max",
            format!("{} / {} / {}", ms(l.p50), ms(l.p99), ms(l.max)),
        ),
        None => line("latency p50 / p99 / max", "- (no relay served)".into()),
    }
    line(
        "backend requests",
        list(&mut backends.iter().map(|(k, n)| ((*k).to_owned(), *n))),
    );
    line("session/supplier pairs served", r.served_pairs.to_string());
    line("claims", r.claims.to_string());
    line("relays in claims", r.relays_in_claims.to_string());
    line(
        "proofs valid / invalid",
        format!("{} / {}", r.proofs_valid, r.proofs_invalid),
    );
    line("claims settled valid", r.settled_valid.to_string());
    line("claims settled invalid", r.settled_invalid.to_string());
    line("claims settled missing", r.settled_missing.to_string());
    line("served, never settled", r.unsettled.to_string());
    let head = format!(
        "\nlocalnet summary ({}s, chain height {})\n",
        wall.elapsed().as_secs(),
        state.height
    );
    let mut text = head + &out;
    if !failures.is_empty() {
        text.push_str("  relay failures by kind\n");
        text.push_str(&failures);
    }
    if skipped > 0 {
        let _ = writeln!(
            text,
            "  sends skipped ({} in flight) {skipped}",
            traffic::MAX_IN_FLIGHT
        );
    }
    for s in &state.settlements {
        if s.outcome != SettlementOutcome::Settled {
            let _ = writeln!(
                text,
                "    {} {}: {:?} ({})",
                s.session_id, s.supplier_operator_address, s.outcome, s.reason
            );
        }
    }
    let _ = writeln!(
        text,
        "result: {}",
        if r.success() {
            "PASS (every claim settled valid)"
        } else if r.settled_valid == 0 && r.settled_invalid == 0 && r.settled_missing == 0 {
            "FAIL (no claim settled)"
        } else {
            "FAIL (a claim did not settle valid)"
        }
    );
    text
}

/// `--keep-running`: the endpoints, one per line (`  <name> <url>  <what>`),
/// and commands to try.
fn endpoints_text(
    endpoints: &[Endpoint],
    sim: &chainsim::ChainSimHandle,
    relayers: &[std::net::SocketAddr],
) -> anyhow::Result<String> {
    let mut text = String::from("\nendpoints (the network stays up; Ctrl-C stops it):\n");
    for e in endpoints {
        let _ = writeln!(text, "  {:<22} {:<34} {}", e.name, e.url, e.what);
    }
    let relayer = relayers
        .first()
        .map(|a| format!("http://{a}/"))
        .unwrap_or_default();
    let gateway = hex::encode(GATEWAY_KEY);
    let bin = "pocket-relay-miner";
    let grpc = sim.grpc_url();
    let _ = writeln!(text, "try (the gateway's key is a well-known test key):");
    let _ = writeln!(
        text,
        "  {bin} relay jsonrpc --grpc-url {grpc} --service {} --app {} --key-hex {gateway} --relayer-url {relayer}",
        ANVIL.id,
        network::address(&ANVIL.app_key)?,
    );
    let _ = writeln!(
        text,
        "  {bin} relay rest --grpc-url {grpc} --service {} --app {} --key-hex {gateway} --relayer-url {relayer} --path {REST_PATH}",
        REST_DEMO.id,
        network::address(&REST_DEMO.app_key)?,
    );
    let _ = writeln!(
        text,
        "  {bin} relay jsonrpc --grpc-url {grpc} --service {} --app {} --key-hex {gateway} --relayer-url {relayer} --load-test --count 500 --concurrency 8",
        ANVIL.id,
        network::address(&ANVIL.app_key)?,
    );
    let _ = writeln!(
        text,
        "  {bin} relay jsonrpc --simulate --sim-key-id {SIM_KEY_ID} --sim-app-pubkey {} --key-hex {gateway} --service {} --supplier {} --relayer-url {relayer} --grpc-url {grpc}",
        hex::encode(network::public_key(&ANVIL.app_key)?),
        ANVIL.id,
        network::address(&SUPPLIER_KEYS[0])?,
    );
    Ok(text)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}
