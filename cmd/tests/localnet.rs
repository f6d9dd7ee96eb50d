//! `pocket-relay-miner localnet` end to end with fast blocks (250 ms, so a
//! session is 2.5 s): chainsim, Redis, the two demo backends, relayers,
//! miners and the traffic generator, all real, on loopback.
//!
//! - The default shape (2 relayers, 2 miners, 2 suppliers, 2 services) for
//!   two sessions: both services served, every relay verified and in a
//!   claim, every claim proven and settled valid, exit status 0.
//! - `--keep-running` with `--redis-url`: after the summary the endpoints
//!   are printed and answer, the relay client's suggested commands work
//!   against them, the run's keys live under a namespace of their own in
//!   the given Redis, and Ctrl-C (SIGINT) stops it cleanly and deletes them.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The number after `label` on the first line that has one.
fn figure(report: &str, label: &str) -> u64 {
    report
        .lines()
        .find_map(|l| {
            l.trim_start()
                .strip_prefix(label)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no {label:?} in the report:\n{report}"))
}

/// The `name n · name n` list after `label` in the summary.
fn figures(report: &str, label: &str) -> Vec<(String, u64)> {
    let rest = report
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in the report:\n{report}"));
    rest.split('·')
        .map(|item| {
            let mut parts = item.split_whitespace();
            let name = parts.next().unwrap().to_owned();
            let n = parts.next().unwrap().parse().unwrap();
            (name, n)
        })
        .collect()
}

fn localnet(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pocket-relay-miner"))
        .arg("localnet")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts")
}

/// Waits for `child` up to `within`; kills it and fails after that.
fn wait_bounded(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("localnet did not finish within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Checks the summary of a run that served `sessions` sessions.
fn check_summary(stdout: &str, report: &str, sessions: u64) {
    assert!(stdout.contains("result: PASS"), "{report}");
    assert_eq!(figure(stdout, "traffic"), sessions, "{report}");
    let sent = figure(stdout, "relays sent");
    let served = figure(stdout, "relays served ");
    assert!(sent > 0, "{report}");
    assert_eq!(figure(stdout, "relays failed"), 0, "{report}");
    assert_eq!(served, sent, "{report}");
    // Both services served, by the relayers and by their backends.
    for label in ["relays served by service", "backend requests"] {
        let by = figures(stdout, label);
        let names: Vec<&str> = by.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["anvil", "rest-demo"], "{report}");
        assert!(by.iter().all(|(_, n)| *n > 0), "{label}: {report}");
    }
    assert_eq!(
        figures(stdout, "relays served by service")
            .iter()
            .map(|(_, n)| n)
            .sum::<u64>(),
        served,
        "{report}"
    );
    // Every (session, supplier) pair served gave a claim, a valid proof (the
    // localnet genesis requires one for every claim) and a valid settlement.
    let pairs = figure(stdout, "session/supplier pairs served");
    assert!(pairs >= 2 * sessions, "{report}");
    assert_eq!(figure(stdout, "claims"), pairs, "{report}");
    assert_eq!(figure(stdout, "proofs valid / invalid"), pairs, "{report}");
    assert_eq!(figure(stdout, "claims settled valid"), pairs, "{report}");
    assert_eq!(figure(stdout, "claims settled invalid"), 0, "{report}");
    assert_eq!(figure(stdout, "claims settled missing"), 0, "{report}");
    assert_eq!(figure(stdout, "served, never settled"), 0, "{report}");
    // Every served relay is in a claim.
    assert_eq!(figure(stdout, "relays in claims"), served, "{report}");
    let latency = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("latency p50 / p99"))
        .unwrap_or_else(|| panic!("no latency line:\n{report}"));
    assert_eq!(latency.matches(" ms").count(), 3, "{latency}");
}

#[test]
fn localnet_serves_both_services_and_settles_every_claim_valid() {
    // Defaults otherwise: 2 relayers, 2 miners, 2 suppliers.
    let mut child = localnet(&["--sessions", "2", "--block-time", "250ms", "--rps", "25"]);
    let status = wait_bounded(&mut child, Duration::from_secs(180));
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = format!("{stdout}\n--- stderr ---\n{stderr}");
    assert!(status.success(), "localnet failed:\n{report}");
    check_summary(&stdout, &report, 2);
    assert!(
        stdout.contains("2 services, 2 supplier(s), 2 relayer(s), 2 miner(s)"),
        "{report}"
    );
    assert!(
        stdout.contains("traffic stopped: every session asked for served relays"),
        "{report}"
    );
}

/// `GET url` over HTTP/1.1: (status, body).
fn http_get(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP reply: {text}"));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

/// A chunked HTTP/1.1 body, decoded.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Keys of `pattern` in the Redis at `url`.
fn redis_keys(url: &str, pattern: &str) -> Vec<String> {
    use fred::prelude::*;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cfg = store::RedisConfig {
            url: url.into(),
            pool_size: 1,
            ..Default::default()
        };
        let pool = store::connect_pool(&cfg).await.unwrap();
        let keys: Vec<String> = pool
            .next()
            .custom(fred::cmd!("KEYS"), vec![pattern])
            .await
            .unwrap();
        keys
    })
}

#[test]
fn keep_running_prints_live_endpoints_uses_the_given_redis_and_stops_on_sigint() {
    let redis = store::testing::RedisServer::start().unwrap();
    let mut child = localnet(&[
        "--sessions",
        "1",
        "--block-time",
        "250ms",
        "--rps",
        "20",
        "--relayers",
        "1",
        "--miners",
        "1",
        "--redis-url",
        &redis.url(),
        "--keep-running",
    ]);
    // Lines of stdout as they come.
    let (tx, lines) = mpsc::channel::<String>();
    let reader = {
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
    };
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    // The summary, the endpoints and the commands to try, up to the last one.
    while !seen
        .last()
        .is_some_and(|l: &String| l.contains("relay jsonrpc --simulate"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "no endpoints within 120 s:\n{}\n--- stderr ---\n{}",
                    seen.join("\n"),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
    let stdout = seen.join("\n");
    check_summary(&stdout, &stdout, 1);
    let endpoint = |name: &str| -> String {
        seen.iter()
            .find_map(|l| {
                let mut parts = l.split_whitespace();
                (parts.next() == Some(name)).then(|| parts.next().unwrap().to_owned())
            })
            .unwrap_or_else(|| panic!("no endpoint {name}:\n{stdout}"))
    };

    // The network is still up: the relayer is ready, the backends and the
    // chain answer, blocks go on.
    let relayer = endpoint("relayer-0");
    assert_eq!(http_get(&format!("{relayer}ready")).0, 200);
    let (status, metrics) = http_get(&format!("{relayer}metrics"));
    assert_eq!(status, 200);
    assert!(!metrics.is_empty());
    assert_eq!(http_get(&format!("{}ready", endpoint("miner-0"))).0, 200);
    let (status, body) = http_get(&endpoint("backend-rest-demo"));
    assert_eq!(status, 200);
    assert!(body.contains(r#""status":"ok""#), "{body}");
    let rpc = endpoint("chainsim-rpc");
    let height = |state: &str| -> i64 {
        let v: serde_json::Value = serde_json::from_str(state).unwrap();
        v["height"].as_i64().unwrap()
    };
    let (status, state) = http_get(&format!("{rpc}/chainsim/state"));
    assert_eq!(status, 200);
    let before = height(&state);
    std::thread::sleep(Duration::from_millis(600));
    assert!(height(&http_get(&format!("{rpc}/chainsim/state")).1) > before);

    // The printed relay commands work against it (a real relay, and a
    // simulated one).
    for needle in ["relay jsonrpc --grpc-url", "relay jsonrpc --simulate"] {
        let line = seen
            .iter()
            .find(|l| l.contains(needle) && !l.contains("--load-test"))
            .unwrap();
        let args: Vec<&str> = line.split_whitespace().skip(1).collect();
        let out = Command::new(env!("CARGO_BIN_EXE_pocket-relay-miner"))
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{line}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("relay OK"));
    }

    // The run's keys are under its own namespace in the given Redis.
    let namespace = seen
        .iter()
        .find_map(|l| l.split("namespace ").nth(1))
        .map(|ns| ns.trim().trim_end_matches(')').to_owned())
        .unwrap();
    assert!(namespace.starts_with("localnet-"), "{namespace}");
    let pattern = format!("{namespace}:*");
    assert!(!redis_keys(&redis.url(), &pattern).is_empty());
    let all = redis_keys(&redis.url(), "*");
    assert!(all.iter().all(|k| k.starts_with(&format!("{namespace}:"))));

    // Ctrl-C: a clean stop, exit status 0 (every claim settled valid), and
    // the namespace deleted.
    let pid = child.id().to_string();
    let kill = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(kill.success());
    let status = wait_bounded(&mut child, Duration::from_secs(60));
    reader.join().unwrap();
    let rest: Vec<String> = lines.try_iter().collect();
    let rest = rest.join("\n");
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(status.success(), "{rest}\n--- stderr ---\n{stderr}");
    assert!(rest.contains("stopping"), "{rest}");
    assert!(rest.contains("deleted "), "{rest}");
    assert_eq!(redis_keys(&redis.url(), "*"), Vec::<String>::new());
}
