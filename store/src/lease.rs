//! Leases: one owner at a time for the global leader role and for each
//! supplier. A lease is a key holding `<owner>|<fencing token>` with a TTL;
//! the token comes from a per-lease counter, so it grows with every new
//! holder. Renew and release compare the value (compare-and-set in Lua), and
//! fenced writes elsewhere check it, so a holder that lost its lease (paused,
//! partitioned) can no longer write.

use std::time::Duration;

use fred::prelude::*;
use fred::types::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

const ACQUIRE: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('INCR', KEYS[2])
local value = ARGV[1] .. '|' .. token
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return value
"#;

const RENEW: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#;

const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

/// A lease held by this process: the exact value stored under the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The lease key.
    pub key: String,
    /// `<owner>|<token>`: what fenced writes compare against.
    pub value: String,
    /// The fencing token (grows with every acquisition of this lease).
    pub token: u64,
}

/// One lease key and its fencing counter.
#[derive(Clone)]
pub struct Lease {
    pool: Pool,
    key: String,
    fence_key: String,
    owner: String,
    ttl: Duration,
}

impl Lease {
    /// A lease on `key` (fencing counter at `fence_key`, same cluster slot)
    /// for `owner` with time-to-live `ttl`.
    pub fn new(pool: Pool, key: String, fence_key: String, owner: &str, ttl: Duration) -> Self {
        Lease {
            pool,
            key,
            fence_key,
            owner: owner.replace('|', "_"),
            ttl,
        }
    }

    /// The lease key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Tries to take the lease; `None` if someone holds it.
    pub async fn try_acquire(&self) -> Result<Option<Held>> {
        let reply: Value = self
            .pool
            .eval(
                ACQUIRE,
                vec![self.key.as_str(), self.fence_key.as_str()],
                vec![self.owner.clone(), self.ttl.as_millis().to_string()],
            )
            .await
            .map_err(|e| Error::redis(format!("acquire lease {}", self.key), e))?;
        let Some(value) = reply.as_string().filter(|_| !reply.is_null()) else {
            return Ok(None);
        };
        let token = value
            .rsplit('|')
            .next()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| Error::reply("acquire lease", format!("value {value:?}")))?;
        Ok(Some(Held {
            key: self.key.clone(),
            value,
            token,
        }))
    }

    /// Extends a held lease; `false` if it was lost (expired or taken).
    pub async fn renew(&self, held: &Held) -> Result<bool> {
        let n: i64 = self
            .pool
            .eval(
                RENEW,
                vec![self.key.as_str()],
                vec![held.value.clone(), self.ttl.as_millis().to_string()],
            )
            .await
            .map_err(|e| Error::redis(format!("renew lease {}", self.key), e))?;
        Ok(n == 1)
    }

    /// Gives a held lease back so another process can take it at once.
    pub async fn release(&self, held: &Held) -> Result<bool> {
        let n: i64 = self
            .pool
            .eval(RELEASE, vec![self.key.as_str()], vec![held.value.clone()])
            .await
            .map_err(|e| Error::redis(format!("release lease {}", self.key), e))?;
        Ok(n == 1)
    }

    /// The current holder's value, if any.
    pub async fn holder(&self) -> Result<Option<String>> {
        self.pool
            .get(self.key.as_str())
            .await
            .map_err(|e| Error::redis(format!("GET {}", self.key), e))
    }

    /// Renews `held` every `ttl / 3` until `cancel` fires or the lease is
    /// lost. The returned receiver turns `false` when the lease is lost (or
    /// could not be renewed before it would have expired); the holder must
    /// then stop all fenced work. On cancel the lease is released.
    pub fn keep(self, held: Held, cancel: CancellationToken) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(true);
        tokio::spawn(async move {
            let interval = self.ttl / 3;
            let mut last_ok = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => {
                        let _ = self.release(&held).await;
                        let _ = tx.send(false);
                        return;
                    }
                    _ = tokio::time::sleep(interval) => {}
                }
                match self.renew(&held).await {
                    Ok(true) => last_ok = tokio::time::Instant::now(),
                    Ok(false) => {
                        tracing::warn!(lease = %self.key, "lease lost");
                        let _ = tx.send(false);
                        return;
                    }
                    Err(e) if last_ok.elapsed() + interval < self.ttl => {
                        tracing::warn!(lease = %self.key, error = %e, "lease renewal failed; retrying");
                    }
                    Err(e) => {
                        tracing::warn!(lease = %self.key, error = %e, "lease expired while unrenewable");
                        let _ = tx.send(false);
                        return;
                    }
                }
            }
        });
        rx
    }
}
