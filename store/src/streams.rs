//! Relay streams: one per supplier. Relayers publish mined relays; miners read
//! them through a consumer group, reclaim what a dead consumer left pending,
//! and acknowledge (and delete) an entry only after its relay is durable.

use std::time::Duration;

use fred::cmd;
use fred::prelude::*;
use fred::types::Value;
use prost::Message;
use protocol::pb::relayminer::v1::MinedRelay;

use crate::error::{Error, Result};
use crate::keys::Keys;

/// Stream entry field holding the protobuf `MinedRelay`.
const DATA_FIELD: &str = "data";
/// Stream entry field holding the payload format version.
const VERSION_FIELD: &str = "v";
/// The payload format this code writes and reads.
const FORMAT_VERSION: &str = "1";

/// Appends mined relays to supplier streams.
#[derive(Clone)]
pub struct RelayPublisher {
    pool: Pool,
    keys: Keys,
    max_len: u64,
}

impl RelayPublisher {
    /// A publisher that bounds every stream to about `max_len` entries (a
    /// safety net against a miner that stopped consuming; never reached in
    /// normal operation because consumed entries are deleted).
    pub fn new(pool: Pool, keys: Keys, max_len: u64) -> Self {
        RelayPublisher {
            pool,
            keys,
            max_len,
        }
    }

    /// `XADD <stream> MAXLEN ~ <max_len> * v 1 data <relay>`; returns the entry id.
    pub async fn publish(&self, relay: &MinedRelay) -> Result<String> {
        let key = self.keys.relay_stream(&relay.supplier_operator_address);
        self.pool
            .custom(cmd!("XADD"), self.xadd_args(&key, relay))
            .await
            .map_err(|e| Error::redis(format!("XADD {key}"), e))
    }

    /// Publishes several relays in one pipeline (one round trip, one write):
    /// the result of each relay's `XADD`, in order. A connection failure fails
    /// every relay of the batch; publishing a relay twice is harmless (the
    /// miner's leaf writes are idempotent), so callers retry failed ones.
    pub async fn publish_batch(&self, relays: &[MinedRelay]) -> Vec<Result<String>> {
        let fail_all = |what: &str, e: &fred::error::Error| {
            relays
                .iter()
                .map(|_| Err(Error::redis(what.to_string(), e.clone())))
                .collect()
        };
        let pipe = self.pool.next().pipeline();
        for relay in relays {
            let key = self.keys.relay_stream(&relay.supplier_operator_address);
            if let Err(e) = pipe
                .custom::<(), _>(cmd!("XADD"), self.xadd_args(&key, relay))
                .await
            {
                return fail_all("XADD (queue)", &e);
            }
        }
        let results: Vec<std::result::Result<String, fred::error::Error>> = pipe.try_all().await;
        if results.len() != relays.len() {
            let e = results
                .into_iter()
                .find_map(std::result::Result::err)
                .unwrap_or_else(|| {
                    fred::error::Error::new(
                        fred::error::ErrorKind::Unknown,
                        "pipeline returned a different number of replies",
                    )
                });
            return fail_all("XADD pipeline", &e);
        }
        results
            .into_iter()
            .zip(relays)
            .map(|(r, relay)| {
                r.map_err(|e| {
                    Error::redis(
                        format!(
                            "XADD {}",
                            self.keys.relay_stream(&relay.supplier_operator_address)
                        ),
                        e,
                    )
                })
            })
            .collect()
    }

    fn xadd_args(&self, key: &str, relay: &MinedRelay) -> Vec<Value> {
        vec![
            key.into(),
            "MAXLEN".into(),
            "~".into(),
            (self.max_len as i64).into(),
            "*".into(),
            VERSION_FIELD.into(),
            FORMAT_VERSION.into(),
            DATA_FIELD.into(),
            Value::Bytes(relay.encode_to_vec().into()),
        ]
    }
}

/// One entry read from a relay stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEntry {
    /// Stream entry id.
    pub id: String,
    /// The relay, or why the entry is unusable (a poison message: the caller
    /// acknowledges it and counts it, never retries it).
    pub relay: Result<MinedRelay, String>,
}

/// Consumer settings.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// This consumer's name in the group (unique per process).
    pub consumer: String,
    /// Entries per read.
    pub batch: usize,
    /// How long a read blocks when the stream is empty. Bounded so recovery
    /// and shutdown are never starved.
    pub block: Duration,
    /// Entries pending longer than this with another consumer are reclaimed.
    pub claim_idle: Duration,
}

/// Reads one supplier's relay stream in the miners' consumer group.
pub struct RelayConsumer {
    client: Client,
    keys: Keys,
    stream: String,
    group: String,
    opts: ConsumerOptions,
    has_xackdel: bool,
}

impl RelayConsumer {
    /// A consumer of `supplier`'s stream on a dedicated connection. Creates
    /// the group if needed. `has_xackdel` comes from [`crate::probe`].
    pub async fn new(
        client: Client,
        keys: Keys,
        supplier: &str,
        opts: ConsumerOptions,
        has_xackdel: bool,
    ) -> Result<Self> {
        let c = RelayConsumer {
            stream: keys.relay_stream(supplier),
            group: keys.miner_group(),
            client,
            keys,
            opts,
            has_xackdel,
        };
        c.ensure_group().await?;
        Ok(c)
    }

    /// The stream key.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The key schema in use.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// `XGROUP CREATE <stream> <group> 0 MKSTREAM`, tolerating an existing group.
    pub async fn ensure_group(&self) -> Result<()> {
        let args: Vec<Value> = vec![
            "CREATE".into(),
            self.stream.as_str().into(),
            self.group.as_str().into(),
            "0".into(),
            "MKSTREAM".into(),
        ];
        // The key is the second argument (after CREATE).
        let hash = fred::types::ClusterHash::Offset(1);
        match self
            .client
            .custom::<Value, Value>(cmd!("XGROUP", hash: hash), args)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.details().starts_with("BUSYGROUP") => Ok(()),
            Err(e) => Err(Error::redis(format!("XGROUP CREATE {}", self.stream), e)),
        }
    }

    /// Reads new entries, blocking at most `block`. An empty result means the
    /// stream had nothing new. Recreates the group if it vanished.
    pub async fn read_new(&self) -> Result<Vec<StreamEntry>> {
        self.read(true).await
    }

    /// Reads new entries without blocking: what is in the stream now.
    pub async fn read_now(&self) -> Result<Vec<StreamEntry>> {
        self.read(false).await
    }

    async fn read(&self, block: bool) -> Result<Vec<StreamEntry>> {
        // Without BLOCK, a tiny 1 ms block keeps the argument layout (and
        // the cluster key offset) the same.
        let block_ms = if block {
            self.opts.block.as_millis().max(1) as i64
        } else {
            1
        };
        let args = || -> Vec<Value> {
            vec![
                "GROUP".into(),
                self.group.as_str().into(),
                self.opts.consumer.as_str().into(),
                "COUNT".into(),
                (self.opts.batch as i64).into(),
                "BLOCK".into(),
                block_ms.into(),
                "STREAMS".into(),
                self.stream.as_str().into(),
                ">".into(),
            ]
        };
        // The key is the ninth argument (after GROUP g c COUNT n BLOCK ms STREAMS).
        let hash = fred::types::ClusterHash::Offset(8);
        let reply = match self
            .client
            .custom::<Value, Value>(
                cmd!("XREADGROUP", hash: hash.clone(), blocking: true),
                args(),
            )
            .await
        {
            Err(e) if e.details().starts_with("NOGROUP") => {
                self.ensure_group().await?;
                self.client
                    .custom::<Value, Value>(cmd!("XREADGROUP", hash: hash, blocking: true), args())
                    .await
            }
            other => other,
        }
        .map_err(|e| Error::redis(format!("XREADGROUP {}", self.stream), e))?;
        parse_xread(&reply, "XREADGROUP")
    }

    /// Claims entries that other (dead or stuck) consumers left pending longer
    /// than `claim_idle`, in batches, until none are left. Call on start and
    /// periodically: this is what makes delivery at-least-once across crashes.
    pub async fn reclaim(&self) -> Result<Vec<StreamEntry>> {
        self.reclaim_idle(self.opts.claim_idle).await
    }

    /// [`RelayConsumer::reclaim`] with another idle bound; `ZERO` takes every
    /// pending entry of the group (a previous owner's in-flight batch, or
    /// this consumer's own), e.g. before a session is sealed.
    pub async fn reclaim_idle(&self, min_idle: Duration) -> Result<Vec<StreamEntry>> {
        let mut out = Vec::new();
        let mut cursor = "0-0".to_owned();
        for _ in 0..10_000 {
            let args: Vec<Value> = vec![
                self.stream.as_str().into(),
                self.group.as_str().into(),
                self.opts.consumer.as_str().into(),
                (min_idle.as_millis() as i64).into(),
                cursor.as_str().into(),
                "COUNT".into(),
                (self.opts.batch as i64).into(),
            ];
            let reply: Value = self
                .client
                .custom(cmd!("XAUTOCLAIM"), args)
                .await
                .map_err(|e| Error::redis(format!("XAUTOCLAIM {}", self.stream), e))?;
            let Value::Array(parts) = reply else {
                return Err(Error::reply("XAUTOCLAIM", "not an array"));
            };
            let next = parts
                .first()
                .and_then(|v| v.as_string())
                .ok_or_else(|| Error::reply("XAUTOCLAIM", "no cursor"))?;
            if let Some(entries) = parts.get(1) {
                out.extend(parse_entries(entries, "XAUTOCLAIM")?);
            }
            if next == "0-0" {
                break;
            }
            cursor = next;
        }
        Ok(out)
    }

    /// Acknowledges and deletes entries: `XACKDEL … DELREF` where the server
    /// has it (Redis 8.2+), else `XACK` + `XDEL` in one round trip.
    pub async fn ack(&self, ids: &[String]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        if self.has_xackdel {
            let mut args: Vec<Value> = vec![
                self.stream.as_str().into(),
                self.group.as_str().into(),
                "DELREF".into(),
                "IDS".into(),
                (ids.len() as i64).into(),
            ];
            args.extend(ids.iter().map(|id| Value::from(id.as_str())));
            let _: Value = self
                .client
                .custom(cmd!("XACKDEL"), args)
                .await
                .map_err(|e| Error::redis(format!("XACKDEL {}", self.stream), e))?;
            return Ok(());
        }
        let pipe = self.client.pipeline();
        let mut ack: Vec<Value> = vec![self.stream.as_str().into(), self.group.as_str().into()];
        ack.extend(ids.iter().map(|id| Value::from(id.as_str())));
        let mut del: Vec<Value> = vec![self.stream.as_str().into()];
        del.extend(ids.iter().map(|id| Value::from(id.as_str())));
        let _: () = pipe
            .custom(cmd!("XACK"), ack)
            .await
            .map_err(|e| Error::redis("XACK (queue)", e))?;
        let _: () = pipe
            .custom(cmd!("XDEL"), del)
            .await
            .map_err(|e| Error::redis("XDEL (queue)", e))?;
        let _: Vec<Value> = pipe
            .all()
            .await
            .map_err(|e| Error::redis(format!("XACK+XDEL {}", self.stream), e))?;
        Ok(())
    }

    /// Number of entries pending (delivered, not acknowledged) in the group.
    pub async fn pending(&self) -> Result<u64> {
        let reply: Value = self
            .client
            .custom(
                cmd!("XPENDING"),
                vec![self.stream.as_str(), self.group.as_str()],
            )
            .await
            .map_err(|e| Error::redis(format!("XPENDING {}", self.stream), e))?;
        match reply {
            Value::Array(parts) => parts
                .first()
                .and_then(|v| v.as_u64())
                .ok_or_else(|| Error::reply("XPENDING", "no count")),
            other => Err(Error::reply("XPENDING", format!("{other:?}"))),
        }
    }
}

/// The newest `count` entries of a relay stream, newest first, decoded
/// (`XREVRANGE <stream> + - COUNT <count>`). Read-only: for operators and
/// the `redis` CLI; consumers read through [`RelayConsumer`].
pub async fn newest(
    client: &impl ClientLike,
    stream: &str,
    count: usize,
) -> Result<Vec<StreamEntry>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let count = count.to_string();
    let reply: Value = client
        .custom(
            cmd!("XREVRANGE"),
            vec![stream, "+", "-", "COUNT", count.as_str()],
        )
        .await
        .map_err(|e| Error::redis(format!("XREVRANGE {stream}"), e))?;
    parse_entries(&reply, "XREVRANGE")
}

fn parse_xread(reply: &Value, op: &str) -> Result<Vec<StreamEntry>> {
    match reply {
        Value::Null => Ok(Vec::new()),
        // RESP2: [[stream, entries], ...]
        Value::Array(streams) => {
            let mut out = Vec::new();
            for s in streams {
                match s {
                    Value::Array(pair) if pair.len() == 2 => {
                        out.extend(parse_entries(&pair[1], op)?)
                    }
                    other => return Err(Error::reply(op, format!("stream item {other:?}"))),
                }
            }
            Ok(out)
        }
        // RESP3: {stream: entries}
        Value::Map(map) => {
            let mut out = Vec::new();
            for (_, entries) in map.clone().inner().iter() {
                out.extend(parse_entries(entries, op)?);
            }
            Ok(out)
        }
        other => Err(Error::reply(op, format!("{other:?}"))),
    }
}

fn parse_entries(entries: &Value, op: &str) -> Result<Vec<StreamEntry>> {
    let Value::Array(entries) = entries else {
        return match entries {
            Value::Null => Ok(Vec::new()),
            other => Err(Error::reply(op, format!("entries {other:?}"))),
        };
    };
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let Value::Array(pair) = e else {
            return Err(Error::reply(op, "entry is not an array"));
        };
        let id = pair
            .first()
            .and_then(|v| v.as_string())
            .ok_or_else(|| Error::reply(op, "entry without id"))?;
        out.push(StreamEntry {
            relay: decode_fields(pair.get(1)),
            id,
        });
    }
    Ok(out)
}

fn decode_fields(fields: Option<&Value>) -> Result<MinedRelay, String> {
    let flat: Vec<Value> = match fields {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Map(map)) => map
            .clone()
            .inner()
            .iter()
            .flat_map(|(k, v)| [Value::from(k.clone()), v.clone()])
            .collect(),
        _ => return Err("entry has no fields (deleted?)".into()),
    };
    let mut version = None;
    let mut data = None;
    for kv in flat.chunks(2) {
        let [k, v] = kv else {
            return Err("odd number of fields".into());
        };
        match k.as_str().as_deref() {
            Some(VERSION_FIELD) => version = v.as_string(),
            Some(DATA_FIELD) => data = v.as_bytes().map(<[u8]>::to_vec),
            _ => {}
        }
    }
    match version.as_deref() {
        None | Some(FORMAT_VERSION) => {}
        Some(other) => return Err(format!("unknown payload version {other:?}")),
    }
    let data = data.ok_or("entry has no data field")?;
    let relay = MinedRelay::decode(data.as_slice()).map_err(|e| format!("bad MinedRelay: {e}"))?;
    if relay.relay_bytes.is_empty() || relay.supplier_operator_address.is_empty() {
        return Err("MinedRelay without relay bytes or supplier".into());
    }
    Ok(relay)
}
