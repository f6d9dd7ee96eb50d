//! `pocket-relay-miner relay` against the production relayer on loopback
//! (chainsim, Redis, a backend): a gateway-signed relay is served and its
//! reply verified; a load test sends every request once and all are served
//! and mined as distinct relays; a reply signed with a key other than the
//! supplier's on-chain key is reported as a verification failure; simulated
//! relays (`--simulate`) are served over the pinned ring without a session
//! and never mined; `--output json` prints one machine-readable object.

#![allow(clippy::unwrap_used)]

// The client module is compiled into this test as it is into the binary.
#[path = "../src/relay/mod.rs"]
mod relay;
#[path = "support/relay_env.rs"]
mod relay_env;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use fred::prelude::*;
use prost::Message;
use relay::verify::FailureKind;
use relay::{RelayArgs, Report};
use relay_env::*;
use store::testing::RedisServer;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: RelayArgs,
}

fn parse(list: &[&str]) -> Result<RelayArgs, clap::Error> {
    Cli::try_parse_from(std::iter::once("relay").chain(list.iter().copied())).map(|c| c.args)
}

/// A keys file (mode 600) removed on drop.
struct KeysFile(PathBuf);

impl KeysFile {
    fn new(keys: &[[u8; 32]]) -> Self {
        use std::os::unix::fs::PermissionsExt;
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "relay-cli-{}-{}.yaml",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let list: Vec<String> = keys
            .iter()
            .map(|k| format!("\"{}\"", hex::encode(k)))
            .collect();
        std::fs::write(&path, format!("keys: [{}]\n", list.join(", "))).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        KeysFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for KeysFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The relayer's simulation identity (pinned ring: application, gateway).
const SIM_KEY_ID: &str = "probe";

struct Net {
    _redis: RedisServer,
    redis_config: store::RedisConfig,
    cancel: CancellationToken,
    sim: chainsim::ChainSimHandle,
    relayer: SocketAddr,
}

impl Drop for Net {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Net {
    /// Chainsim whose supplier is staked at the relayer's address, Redis, a
    /// backend, and the relayer (full validation) on loopback.
    async fn start() -> Net {
        let redis = RedisServer::start().unwrap();
        let redis_config = redis.config();
        let cancel = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relayer = listener.local_addr().unwrap();
        let sim = start_sim(
            genesis(1_000_000_000_000, &format!("http://{relayer}/")),
            &cancel,
        )
        .await;
        let backend = spawn_backend(&cancel).await;
        let mut config = relayer_config(redis_config.clone(), backend);
        config.simulation.enabled = true;
        config
            .simulation
            .identities
            .push(relayer::config::SimulationIdentity {
                key_id: SIM_KEY_ID.into(),
                app_pubkey_hex: hex::encode(pk(&APP_KEY).public_key()),
                gateway_pubkeys_hex: vec![hex::encode(pk(&GATEWAY_KEY).public_key())],
                allowed_services: vec![],
                require_fresh_session_id: true,
                max_rps: 0,
            });
        tokio::spawn(serve_relayer(
            listener,
            config,
            vec![pk(&SUPPLIER_KEY)],
            sim.grpc_url(),
            sim.rpc_url(),
            cancel.clone(),
        ));
        wait_ready(relayer, Duration::from_secs(20)).await.unwrap();
        Net {
            _redis: redis,
            redis_config,
            cancel,
            sim,
            relayer,
        }
    }

    /// The relay hashes published to the supplier's stream, once `n` are there.
    async fn published_hashes(&self, n: usize) -> Vec<Vec<u8>> {
        let cfg = &self.redis_config;
        let pool = store::connect_pool(cfg).await.unwrap();
        let keys = store::Keys::new(&cfg.namespace).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let entries: Vec<(String, std::collections::HashMap<String, Vec<u8>>)> = pool
                .xrange(keys.relay_stream(&addr(&SUPPLIER_KEY)), "-", "+", None)
                .await
                .unwrap();
            if entries.len() >= n || tokio::time::Instant::now() > deadline {
                return entries
                    .into_iter()
                    .map(|(_, f)| {
                        protocol::pb::relayminer::v1::MinedRelay::decode(f["data"].as_slice())
                            .unwrap()
                            .relay_hash
                    })
                    .collect();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn one_relay_signed_by_the_gateway_goes_to_the_staked_endpoint_and_verifies() {
    let net = Net::start().await;
    let keys = KeysFile::new(&[GATEWAY_KEY]);
    let app = addr(&APP_KEY);
    let grpc = net.sim.grpc_url();
    // No --relayer-url: the supplier's endpoint staked for JSON-RPC is used.
    let args = parse(&[
        "jsonrpc",
        "--grpc-url",
        &grpc,
        "--service",
        "anvil",
        "--app",
        &app,
        "--keys-file",
        keys.path(),
    ])
    .unwrap();
    let report = relay::execute(&args).await.unwrap();
    let Report::Single(single) = &report else {
        panic!("expected one relay, got {report:?}");
    };
    let verified = single.outcome.as_ref().unwrap();
    assert!(verified.signature_checked);
    assert_eq!(verified.backend_status, 200);
    assert_eq!(String::from_utf8_lossy(&verified.body), BACKEND_BODY);
    assert_eq!(single.info.url, format!("http://{}/", net.relayer));
    assert_eq!(single.info.signer, addr(&GATEWAY_KEY));
    assert!(!single.info.signer_is_app);
    assert_eq!(single.info.ring_size, 2);
    assert_eq!(single.info.target.supplier, addr(&SUPPLIER_KEY));
    let text = relay::render(&report);
    assert!(text.starts_with("relay OK"), "{text}");
    assert!(text.contains(BACKEND_BODY), "{text}");

    // The command itself succeeds, and the relayer mined both relays.
    relay::run(args).await.unwrap();
    assert_eq!(net.published_hashes(2).await.len(), 2);
}

#[tokio::test]
async fn a_200_relay_load_test_is_all_ok_and_every_relay_is_distinct() {
    let net = Net::start().await;
    let url = format!("http://{}/", net.relayer);
    let grpc = net.sim.grpc_url();
    let app = addr(&APP_KEY);
    let gateway = hex::encode(GATEWAY_KEY);
    let args = parse(&[
        "jsonrpc",
        "--grpc-url",
        &grpc,
        "--service",
        "anvil",
        "--app",
        &app,
        "--key-hex",
        &gateway,
        "--relayer-url",
        &url,
        "--load-test",
        "--count",
        "200",
        "--concurrency",
        "8",
        "--duration",
        "60s",
    ])
    .unwrap();
    let report = relay::execute(&args).await.unwrap();
    let Report::Load(load) = &report else {
        panic!("expected a load test, got {report:?}");
    };
    let r = &load.report;
    assert_eq!(
        (r.planned, r.sent, r.ok, r.failed()),
        (200, 200, 200, 0),
        "{}",
        relay::render(&report)
    );
    assert_eq!(r.signatures_checked, 200);
    assert_eq!(r.latency.len(), 200);
    assert_eq!(r.backend_statuses.get(&200), Some(&200));
    assert!(relay::render(&report).contains("failures    none"));

    // Every request was distinct: 200 relays mined, 200 distinct relay hashes.
    let hashes = net.published_hashes(200).await;
    assert_eq!(hashes.len(), 200);
    assert_eq!(hashes.iter().collect::<HashSet<_>>().len(), 200);
}

/// A relayer holding the wrong key for the supplier: it forwards to the real
/// relayer and re-signs each reply with `WRONG_SUPPLIER_KEY`.
async fn wrong_key_relayer(real: SocketAddr, cancel: &CancellationToken) -> SocketAddr {
    use axum::routing::any;
    use http_body_util::{BodyExt, Full};
    let client: hyper_util::client::legacy::Client<_, Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let app =
        axum::Router::new().fallback(any(move |headers: http::HeaderMap, body: bytes::Bytes| {
            let client = client.clone();
            async move {
                let mut req = http::Request::post(format!("http://{real}/"));
                if let Some(v) = headers.get("rpc-type") {
                    req = req.header("rpc-type", v);
                }
                let reply = client
                    .request(req.body(Full::new(body)).unwrap())
                    .await
                    .unwrap();
                let bytes = reply.into_body().collect().await.unwrap().to_bytes();
                let mut res = protocol::RelayResponse::decode_bytes(&bytes).unwrap();
                res.meta.supplier_operator_signature = pk(&WRONG_SUPPLIER_KEY)
                    .sign_response(&res.signable_hash())
                    .unwrap()
                    .to_vec();
                res.encode_to_vec()
            }
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cancel = cancel.clone();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await
    });
    addr
}

#[tokio::test]
async fn a_reply_signed_with_another_key_than_the_suppliers_on_chain_key_fails_verification() {
    let net = Net::start().await;
    let proxy = wrong_key_relayer(net.relayer, &net.cancel).await;
    let url = format!("http://{proxy}/");
    let grpc = net.sim.grpc_url();
    let app = addr(&APP_KEY);
    let gateway = hex::encode(GATEWAY_KEY);
    let base = [
        "jsonrpc",
        "--grpc-url",
        &grpc,
        "--service",
        "anvil",
        "--app",
        &app,
        "--key-hex",
        &gateway,
        "--relayer-url",
        &url,
    ];
    let args = parse(&base).unwrap();
    let report = relay::execute(&args).await.unwrap();
    let Report::Single(single) = &report else {
        panic!("expected one relay, got {report:?}");
    };
    let failure = single.outcome.as_ref().unwrap_err();
    assert_eq!(failure.kind, FailureKind::Signature, "{failure}");
    assert!(relay::render(&report).starts_with("relay FAILED"));
    let err = relay::run(args).await.unwrap_err().to_string();
    assert!(
        err.contains("supplier signature verification failed"),
        "{err}"
    );

    // In a load test every such reply is counted as a verification failure.
    let mut load = base.to_vec();
    load.extend(["--load-test", "--count", "20", "--concurrency", "4"]);
    let report = relay::execute(&parse(&load).unwrap()).await.unwrap();
    let Report::Load(l) = &report else {
        panic!("expected a load test, got {report:?}");
    };
    assert_eq!(l.report.ok, 0);
    assert_eq!(
        l.report.failures.get(&FailureKind::Signature).map(|f| f.0),
        Some(20),
        "{}",
        relay::render(&report)
    );
    assert!(relay::run(parse(&load).unwrap()).await.is_err());
}

#[test]
fn the_command_line_requires_a_key_and_load_options_only_with_a_load_test() {
    let ok = parse(&["jsonrpc", "--service", "anvil", "--key-hex", "01"]).unwrap();
    assert!(!ok.load.load_test);
    assert_eq!(ok.timeout, Duration::from_secs(10));
    assert!(parse(&["jsonrpc", "--service", "anvil"]).is_err(), "no key");
    assert!(
        parse(&[
            "jsonrpc",
            "--service",
            "anvil",
            "--key-hex",
            "01",
            "--count",
            "5"
        ])
        .is_err(),
        "--count without --load-test"
    );
    assert!(
        parse(&[
            "jsonrpc",
            "--service",
            "anvil",
            "--key-hex",
            "01",
            "--load-test",
            "--duration",
            "0s"
        ])
        .is_err(),
        "zero duration"
    );
    assert!(
        parse(&["grpc", "--service", "anvil", "--key-hex", "01"]).is_err(),
        "only HTTP RPC types"
    );
    let load = parse(&[
        "rest",
        "--service",
        "anvil",
        "--keys-file",
        "k.yaml",
        "--load-test",
        "--rps",
        "1000",
    ])
    .unwrap();
    assert_eq!(load.load.count, 1000);
    assert_eq!(load.load.duration, Duration::from_secs(60));
    assert_eq!(load.load.rps, Some(1000.0));
}

/// The arguments of a simulated relay to `url`, signed by the gateway over
/// the pinned ring, the supplier's key from the chain at `grpc`.
fn simulated(url: &str, grpc: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "jsonrpc",
        "--simulate",
        "--sim-key-id",
        SIM_KEY_ID,
        "--sim-app-pubkey",
        &hex::encode(pk(&APP_KEY).public_key()),
        "--key-hex",
        &hex::encode(GATEWAY_KEY),
        "--service",
        "anvil",
        "--supplier",
        &addr(&SUPPLIER_KEY),
        "--relayer-url",
        url,
        "--grpc-url",
        grpc,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn parse_owned(list: &[String]) -> RelayArgs {
    let refs: Vec<&str> = list.iter().map(String::as_str).collect();
    parse(&refs).unwrap()
}

#[tokio::test]
async fn simulated_relays_need_no_session_are_verified_and_are_never_mined() {
    let net = Net::start().await;
    let url = format!("http://{}/", net.relayer);
    let grpc = net.sim.grpc_url();

    // One relay: served over the pinned ring, the supplier's reply verified
    // with its on-chain key (looked up at --grpc-url).
    let report = relay::execute(&parse_owned(&simulated(&url, &grpc, &[])))
        .await
        .unwrap();
    let Report::Single(single) = &report else {
        panic!("expected one relay, got {report:?}");
    };
    let verified = single.outcome.as_ref().unwrap();
    assert!(verified.signature_checked);
    assert_eq!(String::from_utf8_lossy(&verified.body), BACKEND_BODY);
    assert_eq!(single.info.simulated.as_deref(), Some(SIM_KEY_ID));
    assert!(!single.info.signer_is_app);
    let header = &single.info.target.header;
    assert!(header.session_id.starts_with("simv1:"), "{header:?}");
    assert_eq!(header.application_address, addr(&APP_KEY));
    assert!(relay::render(&report).contains("simulated (key id probe)"));

    // No chain at all: the supplier's key given on the command line.
    let supplier_pk = hex::encode(pk(&SUPPLIER_KEY).public_key());
    let offline = simulated(
        &url,
        "http://127.0.0.1:1",
        &["--sim-supplier-pubkey", &supplier_pk],
    );
    let report = relay::execute(&parse_owned(&offline)).await.unwrap();
    let Report::Single(single) = &report else {
        panic!("expected one relay, got {report:?}");
    };
    assert!(single.outcome.is_ok(), "{}", relay::render(&report));

    // The wrong supplier key: the reply fails verification.
    let wrong_pk = hex::encode(pk(&WRONG_SUPPLIER_KEY).public_key());
    let wrong = simulated(
        &url,
        "http://127.0.0.1:1",
        &["--sim-supplier-pubkey", &wrong_pk],
    );
    let report = relay::execute(&parse_owned(&wrong)).await.unwrap();
    let Report::Single(single) = &report else {
        panic!("expected one relay, got {report:?}");
    };
    assert_eq!(
        single.outcome.as_ref().unwrap_err().kind,
        FailureKind::Signature
    );

    // A load test of simulated relays: all served, each signed separately.
    let load = simulated(
        &url,
        &grpc,
        &["--load-test", "--count", "60", "--concurrency", "6"],
    );
    let report = relay::execute(&parse_owned(&load)).await.unwrap();
    let Report::Load(l) = &report else {
        panic!("expected a load test, got {report:?}");
    };
    assert_eq!(
        (l.report.sent, l.report.ok, l.report.failed()),
        (60, 60, 0),
        "{}",
        relay::render(&report)
    );

    // A key id the relayer does not know: refused (403).
    let mut unknown = simulated(&url, &grpc, &[]);
    let at = unknown.iter().position(|a| a == SIM_KEY_ID).unwrap();
    unknown[at] = "nobody".into();
    let report = relay::execute(&parse_owned(&unknown)).await.unwrap();
    let Report::Single(single) = &report else {
        panic!("expected one relay, got {report:?}");
    };
    let failure = single.outcome.as_ref().unwrap_err();
    assert_eq!(failure.kind, FailureKind::Status(403), "{failure}");
    assert!(failure.detail.contains("unknown key id"), "{failure}");

    // None of the 63 simulated relays was mined: after one real relay the
    // supplier's stream holds exactly that one.
    let app = addr(&APP_KEY);
    let gateway = hex::encode(GATEWAY_KEY);
    let real = parse(&[
        "jsonrpc",
        "--grpc-url",
        &grpc,
        "--service",
        "anvil",
        "--app",
        &app,
        "--key-hex",
        &gateway,
        "--relayer-url",
        &url,
    ])
    .unwrap();
    relay::run(real).await.unwrap();
    assert_eq!(net.published_hashes(1).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(net.published_hashes(1).await.len(), 1);
}

#[test]
fn simulate_options_go_together() {
    let base = ["jsonrpc", "--service", "anvil", "--key-hex", "01"];
    let with = |extra: &[&str]| {
        let mut v = base.to_vec();
        v.extend_from_slice(extra);
        parse(&v)
    };
    let pubkey = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
    let full = [
        "--simulate",
        "--sim-key-id",
        "probe",
        "--sim-app-pubkey",
        pubkey,
        "--supplier",
        "pokt1x",
        "--relayer-url",
        "http://127.0.0.1:1/",
    ];
    let ok = with(&full).unwrap();
    assert!(ok.sim.simulate);
    assert_eq!(ok.sim.sim_key_id.as_deref(), Some("probe"));
    // Each of the required companions missing.
    for skip in [1, 3, 5, 7] {
        let mut v = full.to_vec();
        v.drain(skip..skip + 2);
        assert!(with(&v).is_err(), "accepted without {}", full[skip]);
    }
    assert!(
        with(&["--sim-key-id", "probe"]).is_err(),
        "without --simulate"
    );
    let two = format!("{pubkey},{pubkey}");
    let mut gateways = full.to_vec();
    gateways.extend(["--sim-gateway-pubkeys", &two]);
    assert_eq!(with(&gateways).unwrap().sim.sim_gateway_pubkeys.len(), 2);
    assert!(with(&["--output", "yaml"]).is_err());
    assert_eq!(
        with(&["--output", "json"]).unwrap().output,
        relay::OutputFormat::Json
    );
}

/// Runs the binary's `relay` command with `--output json`: (exit success,
/// stdout as JSON, stderr).
async fn relay_json(args: &[String]) -> (bool, serde_json::Value, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pocket-relay-miner"))
        .arg("relay")
        .args(args)
        .args(["--output", "json"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}):\n{stdout}\n{stderr}"));
    (out.status.success(), json, stderr)
}

#[tokio::test]
async fn output_json_summarises_one_relay_and_a_load_test() {
    let net = Net::start().await;
    let url = format!("http://{}/", net.relayer);
    let grpc = net.sim.grpc_url();
    let app = addr(&APP_KEY);
    let gateway = hex::encode(GATEWAY_KEY);
    let with = |extra: &[&str]| {
        let mut v: Vec<String> = [
            "jsonrpc",
            "--grpc-url",
            &grpc,
            "--service",
            "anvil",
            "--app",
            &app,
            "--key-hex",
            &gateway,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };

    // One relay.
    let (ok, j, stderr) = relay_json(&with(&["--relayer-url", &url])).await;
    assert!(ok, "{j}\n{stderr}");
    assert_eq!(j["mode"], "single");
    assert_eq!(j["ok"], true);
    assert_eq!(j["backend_status"], 200);
    assert_eq!(j["body"], BACKEND_BODY);
    assert_eq!(j["signature_checked"], true);
    assert_eq!(j["error"], serde_json::Value::Null);
    assert_eq!(j["supplier"], addr(&SUPPLIER_KEY));
    assert_eq!(j["signer"], addr(&GATEWAY_KEY));
    assert_eq!(j["simulated"], serde_json::Value::Null);
    assert!(j["latency_ms"].as_f64().unwrap() > 0.0, "{j}");

    // A load test: counts, rate, percentiles, no errors.
    let (ok, j, stderr) = relay_json(&with(&[
        "--relayer-url",
        &url,
        "--load-test",
        "--count",
        "80",
        "--concurrency",
        "4",
    ]))
    .await;
    assert!(ok, "{j}\n{stderr}");
    assert_eq!(j["mode"], "load_test");
    assert_eq!(
        [&j["planned"], &j["sent"], &j["succeeded"], &j["failed"]],
        [80, 80, 80, 0],
        "{j}"
    );
    assert!(j["relays_per_second"].as_f64().unwrap() > 0.0, "{j}");
    let lat = &j["latency_ms"];
    for q in ["p50", "p90", "p95", "p99", "p99_9", "max", "mean"] {
        assert!(lat[q].as_f64().unwrap() > 0.0, "{q}: {j}");
    }
    assert!(lat["p50"].as_f64() <= lat["p99"].as_f64(), "{j}");
    assert_eq!(j["errors"], serde_json::json!({}));
    assert_eq!(j["backend_statuses"]["200"], 80);
    assert_eq!(j["signatures_checked"], 80);

    // Failures are counted by kind in the JSON, and the exit status says so.
    let proxy = wrong_key_relayer(net.relayer, &net.cancel).await;
    let (ok, j, _) = relay_json(&with(&[
        "--relayer-url",
        &format!("http://{proxy}/"),
        "--load-test",
        "--count",
        "10",
        "--concurrency",
        "2",
    ]))
    .await;
    assert!(!ok, "{j}");
    assert_eq!(j["ok"], false);
    assert_eq!([&j["succeeded"], &j["failed"]], [0, 10], "{j}");
    assert_eq!(
        j["errors"]["supplier signature verification failed"]["count"], 10,
        "{j}"
    );
    assert_eq!(j["latency_ms"], serde_json::Value::Null);

    // A simulated relay in JSON names its key id.
    let (ok, j, stderr) = relay_json(&simulated(&url, &grpc, &[])).await;
    assert!(ok, "{j}\n{stderr}");
    assert_eq!(j["simulated"], SIM_KEY_ID);
    assert!(j["session_id"].as_str().unwrap().starts_with("simv1:"));
}
