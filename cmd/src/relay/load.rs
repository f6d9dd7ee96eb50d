//! The load test: pre-signed, distinct requests sent at a fixed concurrency
//! (closed loop) or at a fixed rate (open loop, at most `concurrency` in
//! flight), bounded by the number of requests and by a duration. Each request
//! is sent once; the run ends early when the requests run out, never by
//! sending one again.
//!
//! Latencies are those of relays that passed every check, in microseconds, in
//! an HDR histogram (3 significant digits, 1 µs to 1 h).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use tokio::time::Instant;

use super::send::{Reply, Sender};
use super::verify::{Failure, FailureKind, Verified, Verifier};

/// When replies are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VerifyMode {
    /// Each reply as it arrives, inside the timed phase.
    Inline,
    /// Every reply after the timed phase (replies are kept in memory), so
    /// that verifying does not compete with the relayer for CPU when both
    /// run on one machine. Latency figures are the same either way.
    After,
    /// Decode only; skip the supplier signature check.
    Off,
}

/// How to run the load.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Relays in flight at once (at most).
    pub concurrency: usize,
    /// Longest the timed phase runs; no request is started after it.
    pub duration: Duration,
    /// Fixed start rate in relays/s; `None` = closed loop, as fast as the
    /// concurrency allows.
    pub rps: Option<f64>,
    /// When replies are checked.
    pub verify: VerifyMode,
    /// Show a progress bar (only when stderr is a terminal).
    pub progress: bool,
}

/// The outcome of a load test.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Requests prepared (the bound by count).
    pub planned: usize,
    /// Requests sent.
    pub sent: u64,
    /// Relays that passed every check.
    pub ok: u64,
    /// Failures by kind: count and one example detail.
    pub failures: BTreeMap<FailureKind, (u64, String)>,
    /// Timed phase: first send to last reply.
    pub elapsed: Duration,
    /// Latencies of OK relays, in microseconds.
    pub latency: Histogram<u64>,
    /// Backend status codes inside the OK relays' payloads.
    pub backend_statuses: BTreeMap<u32, u64>,
    /// Supplier signatures verified.
    pub signatures_checked: u64,
    /// Rate mode: sends started more than 1 ms after their slot (the
    /// concurrency was too low for the rate, or the machine too busy).
    pub behind_schedule: u64,
    /// The plan that produced this.
    pub plan: Plan,
}

impl LoadReport {
    /// Failed relays.
    pub fn failed(&self) -> u64 {
        self.failures.values().map(|(n, _)| n).sum()
    }

    /// OK relays per second of the timed phase.
    pub fn ok_per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency at quantile `q` (0..=1) of OK relays.
    pub fn latency_at(&self, q: f64) -> Duration {
        Duration::from_micros(self.latency.value_at_quantile(q))
    }

    /// The slowest OK relay.
    pub fn latency_max(&self) -> Duration {
        Duration::from_micros(self.latency.max())
    }
}

/// What one worker saw.
struct Tally {
    ok: u64,
    sent: u64,
    failures: BTreeMap<FailureKind, (u64, String)>,
    latency: Histogram<u64>,
    backend_statuses: BTreeMap<u32, u64>,
    signatures_checked: u64,
    behind_schedule: u64,
    /// Replies kept for [`VerifyMode::After`].
    kept: Vec<Reply>,
}

impl Tally {
    fn new() -> anyhow::Result<Self> {
        Ok(Tally {
            ok: 0,
            sent: 0,
            failures: BTreeMap::new(),
            latency: new_histogram()?,
            backend_statuses: BTreeMap::new(),
            signatures_checked: 0,
            behind_schedule: 0,
            kept: Vec::new(),
        })
    }

    fn record(&mut self, outcome: Result<Verified, Failure>, latency: Duration) {
        match outcome {
            Ok(v) => {
                self.ok += 1;
                self.signatures_checked += u64::from(v.signature_checked);
                *self.backend_statuses.entry(v.backend_status).or_default() += 1;
                let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                self.latency.saturating_record(micros.max(1));
            }
            Err(f) => self.fail(f),
        }
    }

    fn fail(&mut self, f: Failure) {
        let entry = self.failures.entry(f.kind).or_insert((0, f.detail));
        entry.0 += 1;
    }

    fn merge(&mut self, other: Tally) -> anyhow::Result<()> {
        self.ok += other.ok;
        self.sent += other.sent;
        for (kind, (n, detail)) in other.failures {
            self.failures.entry(kind).or_insert((0, detail)).0 += n;
        }
        self.latency
            .add(&other.latency)
            .context("merging latency histograms")?;
        for (status, n) in other.backend_statuses {
            *self.backend_statuses.entry(status).or_default() += n;
        }
        self.signatures_checked += other.signatures_checked;
        self.behind_schedule += other.behind_schedule;
        self.kept.extend(other.kept);
        Ok(())
    }
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).context("latency histogram bounds")
}

struct Shared {
    requests: Vec<Bytes>,
    next: AtomicUsize,
    start: Instant,
    deadline: Instant,
    rps: Option<f64>,
    done: AtomicU64,
    failed: AtomicU64,
}

/// Sends every request of `requests` at most once under `plan` and checks
/// the replies with `verifier`.
pub async fn run(
    sender: &Sender,
    verifier: &Verifier,
    requests: Vec<Bytes>,
    plan: &Plan,
) -> anyhow::Result<LoadReport> {
    anyhow::ensure!(plan.concurrency > 0, "concurrency must be at least 1");
    if let Some(rps) = plan.rps {
        anyhow::ensure!(
            rps.is_finite() && rps > 0.0,
            "rate must be a positive number"
        );
    }
    let planned = requests.len();
    let start = Instant::now();
    let shared = Arc::new(Shared {
        requests,
        next: AtomicUsize::new(0),
        start,
        deadline: start + plan.duration,
        rps: plan.rps,
        done: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    let progress = (plan.progress && std::io::stderr().is_terminal())
        .then(|| spawn_progress(Arc::clone(&shared), planned as u64));

    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..plan.concurrency.min(planned.max(1)) {
        let shared = Arc::clone(&shared);
        let sender = sender.clone();
        let verifier = verifier.clone();
        let mode = plan.verify;
        workers.spawn(async move { worker(shared, sender, verifier, mode).await });
    }
    let mut total = Tally::new()?;
    while let Some(joined) = workers.join_next().await {
        total.merge(joined.context("a load worker panicked")??)?;
    }
    let elapsed = start.elapsed();
    if let Some((bar, ticker)) = progress {
        ticker.abort();
        bar.finish_and_clear();
    }

    if plan.verify == VerifyMode::After {
        let kept = std::mem::take(&mut total.kept);
        let checked = tokio::task::spawn_blocking({
            let verifier = verifier.clone();
            move || verify_all(&verifier, kept)
        })
        .await
        .context("the verifying thread panicked")??;
        total.merge(checked)?;
    }

    Ok(LoadReport {
        planned,
        sent: total.sent,
        ok: total.ok,
        failures: total.failures,
        elapsed,
        latency: total.latency,
        backend_statuses: total.backend_statuses,
        signatures_checked: total.signatures_checked,
        behind_schedule: total.behind_schedule,
        plan: plan.clone(),
    })
}

async fn worker(
    shared: Arc<Shared>,
    sender: Sender,
    verifier: Verifier,
    mode: VerifyMode,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::new()?;
    loop {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        let Some(body) = shared.requests.get(i) else {
            break;
        };
        if let Some(rps) = shared.rps {
            let slot = shared.start + Duration::from_secs_f64(i as f64 / rps);
            if slot >= shared.deadline {
                break;
            }
            let now = Instant::now();
            if now < slot {
                tokio::time::sleep_until(slot).await;
            } else if now - slot > Duration::from_millis(1) {
                tally.behind_schedule += 1;
            }
        } else if Instant::now() >= shared.deadline {
            break;
        }
        tally.sent += 1;
        let failed = match sender.send(body.clone()).await {
            Err(f) => {
                tally.fail(f);
                true
            }
            Ok(reply) if mode == VerifyMode::After => {
                tally.kept.push(reply);
                false
            }
            Ok(reply) => {
                let outcome = verifier.check(&reply);
                let failed = outcome.is_err();
                tally.record(outcome, reply.latency);
                failed
            }
        };
        shared.done.fetch_add(1, Ordering::Relaxed);
        if failed {
            shared.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(tally)
}

/// Checks kept replies on every core.
fn verify_all(verifier: &Verifier, kept: Vec<Reply>) -> anyhow::Result<Tally> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let chunk = kept.len().div_ceil(threads).max(1);
    let parts: Vec<anyhow::Result<Tally>> = std::thread::scope(|scope| {
        let handles: Vec<_> = kept
            .chunks(chunk)
            .map(|replies| {
                scope.spawn(move || {
                    let mut tally = Tally::new()?;
                    for reply in replies {
                        tally.record(verifier.check(reply), reply.latency);
                    }
                    Ok(tally)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a verifying thread panicked")))
            })
            .collect()
    });
    let mut total = Tally::new()?;
    for part in parts {
        total.merge(part?)?;
    }
    Ok(total)
}

fn spawn_progress(
    shared: Arc<Shared>,
    planned: u64,
) -> (indicatif::ProgressBar, tokio::task::JoinHandle<()>) {
    let bar = indicatif::ProgressBar::new(planned);
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    let ticker = tokio::spawn({
        let bar = bar.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                let done = shared.done.load(Ordering::Relaxed);
                let failed = shared.failed.load(Ordering::Relaxed);
                let secs = shared.start.elapsed().as_secs_f64().max(1e-3);
                bar.set_position(done);
                bar.set_message(format!(
                    "{failed} failed · {:.0} relays/s",
                    done as f64 / secs
                ));
            }
        }
    });
    (bar, ticker)
}
