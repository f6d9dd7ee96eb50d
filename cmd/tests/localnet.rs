//! `pocket-relay-miner localnet` end to end with fast blocks: chainsim,
//! redis-server, a relayer, two miners and the traffic generator; every
//! relay verified, at least one session settled valid, none invalid, none
//! missing, none left unsettled, exit status 0.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The number after `label` in the report.
fn figure(report: &str, label: &str) -> u64 {
    report
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} in the report:\n{report}"))
}

#[test]
fn localnet_settles_every_session_valid() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pocket-relay-miner"))
        .args([
            "localnet",
            "--duration",
            "8s",
            "--block-time",
            "250ms",
            "--rps",
            "25",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    // The run is bounded by its own settlement deadline; this one only
    // guards against a hang.
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("localnet did not finish within 180 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = format!("{stdout}\n--- stderr ---\n{stderr}");
    assert!(status.success(), "localnet failed:\n{report}");
    assert!(stdout.contains("result: PASS"), "{report}");
    let sent = figure(&stdout, "relays sent");
    let ok = figure(&stdout, "relays ok (verified)");
    assert!(sent > 0, "{report}");
    assert_eq!(figure(&stdout, "relays failed"), 0, "{report}");
    assert_eq!(ok, sent, "{report}");
    assert!(figure(&stdout, "settlements valid") >= 1, "{report}");
    assert_eq!(figure(&stdout, "settlements invalid"), 0, "{report}");
    assert_eq!(figure(&stdout, "settlements missing proof"), 0, "{report}");
    assert_eq!(figure(&stdout, "sessions not settled"), 0, "{report}");
    // Every claim needs a proof in the localnet genesis, and every served
    // session was claimed and settled.
    let claimed = figure(&stdout, "sessions claimed");
    assert_eq!(claimed, figure(&stdout, "sessions served"), "{report}");
    assert_eq!(claimed, figure(&stdout, "settlements valid"), "{report}");
    assert_eq!(figure(&stdout, "proofs accepted"), claimed, "{report}");
    // Every verified relay reached a settled claim.
    assert_eq!(figure(&stdout, "relays in settled claims"), ok, "{report}");
}
