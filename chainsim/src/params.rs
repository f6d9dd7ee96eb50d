//! The shared-parameter history (sessions-and-windows.md §1.1): the genesis
//! snapshot, effective from block 1, then every scheduled change
//! `(effective_height, params)` in height order. `ParamsAtHeight(h)` is the
//! snapshot with the greatest effective height ≤ h.
//!
//! As on chain, a change takes effect at a session boundary, and its derived
//! grid-anchor fields are stamped here the way poktroll's `MsgUpdateParam(s)`
//! handler stamps them: a change of `num_blocks_per_session` anchors the new
//! grid at the effective height (numbering continues from the old grid); any
//! other change carries the previous anchor forward. Pure: no clock, no I/O.

use protocol::pb::pocket::shared::Params as SharedParams;
use protocol::session::{SessionGrid, SessionWindows};

use crate::error::{Error, Result};
use crate::genesis::Genesis;

/// The genesis snapshot and the scheduled changes after it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SharedHistory {
    /// In force from block 1.
    genesis: SharedParams,
    /// `(effective_height, params)`, effective heights strictly ascending
    /// and all above 1.
    changes: Vec<(i64, SharedParams)>,
}

impl SharedHistory {
    /// A history holding only the genesis snapshot.
    pub(crate) fn new(genesis: SharedParams) -> std::result::Result<Self, String> {
        validate(&genesis)?;
        Ok(SharedHistory {
            genesis,
            changes: Vec::new(),
        })
    }

    /// The history a genesis describes: its shared params, then each entry of
    /// `params_history` applied on top of the snapshot before it.
    pub(crate) fn from_genesis(genesis: &Genesis) -> Result<Self> {
        let mut history = SharedHistory::new(genesis.params.shared.to_proto())
            .map_err(|reason| Error::genesis("params.shared", reason))?;
        for (i, change) in genesis.params_history.iter().enumerate() {
            let before = *history.at(change.effective_height.saturating_sub(1));
            // The genesis block (1) is committed before anything else can
            // happen, so the earliest change is effective at block 2.
            history
                .schedule(1, change.effective_height, change.shared.apply(&before))
                .map_err(|reason| Error::genesis(format!("params_history[{i}]"), reason))?;
        }
        Ok(history)
    }

    /// The snapshot in force at `height` (the genesis snapshot below block 1).
    pub(crate) fn at(&self, height: i64) -> &SharedParams {
        self.changes
            .iter()
            .rev()
            .find(|(effective, _)| *effective <= height)
            .map_or(&self.genesis, |(_, p)| p)
    }

    /// Every snapshot with its effective height, ascending (genesis at 1).
    pub(crate) fn entries(&self) -> Vec<(i64, SharedParams)> {
        std::iter::once((1, self.genesis))
            .chain(self.changes.iter().copied())
            .collect()
    }

    /// Records `params` as effective from `effective_height`, a session
    /// boundary after `latest_height` (the latest committed block) and not
    /// before the last scheduled change (the same height replaces it, as a
    /// second governance update in one session does). Overwrites the derived
    /// grid-anchor fields and returns the snapshot as recorded.
    pub(crate) fn schedule(
        &mut self,
        latest_height: i64,
        effective_height: i64,
        mut params: SharedParams,
    ) -> std::result::Result<SharedParams, String> {
        if effective_height <= latest_height.max(1) {
            return Err(format!(
                "it is not after the latest committed block {}",
                latest_height.max(1)
            ));
        }
        if let Some((last, _)) = self.changes.last()
            && effective_height < *last
        {
            return Err(format!(
                "a change is already scheduled at {last}; schedule changes in height order"
            ));
        }
        let before = *self.at(effective_height - 1);
        let grid = SessionGrid::new(&before).map_err(|e| e.to_string())?;
        let start = grid.session_start(effective_height);
        if start != effective_height {
            return Err(format!(
                "it is not the first block of a session (under the params in force at {}, \
                 the session containing it starts at {start}; the next one starts at {})",
                effective_height - 1,
                grid.session_end(effective_height) + 1
            ));
        }
        if params.num_blocks_per_session == before.num_blocks_per_session {
            params.session_grid_anchor_height = before.session_grid_anchor_height;
            params.session_number_at_anchor = before.session_number_at_anchor;
        } else {
            params.session_grid_anchor_height = u64::try_from(effective_height)
                .map_err(|_| format!("height {effective_height} is negative"))?;
            params.session_number_at_anchor = u64::try_from(grid.session_number(effective_height))
                .map_err(|_| "negative session number".to_owned())?;
        }
        validate(&params)?;
        if self
            .changes
            .last()
            .is_some_and(|(last, _)| *last == effective_height)
        {
            self.changes.pop();
        }
        self.changes.push((effective_height, params));
        Ok(params)
    }
}

/// Rejects shared params the session and window math cannot use.
pub(crate) fn validate(p: &SharedParams) -> std::result::Result<(), String> {
    if p.num_blocks_per_session == 0 {
        return Err("num_blocks_per_session must be at least 1".into());
    }
    if p.compute_unit_cost_granularity == 0 {
        return Err("compute_unit_cost_granularity must be at least 1".into());
    }
    SessionGrid::new(p).map_err(|e| e.to_string())?;
    SessionWindows::new(p, 1).map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(n: u64) -> SharedParams {
        SharedParams {
            num_blocks_per_session: n,
            compute_unit_cost_granularity: 1_000_000,
            compute_units_to_tokens_multiplier: 42_000_000,
            claim_window_close_offset_blocks: 4,
            proof_window_close_offset_blocks: 4,
            ..SharedParams::default()
        }
    }

    #[test]
    fn params_at_height_is_the_latest_snapshot_not_after_it() {
        let mut h = SharedHistory::new(params(4)).expect("valid");
        let mut cheaper = params(4);
        cheaper.compute_units_to_tokens_multiplier = 1;
        h.schedule(3, 9, cheaper).expect("9 starts session 3");
        assert_eq!(h.at(0).compute_units_to_tokens_multiplier, 42_000_000);
        assert_eq!(h.at(8).compute_units_to_tokens_multiplier, 42_000_000);
        assert_eq!(h.at(9).compute_units_to_tokens_multiplier, 1);
        assert_eq!(h.at(i64::MAX).compute_units_to_tokens_multiplier, 1);
        assert_eq!(
            h.entries().iter().map(|(e, _)| *e).collect::<Vec<_>>(),
            [1, 9]
        );
    }

    #[test]
    fn a_new_session_length_anchors_the_grid_at_the_effective_height() {
        let mut h = SharedHistory::new(params(4)).expect("valid");
        let recorded = h.schedule(3, 9, params(6)).expect("boundary");
        assert_eq!(
            (
                recorded.session_grid_anchor_height,
                recorded.session_number_at_anchor
            ),
            (9, 3),
            "sessions 1 and 2 cover blocks 1–8"
        );
        let grid = SessionGrid::new(h.at(15)).expect("grid");
        assert_eq!((grid.session_start(15), grid.session_number(15)), (15, 4));
        // Same N again later: the anchor is carried forward, not moved.
        let mut p = params(6);
        p.session_grid_anchor_height = 999;
        let recorded = h.schedule(10, 21, p).expect("21 starts session 5");
        assert_eq!(recorded.session_grid_anchor_height, 9);
        assert_eq!(recorded.session_number_at_anchor, 3);
    }

    #[test]
    fn changes_only_at_future_session_boundaries_and_in_order() {
        let mut h = SharedHistory::new(params(4)).expect("valid");
        let err = h.schedule(9, 9, params(6)).expect_err("not in the future");
        assert!(err.contains("latest committed block 9"), "{err}");
        let err = h.schedule(3, 10, params(6)).expect_err("mid-session");
        assert!(err.contains("next one starts at 13"), "{err}");
        h.schedule(3, 13, params(6)).expect("boundary");
        let err = h.schedule(3, 9, params(4)).expect_err("out of order");
        assert!(err.contains("already scheduled at 13"), "{err}");
        // Rescheduling the same height replaces the change.
        h.schedule(3, 13, params(8)).expect("replace");
        assert_eq!(h.entries().len(), 2);
        assert_eq!(h.at(13).num_blocks_per_session, 8);
        assert!(h.schedule(3, 21, params(0)).is_err(), "N = 0 is invalid");
    }
}
