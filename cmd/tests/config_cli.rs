//! The configuration commands as an operator uses them: the example files
//! at the repository root parse and validate (with their keys file), the
//! printed defaults parse back, and an invalid file exits 2 listing every
//! error.

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pocket-relay-miner"))
        .args(args)
        .current_dir(root())
        // Overrides from the developer's shell must not change the outcome.
        .env_remove("PRM_REDIS__URL")
        .output()
        .expect("binary runs")
}

/// Git does not keep the mode: keys files must not be world-readable.
fn fixture_keys_private() {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = root().join("cmd/tests/fixtures/supplier-keys.yaml");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("chmod the fixture");
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn example_configs_parse_and_validate_with_their_keys() {
    fixture_keys_private();
    for (flag, file) in [
        ("--relayer", "config.relayer.example.yaml"),
        ("--miner", "config.miner.example.yaml"),
    ] {
        let out = bin(&["config", "validate", flag, file]);
        let t = text(&out);
        assert!(out.status.success(), "{file}: {t}");
        assert!(t.contains("valid"), "{t}");
        assert!(!t.contains("error"), "{file}: {t}");
        // Both localnet test suppliers.
        assert!(t.contains("2 supplier keys"), "{t}");
        assert!(
            t.contains("pokt10ht9tyks4vh7p5p904t340cr9nvahy7u6lcp6a"),
            "{t}"
        );
    }
}

#[test]
fn example_configs_mention_every_default_key() {
    // Every key printed by print-default appears in the example file, so the
    // examples document the whole schema.
    for (flag, file) in [
        ("--relayer", "config.relayer.example.yaml"),
        ("--miner", "config.miner.example.yaml"),
    ] {
        let out = bin(&["config", "print-default", flag]);
        assert!(out.status.success(), "{}", text(&out));
        let defaults = String::from_utf8_lossy(&out.stdout).into_owned();
        let example = std::fs::read_to_string(root().join(file)).expect("example file");
        let missing: Vec<&str> = defaults
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.trim_start().split_once(':').map(|(k, _)| k))
            .filter(|k| !k.is_empty() && !k.starts_with('-'))
            .filter(|k| !example.contains(&format!("{k}:")))
            .collect();
        assert!(missing.is_empty(), "{file} lacks keys {missing:?}");
    }
}

#[test]
fn printed_defaults_are_a_valid_yaml_configuration() {
    let dir = std::env::temp_dir().join(format!("prm-config-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    for flag in ["--relayer", "--miner"] {
        let out = bin(&["config", "print-default", flag]);
        assert!(out.status.success());
        let path = dir.join("defaults.yaml");
        std::fs::write(&path, &out.stdout).expect("write");
        // Defaults parse (strict YAML); they are not runnable as they are
        // (no keys file, no services), and validate says exactly that.
        let out = bin(&["config", "validate", flag, path.to_str().expect("utf-8")]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{t}");
        assert!(t.contains("keys_file is required"), "{t}");
        assert!(!t.contains("line "), "parse error in printed defaults: {t}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn invalid_config_exits_2_listing_every_error() {
    let dir = std::env::temp_dir().join(format!("prm-config-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let path = dir.join("relayer.yaml");
    std::fs::write(
        &path,
        "max_body_bytes: 0\nservices: {}\ndrain_timeout: 0s\n",
    )
    .expect("write");
    let p = path.to_str().expect("utf-8");

    let out = bin(&["config", "validate", "--relayer", p]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    for e in [
        "max_body_bytes",
        "no services configured",
        "keys_file is required",
        "drain_timeout",
    ] {
        assert!(t.contains(e), "missing {e:?} in {t}");
    }

    // The relayer itself refuses to start the same way, before any I/O.
    let out = bin(&["relayer", "--config", p]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("4 errors"), "{t}");

    // Unknown keys are errors too.
    std::fs::write(&path, "listen_address: 0.0.0.0:1\n").expect("write");
    let out = bin(&["config", "validate", "--miner", p]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("listen_address"), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}
