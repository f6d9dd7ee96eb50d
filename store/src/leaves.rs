//! The session leaf store: a session's tree is kept in Redis as its set of
//! leaves, in two hashes sharing the supplier's slot: small entries (loaded
//! in bulk to compute the root) and relay bytes (read only for the leaves a
//! proof carries). Writes are idempotent (HSETNX: the same write is the
//! de-duplication) and fenced by the supplier's lease in the same script.

use std::time::Duration;

use fred::cmd;
use fred::prelude::*;
use fred::types::Value;

use crate::error::{Error, Result};
use crate::keys::Keys;
use crate::lease::Held;

// KEYS: lease, entries, values, session state, session index.
// ARGV: lease value, ttl ms, session id, n meta pairs, meta..., then triples.
const PUT_FENCED: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('HEXISTS', KEYS[4], 'sealed') == 1 then return -2 end
local nmeta = tonumber(ARGV[4])
for i = 5, 4 + 2 * nmeta, 2 do
  redis.call('HSETNX', KEYS[4], ARGV[i], ARGV[i + 1])
end
redis.call('SADD', KEYS[5], ARGV[3])
redis.call('PEXPIRE', KEYS[4], ARGV[2])
local added = 0
for i = 5 + 2 * nmeta, #ARGV, 3 do
  if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 2])
    added = added + 1
  end
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return added
"#;

const SEAL_FENCED: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[2], 'sealed', '1')
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
"#;

const SET_STATE_FENCED: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
"#;

const DELETE_SESSION: &str = r#"
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return redis.call('SREM', KEYS[4], ARGV[1])
"#;

/// One leaf to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafWrite {
    /// The relay hash (the field in both hashes).
    pub key: Vec<u8>,
    /// The small entry (encoded by the caller).
    pub entry: Vec<u8>,
    /// The relay bytes.
    pub value: Vec<u8>,
}

/// Leaves of the sessions of one supplier.
#[derive(Clone)]
pub struct LeafStore {
    pool: Pool,
    keys: Keys,
    supplier: String,
    ttl: Duration,
}

impl LeafStore {
    /// The leaf store of `supplier`; every write refreshes a `ttl` on the session.
    pub fn new(pool: Pool, keys: Keys, supplier: &str, ttl: Duration) -> Self {
        LeafStore {
            pool,
            keys,
            supplier: supplier.to_owned(),
            ttl,
        }
    }

    /// Adds leaves that are not there yet, in one round trip, if `lease` is
    /// still held and the session is not sealed. `meta` fields are recorded in
    /// the session's state hash the first time (never overwritten) and the
    /// session joins the supplier's index. Returns how many leaves were new
    /// (the rest were duplicates and changed nothing). Fails with
    /// [`Error::LeaseLost`] when another process owns the supplier now, and
    /// [`Error::SessionSealed`] when the session's root was already computed.
    pub async fn put(
        &self,
        lease: &Held,
        session_id: &str,
        meta: &[(&str, String)],
        leaves: &[LeafWrite],
    ) -> Result<u64> {
        if leaves.is_empty() {
            return Ok(0);
        }
        let entries = self.keys.session_leaves(&self.supplier, session_id);
        let values = self.keys.session_values(&self.supplier, session_id);
        let state = self.keys.session_state(&self.supplier, session_id);
        let index = self.keys.session_index(&self.supplier);
        let mut args: Vec<Value> = Vec::with_capacity(4 + 2 * meta.len() + 3 * leaves.len());
        args.push(lease.value.as_str().into());
        args.push((self.ttl.as_millis() as i64).into());
        args.push(session_id.into());
        args.push((meta.len() as i64).into());
        for (k, v) in meta {
            args.push((*k).into());
            args.push(v.as_str().into());
        }
        for l in leaves {
            args.push(Value::Bytes(l.key.clone().into()));
            args.push(Value::Bytes(l.entry.clone().into()));
            args.push(Value::Bytes(l.value.clone().into()));
        }
        let n: i64 = self
            .pool
            .eval(
                PUT_FENCED,
                vec![
                    lease.key.as_str(),
                    entries.as_str(),
                    values.as_str(),
                    state.as_str(),
                    index.as_str(),
                ],
                args,
            )
            .await
            .map_err(|e| Error::redis(format!("put leaves {entries}"), e))?;
        match n {
            -1 => Err(Error::LeaseLost {
                key: lease.key.clone(),
            }),
            -2 => Err(Error::SessionSealed {
                session_id: session_id.to_owned(),
            }),
            n => Ok(n as u64),
        }
    }

    /// Seals a session (fenced): from now on [`LeafStore::put`] refuses its
    /// relays, so the leaf set read afterwards is final. Idempotent.
    pub async fn seal(&self, lease: &Held, session_id: &str) -> Result<()> {
        let state = self.keys.session_state(&self.supplier, session_id);
        let n: i64 = self
            .pool
            .eval(
                SEAL_FENCED,
                vec![lease.key.as_str(), state.as_str()],
                vec![lease.value.clone(), self.ttl.as_millis().to_string()],
            )
            .await
            .map_err(|e| Error::redis(format!("seal {state}"), e))?;
        if n < 0 {
            return Err(Error::LeaseLost {
                key: lease.key.clone(),
            });
        }
        Ok(())
    }

    /// Whether a session is sealed.
    pub async fn is_sealed(&self, session_id: &str) -> Result<bool> {
        let state = self.keys.session_state(&self.supplier, session_id);
        self.pool
            .hexists(state.as_str(), "sealed")
            .await
            .map_err(|e| Error::redis(format!("HEXISTS {state}"), e))
    }

    /// Every leaf entry of a session as (key, entry), with one HGETALL (read
    /// in full once, when the session's claim is built).
    pub async fn entries(&self, session_id: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let key = self.keys.session_leaves(&self.supplier, session_id);
        let reply: Value = self
            .pool
            .custom(cmd!("HGETALL"), vec![key.as_str()])
            .await
            .map_err(|e| Error::redis(format!("HGETALL {key}"), e))?;
        let flat: Vec<Value> = match reply {
            Value::Array(items) => items,
            Value::Map(map) => map
                .inner()
                .into_iter()
                .flat_map(|(k, v)| [Value::from(k), v])
                .collect(),
            Value::Null => Vec::new(),
            other => return Err(Error::reply("HGETALL", format!("{other:?}"))),
        };
        flat.chunks(2)
            .map(|kv| match kv {
                [k, v] => Ok((
                    k.as_bytes().unwrap_or_default().to_vec(),
                    v.as_bytes().unwrap_or_default().to_vec(),
                )),
                _ => Err(Error::reply("HGETALL", "odd reply")),
            })
            .collect()
    }

    /// One page of a session's leaf entries with HSCAN: `(next cursor,
    /// entries)`, the cursor 0 when the scan is done. Start at cursor 0.
    /// Memory stays bounded by a page (`count` is a hint to the server), so
    /// a claim over a million relays never holds one giant reply. HSCAN may
    /// return an entry twice; callers de-duplicate (the leaves of a sealed
    /// session no longer change, so a repeat is byte-identical).
    pub async fn entries_page(
        &self,
        session_id: &str,
        cursor: u64,
        count: usize,
    ) -> Result<(u64, Vec<(bytes::Bytes, bytes::Bytes)>)> {
        let key = self.keys.session_leaves(&self.supplier, session_id);
        let cursor_arg = cursor.to_string();
        let count_arg = count.max(1).to_string();
        let reply: Value = self
            .pool
            .custom(
                cmd!("HSCAN"),
                vec![
                    key.as_str(),
                    cursor_arg.as_str(),
                    "COUNT",
                    count_arg.as_str(),
                ],
            )
            .await
            .map_err(|e| Error::redis(format!("HSCAN {key}"), e))?;
        let Value::Array(mut parts) = reply else {
            return Err(Error::reply("HSCAN", format!("{reply:?}")));
        };
        if parts.len() != 2 {
            return Err(Error::reply("HSCAN", format!("{} parts", parts.len())));
        }
        let items = parts.pop().unwrap_or(Value::Null);
        let next = parts
            .pop()
            .and_then(|c| c.as_string())
            .and_then(|c| c.parse::<u64>().ok())
            .ok_or_else(|| Error::reply("HSCAN", "cursor is not a number"))?;
        let flat = match items {
            Value::Array(items) => items,
            Value::Map(map) => map
                .inner()
                .into_iter()
                .flat_map(|(k, v)| [Value::from(k), v])
                .collect(),
            Value::Null => Vec::new(),
            other => return Err(Error::reply("HSCAN", format!("{other:?}"))),
        };
        let mut out = Vec::with_capacity(flat.len() / 2);
        let mut it = flat.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            match (k, v) {
                (Value::Bytes(k), Value::Bytes(v)) => out.push((k, v)),
                (k, v) => out.push((
                    bytes::Bytes::copy_from_slice(k.as_bytes().unwrap_or_default()),
                    bytes::Bytes::copy_from_slice(v.as_bytes().unwrap_or_default()),
                )),
            }
        }
        Ok((next, out))
    }

    /// Relay bytes of some leaves (`None` where absent), in one round trip.
    pub async fn values(&self, session_id: &str, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.keys.session_values(&self.supplier, session_id);
        let mut args: Vec<Value> = vec![key.as_str().into()];
        args.extend(keys.iter().map(|f| Value::Bytes(f.clone().into())));
        let reply: Value = self
            .pool
            .custom(cmd!("HMGET"), args)
            .await
            .map_err(|e| Error::redis(format!("HMGET {key}"), e))?;
        match reply {
            Value::Array(items) => Ok(items
                .into_iter()
                .map(|v| v.as_bytes().map(<[u8]>::to_vec))
                .collect()),
            other => Err(Error::reply("HMGET", format!("{other:?}"))),
        }
    }

    /// Number of leaves of a session.
    pub async fn len(&self, session_id: &str) -> Result<u64> {
        let key = self.keys.session_leaves(&self.supplier, session_id);
        self.pool
            .hlen(key.as_str())
            .await
            .map_err(|e| Error::redis(format!("HLEN {key}"), e))
    }

    /// Deletes a session's leaves, values and state, and drops it from the
    /// supplier's index (after settlement). One atomic script.
    pub async fn delete(&self, session_id: &str) -> Result<()> {
        let entries = self.keys.session_leaves(&self.supplier, session_id);
        let values = self.keys.session_values(&self.supplier, session_id);
        let state = self.keys.session_state(&self.supplier, session_id);
        let index = self.keys.session_index(&self.supplier);
        let _: i64 = self
            .pool
            .eval(
                DELETE_SESSION,
                vec![
                    entries.as_str(),
                    values.as_str(),
                    state.as_str(),
                    index.as_str(),
                ],
                vec![session_id],
            )
            .await
            .map_err(|e| Error::redis(format!("delete session {entries}"), e))?;
        Ok(())
    }

    /// Writes the supplier's JSON status (not fenced: a status only
    /// describes, and the next owner rewrites it within a block).
    pub async fn write_status(&self, json: &str, ttl: Duration) -> Result<()> {
        let key = self.keys.miner_status(&self.supplier);
        self.pool
            .set::<(), _, _>(
                key.as_str(),
                json,
                Some(Expiration::PX(ttl.as_millis().max(1) as i64)),
                None,
                false,
            )
            .await
            .map_err(|e| Error::redis(format!("SET {key}"), e))
    }

    /// The supplier's JSON status, if one was written and has not expired.
    pub async fn read_status(&self) -> Result<Option<String>> {
        let key = self.keys.miner_status(&self.supplier);
        self.pool
            .get::<Option<String>, _>(key.as_str())
            .await
            .map_err(|e| Error::redis(format!("GET {key}"), e))
    }

    /// Sets fields of a session's state hash (fenced by `lease`).
    pub async fn set_state(
        &self,
        lease: &Held,
        session_id: &str,
        fields: &[(&str, String)],
    ) -> Result<()> {
        let state = self.keys.session_state(&self.supplier, session_id);
        let mut args: Vec<Value> = vec![
            lease.value.as_str().into(),
            (self.ttl.as_millis() as i64).into(),
        ];
        for (k, v) in fields {
            args.push((*k).into());
            args.push(v.as_str().into());
        }
        let n: i64 = self
            .pool
            .eval(
                SET_STATE_FENCED,
                vec![lease.key.as_str(), state.as_str()],
                args,
            )
            .await
            .map_err(|e| Error::redis(format!("set state {state}"), e))?;
        if n < 0 {
            return Err(Error::LeaseLost {
                key: lease.key.clone(),
            });
        }
        Ok(())
    }

    /// A session's state hash (metadata written by ingest, lifecycle fields).
    pub async fn state(
        &self,
        session_id: &str,
    ) -> Result<std::collections::HashMap<String, String>> {
        let state = self.keys.session_state(&self.supplier, session_id);
        self.pool
            .hgetall(state.as_str())
            .await
            .map_err(|e| Error::redis(format!("HGETALL {state}"), e))
    }

    /// Session ids in the supplier's index.
    pub async fn sessions(&self) -> Result<Vec<String>> {
        let index = self.keys.session_index(&self.supplier);
        self.pool
            .smembers(index.as_str())
            .await
            .map_err(|e| Error::redis(format!("SMEMBERS {index}"), e))
    }
}
