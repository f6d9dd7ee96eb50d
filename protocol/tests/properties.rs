//! Property tests: decoders never panic on arbitrary bytes, canonical
//! encodings are fixed points, and the 512-bit arithmetic agrees with u128.

use proptest::prelude::*;
use prost::Message;
use protocol::pb::cosmos::tx::v1beta1::{TxBody, TxRaw};
use protocol::pb::pocket::proof::Claim;
use protocol::pb::pocket::service::{Relay, RelayRequestMetadata};
use protocol::pb::sdk::types::{PokthttpRequest, PokthttpResponse};
use protocol::uint::U512;
use protocol::{RelayRequest, RelayResponse, SessionHeader};

fn header() -> impl Strategy<Value = SessionHeader> {
    (
        ".{0,12}",
        "[a-z0-9_-]{0,10}",
        "[0-9a-f]{0,64}",
        any::<i64>(),
        any::<i64>(),
    )
        .prop_map(|(app, svc, sid, start, end)| SessionHeader {
            application_address: app,
            service_id: svc,
            session_id: sid,
            session_start_block_height: start,
            session_end_block_height: end,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = RelayRequest::decode_bytes(&bytes).map(|r| (r.signable_hash(), r.validate_basic()));
        let _ = RelayResponse::decode_bytes(&bytes).map(|r| (r.signable_hash(), r.validate_basic()));
        let _ = Relay::decode(bytes.as_slice());
        let _ = SessionHeader::decode(bytes.as_slice());
        let _ = PokthttpRequest::decode(bytes.as_slice());
        let _ = PokthttpResponse::decode(bytes.as_slice());
        let _ = Claim::decode(bytes.as_slice());
        let _ = TxRaw::decode(bytes.as_slice());
        let _ = TxBody::decode(bytes.as_slice());
        let _ = protocol::address::decode_address(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn request_encoding_is_a_fixed_point(
        h in proptest::option::of(header()),
        sig in proptest::collection::vec(any::<u8>(), 0..80),
        supplier in ".{0,20}",
        payload in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let req = RelayRequest {
            meta: RelayRequestMetadata { session_header: h, signature: sig, supplier_operator_address: supplier },
            payload,
        };
        let bytes = req.encode_to_vec();
        prop_assert_eq!(bytes[0], 0x0a, "meta always first and present");
        let back = RelayRequest::decode_bytes(&bytes).unwrap();
        prop_assert_eq!(&back, &req);
        prop_assert_eq!(back.encode_to_vec(), bytes);
        // The signature never influences the signable bytes.
        let mut unsigned = req.clone();
        unsigned.meta.signature.clear();
        prop_assert_eq!(unsigned.signable_bytes(), req.signable_bytes());
        prop_assert_eq!(unsigned.encode_to_vec(), req.signable_bytes());
    }

    #[test]
    fn response_dehydration_keeps_the_signed_message(
        h in header(),
        payload in proptest::collection::vec(any::<u8>(), 1..300),
    ) {
        let res = RelayResponse::new(h, payload);
        let d = res.dehydrated();
        prop_assert_eq!(d.signable_hash(), res.signable_hash());
        let back = RelayResponse::decode_bytes(&res.encode_to_vec()).unwrap();
        prop_assert_eq!(back, res);
    }

    #[test]
    fn u512_agrees_with_u128(a in any::<u64>(), b in any::<u64>(), c in 1u64..) {
        let prod = u128::from(a) * u128::from(b);
        let big = U512::from_u128(u128::from(a)).checked_mul(&U512::from_u128(u128::from(b))).unwrap();
        prop_assert_eq!(big.to_u128(), Some(prod));
        prop_assert_eq!(big.to_string(), prod.to_string());
        prop_assert_eq!(U512::from_decimal(&prod.to_string()), Some(big));
        let q = big.checked_div(&U512::from_u128(u128::from(c))).unwrap();
        prop_assert_eq!(q.to_u128(), Some(prod / u128::from(c)));
        prop_assert_eq!(big >= q, true);
    }
}
