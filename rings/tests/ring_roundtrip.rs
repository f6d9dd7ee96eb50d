//! Our own signer against our verifier: the worked example of signatures.md §6,
//! sign → verify round trips for rings of 2..=8, single-bit tampering, signer
//! errors, and property tests that decoding and verifying never panic.

mod common;

use common::{private_key, tohex, unhex_n};
use proptest::prelude::*;
use rings::{Error, KeyCache, PrivateKey, RingSignature, testing, verify_ring_signature};
use sha2::{Digest, Sha256};

const APP: &str = "2d00ef074d9b51e46886dc9a1df11e7b986611d0f336bdcf1f0adce3e037ec0a";
const GATEWAY: &str = "1a11ef074d9b51e46886dc9a1df11e7b986611d0f336bdcf1f0adce3e037ab11";

/// A deterministic test key: SHA-256 of a label (valid with overwhelming
/// probability; the assertion would say otherwise).
fn key(label: &str) -> PrivateKey {
    PrivateKey::from_bytes(&Sha256::digest(label.as_bytes()).into()).expect("valid scalar")
}

fn message(label: &str) -> [u8; 32] {
    Sha256::digest(label.as_bytes()).into()
}

#[test]
fn worked_example_of_signatures_md_section_6() {
    let app = private_key(APP);
    let gateway = private_key(GATEWAY);
    let ring = [app.public_key(), gateway.public_key()];
    assert_eq!(
        tohex(&ring[0]),
        "0397896e9b106df70124a856861cc9be52fac9980e2c7a118a36c19d0198692cc5"
    );
    assert_eq!(
        tohex(&ring[1]),
        "02bbbf99abdcddac27350bca272d7146187c091aacfc1c6f90819c9b6daf4fe846"
    );
    // m of signatures.md §1
    let msg = unhex_n::<32>("30f6bee255a1a7fa1162b94f03ff1da589c45c52fe1a2964876d94e73a471ddd");
    // Fixed "random" values: u, then s[0] (the signer is at index 1).
    let u = unhex_n::<32>("b43dbc58675cfb79df97344e9e6acd0bca0c660016349026946996cb2d80dbab");
    let s0 = unhex_n::<32>("fb89fc4d1894614f022c16053871a451ed9185c0058bffa15d9d86e2086bb1bb");
    let sig = testing::sign_with_nonces(&msg, &ring, &gateway, 1, &[u, s0]).expect("signs");
    let expected = concat!(
        "00000002",
        "8e66bba80a9c265abf00604243df8a2c076edf9318980b83492bffaab233e3aa",
        "02c82a2efdba0348c63e87377a0fb0d882a4fc696744aec6b6991bcbe1b2364536",
        "fb89fc4d1894614f022c16053871a451ed9185c0058bffa15d9d86e2086bb1bb",
        "0397896e9b106df70124a856861cc9be52fac9980e2c7a118a36c19d0198692cc5",
        "e03e10b93535799855776401f9985a57860f37dc5c5112b7b0be1d5c3008f5f1",
        "02bbbf99abdcddac27350bca272d7146187c091aacfc1c6f90819c9b6daf4fe846",
    );
    let bytes = sig.to_bytes();
    assert_eq!(bytes.len(), 199);
    assert_eq!(tohex(&bytes), expected);
    assert_eq!(verify_ring_signature(&bytes, &msg, &ring, None), Ok(()));
    assert_eq!(sig.key_image(), gateway.key_image().expect("hashes"));
}

#[test]
fn sign_then_verify_for_rings_of_2_to_8_at_every_position() {
    let cache = KeyCache::default();
    for n in 2..=8 {
        let keys: Vec<PrivateKey> = (0..n).map(|i| key(&format!("ring{n}-member{i}"))).collect();
        let ring: Vec<[u8; 33]> = keys.iter().map(PrivateKey::public_key).collect();
        for (j, signer) in keys.iter().enumerate() {
            let msg = message(&format!("msg-{n}-{j}"));
            let sig = RingSignature::sign(&msg, &ring, signer).expect("signs");
            assert_eq!(sig.ring_size(), n);
            assert_eq!(sig.key_image(), signer.key_image().expect("hashes"));
            let bytes = sig.to_bytes();
            assert_eq!(bytes.len(), 69 + 65 * n);
            assert_eq!(RingSignature::from_bytes(&bytes).as_ref(), Ok(&sig));
            assert_eq!(sig.verify(&msg), Ok(()), "n={n} j={j}");
            for cache in [None, Some(&cache)] {
                assert_eq!(verify_ring_signature(&bytes, &msg, &ring, cache), Ok(()));
                // Another message, or a ring missing a member, is rejected.
                let other = message(&format!("other-{n}-{j}"));
                assert_eq!(
                    verify_ring_signature(&bytes, &other, &ring, cache),
                    Err(Error::RingVerify)
                );
                let smaller: Vec<[u8; 33]> = ring[..n - 1].to_vec();
                assert_eq!(
                    verify_ring_signature(&bytes, &msg, &smaller, cache),
                    Err(Error::NotInRing { index: n - 1 })
                );
            }
            // Signatures are randomized; the key image is not.
            let again = RingSignature::sign(&msg, &ring, signer).expect("signs");
            assert_ne!(again.to_bytes(), bytes);
            assert_eq!(again.key_image(), sig.key_image());
        }
    }
}

/// Our own signer and verifier over 2,000 distinct messages, rings of 2–4,
/// every signer position, a shared cache (tables built once per key).
#[test]
fn two_thousand_random_messages_over_rings_of_2_to_4() {
    let cache = KeyCache::default();
    let keys: Vec<PrivateKey> = (0..4).map(|i| key(&format!("bulk-member{i}"))).collect();
    let ring: Vec<[u8; 33]> = keys.iter().map(PrivateKey::public_key).collect();
    for i in 0..2_000usize {
        let n = 2 + i % 3;
        let signer = &keys[i % n];
        let msg = message(&format!("bulk-{i}"));
        let bytes = RingSignature::sign(&msg, &ring[..n], signer)
            .expect("signs")
            .to_bytes();
        assert_eq!(
            verify_ring_signature(&bytes, &msg, &ring[..n], Some(&cache)),
            Ok(()),
            "message {i}"
        );
        if i % 100 == 0 {
            assert_eq!(
                verify_ring_signature(&bytes, &msg, &ring[..n], None),
                Ok(())
            );
        }
    }
}

#[test]
fn membership_ignores_order_size_and_duplicates() {
    let app = private_key(APP);
    let gateway = private_key(GATEWAY);
    let extra = key("second gateway");
    let expected = [extra.public_key(), gateway.public_key(), app.public_key()];
    let msg = message("membership");
    // A subset of the expected ring, in another order.
    let sig = RingSignature::sign(&msg, &[gateway.public_key(), app.public_key()], &gateway)
        .expect("signs");
    assert_eq!(sig.check_membership(&expected), Ok(()));
    assert_eq!(
        verify_ring_signature(&sig.to_bytes(), &msg, &expected, None),
        Ok(())
    );
    // PATH's ring for an application without gateways: [app, app].
    let sig =
        RingSignature::sign(&msg, &[app.public_key(), app.public_key()], &app).expect("signs");
    assert_eq!(
        verify_ring_signature(&sig.to_bytes(), &msg, &[app.public_key()], None),
        Ok(())
    );
    // An outsider is named.
    let outsider = key("outsider");
    let sig = RingSignature::sign(&msg, &[app.public_key(), outsider.public_key()], &outsider)
        .expect("signs");
    assert_eq!(
        sig.check_membership(&expected),
        Err(Error::NotInRing { index: 1 })
    );
}

#[test]
fn trailing_bytes_are_ignored_like_ring_go() {
    let gateway = private_key(GATEWAY);
    let ring = [private_key(APP).public_key(), gateway.public_key()];
    let msg = message("trailing");
    let mut bytes = RingSignature::sign(&msg, &ring, &gateway)
        .expect("signs")
        .to_bytes();
    bytes.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(verify_ring_signature(&bytes, &msg, &ring, None), Ok(()));
    assert_eq!(
        RingSignature::from_bytes(&bytes)
            .expect("decodes")
            .to_bytes(),
        bytes[..199]
    );
}

#[test]
fn every_single_bit_flip_is_rejected() {
    let gateway = private_key(GATEWAY);
    let ring = [private_key(APP).public_key(), gateway.public_key()];
    let msg = message("bit flips");
    let bytes = RingSignature::sign(&msg, &ring, &gateway)
        .expect("signs")
        .to_bytes();
    let cache = KeyCache::default();
    for bit in 0..bytes.len() * 8 {
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        // Decode + verify alone (no membership), and the full check.
        let alone = RingSignature::from_bytes(&flipped).and_then(|s| s.verify(&msg));
        assert!(alone.is_err(), "bit {bit} accepted by verify");
        let full = verify_ring_signature(&flipped, &msg, &ring, Some(&cache));
        assert!(full.is_err(), "bit {bit} accepted");
    }
}

#[test]
fn signer_refuses_bad_rings() {
    let gateway = private_key(GATEWAY);
    let app = private_key(APP);
    let msg = message("refusals");
    assert_eq!(
        RingSignature::sign(&msg, &[gateway.public_key()], &gateway).err(),
        Some(Error::RingSize { size: 1 })
    );
    let big = vec![gateway.public_key(); 65];
    assert_eq!(
        RingSignature::sign(&msg, &big, &gateway).err(),
        Some(Error::RingSize { size: 65 })
    );
    assert_eq!(
        RingSignature::sign(&msg, &[app.public_key(), app.public_key()], &gateway).err(),
        Some(Error::SignerNotInRing)
    );
    let mut bad = app.public_key();
    bad[0] = 0x05;
    assert_eq!(
        RingSignature::sign(&msg, &[bad, gateway.public_key()], &gateway).err(),
        Some(Error::InvalidPublicKey)
    );
    assert!(!Error::SignerNotInRing.is_invalid_input());
    // 64 members is the largest ring.
    let keys: Vec<[u8; 33]> = (0..63)
        .map(|i| key(&format!("big-{i}")).public_key())
        .chain([gateway.public_key()])
        .collect();
    let sig = RingSignature::sign(&msg, &keys, &gateway).expect("signs");
    assert_eq!(
        verify_ring_signature(&sig.to_bytes(), &msg, &keys, None),
        Ok(())
    );
}

#[test]
fn ring_size_field_is_checked_before_anything_else() {
    let gateway = private_key(GATEWAY);
    let ring = [private_key(APP).public_key(), gateway.public_key()];
    let msg = message("sizes");
    let bytes = RingSignature::sign(&msg, &ring, &gateway)
        .expect("signs")
        .to_bytes();
    for (size, expected) in [
        (0u32, Error::RingSize { size: 0 }),
        (1, Error::RingSize { size: 1 }),
        (65, Error::RingSize { size: 65 }),
        (
            u32::MAX,
            Error::RingSize {
                size: u64::from(u32::MAX),
            },
        ),
        (
            3,
            Error::Truncated {
                len: 199,
                size: 3,
                needed: 264,
            },
        ),
    ] {
        let mut edited = bytes.clone();
        edited[..4].copy_from_slice(&size.to_be_bytes());
        assert_eq!(
            RingSignature::from_bytes(&edited).err(),
            Some(expected.clone())
        );
        assert_eq!(
            verify_ring_signature(&edited, &msg, &ring, None),
            Err(expected)
        );
    }
}

/// A valid 2-member signature to mutate in property tests.
fn valid_signature() -> (Vec<u8>, [u8; 32], Vec<[u8; 33]>) {
    let gateway = private_key(GATEWAY);
    let ring = vec![private_key(APP).public_key(), gateway.public_key()];
    let msg = message("proptest");
    let bytes = RingSignature::sign(&msg, &ring, &gateway)
        .expect("signs")
        .to_bytes();
    (bytes, msg, ring)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let msg = [7u8; 32];
        let decoded = RingSignature::from_bytes(&bytes);
        if let Ok(sig) = &decoded {
            let _ = sig.verify(&msg);
            let _ = sig.check_membership(&[]);
        }
        let verdict = verify_ring_signature(&bytes, &msg, &[], None);
        // With an empty expected ring nothing can be accepted.
        prop_assert!(verdict.is_err());
    }

    #[test]
    fn arbitrary_bytes_with_a_plausible_header_never_panic(
        n in 0u32..6,
        body in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut bytes = n.to_be_bytes().to_vec();
        bytes.extend_from_slice(&body);
        let msg = [7u8; 32];
        if let Ok(sig) = RingSignature::from_bytes(&bytes) {
            let _ = sig.verify(&msg);
            // Anything that decodes re-encodes to its own prefix.
            prop_assert_eq!(&sig.to_bytes()[..], &bytes[..69 + 65 * sig.ring_size()]);
        }
        let ring: Vec<[u8; 33]> = bytes
            .get(69..)
            .unwrap_or_default()
            .chunks_exact(65)
            .filter_map(|m| <[u8; 33]>::try_from(&m[32..]).ok())
            .collect();
        let _ = verify_ring_signature(&bytes, &msg, &ring, None);
    }

    #[test]
    fn mutated_valid_signatures_never_panic_and_never_verify(
        edits in proptest::collection::vec((0usize..199, any::<u8>()), 1..8),
        truncate in proptest::option::of(0usize..199),
    ) {
        let (bytes, msg, ring) = valid_signature();
        let mut mutated = bytes.clone();
        for (at, value) in edits {
            mutated[at] = value;
        }
        if let Some(len) = truncate {
            mutated.truncate(len);
        }
        let verdict = verify_ring_signature(&mutated, &msg, &ring, None);
        if mutated[..] != bytes[..] {
            prop_assert!(verdict.is_err());
        }
    }

    #[test]
    fn random_messages_round_trip(msg in any::<[u8; 32]>(), signer_index in 0usize..3) {
        let keys = [private_key(APP), private_key(GATEWAY), key("third")];
        let ring: Vec<[u8; 33]> = keys.iter().map(PrivateKey::public_key).collect();
        let sig = RingSignature::sign(&msg, &ring, &keys[signer_index]).expect("signs");
        prop_assert_eq!(verify_ring_signature(&sig.to_bytes(), &msg, &ring, None), Ok(()));
    }
}
