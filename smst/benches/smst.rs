//! Benchmarks of the hot paths: bulk root, incremental updates, ingest
//! hashing, closest proofs on large tries, gob encode/decode, verification.
//!
//! `cargo bench -p smst` (short runs: 10 samples, 3 s measurement).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use smst::{
    CompactClosestProof, Error, Leaf, LeafEntry, LeafStore, Path, SealedTrie, Trie, sha256,
    verify_proof_bytes,
};

/// Size of a synthetic relay (a dehydrated relay is about this size).
const RELAY_LEN: usize = 1024;
const WEIGHT: u64 = 100;

/// A read-only leaf store whose values are derived from the path, so a
/// million-leaf trie needs no value storage in the benchmark.
struct DerivedStore;

fn value_for(path: &Path) -> Vec<u8> {
    path.iter().copied().cycle().take(RELAY_LEN).collect()
}

fn path_of(i: u64) -> Path {
    sha256(&i.to_be_bytes())
}

fn entries(n: u64) -> Vec<LeafEntry> {
    (0..n)
        .map(|i| {
            let path = path_of(i);
            LeafEntry {
                path,
                leaf_hash: smst::leaf_hash(&path, &value_for(&path), WEIGHT),
                weight: WEIGHT,
                seq: i,
            }
        })
        .collect()
}

impl LeafStore for DerivedStore {
    fn put_many(&mut self, _: &[Leaf]) -> Result<(), Error> {
        Ok(())
    }
    fn remove_many(&mut self, paths: &[Path]) -> Result<Vec<bool>, Error> {
        Ok(vec![false; paths.len()])
    }
    fn entries(&self) -> Result<Vec<LeafEntry>, Error> {
        Ok(Vec::new())
    }
    fn get_values(&self, paths: &[Path]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        Ok(paths.iter().map(|p| Some(value_for(p))).collect())
    }
}

fn sizes() -> Vec<u64> {
    match std::env::var("SMST_BENCH_MAX") {
        Ok(v) => [10_000u64, 100_000, 1_000_000]
            .into_iter()
            .filter(|n| *n <= v.parse().unwrap_or(1_000_000))
            .collect(),
        Err(_) => vec![10_000, 100_000, 1_000_000],
    }
}

fn bulk_root(c: &mut Criterion) {
    let mut g = c.benchmark_group("bulk_root");
    for n in sizes() {
        let e = entries(n);
        let t = SealedTrie::from_entries(e.clone()).expect("unique");
        eprintln!(
            "bulk_root/{n}: SealedTrie keeps {:.1} MB ({:.0} B/leaf)",
            t.heap_bytes() as f64 / 1e6,
            t.heap_bytes() as f64 / n as f64
        );
        drop(t);
        g.throughput(Throughput::Elements(n));
        g.bench_with_input(BenchmarkId::from_parameter(n), &e, |b, e| {
            b.iter_batched(
                || e.clone(),
                |e| SealedTrie::from_entries(e).expect("unique").root(),
                BatchSize::LargeInput,
            );
        });
    }
    g.finish();
}

fn incremental(c: &mut Criterion) {
    let mut g = c.benchmark_group("incremental");
    // Ingest CPU per relay: path and leaf hash of a 1 KiB relay.
    let relay = vec![7u8; RELAY_LEN];
    g.throughput(Throughput::Elements(1));
    g.bench_function("leaf_entry_1KiB_relay", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            let key = sha256(&i.to_be_bytes());
            Leaf::new(&key, relay.clone(), WEIGHT).entry(i)
        });
    });
    // Go-structured trie: updates into a 100k-leaf trie, root kept current.
    let n = 100_000u64;
    let mut trie = Trie::new();
    for i in 0..n {
        trie.update_path(path_of(i), &relay[..64], WEIGHT);
    }
    let batch = 1_000u64;
    g.throughput(Throughput::Elements(batch));
    g.bench_function("trie_update_into_100k", |b| {
        let mut next = n;
        b.iter(|| {
            for _ in 0..batch {
                trie.update_path(path_of(next), &relay[..64], WEIGHT);
                next += 1;
            }
            black_box(trie.root())
        });
    });
    g.finish();
}

fn closest_proof(c: &mut Criterion) {
    let mut g = c.benchmark_group("closest_proof");
    for n in sizes().into_iter().filter(|n| *n >= 100_000) {
        let t = SealedTrie::from_entries(entries(n)).expect("unique");
        let mut q = 0u64;
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                q += 1;
                let path = sha256(&(u64::MAX - q).to_be_bytes());
                t.prove_closest(&path, &DerivedStore).expect("values")
            });
        });
    }
    g.finish();
}

fn encode_verify(c: &mut Criterion) {
    let mut g = c.benchmark_group("proof_bytes");
    let n = 100_000;
    let t = SealedTrie::from_entries(entries(n)).expect("unique");
    let root = t.root();
    let proof = t
        .prove_closest(&sha256(b"query"), &DerivedStore)
        .expect("values");
    let compact = proof.compact().expect("compacts");
    let bytes = compact.to_gob();
    eprintln!(
        "proof_bytes: depth {}, {} gob bytes",
        proof.depth,
        bytes.len()
    );
    g.bench_function("compact_and_gob_encode", |b| {
        b.iter(|| proof.compact().expect("compacts").to_gob());
    });
    g.bench_function("gob_decode", |b| {
        b.iter(|| CompactClosestProof::from_gob(black_box(&bytes)).expect("decodes"));
    });
    g.bench_function("decode_decompact_verify", |b| {
        b.iter(|| verify_proof_bytes(black_box(&bytes), &root.0).expect("verifies"));
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bulk_root, incremental, closest_proof, encode_verify
}
criterion_main!(benches);
