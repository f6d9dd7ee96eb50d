//! Connecting to Redis and probing what the server supports.

use fred::clients::SubscriberClient;
use fred::cmd;
use fred::prelude::*;
use fred::types::config::ReconnectPolicy;

use crate::config::RedisConfig;
use crate::error::{Error, Result};

/// What the server is and which optional commands it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// `redis_version` (Valkey reports its Redis-compatible version here too).
    pub version: String,
    /// `valkey_version` when the server is Valkey.
    pub valkey_version: Option<String>,
    /// Whether `XACKDEL` exists (Redis 8.2+): ack and delete in one command.
    pub has_xackdel: bool,
}

fn base_config(cfg: &RedisConfig) -> Result<Config> {
    let mut config =
        Config::from_url(&cfg.url).map_err(|e| Error::Config(format!("url: {}", e.details())))?;
    if let Some(user) = &cfg.username {
        config.username = Some(user.clone());
    }
    if let Some(password) = &cfg.password {
        config.password = Some(password.clone());
    }
    if let (Some(name), ServerConfig::Sentinel { service_name, .. }) =
        (&cfg.sentinel_service_name, &mut config.server)
    {
        *service_name = name.clone();
    }
    Ok(config)
}

fn builder(cfg: &RedisConfig) -> Result<Builder> {
    let mut b = Builder::from_config(base_config(cfg)?);
    b.with_connection_config(|c| {
        c.connection_timeout = cfg.connect_timeout;
        c.internal_command_timeout = cfg.command_timeout;
    })
    .with_performance_config(|p| {
        p.default_command_timeout = cfg.command_timeout;
    })
    .set_policy(ReconnectPolicy::new_exponential(0, 100, 30_000, 2));
    Ok(b)
}

/// Connects a command pool of `cfg.pool_size` connections.
pub async fn connect_pool(cfg: &RedisConfig) -> Result<Pool> {
    let pool = builder(cfg)?
        .build_pool(cfg.pool_size)
        .map_err(|e| Error::redis("build pool", e))?;
    pool.init()
        .await
        .map_err(|e| Error::redis(format!("connect {}", redact(&cfg.url)), e))?;
    Ok(pool)
}

/// Connects one client, for blocking commands (a stream reader holds its own
/// connection so that a blocking read never stalls the pool). Blocking
/// commands get no command timeout: their own BLOCK bound ends them.
pub async fn connect_client(cfg: &RedisConfig) -> Result<Client> {
    let mut b = builder(cfg)?;
    b.with_performance_config(|p| {
        p.default_command_timeout = std::time::Duration::ZERO;
    });
    let client = b.build().map_err(|e| Error::redis("build client", e))?;
    client
        .init()
        .await
        .map_err(|e| Error::redis(format!("connect {}", redact(&cfg.url)), e))?;
    Ok(client)
}

/// Connects a pub/sub client that resubscribes after reconnecting.
pub async fn connect_subscriber(cfg: &RedisConfig) -> Result<SubscriberClient> {
    let client = builder(cfg)?
        .build_subscriber_client()
        .map_err(|e| Error::redis("build subscriber", e))?;
    client
        .init()
        .await
        .map_err(|e| Error::redis(format!("connect {}", redact(&cfg.url)), e))?;
    let _task = client.manage_subscriptions();
    Ok(client)
}

/// Asks the server for its version and whether it has `XACKDEL`.
pub async fn probe(client: &impl ClientLike) -> Result<ServerInfo> {
    let info: String = client
        .custom(cmd!("INFO"), vec!["server"])
        .await
        .map_err(|e| Error::redis("INFO server", e))?;
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
            .map(|v| v.trim().to_owned())
    };
    let version =
        field("redis_version").ok_or_else(|| Error::reply("INFO server", "no redis_version"))?;
    let docs: Value = client
        .custom(cmd!("COMMAND"), vec!["INFO", "XACKDEL"])
        .await
        .map_err(|e| Error::redis("COMMAND INFO XACKDEL", e))?;
    let has_xackdel = match docs {
        Value::Array(items) => items.iter().any(|v| !v.is_null()),
        _ => false,
    };
    Ok(ServerInfo {
        version,
        valkey_version: field("valkey_version"),
        has_xackdel,
    })
}

/// The URL without credentials, for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}
