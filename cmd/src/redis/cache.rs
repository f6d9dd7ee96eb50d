//! `cache`: the chain cache's shared level (L2) in Redis — entries per
//! entity, the known ids the leader refreshes, one entry decoded — and
//! invalidation, done by `cache::ChainCache::invalidate` itself (delete the
//! L2 entry, publish the id on the entity's channel) so that every process's
//! L1 drops it exactly as when the leader's refresher does.

use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::Context;
use cache::entity;
use fred::prelude::*;
use prost::Message;
use serde::Serialize;

use super::{Ctx, HOLE, Report, Template, emit, pttl, pttls, scan, ttl_text};

/// Ids listed per entity.
const LIST_LIMIT: usize = 1000;

/// `cache` options.
#[derive(Debug, clap::Args)]
pub struct CacheArgs {
    /// Entity: application, supplier, shared_params, session, pubkey, cupr,
    /// difficulty (ring and session_params live in L1 only).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(entity::ALL))]
    entity: Option<String>,
    /// One entry's id (an address; `<app>:<service>:<height>` for sessions,
    /// `<service>:<height>` for cupr and difficulty, a height for params).
    #[arg(long, requires = "entity")]
    id: Option<String>,
    /// List the ids in L2 (with TTL) and the known ids, per entity.
    #[arg(long)]
    list: bool,
    /// Invalidate `--id` (or every entry of `--entity` with `--all`):
    /// delete it from L2 and publish the invalidation every L1 listens to.
    #[arg(long, requires = "entity")]
    invalidate: bool,
    /// With `--invalidate`: every L2 entry of the entity, then every L1.
    #[arg(long, requires = "invalidate", conflicts_with = "id")]
    all: bool,
    /// Really invalidate (without it: a dry run).
    #[arg(long)]
    yes: bool,
}

/// `cache` summary: per entity.
#[derive(Debug, Serialize)]
pub struct Summary {
    entities: Vec<EntitySummary>,
}

#[derive(Debug, Serialize)]
struct EntitySummary {
    entity: &'static str,
    /// Entries in L2.
    l2_entries: usize,
    /// Ids in the known set (applications and suppliers).
    known: usize,
    /// Single-flight locks held now (chain queries in flight).
    locks: usize,
}

/// `cache --list`.
#[derive(Debug, Serialize)]
pub struct Listing {
    entities: Vec<EntityListing>,
}

#[derive(Debug, Serialize)]
struct EntityListing {
    entity: &'static str,
    /// L2 entries, by id.
    l2: Vec<L2Entry>,
    /// The known set (ids the leader refreshes and relayers warm up).
    known: Vec<String>,
    /// More than the listed number of L2 entries exist.
    truncated: bool,
}

#[derive(Debug, Serialize)]
struct L2Entry {
    id: String,
    ttl_ms: Option<i64>,
}

/// `cache --entity E --id I`.
#[derive(Debug, Serialize)]
pub struct Entry {
    entity: String,
    id: String,
    key: String,
    exists: bool,
    ttl_ms: Option<i64>,
    bytes: usize,
    /// In the entity's known set.
    known: bool,
    /// The value decoded (fields that matter), `null` when absent.
    decoded: Option<serde_json::Value>,
}

/// `cache --invalidate`.
#[derive(Debug, Serialize)]
pub struct Invalidation {
    entity: String,
    /// Nothing was done (`--yes` missing).
    dry_run: bool,
    /// The channel the invalidations go to.
    channel: String,
    /// Ids invalidated (or that would be); `""` means every L1 entry.
    ids: Vec<String>,
    /// L2 entries deleted.
    l2_deleted: usize,
    /// Whether processes listen for this entity's invalidations (L1s of
    /// other entities only expire).
    listened: bool,
}

/// `cache`.
pub(crate) async fn run(ctx: &Ctx, args: &CacheArgs) -> anyhow::Result<()> {
    let only: Vec<&'static str> = match &args.entity {
        Some(e) => entity::ALL.iter().copied().filter(|x| x == e).collect(),
        None => entity::ALL.to_vec(),
    };
    if args.invalidate {
        let e = only
            .first()
            .copied()
            .context("--invalidate needs --entity")?;
        let id = match (&args.id, args.all) {
            (Some(id), _) => Some(id.as_str()),
            (None, true) => None,
            (None, false) => anyhow::bail!("--invalidate needs --id <id> or --all"),
        };
        emit(ctx, &invalidate(ctx, e, id, args.yes).await?);
        return Ok(());
    }
    if let (Some(e), Some(id)) = (only.first(), &args.id) {
        let report = entry(ctx, e, id).await?;
        if !report.exists {
            anyhow::bail!("no L2 entry {} ({e} {id})", report.key);
        }
        emit(ctx, &report);
        return Ok(());
    }
    if args.list || args.entity.is_some() {
        let mut entities = Vec::new();
        for e in only {
            let (ids, truncated) = l2_ids(ctx, e, Some(LIST_LIMIT)).await?;
            let ttls = pttls(
                ctx,
                &ids.iter()
                    .map(|i| ctx.keys.cache_entry(e, i))
                    .collect::<Vec<_>>(),
            )
            .await?;
            let mut known: Vec<String> = ctx
                .pool
                .smembers(ctx.keys.cache_known(e))
                .await
                .context("SMEMBERS known")?;
            known.sort();
            entities.push(EntityListing {
                entity: e,
                l2: ids
                    .into_iter()
                    .zip(ttls)
                    .map(|(id, ttl_ms)| L2Entry { id, ttl_ms })
                    .collect(),
                known,
                truncated,
            });
        }
        emit(ctx, &Listing { entities });
        return Ok(());
    }
    let mut entities = Vec::new();
    for e in only {
        let (ids, _) = l2_ids(ctx, e, None).await?;
        let known: usize = ctx
            .pool
            .scard(ctx.keys.cache_known(e))
            .await
            .context("SCARD known")?;
        let locks = Template::new(ctx.keys.cache_lock(e, HOLE));
        let (held, _) = scan(ctx, &locks.glob(), None).await?;
        entities.push(EntitySummary {
            entity: e,
            l2_entries: ids.len(),
            known,
            locks: held.len(),
        });
    }
    emit(ctx, &Summary { entities });
    Ok(())
}

/// The ids of an entity's L2 entries.
async fn l2_ids(ctx: &Ctx, e: &str, limit: Option<usize>) -> anyhow::Result<(Vec<String>, bool)> {
    let template = Template::new(ctx.keys.cache_entry(e, HOLE));
    let (keys, truncated) = scan(ctx, &template.glob(), limit).await?;
    let mut ids: Vec<String> = keys.iter().filter_map(|k| template.first_hole(k)).collect();
    ids.sort();
    Ok((ids, truncated))
}

async fn entry(ctx: &Ctx, e: &str, id: &str) -> anyhow::Result<Entry> {
    let key = ctx.keys.cache_entry(e, id);
    let value: Option<Vec<u8>> = ctx.pool.get(&key).await.context("GET cache entry")?;
    let known: bool = ctx
        .pool
        .sismember(ctx.keys.cache_known(e), id)
        .await
        .context("SISMEMBER known")?;
    let ttl_ms = if value.is_some() {
        pttl(ctx, &key).await?
    } else {
        None
    };
    Ok(Entry {
        entity: e.to_owned(),
        id: id.to_owned(),
        exists: value.is_some(),
        ttl_ms,
        bytes: value.as_ref().map_or(0, Vec::len),
        known,
        decoded: value.as_deref().map(|b| decode(e, b)),
        key,
    })
}

/// The fields of a cached value that an operator looks for.
fn decode(e: &str, bytes: &[u8]) -> serde_json::Value {
    use protocol::pb::pocket;
    use serde_json::json;
    let coin = |c: &Option<protocol::pb::cosmos::base::v1beta1::Coin>| {
        c.as_ref().map(|c| format!("{}{}", c.amount, c.denom))
    };
    let bad = |err: prost::DecodeError| json!({ "error": format!("undecodable: {err}") });
    match e {
        entity::APPLICATION => match pocket::application::Application::decode(bytes) {
            Ok(a) => json!({
                "address": a.address,
                "stake": coin(&a.stake),
                "services": a.service_configs.iter().map(|s| s.service_id.clone()).collect::<Vec<_>>(),
                "delegatee_gateways": a.delegatee_gateway_addresses,
                "unstake_session_end_height": a.unstake_session_end_height,
            }),
            Err(err) => bad(err),
        },
        entity::SUPPLIER => match pocket::shared::Supplier::decode(bytes) {
            Ok(s) => json!({
                "operator": s.operator_address,
                "owner": s.owner_address,
                "stake": coin(&s.stake),
                "services": s.services.iter().map(|c| c.service_id.clone()).collect::<Vec<_>>(),
                "unstake_session_end_height": s.unstake_session_end_height,
            }),
            Err(err) => bad(err),
        },
        entity::SESSION => match pocket::session::Session::decode(bytes) {
            Ok(s) => {
                let h = s.header.unwrap_or_default();
                json!({
                    "session_id": s.session_id,
                    "application": h.application_address,
                    "service": h.service_id,
                    "start_height": h.session_start_block_height,
                    "end_height": h.session_end_block_height,
                    "suppliers": s.suppliers.iter().map(|x| x.operator_address.clone()).collect::<Vec<_>>(),
                })
            }
            Err(err) => bad(err),
        },
        entity::SHARED_PARAMS => match pocket::shared::Params::decode(bytes) {
            Ok(p) => json!({ "params": format!("{p:?}") }),
            Err(err) => bad(err),
        },
        entity::CUPR => json!({ "compute_units_per_relay": String::from_utf8_lossy(bytes) }),
        entity::PUBKEY => json!({ "pubkey": hex::encode(bytes) }),
        entity::DIFFICULTY => json!({ "target_hash": hex::encode(bytes) }),
        _ => json!({ "hex": hex::encode(bytes) }),
    }
}

/// A cache that can only invalidate: its chain client is never used (it
/// connects lazily), its block feed never moves.
fn invalidator(ctx: &Ctx) -> anyhow::Result<Arc<cache::ChainCache>> {
    let registry = prometheus::Registry::new();
    let query = chain::QueryClient::new(
        &chain::GrpcConfig::default(),
        chain::Metrics::new(&registry).context("chain metrics")?,
    )
    .context("chain client")?;
    let (feed, _external) = chain::BlockFeed::external();
    Ok(cache::ChainCache::new(
        query,
        feed,
        Some((ctx.pool.clone(), ctx.keys.clone())),
        cache::Ttls::default(),
    ))
}

async fn invalidate(
    ctx: &Ctx,
    e: &'static str,
    id: Option<&str>,
    yes: bool,
) -> anyhow::Result<Invalidation> {
    // With --all: every L2 id, then "" (every L1 entry, L2 or not).
    let ids: Vec<String> = match id {
        Some(id) => vec![id.to_owned()],
        None => {
            let (mut ids, _) = l2_ids(ctx, e, None).await?;
            ids.push(String::new());
            ids
        }
    };
    let existing = {
        let mut n = 0;
        for id in ids.iter().filter(|i| !i.is_empty()) {
            let c: u64 = ctx
                .pool
                .exists(ctx.keys.cache_entry(e, id))
                .await
                .context("EXISTS")?;
            n += c as usize;
        }
        n
    };
    let report = |l2_deleted| Invalidation {
        entity: e.to_owned(),
        dry_run: !yes,
        channel: ctx.keys.cache_invalidation_channel(e),
        ids: ids.clone(),
        l2_deleted,
        listened: entity::INVALIDATED.contains(&e),
    };
    if !yes {
        return Ok(report(0));
    }
    let cache = invalidator(ctx)?;
    for id in &ids {
        cache
            .invalidate(e, id)
            .await
            .with_context(|| format!("invalidating {e} {id:?}"))?;
    }
    // The cache logs a failed L2 delete and carries on; say so here.
    for id in ids.iter().filter(|i| !i.is_empty()) {
        let key = ctx.keys.cache_entry(e, id);
        let left: u64 = ctx.pool.exists(&key).await.context("EXISTS")?;
        if left > 0 {
            anyhow::bail!("{key} is still there after the invalidation (L2 delete failed?)");
        }
    }
    Ok(report(existing))
}

impl Report for Summary {
    fn text(&self) -> String {
        let mut out = String::from("entity           l2 entries   known   locks\n");
        for e in &self.entities {
            let _ = writeln!(
                out,
                "{:<16} {:>10}   {:>5}   {:>5}",
                e.entity, e.l2_entries, e.known, e.locks
            );
        }
        out
    }
}

impl Report for Listing {
    fn text(&self) -> String {
        let mut out = String::new();
        for e in &self.entities {
            if e.l2.is_empty() && e.known.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "{}: {} in L2{}, {} known",
                e.entity,
                e.l2.len(),
                if e.truncated { "+" } else { "" },
                e.known.len()
            );
            for x in &e.l2 {
                let _ = writeln!(
                    out,
                    "  {}  ttl {}{}",
                    x.id,
                    ttl_text(x.ttl_ms),
                    if e.known.contains(&x.id) {
                        "  known"
                    } else {
                        ""
                    }
                );
            }
            for k in e.known.iter().filter(|k| !e.l2.iter().any(|x| &x.id == *k)) {
                let _ = writeln!(out, "  {k}  (known, not in L2)");
            }
        }
        if out.is_empty() {
            out.push_str("the cache has no L2 entries and no known ids\n");
        }
        out
    }
}

impl Report for Entry {
    fn text(&self) -> String {
        let mut out = format!(
            "{}  {} bytes, ttl {}{}\n",
            self.key,
            self.bytes,
            ttl_text(self.ttl_ms),
            if self.known { ", known" } else { "" }
        );
        if let Some(serde_json::Value::Object(d)) = &self.decoded {
            for (k, v) in d {
                let v = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let _ = writeln!(out, "  {k}: {v}");
            }
        }
        out
    }
}

impl Report for Invalidation {
    fn text(&self) -> String {
        let ids: Vec<&str> = self
            .ids
            .iter()
            .filter(|i| !i.is_empty())
            .map(String::as_str)
            .collect();
        let mut what = match ids.len() {
            0 => String::new(),
            1 => format!("{} {}", self.entity, ids[0]),
            n => format!("{n} {} entries ({})", self.entity, ids.join(", ")),
        };
        if self.ids.iter().any(String::is_empty) {
            if !what.is_empty() {
                what.push_str(", then ");
            }
            what.push_str(&format!("every {} in every L1", self.entity));
        }
        let mut out = if self.dry_run {
            format!(
                "dry run: would invalidate {what} (publishing on {}); add --yes\n",
                self.channel
            )
        } else {
            format!(
                "invalidated {what}: {} L2 entr{} deleted, published on {}\n",
                self.l2_deleted,
                if self.l2_deleted == 1 { "y" } else { "ies" },
                self.channel
            )
        };
        if !self.listened {
            let _ = writeln!(
                out,
                "note: no process listens for {} invalidations; their L1 copies expire on their own",
                self.entity
            );
        }
        out
    }
}
