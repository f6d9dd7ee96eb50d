//! `streams`: each supplier's relay stream, its consumer groups, what is
//! pending and with whom, and the newest entries decoded.

use std::fmt::Write as _;

use anyhow::Context;
use fred::prelude::*;
use serde::Serialize;

use super::{Ctx, HOLE, Report, Template, fields, scan};

/// `streams` options.
#[derive(Debug, clap::Args)]
pub struct StreamsArgs {
    /// Only this supplier's stream (default: every relay stream).
    #[arg(long)]
    supplier: Option<String>,
    /// Newest entries decoded per stream.
    #[arg(long, default_value_t = 10)]
    limit: usize,
}

/// `streams`.
#[derive(Debug, Serialize)]
pub struct StreamsReport {
    /// The miners' consumer group name.
    group: String,
    streams: Vec<StreamInfo>,
}

#[derive(Debug, Serialize)]
struct StreamInfo {
    supplier: String,
    key: String,
    /// Entries in the stream (acknowledged entries are deleted).
    length: u64,
    groups: Vec<GroupInfo>,
    /// The miners' group in detail; `null` when it does not exist yet.
    miner_group: Option<MinerGroup>,
    /// The newest entries, newest first.
    sample: Vec<SampleEntry>,
}

#[derive(Debug, Serialize)]
struct GroupInfo {
    name: String,
    consumers: u64,
    pending: u64,
    last_delivered_id: String,
    /// Entries not yet delivered to the group (Redis 7+; `null` when unknown).
    lag: Option<u64>,
}

#[derive(Debug, Serialize)]
struct MinerGroup {
    pending: u64,
    /// The oldest pending entry: its id, holder, idle time and deliveries.
    oldest_pending: Option<PendingEntry>,
    consumers: Vec<Consumer>,
}

#[derive(Debug, Serialize)]
struct PendingEntry {
    id: String,
    consumer: String,
    idle_ms: u64,
    deliveries: u64,
}

#[derive(Debug, Serialize)]
struct Consumer {
    name: String,
    pending: u64,
    /// Milliseconds since its last read attempt.
    idle_ms: u64,
}

/// One stream entry, decoded (or why it could not be).
#[derive(Debug, Serialize)]
struct SampleEntry {
    id: String,
    #[serde(flatten)]
    relay: Option<Relay>,
    /// Why the entry is unusable (a poison entry).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Relay {
    relay_hash: String,
    /// SMST weight: compute units per relay.
    weight: u64,
    session_id: String,
    session_start_height: i64,
    session_end_height: i64,
    service_id: String,
    application: String,
    supplier: String,
    arrival_block_height: i64,
    published_unix_ms: i64,
    relay_bytes: usize,
}

/// `streams`.
pub(crate) async fn streams(ctx: &Ctx, args: &StreamsArgs) -> anyhow::Result<StreamsReport> {
    let template = Template::new(ctx.keys.relay_stream(HOLE));
    let suppliers: Vec<String> = match &args.supplier {
        Some(s) => vec![s.clone()],
        None => {
            let (found, _) = scan(ctx, &template.glob(), None).await?;
            found
                .iter()
                .filter_map(|k| template.first_hole(k))
                .collect()
        }
    };
    let group = ctx.keys.miner_group();
    let mut out = Vec::with_capacity(suppliers.len());
    for supplier in suppliers {
        out.push(stream_info(ctx, &supplier, &group, args.limit).await?);
    }
    Ok(StreamsReport {
        group,
        streams: out,
    })
}

async fn stream_info(
    ctx: &Ctx,
    supplier: &str,
    miner_group: &str,
    limit: usize,
) -> anyhow::Result<StreamInfo> {
    let key = ctx.keys.relay_stream(supplier);
    let client = ctx.pool.next();
    let length: u64 = client
        .xlen(&key)
        .await
        .with_context(|| format!("XLEN {key}"))?;
    let groups = if length > 0 || exists(ctx, &key).await? {
        xinfo_groups(ctx, &key).await?
    } else {
        Vec::new()
    };
    let miner = if groups.iter().any(|g| g.name == miner_group) {
        Some(miner_group_info(ctx, &key, miner_group).await?)
    } else {
        None
    };
    let sample = store::streams::newest(client, &key, limit)
        .await
        .with_context(|| format!("reading the newest entries of {key}"))?
        .into_iter()
        .map(|e| match e.relay {
            Ok(r) => SampleEntry {
                id: e.id,
                relay: Some(Relay {
                    relay_hash: hex::encode(&r.relay_hash),
                    weight: r.compute_units_per_relay,
                    session_id: r.session_id,
                    session_start_height: r.session_start_height,
                    session_end_height: r.session_end_height,
                    service_id: r.service_id,
                    application: r.application_address,
                    supplier: r.supplier_operator_address,
                    arrival_block_height: r.arrival_block_height,
                    published_unix_ms: r.published_at_unix_nano / 1_000_000,
                    relay_bytes: r.relay_bytes.len(),
                }),
                error: None,
            },
            Err(why) => SampleEntry {
                id: e.id,
                relay: None,
                error: Some(why),
            },
        })
        .collect();
    Ok(StreamInfo {
        supplier: supplier.to_owned(),
        key,
        length,
        groups,
        miner_group: miner,
        sample,
    })
}

async fn exists(ctx: &Ctx, key: &str) -> anyhow::Result<bool> {
    let n: u64 = ctx.pool.exists(key).await.context("EXISTS")?;
    Ok(n > 0)
}

async fn xinfo_groups(ctx: &Ctx, key: &str) -> anyhow::Result<Vec<GroupInfo>> {
    let reply: Value = ctx
        .pool
        .next()
        .custom(fred::cmd!("XINFO"), vec!["GROUPS", key])
        .await
        .with_context(|| format!("XINFO GROUPS {key}"))?;
    let Value::Array(items) = reply else {
        return Ok(Vec::new());
    };
    Ok(items
        .iter()
        .map(|g| {
            let f = fields(g);
            let num = |k: &str| f.get(k).and_then(Value::as_u64);
            GroupInfo {
                name: f.get("name").and_then(Value::as_string).unwrap_or_default(),
                consumers: num("consumers").unwrap_or(0),
                pending: num("pending").unwrap_or(0),
                last_delivered_id: f
                    .get("last-delivered-id")
                    .and_then(Value::as_string)
                    .unwrap_or_default(),
                lag: num("lag"),
            }
        })
        .collect())
}

async fn miner_group_info(ctx: &Ctx, key: &str, group: &str) -> anyhow::Result<MinerGroup> {
    let client = ctx.pool.next();
    let consumers: Value = client
        .custom(fred::cmd!("XINFO"), vec!["CONSUMERS", key, group])
        .await
        .with_context(|| format!("XINFO CONSUMERS {key} {group}"))?;
    let consumers = match consumers {
        Value::Array(items) => items
            .iter()
            .map(|c| {
                let f = fields(c);
                Consumer {
                    name: f.get("name").and_then(Value::as_string).unwrap_or_default(),
                    pending: f.get("pending").and_then(Value::as_u64).unwrap_or(0),
                    idle_ms: f.get("idle").and_then(Value::as_u64).unwrap_or(0),
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    // XPENDING <key> <group> - + 1: the oldest pending entry.
    let oldest: Value = client
        .custom(fred::cmd!("XPENDING"), vec![key, group, "-", "+", "1"])
        .await
        .with_context(|| format!("XPENDING {key} {group}"))?;
    let oldest_pending = match oldest {
        Value::Array(items) => items.first().and_then(|e| match e {
            Value::Array(p) if p.len() >= 4 => Some(PendingEntry {
                id: p[0].as_string().unwrap_or_default(),
                consumer: p[1].as_string().unwrap_or_default(),
                idle_ms: p[2].as_u64().unwrap_or(0),
                deliveries: p[3].as_u64().unwrap_or(0),
            }),
            _ => None,
        }),
        _ => None,
    };
    let summary: Value = client
        .custom(fred::cmd!("XPENDING"), vec![key, group])
        .await
        .with_context(|| format!("XPENDING {key} {group}"))?;
    let pending = match summary {
        Value::Array(parts) => parts.first().and_then(Value::as_u64).unwrap_or(0),
        _ => 0,
    };
    Ok(MinerGroup {
        pending,
        oldest_pending,
        consumers,
    })
}

impl Report for StreamsReport {
    fn text(&self) -> String {
        let mut out = String::new();
        if self.streams.is_empty() {
            let _ = writeln!(out, "no relay streams");
        }
        for s in &self.streams {
            let _ = writeln!(out, "{}  ({} entries)", s.key, s.length);
            for g in &s.groups {
                let _ = writeln!(
                    out,
                    "  group {}: {} consumer(s), {} pending, last delivered {}{}",
                    g.name,
                    g.consumers,
                    g.pending,
                    g.last_delivered_id,
                    g.lag.map(|l| format!(", lag {l}")).unwrap_or_default()
                );
            }
            if let Some(m) = &s.miner_group {
                if let Some(p) = &m.oldest_pending {
                    let _ = writeln!(
                        out,
                        "  oldest pending {} with {}, idle {}, delivered {}×",
                        p.id,
                        p.consumer,
                        super::humantime(std::time::Duration::from_millis(p.idle_ms)),
                        p.deliveries
                    );
                }
                for c in &m.consumers {
                    let _ = writeln!(
                        out,
                        "  consumer {}: {} pending, idle {}",
                        c.name,
                        c.pending,
                        super::humantime(std::time::Duration::from_millis(c.idle_ms))
                    );
                }
            } else {
                let _ = writeln!(out, "  no miner group ({}) yet", self.group);
            }
            for e in &s.sample {
                match (&e.relay, &e.error) {
                    (Some(r), _) => {
                        let _ = writeln!(
                            out,
                            "  {}  relay {}…  weight {}  session {} (ends {})  {}  app {}",
                            e.id,
                            &r.relay_hash[..16.min(r.relay_hash.len())],
                            r.weight,
                            r.session_id,
                            r.session_end_height,
                            r.service_id,
                            r.application
                        );
                    }
                    (None, why) => {
                        let _ = writeln!(
                            out,
                            "  {}  unusable: {}",
                            e.id,
                            why.as_deref().unwrap_or("?")
                        );
                    }
                }
            }
        }
        out
    }
}
