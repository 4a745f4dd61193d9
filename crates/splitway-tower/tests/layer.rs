//! The layer and the dispatch, driven with `oneshot` (no sockets) except for one test over
//! a real socket on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Extension;
use axum::routing::get;
use http::{Request, Response, StatusCode, header};
use splitway::config::{Config, Format};
use splitway::{Decision, Router};
use splitway_tower::{ClientAddr, Dispatch, SplitwayLayer};
use tower::util::{BoxCloneService, BoxCloneSyncService};
use tower::{Service, ServiceBuilder, ServiceExt};

const PHASE2: &str = r#"
frontends:
  web:
    rules: ["Host:web.agendor.com.br"]
  web_canary:
    rules: ["Host:web.agendor.com.br", "HeadersRegexp:Cookie,_AUSER_TYPE=canary"]
backends:
  web:
    - {name: legacy_1, values: ["weight = 5", "url = \"http://legacy-1.internal\""]}
    - {name: legacy_2, values: ["weight = 5", "url = \"http://legacy-2.internal\""]}
    - {name: k8s, values: ["weight = 1", "url = \"http://k8s.internal\""]}
  web_canary:
    - {name: k8s, url: "http://k8s.internal"}
"#;

fn router(yaml: &str) -> Router {
    let config = Config::from_str(yaml, Format::Yaml, "t.yaml")
        .unwrap()
        .config;
    Router::from_config(&config).unwrap()
}

/// A handler set that answers `VERSION ROUTE SERVER`, from the decision in the extensions.
fn version(v: &'static str) -> axum::Router {
    axum::Router::new().fallback(get(move |Extension(d): Extension<Decision>| async move {
        format!(
            "{v} {} {}",
            d.route().unwrap_or("-"),
            d.server().map_or("-", |s| s.name())
        )
    }))
}

fn app(router: Router) -> BoxCloneService<Request<Body>, Response<Body>, Infallible> {
    let svc = ServiceBuilder::new()
        .layer(SplitwayLayer::new(router))
        .service(
            Dispatch::new()
                .server("legacy_1", version("v1"))
                .server("legacy_2", version("v1"))
                .server("k8s", version("v2")),
        );
    BoxCloneService::new(svc)
}

fn req(host: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::get("/deals").header(header::HOST, host);
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::empty()).unwrap()
}

async fn text(response: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

async fn call(
    svc: &BoxCloneService<Request<Body>, Response<Body>, Infallible>,
    r: Request<Body>,
) -> Response<Body> {
    svc.clone().oneshot(r).await.unwrap()
}

#[tokio::test]
async fn canary_cookie_reaches_v2_and_the_handler_sees_the_decision() {
    let svc = app(router(PHASE2));
    let canary = call(
        &svc,
        req("web.agendor.com.br", Some("a=1; _AUSER_TYPE=canary")),
    )
    .await;
    assert_eq!(canary.status(), StatusCode::OK);
    assert!(
        canary.headers().get("x-splitway").is_none(),
        "tag is off by default"
    );
    assert_eq!(text(canary).await, "v2 web_canary k8s");
    let plain = call(&svc, req("WEB.agendor.com.br:80", None)).await;
    assert_eq!(text(plain).await, "v1 web legacy_1");
}

#[tokio::test]
async fn weighted_counts_are_exact_over_11000_requests() {
    let svc = app(router(PHASE2));
    let mut counts = std::collections::BTreeMap::new();
    for _ in 0..11_000 {
        let body = text(call(&svc, req("web.agendor.com.br", None)).await).await;
        *counts.entry(body).or_insert(0) += 1;
    }
    let expected: std::collections::BTreeMap<String, i32> = [
        ("v1 web legacy_1".to_owned(), 5000),
        ("v1 web legacy_2".to_owned(), 5000),
        ("v2 web k8s".to_owned(), 1000),
    ]
    .into();
    assert_eq!(counts, expected);
}

#[tokio::test]
async fn sticky_cookie_is_set_once_then_honoured() {
    let yaml = r#"
frontends:
  web: {rule: "PathPrefix(`/`)"}
backends:
  web:
    sticky: {cookie: srv, http_only: true, same_site: lax}
    servers:
      - {name: legacy_1, url: "http://legacy-1.internal"}
      - {name: k8s, url: "http://k8s.internal"}
"#;
    let svc = app(router(yaml));
    let first = call(&svc, req("any.host", None)).await;
    let set: Vec<&str> = first
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(set.len(), 1);
    assert!(
        set[0].ends_with("; Path=/; HttpOnly; SameSite=Lax"),
        "{}",
        set[0]
    );
    let cookie = set[0].split(';').next().unwrap().to_owned();
    let served = text(first).await;
    for _ in 0..5 {
        let again = call(&svc, req("any.host", Some(&cookie))).await;
        assert!(again.headers().get(header::SET_COOKIE).is_none());
        assert_eq!(text(again).await, served);
    }
}

#[tokio::test]
async fn cohort_cookie_is_issued_then_the_user_stays() {
    let yaml = r#"
frontends:
  web: {rule: "PathPrefix(`/`)"}
backends:
  web:
    hash: {key: "cookie:uid", seed: "r1", issue_cookie: true}
    servers:
      - {name: legacy_1, url: "http://legacy-1.internal", weight: 1}
      - {name: k8s, url: "http://k8s.internal", weight: 1}
"#;
    let svc = app(router(yaml));
    for _ in 0..10 {
        let first = call(&svc, req("h", None)).await;
        let set = first.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(set.starts_with("uid="), "{set}");
        let cookie = set.split(';').next().unwrap().to_owned();
        let served = text(first).await;
        for _ in 0..3 {
            let again = call(&svc, req("h", Some(&cookie))).await;
            assert!(again.headers().get(header::SET_COOKIE).is_none());
            assert_eq!(text(again).await, served);
        }
    }
}

#[tokio::test]
async fn no_route_is_404_and_no_server_is_503_answered_by_the_layer() {
    let r = router(PHASE2);
    let svc = app(r.clone());
    let missing = call(&svc, req("example.com", None)).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    // The proxy's own answers: the reason as plain text.
    assert_eq!(
        missing.headers()[header::CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    assert_eq!(text(missing).await, "no route\n");
    for s in ["legacy_1", "legacy_2", "k8s"] {
        r.set_health("web", s, false).unwrap();
    }
    let down = call(&svc, req("web.agendor.com.br", None)).await;
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.headers()[header::RETRY_AFTER], "5");
    assert_eq!(text(down).await, "no server available\n");
}

#[tokio::test]
async fn fall_through_passes_the_404_decision_to_the_inner_service() {
    let inner = tower::service_fn(|r: Request<Body>| async move {
        let d = r.extensions().get::<Decision>().unwrap();
        Ok::<_, Infallible>(Response::new(Body::from(format!(
            "inner saw {}",
            d.status().code()
        ))))
    });
    let svc = ServiceBuilder::new()
        .layer(SplitwayLayer::new(router(PHASE2)).fall_through(true))
        .service(inner);
    let r = svc.oneshot(req("example.com", None)).await.unwrap();
    assert_eq!(text(r).await, "inner saw 404");
}

#[tokio::test]
async fn tag_header_names_route_and_server_and_counters_are_recorded() {
    let r = router(PHASE2);
    let svc = ServiceBuilder::new()
        .layer(
            SplitwayLayer::new(r.clone())
                .tag_responses(http::HeaderName::from_static("x-served-by")),
        )
        .service(
            Dispatch::new()
                .server("legacy_1", version("v1"))
                .server("legacy_2", version("v1"))
                .fallback(
                    axum::Router::new()
                        .fallback(|| async { (StatusCode::BAD_GATEWAY, "canary broken") }),
                ),
        );
    let mut tags = Vec::new();
    for _ in 0..11 {
        let resp = svc
            .clone()
            .oneshot(req("web.agendor.com.br", None))
            .await
            .unwrap();
        tags.push(resp.headers()["x-served-by"].to_str().unwrap().to_owned());
    }
    assert_eq!(tags.iter().filter(|t| *t == "web/legacy_1").count(), 5);
    assert_eq!(tags.iter().filter(|t| *t == "web/k8s").count(), 1);
    let k8s = r.server("web", "k8s").unwrap().stats;
    assert_eq!((k8s.requests, k8s.server_errors), (1, 1));
    let legacy = r.server("web", "legacy_1").unwrap().stats;
    assert_eq!((legacy.requests, legacy.server_errors), (5, 0));
    assert_eq!(legacy.latency_buckets.iter().sum::<u64>(), 5);
}

#[test]
fn metrics_are_recorded_through_the_facade() {
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let svc = app(router(PHASE2));
            for _ in 0..11 {
                call(&svc, req("web.agendor.com.br", None)).await;
            }
            call(&svc, req("example.com", None)).await;
        });
    });
    let mut counts = std::collections::BTreeMap::new();
    let mut durations = std::collections::BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let labels: Vec<String> = key
            .key()
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let series = format!("{}{{{}}}", key.key().name(), labels.join(","));
        match value {
            metrics_util::debugging::DebugValue::Counter(n) => {
                counts.insert(series, n);
            }
            metrics_util::debugging::DebugValue::Histogram(samples) => {
                durations.insert(series, samples.len());
            }
            _ => {}
        }
    }
    // Every series that saw a response, and nothing else (no series for a class never seen:
    // the registered-but-zero classes are not in a debugging snapshot's non-zero list).
    let seen: Vec<(&str, u64)> = counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| (k.as_str(), *n))
        .collect();
    assert_eq!(
        seen,
        [
            (
                "splitway_requests_total{backend=,server=,status_class=4xx}",
                1
            ),
            (
                "splitway_requests_total{backend=web,server=k8s,status_class=2xx}",
                1
            ),
            (
                "splitway_requests_total{backend=web,server=legacy_1,status_class=2xx}",
                5
            ),
            (
                "splitway_requests_total{backend=web,server=legacy_2,status_class=2xx}",
                5
            ),
            ("splitway_route_requests_total{route=,status_class=4xx}", 1),
            (
                "splitway_route_requests_total{route=web,status_class=2xx}",
                11
            ),
        ]
    );
    assert_eq!(
        durations.into_iter().collect::<Vec<_>>(),
        [
            (
                "splitway_request_duration_seconds{backend=web,server=k8s}".to_owned(),
                1
            ),
            (
                "splitway_request_duration_seconds{backend=web,server=legacy_1}".to_owned(),
                5
            ),
            (
                "splitway_request_duration_seconds{backend=web,server=legacy_2}".to_owned(),
                5
            ),
        ]
    );
}

/// A service that is never ready: the canary that cannot take requests.
#[derive(Clone)]
struct NeverReady;

impl Service<Request<Body>> for NeverReady {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Pending
    }

    fn call(&mut self, _req: Request<Body>) -> Self::Future {
        Box::pin(async { unreachable!("never ready, never called") })
    }
}

#[tokio::test]
async fn an_unready_canary_does_not_delay_stable_requests() {
    let stable: BoxCloneSyncService<Request<Body>, Response<Body>, Infallible> =
        BoxCloneSyncService::new(version("v1"));
    let canary = BoxCloneSyncService::new(NeverReady);
    let svc = ServiceBuilder::new()
        .layer(SplitwayLayer::new(router(PHASE2)))
        .service(
            Dispatch::new()
                .server("legacy_1", stable.clone())
                .server("legacy_2", stable)
                .server("k8s", canary),
        );
    // A beta tester's request waits on the canary...
    let stuck = tokio::spawn(
        svc.clone()
            .oneshot(req("web.agendor.com.br", Some("_AUSER_TYPE=canary"))),
    );
    // ...while the 110 requests of everyone else (ten 5:5:1 cycles: 100 legacy picks, 10
    // canary picks) are all in flight: every legacy one completes, only the canary ones wait.
    let inflight: Vec<_> = (0..110)
        .map(|_| tokio::spawn(svc.clone().oneshot(req("web.agendor.com.br", None))))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let done = inflight.iter().filter(|h| h.is_finished()).count();
    assert_eq!(done, 100, "only the k8s picks wait");
    for h in inflight {
        if h.is_finished() {
            assert_eq!(h.await.unwrap().unwrap().status(), StatusCode::OK);
        } else {
            h.abort();
        }
    }
    assert!(!stuck.is_finished());
    stuck.abort();
}

#[tokio::test]
async fn client_addr_extension_feeds_client_ip_rules() {
    let yaml = r#"
frontends:
  office: {rule: "ClientIP(`192.0.2.0/24`)"}
  web: {rule: "PathPrefix(`/`)"}
backends:
  office: [{name: k8s, url: "http://k8s.internal"}]
  web: [{name: legacy_1, url: "http://legacy-1.internal"}]
"#;
    let svc = app(router(yaml));
    let mut r = req("h", None);
    r.extensions_mut()
        .insert(ClientAddr("192.0.2.10:5555".parse().unwrap()));
    assert_eq!(text(call(&svc, r).await).await, "v2 office k8s");
    let mut r = req("h", None);
    r.extensions_mut()
        .insert(ClientAddr("198.51.100.1:5555".parse().unwrap()));
    assert_eq!(text(call(&svc, r).await).await, "v1 web legacy_1");
}

#[tokio::test]
async fn works_with_axum_router_layer() {
    let app = axum::Router::new()
        .route(
            "/deals",
            get(|Extension(d): Extension<Decision>| async move {
                format!("deals via {}", d.server().map_or("-", |s| s.name()))
            }),
        )
        .layer(SplitwayLayer::new(router(PHASE2)));
    let r = app
        .oneshot(req("web.agendor.com.br", Some("_AUSER_TYPE=canary")))
        .await
        .unwrap();
    assert_eq!(text(r).await, "deals via k8s");
}

#[tokio::test]
async fn works_with_any_body_type_and_hyper_utils_tower_adapter() {
    use hyper::service::Service as _;
    // Request bodies are Strings, response bodies Strings: nothing is tied to axum's Body.
    let inner = tower::service_fn(|r: Request<String>| async move {
        let d = r.extensions().get::<Decision>().cloned().unwrap();
        Ok::<_, Infallible>(Response::new(format!(
            "{} got {:?}",
            d.server().unwrap().name(),
            r.body()
        )))
    });
    let svc = ServiceBuilder::new()
        .layer(SplitwayLayer::new(router(PHASE2)))
        .service(inner);
    let hyper_svc = hyper_util::service::TowerToHyperService::new(svc);
    let request = Request::get("http://web.agendor.com.br/")
        .header(header::COOKIE, "_AUSER_TYPE=canary")
        .body("hello".to_owned())
        .unwrap();
    let response = hyper_svc.call(request).await.unwrap();
    assert_eq!(response.body(), "k8s got \"hello\"");
}

/// The inner service is handed the path the frontend's rewrites make, the query kept, with
/// `X-Forwarded-Prefix` or `X-Replaced-Path`, as the proxy sends it to a server.
#[tokio::test]
async fn the_inner_service_gets_the_rewritten_path_and_its_header() {
    let yaml = r#"
frontends:
  api: {rules: ["Host:web.agendor.com.br;PathPrefixStrip:/api"], backend: web}
  old: {rules: ["Host:old.agendor.com.br;ReplacePathRegex:^/v1/(.*) /v2/$1"], backend: web}
backends:
  web: [{name: k8s, url: "http://k8s.internal"}]
"#;
    let echo = tower::service_fn(|req: Request<Body>| async move {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .map_or("-", |v| v.to_str().unwrap())
                .to_owned()
        };
        let seen = format!(
            "{} {} {}",
            req.uri(),
            header("x-forwarded-prefix"),
            header("x-replaced-path")
        );
        Ok::<_, Infallible>(Response::new(Body::from(seen)))
    });
    let svc = ServiceBuilder::new()
        .layer(SplitwayLayer::new(router(yaml)))
        .service(echo);
    for (host, target, seen) in [
        (
            "web.agendor.com.br",
            "/api/deals/42?tab=notes",
            "/deals/42?tab=notes /api -",
        ),
        ("web.agendor.com.br", "/api", "/ /api -"),
        (
            "old.agendor.com.br",
            "/v1/deals?x",
            "/v2/deals?x - /v1/deals",
        ),
        ("old.agendor.com.br", "/other", "/other - -"),
    ] {
        let req = Request::get(target)
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap();
        let response = svc.clone().oneshot(req).await.unwrap();
        assert_eq!(text(response).await, seen, "{host}{target}");
    }
}

#[tokio::test]
async fn a_fixed_response_server_is_answered_by_the_layer() {
    let yaml = "frontends:\n  m: {rule: \"Host(`m.example.com`)\"}\nbackends:\n  m:\n    - {name: maintenance, status: 503, body: \"back soon\"}\n";
    let router = router(yaml);
    let svc = app(router.clone());
    for _ in 0..3 {
        let response = call(&svc, req("m.example.com", None)).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert_eq!(text(response).await, "back soon");
    }
    assert_eq!(router.server("m", "maintenance").unwrap().stats.requests, 3);
    // Without a `body`, an empty one.
    let yaml = "frontends:\n  m: {rule: \"Host(`m.example.com`)\"}\nbackends:\n  m:\n    - {name: gone, status: 410}\n";
    let svc = app(self::router(yaml));
    let response = call(&svc, req("m.example.com", None)).await;
    assert_eq!(response.status(), StatusCode::GONE);
    assert_eq!(text(response).await, "");
}
