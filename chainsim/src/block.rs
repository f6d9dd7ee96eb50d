//! Blocks, tx results and events as the simulator records them, with the
//! deterministic block hash and RFC 3339 time formatting.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// An ABCI event (`type` plus string attributes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Event type, e.g. `pocket.proof.EventClaimCreated`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Attributes in emission order.
    pub attributes: Vec<(String, String)>,
}

impl Event {
    pub(crate) fn new(kind: &str) -> Self {
        Event {
            kind: kind.to_owned(),
            attributes: Vec::new(),
        }
    }

    pub(crate) fn attr(mut self, key: &str, value: impl ToString) -> Self {
        self.attributes.push((key.to_owned(), value.to_string()));
        self
    }
}

/// The result of a transaction, from CheckTx or from its block (DeliverTx).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct TxResult {
    /// 0 on success, else the cosmos/poktroll error code.
    pub code: u32,
    /// Error codespace (`sdk`, `proof`, ...); empty on success.
    pub codespace: String,
    /// Human-readable result or error.
    pub log: String,
    /// Gas limit of the tx.
    pub gas_wanted: i64,
    /// Gas the simulator charged.
    pub gas_used: i64,
    /// Events emitted (empty on failure).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
}

impl TxResult {
    /// Whether the tx succeeded.
    pub fn is_ok(&self) -> bool {
        self.code == 0
    }
}

/// A committed block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Height (from 1).
    pub height: i64,
    /// The block hash (`block_id.hash`).
    pub hash: [u8; 32],
    /// The previous block's hash (zero for height 1).
    pub prev_hash: [u8; 32],
    /// Block time, nanoseconds since the Unix epoch.
    pub time_unix_nanos: i128,
    /// Raw txs included, in order.
    pub txs: Vec<Vec<u8>>,
    /// One result per tx.
    pub tx_results: Vec<TxResult>,
    /// EndBlocker events (proof validation, settlement).
    pub finalize_events: Vec<Event>,
}

/// The deterministic block hash: `SHA-256(chain_id ‖ BE8(height) ‖ prev_hash)`.
/// It does not depend on the txs or the time, so tests can know every block
/// hash (and so every session id and proof path) in advance.
pub fn block_hash(chain_id: &str, height: i64, prev_hash: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(chain_id.as_bytes());
    h.update(height.to_be_bytes());
    h.update(prev_hash);
    h.finalize().into()
}

/// Upper-case hex, as CometBFT prints hashes.
pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

/// RFC 3339 UTC with nanoseconds (`2026-01-02T03:04:05.123456789Z`), as
/// CometBFT prints times.
pub(crate) fn rfc3339(unix_nanos: i128) -> String {
    let secs = unix_nanos.div_euclid(1_000_000_000);
    let nanos = unix_nanos.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i128) -> (i128, i128, i128) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339(1_767_225_600 * 1_000_000_000 + 5),
            "2026-01-01T00:00:00.000000005Z"
        );
        assert_eq!(
            rfc3339(951_782_400 * 1_000_000_000),
            "2000-02-29T00:00:00.000000000Z"
        );
    }

    #[test]
    fn block_hash_is_deterministic_and_chained() {
        let h1 = block_hash("pocket", 1, &[0; 32]);
        assert_eq!(h1, block_hash("pocket", 1, &[0; 32]));
        assert_ne!(h1, block_hash("pocket", 2, &h1));
        assert_ne!(h1, block_hash("other", 1, &[0; 32]));
    }
}
