//! The admin's JSON endpoints that the dashboard reads (`/config`, `/stats`, `/stats/history`)
//! and the page itself, against a proxy on 127.0.0.1 with traffic through it: each shape is
//! pinned exactly, and who may read what.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use splitway_proxy::{AdminAccess, Options};
use support::{router_from_yaml, serve_proxy};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// An upstream answering `NAME` to everything.
async fn upstream(name: &'static str) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(move |_req: Request<Incoming>| async move {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                        name.as_bytes(),
                    ))))
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, task)
}

struct Setup {
    proxy: SocketAddr,
    admin: SocketAddr,
    upstreams: [SocketAddr; 2],
    client: Client<HttpConnector, Full<Bytes>>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

fn yaml(a: SocketAddr, b: SocketAddr) -> String {
    format!(
        r#"
frontends:
  web:
    rules: ["Host:web.example"]
  web_canary:
    rules: ["Host:web.example", "HeadersRegexp:Cookie,_AUSER_TYPE=canary"]
  api:
    rule: "Host(`api.example`) && PathPrefix(`/v1`)"
    priority: 100
    backend: broken
backends:
  web:
    servers:
      - {{name: legacy, url: "http://{a}", weight: 3}}
      - {{name: k8s, url: "http://{b}", weight: 1}}
    hash: {{key: "cookie:uid"}}
    health_check: {{path: /health, interval: 1h}}
  web_canary:
    - {{name: k8s, url: "http://{b}"}}
  broken:
    servers:
      - {{name: oops, status: 503}}
    balance: random
"#
    )
}

impl Setup {
    async fn start(access: AdminAccess) -> Setup {
        let (a, ta) = upstream("legacy").await;
        let (b, tb) = upstream("k8s").await;
        let router = router_from_yaml(&yaml(a, b), "routes.yaml");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let until = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let (proxy, served) =
            serve_proxy(router.clone(), Options::default(), until(stopped.clone())).await;
        let admin_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = admin_listener.local_addr().unwrap();
        let admin_task = tokio::spawn(splitway_proxy::serve_admin(
            admin_listener,
            router,
            None,
            access,
            until(stopped),
        ));
        Setup {
            proxy,
            admin,
            upstreams: [a, b],
            client: Client::builder(TokioExecutor::new()).build_http(),
            stop,
            tasks: vec![ta, tb, served, admin_task],
        }
    }

    async fn send(&self, req: Request<Full<Bytes>>) -> (Response<()>, String) {
        let response = tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .expect("answered in time")
            .expect("answered");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        (
            Response::from_parts(parts, ()),
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    async fn through_proxy(&self, host: &str, path: &str, cookie: &str) -> String {
        let req = Request::get(format!("http://{}{path}", self.proxy))
            .header("host", host)
            .header("cookie", cookie)
            .body(Full::default())
            .unwrap();
        self.send(req).await.1
    }

    async fn admin(&self, path: &str, headers: &[(&str, &str)]) -> (Response<()>, String) {
        let mut b = Request::get(format!("http://{}{path}", self.admin));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.send(b.body(Full::default()).unwrap()).await
    }

    async fn json(&self, path: &str) -> Value {
        let (response, body) = self.admin(path, &[]).await;
        assert_eq!(response.status(), 200, "{path}: {body}");
        assert_eq!(response.headers()["content-type"], "application/json");
        serde_json::from_str(&body).unwrap()
    }

    async fn stop(mut self) {
        self.stop.send(true).unwrap();
        for task in std::mem::take(&mut self.tasks) {
            task.abort();
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

#[tokio::test]
async fn config_is_the_live_table_in_the_documented_shape() {
    let s = Setup::start(AdminAccess::loopback_only()).await;
    let [a, b] = s.upstreams;
    let put = Request::put(format!("http://{}/servers/web/k8s/weight/2", s.admin))
        .header("x-splitway", "1")
        .body(Full::default())
        .unwrap();
    assert_eq!(s.send(put).await.0.status(), 204);
    let config = s.json("/config").await;
    // Frontends in the order tried; the weight as edited, not as written.
    assert_eq!(
        config,
        json!({
            "frontends": [
                {"name": "api", "rule": "Host(`api.example`) && PathPrefix(`/v1`)",
                 "syntax": "v3", "priority": 100, "backend": "broken"},
                {"name": "web_canary",
                 "rule": "Host:web.example;HeadersRegexp:Cookie,_AUSER_TYPE=canary",
                 "syntax": "v1", "priority": 55, "backend": "web_canary"},
                {"name": "web", "rule": "Host:web.example", "syntax": "v1", "priority": 16,
                 "backend": "web"},
            ],
            "backends": [
                {"name": "web", "balance": "wrr", "sticky_cookie": null,
                 "hash_key": "cookie:uid", "health_check_path": "/health",
                 "servers": [
                     {"name": "legacy", "url": format!("http://{a}"), "weight": 3, "status": null},
                     {"name": "k8s", "url": format!("http://{b}"), "weight": 2, "status": null},
                 ]},
                {"name": "web_canary", "balance": "wrr", "sticky_cookie": null, "hash_key": null,
                 "health_check_path": null,
                 "servers": [
                     {"name": "k8s", "url": format!("http://{b}"), "weight": 1, "status": null},
                 ]},
                {"name": "broken", "balance": "random", "sticky_cookie": null, "hash_key": null,
                 "health_check_path": null,
                 "servers": [{"name": "oops", "url": "", "weight": 1, "status": 503}]},
            ],
        })
    );
    s.stop().await;
}

#[tokio::test]
async fn stats_and_history_count_the_traffic_from_one_snapshot() {
    let s = Setup::start(AdminAccess::loopback_only()).await;
    // The sampler's first record is taken as the listener starts: wait for it, so that all
    // the traffic below falls after the baseline.
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.json("/stats/history").await["sampled_at"].is_null() {
        assert!(Instant::now() < deadline, "no first sample in 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // 8 requests to `web` (cohort users u0..u7), 3 to the canary cookie, 2 to the 503.
    let mut seen = std::collections::BTreeMap::<String, u64>::new();
    for i in 0..8 {
        let who = s
            .through_proxy("web.example", "/", &format!("uid=u{i}"))
            .await;
        *seen.entry(who).or_default() += 1;
    }
    for _ in 0..3 {
        let who = s
            .through_proxy("web.example", "/", "_AUSER_TYPE=canary")
            .await;
        assert_eq!(who, "k8s");
    }
    for _ in 0..2 {
        s.through_proxy("api.example", "/v1/x", "").await;
    }
    let legacy = seen.get("legacy").copied().unwrap_or(0);
    let k8s = seen.get("k8s").copied().unwrap_or(0);
    assert_eq!(legacy + k8s, 8);

    let stats = s.json("/stats").await;
    let bounds = stats["latency_bucket_bounds_ms"].as_array().unwrap();
    assert_eq!(bounds.len(), 16);
    assert_eq!(
        (bounds[0].as_f64(), bounds[15].as_f64()),
        (Some(0.1), Some(10_000.0))
    );
    let servers = stats["servers"].as_array().unwrap();
    let keys: Vec<Vec<&str>> = servers
        .iter()
        .map(|v| v.as_object().unwrap().keys().map(String::as_str).collect())
        .collect();
    let expected_keys = [
        "backend",
        "server",
        "requests",
        "errors",
        "error_rate",
        "latency_sum_ms",
        "weight",
        "healthy",
        "latency_buckets",
    ];
    assert!(keys.iter().all(|k| k == &expected_keys), "{keys:?}");
    let counts: Vec<(&str, &str, u64, u64, u64, bool)> = servers
        .iter()
        .map(|v| {
            let buckets = v["latency_buckets"].as_array().unwrap();
            assert_eq!(buckets.len(), 17);
            let in_buckets: u64 = buckets.iter().map(|b| b.as_u64().unwrap()).sum();
            assert_eq!(Some(in_buckets), v["requests"].as_u64());
            (
                v["backend"].as_str().unwrap(),
                v["server"].as_str().unwrap(),
                v["requests"].as_u64().unwrap(),
                v["errors"].as_u64().unwrap(),
                v["weight"].as_u64().unwrap(),
                v["healthy"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("web", "legacy", legacy, 0, 3, true),
            ("web", "k8s", k8s, 0, 1, true),
            ("web_canary", "k8s", 3, 0, 1, true),
            ("broken", "oops", 2, 2, 1, true),
        ]
    );

    // The next sample holds all of it: every server's window and samples add up to /stats.
    let deadline = Instant::now() + Duration::from_secs(10);
    let history = loop {
        let h = s.json("/stats/history").await;
        let windowed: u64 = h["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["last_60s"]["requests"].as_u64().unwrap())
            .sum();
        if windowed == 13 {
            break h;
        }
        assert!(Instant::now() < deadline, "not sampled in 10 s: {h}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        history
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        [
            "interval_ms",
            "capacity",
            "window_seconds",
            "sampled_at",
            "servers"
        ]
    );
    assert_eq!(history["interval_ms"], 1000);
    assert_eq!(history["capacity"], 300);
    assert_eq!(history["window_seconds"], 60);
    let sampled_at = history["sampled_at"].as_str().unwrap();
    assert!(humantime::parse_rfc3339(sampled_at).is_ok(), "{sampled_at}");
    let rows: Vec<(&str, &str, u64, u64, u64, u64, bool)> = history["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let w = &v["last_60s"];
            let samples = v["samples"].as_array().unwrap();
            assert!(!samples.is_empty() && samples.len() <= 300);
            for sample in samples {
                let keys: Vec<&str> = sample
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(String::as_str)
                    .collect();
                assert_eq!(keys, ["at", "requests", "errors", "p99_ms"]);
                assert_eq!(sample["p99_ms"].is_null(), sample["requests"] == 0);
            }
            assert_eq!(samples.last().unwrap()["at"], sampled_at);
            let sum = |k: &str| samples.iter().map(|x| x[k].as_u64().unwrap()).sum::<u64>();
            let has_latency = w["p50_ms"].as_f64().is_some_and(|p50| {
                w["p99_ms"]
                    .as_f64()
                    .is_some_and(|p99| 0.0 < p50 && p50 <= p99)
            });
            assert!(w["seconds"].as_f64().unwrap() > 0.0);
            (
                v["backend"].as_str().unwrap(),
                v["server"].as_str().unwrap(),
                w["requests"].as_u64().unwrap(),
                w["errors"].as_u64().unwrap(),
                sum("requests"),
                sum("errors"),
                has_latency,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("web", "legacy", legacy, 0, legacy, 0, legacy > 0),
            ("web", "k8s", k8s, 0, k8s, 0, k8s > 0),
            ("web_canary", "k8s", 3, 0, 3, 0, true),
            ("broken", "oops", 2, 2, 2, 2, true),
        ]
    );
    s.stop().await;
}

#[tokio::test]
async fn the_page_is_one_self_contained_document_open_to_all_and_the_data_is_not() {
    let s = Setup::start(AdminAccess::loopback_only()).await;
    let (response, page) = s.admin("/", &[("host", "evil.example")]).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["x-frame-options"], "DENY");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    // Nothing loaded from elsewhere: no external script, style sheet, font or image.
    for needle in ["<script src", "<link", "@import", "url(", "src=\"http"] {
        assert!(!page.contains(needle), "the page holds `{needle}`");
    }
    for id in [
        "id=\"frontends\"",
        "id=\"backends\"",
        "id=\"rollouts\"",
        "id=\"explain-form\"",
        "id=\"refresh-data\"",
        "id=\"token-form\"",
    ] {
        assert!(page.contains(id), "{id}");
    }
    // The data needs a loopback Host without a token.
    for path in ["/config", "/stats/history"] {
        assert_eq!(
            s.admin(path, &[("host", "evil.example")]).await.0.status(),
            403
        );
    }
    s.stop().await;

    let s = Setup::start(AdminAccess::with_token(b"t0ken").unwrap()).await;
    assert_eq!(s.admin("/", &[]).await.0.status(), 200);
    for path in ["/config", "/stats", "/stats/history"] {
        assert_eq!(s.admin(path, &[]).await.0.status(), 401, "{path}");
        let bearer = [("authorization", "Bearer t0ken")];
        assert_eq!(s.admin(path, &bearer).await.0.status(), 200, "{path}");
    }
    s.stop().await;
}
