//! The session leaf store: a session's tree is kept in Redis as its set of
//! leaves (relay hash → leaf record), written idempotently and only by the
//! holder of the supplier's lease (fenced in the same Lua script).

use std::time::Duration;

use fred::cmd;
use fred::prelude::*;
use fred::types::Value;

use crate::error::{Error, Result};
use crate::keys::Keys;
use crate::lease::Held;

const PUT_FENCED: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local added = 0
for i = 3, #ARGV, 2 do
  added = added + redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return added
"#;

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
    /// still held. Returns how many were new (the rest were duplicates: the
    /// same write is the de-duplication). Fails with [`Error::LeaseLost`]
    /// when another process owns the supplier now.
    pub async fn put(
        &self,
        lease: &Held,
        session_id: &str,
        leaves: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<u64> {
        if leaves.is_empty() {
            return Ok(0);
        }
        let key = self.keys.session_leaves(&self.supplier, session_id);
        let mut args: Vec<Value> = Vec::with_capacity(2 + 2 * leaves.len());
        args.push(lease.value.as_str().into());
        args.push((self.ttl.as_millis() as i64).into());
        for (field, value) in leaves {
            args.push(Value::Bytes(field.clone().into()));
            args.push(Value::Bytes(value.clone().into()));
        }
        let n: i64 = self
            .pool
            .eval(PUT_FENCED, vec![lease.key.as_str(), key.as_str()], args)
            .await
            .map_err(|e| Error::redis(format!("put leaves {key}"), e))?;
        if n < 0 {
            return Err(Error::LeaseLost {
                key: lease.key.clone(),
            });
        }
        Ok(n as u64)
    }

    /// Every leaf of a session (field, value), with one HGETALL (a session's
    /// leaves are read in full once, when its claim is built).
    pub async fn all(&self, session_id: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
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

    /// Values of some leaves (`None` where absent), in one round trip.
    pub async fn get_many(
        &self,
        session_id: &str,
        fields: &[Vec<u8>],
    ) -> Result<Vec<Option<Vec<u8>>>> {
        if fields.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.keys.session_leaves(&self.supplier, session_id);
        let mut args: Vec<Value> = vec![key.as_str().into()];
        args.extend(fields.iter().map(|f| Value::Bytes(f.clone().into())));
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

    /// Deletes a session's leaves (after settlement).
    pub async fn delete(&self, session_id: &str) -> Result<()> {
        let key = self.keys.session_leaves(&self.supplier, session_id);
        let _: i64 = self
            .pool
            .del(key.as_str())
            .await
            .map_err(|e| Error::redis(format!("DEL {key}"), e))?;
        Ok(())
    }
}
