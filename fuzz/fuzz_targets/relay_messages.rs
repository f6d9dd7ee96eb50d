//! Untrusted relay messages, as a relayer and the chain decode them: the
//! first byte picks `RelayRequest`, `RelayResponse` or the HTTP payload a
//! relayer forwards; the rest is the message.
//!
//! Never panics; whatever decodes re-encodes canonically (decoding the
//! re-encoding gives the same value, up to an empty payload hash that Go also
//! drops, and re-encoding that gives the same
//! bytes), and the signable hashes are computable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use protocol::pb::sdk::types::PokthttpRequest;
use protocol::{RelayRequest, RelayResponse};

fuzz_target!(|data: &[u8]| {
    let Some((&kind, bytes)) = data.split_first() else {
        return;
    };
    match kind % 3 {
        0 => {
            if let Ok(request) = RelayRequest::decode_bytes(bytes) {
                let _ = request.validate_basic();
                let _ = request.signable_hash();
                let encoded = request.encode_to_vec();
                let again =
                    RelayRequest::decode_bytes(&encoded).expect("re-encoded request decodes");
                assert_eq!(again, request);
                assert_eq!(again.encode_to_vec(), encoded, "encoding is not canonical");
            }
        }
        1 => {
            if let Ok(response) = RelayResponse::decode_bytes(bytes) {
                let _ = response.validate_basic();
                let _ = response.signable_hash();
                let encoded = response.encode_to_vec();
                let again =
                    RelayResponse::decode_bytes(&encoded).expect("re-encoded response decodes");
                // A present-but-empty payload hash (Go: set, non-nil) is not
                // written back, as gogoproto's encoder skips empty bytes.
                let mut expected = response.clone();
                if expected.payload_hash.as_deref() == Some(&[]) {
                    expected.payload_hash = None;
                }
                assert_eq!(again, expected);
                assert_eq!(again.encode_to_vec(), encoded, "encoding is not canonical");
                let _ = protocol::relay::relay_hash(&response.dehydrated().encode_to_vec());
            }
        }
        _ => {
            if let Ok(http) = PokthttpRequest::decode(bytes) {
                let again = PokthttpRequest::decode(http.encode_to_vec().as_slice())
                    .expect("re-encoded HTTP request decodes");
                assert_eq!(again, http);
            }
        }
    }
});
