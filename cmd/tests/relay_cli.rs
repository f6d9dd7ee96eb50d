//! `pocket-relay-miner relay` against the production relayer on loopback
//! (chainsim, Redis, a backend): a gateway-signed relay is served and its
//! reply verified; a load test sends every request once and all are served
//! and mined as distinct relays; a reply signed with a key other than the
//! supplier's on-chain key is reported as a verification failure.

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
        tokio::spawn(serve_relayer(
            listener,
            relayer_config(redis_config.clone(), backend),
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
