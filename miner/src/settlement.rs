//! The settlement outcome of a claim, read from the block results of its
//! settlement height: `pocket.tokenomics.EventClaimSettled` (paid) or
//! `EventClaimExpired` (proof missing or invalid: unpaid, slashed).
//!
//! Events are matched to the session by supplier and session: by the
//! `session_id` attribute, by the `claim` attribute's session header (the
//! chain's typed events carry the whole claim as JSON), or by application,
//! service and session end height.

use chain::AbciEvent;
use protocol::SessionHeader;
use serde::{Deserialize, Serialize};

/// What the chain did with a claim at settlement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum Settlement {
    /// Paid.
    Settled {
        /// `claimed_upokt` as the event prints it (e.g. `1200upokt`).
        claimed_upokt: String,
        /// Relays in the claim.
        num_relays: u64,
    },
    /// Expired unpaid.
    Expired {
        /// `PROOF_MISSING`, `PROOF_INVALID`, or the numeric reason.
        reason: String,
    },
    /// No settlement event for the session at the settlement height.
    NoEvent,
}

impl Settlement {
    /// Short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Settlement::Settled { .. } => "settled",
            Settlement::Expired { .. } => "expired",
            Settlement::NoEvent => "no_event",
        }
    }
}

const SETTLED: &str = "pocket.tokenomics.EventClaimSettled";
const EXPIRED: &str = "pocket.tokenomics.EventClaimExpired";

/// The settlement of `header`'s claim by `supplier` among `events` (a
/// block's finalize events), if any.
pub fn find(events: &[AbciEvent], supplier: &str, header: &SessionHeader) -> Settlement {
    for e in events {
        if e.kind != SETTLED && e.kind != EXPIRED {
            continue;
        }
        if !concerns(e, supplier, header) {
            continue;
        }
        if e.kind == SETTLED {
            return Settlement::Settled {
                claimed_upokt: e.attr("claimed_upokt").unwrap_or_default(),
                num_relays: e
                    .attr("num_relays")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
            };
        }
        let reason = e
            .attr("expiration_reason")
            .map(|r| match r.as_str() {
                "1" => "PROOF_MISSING".to_owned(),
                "2" => "PROOF_INVALID".to_owned(),
                _ => r,
            })
            .unwrap_or_else(|| "unknown".into());
        return Settlement::Expired { reason };
    }
    Settlement::NoEvent
}

fn concerns(e: &AbciEvent, supplier: &str, header: &SessionHeader) -> bool {
    if let Some(claim) = e
        .attr("claim")
        .and_then(|c| serde_json::from_str::<serde_json::Value>(&c).ok())
    {
        let sup = claim["supplier_operator_address"].as_str();
        let id = claim["session_header"]["session_id"].as_str();
        return sup == Some(supplier) && id == Some(header.session_id.as_str());
    }
    if e.attr("supplier_operator_address").as_deref() != Some(supplier) {
        return false;
    }
    if let Some(id) = e.attr("session_id") {
        return id == header.session_id;
    }
    e.attr("application_address").as_deref() == Some(header.application_address.as_str())
        && e.attr("service_id").as_deref() == Some(header.service_id.as_str())
        && e.attr("session_end_block_height")
            .and_then(|h| h.parse::<i64>().ok())
            == Some(header.session_end_block_height)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> SessionHeader {
        SessionHeader {
            application_address: "pokt1app".into(),
            service_id: "anvil".into(),
            session_id: "abc".into(),
            session_start_block_height: 1,
            session_end_block_height: 10,
        }
    }

    fn event(kind: &str, attrs: &[(&str, &str)]) -> AbciEvent {
        AbciEvent {
            kind: kind.into(),
            attributes: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn settled_by_session_id() {
        let events = [
            event(
                SETTLED,
                &[
                    ("session_id", "other"),
                    ("supplier_operator_address", "pokt1sup"),
                ],
            ),
            event(
                SETTLED,
                &[
                    ("session_id", "abc"),
                    ("supplier_operator_address", "pokt1sup"),
                    ("num_relays", "42"),
                    ("claimed_upokt", "84upokt"),
                ],
            ),
        ];
        assert_eq!(
            find(&events, "pokt1sup", &header()),
            Settlement::Settled {
                claimed_upokt: "84upokt".into(),
                num_relays: 42
            }
        );
        assert_eq!(find(&events, "pokt1other", &header()), Settlement::NoEvent);
    }

    #[test]
    fn expired_with_typed_event_quoting_and_no_session_id() {
        // Typed events JSON-encode string values and carry no session id.
        let events = [event(
            EXPIRED,
            &[
                ("supplier_operator_address", "\"pokt1sup\""),
                ("application_address", "\"pokt1app\""),
                ("service_id", "\"anvil\""),
                ("session_end_block_height", "\"10\""),
                ("expiration_reason", "\"PROOF_INVALID\""),
            ],
        )];
        assert_eq!(
            find(&events, "pokt1sup", &header()),
            Settlement::Expired {
                reason: "PROOF_INVALID".into()
            }
        );
        let mut later = header();
        later.session_end_block_height = 20;
        assert_eq!(find(&events, "pokt1sup", &later), Settlement::NoEvent);
    }

    #[test]
    fn matched_through_the_claim_attribute() {
        let claim =
            r#"{"supplier_operator_address":"pokt1sup","session_header":{"session_id":"abc"}}"#;
        let events = [event(
            EXPIRED,
            &[("claim", claim), ("expiration_reason", "1")],
        )];
        assert_eq!(
            find(&events, "pokt1sup", &header()),
            Settlement::Expired {
                reason: "PROOF_MISSING".into()
            }
        );
        let mut other = header();
        other.session_id = "xyz".into();
        assert_eq!(find(&events, "pokt1sup", &other), Settlement::NoEvent);
    }
}
