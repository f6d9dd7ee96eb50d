//! Sessions: header validation, the anchored session grid, the relay, claim and
//! proof windows, session ids and supplier selection weights
//! (`sessions-and-windows.md` §1–4).

use sha3::{Digest, Sha3_256};

use crate::address::decode_address;
use crate::error::{Error, Result};
use crate::pb::pocket::session::SessionHeader;
use crate::pb::pocket::shared::Params as SharedParams;

/// Longest service id the chain accepts.
pub const MAX_SERVICE_ID_LEN: usize = 42;

/// Checks a session header as Go `SessionHeader.ValidateBasic` does: a `pokt`
/// application address, a non-empty session id, a valid service id, a start
/// height ≥ 1 and an end height after the start.
pub fn validate_session_header(header: &SessionHeader) -> Result<()> {
    const MSG: &str = "SessionHeader";
    decode_address(&header.application_address)
        .map_err(|e| Error::field(MSG, "application_address", e.to_string()))?;
    if header.session_id.is_empty() {
        return Err(Error::field(MSG, "session_id", "empty"));
    }
    validate_service_id(&header.service_id)?;
    if header.session_start_block_height < 1 {
        return Err(Error::field(
            MSG,
            "session_start_block_height",
            format!("{} < 1", header.session_start_block_height),
        ));
    }
    if header.session_end_block_height <= header.session_start_block_height {
        return Err(Error::field(
            MSG,
            "session_end_block_height",
            format!(
                "end {} is not after start {}",
                header.session_end_block_height, header.session_start_block_height
            ),
        ));
    }
    Ok(())
}

/// Checks a service id: 1 to 42 characters of `[a-zA-Z0-9_-]`.
pub fn validate_service_id(service_id: &str) -> Result<()> {
    let ok = !service_id.is_empty()
        && service_id.len() <= MAX_SERVICE_ID_LEN
        && service_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::field(
            "SessionHeader",
            "service_id",
            format!("{service_id:?} is not 1..={MAX_SERVICE_ID_LEN} of [a-zA-Z0-9_-]"),
        ))
    }
}

/// The session grid in force at a height (from `ParamsAtHeight(h)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionGrid {
    blocks_per_session: i64,
    anchor: i64,
    number_at_anchor: i64,
}

impl SessionGrid {
    /// The grid of `params`. Fails when `num_blocks_per_session` is 0 or does
    /// not fit an `i64`.
    pub fn new(params: &SharedParams) -> Result<Self> {
        let n = i64::try_from(params.num_blocks_per_session)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                Error::OutOfRange(format!(
                    "num_blocks_per_session {} must be in 1..=i64::MAX",
                    params.num_blocks_per_session
                ))
            })?;
        Ok(SessionGrid {
            blocks_per_session: n,
            anchor: i64::try_from(params.session_grid_anchor_height).unwrap_or(0),
            number_at_anchor: i64::try_from(params.session_number_at_anchor).unwrap_or(0),
        })
    }

    /// Blocks per session (N).
    pub fn blocks_per_session(&self) -> i64 {
        self.blocks_per_session
    }

    fn anchor_for(&self, height: i64) -> (i64, i64) {
        if self.anchor == 0 || self.anchor > height {
            (1, 1)
        } else {
            (self.anchor, self.number_at_anchor.max(1))
        }
    }

    /// First block of the session containing `height` (0 for `height ≤ 0`).
    pub fn session_start(&self, height: i64) -> i64 {
        if height <= 0 {
            return 0;
        }
        let (anchor, _) = self.anchor_for(height);
        anchor + ((height - anchor) / self.blocks_per_session) * self.blocks_per_session
    }

    /// Last block (inclusive) of the session containing `height` (0 for `height ≤ 0`).
    pub fn session_end(&self, height: i64) -> i64 {
        if height <= 0 {
            return 0;
        }
        self.session_start(height) + self.blocks_per_session - 1
    }

    /// Session number (1-based) of the session containing `height` (0 for `height ≤ 0`).
    pub fn session_number(&self, height: i64) -> i64 {
        if height <= 0 {
            return 0;
        }
        let (anchor, number) = self.anchor_for(height);
        number + (height - anchor) / self.blocks_per_session
    }
}

/// The heights that matter for a session ending at `E`, from the shared params
/// in force at `E` (`ParamsAtHeight(E)`). All bounds are inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWindows {
    /// Last block of the session (`E`).
    pub session_end: i64,
    /// Last height at which a relayer still serves relays for the session.
    pub grace_period_end: i64,
    /// First height a claim may be included at.
    pub claim_window_open: i64,
    /// Last height a claim may be included at.
    pub claim_window_close: i64,
    /// First height a proof may be included at.
    pub proof_window_open: i64,
    /// Last height a proof may be included at.
    pub proof_window_close: i64,
    /// Height whose block hash seeds the proof path and requirement
    /// (`proof_window_open − 1`).
    pub proof_seed_height: i64,
    /// Height whose EndBlocker settles the claim.
    pub settlement_height: i64,
}

impl SessionWindows {
    /// Windows of the session ending at `session_end` under `params`.
    pub fn new(params: &SharedParams, session_end: i64) -> Result<Self> {
        let off = |v: u64, name: &str| {
            i64::try_from(v)
                .ok()
                .filter(|v| *v <= 1 << 40)
                .ok_or_else(|| Error::OutOfRange(format!("{name} {v} is not a sane offset")))
        };
        let grace = off(
            params.grace_period_end_offset_blocks,
            "grace_period_end_offset_blocks",
        )?;
        let co = off(
            params.claim_window_open_offset_blocks,
            "claim_window_open_offset_blocks",
        )?;
        let cc = off(
            params.claim_window_close_offset_blocks,
            "claim_window_close_offset_blocks",
        )?;
        let po = off(
            params.proof_window_open_offset_blocks,
            "proof_window_open_offset_blocks",
        )?;
        let pc = off(
            params.proof_window_close_offset_blocks,
            "proof_window_close_offset_blocks",
        )?;
        if !(1..=1 << 60).contains(&session_end) {
            return Err(Error::OutOfRange(format!(
                "session end height {session_end}"
            )));
        }
        let claim_window_open = session_end + co + 1;
        let claim_window_close = claim_window_open + cc;
        let proof_window_open = claim_window_close + po;
        let proof_window_close = proof_window_open + pc;
        Ok(SessionWindows {
            session_end,
            grace_period_end: session_end + grace,
            claim_window_open,
            claim_window_close,
            proof_window_open,
            proof_window_close,
            proof_seed_height: proof_window_open - 1,
            settlement_height: proof_window_close,
        })
    }

    /// Whether a relayer at chain height `current` still serves relays for
    /// this session (`current ≤ E + grace`).
    pub fn accepts_relays_at(&self, current: i64) -> bool {
        current <= self.grace_period_end
    }

    /// Whether a relay served at `current` is reward-eligible (finished before
    /// the claim window opens).
    pub fn relay_is_eligible_at(&self, current: i64) -> bool {
        current < self.claim_window_open
    }

    /// Whether a claim included at `height` is inside the claim window.
    pub fn claim_window_contains(&self, height: i64) -> bool {
        (self.claim_window_open..=self.claim_window_close).contains(&height)
    }

    /// Whether a proof included at `height` is inside the proof window.
    pub fn proof_window_contains(&self, height: i64) -> bool {
        (self.proof_window_open..=self.proof_window_close).contains(&height)
    }
}

/// Number of sessions whose claims can be pending at once: `ceil(S / N)` with
/// `S` the sum of the four window offsets (the application budget divisor).
pub fn num_pending_sessions(params: &SharedParams) -> Result<u64> {
    let n = params.num_blocks_per_session;
    if n == 0 {
        return Err(Error::OutOfRange("num_blocks_per_session is 0".into()));
    }
    let s = [
        params.claim_window_open_offset_blocks,
        params.claim_window_close_offset_blocks,
        params.proof_window_open_offset_blocks,
        params.proof_window_close_offset_blocks,
    ]
    .iter()
    .try_fold(0u64, |acc, v| acc.checked_add(*v))
    .ok_or_else(|| Error::OutOfRange("window offsets overflow".into()))?;
    Ok(s.div_ceil(n))
}

/// The session id preimage: `block_hash(B) ‖ "." ‖ service ‖ "." ‖ app ‖ "." ‖ LE8(B)`.
pub fn session_id_preimage(
    start_block_hash: &[u8],
    service_id: &str,
    application_address: &str,
    session_start: i64,
) -> Vec<u8> {
    let mut pre = Vec::with_capacity(start_block_hash.len() + service_id.len() + 56);
    pre.extend_from_slice(start_block_hash);
    pre.push(b'.');
    pre.extend_from_slice(service_id.as_bytes());
    pre.push(b'.');
    pre.extend_from_slice(application_address.as_bytes());
    pre.push(b'.');
    pre.extend_from_slice(&(session_start as u64).to_le_bytes());
    pre
}

/// The session id: lowercase hex of `SHA3-256(preimage)` (64 characters).
pub fn session_id(preimage: &[u8]) -> String {
    hex_lower(&Sha3_256::digest(preimage))
}

/// A supplier's selection weight for a session: the first 8 bytes of
/// `SHA3-256(preimage ‖ "." ‖ operator_address)` as a big-endian signed
/// integer. Candidates are sorted ascending by weight, ties by address.
pub fn supplier_selection_weight(preimage: &[u8], operator_address: &str) -> i64 {
    let mut h = Sha3_256::new();
    h.update(preimage);
    h.update(b".");
    h.update(operator_address.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}
