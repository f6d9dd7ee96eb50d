//! Property tests: order independence against a naive model of smst.md §4,
//! proofs on random tries, and the gob decoder on arbitrary bytes.

use std::collections::HashMap;

use proptest::prelude::*;
use smst::{
    CompactClosestProof, Digest, Leaf, LeafSet, LeafStore, Path, SealedTrie, Trie, inner_digest,
    leaf_digest, verify_proof_bytes,
};

fn bit(p: &Path, i: usize) -> u8 {
    (p[i / 8] >> (7 - i % 8)) & 1
}

/// smst.md §4 written as literally as possible.
fn naive_digest(leaves: &[(Path, Digest)], d: usize) -> Digest {
    match leaves {
        [] => Digest::ZERO,
        [(_, only)] => *only,
        _ => {
            let (l, r): (Vec<_>, Vec<_>) = leaves.iter().partition(|(p, _)| bit(p, d) == 0);
            inner_digest(&naive_digest(&l, d + 1), &naive_digest(&r, d + 1))
        }
    }
}

type Model = HashMap<Path, (Vec<u8>, u64)>;

fn naive_root(model: &Model) -> Digest {
    let leaves: Vec<(Path, Digest)> = model
        .iter()
        .map(|(p, (v, w))| (*p, leaf_digest(p, v, *w)))
        .collect();
    naive_digest(&leaves, 0)
}

/// Paths sharing long prefixes with a common base, so extension chains,
/// deep leaves and splits inside chains are frequent.
fn clustered_path(base: [u8; 32], rand: [u8; 32], keep: usize) -> Path {
    let mut p = rand;
    for i in 0..keep.min(256) {
        let mask = 0x80u8 >> (i % 8);
        p[i / 8] = (p[i / 8] & !mask) | (base[i / 8] & mask);
    }
    p
}

#[derive(Clone, Debug)]
enum Op {
    Put(Path, Vec<u8>, u64),
    Delete(Path),
}

fn ops_strategy(max: usize) -> impl Strategy<Value = Vec<Op>> {
    let keep = prop_oneof![0usize..8, 0usize..256, 240usize..256];
    let weight = prop_oneof![0u64..1000, any::<u64>()];
    let put = (
        any::<[u8; 32]>(),
        keep,
        prop::collection::vec(any::<u8>(), 0..24),
        weight,
    );
    (
        any::<[u8; 32]>(),
        prop::collection::vec((put, any::<bool>(), any::<prop::sample::Index>()), 0..max),
    )
        .prop_map(|(base, items)| {
            let mut ops: Vec<Op> = Vec::new();
            let mut known: Vec<Path> = Vec::new();
            for ((rand, keep, value, weight), delete, pick) in items {
                // A quarter deletes (of a known path, possibly already deleted),
                // the rest puts, some of them to known paths.
                if delete && !known.is_empty() && rand[0] < 64 {
                    ops.push(Op::Delete(known[pick.index(known.len())]));
                } else {
                    let path = if !known.is_empty() && rand[1] < 40 {
                        known[pick.index(known.len())]
                    } else {
                        clustered_path(base, rand, keep)
                    };
                    known.push(path);
                    ops.push(Op::Put(path, value, weight));
                }
            }
            ops
        })
}

fn apply(ops: &[Op], trie: &mut Trie, set: &mut LeafSet, model: &mut Model) {
    for op in ops {
        match op {
            Op::Put(p, v, w) => {
                trie.update_path(*p, v, *w);
                set.put_many(&[Leaf {
                    path: *p,
                    value: v.clone(),
                    weight: *w,
                }])
                .expect("memory store");
                model.insert(*p, (v.clone(), *w));
            }
            Op::Delete(p) => {
                let present = model.remove(p).is_some();
                assert_eq!(trie.delete_path(p).is_ok(), present);
                assert_eq!(set.remove(p).is_ok(), present);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// (a) The root depends only on the final set of leaves: every
    /// implementation, in every insertion order, equals the naive model.
    #[test]
    fn root_is_order_independent_and_matches_model(ops in ops_strategy(48), seed in any::<u64>()) {
        let (mut trie, mut set, mut model) = (Trie::new(), LeafSet::new(), Model::new());
        apply(&ops, &mut trie, &mut set, &mut model);
        let want = naive_root(&model);
        prop_assert_eq!(trie.root(), want);
        prop_assert_eq!(SealedTrie::from_store(&set).expect("unique").root(), want);
        prop_assert_eq!(want.count() as usize, model.len());

        // Final set inserted fresh in a pseudo-random order.
        let mut leaves: Vec<(Path, (Vec<u8>, u64))> = model.into_iter().collect();
        leaves.sort_by_key(|(p, _)| {
            let mut x = u64::from_be_bytes(p[..8].try_into().expect("8 bytes")) ^ seed;
            x ^= x >> 29;
            x.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        });
        let mut fresh = Trie::new();
        for (p, (v, w)) in &leaves {
            fresh.update_path(*p, v, *w);
        }
        prop_assert_eq!(fresh.root(), want);
    }

    /// (b) Closest proofs on random tries verify through the gob pipeline;
    /// insert-only tries give byte-identical proofs from both
    /// implementations; tampering with any bound field is rejected.
    #[test]
    fn closest_proofs_verify_and_tampering_fails(
        ops in ops_strategy(40),
        query in any::<[u8; 32]>(),
        insert_only in any::<bool>(),
        which in any::<prop::sample::Index>(),
        bitpos in any::<prop::sample::Index>(),
    ) {
        let ops: Vec<Op> = if insert_only {
            ops.into_iter().filter(|o| matches!(o, Op::Put(..))).collect()
        } else {
            ops
        };
        let (mut trie, mut set, mut model) = (Trie::new(), LeafSet::new(), Model::new());
        apply(&ops, &mut trie, &mut set, &mut model);
        let root = trie.root();
        let sealed = SealedTrie::from_store(&set).expect("unique");

        let proof = trie.prove_closest(&query);
        let bulk = sealed.prove_closest(&query, &set).expect("values present");
        let bytes = proof.compact().expect("compacts").to_gob();
        let bulk_bytes = bulk.compact().expect("compacts").to_gob();
        if insert_only {
            prop_assert_eq!(&bulk_bytes, &bytes);
        }
        for b in [&bytes, &bulk_bytes] {
            let decoded = verify_proof_bytes(b, &root.0).expect("own proof verifies");
            prop_assert_eq!(decoded.closest_path.len(), if model.is_empty() { 48 } else { 32 });
        }
        if model.is_empty() {
            return Ok(());
        }
        // The proven leaf is in the model and is the closest one.
        let leaf: Path = proof.closest_path.clone().try_into().expect("32 bytes");
        prop_assert!(model.contains_key(&leaf));

        // Tamper with the value, the weight, a side node, the closest path, the root.
        let mut t = proof.clone();
        let n = t.closest_value_hash.len();
        t.closest_value_hash[bitpos.index(n)] ^= 1;
        prop_assert!(t.verify(&root.0).is_err());

        let mut t = proof.clone();
        t.closest_value_hash[n - 9] ^= 1; // weight's low byte
        prop_assert!(t.verify(&root.0).is_err());

        let real: Vec<usize> = (0..proof.side_nodes.len())
            .filter(|&i| proof.side_nodes[i] != Digest::ZERO.0)
            .collect();
        if !real.is_empty() {
            let mut t = proof.clone();
            let i = real[which.index(real.len())];
            t.side_nodes[i][bitpos.index(48)] ^= 0x80;
            prop_assert!(t.verify(&root.0).is_err());
        }

        let mut t = proof.clone();
        let i = bitpos.index(256);
        t.closest_path[i / 8] ^= 0x80 >> (i % 8);
        prop_assert!(t.verify(&root.0).is_err());

        let mut bad_root = root.0;
        bad_root[bitpos.index(48)] ^= 1;
        prop_assert!(verify_proof_bytes(&bytes, &bad_root).is_err());
    }

    /// (c) Decoding arbitrary bytes never panics, nor does the rest of the
    /// pipeline on whatever decodes.
    #[test]
    fn gob_decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(c) = CompactClosestProof::from_gob(&bytes)
            && let Ok(p) = c.decompact()
        {
            let _ = p.verify(&[0u8; 48]);
        }
    }

    /// (c') Mutations of a valid proof reach deeper into the decoder and the
    /// verifier; they must fail cleanly or verify, never panic.
    #[test]
    fn mutated_proofs_never_panic(
        ops in ops_strategy(12),
        query in any::<[u8; 32]>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..6),
    ) {
        let (mut trie, mut set, mut model) = (Trie::new(), LeafSet::new(), Model::new());
        apply(&ops, &mut trie, &mut set, &mut model);
        let root = trie.root();
        let mut bytes = trie.prove_closest(&query).compact().expect("compacts").to_gob();
        for (at, byte, kind) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = byte,
                1 => bytes[i] ^= 1 << (byte % 8),
                2 => bytes.truncate(i),
                _ => bytes.insert(i, byte),
            }
        }
        let _ = verify_proof_bytes(&bytes, &root.0);
    }
}
