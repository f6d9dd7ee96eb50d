//! `pocket-relay-miner`: the one binary. Subcommands arrive with their issues.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

/// Relay mining for Pocket Network (Shannon).
#[derive(Debug, Parser)]
#[command(name = "pocket-relay-miner", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the chain simulator (gRPC, CometBFT RPC and websocket) from a genesis file.
    Chainsim(ChainsimArgs),
    /// Print the version.
    Version,
}

#[derive(Debug, clap::Args)]
struct ChainsimArgs {
    /// Genesis YAML (see chainsim/genesis.example.yaml).
    #[arg(long)]
    genesis: PathBuf,
    /// Time between blocks, e.g. `200ms`, `1s`.
    #[arg(long, default_value = "200ms", value_parser = parse_duration)]
    block_time: Duration,
    /// gRPC listen address.
    #[arg(long, default_value = "127.0.0.1:9090")]
    grpc_listen: SocketAddr,
    /// CometBFT RPC listen address (also serves /websocket, /chainsim/state, /metrics).
    #[arg(long, default_value = "127.0.0.1:26657")]
    rpc_listen: SocketAddr,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime_serde::re::humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("pocket-relay-miner {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Chainsim(args) => {
            init_tracing();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(run_chainsim(args))
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn run_chainsim(args: ChainsimArgs) -> anyhow::Result<()> {
    let genesis = chainsim::Genesis::from_file(&args.genesis)
        .with_context(|| format!("loading genesis {}", args.genesis.display()))?;
    let cancel = CancellationToken::new();
    let options = chainsim::Options {
        grpc_listen: args.grpc_listen,
        rpc_listen: args.rpc_listen,
        block_time: args.block_time,
        start_paused: false,
    };
    let handle = chainsim::ChainSim::start(genesis, options, cancel.clone())
        .await
        .context("starting chainsim")?;
    println!(
        "chainsim: gRPC {} · RPC {} · websocket {} · state {}/chainsim/state",
        handle.grpc_url(),
        handle.rpc_url(),
        handle.websocket_url(),
        handle.rpc_url()
    );
    shutdown_signal().await;
    tracing::info!("shutting down");
    cancel.cancel();
    handle.join().await;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops chainsim");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
