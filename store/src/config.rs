//! Redis connection settings, from the operator's config file.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How to reach Redis. The URL scheme selects the topology:
/// `redis://` / `rediss://` (TLS) standalone, `redis-cluster://` Cluster,
/// `redis-sentinel://` Sentinel (with `sentinel_service_name`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// Server URL, e.g. `redis://127.0.0.1:6379/0`. Credentials may be in the
    /// URL or in `username` / `password`.
    pub url: String,
    /// ACL user name (overrides the URL's).
    pub username: Option<String>,
    /// Password (overrides the URL's). Never logged.
    pub password: Option<String>,
    /// Sentinel master name, required with `redis-sentinel://`.
    pub sentinel_service_name: Option<String>,
    /// Key namespace prefix (`[A-Za-z0-9_-]+`).
    pub namespace: String,
    /// Connections in the command pool (blocking stream readers use their own).
    pub pool_size: usize,
    /// Timeout of one command.
    #[serde(with = "humantime_serde")]
    pub command_timeout: Duration,
    /// Timeout of one connection attempt.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: "redis://127.0.0.1:6379".into(),
            username: None,
            password: None,
            sentinel_service_name: None,
            namespace: "ha".into(),
            pool_size: 8,
            command_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl RedisConfig {
    /// Checks the settings; returns warnings for settings that work but are
    /// unwise, and an error for settings that cannot work.
    pub fn validate(&self) -> Result<Vec<String>> {
        let mut warnings = Vec::new();
        crate::keys::validate_namespace(&self.namespace)?;
        fred::types::config::Config::from_url(&self.url)
            .map_err(|e| Error::Config(format!("url: {}", e.details())))?;
        if self.url.starts_with("redis-sentinel") && self.sentinel_service_name.is_none() {
            return Err(Error::Config(
                "redis-sentinel:// needs sentinel_service_name".into(),
            ));
        }
        if self.pool_size == 0 || self.pool_size > 1024 {
            return Err(Error::Config(format!(
                "pool_size {} not in 1..=1024",
                self.pool_size
            )));
        }
        if self.command_timeout < Duration::from_millis(10) {
            return Err(Error::Config("command_timeout below 10ms".into()));
        }
        if self.url.starts_with("redis://") && !is_loopback_url(&self.url) {
            warnings
                .push("redis url is plaintext to a non-loopback host; consider rediss://".into());
        }
        Ok(warnings)
    }
}

fn is_loopback_url(url: &str) -> bool {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or("")
        .rsplit('@')
        .next()
        .unwrap_or("");
    host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]")
}
