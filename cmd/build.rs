//! Embeds the git commit of the build as `RELAY_MINER_GIT_COMMIT` (for
//! `version` and `--version`): `git rev-parse --short HEAD`, with `-dirty`
//! when tracked files differ from HEAD, or `unknown` without git or a
//! `.git`. A packager building outside git sets `RELAY_MINER_GIT_COMMIT`
//! itself. Not `PRM_…`: that prefix is the configuration's environment
//! overrides, and cargo also exports this variable to `cargo run`/`cargo test`.
//!
//! The script reruns when HEAD moves, the branch it names moves, or the
//! index changes (a commit, a checkout, a `git add`): `-dirty` reflects the
//! working tree as of the last of these.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=RELAY_MINER_GIT_COMMIT");
    let commit = match std::env::var("RELAY_MINER_GIT_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_owned(),
        _ => from_git().unwrap_or_else(|| "unknown".to_owned()),
    };
    println!("cargo:rustc-env=RELAY_MINER_GIT_COMMIT={commit}");
}

/// Runs git in the crate's folder; `None` when git is missing or fails.
fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.trim().to_owned())
}

fn from_git() -> Option<String> {
    let commit = git(&["rev-parse", "--short", "HEAD"])?;
    if commit.is_empty() {
        return None;
    }
    watch_git();
    // Tracked files that differ from HEAD (staged or not); no index write.
    let dirty = git(&[
        "--no-optional-locks",
        "status",
        "--porcelain",
        "--untracked-files=no",
    ])
    .is_some_and(|s| !s.is_empty());
    Some(if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    })
}

/// Asks cargo to rerun this script when the commit or the index changes.
fn watch_git() {
    let absolute = |p: String| -> Option<PathBuf> {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            Some(p)
        } else {
            Some(Path::new(&std::env::var_os("CARGO_MANIFEST_DIR")?).join(p))
        }
    };
    let Some(git_dir) = git(&["rev-parse", "--git-dir"]).and_then(absolute) else {
        return;
    };
    let common = git(&["rev-parse", "--git-common-dir"])
        .and_then(absolute)
        .unwrap_or_else(|| git_dir.clone());
    let mut watched = vec![git_dir.join("HEAD"), git_dir.join("index")];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(common.join(branch));
        watched.push(common.join("packed-refs"));
    }
    for path in watched {
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}
