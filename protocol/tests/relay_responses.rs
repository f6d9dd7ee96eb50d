//! `relay_responses.json`: decoding, signable bytes, payload hashes, the
//! POKTHTTPResponse payload encoding, dehydration, and the mined relay and its
//! hash. (The ECDSA signatures themselves are checked by the `rings` crate.)

mod common;

use std::collections::BTreeMap;

use common::{header, int, s, unhex, vectors};
use prost::Message;
use protocol::pb::sdk::types::{Header, PokthttpResponse};
use protocol::relay::{mined_relay_bytes, relay_hash, sha256};
use protocol::{RelayRequest, RelayResponse};

fn http_payload(v: &serde_json::Value) -> Vec<u8> {
    let mut header = BTreeMap::new();
    for h in v["headers"].as_array().expect("headers") {
        let name = s(&h["name"]).to_owned();
        let values = h["values"]
            .as_array()
            .expect("values")
            .iter()
            .map(|x| s(x).to_owned());
        header.insert(
            name.clone(),
            Header {
                key: name,
                values: values.collect(),
            },
        );
    }
    PokthttpResponse {
        status_code: int(&v["status_code"]) as u32,
        header,
        body_bz: unhex(&v["body_hex"]),
    }
    .encode_to_vec()
}

#[test]
fn relay_responses_match_go_bytes() {
    let v = vectors("relay_responses.json");
    let cases = v["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 72);
    let (mut paired, mut payloads, mut fixed_points) = (0, 0, 0);
    for case in cases {
        let id = s(&case["id"]);
        let stage = s(&case["verify_stage"]);
        let wire = unhex(&case["relay_response_hex"]);
        let res = match RelayResponse::decode_bytes(&wire) {
            Ok(r) => r,
            Err(e) => {
                assert_eq!(stage, "unmarshal", "{id}: unexpected decode error {e}");
                continue;
            }
        };
        assert_ne!(stage, "unmarshal", "{id}");

        assert_eq!(hex::encode(&res.payload), s(&case["payload_hex"]), "{id}");
        assert_eq!(
            res.payload_hash.is_some(),
            case["payload_hash_present"] == true,
            "{id}"
        );
        let hash = res.payload_hash.clone().unwrap_or_default();
        assert_eq!(hex::encode(&hash), s(&case["payload_hash_hex"]), "{id}");
        assert_eq!(
            hash == sha256(&res.payload),
            case["payload_hash_matches_payload"] == true,
            "{id}"
        );
        assert_eq!(
            hex::encode(res.signable_bytes()),
            s(&case["signable_bytes_hex"]),
            "{id}"
        );
        assert_eq!(
            hex::encode(res.signable_hash()),
            s(&case["signable_sha256_hex"]),
            "{id}"
        );
        assert_eq!(
            hex::encode(&res.meta.supplier_operator_signature),
            s(&case["signature_hex"])
        );

        let basic = res.validate_basic();
        if stage == "validate_basic" {
            assert!(basic.is_err(), "{id}: should fail ValidateBasic");
        } else {
            assert!(basic.is_ok(), "{id}: {basic:?}");
            let sh = res.meta.session_header.as_ref().expect("header");
            assert_eq!(*sh, header(&case["session_header"]), "{id}");
            assert_eq!(
                hex::encode(sh.encode_to_vec()),
                s(&case["session_header_proto_hex"])
            );
        }

        if s(&case["payload_kind"]) == "pokt_http_response" && case["http_response"].is_object() {
            let payload = http_payload(&case["http_response"]);
            if case["payload_hash_matches_payload"] == true {
                assert_eq!(
                    hex::encode(&payload),
                    s(&case["payload_hex"]),
                    "{id}: payload"
                );
                payloads += 1;
            }
        }

        // Verifying, non-edge responses are canonical encodings.
        if case["expected_verify"] == true && s(&case["category"]) != "edge_verifies" {
            assert_eq!(res.encode_to_vec(), wire, "{id}: not a fixed point");
            fixed_points += 1;
        }

        if let Some(dehydrated) = case["dehydrated_response_hex"].as_str() {
            let d = res.dehydrated();
            assert_eq!(hex::encode(d.encode_to_vec()), dehydrated, "{id}");
            assert_eq!(
                d.signable_hash(),
                res.signable_hash(),
                "{id}: dehydration changes msg"
            );
        }
        if let Some(req_hex) = case["relay_request_hex"].as_str() {
            let req = RelayRequest::decode_bytes(&hex::decode(req_hex).expect("hex")).expect("req");
            let bytes = mined_relay_bytes(&req, &res);
            assert_eq!(
                hex::encode(&bytes),
                s(&case["dehydrated_relay_hex"]),
                "{id}"
            );
            assert_eq!(
                hex::encode(relay_hash(&bytes)),
                s(&case["relay_hash_hex"]),
                "{id}"
            );
            paired += 1;
        }
    }
    assert_eq!(paired, 11, "responses paired with a request");
    assert_eq!(payloads, 37, "POKTHTTPResponse payloads rebuilt");
    assert_eq!(fixed_points, 41, "canonical verifying responses");
}

#[test]
fn new_response_sets_payload_hash_and_excludes_payload_from_signable_bytes() {
    let v = vectors("relay_responses.json");
    let case = &v["cases"][0];
    let res = RelayResponse::new(header(&case["session_header"]), unhex(&case["payload_hex"]));
    assert_eq!(
        hex::encode(res.signable_bytes()),
        s(&case["signable_bytes_hex"])
    );
    assert_eq!(
        hex::encode(res.signable_hash()),
        "4a445e377cafacc8b3e647f0e42e2ae87bccdb134f86a0e0b6c95271b5256082"
    );
}

#[test]
fn header_name_canonicalization_list_is_go_canonical_form() {
    // The relayer will canonicalise backend header names the way Go's net/http
    // does before putting them in the payload; this pins the expected table.
    let v = vectors("relay_responses.json");
    for pair in v["header_name_canonicalization"].as_array().expect("list") {
        let raw = s(&pair["raw"]);
        assert_eq!(
            canonical_mime_header_key(raw),
            s(&pair["canonical"]),
            "{raw}"
        );
    }
}

/// Go `textproto.CanonicalMIMEHeaderKey`, used here only to check the table.
fn canonical_mime_header_key(raw: &str) -> String {
    let valid = raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid || raw.is_empty() {
        return raw.to_owned();
    }
    let mut upper = true;
    raw.bytes()
        .map(|b| {
            let c = if upper {
                b.to_ascii_uppercase()
            } else {
                b.to_ascii_lowercase()
            };
            upper = b == b'-';
            c as char
        })
        .collect()
}
