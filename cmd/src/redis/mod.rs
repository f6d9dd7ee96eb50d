//! `pocket-relay-miner redis`: debug and operate the shared state in Redis —
//! the leader, supplier leases and miner replicas, per-supplier status,
//! relay streams, session trees, the chain cache, relay meters, the pub/sub
//! channels and the keys themselves. `docs/redis-cli.md` documents every
//! subcommand and its JSON.
//!
//! Every key comes from `store::Keys` (templates built by its functions,
//! never spelled here), every write goes through the crate that owns it
//! (cache invalidation through `cache::ChainCache::invalidate`), and nothing
//! outside the namespace is read or deleted. Reading commands never change
//! state; `cache --invalidate` and `flush` are dry runs without `--yes`.
//!
//! Modules, in the order an operator usually looks:
//! - [`keys`]: `keys` (SCAN with type and TTL, `--stats` by key family) and
//!   `flush`.
//! - [`miners`]: `leader`, `miners` (replicas and the suppliers each owns),
//!   `status` (a supplier's JSON status).
//! - [`streams`]: relay streams, consumer groups, pending entries, decoded
//!   samples.
//! - [`sessions`]: sessions with leaves (`sessions`, alias `trees`).
//! - [`cache`]: L2 entries, known ids, invalidation.
//! - [`meter`]: relay meter counters.
//! - [`pubsub`]: tail the blocks and invalidation channels.

mod cache;
mod keys;
mod meter;
mod miners;
mod pubsub;
mod sessions;
mod streams;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use fred::prelude::*;
use fred::types::scan::Scanner;
use futures::StreamExt;
use serde::Serialize;

/// Keys asked for per SCAN call.
const SCAN_COUNT: u32 = 1000;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// For people.
    Text,
    /// For scripts: one JSON object (`pubsub`: one per message, per line).
    Json,
}

/// Inspect and operate the shared state in Redis (leader, leases, streams,
/// sessions, cache, meters, keys). Reads never change anything; writes
/// (`cache --invalidate`, `flush`) are dry runs without `--yes`.
#[derive(Debug, clap::Args)]
#[command(after_help = REDIS_HELP)]
pub struct RedisArgs {
    /// A relayer or miner configuration file: its `redis` section (URL,
    /// credentials, namespace, timeouts), with `PRM_` environment overrides.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Redis URL (overrides the configuration's; default
    /// `redis://127.0.0.1:6379`). Credentials in it are never printed.
    #[arg(long, global = true, value_name = "URL")]
    pub redis_url: Option<String>,
    /// Key namespace (overrides the configuration's; default `ha`).
    #[arg(long, global = true)]
    pub namespace: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    #[command(subcommand)]
    pub command: RedisCommand,
}

const REDIS_HELP: &str = "Patterns (`keys --pattern`, `flush --pattern`) are Redis globs over \
full key names and must start with `<namespace>:`. See docs/redis-cli.md.";

/// The `redis` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum RedisCommand {
    /// SCAN the namespace: keys with their type and TTL, or counts by key
    /// family (`--stats`).
    Keys(keys::KeysArgs),
    /// The global miner leader: lease holder, fencing token, TTL, and the
    /// last block it published.
    Leader,
    /// Live miner replicas (heartbeats) and the suppliers each one owns
    /// (supplier leases with holder and TTL).
    Miners,
    /// A supplier's status as its owning miner wrote it (JSON).
    Status(miners::StatusArgs),
    /// Relay streams: length, consumer groups, pending entries, consumers,
    /// and the newest entries decoded.
    Streams(streams::StreamsArgs),
    /// A supplier's sessions with leaves in the leaf store: leaf count,
    /// state, and the tree's sum for small sessions.
    #[command(alias = "trees")]
    Sessions(sessions::SessionsArgs),
    /// The chain cache in Redis (L2): entries per entity, known ids, one
    /// entry decoded; invalidate entries (`--invalidate --yes`).
    Cache(cache::CacheArgs),
    /// Relay meter counters: uPOKT of the application's stake consumed per
    /// (supplier, session).
    Meter(meter::MeterArgs),
    /// Tail the blocks and cache invalidation channels for a bounded time.
    Pubsub(pubsub::PubsubArgs),
    /// Delete the keys matching a pattern inside the namespace (a dry run
    /// without `--yes`).
    Flush(keys::FlushArgs),
}

/// What every subcommand works with.
pub(crate) struct Ctx {
    /// The command pool.
    pub pool: Pool,
    /// The key schema of the namespace.
    pub keys: store::Keys,
    /// The connection settings (for pub/sub).
    pub cfg: store::RedisConfig,
    /// The output format.
    pub output: OutputFormat,
}

/// A subcommand's result: JSON for scripts, text for people.
pub(crate) trait Report: Serialize {
    /// The text form (ends with a newline).
    fn text(&self) -> String;
}

/// `redis <subcommand>`.
pub async fn run(args: RedisArgs) -> anyhow::Result<()> {
    let cfg = redis_config(&args)?;
    let keys = store::Keys::new(&cfg.namespace).context("redis namespace")?;
    let pool = connect(&cfg).await?;
    let ctx = Ctx {
        pool,
        keys,
        cfg,
        output: args.output,
    };
    match args.command {
        RedisCommand::Keys(a) => emit(&ctx, &keys::keys(&ctx, &a).await?),
        RedisCommand::Flush(a) => emit(&ctx, &keys::flush(&ctx, &a).await?),
        RedisCommand::Leader => emit(&ctx, &miners::leader(&ctx).await?),
        RedisCommand::Miners => emit(&ctx, &miners::miners(&ctx).await?),
        RedisCommand::Status(a) => miners::status(&ctx, &a).await?,
        RedisCommand::Streams(a) => emit(&ctx, &streams::streams(&ctx, &a).await?),
        RedisCommand::Sessions(a) => emit(&ctx, &sessions::sessions(&ctx, &a).await?),
        RedisCommand::Cache(a) => cache::run(&ctx, &a).await?,
        RedisCommand::Meter(a) => emit(&ctx, &meter::meter(&ctx, &a).await?),
        RedisCommand::Pubsub(a) => pubsub::run(&ctx, &a).await?,
    }
    let _ = ctx.pool.quit().await;
    Ok(())
}

/// The Redis settings: the configuration file's `redis` section (relayer or
/// miner), then `--redis-url` and `--namespace` on top.
fn redis_config(args: &RedisArgs) -> anyhow::Result<store::RedisConfig> {
    let mut cfg = match &args.config {
        None => store::RedisConfig::default(),
        Some(path) => match crate::config::read_miner(path) {
            Ok(c) => c.redis,
            Err(miner) => match crate::config::read_relayer(path) {
                Ok(c) => c.redis,
                Err(relayer) => anyhow::bail!(
                    "{} is neither a miner nor a relayer configuration:\n  as a miner: {miner:#}\n  as a relayer: {relayer:#}",
                    path.display()
                ),
            },
        },
    };
    if let Some(url) = &args.redis_url {
        cfg.url = url.clone();
    }
    if let Some(ns) = &args.namespace {
        cfg.namespace = ns.clone();
    }
    // A debugging session needs a connection or two, not a pool.
    cfg.pool_size = 2;
    cfg.validate()
        .map_err(|e| anyhow::anyhow!("{e} ({})", store::redact(&cfg.url)))?;
    Ok(cfg)
}

/// Connects and checks the server answers; one clear line when it does not.
async fn connect(cfg: &store::RedisConfig) -> anyhow::Result<Pool> {
    let url = store::redact(&cfg.url);
    let cause = |e: store::Error| match e {
        store::Error::Redis { source, .. } => fred_cause(&source),
        other => other.to_string(),
    };
    // The connect timeout bounds each attempt; this bounds the whole start.
    let deadline = cfg.connect_timeout + cfg.command_timeout;
    let pool = tokio::time::timeout(deadline, store::connect_pool(cfg))
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "cannot reach Redis at {url}: no connection within {}",
                humantime(deadline)
            )
        })?
        .map_err(|e| anyhow::anyhow!("cannot reach Redis at {url}: {}", cause(e)))?;
    let _: Value = pool
        .next()
        .ping(None)
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach Redis at {url}: {}", fred_cause(&e)))?;
    Ok(pool)
}

/// A client error for people: fred renders I/O errors with `Debug`
/// (`Os { code: 111, kind: ConnectionRefused, message: "…" }`); keep the
/// message.
fn fred_cause(e: &fred::error::Error) -> String {
    let details = e.details();
    if *e.kind() == fred::error::ErrorKind::IO
        && let Some(start) = details.find("message: \"")
    {
        let rest = &details[start + 10..];
        if let Some(end) = rest.find('"') {
            return format!("{} (I/O error)", &rest[..end]);
        }
    }
    e.to_string()
}

/// Prints a report in the chosen format.
pub(crate) fn emit(ctx: &Ctx, report: &impl Report) {
    match ctx.output {
        OutputFormat::Json => println!("{}", json(report)),
        OutputFormat::Text => print!("{}", report.text()),
    }
}

/// One line of JSON.
pub(crate) fn json(v: &impl Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| format!("{{\"error\":\"serialising: {e}\"}}"))
}

/// Every key matching `pattern`, stopping after `limit` (`None`: all);
/// `true` when stopped early. Scans every primary of a cluster.
pub(crate) async fn scan(
    ctx: &Ctx,
    pattern: &str,
    limit: Option<usize>,
) -> anyhow::Result<(Vec<String>, bool)> {
    let client = ctx.pool.next();
    let mut pages = if client.is_clustered() {
        client
            .scan_cluster(pattern.to_owned(), Some(SCAN_COUNT), None)
            .boxed()
    } else {
        client
            .scan(pattern.to_owned(), Some(SCAN_COUNT), None)
            .boxed()
    };
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    while let Some(page) = pages.next().await {
        let mut page = page.with_context(|| format!("SCAN {pattern}"))?;
        for key in page.take_results().unwrap_or_default() {
            // SCAN may return a key twice; keys are ours, hence UTF-8.
            let Some(k) = key.as_str() else { continue };
            if seen.insert(k.to_owned()) {
                out.push(k.to_owned());
            }
            if limit.is_some_and(|l| out.len() >= l) {
                page.cancel();
                out.sort();
                return Ok((out, true));
            }
        }
        page.next();
    }
    out.sort();
    Ok((out, false))
}

/// PTTL of each key: `Some(ms)`, `None` without expiry; keys gone meanwhile
/// read as `Some(-2)`.
pub(crate) async fn pttls(ctx: &Ctx, keys: &[String]) -> anyhow::Result<Vec<Option<i64>>> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(500) {
        let pipe = ctx.pool.next().pipeline();
        for k in chunk {
            let _: () = pipe.pttl(k.as_str()).await?;
        }
        let ttls: Vec<i64> = pipe.all().await.context("PTTL")?;
        out.extend(ttls.into_iter().map(|t| (t != -1).then_some(t)));
    }
    Ok(out)
}

/// PTTL of one key, as in [`pttls`].
pub(crate) async fn pttl(ctx: &Ctx, key: &str) -> anyhow::Result<Option<i64>> {
    let t: i64 = ctx
        .pool
        .pttl(key)
        .await
        .with_context(|| format!("PTTL {key}"))?;
    Ok((t != -1).then_some(t))
}

/// A TTL for people: `12.3s`, `none`, `gone`.
pub(crate) fn ttl_text(ttl: Option<i64>) -> String {
    match ttl {
        None => "none".into(),
        Some(t) if t < 0 => "gone".into(),
        Some(t) => humantime(Duration::from_millis(t as u64)),
    }
}

/// A duration for people, rounded to what matters (`850ms`, `12.3s`, `4m 10s`).
pub(crate) fn humantime(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d < Duration::from_secs(60) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        let s = d.as_secs();
        let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
        if h > 0 {
            format!("{h}h {m}m")
        } else {
            format!("{m}m {s}s")
        }
    }
}

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A key shape with holes, made by a `store::Keys` function called with
/// [`HOLE`] for each variable part: keys are never spelled here.
pub(crate) struct Template {
    /// The literal parts between the holes.
    parts: Vec<String>,
}

/// Stands for a variable part of a key (never in an address, id or namespace).
pub(crate) const HOLE: &str = "\u{1}";

impl Template {
    /// The template of a key built with [`HOLE`]s.
    pub fn new(built: String) -> Self {
        Template {
            parts: built.split(HOLE).map(str::to_owned).collect(),
        }
    }

    /// The template of a catalog pattern (`<name>` marks a hole).
    pub fn from_catalog(pattern: &str) -> Self {
        let mut parts = vec![String::new()];
        let mut rest = pattern;
        while let Some(open) = rest.find('<') {
            let Some(close) = rest[open..].find('>') else {
                break;
            };
            if let Some(last) = parts.last_mut() {
                last.push_str(&rest[..open]);
            }
            parts.push(String::new());
            rest = &rest[open + close + 1..];
        }
        if let Some(last) = parts.last_mut() {
            last.push_str(rest);
        }
        Template { parts }
    }

    /// A SCAN glob matching every key of this shape.
    pub fn glob(&self) -> String {
        self.parts
            .iter()
            .map(|p| glob_escape(p))
            .collect::<Vec<_>>()
            .join("*")
    }

    /// Characters that are not holes: the more, the more specific.
    pub fn literal_len(&self) -> usize {
        self.parts.iter().map(String::len).sum()
    }

    /// The first hole's content when `key` has this shape.
    pub fn first_hole(&self, key: &str) -> Option<String> {
        self.capture(key)
            .and_then(|c| c.first().map(|s| (*s).to_owned()))
    }

    /// The holes' contents when `key` has this shape (each non-empty; an
    /// inner literal is matched at its first occurrence, so only the last
    /// hole may contain it).
    pub fn capture<'k>(&self, key: &'k str) -> Option<Vec<&'k str>> {
        let (first, rest) = self.parts.split_first()?;
        let Some((last, middle)) = rest.split_last() else {
            return (key == first).then(Vec::new);
        };
        let mut body = key
            .strip_prefix(first.as_str())?
            .strip_suffix(last.as_str())?;
        let mut out = Vec::with_capacity(rest.len());
        for lit in middle {
            let at = body.find(lit.as_str())?;
            out.push(&body[..at]);
            body = &body[at + lit.len()..];
        }
        out.push(body);
        out.iter().all(|h| !h.is_empty()).then_some(out)
    }
}

/// Escapes Redis glob metacharacters.
pub(crate) fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Field → value of a Redis reply given as a flat array of pairs (RESP2)
/// or a map (RESP3), e.g. `XINFO GROUPS` items.
pub(crate) fn fields(v: &Value) -> std::collections::HashMap<String, Value> {
    let mut out = std::collections::HashMap::new();
    match v {
        Value::Array(items) => {
            for kv in items.chunks(2) {
                if let [k, v] = kv
                    && let Some(k) = k.as_string()
                {
                    out.insert(k, v.clone());
                }
            }
        }
        Value::Map(map) => {
            for (k, v) in map.clone().inner() {
                if let Some(k) = k.as_str() {
                    out.insert(k.to_string(), v.clone());
                }
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_capture_the_variable_parts_of_keys() {
        let keys = store::Keys::new("ha").unwrap();
        let lease = Template::new(keys.supplier_lease(HOLE));
        assert_eq!(lease.glob(), "ha:miner:lease:{*}");
        assert_eq!(
            lease.capture("ha:miner:lease:{pokt1abc}"),
            Some(vec!["pokt1abc"])
        );
        assert_eq!(lease.capture("ha:miner:lease:{pokt1abc}:fence"), None);
        assert_eq!(lease.capture("ha:miner:lease:{}"), None);
        let meter = Template::new(keys.meter_consumed(HOLE, HOLE));
        assert_eq!(
            meter.capture("ha:meter:{pokt1abc}:simv1:17:9:consumed"),
            Some(vec!["pokt1abc", "simv1:17:9"])
        );
        let fixed = Template::new(keys.leader_lease());
        assert_eq!(fixed.capture("ha:miner:leader"), Some(vec![]));
        assert_eq!(fixed.capture("ha:miner:leader:fence"), None);
    }

    #[test]
    fn catalog_patterns_become_templates() {
        let t = Template::from_catalog("ha:smst:{<supplier>}:<session_id>:leaves");
        assert_eq!(t.glob(), "ha:smst:{*}:*:leaves");
        assert_eq!(t.capture("ha:smst:{s}:x:y:leaves"), Some(vec!["s", "x:y"]));
        assert_eq!(t.literal_len(), "ha:smst:{}::leaves".len());
    }

    #[test]
    fn globs_escape_metacharacters() {
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(ttl_text(None), "none");
        assert_eq!(ttl_text(Some(-2)), "gone");
        assert_eq!(ttl_text(Some(850)), "850ms");
        assert_eq!(ttl_text(Some(12_340)), "12.3s");
        assert_eq!(ttl_text(Some(250_000)), "4m 10s");
        assert_eq!(ttl_text(Some(7_300_000)), "2h 1m");
    }
}
