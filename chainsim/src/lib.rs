//! A protocol-faithful simulator of the poktroll chain (DESIGN.md §6).
//!
//! [`ChainSim::start`] loads a [`Genesis`], produces block 1 at once and then
//! one block per `block_time`, and serves:
//! - **gRPC** (tonic) with the exact method paths of wire.md §10: session,
//!   shared, proof, application, gateway, supplier, service and tokenomics
//!   queries, `cosmos.auth` `Account`, `cosmos.bank` `Balance`, and
//!   `cosmos.tx.v1beta1.Service` `BroadcastTx` / `Simulate` / `GetTx`. The
//!   `x-cosmos-block-height` request header selects the height of
//!   height-dependent answers (parameters, difficulty, sessions); only
//!   parameter, difficulty and compute-unit history is kept, other state is
//!   the latest.
//! - **CometBFT JSON-RPC** (axum) on the RPC listener: `status`, `block`,
//!   `block_results`, `abci_info`, `broadcast_tx_sync`, as URI (`GET /block?height=5`)
//!   or JSON-RPC 2.0 POST, and the `/websocket` endpoint with `subscribe` to
//!   `tm.event='NewBlock'` / `'NewBlockHeader'`.
//! - **Test endpoints**: `GET /chainsim/state` (claims, proofs, settlements
//!   with reasons, tx results, counters as JSON), `POST /chainsim/faults`
//!   (pause, drop or reject txs, drop every websocket session),
//!   `POST /chainsim/produce_block`, `POST /chainsim/shared_params`, and
//!   Prometheus text at `GET /metrics`.
//!
//! # Chain rules implemented
//! - Blocks: heights from 1; hash = `SHA-256(chain_id ‖ BE8(height) ‖ prev_hash)`
//!   (independent of txs and time, so every session id and proof seed is known
//!   in advance); time = wall clock, strictly increasing.
//! - Shared params: a history of snapshots (sessions-and-windows.md §1.1),
//!   the genesis params from block 1 and then each change scheduled in the
//!   genesis (`params_history`) or by [`ChainSimHandle::schedule_shared_params`],
//!   effective at a session boundary with the grid anchor derived as on
//!   chain. `ParamsAtHeight(h)` answers the snapshot with the greatest
//!   effective height ≤ h; `Params` answers the one in force at the latest
//!   (or header) height; every rule below reads the params at the height
//!   the chain reads them at (the session's own start or end).
//! - Sessions: the anchored grid, session id and supplier selection of
//!   `protocol` (sessions-and-windows.md §1–3); suppliers dehydrated to the
//!   session's service.
//! - Txs (cosmos-sdk v0.53, `ante.rs`): ADR-027 raw-tx rules and unknown-field
//!   rejection (code 2), extension options (31), at least one message (18),
//!   message `ValidateBasic`, signature count (15/4), memo ≤ 256 (12), timeout
//!   height (30) and timestamp (42), unordered txs (sequence 0, timeout set,
//!   ≤ block time + 10 min, unique per signer and timeout; 18), gas for size and
//!   signatures (11), minimum gas price in CheckTx only (13), signer accounts
//!   exist (9), fee payer funds (5), public key from the signer info or the
//!   account, matching the signer (8), SIGN_MODE_DIRECT only (4), ordered
//!   sequence (32), SIGN_MODE_DIRECT signature over `SHA-256(SignDoc)` with
//!   chain id and account number, low-S (4). CheckTx state (sequences, fees,
//!   keys, unordered nonces) carries across txs until the next block; a tx
//!   already in the mempool or committed is refused (19). DeliverTx re-runs
//!   the ante handler (its fee and sequence effects stay when a message fails)
//!   and runs all messages or none; per-message gas is charged (11).
//! - `MsgCreateClaim`: `ValidateBasic` (address, header, 48-byte root with
//!   count > 0 and sum > 0); on-chain session at the header's start (same
//!   session id, start and end; supplier in the session); included inside the
//!   claim window; `sum == count × compute_units_per_relay(start)`; upsert
//!   (a second claim for the same session and supplier replaces the first,
//!   as poktroll does).
//! - `MsgSubmitProof`: `ValidateBasic`; on-chain session; inside the proof
//!   window; gob decode and decompact; relay decodes; request and response
//!   `ValidateBasic`; request supplier = signer; both session headers equal the
//!   on-chain header; relay hash below the difficulty at the session start; a
//!   claim exists with the same header; operator balance strictly above the
//!   proof submission fee (then charged); proof required (threshold or Go
//!   `math/rand` sample, live proof params, seed = hash of `proof_window_open − 1`),
//!   else `proof not required` (1129).
//! - EndBlocker of the proof's block: operator public key on chain, ring
//!   signature against the app's ring at the session end (delegations,
//!   pending undelegations, placeholder key), supplier signature, proof path
//!   = `SHA-256(seed hash ‖ session id)`, closest proof against the claimed
//!   root; the claim becomes `VALIDATED` or `INVALID`.
//! - Settlement in the EndBlocker of `proof_window_close`: not required or
//!   valid → settled and paid (claimed uPOKT per sessions-and-windows.md §6.1,
//!   capped by the application's budget floor `stake / pending sessions /
//!   claimers`, burnt from the app stake, credited to the supplier owner);
//!   required and missing / invalid → expired (`PROOF_MISSING` /
//!   `PROOF_INVALID`), supplier stake slashed by `proof_missing_penalty`.
//!
//! # Deliberately left out
//! Staking, unstaking, delegation and parameter-update messages (the genesis
//! fixes actors; parameters change only through the knobs above, and only
//! the shared ones), the immediate live effect poktroll gives a shared-params
//! change that touches no session-timing field (here it waits for its
//! effective height like any other), the relay-difficulty EMA update at settlement
//! (targets stay at their genesis values), tokenomics distribution (TLM
//! splits, DAO, proposer, rev-share), unbonding, `abci_query`, the `tx` and
//! `tx_search` RPCs, `cosmos.base.tendermint` gRPC (not in `protocol`), and
//! history of non-parameter state for height queries (nor of when a params
//! change was scheduled: a height-pinned query already sees it).

mod ante;
mod block;
mod chain;
mod error;
pub mod genesis;
mod grpc;
mod msgs;
mod node;
mod params;
mod report;
mod rpc;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use protocol::pb::pocket::session::Session;
use protocol::pb::pocket::shared::Params as SharedParams;
use protocol::session::SessionWindows;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use ante::{MSG_SEND_TYPE_URL, MsgSend, codes};
pub use block::{Block, Event, TxResult, block_hash};
pub use chain::ForcedRejection;
pub use error::{Error, Result};
pub use genesis::Genesis;
pub use msgs::proof_codes;
pub use report::{
    ClaimReport, Counters, ProofReport, ProofStatus, SettlementOutcome, SettlementReport,
    StateReport, TxReport,
};

use node::Node;

/// How to run the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// gRPC listen address (`127.0.0.1:0` picks a free port).
    pub grpc_listen: SocketAddr,
    /// CometBFT RPC (and test endpoints) listen address.
    pub rpc_listen: SocketAddr,
    /// Time between blocks.
    pub block_time: Duration,
    /// Start with block production paused (after block 1); blocks are then
    /// made by [`ChainSimHandle::produce_block`] only.
    pub start_paused: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            grpc_listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            rpc_listen: SocketAddr::from(([127, 0, 0, 1], 26657)),
            block_time: Duration::from_millis(200),
            start_paused: false,
        }
    }
}

/// The simulator.
#[derive(Debug)]
pub struct ChainSim;

/// An account as the chain stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    /// Account number (part of every sign doc).
    pub account_number: u64,
    /// Next ordered-tx sequence.
    pub sequence: u64,
    /// Public key, once known to the chain.
    pub public_key: Option<[u8; 33]>,
    /// Spendable uPOKT.
    pub balance_upokt: u128,
}

/// A running simulator. Dropping it does not stop it: cancel the token given
/// to [`ChainSim::start`] (or call [`ChainSimHandle::shutdown`]) and await
/// [`ChainSimHandle::join`].
pub struct ChainSimHandle {
    node: Arc<Node>,
    grpc_addr: SocketAddr,
    rpc_addr: SocketAddr,
    tasks: TaskTracker,
}

impl ChainSim {
    /// Validates the genesis, binds both listeners, commits block 1 and starts
    /// the block timer and the servers. Everything stops when `cancel` fires.
    pub async fn start(
        genesis: Genesis,
        options: Options,
        cancel: CancellationToken,
    ) -> Result<ChainSimHandle> {
        let chain = chain::Chain::from_genesis(&genesis)?;
        let grpc_listener = TcpListener::bind(options.grpc_listen)
            .await
            .map_err(|source| Error::Bind {
                addr: options.grpc_listen,
                source,
            })?;
        let rpc_listener = TcpListener::bind(options.rpc_listen)
            .await
            .map_err(|source| Error::Bind {
                addr: options.rpc_listen,
                source,
            })?;
        let grpc_addr = grpc_listener.local_addr().map_err(|source| Error::Bind {
            addr: options.grpc_listen,
            source,
        })?;
        let rpc_addr = rpc_listener.local_addr().map_err(|source| Error::Bind {
            addr: options.rpc_listen,
            source,
        })?;
        let node = Arc::new(Node::new(chain, cancel.clone(), rpc_addr));
        node.produce_block();
        node.lock().faults.paused = options.start_paused;
        let tasks = TaskTracker::new();
        tasks.spawn(grpc::serve(node.clone(), grpc_listener));
        tasks.spawn(rpc::serve(node.clone(), rpc_listener));
        tasks.spawn(node.clone().run_blocks(options.block_time));
        tasks.close();
        tracing::info!(
            chain_id = %genesis.chain_id,
            %grpc_addr,
            %rpc_addr,
            block_time = ?options.block_time,
            "chainsim started"
        );
        Ok(ChainSimHandle {
            node,
            grpc_addr,
            rpc_addr,
            tasks,
        })
    }
}

impl ChainSimHandle {
    /// The bound gRPC address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The bound RPC address.
    pub fn rpc_addr(&self) -> SocketAddr {
        self.rpc_addr
    }

    /// `http://<grpc addr>`.
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// `http://<rpc addr>`.
    pub fn rpc_url(&self) -> String {
        format!("http://{}", self.rpc_addr)
    }

    /// `ws://<rpc addr>/websocket`.
    pub fn websocket_url(&self) -> String {
        format!("ws://{}/websocket", self.rpc_addr)
    }

    /// The chain id.
    pub fn chain_id(&self) -> String {
        self.node.lock().chain_id.clone()
    }

    /// Latest committed height.
    pub fn height(&self) -> i64 {
        self.node.lock().height()
    }

    /// A committed block.
    pub fn block(&self, height: i64) -> Option<Block> {
        self.node.lock().block(height).cloned()
    }

    /// The hash of a committed block.
    pub fn block_hash(&self, height: i64) -> Option<[u8; 32]> {
        self.node.lock().block_hash(height)
    }

    /// A snapshot of claims, proofs, settlements, tx results and counters.
    pub fn state(&self) -> StateReport {
        self.node.lock().report()
    }

    /// `GetSession` as the gRPC query answers it.
    pub fn session(&self, app: &str, service: &str, height: i64) -> Result<Session> {
        self.node.lock().session(app, service, height)
    }

    /// Shared params in force at `height`, as `ParamsAtHeight` answers them
    /// (a change scheduled for a later block is already visible at its
    /// effective height).
    pub fn shared_params_at(&self, height: i64) -> SharedParams {
        self.node.lock().shared_params_at(height)
    }

    /// The live shared params (`Params`): those in force at the latest block.
    pub fn shared_params(&self) -> SharedParams {
        self.node.lock().shared_params_live()
    }

    /// Every shared-params snapshot with its effective height, ascending:
    /// the genesis params at 1, then each scheduled change.
    pub fn shared_params_history(&self) -> Vec<(i64, SharedParams)> {
        self.node.lock().shared_history.entries()
    }

    /// Schedules a change of the shared params, as a governance update does
    /// on the real chain: `params` take effect at `effective_height`, which
    /// must be the first block of a session (under the params in force
    /// before it) after the latest committed block, and not before an
    /// already scheduled change (the same height replaces it). The grid
    /// anchor fields are derived as on chain: a new `num_blocks_per_session`
    /// anchors the new grid at `effective_height`. From then on every rule
    /// that reads params at a height (sessions, windows, settlement, pricing)
    /// and both params queries honour the change. Returns the snapshot as
    /// recorded.
    ///
    /// # Errors
    /// [`Error::ParamsChange`] when the height or the params are rejected.
    pub fn schedule_shared_params(
        &self,
        effective_height: i64,
        params: SharedParams,
    ) -> Result<SharedParams> {
        self.node
            .lock()
            .schedule_shared_params(effective_height, params)
    }

    /// The windows of the session ending at `session_end`.
    pub fn session_windows(&self, session_end: i64) -> Result<SessionWindows> {
        self.node.lock().windows(session_end)
    }

    /// An account.
    pub fn account(&self, address: &str) -> Option<AccountInfo> {
        self.node.lock().accounts.get(address).map(|a| AccountInfo {
            account_number: a.account_number,
            sequence: a.sequence,
            public_key: a.pubkey,
            balance_upokt: a.balance,
        })
    }

    /// A supplier's stake in uPOKT (after slashing).
    pub fn supplier_stake(&self, operator: &str) -> Option<u128> {
        self.node
            .lock()
            .suppliers
            .get(operator)
            .and_then(|s| s.stake.as_ref())
            .and_then(|c| c.amount.parse().ok())
    }

    /// The height and result of an included tx (hash in hex, any case).
    pub fn tx_result(&self, hash: &str) -> Option<(i64, TxResult)> {
        self.node
            .lock()
            .tx_record(hash)
            .map(|r| (r.height, r.result.clone()))
    }

    /// Broadcasts raw tx bytes in-process (same as gRPC `BroadcastTx` SYNC):
    /// returns the tx hash and the CheckTx result.
    pub fn broadcast_tx(&self, tx_bytes: &[u8]) -> (String, TxResult) {
        self.node.lock().broadcast(tx_bytes)
    }

    /// Pauses block production (the timer keeps running but makes no block).
    pub fn pause(&self) {
        self.node.lock().faults.paused = true;
    }

    /// Resumes block production.
    pub fn resume(&self) {
        self.node.lock().faults.paused = false;
    }

    /// Produces one block now, paused or not; returns its height.
    pub fn produce_block(&self) -> Result<i64> {
        if self.node.cancel.is_cancelled() {
            return Err(Error::ShutDown);
        }
        Ok(self.node.produce_block())
    }

    /// Accepts the next `n` txs that pass CheckTx (code 0 to the sender) but
    /// drops them instead of putting them in the mempool.
    pub fn drop_next_txs(&self, n: u32) {
        self.node.lock().faults.drop_next_txs = n;
    }

    /// Answers the next broadcast with this rejection instead of running CheckTx.
    pub fn reject_next_tx(&self, rejection: ForcedRejection) {
        self.node.lock().faults.reject_next.push(rejection);
    }

    /// Drops every open CometBFT websocket session at once, as a node
    /// restart or a network cut does: each connection closes without a
    /// close handshake and its subscriptions are gone, so clients must
    /// reconnect and subscribe again (new connections are accepted at once).
    /// Returns how many sessions were open.
    pub fn drop_websockets(&self) -> usize {
        self.node.drop_websockets()
    }

    /// A feed of committed blocks.
    pub fn subscribe_blocks(&self) -> tokio::sync::broadcast::Receiver<Arc<Block>> {
        self.node.subscribe_blocks()
    }

    /// Waits until the chain reaches `height`.
    pub async fn wait_for_height(&self, height: i64, timeout: Duration) -> Result<()> {
        self.wait_for(&format!("height {height}"), timeout, |s| s.height >= height)
            .await
            .map(|_| ())
    }

    /// Waits until `condition` holds on the state report (checked now and
    /// after every block), or fails after `timeout`.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        condition: impl Fn(&StateReport) -> bool,
    ) -> Result<StateReport> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut heights = self.node.watch_height();
        loop {
            heights.borrow_and_update();
            let state = self.state();
            if condition(&state) {
                return Ok(state);
            }
            tokio::select! {
                changed = heights.changed() => {
                    if changed.is_err() {
                        return Err(Error::ShutDown);
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(Error::Timeout { what: what.to_owned(), waited: timeout });
                }
                _ = self.node.cancel.cancelled() => return Err(Error::ShutDown),
            }
        }
    }

    /// Stops the simulator (cancels its token).
    pub fn shutdown(&self) {
        self.node.cancel.cancel();
    }

    /// Waits for the servers and the block timer to finish after shutdown.
    pub async fn join(self) {
        self.tasks.wait().await;
    }
}
