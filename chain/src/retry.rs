//! Exponential backoff with full jitter, shared by the gRPC and JSON-RPC
//! clients, the websocket reconnect loop and the block feed.

use std::time::Duration;

use rand::Rng;

use crate::config::RetryConfig;

/// The delay ceiling before attempt `attempt + 1` (attempt counted from 1):
/// `initial × 2^(attempt-1)`, capped at `max`.
#[must_use]
pub(crate) fn backoff_ceiling(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1).min(20))
        .unwrap_or(u32::MAX);
    initial.saturating_mul(factor).min(max)
}

/// A jittered delay in `[ceiling/2, ceiling]` ("equal jitter": never zero, so a
/// herd of clients does not hammer a restarting node in lock-step).
#[must_use]
pub(crate) fn jittered(ceiling: Duration) -> Duration {
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    if nanos < 2 {
        return ceiling;
    }
    let half = nanos / 2;
    Duration::from_nanos(half + rand::rng().random_range(0..=half))
}

/// The delay to sleep after failed attempt `attempt` (counted from 1).
#[must_use]
pub(crate) fn delay_after(policy: &RetryConfig, attempt: u32) -> Duration {
    jittered(backoff_ceiling(
        policy.initial_backoff,
        policy.max_backoff,
        attempt,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_and_caps() {
        let i = Duration::from_millis(100);
        let m = Duration::from_secs(1);
        assert_eq!(backoff_ceiling(i, m, 1), Duration::from_millis(100));
        assert_eq!(backoff_ceiling(i, m, 2), Duration::from_millis(200));
        assert_eq!(backoff_ceiling(i, m, 4), Duration::from_millis(800));
        assert_eq!(backoff_ceiling(i, m, 5), m);
        assert_eq!(backoff_ceiling(i, m, 1000), m);
    }

    #[test]
    fn jitter_stays_in_upper_half() {
        let c = Duration::from_millis(400);
        for _ in 0..1000 {
            let d = jittered(c);
            assert!(d >= Duration::from_millis(200) && d <= c, "{d:?}");
        }
        assert_eq!(jittered(Duration::ZERO), Duration::ZERO);
    }
}
