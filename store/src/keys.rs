//! The key schema: every Redis key, stream and channel is built here and
//! nowhere else. A supplier's keys carry the hash tag `{supplier}` so they
//! share a Redis Cluster slot (Lua scripts over a lease and a tree are then
//! single-slot). `docs/redis-keys.md` is checked against [`Keys::catalog`].

use crate::error::{Error, Result};

/// Builds keys under one namespace prefix (default `ha`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    ns: String,
}

/// One documented key shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// The key with placeholders in angle brackets, e.g. `ha:relays:{<supplier>}`.
    pub pattern: String,
    /// Redis type (`STREAM`, `HASH`, `STRING`, `channel`, …).
    pub kind: &'static str,
    /// Who writes and who reads it.
    pub writer_reader: &'static str,
    /// Lifetime.
    pub ttl: &'static str,
    /// What it holds.
    pub content: &'static str,
}

pub(crate) fn validate_namespace(ns: &str) -> Result<()> {
    if ns.is_empty()
        || ns.len() > 32
        || !ns
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Error::Config(format!(
            "namespace {ns:?} must be 1..=32 of [A-Za-z0-9_-]"
        )));
    }
    Ok(())
}

impl Keys {
    /// Keys under `namespace`.
    pub fn new(namespace: &str) -> Result<Self> {
        validate_namespace(namespace)?;
        Ok(Keys {
            ns: namespace.to_owned(),
        })
    }

    /// The namespace prefix.
    pub fn namespace(&self) -> &str {
        &self.ns
    }

    /// The relay stream of a supplier: relayers XADD, miners XREADGROUP.
    pub fn relay_stream(&self, supplier: &str) -> String {
        format!("{}:relays:{{{supplier}}}", self.ns)
    }

    /// The consumer group of the miners on every relay stream.
    pub fn miner_group(&self) -> String {
        format!("{}-miners", self.ns)
    }

    /// The global miner leader lease.
    pub fn leader_lease(&self) -> String {
        format!("{}:miner:leader", self.ns)
    }

    /// The lease that makes one miner the owner of a supplier.
    pub fn supplier_lease(&self, supplier: &str) -> String {
        format!("{}:miner:lease:{{{supplier}}}", self.ns)
    }

    /// The fencing counter of a lease (same slot as the lease).
    pub fn lease_fence(&self, lease_key: &str) -> String {
        format!("{lease_key}:fence")
    }

    /// The leaves of one session's tree: relay hash → leaf entry (small,
    /// loaded in bulk to compute the root).
    pub fn session_leaves(&self, supplier: &str, session_id: &str) -> String {
        format!("{}:smst:{{{supplier}}}:{session_id}:leaves", self.ns)
    }

    /// The relay bytes of one session's leaves: relay hash → relay (read only
    /// for the leaves a proof carries).
    pub fn session_values(&self, supplier: &str, session_id: &str) -> String {
        format!("{}:smst:{{{supplier}}}:{session_id}:values", self.ns)
    }

    /// The per-session miner state (lifecycle, roots, tx hashes).
    pub fn session_state(&self, supplier: &str, session_id: &str) -> String {
        format!("{}:miner:session:{{{supplier}}}:{session_id}", self.ns)
    }

    /// Index of a supplier's sessions known to the miner.
    pub fn session_index(&self, supplier: &str) -> String {
        format!("{}:miner:sessions:{{{supplier}}}", self.ns)
    }

    /// The relay meter's consumed-uPOKT counter for (session, supplier).
    pub fn meter_consumed(&self, supplier: &str, session_id: &str) -> String {
        format!("{}:meter:{{{supplier}}}:{session_id}:consumed", self.ns)
    }

    /// Replay guard of a simulated relay (by signature hash).
    pub fn simulation_replay(&self, signature_hash_hex: &str) -> String {
        format!("{}:sim:replay:{signature_hash_hex}", self.ns)
    }

    /// A cached chain entity (L2), e.g. `application`, `pokt1…`.
    pub fn cache_entry(&self, entity: &str, id: &str) -> String {
        format!("{}:cache:{entity}:{id}", self.ns)
    }

    /// The single-flight lock of a cached entity.
    pub fn cache_lock(&self, entity: &str, id: &str) -> String {
        format!("{}:cache:lock:{entity}:{id}", self.ns)
    }

    /// The channel on which the leader publishes every new block.
    pub fn blocks_channel(&self) -> String {
        format!("{}:events:blocks", self.ns)
    }

    /// The latest block the leader published (for processes that missed a
    /// message or just started: catch up by height, never by count).
    pub fn block_latest(&self) -> String {
        format!("{}:events:blocks:latest", self.ns)
    }

    /// Ids of an entity type the cache loaded from the chain (applications,
    /// suppliers), for warm-up at start and the leader's refresher.
    pub fn cache_known(&self, entity: &str) -> String {
        format!("{}:cache:known:{entity}", self.ns)
    }

    /// Live miner replicas: instance → last heartbeat (ms since the epoch),
    /// read to balance supplier leases.
    pub fn miner_replicas(&self) -> String {
        format!("{}:miner:replicas", self.ns)
    }

    /// The JSON status of one supplier, written by its owning miner.
    pub fn miner_status(&self, supplier: &str) -> String {
        format!("{}:miner:status:{{{supplier}}}", self.ns)
    }

    /// The invalidation channel of a cached entity type.
    pub fn cache_invalidation_channel(&self, entity: &str) -> String {
        format!("{}:events:cache:{entity}:invalidate", self.ns)
    }

    /// Every key shape this crate builds, for `docs/redis-keys.md` and the
    /// `redis` CLI. Patterns come from the functions above.
    pub fn catalog(&self) -> Vec<KeySpec> {
        let (sup, sid) = ("<supplier>", "<session_id>");
        let lease = self.supplier_lease(sup);
        vec![
            KeySpec {
                pattern: self.relay_stream(sup),
                kind: "STREAM",
                writer_reader: "relayer XADD → miner XREADGROUP (group below)",
                ttl: "bounded by XADD MAXLEN ~; entries deleted on ack",
                content: "entries `{v: 1, data: <relayminer.v1.MinedRelay protobuf>}`",
            },
            KeySpec {
                pattern: self.miner_group(),
                kind: "stream group",
                writer_reader: "miners",
                ttl: "lives with the stream",
                content: "consumer group on every relay stream; pending entries reclaimed by XAUTOCLAIM",
            },
            KeySpec {
                pattern: self.leader_lease(),
                kind: "STRING",
                writer_reader: "miners (lease)",
                ttl: "lease TTL, renewed by the holder",
                content: "`<owner>|<fencing token>` of the global leader",
            },
            KeySpec {
                pattern: self.lease_fence(&self.leader_lease()),
                kind: "STRING (int)",
                writer_reader: "lease acquire (INCR)",
                ttl: "none (monotonic counter)",
                content: "last fencing token issued for the leader lease",
            },
            KeySpec {
                pattern: lease.clone(),
                kind: "STRING",
                writer_reader: "miners (lease)",
                ttl: "lease TTL, renewed by the holder",
                content: "`<owner>|<fencing token>` of the miner owning the supplier",
            },
            KeySpec {
                pattern: self.lease_fence(&lease),
                kind: "STRING (int)",
                writer_reader: "lease acquire (INCR)",
                ttl: "none (monotonic counter)",
                content: "last fencing token issued for the lease",
            },
            KeySpec {
                pattern: self.session_leaves(sup, sid),
                kind: "HASH",
                writer_reader: "miner (fenced Lua HSETNX) → miner",
                ttl: "sliding session TTL; deleted after settlement",
                content: "relay hash (32 raw bytes) → leaf entry (weight, leaf hash, sequence)",
            },
            KeySpec {
                pattern: self.session_values(sup, sid),
                kind: "HASH",
                writer_reader: "miner (same fenced script) → miner (proof)",
                ttl: "sliding session TTL; deleted after settlement",
                content: "relay hash (32 raw bytes) → relay bytes (the SMST value)",
            },
            KeySpec {
                pattern: self.session_state(sup, sid),
                kind: "HASH",
                writer_reader: "miner",
                ttl: "session TTL; deleted after settlement",
                content: "session lifecycle state, counts, roots, tx hashes",
            },
            KeySpec {
                pattern: self.session_index(sup),
                kind: "SET",
                writer_reader: "miner",
                ttl: "members removed after settlement",
                content: "session ids the miner tracks for the supplier",
            },
            KeySpec {
                pattern: self.meter_consumed(sup, sid),
                kind: "STRING (int)",
                writer_reader: "relayers INCRBY/DECRBY",
                ttl: "until the session's claim window closes",
                content: "uPOKT of the application's stake reserved by relayers in the session (served relays plus what each replica holds unused, at most one chunk)",
            },
            KeySpec {
                pattern: self.simulation_replay("<signature_sha256>"),
                kind: "STRING",
                writer_reader: "relayers (SET NX)",
                ttl: "2 × simulation freshness window",
                content: "marks a simulated relay's signature as used",
            },
            KeySpec {
                pattern: self.cache_entry("<entity>", "<id>"),
                kind: "STRING",
                writer_reader: "cache L2 (any process) → cache L2",
                ttl: "per entity: long for values fixed at a height, short for live ones",
                content: "protobuf bytes of the chain entity",
            },
            KeySpec {
                pattern: self.cache_lock("<entity>", "<id>"),
                kind: "STRING",
                writer_reader: "cache single-flight",
                ttl: "a few seconds (SET NX PX)",
                content: "owner of an in-flight chain query",
            },
            KeySpec {
                pattern: self.blocks_channel(),
                kind: "channel",
                writer_reader: "leader miner PUBLISH → relayers, miners",
                ttl: "-",
                content: "new block: height, hash, time",
            },
            KeySpec {
                pattern: self.block_latest(),
                kind: "STRING",
                writer_reader: "leader miner SET → relayers, miners",
                ttl: "10 minutes, rewritten every block",
                content: "the last published block: `<height> <hash hex> <time unix ms>`",
            },
            KeySpec {
                pattern: self.cache_known("<entity>"),
                kind: "SET",
                writer_reader: "cache L3 loads SADD (any process) → relayer warm-up, leader refresher",
                ttl: "7 days, refreshed on add",
                content: "ids of applications / suppliers loaded from the chain recently",
            },
            KeySpec {
                pattern: self.miner_replicas(),
                kind: "ZSET",
                writer_reader: "every miner (heartbeat) → miners (lease balancing)",
                ttl: "members older than 3 lease TTLs are removed by readers",
                content: "instance → last heartbeat, ms since the epoch",
            },
            KeySpec {
                pattern: self.miner_status(sup),
                kind: "STRING",
                writer_reader: "owning miner → `redis` CLI, operators",
                ttl: "1 minute, rewritten every block",
                content: "JSON status of the supplier: owner, height, sessions by phase, counters",
            },
            KeySpec {
                pattern: self.cache_invalidation_channel("<entity>"),
                kind: "channel",
                writer_reader: "cache writers, leader refresher → every L1",
                ttl: "-",
                content: "entity id to drop, or empty for all",
            },
        ]
    }

    /// The catalog as the markdown table of `docs/redis-keys.md`.
    pub fn catalog_markdown(&self) -> String {
        let mut out = String::from(
            "| key | type | writer → reader | lifetime | content |\n|---|---|---|---|---|\n",
        );
        for k in self.catalog() {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                k.pattern, k.kind, k.writer_reader, k.ttl, k.content
            ));
        }
        out
    }
}
