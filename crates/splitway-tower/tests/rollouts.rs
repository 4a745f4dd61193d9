//! The rollout driver in a plain axum app (no proxy): the layer's own counters judge the
//! canary, and the driver, a tokio task, promotes it or rolls it back while real requests
//! arrive over a socket on 127.0.0.1. Every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::http::StatusCode;
use axum::routing::get;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use splitway::config::{Config, Format};
use splitway::{RequestView, Router};
use splitway_tower::{Dispatch, Rollouts, SplitwayLayer};
use tower::ServiceBuilder;

const YAML: &str = r#"frontends:
  web:
    rule: "Host(`web.example`)"
backends:
  web:
    hash:
      key: "cookie:uid"
    servers:
      - name: stable
        url: http://stable.internal
        weight: 1
      - name: canary
        url: http://canary.internal
        weight: 0
rollouts:
  web:
    canary: canary
    steps: [20, 50]
    interval: 500ms
    analysis:
      min_requests: 20
      failures: 2
"#;

/// The app: `/rollouts` beside the routed handlers, the canary answering 500 while `failing`.
async fn start(
    failing: Arc<AtomicBool>,
) -> (SocketAddr, Router, Rollouts, tokio::task::JoinHandle<()>) {
    let file = Config::from_str(YAML, Format::Yaml, "r.yaml")
        .unwrap()
        .config;
    let router = Router::from_config(&file).unwrap();
    let rollouts = Rollouts::new(router.clone(), file, None, SystemTime::now()).unwrap();
    let canary = axum::Router::new().fallback(get(move || {
        let failing = failing.load(Ordering::SeqCst);
        async move {
            if failing {
                (StatusCode::INTERNAL_SERVER_ERROR, "canary")
            } else {
                (StatusCode::OK, "canary")
            }
        }
    }));
    let routed = ServiceBuilder::new()
        .layer(SplitwayLayer::new(router.clone()))
        .service(
            Dispatch::new()
                .server(
                    "stable",
                    axum::Router::new().fallback(get(|| async { "stable" })),
                )
                .server("canary", canary),
        );
    let view = rollouts.clone();
    let app = axum::Router::new()
        .route(
            "/rollouts",
            get(move || std::future::ready(axum::Json(view.to_json()))),
        )
        .fallback_service(routed);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, router, rollouts, task)
}

type Http = Client<HttpConnector, Empty<Bytes>>;

/// `GET path` with `Host: HOST` and the user's cookie: status and body.
async fn get_text(
    client: &Http,
    addr: SocketAddr,
    host: &str,
    user: Option<usize>,
) -> (u16, String) {
    let path = if host == "web.example" {
        "/"
    } else {
        "/rollouts"
    };
    let mut b = Request::get(format!("http://{addr}{path}")).header("host", host);
    if let Some(u) = user {
        b = b.header("cookie", format!("uid=user-{u}"));
    }
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        client.request(b.body(Empty::new()).unwrap()),
    )
    .await
    .unwrap()
    .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn rollout(client: &Http, addr: SocketAddr) -> Value {
    let (status, body) = get_text(client, addr, "admin", None).await;
    assert_eq!(status, 200);
    serde_json::from_str::<Value>(&body).unwrap()["rollouts"][0].clone()
}

/// `(to, step)` of every transition.
fn path_of(r: &Value) -> Vec<(String, u64)> {
    r["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["to"].as_str().unwrap().to_owned(),
                t["step"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Whether `router` (the table in service) places user `u` on the canary.
fn on_canary(router: &Router, u: usize) -> bool {
    let req = Request::get("http://web.example/")
        .header("cookie", format!("uid=user-{u}"))
        .body(())
        .unwrap();
    router
        .explain(&RequestView::from_request(&req, None))
        .decision
        .server()
        .is_some_and(|s| s.name() == "canary")
}

/// Sends requests from users 0, 1, 2, ... until the rollout reaches `end` (30 s at most):
/// how many answers came from each server, and how many of the canary's were 500s.
async fn until(client: &Http, addr: SocketAddr, end: &str) -> (usize, usize, usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut stable, mut canary, mut errors) = (0, 0, 0);
    let mut u = 0;
    loop {
        for _ in 0..20 {
            let (status, body) = get_text(client, addr, "web.example", Some(u % 500)).await;
            match body.as_str() {
                "stable" => {
                    assert_eq!(status, 200);
                    stable += 1;
                }
                "canary" => {
                    canary += 1;
                    errors += usize::from(status == 500);
                }
                other => panic!("unexpected answer {status} {other}"),
            }
            u += 1;
        }
        if rollout(client, addr).await["state"] == end {
            return (stable, canary, errors);
        }
        assert!(
            Instant::now() < deadline,
            "no `{end}` within 30 s: {}",
            rollout(client, addr).await
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_promotes_a_healthy_canary_of_a_tower_app() {
    let (addr, router, rollouts, server) = start(Arc::new(AtomicBool::new(false))).await;
    let driver = rollouts.spawn(Duration::from_millis(50));
    let client: Http = Client::builder(TokioExecutor::new()).build_http();
    let (stable, canary, errors) = until(&client, addr, "promoted").await;
    assert_eq!(errors, 0);
    assert!(stable > 0 && canary > 0, "{stable} {canary}");
    let r = rollout(&client, addr).await;
    assert_eq!(
        path_of(&r),
        [
            ("progressing".to_owned(), 1),
            ("progressing".to_owned(), 2),
            ("promoted".to_owned(), 2)
        ]
    );
    assert_eq!(r["weights"]["stable"], 0);
    assert_eq!(r["last_analysis"]["verdict"], "pass");
    // The layer's own counters were judged: the canary's last window is in its total.
    let counted = router.server("web", "canary").unwrap().stats.requests;
    assert!(r["last_analysis"]["canary"]["requests"].as_u64().unwrap() <= counted);
    // Promoted: every user is on the canary.
    for u in 0..50 {
        assert_eq!(
            get_text(&client, addr, "web.example", Some(u)).await,
            (200, "canary".to_owned())
        );
    }
    driver.abort();
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_rolls_back_a_failing_canary_of_a_tower_app() {
    let failing = Arc::new(AtomicBool::new(true));
    let (addr, router, rollouts, server) = start(failing).await;
    // The users the table places on stable at the first step (20%) stay there throughout.
    let stable_users: Vec<usize> = (0..500).filter(|&u| !on_canary(&router, u)).collect();
    assert!(
        (300..500).contains(&stable_users.len()),
        "{}",
        stable_users.len()
    );
    let driver = rollouts.spawn(Duration::from_millis(50));
    let client: Http = Client::builder(TokioExecutor::new()).build_http();
    let (_, canary, errors) = until(&client, addr, "rolled_back").await;
    // Every canary answer was a 500, and only the canary answered 500s.
    assert_eq!(errors, canary);
    let r = rollout(&client, addr).await;
    assert_eq!(
        path_of(&r),
        [
            ("progressing".to_owned(), 1),
            ("holding".to_owned(), 1),
            ("rolled_back".to_owned(), 1)
        ]
    );
    assert_eq!(r["reason"], "analysis_failed");
    assert_eq!(r["weights"]["canary"], 0);
    // Rolled back: nobody reaches the canary, the stable users answered 200 all along.
    for u in 0..50 {
        assert_eq!(
            get_text(&client, addr, "web.example", Some(u)).await,
            (200, "stable".to_owned())
        );
    }
    for &u in stable_users.iter().take(50) {
        assert_eq!(get_text(&client, addr, "web.example", Some(u)).await.0, 200);
    }
    driver.abort();
    server.abort();
}
