//! `relay_responses.json` and signatures.md §6: supplier ECDSA signatures on
//! `RelayResponse`s, made by cosmos-sdk / decred and judged by the Go verify path.
//!
//! This crate does not decode protobuf: `msg` is the file's recomputed
//! `signable_sha256_hex`; the `protocol` crate checks its own signable bytes
//! against the same file.

mod common;

use common::{load, private_key, tohex, unhex, unhex_n};
use rings::{Error, verify_response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Deserialize)]
struct Vectors {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    id: String,
    supplier_operator: Supplier,
    signable_sha256_hex: String,
    ecdsa_digest_hex: String,
    rfc6979_k_hex: Option<String>,
    signature_hex: String,
    expected_verify: bool,
    verify_stage: String,
    signature_check_failure: Option<String>,
    ecdsa_math_valid: Option<bool>,
}

#[derive(Deserialize)]
struct Supplier {
    priv_hex: String,
    pub_hex: String,
}

const N: &str = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";

fn cases() -> Vec<Case> {
    load::<Vectors>("relay_responses.json").cases
}

#[test]
fn supplier_signature_verdicts_match_cosmos_sdk() {
    let cases = cases();
    assert_eq!(cases.len(), 72);
    let (mut ok, mut failing) = (0, 0);
    for case in &cases {
        // Unmarshal failures have no recomputed msg; ValidateBasic failures are
        // protocol checks (covered below).
        if case.signable_sha256_hex.is_empty() || case.verify_stage == "validate_basic" {
            continue;
        }
        let msg = unhex_n::<32>(&case.signable_sha256_hex);
        assert_eq!(
            tohex(&Sha256::digest(msg)),
            case.ecdsa_digest_hex,
            "{}",
            case.id
        );
        let key = unhex_n::<33>(&case.supplier_operator.pub_hex);
        let verdict = verify_response(&key, &msg, &unhex(&case.signature_hex));
        assert_eq!(
            verdict.is_ok(),
            case.expected_verify,
            "{}: {verdict:?}",
            case.id
        );
        match case.verify_stage.as_str() {
            "ok" => ok += 1,
            "signature" => {
                failing += 1;
                let failure = case.signature_check_failure.as_deref().unwrap_or_default();
                let expected = if failure.starts_with("length") {
                    Error::SignatureLength {
                        len: case.signature_hex.len() / 2,
                    }
                } else if failure.starts_with("s > N/2") {
                    Error::HighS
                } else {
                    assert!(failure.starts_with("ECDSA verification"), "{failure}");
                    Error::SupplierVerify
                };
                assert_eq!(verdict, Err(expected), "{}", case.id);
            }
            other => panic!("{}: unexpected stage {other}", case.id),
        }
    }
    assert_eq!(ok, 46);
    assert_eq!(failing, 22);
}

#[test]
fn signer_is_byte_identical_to_cosmos_sdk_rfc6979() {
    let mut resigned = 0;
    for case in cases() {
        // Generator-signed responses that verify list decred's RFC 6979 nonce.
        if case.rfc6979_k_hex.as_deref().is_none_or(str::is_empty) {
            continue;
        }
        let key = private_key(&case.supplier_operator.priv_hex);
        assert_eq!(tohex(&key.public_key()), case.supplier_operator.pub_hex);
        let msg = unhex_n::<32>(&case.signable_sha256_hex);
        let signature = key.sign_response(&msg).expect("signs");
        assert_eq!(tohex(&signature), case.signature_hex, "{}", case.id);
        resigned += 1;
    }
    assert_eq!(resigned, 42);
}

#[test]
fn high_s_twin_is_rejected_only_by_the_low_s_rule() {
    let case = cases()
        .into_iter()
        .find(|c| c.ecdsa_math_valid == Some(true))
        .expect("the file has one high-S case");
    let msg = unhex_n::<32>(&case.signable_sha256_hex);
    let key = unhex_n::<33>(&case.supplier_operator.pub_hex);
    let signature = unhex(&case.signature_hex);
    assert_eq!(verify_response(&key, &msg, &signature), Err(Error::HighS));
    // N - s is the low-S twin, and it verifies.
    let mut low = signature.clone();
    let n = unhex(N);
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let v = i16::from(n[i]) - i16::from(signature[32 + i]) - borrow;
        low[32 + i] = v.rem_euclid(256).to_be_bytes()[1];
        borrow = i16::from(v < 0);
    }
    assert_eq!(verify_response(&key, &msg, &low), Ok(()));
}

#[test]
fn responses_rejected_by_validate_basic_are_protocol_rejections() {
    // `neg-invalid-session-header` carries a valid signature over its signable
    // hash: only the session-header check (protocol crate) can reject it.
    let mut checked = 0;
    for case in cases() {
        if case.verify_stage != "validate_basic" || case.signature_hex.is_empty() {
            continue;
        }
        let msg = unhex_n::<32>(&case.signable_sha256_hex);
        let key = unhex_n::<33>(&case.supplier_operator.pub_hex);
        assert_eq!(
            verify_response(&key, &msg, &unhex(&case.signature_hex)),
            Ok(()),
            "{}",
            case.id
        );
        checked += 1;
    }
    assert_eq!(checked, 1);
}

#[test]
fn worked_example_of_signatures_md_section_6() {
    let key = private_key("64058c775d6a3606abe563287d478120e03e19f654f019ec9c2b1b9d41697584");
    assert_eq!(
        tohex(&key.public_key()),
        "0387d29e4d428aa9e1dfe447bfe18a0a05f7c9b77aba161df5c155e774c180fde1"
    );
    let msg = unhex_n::<32>("4a445e377cafacc8b3e647f0e42e2ae87bccdb134f86a0e0b6c95271b5256082");
    assert_eq!(
        tohex(&Sha256::digest(msg)),
        "ad6386b1ff1f87e1ecb4c9357b2559137111809c0d2ad7e99ad6ebbb779ae921"
    );
    let expected = "f0f4a97daec5a4e9351e617f746863477145db8c69c7a058f8d325e4490161b5\
                    39a3d7e90df1e84b166842945d390896a811573d60ec73819168603e69aedbb9";
    let signature = key.sign_response(&msg).expect("signs");
    assert_eq!(tohex(&signature), expected);
    assert_eq!(verify_response(&key.public_key(), &msg, &signature), Ok(()));
}

#[test]
fn malformed_supplier_signatures_are_rejected_without_panicking() {
    let key = private_key("64058c775d6a3606abe563287d478120e03e19f654f019ec9c2b1b9d41697584");
    let msg = [9u8; 32];
    let good = key.sign_response(&msg).expect("signs");
    for len in [0, 1, 32, 63, 65, 70, 128] {
        let bytes = vec![0x11; len];
        assert_eq!(
            verify_response(&key.public_key(), &msg, &bytes),
            Err(Error::SignatureLength { len })
        );
    }
    // r = N (reads as 0 mod N) and s = 0 are rejected, not panicked on.
    let mut r_is_n = good;
    r_is_n[..32].copy_from_slice(&unhex(N));
    assert_eq!(
        verify_response(&key.public_key(), &msg, &r_is_n),
        Err(Error::SupplierVerify)
    );
    let mut s_zero = good;
    s_zero[32..].fill(0);
    assert_eq!(
        verify_response(&key.public_key(), &msg, &s_zero),
        Err(Error::SupplierVerify)
    );
    // A key that is not a compressed point.
    let mut bad_key = key.public_key();
    bad_key[0] = 0x04;
    assert_eq!(
        verify_response(&bad_key, &msg, &good),
        Err(Error::InvalidPublicKey)
    );
    // Any single bit flip in the signature or the message is rejected.
    for bit in 0..512 {
        let mut flipped = good;
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert!(
            verify_response(&key.public_key(), &msg, &flipped).is_err(),
            "bit {bit}"
        );
    }
    for bit in 0..256 {
        let mut other = msg;
        other[bit / 8] ^= 1 << (bit % 8);
        assert!(
            verify_response(&key.public_key(), &other, &good).is_err(),
            "msg bit {bit}"
        );
    }
}

#[test]
fn private_keys_outside_one_to_n_minus_one_are_refused() {
    assert_eq!(
        rings::PrivateKey::from_bytes(&[0u8; 32]).err(),
        Some(Error::InvalidPrivateKey)
    );
    assert_eq!(
        rings::PrivateKey::from_bytes(&unhex_n::<32>(N)).err(),
        Some(Error::InvalidPrivateKey)
    );
    assert_eq!(
        rings::PrivateKey::from_bytes(&[0xff; 32]).err(),
        Some(Error::InvalidPrivateKey)
    );
    // Debug never prints the secret.
    let key = private_key("64058c775d6a3606abe563287d478120e03e19f654f019ec9c2b1b9d41697584");
    let shown = format!("{key:?}");
    assert!(!shown.contains("64058c77"), "{shown}");
    assert!(shown.contains("0387d29e"), "{shown}");
}
