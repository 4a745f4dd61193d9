//! Reloads: compile time of 10,000-frontend tables (from a parsed `Config`, the old table's
//! drop not included), and decision latency while another thread
//! swaps tables continuously, beside the quiet latency from the same run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use splitway::config::{Config, Format};
use splitway::{RequestView, Router, Table};
use splitway_benches::{COOKIE, Shape};

const PHASE2: &str = include_str!("../../examples/config/phase2.yaml");

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile_10000");
    group.sample_size(10);
    for shape in Shape::ALL {
        let config = shape.config(10_000);
        group.bench_function(shape.name(), |b| {
            // The table is dropped outside the measurement (in a reload, the last reader of
            // the old table drops it, not the reloading thread).
            b.iter_with_large_drop(|| Table::compile(black_box(&config)).unwrap())
        });
    }
    group.finish();
}

fn swaps(c: &mut Criterion) {
    let phase2 = Config::from_str(PHASE2, Format::Yaml, "phase2.yaml")
        .unwrap()
        .config;
    // The seed's table, and shape (a) at 10,000 frontends (a reload of it takes milliseconds,
    // so its swaps are rarer but each one drops a big table).
    let cases = [
        ("seed_phase2", phase2, seed_request()),
        ("a_seed_hosts_10000", Shape::SeedHosts.config(10_000), {
            Shape::SeedHosts.request(10_000).0
        }),
    ];
    let mut group = c.benchmark_group("decide_during_swaps");
    for (name, config, req) in cases {
        let router = Router::from_config(&config).unwrap();
        group.bench_function(format!("{name}/quiet"), |b| {
            b.iter(|| {
                let view = RequestView::from_request(black_box(&req), None);
                black_box(router.route(&view).status())
            })
        });
        let stop = Arc::new(AtomicBool::new(false));
        let swapped = Arc::new(AtomicU64::new(0));
        let swapper = {
            let (router, config) = (router.clone(), config.clone());
            let (stop, swapped) = (Arc::clone(&stop), Arc::clone(&swapped));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    router.reload(&config).unwrap();
                    swapped.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        group.bench_function(format!("{name}/swapping"), |b| {
            b.iter(|| {
                let view = RequestView::from_request(black_box(&req), None);
                black_box(router.route(&view).status())
            })
        });
        stop.store(true, Ordering::Relaxed);
        swapper.join().unwrap();
        eprintln!(
            "{name}: {} swaps during the swapping measurement",
            swapped.load(Ordering::Relaxed)
        );
    }
    group.finish();
}

fn seed_request() -> http::Request<()> {
    http::Request::get("/deals/42?tab=notes")
        .header("host", "web.agendor.com.br")
        .header("cookie", COOKIE)
        .body(())
        .unwrap()
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = compile, swaps
}
criterion_main!(benches);
