//! `relay_requests.json`: decoding, canonical re-encoding, stateless
//! validation and signable bytes of 79 RelayRequests made with poktroll's
//! gogoproto code.

mod common;

use common::{header, s, unhex, vectors};
use prost::Message;
use protocol::RelayRequest;

#[test]
fn relay_requests_decode_reencode_and_hash_like_go() {
    let v = vectors("relay_requests.json");
    let cases = v["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 79);
    let (mut accepted, mut signable_checked) = (0, 0);
    for case in cases {
        let id = s(&case["id"]);
        let wire = unhex(&case["relay_request_hex"]);
        let stage = case["reject_stage"].as_str().unwrap_or("");
        let req = match RelayRequest::decode_bytes(&wire) {
            Ok(r) => r,
            Err(e) => {
                assert_eq!(stage, "unmarshal", "{id}: unexpected decode error {e}");
                continue;
            }
        };
        assert_ne!(
            stage, "unmarshal",
            "{id}: Go failed to decode but we did not"
        );

        // The signable bytes (signature removed, canonical re-encoding) and
        // their SHA-256 are exactly what Go computes, for every decodable case.
        assert_eq!(
            hex::encode(req.signable_bytes()),
            s(&case["signable_bytes_hex"]),
            "{id}"
        );
        assert_eq!(
            hex::encode(req.signable_hash()),
            s(&case["signable_sha256_hex"]),
            "{id}"
        );
        signable_checked += 1;

        // Session header bytes and fields.
        let sh = req.session_header().expect("decoded header");
        assert_eq!(
            hex::encode(sh.encode_to_vec()),
            s(&case["session_header_proto_hex"]),
            "{id}"
        );
        assert_eq!(*sh, header(&case["session_header"]), "{id}");
        assert_eq!(
            req.meta.supplier_operator_address,
            s(&case["supplier_operator_address"])
        );
        assert_eq!(
            hex::encode(&req.meta.signature),
            s(&case["signature_hex"]),
            "{id}"
        );
        assert_eq!(hex::encode(&req.payload), s(&case["payload_hex"]), "{id}");

        // Stateless validation rejects exactly the validate_basic/session_header cases.
        let basic = req.validate_basic();
        match stage {
            "validate_basic" | "session_header" => {
                assert!(basic.is_err(), "{id}: should fail ValidateBasic")
            }
            _ => assert!(basic.is_ok(), "{id}: {basic:?}"),
        }

        if case["expected_accept"].as_bool() == Some(true) {
            accepted += 1;
            // Accepted requests are canonical: re-encoding gives the wire bytes.
            assert_eq!(req.encode_to_vec(), wire, "{id}: not a fixed point");
            assert_eq!(
                hex::encode(req.signable_hash()),
                s(&case["signed_message_hex"]),
                "{id}"
            );
        }
    }
    assert_eq!(accepted, 52);
    assert_eq!(signable_checked, 79);
}

#[test]
fn noncanonical_signable_bytes_case_is_hashed_from_our_encoding() {
    // The gateway hashed field 2 before field 1; we must hash our canonical
    // encoding instead, so the signed message differs from ours.
    let v = vectors("relay_requests.json");
    let case = v["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["category"] == "noncanonical_signable_bytes")
        .expect("case present");
    let req = RelayRequest::decode_bytes(&unhex(&case["relay_request_hex"])).expect("decodes");
    assert_ne!(
        hex::encode(req.signable_hash()),
        s(&case["signed_message_hex"])
    );
}

#[test]
fn meta_is_always_encoded_even_when_empty() {
    let empty = RelayRequest::default();
    assert_eq!(empty.encode_to_vec(), vec![0x0a, 0x00]);
    assert_eq!(empty.signable_bytes(), vec![0x0a, 0x00]);
    let res = protocol::RelayResponse::default();
    assert_eq!(res.encode_to_vec(), vec![0x0a, 0x00]);
}

#[test]
fn unknown_fields_are_dropped_and_duplicates_merge() {
    let v = vectors("relay_requests.json");
    let case = &v["cases"][0];
    let mut wire = unhex(&case["relay_request_hex"]);
    // Field 15, varint 1: unknown to RelayRequest.
    wire.extend_from_slice(&[0x78, 0x01]);
    let req = RelayRequest::decode_bytes(&wire).expect("decodes");
    assert_eq!(
        hex::encode(req.signable_bytes()),
        s(&case["signable_bytes_hex"])
    );
}
