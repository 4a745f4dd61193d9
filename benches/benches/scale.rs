//! Decision time as the table grows: four shapes of table at 10, 100, 1,000 and 10,000
//! frontends, each beside the naive baseline (the reference interpreter scanning frontends in
//! priority order) in the same group, so that both figures come from the same run.
//!
//! `splitway/N` is a whole decision (`Router::route`: match and pick); `reference/N` is the
//! baseline's match only (it has no pick), which flatters the baseline slightly.
//!
//! Run one shape with `cargo bench -p splitway-benches --bench scale -- a_seed_hosts`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use splitway::{RequestView, Router, reference};
use splitway_benches::{SIZES, Shape};

fn scale(c: &mut Criterion) {
    for shape in Shape::ALL {
        let mut group = c.benchmark_group(shape.name());
        for n in SIZES {
            let config = shape.config(n);
            let router = Router::from_config(&config).unwrap();
            let ordered = reference::ordered(&config);
            let (req, ip) = shape.request(n);
            // Both sides must agree on the route, or the comparison means nothing.
            let view = RequestView::from_request(&req, ip);
            let expected = reference::route(&ordered, &view).map(|f| f.name.as_str());
            assert!(
                expected.is_some(),
                "{} {n}: the request must route",
                shape.name()
            );
            assert_eq!(
                router.route(&view).route(),
                expected,
                "{} {n}",
                shape.name()
            );

            group.bench_with_input(BenchmarkId::new("splitway", n), &n, |b, _| {
                b.iter(|| {
                    let view = RequestView::from_request(black_box(&req), ip);
                    black_box(router.route(&view).status())
                })
            });
            group.bench_with_input(BenchmarkId::new("reference", n), &n, |b, _| {
                b.iter(|| {
                    let view = RequestView::from_request(black_box(&req), ip);
                    black_box(reference::route(&ordered, &view).map(|f| f.priority))
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = scale
}
criterion_main!(benches);
