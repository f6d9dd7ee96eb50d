//! Which addresses form an application's ring for a session
//! (`signatures.md` §2.1). Public keys are looked up by the caller.

use crate::pb::pocket::application::Application;

/// Address of the placeholder ring member used when an application has no
/// gateways (its private key is public: never trust it as a signer).
pub const PLACEHOLDER_RING_ADDRESS: &str = "pokt1v9utztg8z8e6jv9xzv7rnt3m38570xsyjr2crf";

/// Compressed public key of the placeholder ring member.
pub const PLACEHOLDER_RING_PUBKEY: [u8; 33] = [
    0x02, 0x10, 0x66, 0xf2, 0x93, 0x70, 0x93, 0x56, 0xa3, 0x3e, 0x9c, 0x13, 0x01, 0x78, 0x67, 0x58,
    0x6b, 0xaf, 0x52, 0x51, 0x3e, 0x84, 0x5b, 0xc4, 0x33, 0x52, 0x33, 0xa1, 0x5e, 0xd1, 0xe0, 0x0b,
    0xaf,
];

/// The ring addresses for a relay of `app` in the session ending at
/// `session_end`: the application, its current delegations, and gateways
/// whose undelegation was committed at a session end `≥ session_end` (they
/// still count for that session); the placeholder when there is no gateway.
pub fn ring_addresses(app: &Application, session_end: i64) -> Vec<String> {
    let mut gateways: Vec<String> = app.delegatee_gateway_addresses.clone();
    let mut re_added: Vec<&String> = Vec::new();
    for (height, list) in &app.pending_undelegations {
        if i64::try_from(*height).is_ok_and(|h| h >= session_end) {
            for g in &list.gateway_addresses {
                if !re_added.contains(&g) {
                    re_added.push(g);
                }
            }
        }
    }
    gateways.extend(re_added.into_iter().cloned());
    if gateways.is_empty() {
        gateways.push(PLACEHOLDER_RING_ADDRESS.to_owned());
    }
    let mut ring = Vec::with_capacity(1 + gateways.len());
    ring.push(app.address.clone());
    ring.extend(gateways);
    ring
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::pocket::application::UndelegatingGatewayList;

    #[test]
    fn placeholder_key_matches_its_address() {
        assert_eq!(
            crate::address::address_from_pubkey(&PLACEHOLDER_RING_PUBKEY).unwrap(),
            PLACEHOLDER_RING_ADDRESS
        );
    }

    #[test]
    fn ring_membership_follows_session_boundaries() {
        let mut app = Application {
            address: "app".into(),
            delegatee_gateway_addresses: vec!["g1".into()],
            ..Default::default()
        };
        app.pending_undelegations.insert(
            100,
            UndelegatingGatewayList {
                gateway_addresses: vec!["g2".into(), "g2".into()],
            },
        );
        // g2 was undelegated in the session ending at 100: still in rings of sessions ending ≤ 100.
        assert_eq!(ring_addresses(&app, 90), ["app", "g1", "g2"]);
        assert_eq!(ring_addresses(&app, 100), ["app", "g1", "g2"]);
        assert_eq!(ring_addresses(&app, 110), ["app", "g1"]);
        let lone = Application {
            address: "app".into(),
            ..Default::default()
        };
        assert_eq!(ring_addresses(&lone, 10), ["app", PLACEHOLDER_RING_ADDRESS]);
    }
}
