//! One axum binary that ships two versions of its handlers and moves users between them by
//! the talk's three phases, with no proxy in front.
//!
//! ```text
//! cargo run -p splitway-examples --bin axum_canary                # listens on 127.0.0.1:3000
//! curl -i localhost:3000/                                          # v1 (phase 1)
//! curl -i localhost:3000/ -H 'Cookie: _AUSER_TYPE=canary'          # v2: a beta tester
//! curl -X POST localhost:3000/admin/phase/2                        # 5:5:1 for everyone else
//! curl -X POST localhost:3000/admin/weight/web/k8s/5               # more canary
//! curl -X POST localhost:3000/admin/phase/1                        # roll back at once
//! curl localhost:3000/admin/stats                                  # requests, 5xx, latency per server
//! curl -X POST localhost:3000/admin/phase/rollout                  # all three as one guarded rollout
//! curl localhost:3000/admin/rollouts                               # its state, step, weights, analysis
//! curl -X POST localhost:3000/admin/rollouts/web/promote           # or pause, resume, abort, rollback
//! ```
//!
//! The rollouts of the configuration in service (`config/axum/rollout.yaml` has one) are
//! driven by [`splitway_tower::Rollouts`], a tokio task ticking on the layer's own counters:
//! it promotes the canary step by step, or rolls it back by itself. `/admin/rollouts` and
//! `/admin/rollouts/{backend}/{action}` answer as `splitway serve`'s `/rollouts` does.
//!
//! Options: `--listen ADDR` (default 127.0.0.1:3000), `--phase N` (1, 2, 3 or `rollout`; default 1),
//! `--config-dir DIR` (default: this package's `config/axum`). `RUST_LOG=splitway=debug`
//! shows the routing span of each request.

#![allow(clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{ConnectInfo, Extension, Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use splitway::Decision;
use splitway_tower::rollouts::{ActError, parse_action};
use splitway_tower::{DURATION_METRIC, Dispatch, LATENCY_BUCKETS_SECONDS, Rollouts, SplitwayLayer};
use tower::ServiceBuilder;

/// What the admin routes need.
#[derive(Clone)]
struct Admin {
    router: splitway::Router,
    rollouts: Rollouts,
    config_dir: PathBuf,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let args = Args::parse();
    // The recorder first: metric handles registered before it stay no-ops. The duration
    // histogram gets splitway's buckets, so Prometheus' quantiles agree with /admin/stats.
    let metrics = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(DURATION_METRIC.into()),
            &LATENCY_BUCKETS_SECONDS,
        )
        .and_then(|b| b.install_recorder())
        .expect("the Prometheus recorder installs");
    let upkeep = metrics.clone();
    // Folds the histograms' samples into their buckets, off the threads serving requests.
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
            upkeep.run_upkeep();
        }
    });
    let (router, rollouts) =
        load_phase(&args.config_dir, &args.phase).expect("the phase config loads");
    // Ticks the rollouts (none in phases 1 to 3) for as long as the process runs.
    let _driver = rollouts.spawn(Duration::from_millis(100));
    let app = app(router, rollouts, args.config_dir, metrics);

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .expect("bind the listen address");
    let addr = listener.local_addr().expect("local address");
    // Tests read this line to find the port when started with `--listen 127.0.0.1:0`.
    println!(
        "axum_canary listening on http://{addr} (phase {})",
        args.phase
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .expect("serve");
}

/// The whole application: admin routes, and everything else routed by splitway between the
/// v1 and v2 handler sets.
fn app(
    router: splitway::Router,
    rollouts: Rollouts,
    config_dir: PathBuf,
    metrics: PrometheusHandle,
) -> Router {
    let canary = ServiceBuilder::new()
        .layer(
            SplitwayLayer::new(router.clone())
                .tag_responses(http::HeaderName::from_static("x-splitway"))
                .client_ip(|ext| {
                    ext.get::<ConnectInfo<SocketAddr>>()
                        .map(|ConnectInfo(addr)| addr.ip())
                }),
        )
        .service(
            Dispatch::new()
                .server("legacy_1", v1())
                .server("legacy_2", v1())
                .server("k8s", v2()),
        );
    Router::new()
        .route("/admin/phase/{n}", post(set_phase))
        .route(
            "/admin/weight/{backend}/{server}/{weight}",
            post(set_weight),
        )
        .route("/admin/health/{backend}/{server}/{state}", post(set_health))
        .route("/admin/stats", get(stats))
        .route("/admin/rollouts", get(rollouts_status))
        .route("/admin/rollouts/{backend}/{action}", post(rollout_action))
        .route(
            "/metrics",
            get(move || std::future::ready(metrics.render())),
        )
        .with_state(Admin {
            router,
            rollouts,
            config_dir,
        })
        .fallback_service(canary)
}

/// The legacy handlers (the talk's PHP app).
fn v1() -> Router {
    Router::new()
        .route(
            "/",
            get(|d: Extension<Decision>| async move { page("v1", &d) }),
        )
        .route(
            "/deals",
            get(|d: Extension<Decision>| async move { page("v1 deals", &d) }),
        )
}

/// The new handlers (the talk's Rails + React on Kubernetes).
fn v2() -> Router {
    Router::new()
        .route(
            "/",
            get(|d: Extension<Decision>| async move { page("v2", &d) }),
        )
        .route(
            "/deals",
            get(|d: Extension<Decision>| async move { page("v2 deals", &d) }),
        )
}

/// Every page says which version, route and server served it: the question the talk's team
/// could not answer when a customer reported a bug.
fn page(version: &str, Extension(d): &Extension<Decision>) -> String {
    format!(
        "{version} (route {}, server {})\n",
        d.route().unwrap_or("-"),
        d.server().map_or("-", |s| s.name())
    )
}

fn phase_file(dir: &Path, phase: &str) -> PathBuf {
    match phase {
        "rollout" => dir.join("rollout.yaml"),
        n => dir.join(format!("phase{n}.yaml")),
    }
}

fn load_phase(dir: &Path, phase: &str) -> Result<(splitway::Router, Rollouts), String> {
    let loaded =
        splitway::config::Config::from_file(&phase_file(dir, phase)).map_err(|e| e.to_string())?;
    let router = splitway::Router::from_config(&loaded.config).map_err(|e| e.to_string())?;
    let rollouts = Rollouts::new(router.clone(), loaded.config, None, SystemTime::now())
        .map_err(|e| e.to_string())?;
    Ok((router, rollouts))
}

async fn set_phase(
    State(admin): State<Admin>,
    UrlPath(phase): UrlPath<String>,
) -> (StatusCode, String) {
    if !matches!(phase.as_str(), "1" | "2" | "3" | "rollout") {
        return (
            StatusCode::NOT_FOUND,
            "phases are 1, 2, 3 and rollout\n".into(),
        );
    }
    // Through the rollouts, so that a rollout of the new file starts (or one absent from it
    // ends) and its weights serve from the first request.
    match admin
        .rollouts
        .reload_file(&phase_file(&admin.config_dir, &phase))
    {
        Ok(_) => {
            tracing::info!("switched to phase {phase}");
            (StatusCode::OK, format!("phase {phase}\n"))
        }
        // The table in service is untouched.
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, format!("{e}\n")),
    }
}

/// `{"rollouts": [...]}`, as `splitway serve`'s `GET /rollouts`.
async fn rollouts_status(State(admin): State<Admin>) -> impl IntoResponse {
    axum::Json(admin.rollouts.to_json())
}

/// `pause`, `resume`, `promote`, `abort` or `rollback`: 200 with the rollout's new object, 404
/// for a backend without a rollout or an unknown action, 409 when it does not apply.
async fn rollout_action(
    State(admin): State<Admin>,
    UrlPath((backend, action)): UrlPath<(String, String)>,
) -> axum::response::Response {
    let Some(action) = parse_action(&action) else {
        return (
            StatusCode::NOT_FOUND,
            format!("unknown action `{action}`\n"),
        )
            .into_response();
    };
    match admin.rollouts.act(&backend, action, SystemTime::now()) {
        Ok(v) => axum::Json(v).into_response(),
        Err(e @ ActError::Unknown(_)) => (StatusCode::NOT_FOUND, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::CONFLICT, format!("{e}\n")).into_response(),
    }
}

async fn set_weight(
    State(admin): State<Admin>,
    UrlPath((backend, server, weight)): UrlPath<(String, String, u32)>,
) -> (StatusCode, String) {
    if admin.rollouts.drives(&backend) {
        return (
            StatusCode::CONFLICT,
            format!("backend `{backend}` is driven by its rollout: pause or abort it first\n"),
        );
    }
    match admin.router.set_weight(&backend, &server, weight) {
        Ok(()) => (
            StatusCode::OK,
            format!("{backend}/{server} weight {weight}\n"),
        ),
        Err(e) => (StatusCode::NOT_FOUND, format!("{e}\n")),
    }
}

async fn set_health(
    State(admin): State<Admin>,
    UrlPath((backend, server, state)): UrlPath<(String, String, String)>,
) -> (StatusCode, String) {
    let up = match state.as_str() {
        "up" => true,
        "down" => false,
        _ => return (StatusCode::NOT_FOUND, "state is `up` or `down`\n".into()),
    };
    match admin.router.set_health(&backend, &server, up) {
        Ok(_) => (StatusCode::OK, format!("{backend}/{server} {state}\n")),
        Err(e) => (StatusCode::NOT_FOUND, format!("{e}\n")),
    }
}

/// The same JSON as `splitway serve`'s `/stats`: every server's weight, health and counters,
/// read from one table.
async fn stats(State(admin): State<Admin>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        splitway::stats::stats_json(&admin.router.servers()),
    )
}

struct Args {
    listen: SocketAddr,
    phase: String,
    config_dir: PathBuf,
}

impl Args {
    fn parse() -> Args {
        let mut args = Args {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            phase: "1".to_owned(),
            config_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("config/axum"),
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let value = it
                .next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
            match flag.as_str() {
                "--listen" => {
                    args.listen = value
                        .parse()
                        .unwrap_or_else(|_| usage("--listen takes ADDR:PORT"))
                }
                "--phase" => {
                    if !matches!(value.as_str(), "1" | "2" | "3" | "rollout") {
                        usage("--phase is 1, 2, 3 or rollout")
                    }
                    args.phase = value
                }
                "--config-dir" => args.config_dir = value.into(),
                _ => usage(&format!("unknown option {flag}")),
            }
        }
        args
    }
}

fn usage(message: &str) -> ! {
    eprintln!(
        "axum_canary: {message}\nusage: axum_canary [--listen ADDR] [--phase 1|2|3|rollout] [--config-dir DIR]"
    );
    std::process::exit(2)
}
