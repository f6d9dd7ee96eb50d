//! Configuration files: strict YAML (unknown keys are errors), environment
//! overrides through one prefix, validation with every error listed, and the
//! `config validate` / `config print-default` commands.
//!
//! Environment overrides: `PRM_<KEY>__<KEY>...=<YAML scalar>` replaces the
//! key at that path, e.g. `PRM_REDIS__PASSWORD=s3cret`,
//! `PRM_CHAIN__GRPC__URL=https://grpc.example:443`, `PRM_DRAIN_TIMEOUT=10s`.
//! Path segments are the YAML keys, lower-cased, joined by `__`. The value is
//! read as a YAML scalar: quote it to force a string (`PRM_REDIS__PASSWORD='"123"'`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The one prefix of environment overrides.
pub const ENV_PREFIX: &str = "PRM_";

/// A configuration that cannot run: every problem, for exit status 2.
#[derive(Debug)]
pub struct InvalidConfig {
    /// The file.
    pub file: PathBuf,
    /// Every error found.
    pub errors: Vec<String>,
}

impl std::fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is not a valid configuration ({} error{}):",
            self.file.display(),
            self.errors.len(),
            if self.errors.len() == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            write!(f, "\n  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InvalidConfig {}

/// Which configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `relayer::RelayerConfig`.
    Relayer,
    /// `miner::supervisor::MinerConfig`.
    Miner,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Relayer => "relayer",
            Role::Miner => "miner",
        }
    }
}

/// A parsed and validated configuration of either role.
pub enum Loaded {
    /// A relayer configuration.
    Relayer(Box<relayer::RelayerConfig>),
    /// A miner configuration.
    Miner(Box<miner::supervisor::MinerConfig>),
}

/// Overrides from the process environment.
pub fn env_overrides() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k.len() > ENV_PREFIX.len())
        .collect();
    v.sort();
    v
}

/// Parses `text` strictly, applying `overrides` (`PRM_A__B`, value).
pub fn parse_with_overrides<T: DeserializeOwned>(
    text: &str,
    overrides: &[(String, String)],
) -> Result<T, String> {
    if overrides.is_empty() {
        return serde_saphyr::from_str(text).map_err(|e| e.to_string());
    }
    let mut doc: serde_json::Value = if text.trim().is_empty() {
        serde_json::Value::Object(Default::default())
    } else {
        serde_saphyr::from_str(text).map_err(|e| e.to_string())?
    };
    if doc.is_null() {
        doc = serde_json::Value::Object(Default::default());
    }
    for (name, raw) in overrides {
        let path: Vec<String> = name[ENV_PREFIX.len()..]
            .split("__")
            .map(str::to_lowercase)
            .collect();
        if path.iter().any(String::is_empty) {
            return Err(format!("{name}: empty key in the override path"));
        }
        let value: serde_json::Value =
            serde_saphyr::from_str(raw).unwrap_or_else(|_| serde_json::Value::String(raw.clone()));
        let value = if value.is_null() && !raw.trim().is_empty() && raw.trim() != "null" {
            serde_json::Value::String(raw.clone())
        } else {
            value
        };
        let mut node = &mut doc;
        for (i, key) in path.iter().enumerate() {
            let map = node
                .as_object_mut()
                .ok_or_else(|| format!("{name}: {} is not a mapping", path[..i].join(".")))?;
            if i + 1 == path.len() {
                map.insert(key.clone(), value.clone());
                break;
            }
            node = map
                .entry(key.clone())
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
        }
    }
    serde_json::from_value(doc).map_err(|e| format!("after environment overrides: {e}"))
}

fn read<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_with_overrides(&text, &env_overrides())
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// A relative `keys_file` is relative to the configuration file's folder.
fn resolve_keys_file(config_path: &Path, keys_file: &mut Option<PathBuf>) {
    if let Some(k) = keys_file.as_mut()
        && k.is_relative()
    {
        let base = config_path.parent().unwrap_or(Path::new("."));
        *k = base.join(&*k);
    }
}

/// Reads a relayer configuration (not validated).
pub fn read_relayer(path: &Path) -> anyhow::Result<relayer::RelayerConfig> {
    let mut c: relayer::RelayerConfig = read(path)?;
    resolve_keys_file(path, &mut c.keys_file);
    Ok(c)
}

/// Reads a miner configuration (not validated).
pub fn read_miner(path: &Path) -> anyhow::Result<miner::supervisor::MinerConfig> {
    let mut c: miner::supervisor::MinerConfig = read(path)?;
    resolve_keys_file(path, &mut c.keys_file);
    Ok(c)
}

/// Validation of a configuration and its keys file: `(warnings, errors)`
/// and the keys when they load.
pub fn check(
    validation: Result<Vec<String>, Vec<String>>,
    keys_file: Option<&Path>,
) -> (Vec<String>, Vec<String>, Vec<chain::OperatorKey>) {
    let (warnings, mut errors) = match validation {
        Ok(w) => (w, Vec::new()),
        Err(e) => (Vec::new(), e),
    };
    let mut keys = Vec::new();
    if let Some(path) = keys_file {
        match chain::load_keys_file(path) {
            Ok(k) => keys = k,
            Err(e) => errors.push(format!("keys_file: {e}")),
        }
    }
    (warnings, errors, keys)
}

/// Loads, validates and loads the keys of a configuration: warnings are
/// logged, errors returned as [`InvalidConfig`] (exit status 2).
pub fn load(role: Role, path: &Path) -> anyhow::Result<(Loaded, Vec<chain::OperatorKey>)> {
    let invalid = |errors: Vec<String>| InvalidConfig {
        file: path.to_owned(),
        errors,
    };
    let (loaded, validation, keys_file) = match role {
        Role::Relayer => {
            let c = read_relayer(path).map_err(|e| invalid(vec![format!("{e:#}")]))?;
            let v = c.validate();
            let k = c.keys_file.clone();
            (Loaded::Relayer(Box::new(c)), v, k)
        }
        Role::Miner => {
            let c = read_miner(path).map_err(|e| invalid(vec![format!("{e:#}")]))?;
            let v = c.validate();
            let k = c.keys_file.clone();
            (Loaded::Miner(Box::new(c)), v, k)
        }
    };
    let (warnings, errors, keys) = check(validation, keys_file.as_deref());
    for w in &warnings {
        tracing::warn!(config = %path.display(), "{w}");
    }
    if !errors.is_empty() {
        return Err(invalid(errors).into());
    }
    Ok((loaded, keys))
}

/// `config validate`: prints warnings and errors; `Ok(true)` when valid.
pub fn validate_command(role: Role, path: &Path) -> anyhow::Result<bool> {
    let (validation, keys_file) = match role {
        Role::Relayer => match read_relayer(path) {
            Ok(c) => (c.validate(), c.keys_file.clone()),
            Err(e) => (Err(vec![format!("{e:#}")]), None),
        },
        Role::Miner => match read_miner(path) {
            Ok(c) => (c.validate(), c.keys_file.clone()),
            Err(e) => (Err(vec![format!("{e:#}")]), None),
        },
    };
    let (warnings, errors, keys) = check(validation, keys_file.as_deref());
    for w in &warnings {
        println!("warning: {w}");
    }
    for e in &errors {
        println!("error: {e}");
    }
    if errors.is_empty() {
        println!(
            "{}: valid {} configuration ({} supplier key{}: {})",
            path.display(),
            role.name(),
            keys.len(),
            if keys.len() == 1 { "" } else { "s" },
            keys.iter()
                .map(chain::OperatorKey::address)
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(true)
    } else {
        println!(
            "{}: invalid {} configuration ({} error{})",
            path.display(),
            role.name(),
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        );
        Ok(false)
    }
}

/// `config print-default`: the defaults as YAML.
pub fn default_yaml(role: Role) -> anyhow::Result<String> {
    fn yaml<T: Serialize>(role: Role, v: &T) -> anyhow::Result<String> {
        let body = serde_saphyr::to_string(v).context("serialising the defaults")?;
        Ok(format!(
            "# Defaults of the {} configuration. Keys may be omitted; see\n# config.{}.example.yaml for what each one means.\n{body}",
            role.name(),
            role.name()
        ))
    }
    match role {
        Role::Relayer => yaml(role, &relayer::RelayerConfig::default()),
        Role::Miner => yaml(role, &miner::supervisor::MinerConfig::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ov(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn overrides_replace_nested_keys_with_typed_values() {
        let yaml = "redis:\n  url: redis://127.0.0.1:6379\nkeys_file: k.yaml\n";
        let c: miner::supervisor::MinerConfig = parse_with_overrides(
            yaml,
            &ov(&[
                ("PRM_REDIS__PASSWORD", "\"123\""),
                ("PRM_REDIS__POOL_SIZE", "3"),
                ("PRM_LEASE_TTL", "4s"),
                ("PRM_CHAIN__GRPC__URL", "http://10.0.0.1:9090"),
            ]),
        )
        .unwrap();
        assert_eq!(c.redis.password.as_deref(), Some("123"));
        assert_eq!(c.redis.pool_size, 3);
        assert_eq!(c.redis.url, "redis://127.0.0.1:6379");
        assert_eq!(c.lease_ttl, std::time::Duration::from_secs(4));
        assert_eq!(c.chain.grpc.url, "http://10.0.0.1:9090");
    }

    #[test]
    fn overrides_of_unknown_keys_are_errors() {
        let err = parse_with_overrides::<miner::supervisor::MinerConfig>(
            "",
            &ov(&[("PRM_REDIS__PASWORD", "x")]),
        )
        .err()
        .unwrap();
        assert!(err.contains("paswor"), "{err}");
    }

    #[test]
    fn unknown_keys_are_errors_without_overrides() {
        assert!(
            parse_with_overrides::<relayer::RelayerConfig>("listen_addr: 1.2.3.4:5\n", &[])
                .is_err()
        );
    }

    #[test]
    fn defaults_round_trip_through_print_default() {
        let text = default_yaml(Role::Relayer).unwrap();
        let back: relayer::RelayerConfig = parse_with_overrides(&text, &[]).unwrap();
        assert_eq!(back, relayer::RelayerConfig::default());
        let text = default_yaml(Role::Miner).unwrap();
        let back: miner::supervisor::MinerConfig = parse_with_overrides(&text, &[]).unwrap();
        assert_eq!(back, miner::supervisor::MinerConfig::default());
    }

    #[test]
    fn invalid_config_lists_every_error() {
        let e = InvalidConfig {
            file: "x.yaml".into(),
            errors: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            e.to_string(),
            "x.yaml is not a valid configuration (2 errors):\n  - a\n  - b"
        );
    }
}
