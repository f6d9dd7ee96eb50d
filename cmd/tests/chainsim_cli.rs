//! `pocket-relay-miner chainsim --genesis chainsim/genesis.example.yaml` runs
//! as the README says: it serves CometBFT RPC and produces blocks.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the child on drop so a failing test leaves no process behind.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

fn latest_height(status: &str) -> i64 {
    let v: serde_json::Value = serde_json::from_str(status).expect("json");
    v["result"]["sync_info"]["latest_block_height"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("height")
}

#[test]
fn chainsim_subcommand_serves_the_example_genesis() {
    let genesis = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../chainsim/genesis.example.yaml"
    );
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_pocket-relay-miner"))
            .args([
                "chainsim",
                "--genesis",
                genesis,
                "--block-time",
                "50ms",
                "--grpc-listen",
                "127.0.0.1:0",
                "--rpc-listen",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("binary starts"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("banner");
    // "chainsim: gRPC http://A · RPC http://B · ..."
    let rpc = line
        .split(" RPC http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no RPC address in {line:?}"))
        .to_owned();
    let status = get(&rpc, "/status");
    assert!(status.contains("\"network\":\"pocket\""), "{status}");
    let first = latest_height(&status);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let h = latest_height(&get(&rpc, "/status"));
        if h >= first + 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "blocks are produced (stuck at {h})"
        );
        std::thread::yield_now();
    }
    let block = get(&rpc, "/block?height=2");
    assert!(block.contains("\"height\":\"2\""), "{block}");
}
