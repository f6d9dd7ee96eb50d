//! The relay meter: each (session, supplier) may consume at most its share of
//! the application's stake. The counter lives in Redis so every relayer
//! replica shares it.
//!
//! Replicas reserve the budget in chunks: `INCRBY chunk` + `PEXPIRE` in one
//! round trip grants this replica the part of `[counter − chunk, counter]`
//! that lies below the budget (its unused tail is given back at once), and
//! the relays that follow are charged against that local reservation without
//! a round trip. Grants are disjoint windows of one atomic counter, so the
//! relays accepted by all replicas together never cost more than the budget,
//! whatever the interleaving. A chunk is at most [`CHUNK_RELAYS`] relays and
//! at most 1/[`CHUNK_FRACTION`] of the budget (a single relay when the budget
//! is small), so the part of a budget left reserved but unused in a replica
//! when the session ends (or the replica dies) is bounded by that.
//! A relay whose backend failed is refunded to the local reservation.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use fred::prelude::*;
use parking_lot::Mutex;

use crate::error::RelayError;

/// Most relays one reservation covers.
pub const CHUNK_RELAYS: u128 = 32;
/// A reservation is at most this fraction of the budget.
pub const CHUNK_FRACTION: u128 = 64;
/// Local reservations kept before expired ones are swept.
const SWEEP_AT: usize = 4096;

/// Shared per-session budgets.
pub struct Meter {
    pool: Pool,
    keys: store::Keys,
    fail_open: bool,
    /// Reserved but not yet consumed, per meter key, until the counter's TTL.
    reserved: Mutex<HashMap<String, Reservation>>,
}

struct Reservation {
    left: u128,
    expires: Instant,
}

impl Meter {
    /// A meter on `pool`; with `fail_open` relays are served when Redis fails.
    pub fn new(pool: Pool, keys: store::Keys, fail_open: bool) -> Self {
        Meter {
            pool,
            keys,
            fail_open,
            reserved: Mutex::new(HashMap::new()),
        }
    }

    /// Consumes `cost` uPOKT of the (session, supplier) budget `max`; the
    /// counter expires after `ttl`. Refuses with [`RelayError::OverServiced`]
    /// when the budget would be exceeded.
    pub async fn consume(
        &self,
        supplier: &str,
        session_id: &str,
        cost: u128,
        max: u128,
        ttl: Duration,
    ) -> Result<(), RelayError> {
        if cost == 0 {
            return Ok(());
        }
        if cost > max {
            return Err(RelayError::OverServiced);
        }
        let key = self.keys.meter_consumed(supplier, session_id);
        if self.take_local(&key, cost) {
            return Ok(());
        }
        let chunk = (max / CHUNK_FRACTION).min(cost * CHUNK_RELAYS).max(cost);
        match self.reserve(&key, chunk, max, ttl).await {
            Ok(granted) => {
                let mut reserved = self.reserved.lock();
                if reserved.len() >= SWEEP_AT {
                    let now = Instant::now();
                    reserved.retain(|_, r| r.expires > now);
                }
                let now = Instant::now();
                let entry = reserved.entry(key).or_insert(Reservation {
                    left: 0,
                    expires: now + ttl,
                });
                if entry.expires <= now {
                    // Expired with the Redis counter: what was left is not
                    // backed by it any more.
                    entry.left = 0;
                }
                entry.left += granted;
                entry.expires = now + ttl;
                if entry.left >= cost {
                    entry.left -= cost;
                    Ok(())
                } else {
                    Err(RelayError::OverServiced)
                }
            }
            Err(e) if self.fail_open => {
                tracing::warn!(error = %e, "relay meter unavailable; serving (fail_open)");
                Ok(())
            }
            Err(e) => Err(RelayError::Internal(format!("relay meter: {e}"))),
        }
    }

    /// Gives back a relay's cost when it was not served (backend failure): it
    /// goes back to this replica's reservation.
    pub async fn refund(&self, supplier: &str, session_id: &str, cost: u128) {
        let key = self.keys.meter_consumed(supplier, session_id);
        if let Some(r) = self.reserved.lock().get_mut(&key) {
            r.left += cost;
            return;
        }
        // Nothing reserved here any more (swept): give it back to everyone.
        self.give_back(&key, cost).await;
    }

    /// What this replica holds reserved for a (session, supplier), not yet
    /// consumed.
    pub fn reserved(&self, supplier: &str, session_id: &str) -> u128 {
        let key = self.keys.meter_consumed(supplier, session_id);
        self.reserved.lock().get(&key).map_or(0, |r| r.left)
    }

    fn take_local(&self, key: &str, cost: u128) -> bool {
        let mut reserved = self.reserved.lock();
        match reserved.get_mut(key) {
            Some(r) if r.left >= cost && r.expires > Instant::now() => {
                r.left -= cost;
                true
            }
            _ => false,
        }
    }

    /// Reserves up to `chunk` below `max`: what was granted (possibly 0).
    async fn reserve(
        &self,
        key: &str,
        chunk: u128,
        max: u128,
        ttl: Duration,
    ) -> Result<u128, Error> {
        let chunk_i = i64::try_from(chunk).unwrap_or(i64::MAX);
        let max_i = i64::try_from(max).unwrap_or(i64::MAX);
        let pipe = self.pool.next().pipeline();
        let () = pipe.incr_by(key, chunk_i).await?;
        let () = pipe
            .pexpire(
                key,
                i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
                None,
            )
            .await?;
        let (counter, _expire_set): (i64, i64) = pipe.all().await?;
        // This increment owns the window (counter − chunk, counter]; the part
        // above the budget is given back.
        let over = counter.saturating_sub(max_i).clamp(0, chunk_i);
        if over > 0 {
            self.give_back(key, over as u128).await;
        }
        Ok((chunk_i - over) as u128)
    }

    async fn give_back(&self, key: &str, amount: u128) {
        let amount = i64::try_from(amount).unwrap_or(i64::MAX);
        if let Err(e) = self.pool.decr_by::<i64, _>(key, amount).await {
            tracing::warn!(error = %e, "relay meter give-back failed");
        }
    }
}
