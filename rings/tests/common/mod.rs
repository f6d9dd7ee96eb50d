//! Shared helpers for the conformance tests: loading `../shared/vectors` and hex.

#![allow(dead_code)] // each test binary uses a different subset

use serde::de::DeserializeOwned;

/// Reads and parses one vector file from the shared vectors directory.
pub fn load<T: DeserializeOwned>(file: &str) -> T {
    let path = format!("{}/../../shared/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

/// Decodes lowercase hex (panics on bad input: vectors are trusted).
pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

/// Decodes hex of a known length.
pub fn unhex_n<const N: usize>(s: &str) -> [u8; N] {
    unhex(s)
        .try_into()
        .unwrap_or_else(|v: Vec<u8>| panic!("expected {N} bytes, got {} in {s:?}", v.len()))
}

/// Lowercase hex.
pub fn tohex(b: &[u8]) -> String {
    hex::encode(b)
}

/// The 32-byte value of a private key given in hex.
pub fn private_key(s: &str) -> rings::PrivateKey {
    rings::PrivateKey::from_bytes(&unhex_n::<32>(s)).expect("vector private keys are valid")
}
