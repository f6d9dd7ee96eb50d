//! Bech32 `pokt` account addresses.

use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Bech32, Hrp};
use ripemd::Ripemd160;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Human-readable part of Pocket account addresses.
pub const ACCOUNT_HRP: &str = "pokt";

/// Longest address payload cosmos-sdk accepts (`address.MaxAddrLen`).
const MAX_ADDRESS_LEN: usize = 255;

/// The account address of a 33-byte compressed secp256k1 public key:
/// `bech32("pokt", RIPEMD-160(SHA-256(pubkey)))`.
pub fn address_from_pubkey(pubkey: &[u8]) -> Result<String> {
    if pubkey.len() != 33 || !matches!(pubkey[0], 0x02 | 0x03) {
        return Err(Error::InvalidPublicKey(format!(
            "expected 33-byte compressed key, got {} bytes",
            pubkey.len()
        )));
    }
    let sha = Sha256::digest(pubkey);
    let payload = Ripemd160::digest(sha);
    encode_address(&payload)
}

/// Encodes raw address bytes with the `pokt` prefix (classic bech32).
pub fn encode_address(payload: &[u8]) -> Result<String> {
    let hrp = Hrp::parse_unchecked(ACCOUNT_HRP);
    bech32::encode::<Bech32>(hrp, payload).map_err(|e| Error::InvalidAddress {
        address: String::new(),
        reason: e.to_string(),
    })
}

/// Decodes a `pokt` bech32 address to its raw bytes, as cosmos-sdk's
/// `AccAddressFromBech32` does: classic bech32 checksum (not bech32m), prefix
/// `pokt`, payload of 1 to 255 bytes.
pub fn decode_address(address: &str) -> Result<Vec<u8>> {
    let invalid = |reason: String| Error::InvalidAddress {
        address: address.to_owned(),
        reason,
    };
    if address.trim().is_empty() {
        return Err(invalid("empty".into()));
    }
    let checked = CheckedHrpstring::new::<Bech32>(address).map_err(|e| invalid(e.to_string()))?;
    if !checked.hrp().as_str().eq_ignore_ascii_case(ACCOUNT_HRP) {
        return Err(invalid(format!(
            "prefix {:?}, expected {ACCOUNT_HRP:?}",
            checked.hrp().as_str()
        )));
    }
    let bytes: Vec<u8> = checked.byte_iter().collect();
    if bytes.is_empty() || bytes.len() > MAX_ADDRESS_LEN {
        return Err(invalid(format!("payload of {} bytes", bytes.len())));
    }
    Ok(bytes)
}
