//! The relay meter: each (session, supplier) may consume at most its share of
//! the application's stake; the counter lives in Redis so every relayer
//! replica shares it, and consuming is one atomic script.

use std::time::Duration;

use fred::prelude::*;

use crate::error::RelayError;

const CONSUME: &str = r#"
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if v > tonumber(ARGV[2]) then
  redis.call('DECRBY', KEYS[1], ARGV[1])
  return -1
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return v
"#;

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
        let res: Result<i64, _> = self
            .pool
            .eval(
                CONSUME,
                vec![key.as_str()],
                vec![cost, max, ttl.as_millis() as i64],
            )
            .await;
        match res {
            Ok(v) if v < 0 => Err(RelayError::OverServiced),
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
        let cost = i64::try_from(cost).unwrap_or(i64::MAX);
        if let Err(e) = self.pool.decr_by::<i64, _>(key.as_str(), cost).await {
            tracing::warn!(error = %e, "relay meter refund failed");
        }
    }
}
