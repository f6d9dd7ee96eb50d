//! L1 hit latency (target ≤ 100 ns): `cargo bench -p cache`. `l1_hit` is
//! the bare map read; `l1_hit_counted` the path a relay takes
//! (`get_or_load` with its `cache_hits_total` counter).

use std::time::Duration;

use cache::Tier;
use criterion::{Criterion, criterion_group, criterion_main};
use futures::FutureExt;

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

    let metrics = cache::Metrics::detached();
    let counted: Tier<(String, i64), u64> =
        Tier::counted(metrics.hits.with_label_values(&["l1", "cupr"]));
    for i in 0..10_000 {
        counted.put(
            (format!("service-{i}"), 100),
            i as u64,
            Duration::from_secs(3600),
        );
    }
    c.bench_function("l1_hit_counted", |b| {
        b.iter(|| {
            let hit = counted
                .get_or_load(std::hint::black_box(&key), || async {
                    Err::<(u64, Duration), ()>(())
                })
                .now_or_never();
            std::hint::black_box(hit)
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).sample_size(20);
    targets = l1_hit
}
criterion_main!(benches);
