//! `version` / `--version` name the crate version and the git commit of the
//! build; `keys address` prints the `pokt1…` address (and with `--pubkey`
//! the compressed public key) of a hex private key, matching the protocol
//! crate and the Go-made vectors, and refuses malformed keys clearly.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pocket-relay-miner"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The full hash of HEAD, when git and the repository are there.
fn git_head() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn version_prints_the_crate_version_and_the_commit_of_the_build() {
    let out = bin(&["version"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let line = text.trim();
    let prefix = format!("pocket-relay-miner {} (commit ", env!("CARGO_PKG_VERSION"));
    let commit = line
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected version line {line:?}"));
    match git_head() {
        Some(head) => {
            let short = commit.strip_suffix("-dirty").unwrap_or(commit);
            assert!(
                short.len() >= 7 && short.bytes().all(|b| b.is_ascii_hexdigit()),
                "{commit:?} is not an abbreviated commit hash"
            );
            assert!(
                head.starts_with(short),
                "built from {commit}, but HEAD is {head}"
            );
        }
        None => assert_eq!(commit, "unknown"),
    }
    // `--version` says the same.
    let flag = bin(&["--version"]);
    assert!(flag.status.success(), "{}", stderr(&flag));
    assert_eq!(stdout(&flag).trim(), line);
}

/// The address and public key of the scalar `n`, via the library crates.
fn expected(n: u8) -> (String, String) {
    let mut key = [0u8; 32];
    key[31] = n;
    let pk = rings::PrivateKey::from_bytes(&key).unwrap().public_key();
    (
        protocol::address::address_from_pubkey(&pk).unwrap(),
        hex::encode(pk),
    )
}

#[test]
fn keys_address_matches_the_localnet_test_keys_and_the_go_vectors() {
    // The localnet's keys: application, gateway, suppliers (scalars 1–4).
    for n in 1..=4u8 {
        let hex_key = format!("{n:064x}");
        let (address, pubkey) = expected(n);
        let out = bin(&["keys", "address", &hex_key]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out), format!("{address}\n"));
        let out = bin(&["keys", "address", "--pubkey", &format!("0x{hex_key}")]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out), format!("{address}\n{pubkey}\n"));
    }
    // The generator point: a well-known public key.
    let (_, g) = expected(1);
    assert_eq!(
        g,
        "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
    );

    // Keys and addresses made by the Go libraries (shared/vectors), among
    // them the relay-miner README's example.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/vectors/ring_primitives.json"
    );
    let vectors: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = vectors["key_images"].as_array().unwrap();
    assert!(cases.len() >= 30, "{} key cases", cases.len());
    let mut readme_example = false;
    for case in cases {
        let key = case["priv_hex"].as_str().unwrap();
        let out = bin(&["keys", "address", key, "--pubkey"]);
        assert!(out.status.success(), "{key}: {}", stderr(&out));
        assert_eq!(
            stdout(&out),
            format!(
                "{}\n{}\n",
                case["address"].as_str().unwrap(),
                case["pub_hex"].as_str().unwrap()
            ),
            "key {key}"
        );
        readme_example |= case["address"] == "pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4";
    }
    assert!(readme_example);
}

#[test]
fn keys_address_reads_the_key_from_stdin_with_a_dash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pocket-relay-miner"))
        .args(["keys", "address", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{:064x}\n", 3).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{}\n", expected(3).0));
}

#[test]
fn keys_address_refuses_malformed_keys_with_a_clear_error() {
    let n = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
    let cases: [(String, &str); 5] = [
        ("01".into(), "expected 64 hex characters, got 2"),
        (format!("{:065x}", 1), "expected 64 hex characters, got 65"),
        (format!("zz{:062x}", 1), "not hexadecimal"),
        (format!("{:064x}", 0), "not a valid secp256k1 private key"),
        (n.into(), "not a valid secp256k1 private key"),
    ];
    for (key, message) in cases {
        let out = bin(&["keys", "address", &key]);
        assert!(!out.status.success(), "{key} accepted");
        assert!(stdout(&out).is_empty(), "{key}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(err.contains(message), "{key}: {err}");
        // The key never reaches the error output.
        assert!(key.len() < 8 || !err.contains(&key), "{key} echoed: {err}");
    }
    // No key at all is a usage error.
    let out = bin(&["keys", "address"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
