//! `sessions` (alias `trees`): a supplier's sessions in the leaf store —
//! those in its session index and those with leaves — with the leaf count,
//! the state the miner recorded, and for small sessions the tree itself
//! (root, sum, count) computed from the leaves as the miner would.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use anyhow::Context;
use fred::prelude::*;
use serde::Serialize;

use super::{Ctx, HOLE, Report, Template, pttl, scan, ttl_text};

/// `sessions` options.
#[derive(Debug, clap::Args)]
pub struct SessionsArgs {
    /// Supplier operator address.
    #[arg(long)]
    supplier: String,
    /// Only this session.
    #[arg(long)]
    session: Option<String>,
    /// Compute the tree (root, sum, count) of sessions with at most this
    /// many leaves (reads every leaf entry, 48 bytes each); 0: never.
    #[arg(long, default_value_t = 10_000)]
    sum_max_leaves: u64,
}

/// `sessions`.
#[derive(Debug, Serialize)]
pub struct SessionsReport {
    supplier: String,
    sessions: Vec<SessionInfo>,
}

#[derive(Debug, Serialize)]
struct SessionInfo {
    session_id: String,
    /// In the supplier's session index.
    indexed: bool,
    /// Leaves (relays) in the tree.
    leaves: u64,
    /// Relay bytes stored (equals `leaves` unless a write was cut short).
    values: u64,
    /// Milliseconds until the leaves expire.
    ttl_ms: Option<i64>,
    /// The session's state hash (application, service, heights, phase,
    /// sealed, root, tx hashes).
    state: BTreeMap<String, String>,
    /// The tree computed from the leaves; `null` when skipped.
    tree: Option<Tree>,
}

#[derive(Debug, Serialize)]
struct Tree {
    /// The 48-byte root (hash ‖ sum ‖ count), hex.
    root: String,
    /// Sum of the leaves' weights (compute units).
    sum: u64,
    count: u64,
}

/// `sessions`.
pub(crate) async fn sessions(ctx: &Ctx, args: &SessionsArgs) -> anyhow::Result<SessionsReport> {
    let supplier = args.supplier.as_str();
    let store = store::leaves::LeafStore::new(
        ctx.pool.clone(),
        ctx.keys.clone(),
        supplier,
        std::time::Duration::from_secs(1),
    );
    let indexed: BTreeSet<String> = store
        .sessions()
        .await
        .context("reading the session index")?
        .into_iter()
        .collect();
    let template = Template::new(ctx.keys.session_leaves(supplier, HOLE));
    let (leaf_keys, _) = scan(ctx, &template.glob(), None).await?;
    let with_leaves: BTreeSet<String> = leaf_keys
        .iter()
        .filter_map(|k| template.first_hole(k))
        .collect();
    let mut ids: BTreeSet<String> = indexed.union(&with_leaves).cloned().collect();
    if let Some(only) = &args.session {
        ids.retain(|s| s == only);
        if ids.is_empty() {
            anyhow::bail!("supplier {supplier} has no session {only} in the leaf store");
        }
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let leaves = store.len(&id).await.context("HLEN leaves")?;
        let values: u64 = ctx
            .pool
            .hlen(ctx.keys.session_values(supplier, &id))
            .await
            .context("HLEN values")?;
        let ttl_ms = pttl(ctx, &ctx.keys.session_leaves(supplier, &id)).await?;
        let state: BTreeMap<String, String> = store
            .state(&id)
            .await
            .context("reading the session state")?
            .into_iter()
            .collect();
        let tree = if leaves > 0 && leaves <= args.sum_max_leaves {
            let t = miner::tree::SessionTree::load(&store, &id)
                .await
                .with_context(|| format!("loading the tree of session {id}"))?;
            let root = t.root();
            Some(Tree {
                root: hex::encode(root.as_bytes()),
                sum: root.sum(),
                count: root.count(),
            })
        } else {
            None
        };
        out.push(SessionInfo {
            indexed: indexed.contains(&id),
            session_id: id,
            leaves,
            values,
            ttl_ms,
            state,
            tree,
        });
    }
    Ok(SessionsReport {
        supplier: supplier.to_owned(),
        sessions: out,
    })
}

/// The label of a lifecycle phase stored as JSON (`{"phase":"proved"}`).
fn phase_label(stored: &str) -> String {
    serde_json::from_str::<serde_json::Value>(stored)
        .ok()
        .and_then(|v| v.get("phase").and_then(|p| p.as_str()).map(str::to_owned))
        .unwrap_or_else(|| stored.to_owned())
}

impl Report for SessionsReport {
    fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} session(s) of {} in the leaf store",
            self.sessions.len(),
            self.supplier
        );
        for s in &self.sessions {
            let st = |k: &str| s.state.get(k).map(String::as_str).unwrap_or("?");
            let _ = writeln!(
                out,
                "  {}  {} leaves{}  {} app {}  heights {}–{}  phase {}{}  ttl {}{}",
                s.session_id,
                s.leaves,
                s.tree
                    .as_ref()
                    .map(|t| format!(" (sum {})", t.sum))
                    .unwrap_or_default(),
                st("service"),
                st("application"),
                st("start_height"),
                st("end_height"),
                s.state
                    .get("phase")
                    .map(|p| phase_label(p))
                    .unwrap_or_else(|| "active".into()),
                if s.state.contains_key("sealed") {
                    ", sealed"
                } else {
                    ""
                },
                ttl_text(s.ttl_ms),
                if s.indexed { "" } else { "  (not indexed)" }
            );
        }
        out
    }
}
