//! Publishing mined relays: a bounded in-memory queue in front of the
//! supplier streams, drained by one task that pipelines `XADD`s.
//!
//! A relay is queued once it is served and mined; the queue task sends
//! whatever has accumulated (up to [`MAX_BATCH`]) in one Redis round trip
//! and retries failed relays with backoff until they land, so a Redis blip
//! costs latency to the miner, not relays. Publishing a relay twice (a retry
//! after a reply was lost) is harmless: the miner's leaf writes are
//! idempotent. When the queue is full (Redis unreachable for long), the
//! relayer stops taking relays it could not publish ([`PublishQueue::is_full`],
//! checked before the backend call) instead of serving them unpaid.
//!
//! Under load this also saves CPU: one pipeline write and one task wake-up
//! per batch instead of per relay.

use std::time::Duration;

use protocol::pb::relayminer::v1::MinedRelay;
use store::streams::RelayPublisher;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::Metrics;

/// Most relays sent in one pipeline.
pub const MAX_BATCH: usize = 128;
/// First retry delay after a failed publish; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Longest delay between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The sending side: cheap to call from the request path (no await, no
/// Redis).
pub struct PublishQueue {
    tx: mpsc::Sender<MinedRelay>,
    closing: CancellationToken,
    worker: TaskTracker,
    metrics: Metrics,
}

impl PublishQueue {
    /// A queue holding at most `capacity` relays, drained by a task that
    /// publishes through `publisher` (call from a tokio runtime).
    pub fn start(publisher: RelayPublisher, capacity: usize, metrics: Metrics) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let closing = CancellationToken::new();
        let worker = TaskTracker::new();
        worker.spawn(drain_queue(rx, publisher, metrics.clone(), closing.clone()));
        worker.close();
        PublishQueue {
            tx,
            closing,
            worker,
            metrics,
        }
    }

    /// Queues a served, mined relay. Only fails when the queue is full or
    /// closed (the relay is then lost: counted as `dropped` and logged).
    pub fn submit(&self, relay: MinedRelay) {
        if let Err(e) = self.tx.try_send(relay) {
            let (why, relay) = match e {
                mpsc::error::TrySendError::Full(r) => ("queue full", r),
                mpsc::error::TrySendError::Closed(r) => ("queue closed (draining)", r),
            };
            self.metrics.published.with_label_values(&["dropped"]).inc();
            tracing::error!(
                supplier = %relay.supplier_operator_address,
                session = %relay.session_id,
                "served relay not published: {why}"
            );
        }
    }

    /// True when the queue cannot take another relay: the relayer refuses
    /// new relays rather than serve ones it could not publish.
    pub fn is_full(&self) -> bool {
        self.tx.capacity() == 0
    }

    /// Relays waiting to be published.
    pub fn backlog(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Most relays the queue holds.
    pub fn capacity(&self) -> usize {
        self.tx.max_capacity()
    }

    /// Stops taking relays and waits until everything queued is published
    /// (bound it with a timeout: it waits for Redis as long as it takes).
    pub async fn close_and_flush(&self) {
        self.closing.cancel();
        self.worker.wait().await;
    }
}

async fn drain_queue(
    mut rx: mpsc::Receiver<MinedRelay>,
    publisher: RelayPublisher,
    metrics: Metrics,
    closing: CancellationToken,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut closed = false;
    loop {
        if batch.is_empty() {
            let received = if closed {
                rx.recv_many(&mut batch, MAX_BATCH).await
            } else {
                tokio::select! {
                    biased;
                    n = rx.recv_many(&mut batch, MAX_BATCH) => n,
                    () = closing.cancelled() => {
                        // No new relays; what is queued is still received.
                        rx.close();
                        closed = true;
                        continue;
                    }
                }
            };
            if received == 0 {
                metrics.publish_backlog.set(0);
                return;
            }
        }
        metrics.publish_backlog.set((batch.len() + rx.len()) as i64);
        batch = publish_until_landed(&publisher, &metrics, batch).await;
        metrics.publish_backlog.set(rx.len() as i64);
    }
}

/// Publishes `batch`, retrying the relays that failed with backoff until all
/// landed; returns the emptied vector for reuse.
async fn publish_until_landed(
    publisher: &RelayPublisher,
    metrics: &Metrics,
    mut batch: Vec<MinedRelay>,
) -> Vec<MinedRelay> {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let results = publisher.publish_batch(&batch).await;
        let mut failed = Vec::new();
        let mut first_error = None;
        for (relay, result) in batch.drain(..).zip(results) {
            match result {
                Ok(_) => {
                    metrics.relays.with_label_values(&["served"]).inc();
                    metrics.published.with_label_values(&["ok"]).inc();
                }
                Err(e) => {
                    metrics.published.with_label_values(&["error"]).inc();
                    first_error.get_or_insert(e);
                    failed.push(relay);
                }
            }
        }
        let Some(error) = first_error else {
            return batch;
        };
        tracing::warn!(
            relays = failed.len(),
            retry_in = ?backoff,
            %error,
            "relay publish failed; retrying"
        );
        batch = failed;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
