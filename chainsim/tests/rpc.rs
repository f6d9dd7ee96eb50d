//! CometBFT JSON-RPC and websocket: subscribers receive every block in
//! order, a reconnecting subscriber backfills with `block`, and the JSON
//! shapes the relayer and miner read (`status`, `block`, `block_results`,
//! `abci_info`), plus the test endpoints.

mod support;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use support::*;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscribe(sim: &Sim, query: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(sim.handle.websocket_url())
        .await
        .expect("websocket connects");
    let req = json!({"jsonrpc": "2.0", "id": 7, "method": "subscribe", "params": {"query": query}});
    ws.send(Message::text(req.to_string())).await.expect("send");
    let reply = next_json(&mut ws).await;
    assert_eq!(reply["id"], 7);
    assert_eq!(reply["result"], json!({}), "{reply}");
    ws
}

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("a message before the deadline")
            .expect("stream open")
            .expect("message");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).expect("json");
        }
    }
}

fn height_of(v: &Value) -> i64 {
    v.as_str()
        .expect("heights are strings")
        .parse()
        .expect("integer")
}

#[tokio::test]
async fn websocket_subscribers_receive_every_block_in_order_and_backfill_with_block() {
    let sim = start(genesis(), Some(Duration::from_millis(50))).await;
    let mut ws = subscribe(&sim, "tm.event='NewBlock'").await;
    let mut last = 0;
    for _ in 0..8 {
        let ev = next_json(&mut ws).await;
        assert_eq!(ev["result"]["query"], "tm.event='NewBlock'");
        assert_eq!(ev["result"]["data"]["type"], "tendermint/event/NewBlock");
        let h = height_of(&ev["result"]["data"]["value"]["block"]["header"]["height"]);
        let hash = ev["result"]["data"]["value"]["block_id"]["hash"]
            .as_str()
            .expect("hash")
            .to_owned();
        assert_eq!(
            hash,
            hex::encode_upper(sim.handle.block_hash(h).expect("committed"))
        );
        if last != 0 {
            assert_eq!(h, last + 1, "every block, in order");
        }
        last = h;
    }
    drop(ws);

    // Reconnect after some blocks were missed, then backfill with `block`.
    sim.handle
        .wait_for_height(last + 3, DEADLINE)
        .await
        .expect("chain advances");
    let mut ws = subscribe(&sim, "tm.event='NewBlock'").await;
    let ev = next_json(&mut ws).await;
    let first_new = height_of(&ev["result"]["data"]["value"]["block"]["header"]["height"]);
    assert!(
        first_new > last + 1,
        "blocks were missed while disconnected"
    );
    let mut prev_hash = hex::encode_upper(sim.handle.block_hash(last).expect("hash"));
    for h in last + 1..=first_new {
        let b = get_json(sim.handle.rpc_addr(), &format!("/block?height={h}")).await;
        let header = &b["result"]["block"]["header"];
        assert_eq!(height_of(&header["height"]), h);
        assert_eq!(
            header["last_block_id"]["hash"],
            prev_hash.as_str(),
            "hash chain at {h}"
        );
        prev_hash = b["result"]["block_id"]["hash"]
            .as_str()
            .expect("hash")
            .to_owned();
    }
    assert_eq!(
        prev_hash,
        ev["result"]["data"]["value"]["block_id"]["hash"]
            .as_str()
            .expect("hash")
    );
}

/// Waits until the server has closed `ws` (with or without a close frame).
async fn assert_closed(ws: &mut Ws) {
    loop {
        let msg = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("the connection ends before the deadline");
        match msg {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
            Some(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn dropped_websockets_end_and_a_new_subscription_gets_the_next_block() {
    let sim = start(genesis(), None).await;
    let mut a = subscribe(&sim, "tm.event='NewBlock'").await;
    let mut b = subscribe(&sim, "tm.event='NewBlockHeader'").await;
    assert_eq!(sim.handle.drop_websockets(), 2);
    assert_closed(&mut a).await;
    assert_closed(&mut b).await;

    let mut c = subscribe(&sim, "tm.event='NewBlockHeader'").await;
    let h = sim.block();
    let ev = next_json(&mut c).await;
    assert_eq!(
        height_of(&ev["result"]["data"]["value"]["header"]["height"]),
        h,
        "subscriptions work again at once"
    );

    // The same knob over HTTP.
    let (code, text) = http(
        sim.handle.rpc_addr(),
        "POST",
        "/chainsim/faults",
        Some(r#"{"drop_websockets": true}"#),
    )
    .await;
    assert_eq!(code, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["websockets_dropped"], 1);
    assert_closed(&mut c).await;
}

#[tokio::test]
async fn new_block_header_subscription_and_json_rpc_over_the_websocket() {
    let sim = start(genesis(), Some(Duration::from_millis(50))).await;
    let mut ws = subscribe(&sim, "tm.event = 'NewBlockHeader'").await;
    let ev = next_json(&mut ws).await;
    assert_eq!(
        ev["result"]["data"]["type"],
        "tendermint/event/NewBlockHeader"
    );
    let header = &ev["result"]["data"]["value"]["header"];
    assert_eq!(header["chain_id"], "pocket");
    assert!(header["time"].as_str().expect("time").ends_with('Z'));
    height_of(&header["height"]);

    let bad = json!({"jsonrpc": "2.0", "id": 8, "method": "subscribe", "params": {"query": "tm.event='Tx'"}});
    ws.send(Message::text(bad.to_string())).await.expect("send");
    loop {
        let v = next_json(&mut ws).await;
        if v["id"] == 8 {
            assert_eq!(v["error"]["code"], -32602, "{v}");
            break;
        }
    }
}

#[tokio::test]
async fn status_block_results_and_abci_info_have_cometbft_shapes() {
    let sim = start(genesis(), None).await;
    let addr = sim.handle.rpc_addr();
    let (hash, r) = sim.send_unordered(
        &SUPPLIER_KEY,
        vec![claim_msg(
            &SUPPLIER_KEY,
            &sim.header(1),
            &fake_root(1, CUPR),
        )],
    );
    assert_eq!(r.code, 0);
    let h = sim.block();

    let status = get_json(addr, "/status").await;
    let sync = &status["result"]["sync_info"];
    assert_eq!(height_of(&sync["latest_block_height"]), h);
    assert_eq!(
        sync["latest_block_hash"],
        hex::encode_upper(sim.handle.block_hash(h).expect("hash"))
    );
    assert_eq!(sync["catching_up"], false);
    assert_eq!(status["result"]["node_info"]["network"], "pocket");

    let info = get_json(addr, "/abci_info").await;
    assert_eq!(info["result"]["response"]["version"], "v0.1.35");

    let results = get_json(addr, &format!("/block_results?height={h}")).await;
    let tx = &results["result"]["txs_results"][0];
    assert_eq!(
        tx["code"], 1121,
        "a claim at height 2 is outside its window: {tx}"
    );
    assert_eq!(tx["codespace"], "proof");
    assert!(tx["gas_used"].is_string());
    let block = get_json(addr, &format!("/block?height={h}")).await;
    let txs = block["result"]["block"]["data"]["txs"]
        .as_array()
        .expect("txs");
    assert_eq!(txs.len(), 1);
    assert_eq!(sim.handle.tx_result(&hash).expect("indexed").0, h);

    // JSON-RPC 2.0 POST with a string height, and a height in the future.
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "block", "params": {"height": "1"}})
        .to_string();
    let (code, text) = http(addr, "POST", "/", Some(&body)).await;
    assert_eq!(code, 200);
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["id"], 3);
    assert_eq!(v["result"]["block"]["header"]["height"], "1");
    assert_eq!(v["result"]["block"]["header"]["last_block_id"]["hash"], "");
    let (code, text) = http(addr, "GET", &format!("/block?height={}", h + 5), None).await;
    assert_eq!(code, 500);
    assert!(
        text.contains("must be less than or equal to the current blockchain height"),
        "{text}"
    );
}

#[tokio::test]
async fn state_endpoint_faults_endpoint_and_metrics() {
    let sim = start(genesis(), Some(Duration::from_millis(50))).await;
    let addr = sim.handle.rpc_addr();
    let (code, text) = http(
        addr,
        "POST",
        "/chainsim/faults",
        Some(r#"{"pause": true, "drop_next_txs": 2}"#),
    )
    .await;
    assert_eq!(code, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        (v["paused"].clone(), v["drop_next_txs"].clone()),
        (json!(true), json!(2))
    );

    let state: chainsim::StateReport =
        serde_json::from_value(get_json(addr, "/chainsim/state").await).expect("state report");
    assert!(state.paused);
    let (code, text) = http(addr, "POST", "/chainsim/produce_block", Some("")).await;
    assert_eq!(code, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["height"], state.height + 1);

    let (code, text) = http(addr, "POST", "/chainsim/faults", Some(r#"{"bogus": 1}"#)).await;
    assert!(code >= 400, "unknown fault keys are refused: {code} {text}");

    let (code, metrics) = http(addr, "GET", "/metrics", None).await;
    assert_eq!(code, 200);
    assert!(
        metrics.contains(&format!("chainsim_height {}", state.height + 1)),
        "{metrics}"
    );
    assert!(metrics.contains("chainsim_settlements_total{outcome=\"expired_proof_missing\"} 0"));

    http(
        addr,
        "POST",
        "/chainsim/faults",
        Some(r#"{"pause": false}"#),
    )
    .await;
    sim.handle
        .wait_for_height(state.height + 3, DEADLINE)
        .await
        .expect("blocks resume");
}
