//! `leader`, `miners` and `status`: who leads, which replicas are alive and
//! which suppliers each one owns, and what an owner says about a supplier.

use std::fmt::Write as _;

use anyhow::Context;
use fred::prelude::*;
use serde::Serialize;

use super::{Ctx, HOLE, OutputFormat, Report, Template, now_ms, pttl, scan, ttl_text};

/// `status` options.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Supplier operator address.
    #[arg(long)]
    supplier: String,
}

/// A lease value: `<owner>|<fencing token>`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Holder {
    /// The replica holding it.
    owner: String,
    /// Its fencing token.
    token: Option<u64>,
}

impl Holder {
    fn parse(value: &str) -> Self {
        match value.rsplit_once('|') {
            Some((owner, token)) => Holder {
                owner: owner.to_owned(),
                token: token.parse().ok(),
            },
            None => Holder {
                owner: value.to_owned(),
                token: None,
            },
        }
    }

    fn text(&self) -> String {
        match self.token {
            Some(t) => format!("{} (token {t})", self.owner),
            None => self.owner.clone(),
        }
    }
}

/// `leader`.
#[derive(Debug, Serialize)]
pub struct LeaderReport {
    key: String,
    /// `null` when nobody leads.
    holder: Option<Holder>,
    /// Milliseconds left on the lease.
    ttl_ms: Option<i64>,
    /// The last fencing token issued for the leader lease.
    fence: Option<u64>,
    /// The last block the leader published.
    latest_block: Option<LatestBlock>,
}

/// `block_latest`, decoded.
#[derive(Debug, Serialize)]
struct LatestBlock {
    height: u64,
    hash: String,
    time_unix_ms: i64,
    /// Milliseconds since the block's time.
    age_ms: i64,
    ttl_ms: Option<i64>,
}

/// `leader`.
pub(crate) async fn leader(ctx: &Ctx) -> anyhow::Result<LeaderReport> {
    let key = ctx.keys.leader_lease();
    let value: Option<String> = ctx.pool.get(&key).await.context("GET leader lease")?;
    let ttl_ms = match value {
        Some(_) => pttl(ctx, &key).await?,
        None => None,
    };
    let fence: Option<u64> = ctx
        .pool
        .get(ctx.keys.lease_fence(&key))
        .await
        .context("GET leader fence")?;
    let latest_key = ctx.keys.block_latest();
    let latest: Option<String> = ctx
        .pool
        .get(&latest_key)
        .await
        .context("GET latest block")?;
    let latest_block = match latest.as_deref().and_then(cache::blocks::parse_payload) {
        Some(b) => {
            let time_unix_ms = b.time.seconds * 1000 + i64::from(b.time.nanos) / 1_000_000;
            Some(LatestBlock {
                height: b.height,
                hash: b.hash_hex(),
                time_unix_ms,
                age_ms: now_ms() as i64 - time_unix_ms,
                ttl_ms: pttl(ctx, &latest_key).await?,
            })
        }
        None => None,
    };
    Ok(LeaderReport {
        holder: value.as_deref().map(Holder::parse),
        key,
        ttl_ms,
        fence,
        latest_block,
    })
}

impl Report for LeaderReport {
    fn text(&self) -> String {
        let mut out = String::new();
        match &self.holder {
            Some(h) => {
                let _ = writeln!(
                    out,
                    "leader      {}, lease expires in {}",
                    h.text(),
                    ttl_text(self.ttl_ms)
                );
            }
            None => {
                let _ = writeln!(out, "leader      none ({} is not held)", self.key);
            }
        }
        if let Some(f) = self.fence {
            let _ = writeln!(out, "last token  {f}");
        }
        match &self.latest_block {
            Some(b) => {
                let _ = writeln!(
                    out,
                    "last block  {} ({}…), {} ago",
                    b.height,
                    &b.hash[..12.min(b.hash.len())],
                    super::humantime(std::time::Duration::from_millis(b.age_ms.max(0) as u64))
                );
            }
            None => {
                let _ = writeln!(out, "last block  none published");
            }
        }
        out
    }
}

/// `miners`.
#[derive(Debug, Serialize)]
pub struct MinersReport {
    /// Replicas in the heartbeat set, most recent first.
    replicas: Vec<Replica>,
    /// Every supplier lease.
    leases: Vec<SupplierLease>,
    /// The global leader.
    leader: Option<Holder>,
}

#[derive(Debug, Serialize)]
struct Replica {
    instance: String,
    heartbeat_unix_ms: u64,
    /// Milliseconds since the last heartbeat.
    age_ms: i64,
    /// Holds the leader lease.
    leader: bool,
    /// Suppliers whose lease it holds.
    suppliers: Vec<String>,
}

#[derive(Debug, Serialize)]
struct SupplierLease {
    supplier: String,
    /// `null` when nobody owns the supplier.
    holder: Option<Holder>,
    ttl_ms: Option<i64>,
    /// The holder is in the heartbeat set.
    owner_live: bool,
}

/// `miners`.
pub(crate) async fn miners(ctx: &Ctx) -> anyhow::Result<MinersReport> {
    let now = now_ms() as i64;
    let beats: Vec<(String, f64)> = ctx
        .pool
        .zrange(ctx.keys.miner_replicas(), 0, -1, None, false, None, true)
        .await
        .context("ZRANGE miner replicas")?;
    let leader: Option<String> = ctx
        .pool
        .get(ctx.keys.leader_lease())
        .await
        .context("GET leader lease")?;
    let leader = leader.as_deref().map(Holder::parse);

    let template = Template::new(ctx.keys.supplier_lease(HOLE));
    let (lease_keys, _) = scan(ctx, &template.glob(), None).await?;
    let mut leases = Vec::new();
    for key in lease_keys {
        // The glob also matches fence counters; keep leases only.
        let Some(supplier) = template.capture(&key).and_then(|c| c.first().copied()) else {
            continue;
        };
        if key != ctx.keys.supplier_lease(supplier) {
            continue;
        }
        let value: Option<String> = ctx.pool.get(&key).await.context("GET lease")?;
        let ttl_ms = pttl(ctx, &key).await?;
        let holder = value.as_deref().map(Holder::parse);
        leases.push(SupplierLease {
            supplier: supplier.to_owned(),
            owner_live: holder
                .as_ref()
                .is_some_and(|h| beats.iter().any(|(i, _)| *i == h.owner)),
            holder,
            ttl_ms,
        });
    }
    leases.sort_by(|a, b| a.supplier.cmp(&b.supplier));

    let mut replicas: Vec<Replica> = beats
        .iter()
        .map(|(instance, score)| Replica {
            instance: instance.clone(),
            heartbeat_unix_ms: *score as u64,
            age_ms: now - *score as i64,
            leader: leader.as_ref().is_some_and(|h| h.owner == *instance),
            suppliers: leases
                .iter()
                .filter(|l| l.holder.as_ref().is_some_and(|h| h.owner == *instance))
                .map(|l| l.supplier.clone())
                .collect(),
        })
        .collect();
    replicas.sort_by_key(|r| std::cmp::Reverse(r.heartbeat_unix_ms));
    Ok(MinersReport {
        replicas,
        leases,
        leader,
    })
}

impl Report for MinersReport {
    fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{} live replica(s)", self.replicas.len());
        for r in &self.replicas {
            let _ = writeln!(
                out,
                "  {}{}  heartbeat {} ago, {} supplier(s){}",
                r.instance,
                if r.leader { " (leader)" } else { "" },
                super::humantime(std::time::Duration::from_millis(r.age_ms.max(0) as u64)),
                r.suppliers.len(),
                if r.suppliers.is_empty() {
                    String::new()
                } else {
                    format!(": {}", r.suppliers.join(", "))
                }
            );
        }
        if self.leader.is_none() {
            let _ = writeln!(out, "no leader");
        }
        let _ = writeln!(out, "{} supplier lease(s)", self.leases.len());
        for l in &self.leases {
            match &l.holder {
                Some(h) => {
                    let _ = writeln!(
                        out,
                        "  {}  {}, expires in {}{}",
                        l.supplier,
                        h.text(),
                        ttl_text(l.ttl_ms),
                        if l.owner_live {
                            ""
                        } else {
                            " (owner not heartbeating)"
                        }
                    );
                }
                None => {
                    let _ = writeln!(out, "  {}  unowned", l.supplier);
                }
            }
        }
        out
    }
}

/// `status`: the JSON as stored (`--output json`) or pretty-printed.
pub(crate) async fn status(ctx: &Ctx, args: &StatusArgs) -> anyhow::Result<()> {
    // The leaf store reads the status; its TTL only matters for writes.
    let store = store::leaves::LeafStore::new(
        ctx.pool.clone(),
        ctx.keys.clone(),
        &args.supplier,
        std::time::Duration::from_secs(1),
    );
    let Some(raw) = store.read_status().await.context("reading the status")? else {
        anyhow::bail!(
            "no status for supplier {} ({} is absent: no miner owns the supplier, or its owner stopped more than a minute ago)",
            args.supplier,
            ctx.keys.miner_status(&args.supplier)
        );
    };
    match ctx.output {
        OutputFormat::Json => println!("{raw}"),
        OutputFormat::Text => {
            let doc: serde_json::Value = serde_json::from_str(&raw)
                .with_context(|| format!("the status of {} is not JSON", args.supplier))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&doc).unwrap_or_else(|_| raw.clone())
            );
        }
    }
    Ok(())
}
