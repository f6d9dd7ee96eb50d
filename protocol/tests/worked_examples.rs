//! The worked values of `sessions-and-windows.md`, `signatures.md` §1, §5–7
//! and `wire.md` §8, plus every (public key, address) pair in the vectors.

mod common;

use std::collections::BTreeMap;

use common::{s, unhex, vectors};
use prost::Message;
use protocol::address::{address_from_pubkey, decode_address};
use protocol::pb::pocket::service::RelayRequestMetadata;
use protocol::pb::pocket::shared::Params;
use protocol::pb::sdk::types::{Header, PokthttpRequest};
use protocol::session::{
    SessionGrid, SessionWindows, num_pending_sessions, session_id, session_id_preimage,
    validate_session_header,
};
use protocol::{RelayRequest, SessionHeader};

const APP: &str = "pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4";
const SUPPLIER: &str = "pokt1rvvk8e7qrv4xqg9fzhvmq9gw7uy7yul9qv280d";
const BLOCK_21: &str = "123204d3d22583817fe43ff7377dc0c9f85e74c532803a5f3c58ee67ac677c80";
const SESSION_ID: &str = "e547bbc73c24b44295ca4cbe57b50d8a55620c04dc4c4146de63a01cafd9127d";

fn example_header() -> SessionHeader {
    SessionHeader {
        application_address: APP.into(),
        service_id: "anvil".into(),
        session_id: SESSION_ID.into(),
        session_start_block_height: 21,
        session_end_block_height: 30,
    }
}

fn params(n: u64, grace: u64, co: u64, cc: u64, po: u64, pc: u64) -> Params {
    Params {
        num_blocks_per_session: n,
        grace_period_end_offset_blocks: grace,
        claim_window_open_offset_blocks: co,
        claim_window_close_offset_blocks: cc,
        proof_window_open_offset_blocks: po,
        proof_window_close_offset_blocks: pc,
        ..Default::default()
    }
}

#[test]
fn session_id_vector() {
    let pre = session_id_preimage(&hex::decode(BLOCK_21).unwrap(), "anvil", APP, 21);
    assert_eq!(
        hex::encode(&pre),
        format!(
            "{BLOCK_21}2e616e76696c2e{}2e1500000000000000",
            hex::encode(APP.as_bytes())
        )
    );
    assert_eq!(session_id(&pre), SESSION_ID);
}

#[test]
fn session_header_bytes() {
    let expected = concat!(
        "0a2b706f6b74316d7271743566377168387578733237636a6d397437763965373461397676646e71356a766134",
        "1205616e76696c",
        "1a4065353437626263373363323462343432393563613463626535376235306438613535363230633034646334633431343664653633613031636166643931323764",
        "2015",
        "281e"
    );
    let bytes = example_header().encode_to_vec();
    assert_eq!(bytes.len(), 122);
    assert_eq!(hex::encode(bytes), expected);
    validate_session_header(&example_header()).unwrap();
}

#[test]
fn grid_examples() {
    let mut p = params(20, 10, 11, 10, 1, 10);
    let grid = SessionGrid::new(&p).unwrap();
    assert_eq!(grid.session_start(883667), 883661);
    assert_eq!(grid.session_end(883667), 883680);
    assert_eq!(grid.session_number(883667), 44184);
    assert_eq!(grid.session_start(0), 0);
    assert_eq!(grid.session_number(-5), 0);
    let n10 = SessionGrid::new(&params(10, 1, 1, 4, 0, 4)).unwrap();
    assert_eq!(
        (
            n10.session_start(21),
            n10.session_end(21),
            n10.session_number(21)
        ),
        (21, 30, 3)
    );
    assert_eq!(
        (
            n10.session_start(30),
            n10.session_end(1),
            n10.session_number(1)
        ),
        (21, 10, 1)
    );
    // An anchored grid: N changed to 7 at height 101 (session number 11 there).
    p.num_blocks_per_session = 7;
    p.session_grid_anchor_height = 101;
    p.session_number_at_anchor = 11;
    let anchored = SessionGrid::new(&p).unwrap();
    assert_eq!(anchored.session_start(101), 101);
    assert_eq!(anchored.session_start(108), 108);
    assert_eq!(anchored.session_end(110), 114);
    assert_eq!(anchored.session_number(115), 13);
    // Heights before the anchor use the legacy grid from block 1.
    assert_eq!(anchored.session_start(100), 99);
    assert!(SessionGrid::new(&params(0, 0, 0, 0, 0, 0)).is_err());
}

#[test]
fn window_timelines() {
    // Mainnet: E+10 accept, claim E+12..E+22, seed E+22, proof E+23..E+33, settle E+33.
    let e = 1000;
    let w = SessionWindows::new(&params(20, 10, 11, 10, 1, 10), e).unwrap();
    assert_eq!(w.grace_period_end, e + 10);
    assert_eq!(
        (w.claim_window_open, w.claim_window_close),
        (e + 12, e + 22)
    );
    assert_eq!(w.proof_seed_height, e + 22);
    assert_eq!(
        (w.proof_window_open, w.proof_window_close),
        (e + 23, e + 33)
    );
    assert_eq!(w.settlement_height, e + 33);
    assert!(w.relay_is_eligible_at(e + 11) && !w.relay_is_eligible_at(e + 12));
    assert!(w.accepts_relays_at(e + 10) && !w.accepts_relays_at(e + 11));
    assert!(w.claim_window_contains(e + 12) && !w.claim_window_contains(e + 23));
    assert!(w.proof_window_contains(e + 33) && !w.proof_window_contains(e + 34));
    // poktroll localnet: E+1, E+2..E+6, seed E+5, E+6..E+10, settle E+10.
    let l = SessionWindows::new(&params(10, 1, 1, 4, 0, 4), e).unwrap();
    assert_eq!(l.grace_period_end, e + 1);
    assert_eq!((l.claim_window_open, l.claim_window_close), (e + 2, e + 6));
    assert_eq!(l.proof_seed_height, e + 5);
    assert_eq!(
        (
            l.proof_window_open,
            l.proof_window_close,
            l.settlement_height
        ),
        (e + 6, e + 10, e + 10)
    );
    // Tilt: E+2..E+10, seed E+9, E+10..E+18.
    let t = SessionWindows::new(&params(10, 1, 1, 8, 0, 8), e).unwrap();
    assert_eq!(
        (
            t.claim_window_open,
            t.claim_window_close,
            t.proof_seed_height
        ),
        (e + 2, e + 10, e + 9)
    );
    assert_eq!((t.proof_window_open, t.settlement_height), (e + 10, e + 18));
    assert_eq!(
        num_pending_sessions(&params(20, 10, 11, 10, 1, 10)).unwrap(),
        2
    );
    assert_eq!(num_pending_sessions(&params(10, 1, 1, 4, 0, 4)).unwrap(), 1);
    assert!(SessionWindows::new(&params(10, 1, 1, 4, 0, 4), 0).is_err());
}

fn example_http_request() -> PokthttpRequest {
    let mut header = BTreeMap::new();
    header.insert(
        "Content-Type".to_owned(),
        Header {
            key: "Content-Type".into(),
            values: vec!["application/json".into()],
        },
    );
    PokthttpRequest {
        method: "POST".into(),
        header,
        url: "https://relayminer.example.com".into(),
        body_bz: br#"{"jsonrpc":"2.0","method":"eth_blockNumber","params":[],"id":1}"#.to_vec(),
    }
}

#[test]
fn http_request_envelope_and_signable_bytes() {
    let payload = example_http_request().encode_to_vec();
    assert_eq!(
        hex::encode(&payload),
        concat!(
            "0a04504f5354",
            "12300a0c436f6e74656e742d54797065",
            "12200a0c436f6e74656e742d5479706512106170706c69636174696f6e2f6a736f6e",
            "1a1e68747470733a2f2f72656c61796d696e65722e6578616d706c652e636f6d",
            "223f7b226a736f6e727063223a22322e30222c226d6574686f64223a226574685f626c6f636b4e756d626572222c22706172616d73223a5b5d2c226964223a317d"
        )
    );
    let mut req = RelayRequest {
        meta: RelayRequestMetadata {
            session_header: Some(example_header()),
            signature: vec![1, 2, 3],
            supplier_operator_address: SUPPLIER.into(),
        },
        payload,
    };
    let signable = req.signable_bytes();
    assert_eq!(signable.len(), 328);
    assert!(hex::encode(&signable).starts_with("0aa9010a7a"));
    assert_eq!(
        hex::encode(req.signable_hash()),
        "30f6bee255a1a7fa1162b94f03ff1da589c45c52fe1a2964876d94e73a471ddd"
    );
    // The WebSocket handshake form (§7): no payload, no signature.
    req.payload.clear();
    assert_eq!(req.signable_bytes().len(), 172);
    assert_eq!(
        hex::encode(req.signable_hash()),
        "1e5050bcd19c589395bede774510f14ac2579e69a49597f77846067f5aa4fc53"
    );
}

#[test]
fn full_example_request_is_530_bytes() {
    let sig = concat!(
        "00000002",
        "8e66bba80a9c265abf00604243df8a2c076edf9318980b83492bffaab233e3aa",
        "02c82a2efdba0348c63e87377a0fb0d882a4fc696744aec6b6991bcbe1b2364536",
        "fb89fc4d1894614f022c16053871a451ed9185c0058bffa15d9d86e2086bb1bb",
        "0397896e9b106df70124a856861cc9be52fac9980e2c7a118a36c19d0198692cc5",
        "e03e10b93535799855776401f9985a57860f37dc5c5112b7b0be1d5c3008f5f1",
        "02bbbf99abdcddac27350bca272d7146187c091aacfc1c6f90819c9b6daf4fe846"
    );
    let req = RelayRequest {
        meta: RelayRequestMetadata {
            session_header: Some(example_header()),
            signature: hex::decode(sig).unwrap(),
            supplier_operator_address: SUPPLIER.into(),
        },
        payload: example_http_request().encode_to_vec(),
    };
    assert_eq!(req.encode_to_vec().len(), 530);
    req.validate_basic().unwrap();
}

#[test]
fn documented_addresses() {
    for (pubkey, address) in [
        (
            "0397896e9b106df70124a856861cc9be52fac9980e2c7a118a36c19d0198692cc5",
            APP,
        ),
        (
            "02bbbf99abdcddac27350bca272d7146187c091aacfc1c6f90819c9b6daf4fe846",
            "pokt1duatelq8yutj6eflsdhc4vpavuspz5gk8htla9",
        ),
        (
            "0387d29e4d428aa9e1dfe447bfe18a0a05f7c9b77aba161df5c155e774c180fde1",
            SUPPLIER,
        ),
        (
            "021066f293709356a33e9c13017867586baf52513e845bc4335233a15ed1e00baf",
            "pokt1v9utztg8z8e6jv9xzv7rnt3m38570xsyjr2crf",
        ),
    ] {
        assert_eq!(
            address_from_pubkey(&hex::decode(pubkey).unwrap()).unwrap(),
            address
        );
        assert_eq!(decode_address(address).unwrap().len(), 20);
    }
    assert_eq!(
        hex::encode(decode_address(APP).unwrap()),
        "d8c0ba27c0b9f8682bd896cabf30b9f57a5631b3"
    );
    assert!(address_from_pubkey(&[4; 65]).is_err());
}

#[test]
fn every_vector_key_address_matches() {
    let mut n = 0;
    for k in vectors("ring_primitives.json")["key_images"]
        .as_array()
        .unwrap()
    {
        assert_eq!(
            address_from_pubkey(&unhex(&k["pub_hex"])).unwrap(),
            s(&k["address"])
        );
        n += 1;
    }
    for case in vectors("relay_requests.json")["cases"].as_array().unwrap() {
        for k in case["keys"].as_array().unwrap() {
            if s(&k["address"]).is_empty() {
                continue; // bad-header-4 blanks the supplier address on purpose
            }
            assert_eq!(
                address_from_pubkey(&unhex(&k["pub_hex"])).unwrap(),
                s(&k["address"])
            );
            n += 1;
        }
    }
    for case in vectors("relay_responses.json")["cases"].as_array().unwrap() {
        let k = &case["supplier_operator"];
        if s(&k["address"]).is_empty() {
            continue; // cases whose key is not a valid account (e.g. the wrong-key case)
        }
        assert_eq!(
            address_from_pubkey(&unhex(&k["pub_hex"])).unwrap(),
            s(&k["address"])
        );
        n += 1;
    }
    assert!(n > 300, "{n} keys checked");
}

#[test]
fn address_decoding_rejects_what_cosmos_rejects() {
    // Wrong prefix, bech32m checksum, bad checksum, empty, mixed case.
    let cosmos = protocol::address::encode_address(&[7; 20])
        .unwrap()
        .replacen("pokt", "cosmos", 1);
    for bad in [
        "",
        "pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva5",
        "Pokt1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4",
        cosmos.as_str(),
        "cosmos1mrqt5f7qh8uxs27cjm9t7v9e74a9vvdnq5jva4",
        "pokt1",
    ] {
        assert!(decode_address(bad).is_err(), "{bad:?} accepted");
    }
    assert!(
        decode_address(&APP.to_uppercase()).is_ok(),
        "all-caps bech32 is valid"
    );
}
