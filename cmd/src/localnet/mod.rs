//! `pocket-relay-miner localnet`: the whole network on one machine.
//!
//! Starts, all on loopback: `redis-server` (a child process on a free port),
//! the chain simulator with a localnet genesis and fast blocks, a demo
//! JSON-RPC backend, relayers and miners in-process (the same start-up code
//! as the `relayer` and `miner` commands), then a bounded traffic generator
//! signing every relay as the gateway and verifying every response. After
//! the traffic it waits until every session that served relays has settled
//! and prints a report. Success: at least one session settled valid, none
//! invalid or missing, none left unsettled.

mod network;
mod traffic;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use chainsim::SettlementOutcome;
use tokio_util::sync::CancellationToken;

use crate::roles;

/// `localnet` options.
#[derive(Debug, Clone, clap::Args)]
pub struct LocalnetArgs {
    /// How long the traffic generator sends relays; the network then runs
    /// on until every session that served relays has settled.
    #[arg(long, default_value = "60s", value_parser = crate::parse_duration)]
    pub duration: Duration,
    /// Relayer replicas (the generator spreads relays over them).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub relayers: u8,
    /// Miner replicas (supplier leases are shared among them).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub miners: u8,
    /// Suppliers staked for the service (each relay goes to one of them).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub suppliers: u8,
    /// Relays per second sent by the traffic generator.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=2000))]
    pub rps: u32,
    /// Time between blocks (sessions are 10 blocks).
    #[arg(long, default_value = "1s", value_parser = crate::parse_duration)]
    pub block_time: Duration,
}

/// The outcome of a run.
#[derive(Debug, Default)]
pub struct Report {
    /// Relays sent, answered and verified, failed.
    pub sent: u64,
    /// Relays answered 200 with a valid supplier signature.
    pub ok: u64,
    /// Relays that failed.
    pub failed: u64,
    /// Sessions claimed on chain (per supplier).
    pub claims: u64,
    /// Proofs accepted on chain and validated.
    pub proofs: u64,
    /// Settled valid (paid).
    pub settled_valid: u64,
    /// Expired with an invalid proof.
    pub settled_invalid: u64,
    /// Expired with a missing proof.
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

/// Runs the local network; `Ok(true)` when every settled session settled
/// valid and at least one did.
pub async fn run(args: LocalnetArgs) -> anyhow::Result<bool> {
    let wall = Instant::now();
    let cancel = CancellationToken::new();
    let _stop_all = cancel.clone().drop_guard();
    let suppliers = usize::from(args.suppliers);
    println!(
        "localnet: {} relayer(s), {} miner(s), {suppliers} supplier(s), {} relays/s for {}, blocks every {}",
        args.relayers,
        args.miners,
        args.rps,
        humantime_serde::re::humantime::format_duration(args.duration),
        humantime_serde::re::humantime::format_duration(args.block_time),
    );

    // Redis: a child process on a free loopback port, stopped on drop.
    let redis = tokio::task::spawn_blocking(store::testing::RedisServer::start)
        .await
        .context("starting redis-server")?
        .context("starting redis-server (is it installed? `make deps` installs it)")?;
    let mut redis_cfg = redis.config();
    redis_cfg.namespace = "localnet".into();
    println!("  redis     {}", redis.url());

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
        "  chainsim  gRPC {} · RPC {} · state {}/chainsim/state",
        sim.grpc_url(),
        sim.rpc_url(),
        sim.rpc_url()
    );
    let mut chain_cfg = chain::ChainConfig {
        chain_id: sim.chain_id(),
        ..Default::default()
    };
    chain_cfg.grpc.url = sim.grpc_url();
    chain_cfg.rpc.url = sim.rpc_url();
    chain_cfg.block_feed.poll_interval = args.block_time.min(Duration::from_secs(1));

    // Backend and keys.
    let (backend, backend_served) = network::spawn_backend(cancel.clone()).await?;
    println!("  backend   http://{backend} (demo JSON-RPC)");
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
            .insert(network::SERVICE.into(), service(backend));
        let keys = checked(cfg.validate(), cfg.keys_file.as_deref(), "relayer")?;
        let stop = CancellationToken::new();
        let h = roles::relayer::start(cfg, keys, stop.clone())
            .await
            .with_context(|| format!("starting relayer {i}"))?;
        println!("  relayer {i} http://{} (/ready, /metrics)", h.addr);
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
        println!("  miner {i}   http://{} (/ready, /metrics)", h.ops_addr);
        miner_stops.push(stop);
        miner_dones.push(h.done);
    }

    // Traffic, with a progress line.
    println!(
        "traffic: sending for {}",
        humantime_serde::re::humantime::format_duration(args.duration)
    );
    let stats = Arc::new(traffic::Stats::default());
    let progress_stop = cancel.child_token();
    let progress = {
        let (sim, stats, cancel) = (sim.clone(), stats.clone(), progress_stop.clone());
        let every = (args.block_time * 2).max(Duration::from_secs(2));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => println!("{}", progress_line(wall, &sim, &stats)),
                    _ = cancel.cancelled() => return,
                }
            }
        })
    };
    let traffic = traffic::run(
        sim.clone(),
        traffic::Traffic {
            relayers: relayer_addrs,
            rps: args.rps,
            duration: args.duration,
        },
        stats.clone(),
        cancel.clone(),
    );
    tokio::select! {
        r = traffic => r?,
        _ = crate::ops::shutdown_signal() => {
            println!("interrupted: stopping the traffic and waiting for the sessions served so far");
        }
    }

    // Settlement of every session that served relays.
    let served = stats.served();
    let mut settle_at = 0;
    for s in served.values() {
        let w = sim
            .session_windows(s.session_end)
            .context("session windows")?;
        settle_at = settle_at.max(w.settlement_height);
    }
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
            println!("settlement wait ended early: {e}");
        }
    }
    progress_stop.cancel();
    let _ = progress.await;

    let report = report(&sim, &stats, &served);
    print_report(
        &report,
        &sim,
        &stats,
        &served,
        backend_served.load(Ordering::Relaxed),
        wall,
    );

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
    drop(redis);
    Ok(report.success())
}

fn service(backend: std::net::SocketAddr) -> relayer::config::ServiceConfig {
    let mut s = relayer::config::ServiceConfig::default();
    s.backends.insert(
        relayer::config::RpcKind::Jsonrpc,
        relayer::config::BackendConfig {
            urls: vec![format!("http://{backend}/")],
            ..Default::default()
        },
    );
    s
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

fn progress_line(wall: Instant, sim: &chainsim::ChainSimHandle, stats: &traffic::Stats) -> String {
    let state = sim.state();
    let (valid, invalid, missing) = outcomes(&state);
    let (claims, proofs) = claims_and_proofs(&state);
    format!(
        "[{:>4}s] height {:>4} · relays sent {} ok {} failed {} · claims {claims} · proofs {proofs} · settled valid {valid} invalid {invalid} missing {missing}",
        wall.elapsed().as_secs(),
        state.height,
        stats.sent.load(Ordering::Relaxed),
        stats.ok.load(Ordering::Relaxed),
        stats.failed.load(Ordering::Relaxed),
    )
}

/// Sessions claimed (settled or still stored) and proofs validated, from
/// the lists rather than chainsim's counters (which also count the messages
/// a `Simulate` call executed).
fn claims_and_proofs(state: &chainsim::StateReport) -> (u64, u64) {
    let mut claimed = std::collections::BTreeSet::new();
    for s in &state.settlements {
        claimed.insert((&s.session_id, &s.supplier_operator_address));
    }
    for c in &state.claims {
        claimed.insert((&c.session_id, &c.supplier_operator_address));
    }
    (claimed.len() as u64, state.proofs.len() as u64)
}

fn outcomes(state: &chainsim::StateReport) -> (u64, u64, u64) {
    let count =
        |o: SettlementOutcome| state.settlements.iter().filter(|s| s.outcome == o).count() as u64;
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
    let (settled_valid, settled_invalid, settled_missing) = outcomes(&state);
    let (claims, proofs) = claims_and_proofs(&state);
    let unsettled = served
        .keys()
        .filter(|(id, sup)| {
            !state
                .settlements
                .iter()
                .any(|s| &s.session_id == id && &s.supplier_operator_address == sup)
        })
        .count() as u64;
    Report {
        sent: stats.sent.load(Ordering::Relaxed),
        ok: stats.ok.load(Ordering::Relaxed),
        failed: stats.failed.load(Ordering::Relaxed),
        claims,
        proofs,
        settled_valid,
        settled_invalid,
        settled_missing,
        unsettled,
    }
}

fn print_report(
    r: &Report,
    sim: &chainsim::ChainSimHandle,
    stats: &traffic::Stats,
    served: &BTreeMap<(String, String), traffic::Served>,
    backend_served: u64,
    wall: Instant,
) {
    let state = sim.state();
    println!();
    println!(
        "localnet report ({}s, chain height {})",
        wall.elapsed().as_secs(),
        state.height
    );
    println!("  relays sent                 {}", r.sent);
    println!("  relays ok (verified)        {}", r.ok);
    println!("  relays failed               {}", r.failed);
    for (kind, n) in stats.failures() {
        println!("    {n:>6}  {kind}");
    }
    let skipped = stats.skipped.load(Ordering::Relaxed);
    if skipped > 0 {
        println!("  sends skipped (64 in flight) {skipped}");
    }
    if let Some((p50, p99)) = stats.latency() {
        println!("  latency p50 / p99           {p50:?} / {p99:?}");
    }
    println!("  backend requests            {backend_served}");
    println!("  sessions served             {}", served.len());
    let in_claims: u64 = state.settlements.iter().map(|s| s.num_relays).sum();
    println!("  relays in settled claims    {in_claims}");
    println!("  sessions claimed            {}", r.claims);
    println!("  proofs accepted             {}", r.proofs);
    println!("  settlements valid           {}", r.settled_valid);
    println!("  settlements invalid         {}", r.settled_invalid);
    println!("  settlements missing proof   {}", r.settled_missing);
    println!("  sessions not settled        {}", r.unsettled);
    for s in &state.settlements {
        if s.outcome != SettlementOutcome::Settled {
            println!(
                "    {} {}: {:?} ({})",
                s.session_id, s.supplier_operator_address, s.outcome, s.reason
            );
        }
    }
    println!(
        "result: {}",
        if r.success() {
            "PASS (every settled session settled valid)"
        } else if r.settled_valid == 0 && r.settled_invalid == 0 && r.settled_missing == 0 {
            "FAIL (no session settled; run longer, e.g. --duration 60s)"
        } else {
            "FAIL"
        }
    );
}
