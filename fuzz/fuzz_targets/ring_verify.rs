//! Untrusted ring signatures: `msg (32 bytes) ‖ signature bytes`.
//!
//! Never panics, and the two ways of verifying agree: the relayer's one-call
//! `verify_ring_signature` (with a shared key cache, against the ring the
//! signature names) and `RingSignature::from_bytes` + `verify`. A signature
//! that verifies survives a re-encoding unchanged in meaning.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use rings::{KeyCache, RingSignature, verify_ring_signature};

static CACHE: LazyLock<KeyCache> = LazyLock::new(|| KeyCache::new(64));

fuzz_target!(|data: &[u8]| {
    let Some((msg, signature)) = data.split_first_chunk::<32>() else {
        return;
    };
    let parsed = RingSignature::from_bytes(signature);
    let direct = parsed
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|sig| sig.verify(msg));
    let ring: Vec<[u8; 33]> = match &parsed {
        Ok(sig) => sig.public_keys().copied().collect(),
        Err(_) => Vec::new(),
    };
    let cached = verify_ring_signature(signature, msg, &ring, Some(&CACHE));
    if parsed.is_ok() {
        assert_eq!(
            direct.is_ok(),
            cached.is_ok(),
            "verifiers disagree: {direct:?} vs {cached:?}"
        );
    } else {
        assert!(cached.is_err(), "a signature that does not parse verified");
    }
    if let Ok(sig) = parsed
        && direct.is_ok()
    {
        let again =
            RingSignature::from_bytes(&sig.to_bytes()).expect("re-encoded signature parses");
        assert!(
            again.verify(msg).is_ok(),
            "re-encoded signature no longer verifies"
        );
        assert!(again.check_membership(&ring).is_ok());
    }
});
