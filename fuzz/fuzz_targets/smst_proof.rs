//! Untrusted closest proofs: `root (48 bytes) ‖ gob proof bytes`, as the
//! chain receives them in `MsgSubmitProof`.
//!
//! Never panics; a proof that decodes re-encodes to a proof that decodes to
//! the same value; a proof that verifies still verifies after that round
//! trip, and its compact form expands back to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smst::{CompactClosestProof, verify_proof_bytes};

fuzz_target!(|data: &[u8]| {
    let Some((root, proof)) = data.split_first_chunk::<48>() else {
        return;
    };
    if let Ok(compact) = CompactClosestProof::from_gob(proof) {
        let again =
            CompactClosestProof::from_gob(&compact.to_gob()).expect("re-encoded proof decodes");
        assert_eq!(again, compact, "gob round trip changed the proof");
    }
    if let Ok(verified) = verify_proof_bytes(proof, root) {
        let compact = verified.compact().expect("a verified proof compacts");
        assert_eq!(
            compact.decompact().expect("its compact form expands"),
            verified
        );
        assert!(
            verify_proof_bytes(&compact.to_gob(), root).is_ok(),
            "re-encoded proof no longer verifies"
        );
    }
});
