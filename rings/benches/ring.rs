//! Hot paths of the relayer: ring-signature verification of a request (ring of
//! 2, from wire bytes), ring signing (the `relay` client), and supplier response
//! signing and verification.
//!
//! Targets (DESIGN.md §7, this 2-core machine): ring verify ≤ 350 µs/op,
//! ≤ 280 µs/op with a warm per-key cache; ring-go takes 1,076 µs.
//!
//! Run: `cargo bench -p rings`

use std::{hint::black_box, time::Duration};

use criterion::{Criterion, criterion_group, criterion_main};
use rings::{KeyCache, PrivateKey, RingSignature, verify_response, verify_ring_signature};

fn key(hex32: &str) -> PrivateKey {
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex32[2 * i..2 * i + 2], 16).expect("hex");
    }
    PrivateKey::from_bytes(&bytes).expect("valid key")
}

fn benches(c: &mut Criterion) {
    // The example keys of signatures.md §5.
    let app = key("2d00ef074d9b51e46886dc9a1df11e7b986611d0f336bdcf1f0adce3e037ec0a");
    let gateway = key("1a11ef074d9b51e46886dc9a1df11e7b986611d0f336bdcf1f0adce3e037ab11");
    let supplier = key("64058c775d6a3606abe563287d478120e03e19f654f019ec9c2b1b9d41697584");
    let ring = [app.public_key(), gateway.public_key()];
    let msg = [0x30u8; 32];
    let wire = RingSignature::sign(&msg, &ring, &gateway)
        .expect("signs")
        .to_bytes();

    let mut group = c.benchmark_group("ring_of_2");
    group.bench_function("verify_from_wire_no_cache", |b| {
        b.iter(|| {
            let sig = RingSignature::from_bytes(black_box(&wire)).expect("decodes");
            sig.check_membership(&ring).expect("members");
            sig.verify(black_box(&msg)).expect("verifies");
        });
    });
    group.bench_function("verify_from_wire_one_shot_no_cache", |b| {
        b.iter(|| verify_ring_signature(black_box(&wire), black_box(&msg), &ring, None));
    });
    let cache = KeyCache::default();
    for member in &ring {
        cache.prepare(member).expect("valid key");
    }
    group.bench_function("verify_from_wire_warm_cache", |b| {
        b.iter(|| verify_ring_signature(black_box(&wire), black_box(&msg), &ring, Some(&cache)));
    });
    group.bench_function("sign", |b| {
        b.iter(|| RingSignature::sign(black_box(&msg), &ring, &gateway).expect("signs"));
    });
    group.finish();

    let response_msg = [0x4au8; 32];
    let response_sig = supplier.sign_response(&response_msg).expect("signs");
    let supplier_pub = supplier.public_key();
    let mut group = c.benchmark_group("supplier");
    group.bench_function("sign_response", |b| {
        b.iter(|| supplier.sign_response(black_box(&response_msg)));
    });
    group.bench_function("verify_response", |b| {
        b.iter(|| {
            verify_response(
                &supplier_pub,
                black_box(&response_msg),
                black_box(&response_sig),
            )
        });
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = ring;
    config = config();
    targets = benches
}
criterion_main!(ring);
