//! Tx verification like the chain: sequence, chain id, signature, fee,
//! public keys, unordered txs, gas, and the fault knobs — over gRPC
//! `BroadcastTx`, `Simulate` and `GetTx` where the wire matters.

mod support;

use chainsim::{ForcedRejection, MSG_SEND_TYPE_URL, MsgSend, codes};
use protocol::pb::cosmos::base::v1beta1::Coin;
use protocol::pb::cosmos::tx::v1beta1::service_client::ServiceClient;
use protocol::pb::cosmos::tx::v1beta1::{
    BroadcastMode, BroadcastTxRequest, GetTxRequest, SimulateRequest,
};
use support::*;

fn send_msg(from: &[u8; 32], to: &str, amount: u64) -> prost_types::Any {
    any(
        MSG_SEND_TYPE_URL,
        &MsgSend {
            from_address: address(from),
            to_address: to.to_owned(),
            amount: vec![Coin {
                denom: "upokt".into(),
                amount: amount.to_string(),
            }],
        },
    )
}

fn spec(sim: &Sim, signer: &[u8; 32]) -> TxSpec {
    let acc = sim.handle.account(&address(signer)).expect("account");
    TxSpec {
        chain_id: sim.handle.chain_id(),
        account_number: acc.account_number,
        sequence: acc.sequence,
        ..TxSpec::default()
    }
}

#[tokio::test]
async fn ordered_txs_need_the_account_sequence() {
    let sim = start(genesis(), None).await;
    let to = address(&key(50));
    let base = spec(&sim, &SUPPLIER_KEY);
    let wrong = TxSpec {
        sequence: base.sequence + 5,
        ..base.clone()
    }
    .sign(&SUPPLIER_KEY, vec![send_msg(&SUPPLIER_KEY, &to, 5)]);
    let (_, r) = sim.handle.broadcast_tx(&wrong);
    assert_eq!(
        (r.codespace.as_str(), r.code),
        ("sdk", codes::WRONG_SEQUENCE),
        "{}",
        r.log
    );
    assert!(
        r.log
            .contains("account sequence mismatch, expected 0, got 5"),
        "{}",
        r.log
    );

    // Two txs with consecutive sequences pass CheckTx back to back.
    let t0 = base.sign(&SUPPLIER_KEY, vec![send_msg(&SUPPLIER_KEY, &to, 5)]);
    let t1 = TxSpec {
        sequence: base.sequence + 1,
        ..base.clone()
    }
    .sign(&SUPPLIER_KEY, vec![send_msg(&SUPPLIER_KEY, &to, 6)]);
    let (h0, r0) = sim.handle.broadcast_tx(&t0);
    let (h1, r1) = sim.handle.broadcast_tx(&t1);
    assert_eq!((r0.code, r1.code), (0, 0), "{} / {}", r0.log, r1.log);
    let (_, again) = sim.handle.broadcast_tx(&t0);
    assert_eq!(again.code, codes::TX_IN_MEMPOOL_CACHE);
    let height = sim.block();
    for h in [h0, h1] {
        let (at, r) = sim.handle.tx_result(&h).expect("included");
        assert_eq!((at, r.code), (height, 0), "{}", r.log);
    }
    assert_eq!(
        sim.handle
            .account(&address(&SUPPLIER_KEY))
            .expect("acc")
            .sequence,
        2
    );
    assert_eq!(
        sim.handle
            .account(&to)
            .expect("created by the send")
            .balance_upokt,
        11
    );
}

#[tokio::test]
async fn wrong_chain_id_wrong_account_number_and_bad_signature_are_unauthorized() {
    let sim = start(genesis(), None).await;
    let to = address(&key(50));
    let msgs = || vec![send_msg(&SUPPLIER_KEY, &to, 5)];
    let base = spec(&sim, &SUPPLIER_KEY);

    let tx = TxSpec {
        chain_id: "not-pocket".into(),
        ..base.clone()
    }
    .sign(&SUPPLIER_KEY, msgs());
    let (_, r) = sim.handle.broadcast_tx(&tx);
    assert_eq!(r.code, codes::UNAUTHORIZED, "{}", r.log);
    assert!(r.log.contains("signature verification failed"), "{}", r.log);

    let tx = TxSpec {
        account_number: base.account_number + 1,
        ..base.clone()
    }
    .sign(&SUPPLIER_KEY, msgs());
    assert_eq!(sim.handle.broadcast_tx(&tx).1.code, codes::UNAUTHORIZED);

    // Flip one bit of the signature.
    let mut raw = <protocol::pb::cosmos::tx::v1beta1::TxRaw as prost::Message>::decode(
        base.sign(&SUPPLIER_KEY, msgs()).as_slice(),
    )
    .expect("raw");
    raw.signatures[0][10] ^= 1;
    let (_, r) = sim
        .handle
        .broadcast_tx(&prost::Message::encode_to_vec(&raw));
    assert_eq!(r.code, codes::UNAUTHORIZED, "{}", r.log);

    // Signed by another key claiming to be the signer.
    let mut forged = TxSpec {
        include_pubkey: true,
        ..base.clone()
    }
    .sign(&SUPPLIER2_KEY, msgs());
    let (_, r) = sim.handle.broadcast_tx(&forged);
    assert_eq!(r.code, codes::INVALID_PUBKEY, "{}", r.log);
    forged = TxSpec {
        include_pubkey: false,
        ..base
    }
    .sign(&SUPPLIER2_KEY, msgs());
    assert_eq!(sim.handle.broadcast_tx(&forged).1.code, codes::UNAUTHORIZED);

    assert_eq!(sim.handle.state().counters.txs_rejected, 5);
    assert_eq!(
        sim.handle
            .account(&address(&SUPPLIER_KEY))
            .expect("acc")
            .sequence,
        0
    );
}

#[tokio::test]
async fn fee_below_min_gas_price_times_gas_is_rejected() {
    let mut g = genesis();
    g.min_gas_price = "0.01".into();
    let sim = start(g, None).await;
    let to = address(&key(50));
    let base = TxSpec {
        gas_limit: 200_000,
        ..spec(&sim, &SUPPLIER_KEY)
    };
    let tx = TxSpec {
        fee_upokt: 1_999,
        ..base.clone()
    }
    .sign(&SUPPLIER_KEY, vec![send_msg(&SUPPLIER_KEY, &to, 1)]);
    let (_, r) = sim.handle.broadcast_tx(&tx);
    assert_eq!(
        (r.codespace.as_str(), r.code),
        ("sdk", codes::INSUFFICIENT_FEE),
        "{}",
        r.log
    );
    assert!(r.log.contains("required: 2000upokt"), "{}", r.log);
    let tx = TxSpec {
        fee_upokt: 2_000,
        ..base
    }
    .sign(&SUPPLIER_KEY, vec![send_msg(&SUPPLIER_KEY, &to, 1)]);
    assert_eq!(sim.handle.broadcast_tx(&tx).1.code, 0);
}

#[tokio::test]
async fn gas_limit_below_the_tx_cost_is_out_of_gas() {
    let sim = start(genesis(), None).await;
    let tx = TxSpec {
        gas_limit: 1_000,
        ..spec(&sim, &SUPPLIER_KEY)
    }
    .sign(
        &SUPPLIER_KEY,
        vec![send_msg(&SUPPLIER_KEY, &address(&key(50)), 1)],
    );
    assert_eq!(sim.handle.broadcast_tx(&tx).1.code, codes::OUT_OF_GAS);
}

#[tokio::test]
async fn unordered_txs_need_sequence_zero_a_near_timeout_and_uniqueness() {
    let sim = start(genesis(), None).await;
    let to = address(&key(50));
    let msgs = || vec![send_msg(&SUPPLIER_KEY, &to, 1)];
    let base = spec(&sim, &SUPPLIER_KEY);
    let timeout = sim.timeout();
    let tx = TxSpec {
        unordered: Some(timeout),
        ..base.clone()
    }
    .sign(&SUPPLIER_KEY, msgs());
    assert_eq!(sim.handle.broadcast_tx(&tx).1.code, 0);
    // Same signer and timeout, different bytes.
    let dup = TxSpec {
        unordered: Some(timeout),
        memo: "other".into(),
        ..base.clone()
    }
    .sign(&SUPPLIER_KEY, msgs());
    let (_, r) = sim.handle.broadcast_tx(&dup);
    assert_eq!(r.code, codes::INVALID_REQUEST, "{}", r.log);
    assert!(r.log.contains("duplicated"), "{}", r.log);

    let with_seq = TxSpec {
        unordered: Some(sim.timeout()),
        sequence: 3,
        ..base.clone()
    }
    .sign(&SUPPLIER_KEY, msgs());
    assert_eq!(
        sim.handle.broadcast_tx(&with_seq).1.code,
        codes::INVALID_REQUEST
    );

    let mut far = sim.timeout();
    far.seconds += 10 * 60;
    let tx = TxSpec {
        unordered: Some(far),
        ..base.clone()
    }
    .sign(&SUPPLIER_KEY, msgs());
    let (_, r) = sim.handle.broadcast_tx(&tx);
    assert_eq!(r.code, codes::INVALID_REQUEST, "{}", r.log);
    assert!(r.log.contains("exceeds 10m0s"), "{}", r.log);

    sim.block();
    // The nonce stays taken after inclusion while its timeout is in the future.
    assert_eq!(sim.handle.broadcast_tx(&dup).1.code, codes::INVALID_REQUEST);
    assert_eq!(
        sim.handle
            .account(&address(&SUPPLIER_KEY))
            .expect("acc")
            .sequence,
        0
    );
}

#[tokio::test]
async fn first_tx_of_an_account_without_a_public_key_must_carry_it() {
    let mut g = genesis();
    g.suppliers[0].pubkey_on_chain = false;
    let sim = start(g, None).await;
    let me = address(&SUPPLIER_KEY);
    assert_eq!(sim.handle.account(&me).expect("acc").public_key, None);
    let base = spec(&sim, &SUPPLIER_KEY);
    let to = address(&key(50));
    let tx = TxSpec {
        include_pubkey: false,
        ..base.clone()
    }
    .sign(&SUPPLIER_KEY, vec![send_msg(&SUPPLIER_KEY, &to, 1)]);
    assert_eq!(sim.handle.broadcast_tx(&tx).1.code, codes::INVALID_PUBKEY);
    let tx = base.sign(&SUPPLIER_KEY, vec![send_msg(&SUPPLIER_KEY, &to, 1)]);
    assert_eq!(sim.handle.broadcast_tx(&tx).1.code, 0);
    sim.block();
    assert_eq!(
        sim.handle.account(&me).expect("acc").public_key,
        Some(priv_key(&SUPPLIER_KEY).public_key())
    );
}

#[tokio::test]
async fn fault_knobs_drop_accepted_txs_and_force_rejections() {
    let sim = start(genesis(), None).await;
    let to = address(&key(50));
    sim.handle.drop_next_txs(1);
    let (dropped, r) = sim.send_unordered(&SUPPLIER_KEY, vec![send_msg(&SUPPLIER_KEY, &to, 1)]);
    assert_eq!(r.code, 0, "a dropped tx is still accepted by CheckTx");
    let (kept, r) = sim.send_unordered(&SUPPLIER_KEY, vec![send_msg(&SUPPLIER_KEY, &to, 1)]);
    assert_eq!(r.code, 0);
    sim.block();
    assert!(
        sim.handle.tx_result(&dropped).is_none(),
        "dropped tx never lands"
    );
    assert_eq!(
        sim.handle.tx_result(&kept).expect("kept tx lands").1.code,
        0
    );

    sim.handle.reject_next_tx(ForcedRejection {
        code: codes::INSUFFICIENT_FEE,
        codespace: "sdk".into(),
        log: "forced".into(),
    });
    let (_, r) = sim.send_unordered(&SUPPLIER_KEY, vec![send_msg(&SUPPLIER_KEY, &to, 1)]);
    assert_eq!(
        (r.code, r.log.as_str()),
        (codes::INSUFFICIENT_FEE, "forced")
    );
    let (_, r) = sim.send_unordered(&SUPPLIER_KEY, vec![send_msg(&SUPPLIER_KEY, &to, 1)]);
    assert_eq!(r.code, 0, "only the next tx is rejected");
    let c = sim.handle.state().counters;
    assert_eq!((c.txs_dropped, c.txs_forced_rejections), (1, 1));
}

#[tokio::test]
async fn grpc_broadcast_simulate_and_get_tx() {
    let sim = start(genesis(), None).await;
    let mut client = ServiceClient::new(channel(&sim).await);
    let to = address(&key(50));
    let tx = spec(&sim, &SUPPLIER_KEY).sign(&SUPPLIER_KEY, vec![send_msg(&SUPPLIER_KEY, &to, 3)]);

    let sim_res = client
        .simulate(SimulateRequest {
            tx: None,
            tx_bytes: tx.clone(),
        })
        .await
        .expect("simulate")
        .into_inner();
    let gas = sim_res.gas_info.expect("gas info").gas_used;
    assert!(gas > 30_000 && gas < 1_000_000, "gas {gas}");

    let res = client
        .broadcast_tx(BroadcastTxRequest {
            tx_bytes: tx.clone(),
            mode: BroadcastMode::Sync as i32,
        })
        .await
        .expect("broadcast")
        .into_inner()
        .tx_response
        .expect("tx response");
    assert_eq!(res.code, 0, "{}", res.raw_log);
    assert_eq!(res.txhash.len(), 64);
    assert_eq!(res.txhash, res.txhash.to_ascii_uppercase());

    let bad = TxSpec {
        sequence: 9,
        ..spec(&sim, &SUPPLIER_KEY)
    }
    .sign(&SUPPLIER_KEY, vec![send_msg(&SUPPLIER_KEY, &to, 3)]);
    let res = client
        .broadcast_tx(BroadcastTxRequest {
            tx_bytes: bad,
            mode: BroadcastMode::Sync as i32,
        })
        .await
        .expect("broadcast")
        .into_inner()
        .tx_response
        .expect("tx response");
    assert_eq!(
        (res.codespace.as_str(), res.code),
        ("sdk", codes::WRONG_SEQUENCE)
    );

    let err = client
        .broadcast_tx(BroadcastTxRequest {
            tx_bytes: tx.clone(),
            mode: BroadcastMode::Block as i32,
        })
        .await
        .expect_err("block mode is gone");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    let height = sim.block();
    let got = client
        .get_tx(GetTxRequest {
            hash: res.txhash.clone(),
        })
        .await;
    assert_eq!(
        got.expect_err("failed CheckTx is not indexed").code(),
        tonic::Code::NotFound
    );
    let good_hash = chainsim_hash(&tx);
    let got = client
        .get_tx(GetTxRequest { hash: good_hash })
        .await
        .expect("get tx")
        .into_inner();
    let r = got.tx_response.expect("response");
    assert_eq!((r.height, r.code), (height, 0));
    assert!(r.events.iter().any(|e| e.r#type == "transfer"));
}

fn chainsim_hash(tx: &[u8]) -> String {
    use sha2::Digest;
    hex::encode_upper(sha2::Sha256::digest(tx))
}

#[tokio::test]
async fn malformed_txs_are_parse_errors() {
    let sim = start(genesis(), None).await;
    assert_eq!(
        sim.handle.broadcast_tx(b"\xff\xff\xff").1.code,
        codes::TX_DECODE
    );
    let unknown = spec(&sim, &SUPPLIER_KEY).sign(
        &SUPPLIER_KEY,
        vec![any("/cosmos.gov.v1.MsgVote", &Coin::default())],
    );
    let (_, r) = sim.handle.broadcast_tx(&unknown);
    assert_eq!(r.code, codes::TX_DECODE, "{}", r.log);
    let empty = spec(&sim, &SUPPLIER_KEY).sign(&SUPPLIER_KEY, Vec::new());
    assert_eq!(
        sim.handle.broadcast_tx(&empty).1.code,
        codes::INVALID_REQUEST
    );
}
