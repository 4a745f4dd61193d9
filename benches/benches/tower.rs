//! The tower layer's added cost per request: the bare axum router against the same router
//! behind `SplitwayLayer` + `Dispatch` (the talk's phase-2 table, a realistic Cookie header),
//! in one group so both figures come from the same run. Each iteration drives one request
//! to its response with `oneshot` on a current-thread runtime; that overhead is in both.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use splitway::config::{Config, Format};
use splitway_tower::{Dispatch, SplitwayLayer};
use tower::{ServiceBuilder, ServiceExt};

const PHASE2: &str = include_str!("../../examples/config/phase2.yaml");
const COOKIE: &str = "_ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; \
     session_id=3f9a1c2b7e6d4f5a8b9c0d1e2f3a4b5c; locale=pt-BR; _AUSER_TYPE=legacy";

fn request() -> http::Request<Body> {
    http::Request::get("/deals")
        .header("host", "web.agendor.com.br")
        .header("cookie", COOKIE)
        .body(Body::empty())
        .unwrap()
}

fn handlers() -> axum::Router {
    axum::Router::new().route("/deals", get(|| async { "deals" }))
}

fn tower_layer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let config = Config::from_str(PHASE2, Format::Yaml, "phase2.yaml")
        .unwrap()
        .config;
    let router = splitway::Router::from_config(&config).unwrap();

    let bare = handlers();
    let routed = ServiceBuilder::new()
        .layer(SplitwayLayer::new(router.clone()))
        .service(
            Dispatch::new()
                .server("legacy_1", handlers())
                .server("legacy_2", handlers())
                .server("k8s", handlers()),
        );
    let routed_no_metrics = ServiceBuilder::new()
        .layer(SplitwayLayer::new(router).metrics(false))
        .service(
            Dispatch::new()
                .server("legacy_1", handlers())
                .server("legacy_2", handlers())
                .server("k8s", handlers()),
        );

    let mut group = c.benchmark_group("tower_layer");
    group.bench_function("bare_axum_router", |b| {
        b.iter(|| {
            let r = rt.block_on(bare.clone().oneshot(request())).unwrap();
            black_box(r.status())
        })
    });
    group.bench_function("splitway_layer_dispatch", |b| {
        b.iter(|| {
            let r = rt.block_on(routed.clone().oneshot(request())).unwrap();
            black_box(r.status())
        })
    });
    group.bench_function("splitway_layer_dispatch_no_metrics", |b| {
        b.iter(|| {
            let r = rt
                .block_on(routed_no_metrics.clone().oneshot(request()))
                .unwrap();
            black_box(r.status())
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = tower_layer
}
criterion_main!(benches);
