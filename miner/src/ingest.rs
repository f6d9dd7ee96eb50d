//! Ingest: one supplier's relay stream → fenced, idempotent leaf writes →
//! acknowledgement. An entry is acknowledged only after its relay is durable
//! in the leaf store (or it is a poison message, a duplicate, or late for a
//! sealed session: all counted). Entries a dead consumer left pending are
//! reclaimed, so nothing acknowledged by the relayer's XADD is lost.

use std::collections::BTreeMap;

use protocol::pb::relayminer::v1::MinedRelay;
use store::lease::Held;
use store::leaves::{LeafStore, LeafWrite};
use store::streams::{RelayConsumer, StreamEntry};

use crate::error::{Error, Result};
use crate::tree::leaf_write;

/// Counts of one ingest round.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestStats {
    /// Entries read (new and reclaimed).
    pub read: u64,
    /// Relays newly applied to a session's leaves.
    pub applied: u64,
    /// Relays already present (redelivery, replay).
    pub duplicates: u64,
    /// Relays for sessions already sealed: acknowledged, not applied.
    pub late: u64,
    /// Entries that are not usable relays: acknowledged and dropped.
    pub poison: u64,
    /// Time from publication to now of the newest relay applied (when the
    /// relayer stamped it).
    pub newest_lag: Option<std::time::Duration>,
}

impl IngestStats {
    /// Adds another round's counts (the newest lag wins).
    pub fn add(&mut self, o: IngestStats) {
        self.read += o.read;
        self.applied += o.applied;
        self.duplicates += o.duplicates;
        self.late += o.late;
        self.poison += o.poison;
        if o.newest_lag.is_some() {
            self.newest_lag = o.newest_lag;
        }
    }
}

/// The relays of one session in a batch (stream id, relay) and its metadata.
type SessionBatch = (Vec<(String, MinedRelay)>, Vec<(&'static str, String)>);

/// The ingest loop of one supplier (owned by the holder of its lease).
pub struct Ingest {
    consumer: RelayConsumer,
    /// The same consumer on its own connection, for drains that must not
    /// queue behind the loop's blocking read.
    drainer: Option<RelayConsumer>,
    leaves: LeafStore,
    supplier: String,
}

impl Ingest {
    /// Ingest of `supplier`'s stream into `leaves`.
    pub fn new(consumer: RelayConsumer, leaves: LeafStore, supplier: &str) -> Self {
        Ingest {
            consumer,
            drainer: None,
            leaves,
            supplier: supplier.to_owned(),
        }
    }

    /// Reclaims entries other consumers left pending, and applies them.
    pub async fn reclaim(&self, lease: &Held) -> Result<IngestStats> {
        let entries = self.consumer.reclaim().await?;
        self.apply(lease, entries).await
    }

    /// Reads new entries (blocking at most the consumer's bound) and applies them.
    pub async fn poll(&self, lease: &Held) -> Result<IngestStats> {
        let entries = self.consumer.read_new().await?;
        self.apply(lease, entries).await
    }

    /// Gives drains ([`Ingest::poll_now`], [`Ingest::reclaim_all`]) their own
    /// connection (the same consumer name), so they never wait behind the
    /// ingest loop's blocking read.
    pub fn with_drainer(mut self, drainer: RelayConsumer) -> Self {
        self.drainer = Some(drainer);
        self
    }

    fn drain_consumer(&self) -> &RelayConsumer {
        self.drainer.as_ref().unwrap_or(&self.consumer)
    }

    /// Applies what is in the stream now, without waiting for more.
    pub async fn poll_now(&self, lease: &Held) -> Result<IngestStats> {
        let entries = self.drain_consumer().read_now().await?;
        self.apply_via(self.drain_consumer(), lease, entries).await
    }

    /// Applies every entry pending in the group however briefly (a previous
    /// owner's unacknowledged batch included): called before a seal, so
    /// nothing already in Redis misses its session's claim. Applying an
    /// entry twice is harmless (idempotent leaf writes).
    pub async fn reclaim_all(&self, lease: &Held) -> Result<IngestStats> {
        let entries = self
            .consumer
            .reclaim_idle(std::time::Duration::ZERO)
            .await?;
        self.apply_via(self.drain_consumer(), lease, entries).await
    }

    /// Applies entries and acknowledges the ones that are done. On a lease
    /// loss or a transient Redis error nothing of the failing session is
    /// acknowledged (the entries stay pending and are redelivered).
    pub async fn apply(&self, lease: &Held, entries: Vec<StreamEntry>) -> Result<IngestStats> {
        self.apply_via(&self.consumer, lease, entries).await
    }

    /// [`Ingest::apply`], acknowledging through `via`.
    async fn apply_via(
        &self,
        via: &RelayConsumer,
        lease: &Held,
        entries: Vec<StreamEntry>,
    ) -> Result<IngestStats> {
        let mut stats = IngestStats {
            read: entries.len() as u64,
            ..Default::default()
        };
        let mut done: Vec<String> = Vec::with_capacity(entries.len());
        let mut by_session: BTreeMap<String, SessionBatch> = BTreeMap::new();
        for e in entries {
            match e.relay.map_err(Error::Corrupt).and_then(|r| self.check(r)) {
                Ok(relay) => {
                    let slot = by_session
                        .entry(relay.session_id.clone())
                        .or_insert_with(|| (Vec::new(), session_meta(&relay)));
                    slot.0.push((e.id, relay));
                }
                Err(err) => {
                    tracing::warn!(supplier = %self.supplier, entry = %e.id, error = %err, "dropping unusable stream entry");
                    stats.poison += 1;
                    done.push(e.id);
                }
            }
        }
        let mut first_err = None;
        for (session, (relays, meta)) in by_session {
            let writes: Vec<LeafWrite> = relays
                .iter()
                .map(|(id, r)| {
                    leaf_write(
                        &r.relay_hash,
                        r.relay_bytes.clone(),
                        r.compute_units_per_relay,
                        seq_of(id),
                    )
                })
                .collect();
            match self.leaves.put(lease, &session, &meta, &writes).await {
                Ok(added) => {
                    let newest = relays.iter().map(|(_, r)| r.published_at_unix_nano).max();
                    if let Some(lag) = newest.and_then(lag_since) {
                        stats.newest_lag = Some(stats.newest_lag.map_or(lag, |l| l.min(lag)));
                    }
                    stats.applied += added;
                    stats.duplicates += writes.len() as u64 - added;
                    done.extend(relays.into_iter().map(|(id, _)| id));
                }
                Err(store::Error::SessionSealed { .. }) => {
                    stats.late += relays.len() as u64;
                    done.extend(relays.into_iter().map(|(id, _)| id));
                }
                Err(e) => {
                    // Leave these pending: they are redelivered (reclaim) later.
                    first_err.get_or_insert(e);
                }
            }
        }
        via.ack(&done).await?;
        match first_err {
            Some(e) => Err(e.into()),
            None => Ok(stats),
        }
    }

    fn check(&self, mut r: MinedRelay) -> Result<MinedRelay> {
        if r.supplier_operator_address != self.supplier {
            return Err(Error::Corrupt(format!(
                "relay for supplier {} in {}'s stream",
                r.supplier_operator_address, self.supplier
            )));
        }
        let hash = protocol::relay::sha256(&r.relay_bytes);
        if r.relay_hash.is_empty() {
            r.relay_hash = hash.to_vec();
        } else if r.relay_hash != hash {
            return Err(Error::Corrupt(
                "relay hash does not match relay bytes".into(),
            ));
        }
        if r.session_id.is_empty() || r.compute_units_per_relay == 0 || r.session_end_height <= 0 {
            return Err(Error::Corrupt(
                "relay without session or compute units".into(),
            ));
        }
        Ok(r)
    }
}

/// Runs [`Ingest::poll`] repeatedly, reclaiming on start and every
/// `reclaim_every` rounds, until `cancel` fires or the lease is lost.
pub async fn run(
    ingest: &Ingest,
    lease: &Held,
    cancel: &tokio_util::sync::CancellationToken,
    reclaim_every: u32,
    mut on_round: impl FnMut(IngestStats),
) -> Result<IngestStats> {
    let mut total = IngestStats::default();
    let mut round = 0u32;
    while !cancel.is_cancelled() {
        let stats = if round.is_multiple_of(reclaim_every.max(1)) {
            ingest.reclaim(lease).await
        } else {
            // Not raced against `cancel`: a read returns within the
            // consumer's block bound, and a batch read is always applied and
            // acknowledged rather than dropped half-way (left pending).
            ingest.poll(lease).await
        };
        round = round.wrapping_add(1);
        match stats {
            Ok(s) => {
                total.add(s);
                on_round(s);
            }
            Err(Error::Store(store::Error::LeaseLost { key })) => {
                return Err(Error::Store(store::Error::LeaseLost { key }));
            }
            Err(e) if e.is_retryable() => {
                tracing::warn!(error = %e, "ingest round failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

fn session_meta(r: &MinedRelay) -> Vec<(&'static str, String)> {
    vec![
        ("session_id", r.session_id.clone()),
        ("application", r.application_address.clone()),
        ("service", r.service_id.clone()),
        ("start_height", r.session_start_height.to_string()),
        ("end_height", r.session_end_height.to_string()),
        (
            "compute_units_per_relay",
            r.compute_units_per_relay.to_string(),
        ),
    ]
}

/// Time since a publication stamp (`None` when unstamped or in the future).
fn lag_since(published_unix_nano: i64) -> Option<std::time::Duration> {
    if published_unix_nano <= 0 {
        return None;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    now.checked_sub(std::time::Duration::from_nanos(
        u64::try_from(published_unix_nano).ok()?,
    ))
}

/// A stream id `<ms>-<seq>` as one increasing number (first-insertion order).
fn seq_of(id: &str) -> u64 {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    ms.parse::<u64>().unwrap_or(0).saturating_mul(1 << 20)
        + seq.parse::<u64>().unwrap_or(0).min((1 << 20) - 1)
}
