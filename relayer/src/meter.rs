//! The relay meter: each (session, supplier) may consume at most its share of
//! the application's stake; the counter lives in Redis so every relayer
//! replica shares it.
//!
//! Consuming is `INCRBY` + `PEXPIRE` in one pipelined round trip (no Lua: a
//! script call cost Redis and the relayer more CPU than the two commands).
//! The relay's own `INCRBY` result decides: above the budget, it is refused
//! and its increment taken back, so the relays accepted never sum past the
//! budget, whatever the interleaving across replicas. (A relay racing a
//! refused one may see the refused increment before it is taken back and be
//! refused too, only at the very end of a budget.)

use std::time::Duration;

use fred::prelude::*;

use crate::error::RelayError;

/// Shared per-session budgets.
#[derive(Clone)]
pub struct Meter {
    pool: Pool,
    keys: store::Keys,
    fail_open: bool,
}

impl Meter {
    /// A meter on `pool`; with `fail_open` relays are served when Redis fails.
    pub fn new(pool: Pool, keys: store::Keys, fail_open: bool) -> Self {
        Meter {
            pool,
            keys,
            fail_open,
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
        let cost = i64::try_from(cost).unwrap_or(i64::MAX);
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let res = self.increment(&key, cost, ttl).await;
        match res {
            Ok(v) if v > max => {
                self.take_back(&key, cost).await;
                Err(RelayError::OverServiced)
            }
            Ok(_) => Ok(()),
            Err(e) if self.fail_open => {
                tracing::warn!(error = %e, "relay meter unavailable; serving (fail_open)");
                Ok(())
            }
            Err(e) => Err(RelayError::Internal(format!("relay meter: {e}"))),
        }
    }
}

impl Meter {
    /// Gives back a relay's cost when it was not served (backend failure).
    pub async fn refund(&self, supplier: &str, session_id: &str, cost: u128) {
        let key = self.keys.meter_consumed(supplier, session_id);
        self.take_back(&key, i64::try_from(cost).unwrap_or(i64::MAX))
            .await;
    }

    /// `INCRBY` and `PEXPIRE` in one round trip: the counter after the increment.
    async fn increment(&self, key: &str, cost: i64, ttl: Duration) -> Result<i64, Error> {
        let pipe = self.pool.next().pipeline();
        let () = pipe.incr_by(key, cost).await?;
        let () = pipe
            .pexpire(key, i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX), None)
            .await?;
        let (counter, _expire_set): (i64, i64) = pipe.all().await?;
        Ok(counter)
    }

    async fn take_back(&self, key: &str, cost: i64) {
        if let Err(e) = self.pool.decr_by::<i64, _>(key, cost).await {
            tracing::warn!(error = %e, "relay meter refund failed");
        }
    }
}
