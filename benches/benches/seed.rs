//! The talk's phase-2 table: one decision (match + pick) against the naive baseline (the
//! reference interpreter scanning frontends in priority order), in one group so both figures
//! come from the same run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use splitway::config::{Config, Format};
use splitway::{RequestView, Router, reference};

const PHASE2: &str = include_str!("../../examples/config/phase2.yaml");

/// A realistic Cookie header: five cookies, about 200 bytes.
const COOKIE: &str = "_ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; \
     session_id=3f9a1c2b7e6d4f5a8b9c0d1e2f3a4b5c; locale=pt-BR; _AUSER_TYPE=canary";

fn seed(c: &mut Criterion) {
    let config = Config::from_str(PHASE2, Format::Yaml, "phase2.yaml")
        .expect("phase 2 loads")
        .config;
    let router = Router::from_config(&config).expect("compiles");
    let ordered = reference::ordered(&config);
    let canary = http::Request::get("/deals/42?tab=notes")
        .header("host", "web.agendor.com.br")
        .header("cookie", COOKIE)
        .body(())
        .expect("request");

    let mut group = c.benchmark_group("seed_phase2");
    group.bench_function("router_route", |b| {
        b.iter(|| {
            let view = RequestView::from_request(black_box(&canary), None);
            black_box(router.route(&view).status())
        })
    });
    group.bench_function("reference_match_only", |b| {
        b.iter(|| {
            let view = RequestView::from_request(black_box(&canary), None);
            black_box(reference::route(&ordered, &view).map(|f| f.priority))
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = seed
}
criterion_main!(benches);
