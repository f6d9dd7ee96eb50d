//! The account task: one task per signing account owns its account number and
//! sequence and submits that account's transactions one at a time; everyone
//! else holds a cloneable [`AccountHandle`].
//!
//! A submission: wait for a known chain tip (to anchor timeouts), load the
//! account if needed, `Simulate` (gas = used × adjustment, unless a fixed gas
//! limit is configured), fee = `min(ceil(gas × price), max_fee)`, sign,
//! `BroadcastTx` SYNC. Code 0 moves the sequence on. A sequence mismatch (code
//! 32 from CheckTx, or the same failure reported by `Simulate`) refreshes the
//! account and retries exactly once. Code 13 is [`Error::InsufficientFee`].
//! A broadcast whose outcome is unknown (no answer) marks the account stale, so
//! the next submission reloads it from chain first.
//!
//! Code 0 means mempool acceptance only: confirm inclusion from module state
//! ([`crate::inclusion`]) and re-send [`Submitted::tx_bytes`] inside the window
//! if needed ([`AccountHandle::rebroadcast`]).

use std::sync::Arc;
use std::time::Instant;

use prost_types::{Any, Timestamp};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::config::{TxConfig, TxOrdering};
use crate::error::{Error, Result, is_transient_grpc_code};
use crate::keys::OperatorKey;
use crate::metrics::Metrics;
use crate::query::QueryClient;
use crate::rpc::Block;
use crate::tx::build::{self, TxSpec};
use crate::tx::codes;
use crate::tx::fee::{adjusted_gas, compute_fee};

/// What to submit: one or more messages (batched claims or proofs, all signed
/// by this account) and an optional timeout height.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Submission {
    /// The messages, in order. Any failing message fails the whole tx.
    pub messages: Vec<Any>,
    /// `timeout_height` for this tx (e.g. the claim or proof window close
    /// height). `None`: latest height + `timeout_blocks` if configured, else none.
    pub timeout_height: Option<u64>,
}

/// A transaction accepted into the node's mempool (CheckTx code 0). Not yet
/// included in a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// Tx hash, uppercase hex.
    pub txhash: String,
    /// The signer.
    pub signer: String,
    /// The sequence used (`None` for unordered txs).
    pub sequence: Option<u64>,
    /// `timeout_timestamp` of an unordered tx.
    pub unordered_timeout: Option<Timestamp>,
    /// `timeout_height` (0 = none).
    pub timeout_height: u64,
    /// Gas limit set.
    pub gas_limit: u64,
    /// Fee paid, in the gas price denom.
    pub fee: u128,
    /// Whether the fee was lowered to `max_fee`.
    pub fee_capped: bool,
    /// The latest height known when the tx was signed.
    pub tip_height: u64,
    /// Broadcast attempts (2 after a sequence-mismatch retry).
    pub attempts: u32,
    /// The signed `TxRaw` bytes, for re-broadcasting the identical tx.
    pub tx_bytes: Vec<u8>,
}

struct Job {
    submission: Submission,
    reply: oneshot::Sender<Result<Submitted>>,
}

/// A cloneable handle to the task owning one signing account.
#[derive(Clone, Debug)]
pub struct AccountHandle {
    jobs: mpsc::Sender<Job>,
    signer: Arc<str>,
    capacity: usize,
    query: QueryClient,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("messages", &self.submission.messages.len())
            .finish_non_exhaustive()
    }
}

impl AccountHandle {
    /// Builds the account task for `key` and returns its handle and the task
    /// (spawn [`AccountTask::run`]). `tip` supplies the latest block (from
    /// [`crate::BlockFeed::watch`] or any other source) for timeout anchoring.
    #[must_use]
    pub fn new(
        key: OperatorKey,
        query: QueryClient,
        tip: watch::Receiver<Option<Block>>,
        config: TxConfig,
        chain_id: String,
        metrics: Metrics,
        cancel: CancellationToken,
    ) -> (AccountHandle, AccountTask) {
        let capacity = config.queue_capacity.max(1);
        let (jobs, rx) = mpsc::channel(capacity);
        let handle = AccountHandle {
            jobs,
            signer: Arc::from(key.address()),
            capacity,
            query: query.latest(),
        };
        let task = AccountTask {
            state: AccountState {
                key,
                query: query.latest(),
                tip,
                config,
                chain_id,
                metrics,
                account_number: None,
                sequence: 0,
                stale: true,
                last_unordered_nanos: 0,
            },
            jobs: rx,
            cancel,
        };
        (handle, task)
    }

    /// [`AccountHandle::new`] and spawn the task on the current runtime.
    #[must_use]
    pub fn spawn(
        key: OperatorKey,
        query: QueryClient,
        tip: watch::Receiver<Option<Block>>,
        config: TxConfig,
        chain_id: String,
        metrics: Metrics,
        cancel: CancellationToken,
    ) -> (AccountHandle, tokio::task::JoinHandle<()>) {
        let (handle, task) = AccountHandle::new(key, query, tip, config, chain_id, metrics, cancel);
        (handle, tokio::spawn(task.run()))
    }

    /// The signer's address.
    #[must_use]
    pub fn address(&self) -> &str {
        &self.signer
    }

    /// Submits `messages` in one tx.
    ///
    /// # Errors
    /// See [`AccountHandle::submit_with`].
    pub async fn submit(&self, messages: Vec<Any>) -> Result<Submitted> {
        self.submit_with(Submission {
            messages,
            timeout_height: None,
        })
        .await
    }

    /// Submits one tx and waits until the node accepted it into its mempool
    /// or rejected it.
    ///
    /// # Errors
    /// [`Error::QueueFull`] (shed: retry later), [`Error::AccountTaskStopped`],
    /// [`Error::NoChainTip`], [`Error::AccountNotFound`], [`Error::Simulate`],
    /// [`Error::InsufficientFee`], [`Error::SequenceMismatch`] (after one
    /// refresh), [`Error::TxRejected`], [`Error::Build`], or a gRPC failure.
    pub async fn submit_with(&self, submission: Submission) -> Result<Submitted> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .try_send(Job { submission, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => Error::QueueFull {
                    signer: self.signer.to_string(),
                    capacity: self.capacity,
                },
                mpsc::error::TrySendError::Closed(_) => Error::AccountTaskStopped {
                    signer: self.signer.to_string(),
                },
            })?;
        answer.await.map_err(|_| Error::AccountTaskStopped {
            signer: self.signer.to_string(),
        })?
    }

    /// Re-sends the identical bytes of an accepted tx (README pitfall 10: a
    /// mempool may evict it). `Ok` when the node accepted them again or still
    /// has them (code 19).
    ///
    /// # Errors
    /// [`Error::TxRejected`] with the CheckTx code (e.g. 32 once the sequence
    /// was used by a later tx, 30 after the timeout height), or a gRPC failure.
    pub async fn rebroadcast(&self, submitted: &Submitted) -> Result<()> {
        let resp = self
            .query
            .broadcast_tx_sync(submitted.tx_bytes.clone())
            .await?;
        let sdk = resp.codespace.is_empty() || resp.codespace == codes::SDK_CODESPACE;
        if resp.code == codes::OK || (sdk && resp.code == codes::TX_IN_MEMPOOL_CACHE) {
            return Ok(());
        }
        Err(Error::TxRejected {
            signer: self.signer.to_string(),
            txhash: submitted.txhash.clone(),
            code: resp.code,
            codespace: resp.codespace,
            raw_log: resp.raw_log,
        })
    }
}

/// The task owning one account; run it with [`AccountTask::run`].
#[derive(Debug)]
pub struct AccountTask {
    state: AccountState,
    jobs: mpsc::Receiver<Job>,
    cancel: CancellationToken,
}

struct AccountState {
    key: OperatorKey,
    query: QueryClient,
    tip: watch::Receiver<Option<Block>>,
    config: TxConfig,
    chain_id: String,
    metrics: Metrics,
    account_number: Option<u64>,
    sequence: u64,
    /// Reload the account from chain before the next tx.
    stale: bool,
    /// The last unordered `timeout_timestamp` used, in Unix nanoseconds.
    last_unordered_nanos: i128,
}

impl std::fmt::Debug for AccountState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountState")
            .field("signer", &self.key.address())
            .field("account_number", &self.account_number)
            .field("sequence", &self.sequence)
            .field("stale", &self.stale)
            .finish_non_exhaustive()
    }
}

/// Why one attempt failed.
enum AttemptError {
    /// The node expects another sequence (`hint`: the one it named, if any).
    SequenceMismatch {
        sent: u64,
        hint: Option<u64>,
        raw_log: String,
    },
    /// Anything else: reported to the submitter as is.
    Fatal(Error),
}

impl From<Error> for AttemptError {
    fn from(e: Error) -> Self {
        AttemptError::Fatal(e)
    }
}

impl AccountTask {
    /// Processes submissions in arrival order until cancelled or every handle
    /// is dropped. Submissions still queued at cancellation are answered with
    /// [`Error::AccountTaskStopped`].
    pub async fn run(mut self) {
        loop {
            let job = tokio::select! {
                biased;
                () = self.cancel.cancelled() => break,
                job = self.jobs.recv() => match job {
                    Some(job) => job,
                    None => break,
                },
            };
            let started = Instant::now();
            let result = self.state.process(job.submission).await;
            self.state
                .metrics
                .tx_submit_duration
                .observe(started.elapsed().as_secs_f64());
            // The submitter may have given up waiting; nothing to do then.
            let _ = job.reply.send(result);
        }
    }
}

impl AccountState {
    fn ordered(&self) -> bool {
        self.config.ordering == TxOrdering::Ordered
    }

    fn signer(&self) -> String {
        self.key.address().to_owned()
    }

    async fn process(&mut self, submission: Submission) -> Result<Submitted> {
        if submission.messages.is_empty() {
            return Err(Error::Build("a tx needs at least one message".into()));
        }
        let tip = self.wait_for_tip().await?;
        if self.stale || self.account_number.is_none() {
            self.refresh(None).await?;
        }
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match self.attempt(&submission, &tip, attempts).await {
                Ok(submitted) => {
                    if self.ordered() {
                        self.sequence += 1;
                    }
                    return Ok(submitted);
                }
                Err(AttemptError::SequenceMismatch {
                    sent,
                    hint,
                    raw_log,
                }) => {
                    if attempts >= 2 {
                        self.stale = true;
                        return Err(Error::SequenceMismatch {
                            signer: self.signer(),
                            sent,
                            raw_log,
                        });
                    }
                    self.metrics.tx_sequence_refreshes.inc();
                    tracing::warn!(signer = %self.key.address(), sent, ?hint, log = %raw_log, "account sequence mismatch; refreshing the account and retrying once");
                    self.refresh(hint).await?;
                }
                Err(AttemptError::Fatal(e)) => return Err(e),
            }
        }
    }

    /// The latest block, waiting up to `tip_wait` for the first one.
    async fn wait_for_tip(&mut self) -> Result<Block> {
        let wait = self.config.tip_wait;
        let rx = &mut self.tip;
        let fut = async {
            loop {
                if let Some(b) = rx.borrow_and_update().as_ref() {
                    return Ok(b.clone());
                }
                if rx.changed().await.is_err() {
                    return Err(Error::NoChainTip { waited: wait });
                }
            }
        };
        tokio::time::timeout(wait, fut)
            .await
            .map_err(|_| Error::NoChainTip { waited: wait })?
    }

    /// Reloads account number and sequence from chain. `hint` (the sequence
    /// CheckTx said it expects, which counts txs still in the mempool) wins
    /// over the committed sequence when given.
    async fn refresh(&mut self, hint: Option<u64>) -> Result<()> {
        let account = self
            .query
            .account(self.key.address())
            .await?
            .ok_or_else(|| Error::AccountNotFound {
                address: self.signer(),
            })?;
        self.account_number = Some(account.account_number);
        self.sequence = hint.unwrap_or(account.sequence);
        self.stale = false;
        tracing::debug!(signer = %self.key.address(), account_number = account.account_number, sequence = self.sequence, "account loaded");
        Ok(())
    }

    /// The next unordered `timeout_timestamp`: latest block time + TTL + a
    /// random sub-millisecond offset, and strictly after the previous one.
    /// Each must be unique per signer: the counter covers this task, the
    /// random offset a restarted task or another replica anchoring on the
    /// same block.
    fn next_unordered_timeout(&mut self, tip: &Block) -> Timestamp {
        let ttl = i128::try_from(self.config.unordered_ttl.as_nanos()).unwrap_or(i128::MAX);
        let jitter = i128::from(rand::random_range(0..1_000_000u32));
        let candidate = tip
            .time_unix_nanos()
            .saturating_add(ttl)
            .saturating_add(jitter);
        let nanos = candidate.max(self.last_unordered_nanos + 1);
        self.last_unordered_nanos = nanos;
        Timestamp {
            seconds: i64::try_from(nanos.div_euclid(1_000_000_000)).unwrap_or(i64::MAX),
            // In 0..1e9 by construction of rem_euclid.
            nanos: i32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap_or(0),
        }
    }

    async fn attempt(
        &mut self,
        submission: &Submission,
        tip: &Block,
        attempt: u32,
    ) -> std::result::Result<Submitted, AttemptError> {
        let ordered = self.ordered();
        let account_number = self.account_number.ok_or_else(|| Error::AccountNotFound {
            address: self.signer(),
        })?;
        let timeout_height = submission
            .timeout_height
            .or_else(|| {
                self.config
                    .timeout_blocks
                    .map(|n| tip.height.saturating_add(n))
            })
            .unwrap_or(0);
        let unordered_timeout = (!ordered).then(|| self.next_unordered_timeout(tip));
        let sequence = if ordered { self.sequence } else { 0 };
        let mut spec = TxSpec {
            messages: submission.messages.clone(),
            memo: self.config.memo.clone(),
            timeout_height,
            unordered_timeout,
            chain_id: self.chain_id.clone(),
            account_number,
            sequence,
            gas_limit: 0,
            fee_amount: 0,
            fee_denom: self.config.gas_price.denom().to_owned(),
        };
        let gas_limit = match self.config.gas_limit {
            Some(g) => g,
            None => self.simulate(&spec, ordered).await?,
        };
        let fee = compute_fee(gas_limit, &self.config.gas_price, self.config.max_fee);
        if fee.capped {
            self.metrics.tx_fee_capped.inc();
            tracing::warn!(signer = %self.key.address(), gas_limit, fee = fee.amount, "tx fee lowered to max_fee");
        }
        self.metrics
            .tx_gas_limit
            .set(i64::try_from(gas_limit).unwrap_or(i64::MAX));
        spec.gas_limit = gas_limit;
        spec.fee_amount = fee.amount;
        let signed = build::sign(&spec, &self.key)?;
        let txhash = signed.hash_hex();
        let response = match self.query.broadcast_tx_sync(signed.tx_bytes.clone()).await {
            Ok(r) => r,
            Err(e) => {
                // No answer: the tx may or may not be in the mempool.
                self.metrics
                    .tx_broadcasts
                    .with_label_values(&["error"])
                    .inc();
                self.stale = true;
                return Err(e.into());
            }
        };
        self.metrics
            .tx_broadcasts
            .with_label_values(&[response.code.to_string().as_str()])
            .inc();
        let sdk = response.codespace.is_empty() || response.codespace == codes::SDK_CODESPACE;
        let accepted = response.code == codes::OK
            // Our own retried broadcast already got the same bytes in.
            || (sdk && response.code == codes::TX_IN_MEMPOOL_CACHE);
        if accepted {
            tracing::debug!(signer = %self.key.address(), %txhash, sequence, gas_limit, fee = fee.amount, "tx accepted into the mempool");
            return Ok(Submitted {
                txhash,
                signer: self.signer(),
                sequence: ordered.then_some(sequence),
                unordered_timeout,
                timeout_height,
                gas_limit,
                fee: fee.amount,
                fee_capped: fee.capped,
                tip_height: tip.height,
                attempts: attempt,
                tx_bytes: signed.tx_bytes,
            });
        }
        tracing::warn!(signer = %self.key.address(), %txhash, code = response.code, codespace = %response.codespace, log = %response.raw_log, "tx rejected by CheckTx");
        if sdk && response.code == codes::WRONG_SEQUENCE && ordered {
            return Err(AttemptError::SequenceMismatch {
                sent: sequence,
                hint: expected_sequence(&response.raw_log),
                raw_log: response.raw_log,
            });
        }
        if sdk && response.code == codes::INSUFFICIENT_FEE {
            return Err(Error::InsufficientFee {
                signer: self.signer(),
                txhash,
                fee_upokt: fee.amount,
                gas_limit,
                raw_log: response.raw_log,
            }
            .into());
        }
        Err(Error::TxRejected {
            signer: self.signer(),
            txhash,
            code: response.code,
            codespace: response.codespace,
            raw_log: response.raw_log,
        }
        .into())
    }

    /// Simulates `spec` (signed, fee-less) and returns the adjusted gas limit.
    async fn simulate(
        &self,
        spec: &TxSpec,
        ordered: bool,
    ) -> std::result::Result<u64, AttemptError> {
        let sim = build::sign(spec, &self.key)?;
        match self.query.simulate(sim.tx_bytes).await {
            Ok(info) => Ok(adjusted_gas(info.gas_used, self.config.gas_adjustment).max(1)),
            Err(Error::Grpc { code, message, .. }) if !is_transient_grpc_code(code) => {
                let mismatch = is_sequence_mismatch(&message);
                if mismatch && ordered {
                    return Err(AttemptError::SequenceMismatch {
                        sent: spec.sequence,
                        hint: expected_sequence(&message),
                        raw_log: message,
                    });
                }
                Err(Error::Simulate {
                    signer: self.signer(),
                    sequence_mismatch: mismatch,
                    message,
                }
                .into())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Whether a node message reports an account sequence mismatch. `Simulate`
/// failures reach us only as a gRPC status message (cosmos-sdk wraps the ante
/// error in `codes.Unknown`), so this is the one place that reads the text.
fn is_sequence_mismatch(message: &str) -> bool {
    message.contains("account sequence mismatch") || message.contains("incorrect account sequence")
}

/// The sequence the node says it expects, from the cosmos-sdk message
/// `account sequence mismatch, expected N, got M`.
fn expected_sequence(message: &str) -> Option<u64> {
    let rest = &message[message.find("expected ")? + "expected ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sequence_mismatch_logs() {
        let log = "account sequence mismatch, expected 12, got 10: incorrect account sequence";
        assert!(is_sequence_mismatch(log));
        assert_eq!(expected_sequence(log), Some(12));
        let sim = "rpc error: account sequence mismatch, expected 3, got 4: incorrect account sequence With gas wanted: '0' and gas used: '1234' ";
        assert!(is_sequence_mismatch(sim));
        assert_eq!(expected_sequence(sim), Some(3));
        assert!(!is_sequence_mismatch(
            "insufficient fees; got: 1upokt required: 2upokt"
        ));
        assert_eq!(expected_sequence("expected nothing"), None);
        assert_eq!(expected_sequence("no number"), None);
    }
}
