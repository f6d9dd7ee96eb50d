//! Conformance with the Go-produced vectors in `shared/vectors/smst.json`
//! (pokt-network/smt v0.14.1) and the worked examples of smst.md §9.

use std::collections::HashMap;

use serde_json::Value;
use smst::{
    ClosestProof, CompactClosestProof, Digest, Error, Leaf, LeafSet, LeafStore, Path, ProofStage,
    SealedTrie, Trie, leaf_digest, path_for_key, path_for_proof, verify_proof_bytes,
};

const SMST_JSON: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/smst.json"
);
const RESPONSES_JSON: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/relay_responses.json"
);

fn load(path: &str) -> Value {
    let text = std::fs::read_to_string(path).expect("vector file readable");
    serde_json::from_str(&text).expect("vector file is JSON")
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

fn path32(v: &Value) -> Path {
    h(v).try_into().expect("32-byte path")
}

fn u(v: &Value) -> u64 {
    v.as_u64().expect("unsigned number")
}

/// The two implementations replaying the operation sequence side by side.
struct Replay {
    trie: Trie,
    set: LeafSet,
}

impl Replay {
    fn new() -> Self {
        Replay {
            trie: Trie::new(),
            set: LeafSet::new(),
        }
    }

    /// Applies one operation; returns the delete error if any.
    fn apply(&mut self, op: &Value) -> Option<Error> {
        let key = h(&op["key_hex"]);
        let path = path32(&op["path_hex"]);
        assert_eq!(
            path_for_key(&key),
            path,
            "op {}: path = sha256(key)",
            op["index"]
        );
        match op["op"].as_str() {
            Some("update") => {
                let value = h(&op["value_hex"]);
                let weight = u(&op["weight"]);
                self.trie.update(&key, &value, weight);
                self.set
                    .put_many(&[Leaf::new(&key, value, weight)])
                    .expect("memory store");
                None
            }
            Some("delete") => {
                let a = self.trie.delete(&key).err();
                let b = self.set.remove(&path).err();
                assert_eq!(a.is_some(), b.is_some(), "op {}", op["index"]);
                a
            }
            other => panic!("unknown op {other:?}"),
        }
    }
}

#[test]
fn all_operations_reproduce_root_sum_and_count() {
    let v = load(SMST_JSON);
    assert_eq!(h(&v["empty_root_hex"]), Digest::ZERO.0.to_vec());
    let ops = v["operations"].as_array().expect("operations");
    assert_eq!(ops.len(), 240);
    let mut r = Replay::new();
    let (mut deletes, mut absent) = (0, 0);
    for op in ops {
        let before = r.trie.root();
        let err = r.apply(op);
        let want = h(&op["root_hex"]);
        let idx = &op["index"];
        assert_eq!(r.trie.root().0.to_vec(), want, "op {idx}: incremental root");
        let sealed = SealedTrie::from_store(&r.set).expect("unique paths");
        assert_eq!(sealed.root().0.to_vec(), want, "op {idx}: bulk root");
        assert_eq!(r.trie.root().sum(), u(&op["sum"]), "op {idx}: sum");
        assert_eq!(r.trie.root().count(), u(&op["count"]), "op {idx}: count");
        assert_eq!(sealed.len() as u64, u(&op["count"]), "op {idx}: leaves");
        if op["op"] == "delete" {
            deletes += 1;
        }
        match (&op["error"], err) {
            (Value::String(msg), Some(Error::KeyNotFound { path })) => {
                assert_eq!(msg, "key not found");
                assert_eq!(path.to_vec(), h(&op["path_hex"]));
                assert_eq!(
                    r.trie.root(),
                    before,
                    "op {idx}: failed delete changes nothing"
                );
                absent += 1;
            }
            (Value::Null, None) => {}
            (want, got) => panic!("op {idx}: error {want:?}, got {got:?}"),
        }
    }
    assert_eq!((deletes, absent), (53, 10));
    let last = ops.last().expect("non-empty");
    assert_eq!(u(&last["count"]), 95);
    assert_eq!(u(&last["sum"]), 3_298_535_129_930);
}

/// Every proof, at the state after its `after_op_index`.
fn proofs_by_state(v: &Value) -> Vec<(Value, Replay)> {
    let mut by_index: HashMap<i64, Vec<Value>> = HashMap::new();
    for p in v["proofs"].as_array().expect("proofs") {
        by_index
            .entry(p["after_op_index"].as_i64().expect("index"))
            .or_default()
            .push(p.clone());
    }
    let mut out = Vec::new();
    let mut r = Replay::new();
    let snapshot = |r: &Replay| Replay {
        trie: r.trie.clone(),
        set: r.set.clone(),
    };
    for p in by_index.remove(&-1).unwrap_or_default() {
        out.push((p, snapshot(&r)));
    }
    for op in v["operations"].as_array().expect("operations") {
        r.apply(op);
        let idx = op["index"].as_i64().expect("index");
        for p in by_index.remove(&idx).unwrap_or_default() {
            out.push((p, snapshot(&r)));
        }
    }
    assert!(by_index.is_empty());
    out
}

fn check_compact_fields(id: &str, c: &CompactClosestProof, want: &Value) {
    assert_eq!(c.path, h(&want["path_hex"]), "{id}");
    let flipped: Vec<Vec<u8>> = want["flipped_bits_hex"]
        .as_array()
        .expect("array")
        .iter()
        .map(h)
        .collect();
    assert_eq!(c.flipped_bits, flipped, "{id}");
    assert_eq!(c.depth, h(&want["depth_hex"]), "{id}");
    assert_eq!(c.closest_path, h(&want["closest_path_hex"]), "{id}");
    assert_eq!(
        c.closest_value_hash,
        h(&want["closest_value_hash_hex"]),
        "{id}"
    );
    let inner = c.closest_proof.as_ref().expect("closest proof present");
    let w = &want["closest_proof"];
    let sides: Vec<Vec<u8>> = w["side_nodes_hex"]
        .as_array()
        .expect("array")
        .iter()
        .map(h)
        .collect();
    assert_eq!(inner.side_nodes, sides, "{id}");
    assert_eq!(
        inner.non_membership_leaf_data,
        h(&w["non_membership_leaf_data_hex"]),
        "{id}"
    );
    assert_eq!(inner.bit_mask, h(&w["bit_mask_hex"]), "{id}");
    assert_eq!(
        inner.num_side_nodes,
        w["num_side_nodes"].as_i64().expect("int")
    );
    assert_eq!(inner.sibling_data, h(&w["sibling_data_hex"]), "{id}");
}

fn check_decompacted_fields(id: &str, p: &ClosestProof, want: &Value) {
    let flipped: Vec<usize> = want["flipped_bits"]
        .as_array()
        .expect("array")
        .iter()
        .map(|x| u(x) as usize)
        .collect();
    assert_eq!(p.flipped_bits, flipped, "{id}");
    assert_eq!(p.depth as u64, u(&want["depth"]), "{id}");
    let sides: Vec<Vec<u8>> = want["side_nodes_hex"]
        .as_array()
        .expect("array")
        .iter()
        .map(h)
        .collect();
    assert_eq!(p.side_nodes, sides, "{id}");
}

#[test]
fn all_proofs_match_go_byte_for_byte() {
    let v = load(SMST_JSON);
    let cases = proofs_by_state(&v);
    assert_eq!(cases.len(), 37);
    let mut sealed_identical = Vec::new();
    for (p, state) in &cases {
        let id = p["id"].as_str().expect("id");
        let bytes = h(&p["proof_bytes_hex"]);
        let root = h(&p["root_hex"]);
        let path = path32(&p["path_hex"]);
        assert_eq!(p["expected_valid"], true);
        assert_eq!(state.trie.root().0.to_vec(), root, "{id}: state root");

        // Go-structured incremental trie: identical bytes for every proof.
        let proof = state.trie.prove_closest(&path);
        let compact = proof.compact().expect("own proof compacts");
        check_compact_fields(id, &compact, &p["compact"]);
        check_decompacted_fields(id, &proof, &p["decompacted"]);
        assert_eq!(
            hex::encode(compact.to_gob()),
            hex::encode(&bytes),
            "{id}: gob"
        );

        // Closest leaf as recorded.
        assert_eq!(
            proof.closest_value().unwrap_or_default(),
            h(&p["closest_value_hex"]).as_slice(),
            "{id}"
        );
        assert_eq!(
            proof.closest_weight().unwrap_or(0),
            u(&p["closest_weight"]),
            "{id}"
        );
        if let Some(key) = p["closest_key_hex"].as_str().filter(|k| !k.is_empty()) {
            let key = hex::decode(key).expect("hex");
            assert_eq!(path_for_key(&key).to_vec(), proof.closest_path, "{id}");
        }

        // Decode Go's bytes, decompact, verify; re-encode identically.
        let decoded = CompactClosestProof::from_gob(&bytes).expect("Go bytes decode");
        assert_eq!(decoded, compact, "{id}: decoded == built");
        assert_eq!(decoded.to_gob(), bytes, "{id}: re-encode");
        let logical = decoded.decompact().expect("decompacts");
        assert_eq!(logical, proof, "{id}: decompacted == built");
        logical.verify(&root).expect("verifies");
        assert_eq!(verify_proof_bytes(&bytes, &root).expect("pipeline"), proof);

        // Bulk trie from the leaf set: same proof up to SiblingData bytes the
        // verifier does not bind (only after deletes).
        let sealed = SealedTrie::from_store(&state.set).expect("unique paths");
        let sp = sealed
            .prove_closest(&path, &state.set)
            .expect("values present");
        let mut sp_cmp = sp.clone();
        sp_cmp.sibling_data.clone_from(&proof.sibling_data);
        assert_eq!(sp_cmp, proof, "{id}: bulk proof");
        sp.verify(&root).expect("bulk proof verifies");
        if sp.sibling_data == proof.sibling_data {
            assert_eq!(sp.compact().expect("compacts").to_gob(), bytes, "{id}");
            sealed_identical.push(id.to_owned());
        }

        if let Some(der) = p.get("path_derivation").filter(|d| !d.is_null()) {
            let block_hash = h(&der["block_hash_hex"]);
            let session = der["session_id"].as_str().expect("session id");
            assert_eq!(
                path_for_proof(&block_hash, session),
                path,
                "{id}: derivation"
            );
        }
    }
    // The one case smst.md §9.0 lists: Go kept an inner node with a
    // placeholder child after deletes where the bulk trie has an extension.
    let differing: Vec<&str> = cases
        .iter()
        .map(|(p, _)| p["id"].as_str().expect("id"))
        .filter(|id| !sealed_identical.iter().any(|s| s == id))
        .collect();
    assert_eq!(differing, vec!["final-derived-3"]);
}

#[test]
fn path_for_proof_derivations() {
    let v = load(SMST_JSON);
    let list = v["path_for_proof"].as_array().expect("array");
    assert_eq!(list.len(), 4);
    for e in list {
        let block_hash = h(&e["block_hash_hex"]);
        let session = e["session_id"].as_str().expect("session id");
        assert_eq!(path_for_proof(&block_hash, session), path32(&e["path_hex"]));
    }
}

#[test]
fn tampered_proofs_are_rejected_at_the_recorded_stage() {
    let v = load(SMST_JSON);
    let tampered = v["tampered_proofs"].as_array().expect("array");
    assert_eq!(tampered.len(), 11);
    for t in tampered {
        let id = t["id"].as_str().expect("id");
        assert_eq!(t["expected_valid"], false);
        let want = match t["stage"].as_str() {
            Some("unmarshal") => ProofStage::Unmarshal,
            Some("decompact") => ProofStage::Decompact,
            Some("verify_error") => ProofStage::VerifyError,
            Some("verify") => ProofStage::Verify,
            other => panic!("{id}: unknown stage {other:?}"),
        };
        let err = verify_proof_bytes(&h(&t["proof_bytes_hex"]), &h(&t["root_hex"]))
            .expect_err("tampered proof must fail");
        assert_eq!(err.proof_stage(), Some(want), "{id}: {err}");
    }
}

#[test]
fn edge_proof_beyond_depth_verifies_but_path_differs() {
    let v = load(SMST_JSON);
    let edges = v["edge_proofs"].as_array().expect("array");
    assert_eq!(edges.len(), 1);
    let e = &edges[0];
    assert_eq!(e["expected_valid"], true);
    let proof = verify_proof_bytes(&h(&e["proof_bytes_hex"]), &h(&e["root_hex"]))
        .expect("bits beyond the depth are not bound by VerifyClosestProof");
    let base = v["proofs"]
        .as_array()
        .expect("array")
        .iter()
        .find(|p| p["id"] == e["base_id"])
        .expect("base proof");
    // The caller's separate check (smst.md §8 step 16) is what rejects it.
    let base_path = h(&base["path_hex"]);
    assert_ne!(proof.path, base_path);
    let diff: Vec<usize> = (0..256)
        .filter(|&i| (proof.path[i / 8] ^ base_path[i / 8]) & (0x80 >> (i % 8)) != 0)
        .collect();
    assert_eq!(diff, vec![255]);
}

/// smst.md §9.1: two toy leaves, one flipped bit.
#[test]
fn worked_vector_two_toy_leaves() {
    let a = b"relay-A".to_vec();
    let b = b"relay-B".to_vec();
    let key_a = smst::sha256(&a);
    let key_b = smst::sha256(&b);
    assert_eq!(
        hex::encode(key_a),
        "efd13f60d5519e1be745495eb2a21c4b76ec280a9d8a94113ca164b8a6dbfe0c"
    );
    assert_eq!(
        hex::encode(key_b),
        "e7d476adfe8acbfef75d49d535453d38394507723081885bf835cfe31d59b7b5"
    );
    let pa = path_for_key(&key_a);
    let pb = path_for_key(&key_b);
    assert_eq!(
        hex::encode(pa),
        "3414e397468fe33bd45fb82303e7003d78df8212d49ab5064bec1860b4892d21"
    );
    assert_eq!(
        hex::encode(pb),
        "5d00a270e95d06e4cf59d1c5fa1862d91af82284e73187fe5d519371e3925342"
    );
    let da = leaf_digest(&pa, &a, 100);
    let db = leaf_digest(&pb, &b, 100);
    assert_eq!(
        da.to_string(),
        "beaa848535ef075455d6fd49fd8834b7222a7e36e6c5e2f5ae132b2d1fc55c9c00000000000000640000000000000001"
    );
    assert_eq!(
        db.to_string(),
        "6bdebc3fc8f77a450493402213b6da7d6ca09e87746ad5e84830147399a2191700000000000000640000000000000001"
    );
    let inner1 = smst::inner_digest(&da, &db);
    assert_eq!(
        inner1.to_string(),
        "dc40dd8523e86c9b0a301d449760a62ce6b73a86c91a91057054499c4e17193800000000000000c80000000000000002"
    );
    let root_hex = "c5922c798612b2efb6f5004a6351b191ead33d3fc08d5b553d68d22d0c4fa39e00000000000000c80000000000000002";
    assert_eq!(
        smst::inner_digest(&inner1, &Digest::ZERO).to_string(),
        root_hex
    );

    let mut trie = Trie::new();
    trie.update(&key_a, &a, 100);
    trie.update(&key_b, &b, 100);
    let mut set = LeafSet::new();
    set.put_many(&[Leaf::new(&key_a, a.clone(), 100), Leaf::new(&key_b, b, 100)])
        .expect("memory store");
    let sealed = SealedTrie::from_store(&set).expect("unique");
    assert_eq!(trie.root().to_string(), root_hex);
    assert_eq!(sealed.root().to_string(), root_hex);
    assert_eq!((trie.root().sum(), trie.root().count()), (200, 2));

    let seed = smst::sha256(b"example-proof-seed-block");
    assert_eq!(
        hex::encode(seed),
        "a414f77fc751767c26dcdf249a593a674858c07a7535bc864dcdd816bdba3b39"
    );
    let path = path_for_proof(
        &seed,
        "d3f1f4a53c0c67e0d7b7e9c5c2d2b4c9b8a71f0f7f2b1d6e0a9f8e7d6c5b4a39",
    );
    assert_eq!(
        hex::encode(path),
        "f75a7774b3bda008f9577607981b94f40a87147a437641a01707f2ef109787ed"
    );
    let proof = trie.prove_closest(&path);
    assert_eq!(proof, sealed.prove_closest(&path, &set).expect("values"));
    assert_eq!(proof.flipped_bits, vec![0]);
    assert_eq!(proof.depth, 2);
    assert_eq!(proof.closest_path, pb.to_vec());
    assert_eq!(
        proof.side_nodes,
        vec![da.0.to_vec(), Digest::ZERO.0.to_vec()]
    );
    let mut sib = vec![0u8];
    sib.extend_from_slice(&pa);
    sib.extend_from_slice(&smst::leaf_value(&a, 100));
    assert_eq!(proof.sibling_data, sib);
    assert_eq!(sib.len(), 56);
    let compact = proof.compact().expect("compacts");
    let inner = compact.closest_proof.as_ref().expect("inner");
    assert_eq!(inner.num_side_nodes, 2);
    assert_eq!(inner.bit_mask, vec![0x40]);
    assert_eq!(inner.side_nodes, vec![da.0.to_vec()]);
    let gob = compact.to_gob();
    assert_eq!(gob.len(), 507);
    assert_eq!(hex::encode(&gob), TOY_GOB_HEX);
    verify_proof_bytes(&gob, &trie.root().0).expect("verifies");
}

const TOY_GOB_HEX: &str = "ff877f0301011f537061727365436f6d706163744d65726b6c65436c6f7365737450726f6f6601ff80000106010450617468010a00010b466c69707065644269747301ff820001054465707468010a00010b436c6f7365737450617468010a000110436c6f7365737456616c756548617368010a00010c436c6f7365737450726f6f6601ff8400000017ff81020101095b5d5b5d75696e743801ff8200010a00007cff8303010118537061727365436f6d706163744d65726b6c6550726f6f6601ff840001050109536964654e6f64657301ff820001154e6f6e4d656d626572736869704c65616644617461010a0001074269744d61736b010a00010c4e756d536964654e6f646573010400010b5369626c696e6744617461010a000000ffdbff800120f75a7774b3bda008f9577607981b94f40a87147a437641a01707f2ef109787ed0101010001010201205d00a270e95d06e4cf59d1c5fa1862d91af82284e73187fe5d519371e3925342011772656c61792d420000000000000064000000000000000101010130beaa848535ef075455d6fd49fd8834b7222a7e36e6c5e2f5ae132b2d1fc55c9c0000000000000064000000000000000102014001040138003414e397468fe33bd45fb82303e7003d78df8212d49ab5064bec1860b4892d2172656c61792d41000000000000006400000000000000010000";

/// smst.md §9.2: the worked relay of signatures.md §6 in a single-leaf tree.
#[test]
fn worked_vector_single_real_relay() {
    let v = load(RESPONSES_JSON);
    let case = v["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["id"] == "doc-example")
        .expect("doc-example case");
    let relay = h(&case["dehydrated_relay_hex"]);
    assert_eq!(relay.len(), 763);
    let key = smst::sha256(&relay);
    assert_eq!(
        hex::encode(key),
        "1471ba6ab939116ef577aaba32e29b8e04e3b461bf04ef7694a71701a12e96c2"
    );
    assert_eq!(
        hex::encode(path_for_key(&key)),
        "dd6f5d6e431296ffdcae4d6164d0193c5c43bf9c8ff60f8c7445007ba64e7a1b"
    );
    let mut trie = Trie::new();
    trie.update(&key, &relay, 100);
    let root_hex = "a9b7e9ae276e926ba7961ab57ec123551e44e244bd7b0e55e2fe5c5f1bd099e600000000000000640000000000000001";
    assert_eq!(trie.root().to_string(), root_hex);
    for path in [[0u8; 32], [0xff; 32], path_for_key(b"any")] {
        let proof = trie.prove_closest(&path);
        assert_eq!(proof.depth, 0);
        assert!(proof.flipped_bits.is_empty());
        assert!(proof.side_nodes.is_empty());
        assert!(proof.sibling_data.is_empty());
        assert_eq!(proof.closest_value(), Some(relay.as_slice()));
        let compact = proof.compact().expect("compacts");
        let inner = compact.closest_proof.as_ref().expect("inner");
        assert_eq!((inner.num_side_nodes, inner.bit_mask.len()), (0, 0));
        let bytes = compact.to_gob();
        // NumSideNodes and BitMask omitted: ClosestProof is `01 00` (delta 1, end)… then end.
        assert!(bytes.ends_with(&[0x01, 0x00, 0x00]));
        verify_proof_bytes(&bytes, &trie.root().0).expect("verifies");
    }
}
