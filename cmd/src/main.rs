//! `pocket-relay-miner`: the one binary.
//!
//! Exit status: 0 on success, 1 on a runtime error, 2 on an invalid
//! configuration (every error listed) or a usage error; `localnet` exits 1
//! when a session did not settle valid; `redis` exits 1 when Redis cannot
//! be reached or a command fails.

mod config;
mod localnet;
mod ops;
mod redis;
mod relay;
mod roles;
mod telemetry;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::{InvalidConfig, Role};
use crate::telemetry::LogFormat;

/// The crate version and the git commit it was built from (`cmd/build.rs`;
/// `unknown` outside git, `-dirty` with uncommitted changes).
pub(crate) const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("RELAY_MINER_GIT_COMMIT"),
    ")"
);

/// Relay mining for Pocket Network (Shannon).
#[derive(Debug, Parser)]
#[command(name = "pocket-relay-miner", version = VERSION, about)]
struct Cli {
    /// Log format on stderr (filter with RUST_LOG, e.g. `info,relayer=debug`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve relays from gateways: validate, forward to your nodes, sign,
    /// mine and publish to Redis.
    Relayer(RoleArgs),
    /// Turn relay streams into claims and proofs on chain, one lease per
    /// supplier shared among replicas.
    Miner(RoleArgs),
    /// Send signed relays to a supplier and verify every answer (one relay or
    /// a load test).
    Relay(Box<relay::RelayArgs>),
    /// Inspect and operate the shared state in Redis: leader, leases,
    /// streams, sessions, cache, meters, keys.
    Redis(Box<redis::RedisArgs>),
    /// Check configuration files or print the defaults.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run the whole network on one machine (chain simulator, Redis, backend,
    /// relayers, miners, traffic) and report relays, claims, proofs and
    /// settlements.
    Localnet(localnet::LocalnetArgs),
    /// Run the chain simulator (gRPC, CometBFT RPC and websocket) from a genesis file.
    Chainsim(ChainsimArgs),
    /// Key utilities.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Print the version and the git commit of the build.
    Version,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Print the `pokt1…` address of a secp256k1 private key given as 64 hex
    /// characters (optionally `0x`-prefixed). Other local users can read
    /// command lines: use it only with throwaway keys, or pass `-` and give
    /// the key on stdin.
    Address(KeysAddressArgs),
}

#[derive(Debug, clap::Args)]
struct KeysAddressArgs {
    /// The private key (64 hex characters), or `-` to read it from stdin.
    key: String,
    /// Also print the compressed public key (33 bytes, hex).
    #[arg(long)]
    pubkey: bool,
}

/// A long-running role.
#[derive(Debug, clap::Args)]
#[command(after_help = ENV_HELP)]
struct RoleArgs {
    /// Configuration file (YAML; see config.relayer.example.yaml and
    /// config.miner.example.yaml).
    #[arg(long)]
    config: PathBuf,
}

const ENV_HELP: &str = "Environment overrides: PRM_<KEY>__<KEY>=<YAML scalar> replaces a key of the \
configuration file, e.g. PRM_REDIS__PASSWORD=s3cret or PRM_CHAIN__GRPC__URL=https://host:443. \
Quote a value to force a string: PRM_REDIS__PASSWORD='\"123\"'.";

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Parse and validate a configuration file (and load its keys file);
    /// exit status 2 when invalid.
    #[command(after_help = ENV_HELP)]
    Validate(ValidateArgs),
    /// Print the default configuration as YAML.
    PrintDefault(PrintDefaultArgs),
}

#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
struct ValidateArgs {
    /// A relayer configuration file.
    #[arg(long, value_name = "FILE")]
    relayer: Option<PathBuf>,
    /// A miner configuration file.
    #[arg(long, value_name = "FILE")]
    miner: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
struct PrintDefaultArgs {
    /// The relayer's defaults.
    #[arg(long)]
    relayer: bool,
    /// The miner's defaults.
    #[arg(long)]
    miner: bool,
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

/// A positive human duration (`200ms`, `1s`, `2m`).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime_serde::re::humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            if let Some(invalid) = e.downcast_ref::<InvalidConfig>() {
                eprintln!("error: {invalid}");
                return ExitCode::from(2);
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let format = cli.log_format;
    match cli.command {
        Command::Version => {
            println!("pocket-relay-miner {VERSION}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(KeysCommand::Address(args)) => {
            keys_address(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Validate(args)) => {
            telemetry::init(format, "warn");
            let (role, path) = match (args.relayer, args.miner) {
                (Some(p), _) => (Role::Relayer, p),
                (None, Some(p)) => (Role::Miner, p),
                (None, None) => anyhow::bail!("give --relayer <file> or --miner <file>"),
            };
            Ok(if config::validate_command(role, &path)? {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Config(ConfigCommand::PrintDefault(args)) => {
            let role = if args.relayer {
                Role::Relayer
            } else {
                Role::Miner
            };
            print!("{}", config::default_yaml(role)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Relayer(args) => {
            telemetry::init(format, "info");
            runtime()?.block_on(roles::relayer::run(&args.config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Miner(args) => {
            telemetry::init(format, "info");
            runtime()?.block_on(roles::miner::run(&args.config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Relay(args) => {
            telemetry::init(format, "warn");
            runtime()?.block_on(relay::run(*args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Redis(args) => {
            telemetry::init(format, "warn,fred=error");
            runtime()?.block_on(redis::run(*args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Localnet(args) => {
            // Progress goes to stdout; logs only when something is wrong
            // (Redis clients complain when localnet's Redis stops first).
            telemetry::init(format, "warn,fred=error");
            let ok = runtime()?.block_on(localnet::run(args))?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Chainsim(args) => {
            telemetry::init(format, "info");
            runtime()?.block_on(run_chainsim(args))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `keys address`: the key's address (and public key).
fn keys_address(args: &KeysAddressArgs) -> anyhow::Result<()> {
    let text = if args.key == "-" {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the key from stdin")?;
        line
    } else {
        args.key.clone()
    };
    let key = relay::keys::SigningKey::from_hex(&text, "private key")?;
    println!("{}", key.address);
    if args.pubkey {
        println!("{}", hex::encode(key.public_key()));
    }
    Ok(())
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
    ops::shutdown_signal().await;
    tracing::info!("shutting down");
    cancel.cancel();
    handle.join().await;
    Ok(())
}
