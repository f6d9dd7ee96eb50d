//! The session lifecycle as a pure state machine driven by block heights.
//! It reads no clock and does no I/O: the runner observes the chain, calls
//! [`plan`], performs the returned action, and records the new phase.
//! Skipped heights are fine: every rule compares with window bounds, never
//! with "the next block".

use protocol::session::SessionWindows;
use serde::{Deserialize, Serialize};

/// Blocks to wait for inclusion before re-broadcasting a submitted message.
pub const REBROADCAST_AFTER_BLOCKS: i64 = 2;
/// Re-broadcasts allowed per phase (pitfall 10: at most a couple, inside the window).
pub const MAX_REBROADCASTS: u32 = 1;

/// Where a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Relays are being applied.
    Active,
    /// No more relays are applied; the claim is to be built and sent.
    Sealed,
    /// The claim was broadcast at `height` and `rebroadcasts` times again.
    ClaimSubmitted {
        /// Height at the last broadcast.
        height: i64,
        /// Re-broadcasts so far.
        rebroadcasts: u32,
    },
    /// The claim is on chain.
    Claimed,
    /// The proof was broadcast at `height`.
    ProofSubmitted {
        /// Height at the last broadcast.
        height: i64,
        /// Re-broadcasts so far.
        rebroadcasts: u32,
    },
    /// The chain validated the proof; waiting for settlement.
    Proved,
    /// No proof is required; waiting for settlement.
    ProofNotRequired,
    /// Settlement height passed: done, clean up.
    Settled,
    /// Ended without payment.
    Failed {
        /// Why.
        reason: FailReason,
    },
}

/// Why a session ended unpaid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailReason {
    /// No relay was mined in the session (nothing to claim).
    Empty,
    /// Claiming would cost more than it earns (configurable skip).
    Uneconomic,
    /// The claim window closed before the claim was sent.
    ClaimWindowMissed,
    /// The claim was sent but never included.
    ClaimNotIncluded,
    /// The proof window closed before a required proof was sent.
    ProofWindowMissed,
    /// The proof was sent but never validated.
    ProofNotIncluded,
    /// Building or sending failed permanently (see logs).
    Error,
}

impl FailReason {
    /// Short label for metrics and the status JSON.
    pub fn label(&self) -> &'static str {
        match self {
            FailReason::Empty => "empty",
            FailReason::Uneconomic => "uneconomic",
            FailReason::ClaimWindowMissed => "claim_window_missed",
            FailReason::ClaimNotIncluded => "claim_not_included",
            FailReason::ProofWindowMissed => "proof_window_missed",
            FailReason::ProofNotIncluded => "proof_not_included",
            FailReason::Error => "error",
        }
    }
}

impl Phase {
    /// Whether relays for the session are still applied.
    pub fn accepts_relays(&self) -> bool {
        matches!(self, Phase::Active)
    }

    /// Whether the session is over (nothing left to do but clean up).
    pub fn is_terminal(&self) -> bool {
        matches!(self, Phase::Settled | Phase::Failed { .. })
    }

    /// Short label for metrics and the status JSON.
    pub fn label(&self) -> &'static str {
        match self {
            Phase::Active => "active",
            Phase::Sealed => "sealed",
            Phase::ClaimSubmitted { .. } => "claim_submitted",
            Phase::Claimed => "claimed",
            Phase::ProofSubmitted { .. } => "proof_submitted",
            Phase::Proved => "proved",
            Phase::ProofNotRequired => "proof_not_required",
            Phase::Settled => "settled",
            Phase::Failed { .. } => "failed",
        }
    }
}

/// What the runner learned from the chain this block (only what it asked).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChainFacts {
    /// Whether our claim exists in module state.
    pub claim_on_chain: Option<bool>,
    /// Whether our proof was validated.
    pub proof_validated: Option<bool>,
}

/// What to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing this block.
    Wait,
    /// Stop applying relays and build the claim.
    Seal,
    /// Build and broadcast the claim (from the sealed leaves).
    SubmitClaim,
    /// Broadcast the claim again (same content).
    RebroadcastClaim,
    /// Ask the chain whether the claim is included.
    CheckClaim,
    /// Decide whether a proof is required and, if so, build and send it.
    DecideProof,
    /// Broadcast the proof again.
    RebroadcastProof,
    /// Ask the chain whether the proof was validated.
    CheckProof,
    /// Delete the session's leaves and state.
    Cleanup,
}

/// One step: the phase to record and the action to perform at `height`.
pub fn plan(phase: Phase, w: &SessionWindows, height: i64, facts: ChainFacts) -> (Phase, Action) {
    use Phase::*;
    match phase {
        Active if height > w.claim_window_close => fail(FailReason::ClaimWindowMissed),
        Active if height >= w.claim_window_open => (Sealed, Action::Seal),
        Active => (Active, Action::Wait),
        Sealed if height > w.claim_window_close => fail(FailReason::ClaimWindowMissed),
        Sealed => (Sealed, Action::SubmitClaim),
        ClaimSubmitted { .. } if facts.claim_on_chain == Some(true) => (Claimed, Action::Wait),
        ClaimSubmitted { .. }
            if height > w.claim_window_close && facts.claim_on_chain == Some(false) =>
        {
            fail(FailReason::ClaimNotIncluded)
        }
        ClaimSubmitted {
            height: at,
            rebroadcasts,
        } if facts.claim_on_chain == Some(false)
            && height >= at + REBROADCAST_AFTER_BLOCKS
            && rebroadcasts < MAX_REBROADCASTS
            && height < w.claim_window_close =>
        {
            (
                ClaimSubmitted {
                    height,
                    rebroadcasts: rebroadcasts + 1,
                },
                Action::RebroadcastClaim,
            )
        }
        ClaimSubmitted { .. } => (phase, Action::CheckClaim),
        Claimed if height > w.proof_window_close => fail(FailReason::ProofWindowMissed),
        Claimed if height >= w.proof_window_open => (Claimed, Action::DecideProof),
        Claimed => (Claimed, Action::Wait),
        ProofSubmitted { .. } if facts.proof_validated == Some(true) => (Proved, Action::Wait),
        ProofSubmitted { .. }
            if height > w.proof_window_close && facts.proof_validated == Some(false) =>
        {
            fail(FailReason::ProofNotIncluded)
        }
        ProofSubmitted {
            height: at,
            rebroadcasts,
        } if facts.proof_validated == Some(false)
            && height >= at + REBROADCAST_AFTER_BLOCKS
            && rebroadcasts < MAX_REBROADCASTS
            && height < w.proof_window_close =>
        {
            (
                ProofSubmitted {
                    height,
                    rebroadcasts: rebroadcasts + 1,
                },
                Action::RebroadcastProof,
            )
        }
        ProofSubmitted { .. } => (phase, Action::CheckProof),
        Proved | ProofNotRequired if height > w.settlement_height => (Settled, Action::Cleanup),
        Proved | ProofNotRequired => (phase, Action::Wait),
        Settled | Failed { .. } => (phase, Action::Wait),
    }
}

fn fail(reason: FailReason) -> (Phase, Action) {
    (Phase::Failed { reason }, Action::Cleanup)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::pb::pocket::shared::Params;

    fn windows() -> SessionWindows {
        // localnet: claim E+2..E+6, proof E+6..E+10, settle E+10 (E = 10).
        let p = Params {
            num_blocks_per_session: 10,
            grace_period_end_offset_blocks: 1,
            claim_window_open_offset_blocks: 1,
            claim_window_close_offset_blocks: 4,
            proof_window_open_offset_blocks: 0,
            proof_window_close_offset_blocks: 4,
            ..Default::default()
        };
        SessionWindows::new(&p, 10).unwrap()
    }

    const NONE: ChainFacts = ChainFacts {
        claim_on_chain: None,
        proof_validated: None,
    };
    const NO: ChainFacts = ChainFacts {
        claim_on_chain: Some(false),
        proof_validated: Some(false),
    };

    #[test]
    fn happy_path_through_every_phase() {
        let w = windows();
        assert_eq!(
            plan(Phase::Active, &w, 11, NONE),
            (Phase::Active, Action::Wait)
        );
        assert_eq!(
            plan(Phase::Active, &w, 12, NONE),
            (Phase::Sealed, Action::Seal)
        );
        assert_eq!(
            plan(Phase::Sealed, &w, 12, NONE),
            (Phase::Sealed, Action::SubmitClaim)
        );
        let sent = Phase::ClaimSubmitted {
            height: 12,
            rebroadcasts: 0,
        };
        assert_eq!(plan(sent, &w, 13, NONE), (sent, Action::CheckClaim));
        let yes = ChainFacts {
            claim_on_chain: Some(true),
            ..NONE
        };
        assert_eq!(plan(sent, &w, 13, yes), (Phase::Claimed, Action::Wait));
        assert_eq!(
            plan(Phase::Claimed, &w, 15, NONE),
            (Phase::Claimed, Action::Wait)
        );
        assert_eq!(
            plan(Phase::Claimed, &w, 16, NONE),
            (Phase::Claimed, Action::DecideProof)
        );
        let proof = Phase::ProofSubmitted {
            height: 16,
            rebroadcasts: 0,
        };
        let valid = ChainFacts {
            proof_validated: Some(true),
            ..NONE
        };
        assert_eq!(plan(proof, &w, 17, valid), (Phase::Proved, Action::Wait));
        assert_eq!(
            plan(Phase::Proved, &w, 20, NONE),
            (Phase::Proved, Action::Wait)
        );
        assert_eq!(
            plan(Phase::Proved, &w, 21, NONE),
            (Phase::Settled, Action::Cleanup)
        );
        assert_eq!(
            plan(Phase::ProofNotRequired, &w, 21, NONE),
            (Phase::Settled, Action::Cleanup)
        );
    }

    #[test]
    fn skipped_heights_and_missed_windows() {
        let w = windows();
        // A miner that comes back at height 17 with an active session: claim window closed.
        assert_eq!(
            plan(Phase::Active, &w, 17, NONE).0,
            Phase::Failed {
                reason: FailReason::ClaimWindowMissed
            }
        );
        // Jumping straight to the window close still seals and claims.
        assert_eq!(
            plan(Phase::Active, &w, 16, NONE),
            (Phase::Sealed, Action::Seal)
        );
        assert_eq!(
            plan(Phase::Sealed, &w, 16, NONE),
            (Phase::Sealed, Action::SubmitClaim)
        );
        assert_eq!(
            plan(Phase::Claimed, &w, 21, NONE).0,
            Phase::Failed {
                reason: FailReason::ProofWindowMissed
            }
        );
    }

    #[test]
    fn rebroadcast_once_inside_the_window_then_give_up() {
        let w = windows();
        let sent = Phase::ClaimSubmitted {
            height: 12,
            rebroadcasts: 0,
        };
        assert_eq!(plan(sent, &w, 13, NO), (sent, Action::CheckClaim));
        let again = Phase::ClaimSubmitted {
            height: 14,
            rebroadcasts: 1,
        };
        assert_eq!(plan(sent, &w, 14, NO), (again, Action::RebroadcastClaim));
        assert_eq!(
            plan(again, &w, 16, NO),
            (again, Action::CheckClaim),
            "only once"
        );
        assert_eq!(
            plan(again, &w, 17, NO).0,
            Phase::Failed {
                reason: FailReason::ClaimNotIncluded
            }
        );
        // Never after (or at) the window close.
        let late = Phase::ClaimSubmitted {
            height: 15,
            rebroadcasts: 0,
        };
        assert_eq!(
            plan(late, &w, 17, NO).0,
            Phase::Failed {
                reason: FailReason::ClaimNotIncluded
            }
        );
        let proof = Phase::ProofSubmitted {
            height: 16,
            rebroadcasts: 0,
        };
        assert_eq!(plan(proof, &w, 18, NO).1, Action::RebroadcastProof);
        assert_eq!(
            plan(proof, &w, 21, NO).0,
            Phase::Failed {
                reason: FailReason::ProofNotIncluded
            }
        );
    }

    #[test]
    fn only_active_sessions_take_relays_and_terminals_stay() {
        let w = windows();
        assert!(Phase::Active.accepts_relays());
        assert!(!Phase::Sealed.accepts_relays());
        for t in [
            Phase::Settled,
            Phase::Failed {
                reason: FailReason::Empty,
            },
        ] {
            assert!(t.is_terminal());
            assert_eq!(plan(t, &w, 100, NONE), (t, Action::Wait));
        }
        let json = serde_json::to_string(&Phase::ClaimSubmitted {
            height: 3,
            rebroadcasts: 1,
        })
        .unwrap();
        assert_eq!(
            serde_json::from_str::<Phase>(&json).unwrap(),
            Phase::ClaimSubmitted {
                height: 3,
                rebroadcasts: 1
            }
        );
    }
}
