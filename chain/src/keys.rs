//! Supplier operator keys: hex secp256k1 private keys from a keys file (the
//! Go relay-miner's `supplier.yaml`: `keys: ["0x…", "…"]`), their public keys
//! and `pokt` addresses, and SIGN_MODE_DIRECT signing.
//!
//! Key material never reaches a log or an error: `Debug` prints the address,
//! errors name the file and the key's position only.

use std::fmt;
use std::path::Path;

use k256::ecdsa::{Signature, SigningKey, signature::hazmat::PrehashSigner};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A supplier operator's signing key with its public key and address.
#[derive(Clone)]
pub struct OperatorKey {
    signing_key: SigningKey,
    public_key: [u8; 33],
    address: String,
}

impl OperatorKey {
    /// A key from 32 raw bytes (a scalar in `1..N`, used as is).
    ///
    /// # Errors
    /// [`Error::InvalidKey`] (index 0) if the scalar is zero or not below N.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self> {
        Self::from_bytes_at(bytes, 0)
    }

    fn from_bytes_at(bytes: &[u8; 32], index: usize) -> Result<Self> {
        let signing_key = SigningKey::from_slice(bytes).map_err(|_| Error::InvalidKey {
            index,
            reason: "not a valid secp256k1 scalar (zero or ≥ the group order)".into(),
        })?;
        let point = signing_key.verifying_key().to_sec1_point(true);
        let public_key: [u8; 33] = point.as_bytes().try_into().map_err(|_| Error::InvalidKey {
            index,
            reason: "public key is not 33 bytes".into(),
        })?;
        let address =
            protocol::address::address_from_pubkey(&public_key).map_err(|e| Error::InvalidKey {
                index,
                reason: e.to_string(),
            })?;
        Ok(OperatorKey {
            signing_key,
            public_key,
            address,
        })
    }

    /// A key from 64 hex characters, optionally `0x`-prefixed, surrounding
    /// whitespace ignored (as the Go relay-miner accepts).
    ///
    /// # Errors
    /// [`Error::InvalidKey`] (index 0) without echoing the input.
    pub fn from_hex(hex_key: &str) -> Result<Self> {
        Self::from_hex_at(hex_key, 0)
    }

    fn from_hex_at(hex_key: &str, index: usize) -> Result<Self> {
        let trimmed = hex_key.trim();
        let cleaned = trimmed
            .strip_prefix("0x")
            .or_else(|| trimmed.strip_prefix("0X"))
            .unwrap_or(trimmed);
        if cleaned.len() != 64 {
            return Err(Error::InvalidKey {
                index,
                reason: format!("expected 64 hex characters, got {}", cleaned.len()),
            });
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(cleaned, &mut bytes).map_err(|_| Error::InvalidKey {
            index,
            reason: "not hexadecimal".into(),
        })?;
        let key = Self::from_bytes_at(&bytes, index);
        bytes.fill(0);
        key
    }

    /// The compressed public key (33 bytes).
    #[must_use]
    pub fn public_key(&self) -> [u8; 33] {
        self.public_key
    }

    /// The raw 32-byte secret scalar, for handing the same key to another
    /// signer (the relayer's response signer in `rings`). Key material:
    /// never log, format or persist it; drop (and ideally overwrite) the
    /// copy as soon as it has been handed over.
    #[must_use]
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing_key.to_bytes().into()
    }

    /// The `pokt` account address.
    #[must_use]
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Signs SIGN_MODE_DIRECT sign-doc bytes: ECDSA over `SHA-256(sign_doc)`
    /// (one hash), RFC 6979 nonce, low-S, 64-byte `r‖s` (wire.md §11.2).
    ///
    /// # Errors
    /// [`Error::Build`] if the ECDSA backend fails (not expected: RFC 6979
    /// retries internally).
    pub fn sign_direct(&self, sign_doc: &[u8]) -> Result<[u8; 64]> {
        let digest = Sha256::digest(sign_doc);
        let signature: Signature = self
            .signing_key
            .sign_prehash(&digest)
            .map_err(|e| Error::Build(format!("signing failed: {e}")))?;
        // k256 already produces low-S; normalising again is free insurance
        // (the chain rejects high-S).
        let signature = signature.normalize_s();
        Ok(signature.to_bytes().into())
    }
}

impl fmt::Debug for OperatorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperatorKey")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// The keys file schema.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    keys: Vec<String>,
}

/// Loads operator keys from a YAML keys file `keys: ["<hex>", ...]`.
///
/// On unix the file must not be readable or writable by others (mode
/// `& 0o006 == 0`); `chmod 600` is the usual fix. Duplicate keys are an error.
///
/// # Errors
/// [`Error::InsecureKeysFile`], [`Error::KeysFile`] (unreadable, not the
/// expected YAML, empty, duplicates) or [`Error::InvalidKey`]. No error
/// contains key material.
pub fn load_keys_file(path: &Path) -> Result<Vec<OperatorKey>> {
    let file_err = |reason: String| Error::KeysFile {
        path: path.to_owned(),
        reason,
    };
    check_permissions(path)?;
    let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
    // The parser's message may quote the offending line, which can hold a
    // key: report only that the shape is wrong.
    let parsed: KeysFile = serde_saphyr::from_str(&text).map_err(|_| {
        file_err("not a YAML mapping of the form `keys: [\"<64 hex chars>\", ...]`".into())
    })?;
    drop(text);
    if parsed.keys.is_empty() {
        return Err(file_err("`keys` is empty".into()));
    }
    let mut keys: Vec<OperatorKey> = Vec::with_capacity(parsed.keys.len());
    for (index, hex_key) in parsed.keys.iter().enumerate() {
        let key = OperatorKey::from_hex_at(hex_key, index)?;
        if let Some(first) = keys.iter().position(|k| k.address == key.address) {
            return Err(file_err(format!(
                "keys #{first} and #{index} are the same key ({})",
                key.address
            )));
        }
        keys.push(key);
    }
    Ok(keys)
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| Error::KeysFile {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o006 != 0 {
        return Err(Error::InsecureKeysFile {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// signatures.md §5: the reference supplier operator key.
    const SUPPLIER_HEX: &str = "64058c775d6a3606abe563287d478120e03e19f654f019ec9c2b1b9d41697584";
    const SUPPLIER_ADDR: &str = "pokt1rvvk8e7qrv4xqg9fzhvmq9gw7uy7yul9qv280d";
    const APP_HEX: &str = "2d00ef074d9b51e46886dc9a1df11e7b986611d0f336bdcf1f0adce3e037ec0a";
    const APP_ADDR: &str = "pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4";

    /// A keys file in its own temporary directory, removed on drop.
    struct TempFile {
        dir: std::path::PathBuf,
        path: std::path::PathBuf,
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn temp_file(name: &str, contents: &str, mode: u32) -> TempFile {
        let dir =
            std::env::temp_dir().join(format!("chain-keys-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("supplier.yaml");
        std::fs::write(&path, contents).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = mode;
        TempFile { dir, path }
    }

    #[test]
    fn derives_reference_addresses() {
        let k = OperatorKey::from_hex(SUPPLIER_HEX).unwrap();
        assert_eq!(k.address(), SUPPLIER_ADDR);
        assert_eq!(
            hex::encode(k.public_key()),
            "0387d29e4d428aa9e1dfe447bfe18a0a05f7c9b77aba161df5c155e774c180fde1"
        );
        let k = OperatorKey::from_hex(&format!("  0x{APP_HEX}\n")).unwrap();
        assert_eq!(k.address(), APP_ADDR);
    }

    #[test]
    fn debug_and_errors_never_show_key_material() {
        let k = OperatorKey::from_hex(SUPPLIER_HEX).unwrap();
        let dbg = format!("{k:?}");
        assert!(dbg.contains(SUPPLIER_ADDR), "{dbg}");
        assert!(!dbg.contains(&SUPPLIER_HEX[..16]), "{dbg}");
        let bad = format!("{}zz", &SUPPLIER_HEX[..62]);
        let err = OperatorKey::from_hex(&bad).unwrap_err().to_string();
        assert!(!err.contains(&SUPPLIER_HEX[..16]), "{err}");
        assert!(OperatorKey::from_hex(&"00".repeat(32)).is_err());
        assert!(OperatorKey::from_hex(&"ff".repeat(32)).is_err());
        assert!(OperatorKey::from_hex("abcd").is_err());
    }

    #[test]
    fn secret_bytes_round_trip() {
        let k = OperatorKey::from_hex(SUPPLIER_HEX).unwrap();
        assert_eq!(hex::encode(k.secret_bytes()), SUPPLIER_HEX);
        let again = OperatorKey::from_bytes(&k.secret_bytes()).unwrap();
        assert_eq!(again.address(), SUPPLIER_ADDR);
    }

    #[test]
    fn loads_keys_file() {
        let path = temp_file(
            "ok",
            &format!("keys:\n  - \"0x{SUPPLIER_HEX}\"\n  - {APP_HEX}\n"),
            0o600,
        );
        let keys = load_keys_file(&path.path).unwrap();
        let addrs: Vec<&str> = keys.iter().map(OperatorKey::address).collect();
        assert_eq!(addrs, [SUPPLIER_ADDR, APP_ADDR]);
    }

    #[cfg(unix)]
    #[test]
    fn refuses_world_readable_file() {
        let path = temp_file("open", &format!("keys: [\"{SUPPLIER_HEX}\"]\n"), 0o644);
        let err = load_keys_file(&path.path).unwrap_err();
        assert!(
            matches!(err, Error::InsecureKeysFile { mode: 0o644, .. }),
            "{err}"
        );
        let path = temp_file("group", &format!("keys: [\"{SUPPLIER_HEX}\"]\n"), 0o640);
        assert_eq!(load_keys_file(&path.path).unwrap().len(), 1);
    }

    #[test]
    fn rejects_malformed_files_without_echoing_keys() {
        let path = temp_file(
            "dup",
            &format!("keys: [\"{SUPPLIER_HEX}\", \"0x{SUPPLIER_HEX}\"]\n"),
            0o600,
        );
        let err = load_keys_file(&path.path).unwrap_err().to_string();
        assert!(err.contains("same key"), "{err}");
        assert!(!err.contains(&SUPPLIER_HEX[..16]), "{err}");

        let path = temp_file("empty", "keys: []\n", 0o600);
        assert!(load_keys_file(&path.path).is_err());

        let path = temp_file("shape", &format!("{SUPPLIER_HEX}: [\n"), 0o600);
        let err = load_keys_file(&path.path).unwrap_err().to_string();
        assert!(!err.contains(&SUPPLIER_HEX[..16]), "{err}");

        let path = temp_file(
            "bad",
            &format!("keys: [\"{}\"]\n", &SUPPLIER_HEX[..60]),
            0o600,
        );
        let err = load_keys_file(&path.path).unwrap_err();
        assert!(matches!(err, Error::InvalidKey { index: 0, .. }), "{err}");
    }
}
