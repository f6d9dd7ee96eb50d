//! The relayer's configuration (`config.relayer.example.yaml` documents every
//! key; a test parses and validates it).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Backend kind, selected per relay by the `Rpc-Type` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RpcKind {
    /// `Rpc-Type: 3`
    Jsonrpc,
    /// `Rpc-Type: 4`
    Rest,
    /// `Rpc-Type: 5`
    Cometbft,
    /// `Rpc-Type: 1` (served over HTTP relays here)
    Grpc,
    /// `Rpc-Type: 2`
    Websocket,
}

impl RpcKind {
    /// The kind named by an `Rpc-Type` header value.
    pub fn from_header(value: &str) -> Option<Self> {
        match value.trim() {
            "1" => Some(RpcKind::Grpc),
            "2" => Some(RpcKind::Websocket),
            "3" => Some(RpcKind::Jsonrpc),
            "4" => Some(RpcKind::Rest),
            "5" => Some(RpcKind::Cometbft),
            _ => None,
        }
    }

    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            RpcKind::Jsonrpc => "jsonrpc",
            RpcKind::Rest => "rest",
            RpcKind::Cometbft => "cometbft",
            RpcKind::Grpc => "grpc",
            RpcKind::Websocket => "websocket",
        }
    }
}

/// When relays are validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValidationMode {
    /// Validate fully before calling the backend (default): nothing unpaid is served.
    Eager,
    /// Serve first, validate after; a relay that fails validation is never published.
    Optimistic,
}

/// Top-level relayer configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayerConfig {
    /// Address the relay server listens on.
    pub listen: SocketAddr,
    /// Largest accepted relay request body. Keep it at or below what a proof
    /// transaction can carry: the proof embeds the whole request.
    pub max_body_bytes: usize,
    /// Largest backend response body read.
    pub max_response_bytes: usize,
    /// When relays are validated (`eager` or `optimistic`).
    pub validation: ValidationMode,
    /// File with the supplier operator keys this relayer signs for.
    pub keys_file: Option<PathBuf>,
    /// Redis (streams, meter, caches).
    pub redis: store::RedisConfig,
    /// The chain node the relayer validates relays against (queries and the
    /// block feed; the relayer sends no transactions).
    pub chain: chain::ChainConfig,
    /// Services served, by service id.
    pub services: BTreeMap<String, ServiceConfig>,
    /// The application stake meter.
    pub meter: MeterConfig,
    /// Relay stream publishing.
    pub publish: PublishConfig,
    /// Simulated relays (probes with a pinned ring; never metered or published).
    pub simulation: SimulationConfig,
    /// Where new blocks are learned (the leader's Redis feed or the node).
    pub chain_feed: ChainFeedConfig,
    /// Cache warm-up at start.
    pub cache_warmup: CacheWarmupConfig,
    /// How long in-flight relays may take to finish on shutdown.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
    /// Ring keys (applications and gateways) whose verification tables are
    /// kept (~150 KiB each): at least the applications served plus their
    /// gateways; a key evicted and seen again costs ~1 ms to rebuild.
    pub ring_key_cache_capacity: usize,
}

/// One service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// Deadline of one backend call.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Backend used when a relay carries no `Rpc-Type` header.
    pub default_backend: RpcKind,
    /// Backends by kind.
    pub backends: BTreeMap<RpcKind, BackendConfig>,
}

/// The nodes serving one backend kind of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackendConfig {
    /// Node URLs (`http://`); tried in order, the next one only on a
    /// connection failure.
    pub urls: Vec<String>,
    /// Extra headers sent to the node (e.g. authorization).
    pub headers: BTreeMap<String, String>,
    /// Deadline to establish a connection.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Consecutive failures that open the circuit breaker of a URL.
    pub breaker_failures: u32,
    /// How long an open breaker skips the URL.
    #[serde(with = "humantime_serde")]
    pub breaker_cooldown: Duration,
}

/// The application stake meter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeterConfig {
    /// Whether relays are metered against the application's stake.
    pub enabled: bool,
    /// Serve when the meter (Redis) is unavailable (`true`), or answer 503.
    pub fail_open: bool,
}

/// Relay stream publishing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublishConfig {
    /// Approximate bound of a supplier stream (a safety net if no miner consumes).
    pub stream_max_len: u64,
    /// Served relays held in memory while they wait for Redis (a batch is
    /// published per round trip; failed publishes are retried). When full,
    /// new relays get 503 instead of being served unpaid.
    pub queue_capacity: usize,
}

/// Simulated relays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulationConfig {
    /// Whether `Pocket-Simulation-Key-Id` requests are served at all.
    pub enabled: bool,
    /// Accepted clock skew of `simv1:<unix>:<nonce>` session ids.
    #[serde(with = "humantime_serde")]
    pub freshness_window: Duration,
    /// Who may send simulated relays.
    pub identities: Vec<SimulationIdentity>,
}

/// Where the relayer learns new blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainFeedSource {
    /// The blocks the miner leader publishes on Redis; the node (`status`
    /// polls) while Redis is stale or before the leader publishes.
    Redis,
    /// The node itself (websocket subscription, `status` polls when it is down).
    Node,
}

/// Where the relayer learns new blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainFeedConfig {
    /// `redis` (default) or `node`.
    pub source: ChainFeedSource,
    /// With `redis`: how often the latest published block is read (catching
    /// up on missed messages) and the node polled while following it.
    #[serde(with = "humantime_serde")]
    pub latest_poll_interval: Duration,
    /// With `redis`: Redis silence after which the node is asked whether it
    /// is ahead (if it is, the relayer follows the node until Redis catches up).
    #[serde(with = "humantime_serde")]
    pub stale_after: Duration,
}

/// Cache warm-up at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheWarmupConfig {
    /// Whether applications are preloaded before the relayer turns ready.
    pub enabled: bool,
    /// Applications always preloaded, besides those any relayer served
    /// recently (remembered in Redis).
    pub known_applications: Vec<String>,
    /// Applications loaded at once.
    pub concurrency: usize,
    /// Upper bound of the warm-up: the relayer turns ready after it either way.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

/// One party allowed to send simulated relays, with its pinned ring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationIdentity {
    /// The `Pocket-Simulation-Key-Id` header value.
    pub key_id: String,
    /// Application public key (33-byte compressed, hex).
    pub app_pubkey_hex: String,
    /// Gateway public keys of the ring (hex).
    #[serde(default)]
    pub gateway_pubkeys_hex: Vec<String>,
    /// Services it may probe (empty: all configured).
    #[serde(default)]
    pub allowed_services: Vec<String>,
    /// Require `simv1:<unix>:<nonce>` session ids within the freshness window
    /// (default true). Only conformance tests turn this off.
    #[serde(default = "yes")]
    pub require_fresh_session_id: bool,
    /// Most simulated relays per second this identity may send (0, the
    /// default: no limit, for load tests with `relay --simulate`). Simulated
    /// relays reach the real backend unmetered; for a long-lived probe
    /// identity set a limit, so a leaked prober key cannot become free load.
    #[serde(default = "default_simulation_max_rps")]
    pub max_rps: u32,
}

fn default_simulation_max_rps() -> u32 {
    0
}

fn yes() -> bool {
    true
}

impl Default for RelayerConfig {
    fn default() -> Self {
        RelayerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            max_body_bytes: 10 << 20,
            max_response_bytes: 100 << 20,
            validation: ValidationMode::Eager,
            keys_file: None,
            redis: store::RedisConfig::default(),
            chain: chain::ChainConfig::default(),
            services: BTreeMap::new(),
            meter: MeterConfig::default(),
            publish: PublishConfig::default(),
            simulation: SimulationConfig::default(),
            chain_feed: ChainFeedConfig::default(),
            cache_warmup: CacheWarmupConfig::default(),
            drain_timeout: Duration::from_secs(30),
            ring_key_cache_capacity: rings::KeyCache::DEFAULT_CAPACITY,
        }
    }
}

impl Default for ChainFeedConfig {
    fn default() -> Self {
        ChainFeedConfig {
            source: ChainFeedSource::Redis,
            latest_poll_interval: Duration::from_secs(1),
            stale_after: Duration::from_secs(10),
        }
    }
}

impl Default for CacheWarmupConfig {
    fn default() -> Self {
        CacheWarmupConfig {
            enabled: true,
            known_applications: Vec::new(),
            concurrency: 10,
            timeout: Duration::from_secs(5),
        }
    }
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            timeout: Duration::from_secs(10),
            default_backend: RpcKind::Jsonrpc,
            backends: BTreeMap::new(),
        }
    }
}

impl Default for BackendConfig {
    fn default() -> Self {
        BackendConfig {
            urls: Vec::new(),
            headers: BTreeMap::new(),
            connect_timeout: Duration::from_secs(2),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(30),
        }
    }
}

impl Default for MeterConfig {
    fn default() -> Self {
        MeterConfig {
            enabled: true,
            fail_open: false,
        }
    }
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            stream_max_len: 1_000_000,
            queue_capacity: 50_000,
        }
    }
}

impl Default for SimulationConfig {
    fn default() -> Self {
        SimulationConfig {
            enabled: false,
            freshness_window: Duration::from_secs(30),
            identities: Vec::new(),
        }
    }
}

impl RelayerConfig {
    /// Parses YAML, rejecting unknown keys.
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    }

    /// Checks the configuration: `Ok(warnings)` when it can run, `Err(errors)`
    /// listing every problem when it cannot.
    pub fn validate(&self) -> Result<Vec<String>, Vec<String>> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        match self.redis.validate() {
            Ok(w) => warnings.extend(w),
            Err(e) => errors.push(e.to_string()),
        }
        match self.chain.validate() {
            Ok(w) => warnings.extend(w),
            Err(e) => errors.push(format!("chain: {e}")),
        }
        if self.drain_timeout.is_zero() {
            errors.push("drain_timeout must be > 0".into());
        }
        if self.ring_key_cache_capacity == 0 {
            errors.push("ring_key_cache_capacity must be > 0".into());
        }
        if self.publish.queue_capacity == 0 {
            errors.push("publish.queue_capacity must be > 0".into());
        }
        if self.max_body_bytes == 0 || self.max_body_bytes > 64 << 20 {
            errors.push(format!(
                "max_body_bytes {} not in 1..=64MiB",
                self.max_body_bytes
            ));
        }
        if self.services.is_empty() {
            errors.push("no services configured".into());
        }
        for (id, svc) in &self.services {
            if protocol::session::validate_service_id(id).is_err() {
                errors.push(format!(
                    "service id {id:?} is not a valid Pocket service id"
                ));
            }
            if !svc.backends.contains_key(&svc.default_backend) {
                errors.push(format!(
                    "service {id}: default_backend {} has no backend entry",
                    svc.default_backend.name()
                ));
            }
            for (kind, b) in &svc.backends {
                if b.urls.is_empty() {
                    errors.push(format!("service {id}: {} backend has no urls", kind.name()));
                }
                let mut seen = std::collections::BTreeSet::new();
                for url in &b.urls {
                    if !seen.insert(url) {
                        errors.push(format!("service {id}: duplicate url {url}"));
                    }
                    match url.parse::<http::Uri>() {
                        Ok(u) if u.scheme_str() == Some("http") && u.host().is_some() => {}
                        Ok(u) if u.scheme_str() == Some("https") => errors.push(format!(
                            "service {id}: {url}: https backends are not supported yet; put a TLS terminator beside the node"
                        )),
                        _ => errors.push(format!("service {id}: {url} is not an http:// URL")),
                    }
                }
                if matches!(kind, RpcKind::Websocket | RpcKind::Grpc) {
                    warnings.push(format!(
                        "service {id}: {} relays are forwarded as HTTP for now",
                        kind.name()
                    ));
                }
            }
            if svc.timeout.is_zero() {
                errors.push(format!("service {id}: timeout is zero"));
            }
        }
        if self.simulation.enabled && self.simulation.identities.is_empty() {
            warnings.push(
                "simulation enabled without identities: every simulated relay is refused".into(),
            );
        }
        for ident in &self.simulation.identities {
            for k in std::iter::once(&ident.app_pubkey_hex).chain(&ident.gateway_pubkeys_hex) {
                if hex::decode(k).ok().filter(|b| b.len() == 33).is_none() {
                    errors.push(format!(
                        "simulation identity {}: {k} is not a 33-byte hex key",
                        ident.key_id
                    ));
                }
            }
        }
        let feed = &self.chain_feed;
        if feed.latest_poll_interval.is_zero() || feed.stale_after.is_zero() {
            errors.push("chain_feed: latest_poll_interval and stale_after must be > 0".into());
        }
        let warm = &self.cache_warmup;
        if warm.enabled && (warm.concurrency == 0 || warm.timeout.is_zero()) {
            errors.push("cache_warmup: concurrency and timeout must be > 0".into());
        }
        for app in &warm.known_applications {
            if protocol::address::decode_address(app).is_err() {
                errors.push(format!(
                    "cache_warmup: known application {app:?} is not a bech32 address"
                ));
            }
        }
        if self.keys_file.is_none() {
            errors.push("keys_file is required (supplier operator keys)".into());
        }
        if errors.is_empty() {
            Ok(warnings)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runnable() -> RelayerConfig {
        let mut cfg = RelayerConfig {
            keys_file: Some("keys.yaml".into()),
            ..Default::default()
        };
        let backend = BackendConfig {
            urls: vec!["http://127.0.0.1:8545".into()],
            ..Default::default()
        };
        cfg.services.insert(
            "anvil".into(),
            ServiceConfig {
                backends: [(RpcKind::Jsonrpc, backend)].into(),
                ..Default::default()
            },
        );
        cfg
    }

    #[test]
    fn block_source_and_warm_up_are_checked() {
        let cfg = runnable();
        assert!(cfg.validate().is_ok(), "{:?}", cfg.validate());
        assert_eq!(cfg.chain_feed.source, ChainFeedSource::Redis);
        assert!(cfg.cache_warmup.enabled);

        let mut bad = runnable();
        bad.chain_feed.stale_after = Duration::ZERO;
        bad.cache_warmup.concurrency = 0;
        bad.cache_warmup.known_applications = vec!["pokt1nope".into()];
        let errors = bad.validate().unwrap_err();
        for expected in ["chain_feed", "concurrency", "pokt1nope"] {
            assert!(
                errors.iter().any(|e| e.contains(expected)),
                "{expected}: {errors:?}"
            );
        }

        let yaml =
            "chain_feed: { source: node }\ncache_warmup: { enabled: false, concurrency: 0 }\n";
        let parsed = RelayerConfig::from_yaml(yaml).unwrap();
        assert_eq!(parsed.chain_feed.source, ChainFeedSource::Node);
        assert_eq!(parsed.chain_feed.stale_after, Duration::from_secs(10));
        assert!(!parsed.cache_warmup.enabled);
        assert!(RelayerConfig::from_yaml("chain_feed: { source: websocket }").is_err());
    }
}
