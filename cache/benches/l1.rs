//! L1 hit latency (target ≤ 100 ns): `cargo bench -p cache`.

use std::time::Duration;

use cache::Tier;
use criterion::{Criterion, criterion_group, criterion_main};

fn l1_hit(c: &mut Criterion) {
    let tier: Tier<(String, i64), u64> = Tier::default();
    for i in 0..10_000 {
        tier.put(
            (format!("service-{i}"), 100),
            i as u64,
            Duration::from_secs(3600),
        );
    }
    let key = ("service-4242".to_owned(), 100);
    c.bench_function("l1_hit", |b| {
        b.iter(|| std::hint::black_box(tier.get(std::hint::black_box(&key))))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).sample_size(20);
    targets = l1_hit
}
criterion_main!(benches);
