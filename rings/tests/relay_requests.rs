//! `relay_requests.json`: ring signatures of real `RelayRequest`s (ring-go and
//! the upstream Python signer), checked the way the relayer checks them.
//!
//! This crate does not decode protobuf: the message is the file's
//! `signable_sha256_hex` (the `protocol` crate proves separately that its own
//! signable hash equals that field). Cases rejected before the signature is
//! looked at (`unmarshal`, `validate_basic`, `session_header`) are protocol
//! checks; every other case must get exactly `expected_accept` from
//! decode + membership + verify.

mod common;

use common::{load, unhex, unhex_n};
use rings::{Error, KeyCache, RingSignature, verify_ring_signature};
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Deserialize)]
struct Vectors {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    id: String,
    expected_ring_pubkeys_hex: Vec<String>,
    signature_ring_pubkeys_hex: Vec<String>,
    signable_bytes_hex: String,
    signable_sha256_hex: String,
    signed_message_hex: String,
    signature_hex: String,
    short_reduction: Option<bool>,
    expected_accept: bool,
    reject_stage: Option<String>,
}

/// Stages that reject a request before its signature is looked at.
const PROTOCOL_STAGES: [&str; 3] = ["unmarshal", "validate_basic", "session_header"];

#[test]
fn ring_signature_verdicts_match_the_relayer() {
    let vectors: Vectors = load("relay_requests.json");
    assert_eq!(vectors.cases.len(), 79);
    let cache = KeyCache::default();
    let (mut accepted, mut rejected, mut quirky) = (0, 0, 0);
    for case in &vectors.cases {
        let stage = case.reject_stage.as_deref();
        if stage.is_some_and(|s| PROTOCOL_STAGES.contains(&s)) {
            continue;
        }
        let msg = unhex_n::<32>(&case.signable_sha256_hex);
        assert_eq!(
            Sha256::digest(unhex(&case.signable_bytes_hex)).as_slice(),
            msg.as_slice(),
            "{}",
            case.id
        );
        let signature = unhex(&case.signature_hex);
        let expected_ring: Vec<[u8; 33]> = case
            .expected_ring_pubkeys_hex
            .iter()
            .map(|k| unhex_n::<33>(k))
            .collect();

        // The step-by-step API and the one-shot call (with and without a
        // cache) give the same verdict.
        let stepwise = RingSignature::from_bytes(&signature).and_then(|sig| {
            sig.check_membership(&expected_ring)?;
            sig.verify(&msg)
        });
        for verdict in [
            verify_ring_signature(&signature, &msg, &expected_ring, None),
            verify_ring_signature(&signature, &msg, &expected_ring, Some(&cache)),
        ] {
            assert_eq!(verdict, stepwise, "{}", case.id);
        }

        assert_eq!(
            stepwise.is_ok(),
            case.expected_accept,
            "{}: {stepwise:?}",
            case.id
        );
        match stage {
            None => {
                accepted += 1;
                quirky += usize::from(case.short_reduction == Some(true));
                assert_eq!(case.signed_message_hex, case.signable_sha256_hex);
            }
            Some("deserialize") => assert!(
                matches!(
                    stepwise,
                    Err(Error::Truncated { .. } | Error::InvalidRingMember { .. })
                ),
                "{}: {stepwise:?}",
                case.id
            ),
            Some("ring_membership") => {
                assert!(
                    matches!(stepwise, Err(Error::NotInRing { .. })),
                    "{}",
                    case.id
                );
            }
            Some("verify") => assert_eq!(stepwise, Err(Error::RingVerify), "{}", case.id),
            Some(other) => panic!("{}: unexpected stage {other}", case.id),
        }
        rejected += usize::from(stage.is_some());
    }
    assert_eq!(accepted, 52, "every accepted request verifies");
    assert_eq!(quirky, 8, "8 accepted requests hit the Hs quirk");
    assert_eq!(rejected, 27 - 6, "21 rejections are about the signature");
}

#[test]
fn requests_rejected_for_protocol_reasons_carry_valid_signatures() {
    // Shows these rejections must come from the protocol checks, not from here.
    let vectors: Vectors = load("relay_requests.json");
    let mut checked = 0;
    for case in &vectors.cases {
        let stage = case.reject_stage.as_deref();
        if !stage.is_some_and(|s| PROTOCOL_STAGES.contains(&s)) || case.signature_hex.is_empty() {
            continue;
        }
        let msg = unhex_n::<32>(&case.signable_sha256_hex);
        let ring: Vec<[u8; 33]> = case
            .signature_ring_pubkeys_hex
            .iter()
            .map(|k| unhex_n::<33>(k))
            .collect();
        let verdict = verify_ring_signature(&unhex(&case.signature_hex), &msg, &ring, None);
        assert_eq!(verdict, Ok(()), "{}", case.id);
        checked += 1;
    }
    assert_eq!(checked, 5);
}

#[test]
fn an_empty_signature_is_rejected() {
    // The `missing-sig` case: ValidateBasic catches it first in Go, but the
    // verifier must not accept (or panic on) zero bytes either.
    let msg = [0u8; 32];
    assert!(matches!(
        verify_ring_signature(&[], &msg, &[], None),
        Err(Error::Truncated { len: 0, .. })
    ));
}
