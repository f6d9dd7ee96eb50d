//! `keys` and `flush`: the namespace's keys by name. Families come from the
//! key catalog (`store::Keys::catalog`), so a new key shape shows up here
//! as soon as it is documented.

use std::fmt::Write as _;

use anyhow::Context;
use fred::prelude::*;
use serde::Serialize;

use super::{Ctx, Report, Template, pttls, scan, ttl_text};

/// Keys listed by `flush` (all are counted and deleted).
const FLUSH_SHOWN: usize = 100;
/// Keys deleted per round trip.
const DELETE_BATCH: usize = 500;

/// `keys` options.
#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    /// Redis glob over full key names; must start with `<namespace>:`
    /// (default: every key of the namespace).
    #[arg(long)]
    pattern: Option<String>,
    /// Most keys listed (the scan stops there).
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Count every matching key by key family instead of listing them.
    #[arg(long)]
    stats: bool,
}

/// `flush` options.
#[derive(Debug, clap::Args)]
pub struct FlushArgs {
    /// Redis glob over full key names; must start with `<namespace>:`.
    #[arg(long)]
    pattern: String,
    /// Delete for real (without it: a dry run listing what would go).
    #[arg(long)]
    yes: bool,
}

/// One key family of the catalog.
struct Family {
    pattern: String,
    kind: &'static str,
    template: Template,
}

/// The key families of the namespace: every catalog entry that is a key
/// (not a channel or a consumer group).
fn families(keys: &store::Keys) -> Vec<Family> {
    keys.catalog()
        .into_iter()
        .filter(|k| k.kind != "channel" && k.kind != "stream group")
        .map(|k| Family {
            template: Template::from_catalog(&k.pattern),
            pattern: k.pattern,
            kind: k.kind,
        })
        .collect()
}

/// The most specific family a key belongs to.
fn family_of<'f>(families: &'f [Family], key: &str) -> Option<&'f Family> {
    families
        .iter()
        .filter(|f| f.template.capture(key).is_some())
        .max_by_key(|f| f.template.literal_len())
}

/// A user's pattern, checked to stay inside the namespace: it must start
/// with `<namespace>:` literally (the namespace cannot contain `:` or glob
/// characters, so nothing after that prefix can match another namespace).
pub(crate) fn namespaced_pattern(
    keys: &store::Keys,
    pattern: Option<&str>,
) -> anyhow::Result<String> {
    let prefix = format!("{}:", keys.namespace());
    let Some(p) = pattern else {
        return Ok(format!("{prefix}*"));
    };
    if !p.starts_with(&prefix) || p.len() == prefix.len() {
        anyhow::bail!(
            "pattern {p:?} is outside the namespace {:?}: it must start with {prefix:?} (e.g. \"{prefix}*\")",
            keys.namespace()
        );
    }
    Ok(p.to_owned())
}

/// `keys` without `--stats`.
#[derive(Debug, Serialize)]
pub struct KeyList {
    namespace: String,
    pattern: String,
    keys: Vec<KeyInfo>,
    /// The scan stopped at `--limit`.
    truncated: bool,
}

/// One key.
#[derive(Debug, Serialize)]
struct KeyInfo {
    key: String,
    /// Redis type (`string`, `hash`, `stream`, …).
    #[serde(rename = "type")]
    kind: String,
    /// Milliseconds to expiry; `null` without expiry.
    ttl_ms: Option<i64>,
    /// The catalog pattern, `null` for a key the catalog does not know.
    family: Option<String>,
}

/// `keys --stats`.
#[derive(Debug, Serialize)]
pub struct KeyStats {
    namespace: String,
    pattern: String,
    total: usize,
    /// Every catalog key family, in catalog order.
    families: Vec<FamilyCount>,
    /// Keys of no known family.
    other: usize,
    /// A few of them.
    other_sample: Vec<String>,
}

#[derive(Debug, Serialize)]
struct FamilyCount {
    family: String,
    #[serde(rename = "type")]
    kind: &'static str,
    count: usize,
}

/// The result of `keys`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum KeysReport {
    /// A listing.
    List(KeyList),
    /// Counts by family.
    Stats(KeyStats),
}

/// `keys`.
pub(crate) async fn keys(ctx: &Ctx, args: &KeysArgs) -> anyhow::Result<KeysReport> {
    let pattern = namespaced_pattern(&ctx.keys, args.pattern.as_deref())?;
    let fams = families(&ctx.keys);
    if args.stats {
        let (all, _) = scan(ctx, &pattern, None).await?;
        let mut counts = vec![0usize; fams.len()];
        let mut other = Vec::new();
        for k in &all {
            match family_of(&fams, k) {
                Some(f) => {
                    if let Some(i) = fams.iter().position(|g| std::ptr::eq(g, f)) {
                        counts[i] += 1;
                    }
                }
                None => other.push(k.clone()),
            }
        }
        return Ok(KeysReport::Stats(KeyStats {
            namespace: ctx.keys.namespace().to_owned(),
            pattern,
            total: all.len(),
            families: fams
                .iter()
                .zip(counts)
                .map(|(f, count)| FamilyCount {
                    family: f.pattern.clone(),
                    kind: f.kind,
                    count,
                })
                .collect(),
            other: other.len(),
            other_sample: other.into_iter().take(10).collect(),
        }));
    }
    let (found, truncated) = scan(ctx, &pattern, Some(args.limit.max(1))).await?;
    let ttls = pttls(ctx, &found).await?;
    let mut kinds = Vec::with_capacity(found.len());
    for chunk in found.chunks(500) {
        let pipe = ctx.pool.next().pipeline();
        for k in chunk {
            let _: () = pipe.custom(fred::cmd!("TYPE"), vec![k.as_str()]).await?;
        }
        let t: Vec<String> = pipe.all().await.context("TYPE")?;
        kinds.extend(t);
    }
    let keys = found
        .into_iter()
        .zip(ttls)
        .zip(kinds)
        .filter(|((_, ttl), _)| *ttl != Some(-2))
        .map(|((key, ttl_ms), kind)| KeyInfo {
            family: family_of(&fams, &key).map(|f| f.pattern.clone()),
            key,
            kind,
            ttl_ms,
        })
        .collect();
    Ok(KeysReport::List(KeyList {
        namespace: ctx.keys.namespace().to_owned(),
        pattern,
        keys,
        truncated,
    }))
}

impl Report for KeysReport {
    fn text(&self) -> String {
        let mut out = String::new();
        match self {
            KeysReport::List(l) => {
                let width = l.keys.iter().map(|k| k.key.len()).max().unwrap_or(0);
                for k in &l.keys {
                    let _ = writeln!(
                        out,
                        "{:<width$}  {:<6}  ttl {}",
                        k.key,
                        k.kind,
                        ttl_text(k.ttl_ms)
                    );
                }
                let _ = writeln!(
                    out,
                    "{} key{} matching {}{}",
                    l.keys.len(),
                    if l.keys.len() == 1 { "" } else { "s" },
                    l.pattern,
                    if l.truncated {
                        " (stopped at --limit)"
                    } else {
                        ""
                    }
                );
            }
            KeysReport::Stats(s) => {
                let width = s.families.iter().map(|f| f.family.len()).max().unwrap_or(0);
                for f in &s.families {
                    let _ = writeln!(out, "{:>8}  {:<width$}  {}", f.count, f.family, f.kind);
                }
                if s.other > 0 {
                    let _ = writeln!(
                        out,
                        "{:>8}  other (not in the key catalog), e.g. {}",
                        s.other,
                        s.other_sample.join(", ")
                    );
                }
                let _ = writeln!(out, "{:>8}  keys matching {}", s.total, s.pattern);
            }
        }
        out
    }
}

/// `flush`.
#[derive(Debug, Serialize)]
pub struct FlushReport {
    pattern: String,
    /// Nothing was deleted (`--yes` missing).
    dry_run: bool,
    matched: usize,
    deleted: u64,
    /// The first matching keys.
    keys: Vec<String>,
}

/// `flush`: SCAN, then DEL in batches (one key per command, so it works on
/// a cluster too). Every key is checked against the namespace again before
/// it is deleted.
pub(crate) async fn flush(ctx: &Ctx, args: &FlushArgs) -> anyhow::Result<FlushReport> {
    let pattern = namespaced_pattern(&ctx.keys, Some(&args.pattern))?;
    let prefix = format!("{}:", ctx.keys.namespace());
    let (found, _) = scan(ctx, &pattern, None).await?;
    let found: Vec<String> = found
        .into_iter()
        .filter(|k| k.starts_with(&prefix))
        .collect();
    let mut deleted = 0u64;
    if args.yes {
        for chunk in found.chunks(DELETE_BATCH) {
            let pipe = ctx.pool.next().pipeline();
            for k in chunk {
                let _: () = pipe.del(k.as_str()).await?;
            }
            let n: Vec<u64> = pipe.all().await.context("DEL")?;
            deleted += n.iter().sum::<u64>();
        }
    }
    Ok(FlushReport {
        pattern,
        dry_run: !args.yes,
        matched: found.len(),
        deleted,
        keys: found.into_iter().take(FLUSH_SHOWN).collect(),
    })
}

impl Report for FlushReport {
    fn text(&self) -> String {
        let mut out = String::new();
        for k in &self.keys {
            let _ = writeln!(out, "{k}");
        }
        if self.matched > self.keys.len() {
            let _ = writeln!(out, "… and {} more", self.matched - self.keys.len());
        }
        if self.dry_run {
            let _ = writeln!(
                out,
                "dry run: {} key{} match {}; add --yes to delete them",
                self.matched,
                if self.matched == 1 { "" } else { "s" },
                self.pattern
            );
        } else {
            let _ = writeln!(
                out,
                "deleted {} of {} key{} matching {}",
                self.deleted,
                self.matched,
                if self.matched == 1 { "" } else { "s" },
                self.pattern
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_must_stay_inside_the_namespace() {
        let keys = store::Keys::new("ha").unwrap();
        assert_eq!(namespaced_pattern(&keys, None).unwrap(), "ha:*");
        assert_eq!(
            namespaced_pattern(&keys, Some("ha:cache:*")).unwrap(),
            "ha:cache:*"
        );
        for bad in ["*", "h*", "ha*", "ha", "ha:", "other:*", "?a:*", "[h]a:*"] {
            assert!(namespaced_pattern(&keys, Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_fall_in_their_most_specific_family() {
        let keys = store::Keys::new("ha").unwrap();
        let fams = families(&keys);
        let of = |k: &str| family_of(&fams, k).map(|f| f.pattern.clone());
        let s = "pokt1abc";
        assert_eq!(
            of(&keys.cache_lock("application", s)).as_deref(),
            Some("ha:cache:lock:<entity>:<id>")
        );
        assert_eq!(
            of(&keys.cache_known("application")).as_deref(),
            Some("ha:cache:known:<entity>")
        );
        assert_eq!(
            of(&keys.cache_entry("session", "a:b:3")).as_deref(),
            Some("ha:cache:<entity>:<id>")
        );
        let lease = keys.supplier_lease(s);
        assert_eq!(
            of(&keys.lease_fence(&lease)).as_deref(),
            Some("ha:miner:lease:{<supplier>}:fence")
        );
        assert_eq!(
            of(&keys.lease_fence(&keys.leader_lease())).as_deref(),
            Some("ha:miner:leader:fence")
        );
        assert_eq!(
            of(&keys.block_latest()).as_deref(),
            Some("ha:events:blocks:latest")
        );
        assert_eq!(
            of(&keys.session_leaves(s, "simv1:1:2")).as_deref(),
            Some("ha:smst:{<supplier>}:<session_id>:leaves")
        );
        assert_eq!(of("ha:something:else"), None);
    }
}
