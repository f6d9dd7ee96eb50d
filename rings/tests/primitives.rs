//! `ring_primitives.json` (ring-go / go-dleq primitives) and the worked examples
//! of signatures.md §3.2 (Hp) and §3.3 (Hs).

mod common;

use common::{load, private_key, tohex, unhex, unhex_n};
use rings::{RingSignature, hash_to_point, hash_to_scalar, testing};
use serde::Deserialize;
use sha3::{Digest, Sha3_256};

#[derive(Deserialize)]
struct Primitives {
    hash_to_scalar: Vec<HashToScalar>,
    hash_to_curve: Vec<HashToCurve>,
    hash_to_curve_wrong_encoding: Vec<HashToCurve>,
    key_images: Vec<KeyImage>,
    scalar_encoding: Vec<ScalarEncoding>,
}

#[derive(Deserialize)]
struct HashToScalar {
    note: String,
    input_hex: String,
    reduced_mod_n_minimal_hex: String,
    reduced_len: usize,
    output_hex: String,
    canonical_right_aligned_hex: String,
    quirk_applies: bool,
}

#[derive(Deserialize)]
struct HashToCurve {
    pubkey_hex: String,
    tries: usize,
    sha3_256_digests_hex: Vec<String>,
    output_hex: String,
}

#[derive(Deserialize)]
struct KeyImage {
    priv_hex: String,
    pub_hex: String,
    pub_uncompressed_hex: String,
    hp_hex: String,
    key_image_hex: String,
}

#[derive(Deserialize)]
struct ScalarEncoding {
    value_hex: String,
    encoded_hex: String,
}

#[derive(Deserialize)]
struct Signatures {
    valid: Vec<ValidSignature>,
}

#[derive(Deserialize)]
struct ValidSignature {
    signature_hex: String,
}

fn primitives() -> Primitives {
    load("ring_primitives.json")
}

#[test]
fn hash_to_scalar_matches_go_dleq_including_left_alignment_quirk() {
    let cases = primitives().hash_to_scalar;
    assert_eq!(cases.len(), 41);
    let mut quirk_cases = 0;
    for case in &cases {
        let out = hash_to_scalar(&unhex(&case.input_hex));
        assert_eq!(tohex(&out), case.output_hex, "{}", case.note);
        assert_eq!(case.quirk_applies, case.reduced_len < 32, "{}", case.note);
        assert_eq!(
            case.reduced_mod_n_minimal_hex.len() / 2,
            case.reduced_len,
            "{}",
            case.note
        );
        if case.quirk_applies {
            quirk_cases += 1;
            // The canonical (right-aligned) value is what a quirk-less port would
            // compute: it must differ, and be the minimal bytes left-padded.
            assert_ne!(
                case.canonical_right_aligned_hex, case.output_hex,
                "{}",
                case.note
            );
            let padded = format!("{:0>64}", case.reduced_mod_n_minimal_hex);
            assert_eq!(case.canonical_right_aligned_hex, padded, "{}", case.note);
            // and the quirk output is the minimal bytes left-aligned (n << 8k).
            let aligned = format!("{:0<64}", case.reduced_mod_n_minimal_hex);
            assert_eq!(case.output_hex, aligned, "{}", case.note);
        } else {
            assert_eq!(case.canonical_right_aligned_hex, case.output_hex);
        }
    }
    assert_eq!(quirk_cases, 17);
}

#[test]
fn hash_to_scalar_worked_examples_of_signatures_md() {
    // signatures.md §3.3
    let examples: [(&[u8], &str); 4] = [
        (
            b"pocket",
            "43913f269ab77ad581e23102878c906eacd55fd9e973714f0ebbe9b55ad56fef",
        ),
        (
            b"relay-msg-349",
            "bd133cd1452701ae1d3910e3ad3fb1a3dddd7fc62cce0521503d6f6e658dd600",
        ),
        (
            b"",
            "fbb1afc68c6713b20ff809b865ea3142c6caa99155e259107a8b84e6ec5106e0",
        ),
        (
            &[0, 0, 0, 0x3c],
            "827f9771b2239085213936977764b485baf8346cb1ea8d1195af1c99e26c5700",
        ),
    ];
    for (input, expected) in examples {
        assert_eq!(tohex(&hash_to_scalar(input)), expected, "{input:?}");
    }
}

#[test]
fn hash_to_curve_matches_ring_go() {
    let cases = primitives().hash_to_curve;
    assert_eq!(cases.len(), 39);
    for case in &cases {
        let key = unhex_n::<33>(&case.pubkey_hex);
        let out = hash_to_point(&key).expect("vector keys hash to the curve");
        assert_eq!(tohex(&out), case.output_hex, "{}", case.pubkey_hex);
        assert_eq!(out[0], 0x02, "Hp always picks the even y");
        assert_digest_chain(case);
    }
}

/// The vectors' digest chain is SHA3-256 of the key, then of each digest; the
/// last digest is the output's x.
fn assert_digest_chain(case: &HashToCurve) {
    assert_eq!(case.sha3_256_digests_hex.len(), case.tries);
    let mut digest = Sha3_256::digest(unhex(&case.pubkey_hex)).to_vec();
    for (i, expected) in case.sha3_256_digests_hex.iter().enumerate() {
        assert_eq!(&tohex(&digest), expected, "{} digest {i}", case.pubkey_hex);
        digest = Sha3_256::digest(&digest).to_vec();
    }
    let last = case.sha3_256_digests_hex.last().expect("at least one try");
    assert_eq!(&case.output_hex[2..], last.as_str());
}

#[test]
fn hash_to_curve_worked_examples_of_signatures_md() {
    // signatures.md §3.2
    let examples = [
        (
            "0397896e9b106df70124a856861cc9be52fac9980e2c7a118a36c19d0198692cc5",
            "02f72a1f27fa696323f979f608a525372567ad7c532736465db78c7d7118ce46e0",
        ),
        (
            "02bbbf99abdcddac27350bca272d7146187c091aacfc1c6f90819c9b6daf4fe846",
            "02703716bd1d384b39442d0fe0a121ef050bd663d6a2a297902db45fd5874e0ed2",
        ),
        (
            "021066f293709356a33e9c13017867586baf52513e845bc4335233a15ed1e00baf",
            "0271a09f91c545489b1548dab73fdc8bf98e10bda644949d27036362e807bcec66",
        ),
    ];
    for (key, expected) in examples {
        let out = hash_to_point(&unhex_n(key)).expect("valid key");
        assert_eq!(tohex(&out), expected, "{key}");
    }
}

#[test]
fn hash_to_curve_over_uncompressed_key_is_refused_and_would_differ() {
    let cases = primitives().hash_to_curve_wrong_encoding;
    assert_eq!(cases.len(), 2);
    for case in &cases {
        let uncompressed = unhex(&case.pubkey_hex);
        assert_eq!(uncompressed.len(), 65);
        // The API takes exactly 33 bytes, so the 65-byte encoding cannot be hashed…
        assert!(<[u8; 33]>::try_from(uncompressed.as_slice()).is_err());
        // …and a 33-byte prefix of it with the 04 tag is not a valid key either.
        let mut tagged = [0u8; 33];
        tagged.copy_from_slice(&uncompressed[..33]);
        assert_eq!(hash_to_point(&tagged), Err(rings::Error::InvalidPublicKey));
        // Hashing the wrong encoding (what a buggy port does) gives the vector's
        // "wrong" point, which differs from Hp of the same key compressed.
        let wrong = testing::hash_to_point_over_bytes(&uncompressed).expect("hashes");
        assert_eq!(tohex(&wrong), case.output_hex);
        let mut compressed = [0u8; 33];
        compressed[0] = 0x02 | (uncompressed[64] & 1);
        compressed[1..].copy_from_slice(&uncompressed[1..33]);
        let right = hash_to_point(&compressed).expect("valid key");
        assert_ne!(right, wrong);
        assert_digest_chain(case);
    }
}

#[test]
fn key_images_match_ring_go() {
    let cases = primitives().key_images;
    assert_eq!(cases.len(), 32);
    for case in &cases {
        let key = private_key(&case.priv_hex);
        assert_eq!(tohex(&key.public_key()), case.pub_hex);
        assert_eq!(&case.pub_uncompressed_hex[2..66], &case.pub_hex[2..]);
        let hp = hash_to_point(&key.public_key()).expect("valid key");
        assert_eq!(tohex(&hp), case.hp_hex);
        let image = key.key_image().expect("hashes");
        assert_eq!(tohex(&image), case.key_image_hex);
    }
}

#[test]
fn wire_scalars_are_32_byte_big_endian_left_padded() {
    let cases = primitives().scalar_encoding;
    assert_eq!(cases.len(), 2);
    let signatures: Signatures = load("ring_signatures.json");
    let base = unhex(&signatures.valid[0].signature_hex);
    for case in &cases {
        assert_eq!(case.encoded_hex, format!("{:0>64}", case.value_hex));
        // A signature carrying this value as c0 keeps exactly these bytes when
        // decoded and re-encoded.
        let mut bytes = base.clone();
        bytes[4..36].copy_from_slice(&unhex(&case.encoded_hex));
        let decoded = RingSignature::from_bytes(&bytes).expect("well-formed");
        assert_eq!(tohex(&decoded.to_bytes()[4..36]), case.encoded_hex);
    }
}

#[test]
fn wire_scalars_at_or_above_n_are_reduced_silently() {
    let signatures: Signatures = load("ring_signatures.json");
    let base = unhex(&signatures.valid[0].signature_hex);
    let with_c0 = |c0: &str| {
        let mut bytes = base.clone();
        bytes[4..36].copy_from_slice(&unhex(c0));
        RingSignature::from_bytes(&bytes).expect("scalars never fail to decode")
    };
    let one = "0000000000000000000000000000000000000000000000000000000000000001";
    let n_plus_one = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364142";
    let n = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
    let zero = "0000000000000000000000000000000000000000000000000000000000000000";
    assert_eq!(with_c0(n_plus_one), with_c0(one));
    assert_eq!(with_c0(n), with_c0(zero));
    assert_eq!(tohex(&with_c0(n_plus_one).to_bytes()[4..36]), one);
}
