//! Runs N of one operation, for counting its instructions with callgrind (which does not
//! depend on the machine's load, unlike a timing): `scripts/count-instructions.sh` runs this at
//! N and 2N and prints the difference per operation, so that set-up cancels out.
//!
//! Operations: `seed` (one decision on the talk's phase-2 table, pick included, the canary
//! user's 200-byte Cookie header, as `benches/seed.rs`), and the three services of
//! `benches/tower.rs`: `bare` (the bare axum router), `tower` (behind `SplitwayLayer` +
//! `Dispatch`) and `tower_no_metrics`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use axum::body::Body;
use axum::routing::get;
use splitway::config::{Config, Format};
use splitway::{RequestView, Router};
use splitway_tower::{Dispatch, SplitwayLayer};
use tower::{ServiceBuilder, ServiceExt};

const PHASE2: &str = include_str!("../../examples/config/phase2.yaml");
const CANARY: &str = "_ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; \
     session_id=3f9a1c2b7e6d4f5a8b9c0d1e2f3a4b5c; locale=pt-BR; _AUSER_TYPE=canary";
const LEGACY: &str = "_ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; \
     session_id=3f9a1c2b7e6d4f5a8b9c0d1e2f3a4b5c; locale=pt-BR; _AUSER_TYPE=legacy";

fn handlers() -> axum::Router {
    axum::Router::new().route("/deals", get(|| async { "deals" }))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(op), Some(n)) = (args.next(), args.next().and_then(|n| n.parse::<u64>().ok())) else {
        eprintln!("usage: count seed|bare|tower|tower_no_metrics N");
        std::process::exit(2);
    };
    let config = Config::from_str(PHASE2, Format::Yaml, "phase2.yaml")
        .unwrap()
        .config;
    let router = Router::from_config(&config).unwrap();
    if op == "seed" {
        let canary = http::Request::get("/deals/42?tab=notes")
            .header("host", "web.agendor.com.br")
            .header("cookie", CANARY)
            .body(())
            .unwrap();
        for _ in 0..n {
            let view = RequestView::from_request(black_box(&canary), None);
            black_box(router.route(&view).status());
        }
        return;
    }
    let dispatch = || {
        Dispatch::new()
            .server("legacy_1", handlers())
            .server("legacy_2", handlers())
            .server("k8s", handlers())
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let request = || {
        http::Request::get("/deals")
            .header("host", "web.agendor.com.br")
            .header("cookie", LEGACY)
            .body(Body::empty())
            .unwrap()
    };
    match op.as_str() {
        "bare" => {
            let service = handlers();
            for _ in 0..n {
                black_box(rt.block_on(service.clone().oneshot(request())).unwrap());
            }
        }
        "tower" | "tower_no_metrics" => {
            let service = ServiceBuilder::new()
                .layer(SplitwayLayer::new(router).metrics(op == "tower"))
                .service(dispatch());
            for _ in 0..n {
                black_box(rt.block_on(service.clone().oneshot(request())).unwrap());
            }
        }
        _ => {
            eprintln!("unknown operation {op}");
            std::process::exit(2);
        }
    }
}
