//! Transactions through one account handle: concurrency and sequences,
//! sequence-mismatch recovery, fees, unordered txs, and a tx dropped after
//! acceptance detected from module state.

use std::time::Duration;

use chain::tx::{TxSpec, claim_any};
use chain::{
    AccountHandle, BlockFeed, Error, Metrics, ProofStatus, QueryClient, RpcClient, StartAt,
    Submitted, TxOrdering,
};
use chainsim::{MSG_SEND_TYPE_URL, MsgSend};
use prost::Message;
use protocol::pb::cosmos::base::v1beta1::Coin;
use protocol::pb::pocket::proof::MsgCreateClaim;
use tokio_util::sync::CancellationToken;

use crate::support::*;

fn send_msg(from: &str, to: &str, amount: u64) -> prost_types::Any {
    prost_types::Any {
        type_url: MSG_SEND_TYPE_URL.into(),
        value: MsgSend {
            from_address: from.into(),
            to_address: to.into(),
            amount: vec![Coin {
                denom: "upokt".into(),
                amount: amount.to_string(),
            }],
        }
        .encode_to_vec(),
    }
}

/// A running client: queries, block feed and one account task.
struct Client {
    query: QueryClient,
    feed: BlockFeed,
    account: AccountHandle,
    metrics: Metrics,
    cancel: CancellationToken,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn client(
    sim: &Sim,
    signer: &[u8; 32],
    tweak: impl FnOnce(&mut chain::ChainConfig),
) -> Client {
    let mut cfg = sim.config();
    tweak(&mut cfg);
    cfg.validate().expect("valid config");
    let metrics = Metrics::unregistered().unwrap();
    let query = QueryClient::new(&cfg.grpc, metrics.clone()).unwrap();
    let rpc = RpcClient::new(&cfg.rpc, metrics.clone()).unwrap();
    let cancel = CancellationToken::new();
    let (feed, mut blocks, _task) =
        BlockFeed::spawn(rpc, cfg.block_feed.clone(), StartAt::Tip, cancel.clone());
    // This test consumes blocks through the watch channel only.
    tokio::spawn(async move { while blocks.recv().await.is_some() {} });
    let (account, _task) = AccountHandle::spawn(
        operator(signer),
        query.clone(),
        feed.watch(),
        cfg.tx.clone(),
        cfg.chain_id.clone(),
        metrics.clone(),
        cancel.clone(),
    );
    Client {
        query,
        feed,
        account,
        metrics,
        cancel,
    }
}

/// Waits until every tx is included (DeliverTx result known to the chain).
async fn wait_included(sim: &Sim, txs: &[Submitted]) {
    sim.handle
        .wait_for("txs included", DEADLINE, |_| {
            txs.iter()
                .all(|t| sim.handle.tx_result(&t.txhash).is_some())
        })
        .await
        .expect("all txs included");
}

#[tokio::test]
async fn fifty_concurrent_submissions_land_with_consecutive_sequences() {
    let sim = start(genesis(), Some(Duration::from_millis(100))).await;
    let c = client(&sim, &SENDER_KEY, |_| {}).await;
    let from = address(&SENDER_KEY);
    let to = address(&key(42));
    let start_seq = sim.handle.account(&from).unwrap().sequence;

    let mut tasks = Vec::new();
    for i in 0..50u64 {
        let account = c.account.clone();
        let msg = send_msg(&from, &to, 1 + i);
        tasks.push(tokio::spawn(async move { account.submit(vec![msg]).await }));
    }
    let mut submitted = Vec::new();
    for t in tasks {
        submitted.push(t.await.unwrap().expect("accepted"));
    }
    let mut seqs: Vec<u64> = submitted.iter().map(|s| s.sequence.unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (start_seq..start_seq + 50).collect::<Vec<_>>());
    assert!(submitted.iter().all(|s| s.attempts == 1 && !s.fee_capped));

    wait_included(&sim, &submitted).await;
    for s in &submitted {
        let (_, result) = sim.handle.tx_result(&s.txhash).unwrap();
        assert_eq!(result.code, 0, "tx {} failed: {}", s.txhash, result.log);
        // The same through our own GetTx.
        let r = c.query.tx(&s.txhash).await.unwrap().expect("indexed");
        assert_eq!(r.code, 0);
        assert!(r.height > 0);
        assert!(
            r.gas_used as u64 <= s.gas_limit,
            "simulated gas × 1.7 suffices"
        );
    }
    assert_eq!(sim.handle.account(&from).unwrap().sequence, start_seq + 50);
    assert_eq!(
        sim.handle.account(&to).unwrap().balance_upokt,
        (1..=50u128).sum::<u128>()
    );
    assert_eq!(c.metrics.tx_broadcasts.with_label_values(&["0"]).get(), 50);
    assert_eq!(c.metrics.tx_sequence_refreshes.get(), 0);
}

/// Another signer of the same key (an operator's manual tx, a second
/// replica) uses the sequence the task thinks is next.
async fn steal_next_sequence(sim: &Sim, c: &Client, signer: &[u8; 32]) -> u64 {
    let from = address(signer);
    let acc = c.query.account(&from).await.unwrap().unwrap();
    // The committed sequence plus what is still in the mempool: ask CheckTx
    // state by broadcasting until accepted (the task's previous tx may be
    // pending).
    let mut seq = acc.sequence;
    loop {
        let spec = TxSpec {
            messages: vec![send_msg(&from, &address(&key(43)), 5)],
            memo: "manual".into(),
            timeout_height: 0,
            unordered_timeout: None,
            chain_id: "pocket".into(),
            account_number: acc.account_number,
            sequence: seq,
            gas_limit: 500_000,
            fee_amount: 1,
            fee_denom: "upokt".into(),
        };
        let tx = chain::tx::sign(&spec, &operator(signer)).unwrap();
        let (_, r) = sim.handle.broadcast_tx(&tx.tx_bytes);
        match r.code {
            0 => return seq,
            32 => seq += 1,
            other => panic!("manual tx rejected: {other} {}", r.log),
        }
        assert!(seq < acc.sequence + 10);
    }
}

async fn sequence_mismatch_recovered(fixed_gas: Option<u64>) {
    let sim = start(genesis(), None).await;
    let c = client(&sim, &SENDER_KEY, |cfg| cfg.tx.gas_limit = fixed_gas).await;
    let from = address(&SENDER_KEY);
    let first = c
        .account
        .submit(vec![send_msg(&from, &address(&key(44)), 1)])
        .await
        .unwrap();
    let stolen = steal_next_sequence(&sim, &c, &SENDER_KEY).await;
    assert_eq!(stolen, first.sequence.unwrap() + 1);

    let second = c
        .account
        .submit(vec![send_msg(&from, &address(&key(44)), 2)])
        .await
        .unwrap();
    assert_eq!(second.attempts, 2, "one retry after refreshing the account");
    assert_eq!(second.sequence, Some(stolen + 1));
    assert_eq!(c.metrics.tx_sequence_refreshes.get(), 1);
    if fixed_gas.is_some() {
        // Without simulation the mismatch comes from CheckTx: code 32.
        assert_eq!(c.metrics.tx_broadcasts.with_label_values(&["32"]).get(), 1);
    }
    sim.block();
    wait_included(&sim, &[first, second.clone()]).await;
    assert_eq!(sim.handle.tx_result(&second.txhash).unwrap().1.code, 0);
    // The task goes on from there without another refresh.
    let third = c
        .account
        .submit(vec![send_msg(&from, &address(&key(44)), 3)])
        .await
        .unwrap();
    assert_eq!((third.sequence, third.attempts), (Some(stolen + 2), 1));
    assert_eq!(c.metrics.tx_sequence_refreshes.get(), 1);
}

#[tokio::test]
async fn sequence_mismatch_from_simulate_is_recovered_with_one_retry() {
    sequence_mismatch_recovered(None).await;
}

#[tokio::test]
async fn sequence_mismatch_from_check_tx_is_recovered_with_one_retry() {
    sequence_mismatch_recovered(Some(300_000)).await;
}

#[tokio::test]
async fn fee_errors_are_typed() {
    let sim = start(genesis(), None).await;
    let from = address(&SENDER_KEY);
    // A zero gas price pays nothing: the node's minimum gas price wants more.
    let c = client(&sim, &SENDER_KEY, |cfg| {
        cfg.tx.gas_price = "0upokt".parse().unwrap()
    })
    .await;
    let err = c
        .account
        .submit(vec![send_msg(&from, &from, 1)])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InsufficientFee { fee_upokt: 0, .. }),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert_eq!(c.metrics.tx_broadcasts.with_label_values(&["13"]).get(), 1);
    drop(c);

    // A max fee below what the price asks for is applied, and reported.
    let c = client(&sim, &SENDER_KEY, |cfg| {
        cfg.tx.gas_price = "1upokt".parse().unwrap();
        cfg.tx.max_fee = 10;
    })
    .await;
    let s = c
        .account
        .submit(vec![send_msg(&from, &from, 1)])
        .await
        .unwrap();
    assert!(s.fee_capped);
    assert_eq!(s.fee, 10);
    assert_eq!(c.metrics.tx_fee_capped.get(), 1);
    // The failed tx consumed no sequence: this one used the account's first.
    assert_eq!(s.sequence, Some(0));
}

#[tokio::test]
async fn unordered_txs_use_distinct_timeouts_and_land() {
    let sim = start(genesis(), Some(Duration::from_millis(100))).await;
    let c = client(&sim, &SENDER_KEY, |cfg| {
        cfg.tx.ordering = TxOrdering::Unordered;
        cfg.tx.unordered_ttl = Duration::from_secs(120);
        cfg.tx.timeout_blocks = Some(50);
    })
    .await;
    let from = address(&SENDER_KEY);
    let mut tasks = Vec::new();
    for i in 0..10u64 {
        let account = c.account.clone();
        let msg = send_msg(&from, &address(&key(45)), 1 + i);
        tasks.push(tokio::spawn(async move { account.submit(vec![msg]).await }));
    }
    let mut submitted = Vec::new();
    for t in tasks {
        submitted.push(t.await.unwrap().expect("accepted"));
    }
    let mut timeouts: Vec<(i64, i32)> = submitted
        .iter()
        .map(|s| {
            assert_eq!(s.sequence, None);
            assert!(s.timeout_height > s.tip_height);
            let t = s.unordered_timeout.unwrap();
            (t.seconds, t.nanos)
        })
        .collect();
    timeouts.sort_unstable();
    timeouts.dedup();
    assert_eq!(timeouts.len(), 10, "every unordered tx has its own timeout");
    // Anchored on block time, within the chain's 10-minute limit.
    let tip = c.feed.latest().unwrap();
    let t = submitted[0].unordered_timeout.unwrap();
    let delta = i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos) - tip.time_unix_nanos();
    assert!(
        delta > 100_000_000_000 && delta < 600_000_000_000,
        "{delta}"
    );

    wait_included(&sim, &submitted).await;
    for s in &submitted {
        assert_eq!(sim.handle.tx_result(&s.txhash).unwrap().1.code, 0);
    }
    // Ordered sequence untouched by unordered txs.
    assert_eq!(sim.handle.account(&from).unwrap().sequence, 0);
}

#[tokio::test]
async fn dropped_claim_is_detected_as_not_included_and_rebroadcast() {
    let sim = start(genesis(), None).await;
    let supplier = address(&SUPPLIER_KEY);
    let app = address(&APP_KEY);
    // Session [1, 4]; claim window [6, 8].
    let header = sim
        .handle
        .session(&app, SERVICE, 1)
        .unwrap()
        .header
        .unwrap();
    let windows = sim
        .handle
        .session_windows(header.session_end_block_height)
        .unwrap();
    sim.advance_to(windows.claim_window_open);
    let c = client(&sim, &SUPPLIER_KEY, |_| {}).await;
    c.feed
        .wait_for_height(u64::try_from(windows.claim_window_open).unwrap(), DEADLINE)
        .await
        .unwrap();
    let session_id = header.session_id.clone();
    let count = 5u64;
    let mut root = vec![0xab; 32];
    root.extend_from_slice(&(count * CUPR).to_be_bytes());
    root.extend_from_slice(&count.to_be_bytes());
    let claim = MsgCreateClaim {
        supplier_operator_address: supplier.clone(),
        session_header: Some(header),
        root_hash: root,
    };

    sim.handle.drop_next_txs(1);
    let submitted = c
        .account
        .submit_with(chain::Submission {
            messages: vec![claim_any(&claim)],
            timeout_height: Some(u64::try_from(windows.claim_window_close).unwrap()),
        })
        .await
        .expect("CheckTx accepts the claim");
    assert_eq!(
        submitted.timeout_height,
        u64::try_from(windows.claim_window_close).unwrap()
    );
    sim.block();
    c.feed
        .wait_for_height(u64::try_from(sim.handle.height()).unwrap(), DEADLINE)
        .await
        .unwrap();

    // Accepted, yet not included: module state says so.
    assert!(
        !c.query
            .claim_included(&session_id, &supplier)
            .await
            .unwrap()
    );
    assert_eq!(
        c.query.proof_status(&session_id, &supplier).await.unwrap(),
        ProofStatus::NoClaim
    );
    assert!(c.query.tx(&submitted.txhash).await.unwrap().is_none());
    assert!(sim.handle.state().claims.is_empty());

    // Re-sending the identical bytes inside the window lands it.
    c.account.rebroadcast(&submitted).await.unwrap();
    sim.block();
    assert!(
        c.query
            .claim_included(&session_id, &supplier)
            .await
            .unwrap()
    );
    assert_eq!(
        c.query.proof_status(&session_id, &supplier).await.unwrap(),
        ProofStatus::Pending
    );
    let claims = c.query.supplier_claims(&supplier).await.unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[&session_id].root_hash, claim.root_hash);
}

#[tokio::test]
async fn several_messages_land_in_one_tx() {
    let sim = start(genesis(), None).await;
    let c = client(&sim, &SENDER_KEY, |_| {}).await;
    let from = address(&SENDER_KEY);
    let to = address(&key(46));
    let msgs = (1..=3).map(|i| send_msg(&from, &to, i)).collect();
    let s = c.account.submit(msgs).await.unwrap();
    sim.block();
    let r = c.query.tx(&s.txhash).await.unwrap().expect("included");
    assert_eq!(r.code, 0, "{}", r.raw_log);
    assert_eq!(sim.handle.account(&to).unwrap().balance_upokt, 6);
    assert_eq!(sim.handle.account(&from).unwrap().sequence, 1);
    // An empty batch is refused before anything is signed.
    let err = c.account.submit(Vec::new()).await.unwrap_err();
    assert!(matches!(err, Error::Build(_)), "{err}");
}
