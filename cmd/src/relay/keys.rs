//! The signing key: a gateway's (PATH signs with its gateway key) or an
//! application's, from a keys file or a hex flag.
//!
//! The keys file has the operator keys file's shape (`keys: ["<hex>", ...]`,
//! see `chain::keys`) and the same rule: it must not be readable or writable
//! by other users. Key material never reaches an error or a log line.

use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;

/// A private key and its `pokt` address.
#[derive(Clone)]
pub struct SigningKey {
    /// The key (its `Debug` prints only the public key).
    pub key: rings::PrivateKey,
    /// The account address of the key.
    pub address: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    keys: Vec<String>,
}

impl SigningKey {
    /// A key from 64 hex characters (optionally `0x`-prefixed).
    pub fn from_hex(text: &str, what: &str) -> anyhow::Result<Self> {
        let trimmed = text.trim();
        let cleaned = trimmed
            .strip_prefix("0x")
            .or_else(|| trimmed.strip_prefix("0X"))
            .unwrap_or(trimmed);
        if cleaned.len() != 64 {
            bail!("{what}: expected 64 hex characters, got {}", cleaned.len());
        }
        let mut bytes = [0u8; 32];
        if hex::decode_to_slice(cleaned, &mut bytes).is_err() {
            bytes.fill(0);
            bail!("{what}: not hexadecimal (expected 64 characters of 0-9, a-f)");
        }
        let key = rings::PrivateKey::from_bytes(&bytes).ok();
        bytes.fill(0);
        let key = key.with_context(|| {
            format!(
                "{what}: not a valid secp256k1 private key (zero, or not below the curve order)"
            )
        })?;
        let address = protocol::address::address_from_pubkey(&key.public_key())
            .with_context(|| format!("{what}: address"))?;
        Ok(SigningKey { key, address })
    }

    /// The compressed public key.
    pub fn public_key(&self) -> [u8; 33] {
        self.key.public_key()
    }
}

/// Every key of a keys file, in file order.
pub fn load_keys_file(path: &Path) -> anyhow::Result<Vec<SigningKey>> {
    check_permissions(path)?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading keys file {}", path.display()))?;
    // The parser's message may quote a line holding a key: say only that the
    // shape is wrong.
    let parsed: KeysFile = serde_saphyr::from_str(&text).map_err(|_| {
        anyhow::anyhow!(
            "keys file {}: not a YAML mapping of the form `keys: [\"<64 hex chars>\", ...]`",
            path.display()
        )
    })?;
    drop(text);
    if parsed.keys.is_empty() {
        bail!("keys file {}: `keys` is empty", path.display());
    }
    parsed
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| SigningKey::from_hex(k, &format!("keys file {} key #{i}", path.display())))
        .collect()
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .with_context(|| format!("keys file {}", path.display()))?
        .permissions()
        .mode()
        & 0o7777;
    if mode & 0o006 != 0 {
        bail!(
            "keys file {} is accessible to other users (mode {mode:o}); run `chmod 600` on it",
            path.display()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// Picks the signer among `keys`: the one at `wanted` if given, else the first
/// whose public key is in `ring`, gateways before the application (PATH signs
/// with its gateway key).
pub fn choose_signer(
    keys: Vec<SigningKey>,
    wanted: Option<&str>,
    ring: &[[u8; 33]],
    app_pubkey: &[u8; 33],
) -> anyhow::Result<SigningKey> {
    if let Some(addr) = wanted {
        return keys
            .into_iter()
            .find(|k| k.address == addr)
            .with_context(|| format!("no key for --signer {addr} among the given keys"));
    }
    let in_ring = |k: &&SigningKey| ring.contains(&k.public_key());
    if let Some(k) = keys
        .iter()
        .filter(in_ring)
        .find(|k| &k.public_key() != app_pubkey)
        .or_else(|| keys.iter().find(in_ring))
    {
        return Ok(k.clone());
    }
    let addresses: Vec<&str> = keys.iter().map(|k| k.address.as_str()).collect();
    bail!(
        "none of the keys ({}) is the application's or one of its delegated gateways' at this session",
        addresses.join(", ")
    )
}
