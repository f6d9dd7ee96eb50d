//! Shared helpers for the conformance tests: load a vector file from
//! `../shared/vectors` (beside the workspace) and decode hex.
#![allow(dead_code)]

use serde_json::Value;

pub fn vectors(name: &str) -> Value {
    let path = format!("{}/../../shared/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

pub fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(
        v.as_str()
            .unwrap_or_else(|| panic!("not a hex string: {v}")),
    )
    .expect("hex")
}

pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// An integer given either as a JSON number or as a decimal string.
pub fn int(v: &Value) -> i128 {
    match v {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or(n.as_u64().map(i128::from))
            .expect("int"),
        Value::String(s) => s.parse().expect("decimal string"),
        _ => panic!("not an integer: {v}"),
    }
}

pub fn header(v: &Value) -> protocol::SessionHeader {
    protocol::SessionHeader {
        application_address: s(&v["application_address"]).to_owned(),
        service_id: s(&v["service_id"]).to_owned(),
        session_id: s(&v["session_id"]).to_owned(),
        session_start_block_height: int(&v["session_start_block_height"]) as i64,
        session_end_block_height: int(&v["session_end_block_height"]) as i64,
    }
}
