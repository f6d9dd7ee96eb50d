//! `pocket-relay-miner relayer` and `miner` as processes against an
//! in-process chainsim and a real redis-server: the relayer refuses to start
//! for an operator without a public key on chain (PATH would blacklist it);
//! both become ready, and on SIGTERM stop cleanly (the relayer drains, the
//! miner releases its supplier lease).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use store::testing::RedisServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const fn key(n: u8) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[31] = n;
    k
}
const APP: [u8; 32] = key(1);
const GATEWAY: [u8; 32] = key(2);
/// Staked, public key on chain.
const SUPPLIER: [u8; 32] = key(3);
/// Staked by its owner, never signed a tx: no public key on chain.
const SILENT_SUPPLIER: [u8; 32] = key(4);

fn addr(k: &[u8; 32]) -> String {
    let pk = rings::PrivateKey::from_bytes(k).expect("key").public_key();
    protocol::address::address_from_pubkey(&pk).expect("address")
}

fn genesis() -> chainsim::Genesis {
    let supplier = |k: &[u8; 32], on_chain: bool| {
        format!(
            r#"  - operator: {{ private_key: "{}" }}
    stake_upokt: 1000000000
    pubkey_on_chain: {on_chain}
    services:
      - service_id: anvil
        endpoints: [{{ url: "http://127.0.0.1:1", rpc_type: json_rpc }}]
"#,
            hex::encode(k)
        )
    };
    let yaml = format!(
        r#"
chain_id: pocket
services:
  - {{ id: anvil, compute_units_per_relay: 1 }}
gateways:
  - {{ key: {{ private_key: "{gw}" }}, stake_upokt: 1000000000 }}
applications:
  - key: {{ private_key: "{app}" }}
    stake_upokt: 1000000000
    service_id: anvil
    delegatee_gateways: ["{gw_addr}"]
suppliers:
{s1}{s2}"#,
        gw = hex::encode(GATEWAY),
        app = hex::encode(APP),
        gw_addr = addr(&GATEWAY),
        s1 = supplier(&SUPPLIER, true),
        s2 = supplier(&SILENT_SUPPLIER, false),
    );
    chainsim::Genesis::from_yaml(&yaml).expect("genesis")
}

struct Net {
    _redis: RedisServer,
    redis_url: String,
    sim: chainsim::ChainSimHandle,
    cancel: CancellationToken,
    dir: PathBuf,
}

impl Drop for Net {
    fn drop(&mut self) {
        self.cancel.cancel();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn net(name: &str) -> Net {
    let redis = RedisServer::start().expect("redis-server (run `make deps`)");
    let cancel = CancellationToken::new();
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let sim = chainsim::ChainSim::start(
        genesis(),
        chainsim::Options {
            grpc_listen: loopback,
            rpc_listen: loopback,
            block_time: Duration::from_millis(200),
            start_paused: false,
        },
        cancel.clone(),
    )
    .await
    .expect("chainsim");
    let dir = std::env::temp_dir().join(format!("prm-roles-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    Net {
        redis_url: redis.url(),
        _redis: redis,
        sim,
        cancel,
        dir,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn write_keys(dir: &Path, keys: &[[u8; 32]]) -> PathBuf {
    let path = dir.join("keys.yaml");
    let list: Vec<String> = keys
        .iter()
        .map(|k| format!("\"{}\"", hex::encode(k)))
        .collect();
    std::fs::write(&path, format!("keys: [{}]\n", list.join(", "))).expect("keys");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    path
}

fn chain_yaml(sim: &chainsim::ChainSimHandle) -> String {
    format!(
        "chain:\n  chain_id: pocket\n  grpc: {{ url: \"{}\" }}\n  rpc: {{ url: \"{}\" }}\n",
        sim.grpc_url(),
        sim.rpc_url()
    )
}

fn relayer_config(n: &Net, keys: &[[u8; 32]], port: u16) -> PathBuf {
    let keys_file = write_keys(&n.dir, keys);
    let yaml = format!(
        r#"listen: 127.0.0.1:{port}
keys_file: {keys}
redis: {{ url: "{redis}", namespace: roles }}
{chain}services:
  anvil:
    backends:
      jsonrpc: {{ urls: ["http://127.0.0.1:1/"] }}
drain_timeout: 5s
"#,
        keys = keys_file.display(),
        redis = n.redis_url,
        chain = chain_yaml(&n.sim),
    );
    let path = n.dir.join("relayer.yaml");
    std::fs::write(&path, yaml).expect("config");
    path
}

fn spawn(args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_pocket-relay-miner"))
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts")
}

async fn stderr_of(child: tokio::process::Child) -> (std::process::ExitStatus, String) {
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the process exits within 60 s")
        .expect("output");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    String::from_utf8_lossy(&buf)
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn wait_ready(port: u16, child: &mut tokio::process::Child) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if http_status(port, "/ready").await == Some(200) {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("exited before ready: {status}");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not ready within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sigterm(child: &tokio::process::Child) {
    let pid = child.id().expect("running");
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -TERM {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relayer_refuses_an_operator_without_a_public_key_on_chain() {
    let n = net("pitfall9").await;
    let config = relayer_config(&n, &[SUPPLIER, SILENT_SUPPLIER], free_port());
    let child = spawn(&["relayer", "--config", config.to_str().expect("utf-8")]);
    let (status, stderr) = stderr_of(child).await;
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("has no public key on chain"), "{stderr}");
    assert!(stderr.contains(&addr(&SILENT_SUPPLIER)), "{stderr}");
    assert!(
        !stderr.contains(&addr(&SUPPLIER)),
        "only the silent one is named: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relayer_becomes_ready_and_drains_on_sigterm() {
    let n = net("relayer").await;
    let port = free_port();
    let config = relayer_config(&n, &[SUPPLIER], port);
    let mut child = spawn(&["relayer", "--config", config.to_str().expect("utf-8")]);
    wait_ready(port, &mut child).await;
    assert_eq!(http_status(port, "/health").await, Some(200));
    assert_eq!(http_status(port, "/metrics").await, Some(200));
    sigterm(&child);
    let (status, stderr) = stderr_of(child).await;
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("relayer drain completed"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miner_becomes_ready_and_releases_its_lease_on_sigterm() {
    let n = net("miner").await;
    let port = free_port();
    let keys_file = write_keys(&n.dir, &[SUPPLIER]);
    let yaml = format!(
        "listen: 127.0.0.1:{port}\nkeys_file: {}\ninstance: test-miner\nredis: {{ url: \"{}\", namespace: roles }}\n{}",
        keys_file.display(),
        n.redis_url,
        chain_yaml(&n.sim)
    );
    let config = n.dir.join("miner.yaml");
    std::fs::write(&config, yaml).expect("config");
    let mut child = spawn(&["miner", "--config", config.to_str().expect("utf-8")]);
    wait_ready(port, &mut child).await;
    // The lease is taken right after start-up; give it a poll or two.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let pool = store::connect_pool(&store::RedisConfig {
        url: n.redis_url.clone(),
        namespace: "roles".into(),
        ..Default::default()
    })
    .await
    .expect("redis");
    let keys = store::Keys::new("roles").expect("namespace");
    let lease_key = keys.supplier_lease(&addr(&SUPPLIER));
    use fred::prelude::*;
    loop {
        let holder: Option<String> = pool.get(lease_key.as_str()).await.expect("GET");
        if holder.is_some() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the miner never took its supplier's lease"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sigterm(&child);
    let (status, stderr) = stderr_of(child).await;
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("supplier lease released"), "{stderr}");
    assert!(!stderr.contains("expires with its TTL"), "{stderr}");
    let holder: Option<String> = pool.get(lease_key.as_str()).await.expect("GET");
    assert_eq!(
        holder, None,
        "the lease is free at once for another replica"
    );
}
