//! `ring_signatures.json`: ring-go's own signatures and verdicts.
//!
//! - all 320 valid signatures decode, verify (also through the one-shot
//!   `verify_ring_signature`, with and without a cache), re-encode to the same
//!   bytes, and are reproduced byte for byte by the signer when fed ring-go's
//!   nonce stream; every step of the verifier's challenge chain matches;
//! - all 126 invalid signatures are rejected, at the stage ring-go rejects them;
//! - the 5 edge cases are decided as documented in the crate docs.

mod common;

use common::{load, private_key, tohex, unhex, unhex_n};
use rings::{Error, KeyCache, RingSignature, testing, verify_ring_signature};
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Deserialize)]
struct Vectors {
    valid: Vec<Valid>,
    invalid: Vec<Rejected>,
    edge_cases: Vec<Rejected>,
}

#[derive(Deserialize)]
struct Valid {
    id: String,
    ring_size: usize,
    ring_pubkeys_hex: Vec<String>,
    signer_index: usize,
    signer_priv_hex: String,
    message_hex: String,
    signature_hex: String,
    key_image_hex: String,
    expected_verify: bool,
    short_reduction: bool,
    short_reduction_challenge_indices: Vec<usize>,
    challenge_chain: Vec<ChainStep>,
    rng_seed: String,
}

#[derive(Deserialize)]
struct ChainStep {
    i: usize,
    next_challenge_index: usize,
    #[serde(rename = "L_hex")]
    l_hex: String,
    #[serde(rename = "R_hex")]
    r_hex: String,
    reduced_len: usize,
    challenge_hex: String,
    canonical_challenge_hex: Option<String>,
}

/// An `invalid[]` or `edge_cases[]` entry.
#[derive(Deserialize)]
struct Rejected {
    id: String,
    category: String,
    ring_pubkeys_hex: Vec<String>,
    message_hex: String,
    signature_hex: String,
    expected_verify: bool,
    ring_go_stage: String,
}

fn vectors() -> Vectors {
    load("ring_signatures.json")
}

fn ring_of(keys: &[String]) -> Vec<[u8; 33]> {
    keys.iter().map(|k| unhex_n::<33>(k)).collect()
}

/// The nonce stream the vector generator fed ring-go:
/// block k = SHA-256(seed ‖ k as u64 big-endian), k = 0, 1, …
fn go_nonce_stream(seed: &str, blocks: usize) -> Vec<[u8; 32]> {
    (0..blocks as u64)
        .map(|k| {
            let mut h = Sha256::new();
            h.update(seed.as_bytes());
            h.update(k.to_be_bytes());
            h.finalize().into()
        })
        .collect()
}

#[test]
fn all_valid_signatures_verify() {
    let vectors = vectors();
    assert_eq!(vectors.valid.len(), 320);
    let cache = KeyCache::default();
    for case in &vectors.valid {
        assert!(case.expected_verify);
        let bytes = unhex(&case.signature_hex);
        let msg = unhex_n::<32>(&case.message_hex);
        let ring = ring_of(&case.ring_pubkeys_hex);
        assert_eq!(bytes.len(), 69 + 65 * case.ring_size, "{}", case.id);

        let sig = RingSignature::from_bytes(&bytes).unwrap_or_else(|e| panic!("{}: {e}", case.id));
        assert_eq!(sig.ring_size(), case.ring_size);
        assert_eq!(sig.public_keys().copied().collect::<Vec<_>>(), ring);
        assert_eq!(tohex(&sig.key_image()), case.key_image_hex);
        assert_eq!(sig.to_bytes(), bytes, "{}: re-encoding", case.id);
        assert_eq!(sig.check_membership(&ring), Ok(()));
        assert_eq!(sig.verify(&msg), Ok(()), "{}", case.id);

        assert_eq!(verify_ring_signature(&bytes, &msg, &ring, None), Ok(()));
        assert_eq!(
            verify_ring_signature(&bytes, &msg, &ring, Some(&cache)),
            Ok(())
        );
        // Second time round every key is a cache hit, and the key image has a
        // table (the signature verified once).
        assert_eq!(
            verify_ring_signature(&bytes, &msg, &ring, Some(&cache)),
            Ok(())
        );
    }
}

#[test]
fn signer_reproduces_ring_go_signatures_byte_for_byte() {
    // ring-go draws u, then s[j+1], s[j+2], … from the stream; so does our
    // signer, so the same stream must give the same bytes.
    for case in &vectors().valid {
        let msg = unhex_n::<32>(&case.message_hex);
        let ring = ring_of(&case.ring_pubkeys_hex);
        let key = private_key(&case.signer_priv_hex);
        let nonces = go_nonce_stream(&case.rng_seed, case.ring_size);
        let sig = testing::sign_with_nonces(&msg, &ring, &key, case.signer_index, &nonces)
            .unwrap_or_else(|e| panic!("{}: {e}", case.id));
        assert_eq!(tohex(&sig.to_bytes()), case.signature_hex, "{}", case.id);
        assert_eq!(tohex(&key.key_image().expect("hashes")), case.key_image_hex);
    }
}

#[test]
fn challenge_chains_match_ring_go_step_by_step() {
    let vectors = vectors();
    let mut short = 0;
    for case in &vectors.valid {
        let sig = RingSignature::from_bytes(&unhex(&case.signature_hex)).expect("valid");
        let msg = unhex_n::<32>(&case.message_hex);
        let steps = testing::challenge_chain(&sig, &msg).expect("hashes");
        assert_eq!(steps.len(), case.challenge_chain.len());
        let mut short_indices = Vec::new();
        for (step, expected) in steps.iter().zip(&case.challenge_chain) {
            let at = format!("{} step {}", case.id, expected.i);
            assert_eq!(
                expected.next_challenge_index,
                (expected.i + 1) % case.ring_size
            );
            assert_eq!(tohex(&step.l), expected.l_hex, "{at} L");
            assert_eq!(tohex(&step.r), expected.r_hex, "{at} R");
            assert_eq!(tohex(&step.challenge), expected.challenge_hex, "{at} c");
            assert_eq!(
                testing::challenge(&msg, &step.l, &step.r),
                step.challenge,
                "{at}"
            );
            match &expected.canonical_challenge_hex {
                Some(canonical) => {
                    // The quirk changed this challenge: a right-aligning port
                    // would have computed `canonical` and failed.
                    assert!(expected.reduced_len < 32, "{at}");
                    assert_ne!(canonical, &expected.challenge_hex, "{at}");
                    short_indices.push(expected.next_challenge_index);
                }
                None => assert_eq!(expected.reduced_len, 32, "{at}"),
            }
        }
        // The chain closes on c0.
        let last = steps.last().expect("n >= 2");
        assert_eq!(tohex(&last.challenge), &case.signature_hex[8..72]);
        short_indices.sort_unstable();
        let mut expected_short = case.short_reduction_challenge_indices.clone();
        expected_short.sort_unstable();
        assert_eq!(short_indices, expected_short, "{}", case.id);
        assert_eq!(case.short_reduction, !short_indices.is_empty());
        short += usize::from(case.short_reduction);
    }
    assert_eq!(short, 30, "the file has 30 signatures hitting the quirk");
}

/// Negative control: the same verifier with a canonical hash-to-scalar (no
/// left-alignment) must fail on exactly the vectors that hit the quirk, so
/// the vectors can tell a faithful port from a quirk-less one.
#[test]
fn a_verifier_without_the_quirk_fails_exactly_the_quirk_vectors() {
    let vectors = vectors();
    let mut rejected = Vec::new();
    for case in &vectors.valid {
        let sig = RingSignature::from_bytes(&unhex(&case.signature_hex)).expect("valid");
        let msg = unhex_n::<32>(&case.message_hex);
        let canonical_ok = testing::verifies_without_the_quirk(&sig, &msg).expect("hashes");
        assert_eq!(canonical_ok, !case.short_reduction, "{}", case.id);
        if !canonical_ok {
            rejected.push(case.id.clone());
        }
        // And the real verifier accepts all of them.
        assert_eq!(sig.verify(&msg), Ok(()), "{}", case.id);
    }
    assert_eq!(rejected.len(), 30, "{rejected:?}");
}

#[test]
fn all_invalid_signatures_are_rejected_where_ring_go_rejects_them() {
    let vectors = vectors();
    assert_eq!(vectors.invalid.len(), 126);
    // A cache warmed by every valid signature: tables for every ring key and
    // for every genuine key image, so tampered signatures that keep a real
    // signer's key image are checked through the table path too.
    let warm = KeyCache::default();
    let mut genuine_images = std::collections::HashSet::new();
    for case in &vectors.valid {
        let bytes = unhex(&case.signature_hex);
        let msg = unhex_n::<32>(&case.message_hex);
        let ring = ring_of(&case.ring_pubkeys_hex);
        verify_ring_signature(&bytes, &msg, &ring, Some(&warm)).unwrap();
        genuine_images.insert(bytes[36..69].to_vec());
    }
    let mut through_image_tables = 0;
    for case in &vectors.invalid {
        assert!(!case.expected_verify);
        let bytes = unhex(&case.signature_hex);
        let msg = unhex_n::<32>(&case.message_hex);
        let decoded = RingSignature::from_bytes(&bytes);
        match case.ring_go_stage.as_str() {
            // Deserialize errors and Go panics (short input, ring size 0).
            "deserialize" | "panic" => {
                assert!(decoded.is_err(), "{}: decoded", case.id);
            }
            // ring-go decodes these and the chain does not close. The only ones we
            // refuse earlier are ring-size fields rewritten to 1 (n < 2 policy).
            "verify" => match decoded {
                Ok(sig) => assert_eq!(sig.verify(&msg), Err(Error::RingVerify), "{}", case.id),
                Err(e) => {
                    assert_eq!(
                        case.category, "ring_size_field_mismatch",
                        "{}: {e}",
                        case.id
                    );
                    assert_eq!(e, Error::RingSize { size: 1 }, "{}", case.id);
                }
            },
            other => panic!("{}: unexpected stage {other}", case.id),
        }
        // The one-shot path rejects too, with the ring as it appears in the
        // signature as the expected ring (so membership never saves us).
        let expected: Vec<[u8; 33]> = case
            .ring_pubkeys_hex
            .iter()
            .filter_map(|k| <[u8; 33]>::try_from(unhex(k)).ok())
            .collect();
        let cache = KeyCache::default();
        for cache in [None, Some(&cache), Some(&warm)] {
            let verdict = verify_ring_signature(&bytes, &msg, &expected, cache);
            assert!(verdict.is_err(), "{}", case.id);
            assert!(verdict.is_err_and(|e| e.is_invalid_input()));
        }
        if bytes.len() >= 69 && genuine_images.contains(&bytes[36..69]) {
            through_image_tables += 1;
        }
    }
    assert!(
        through_image_tables > 50,
        "only {through_image_tables} invalid cases reuse a genuine key image"
    );
}

#[test]
fn edge_cases_are_decided_as_documented() {
    let vectors = vectors();
    assert_eq!(vectors.edge_cases.len(), 5);
    for case in &vectors.edge_cases {
        // ring-go 782cc69 accepts all five.
        assert!(
            case.expected_verify && case.ring_go_stage == "ok",
            "{}",
            case.id
        );
        let bytes = unhex(&case.signature_hex);
        let msg = unhex_n::<32>(&case.message_hex);
        let ring = ring_of(&case.ring_pubkeys_hex);
        let verdict = RingSignature::from_bytes(&bytes).and_then(|sig| {
            sig.check_membership(&ring)?;
            sig.verify(&msg)
        });
        let one_shot = verify_ring_signature(&bytes, &msg, &ring, None);
        assert_eq!(verdict, one_shot, "{}", case.id);
        match case.category.as_str() {
            // Same as ring-go: bytes after the last member are ignored, …
            "trailing_bytes"
            // … scalars are reduced mod N (s_0 written as s_0 + N), …
            | "noncanonical_scalar"
            // … and [P, P] is a valid ring (PATH signs with [app, app]).
            | "duplicate_ring_members" => assert_eq!(verdict, Ok(()), "{}", case.id),
            // Deliberately NOT as ring-go 782cc69: a 1-member ring is rejected
            // (signatures.md §3.7; ring-go's signer refuses it, PATH never makes
            // it, and accepting what the chain may reject would cost a claim).
            "ring_size_one" => {
                assert_eq!(verdict, Err(Error::RingSize { size: 1 }), "{}", case.id);
            }
            other => panic!("{}: unknown edge category {other}", case.id),
        }
    }
}
