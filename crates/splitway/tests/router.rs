//! Router: decisions, atomic reloads, and failed reloads that change nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use splitway::config::{Config, Format};
use splitway::{RequestView, Router, Status};

const PHASE1: &str = r#"
frontends:
  web:
    rules: ["Host:web.agendor.com.br"]
  web_canary:
    rules: ["Host:web.agendor.com.br", "HeadersRegexp:Cookie,_AUSER_TYPE=canary"]
backends:
  web:
    - name: legacy_1
      url: http://legacy-1.internal
    - name: legacy_2
      url: http://legacy-2.internal
  web_canary:
    - name: k8s
      url: http://agendor-web-canary.production.svc.cluster.local
"#;

const PHASE3: &str = r#"
frontends:
  web:
    rules: ["Host:web.agendor.com.br"]
  web_canary:
    rules: ["Host:web.agendor.com.br", "HeadersRegexp:Cookie,_AUSER_TYPE=canary"]
backends:
  web:
    - name: k8s
      url: http://agendor-web.production.svc.cluster.local
  web_canary:
    - name: k8s
      url: http://agendor-web-canary.production.svc.cluster.local
"#;

fn router(yaml: &str) -> Router {
    let config = Config::from_str(yaml, Format::Yaml, "test.yaml")
        .expect("valid config")
        .config;
    Router::from_config(&config).expect("compiles")
}

fn get(host: &str, cookie: Option<&str>) -> http::Request<()> {
    let mut b = http::Request::get("/deals").header("host", host);
    if let Some(c) = cookie {
        b = b.header("cookie", c);
    }
    b.body(()).unwrap()
}

#[test]
fn decision_names_route_backend_and_server() {
    let r = router(PHASE1);
    let req = get("web.agendor.com.br", Some("_AUSER_TYPE=canary"));
    let d = r.route(&RequestView::from_request(&req, None));
    assert_eq!(d.status(), Status::Routed);
    assert_eq!(d.route(), Some("web_canary"));
    assert_eq!(d.backend(), Some("web_canary"));
    let s = d.server().unwrap();
    assert_eq!(
        (s.name(), s.url(), s.weight()),
        (
            "k8s",
            "http://agendor-web-canary.production.svc.cluster.local",
            1
        )
    );
}

#[test]
fn no_match_is_404_and_zero_weight_backend_is_503() {
    let r = router(PHASE1);
    let req = get("example.com", None);
    let d = r.route(&RequestView::from_request(&req, None));
    assert_eq!((d.status(), d.status().code()), (Status::NoRoute, 404));
    assert_eq!((d.route(), d.backend()), (None, None));

    let drained = PHASE1.replace(
        "url: http://legacy-2.internal",
        "url: http://legacy-2.internal\n      weight: 0",
    );
    let drained = drained.replace(
        "url: http://legacy-1.internal",
        "url: http://legacy-1.internal\n      weight: 0",
    );
    let r = router(&drained);
    let req = get("web.agendor.com.br", None);
    let d = r.route(&RequestView::from_request(&req, None));
    assert_eq!((d.status(), d.status().code()), (Status::NoServer, 503));
    assert_eq!(d.route(), Some("web"));
    assert!(d.server().is_none());
}

#[test]
fn failed_reload_leaves_the_previous_table_serving() {
    let r = router(PHASE1);
    let before = r.snapshot();
    let broken = PHASE3.replace("Host:web", "Hots:web");
    let err = r
        .reload_str(&broken, Format::Yaml, "phase3.yaml")
        .expect_err("unknown matcher must fail");
    assert!(
        err.errors().any(|d| d.file == "phase3.yaml" && d.line == 4),
        "{err}"
    );
    assert!(Arc::ptr_eq(&before, &r.snapshot()), "table was replaced");
    let req = get("web.agendor.com.br", None);
    let servers: Vec<String> = (0..4)
        .map(|_| {
            let d = r.route(&RequestView::from_request(&req, None));
            d.server().unwrap().name().to_owned()
        })
        .collect();
    assert_eq!(servers, ["legacy_1", "legacy_2", "legacy_1", "legacy_2"]);
}

#[test]
fn reload_applies_to_every_clone_at_once() {
    let r = router(PHASE1);
    let clone = r.clone();
    let warnings = r
        .reload_str(PHASE3, Format::Yaml, "phase3.yaml")
        .expect("valid");
    assert!(warnings.is_empty());
    let req = get("web.agendor.com.br", None);
    let d = clone.route(&RequestView::from_request(&req, None));
    assert_eq!(
        d.server().unwrap().url(),
        "http://agendor-web.production.svc.cluster.local"
    );
}

/// A table replaced while a decision holds it outlives the decision, and is freed by the
/// next swap (the reloading thread), never by the request that drops the decision.
#[test]
fn a_replaced_table_is_freed_by_the_next_swap_not_by_a_request() {
    let r = router(PHASE1);
    let first = Arc::downgrade(&r.snapshot());
    let req = get("web.agendor.com.br", None);
    let decision = r.route(&RequestView::from_request(&req, None));
    r.reload_str(PHASE3, Format::Yaml, "phase3.yaml")
        .expect("valid");
    assert_eq!(decision.backend(), Some("web"));
    drop(decision);
    assert!(first.upgrade().is_some(), "the request freed the old table");
    // The decision is gone: the next swap frees the first table, and keeps the second only
    // while something holds it.
    let second = Arc::downgrade(&r.snapshot());
    r.set_weight("web", "k8s", 3).expect("known server");
    assert!(
        first.upgrade().is_none(),
        "the swap did not free the old table"
    );
    assert!(second.upgrade().is_none(), "nothing held the second table");
}

/// Readers on three threads route while a fourth swaps phase 1 and phase 3 tables: every
/// decision is wholly of one table (a legacy server is never paired with phase 3's `web`
/// backend of one server, and vice versa), and no reader fails.
#[test]
fn readers_never_see_a_half_built_table() {
    let r = router(PHASE1);
    let phase1 = Config::from_str(PHASE1, Format::Yaml, "1").unwrap().config;
    let phase3 = Config::from_str(PHASE3, Format::Yaml, "3").unwrap().config;
    let stop = AtomicBool::new(false);
    let seen = std::thread::scope(|s| {
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let r = r.clone();
                let stop = &stop;
                s.spawn(move || {
                    let req = get("web.agendor.com.br", None);
                    let mut seen = [0usize; 2];
                    for _ in 0..200_000 {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let d = r.route(&RequestView::from_request(&req, None));
                        let s = d.server().expect("always a server");
                        match (s.name(), s.url()) {
                            ("legacy_1" | "legacy_2", u) if u.contains("legacy") => seen[0] += 1,
                            ("k8s", "http://agendor-web.production.svc.cluster.local") => {
                                seen[1] += 1
                            }
                            other => panic!("mixed decision {other:?}"),
                        }
                    }
                    seen
                })
            })
            .collect();
        for i in 0..2_000 {
            let next = if i % 2 == 0 { &phase3 } else { &phase1 };
            r.reload(next).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        readers
            .into_iter()
            .map(|h| h.join().unwrap())
            .fold([0, 0], |a, b| [a[0] + b[0], a[1] + b[1]])
    });
    assert!(seen[0] + seen[1] > 0);
}

const STICKY: &str = r#"
frontends:
  web:
    rules: ["Host:web.agendor.com.br"]
backends:
  web:
    sticky: {cookie: sw_web}
    servers:
      - name: legacy_1
        url: http://legacy-1.internal
        weight: 3
      - name: legacy_2
        url: http://legacy-2.internal
"#;

#[test]
fn servers_reads_weight_health_and_counters_from_one_table() {
    let r = router(PHASE1);
    r.set_weight("web", "legacy_2", 7).unwrap();
    r.set_health("web", "legacy_1", false).unwrap();
    // Three exchanges, all to legacy_2 (legacy_1 is down): one 200, two 503s from the server.
    for status in [200, 503, 502] {
        let req = get("web.agendor.com.br", None);
        let exchange = splitway::Exchange::begin(&r, &RequestView::from_request(&req, None));
        assert_eq!(exchange.decision().server().unwrap().name(), "legacy_2");
        exchange.finish(status, true);
    }
    let servers = r.servers();
    let rows: Vec<(&str, &str, &str, u32, bool, u64, u64)> = servers
        .iter()
        .map(|s| {
            (
                s.backend.as_str(),
                s.server.as_str(),
                s.url.as_str(),
                s.weight,
                s.healthy,
                s.stats.requests,
                s.stats.server_errors,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "web",
                "legacy_1",
                "http://legacy-1.internal",
                1,
                false,
                0,
                0
            ),
            ("web", "legacy_2", "http://legacy-2.internal", 7, true, 3, 2),
            (
                "web_canary",
                "k8s",
                "http://agendor-web-canary.production.svc.cluster.local",
                1,
                true,
                0,
                0
            ),
        ]
    );
    assert_eq!(r.server("web", "legacy_2").as_ref(), servers.get(1));
    assert_eq!(r.server("web", "nobody"), None);
    assert_eq!(r.server("nowhere", "legacy_1"), None);
}

#[test]
fn edits_of_unknown_servers_and_weights_past_the_cap_are_refused() {
    use splitway::EditError;
    let r = router(PHASE1);
    let before = r.snapshot();
    assert_eq!(
        r.set_weight("web", "nobody", 1),
        Err(EditError::UnknownServer {
            backend: "web".into(),
            server: "nobody".into()
        })
    );
    assert_eq!(
        r.set_weight("web", "legacy_1", 1_000_001),
        Err(EditError::WeightTooLarge { weight: 1_000_001 })
    );
    assert_eq!(
        r.set_health("nowhere", "k8s", false)
            .unwrap_err()
            .to_string(),
        "no server `k8s` in backend `nowhere`"
    );
    assert!(Arc::ptr_eq(&before, &r.snapshot()), "table was replaced");
    r.set_weight("web", "legacy_1", 1_000_000).unwrap();
    assert_eq!(r.server("web", "legacy_1").unwrap().weight, 1_000_000);
}

#[test]
fn an_exchange_answers_404_and_503_itself_and_forwards_the_rest() {
    let r = router(PHASE1);
    let unknown = get("example.com", None);
    let e = splitway::Exchange::begin(&r, &RequestView::from_request(&unknown, None));
    let response = e.own_response(str::to_owned).unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.body(), "no route\n");
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    assert!(response.headers().get("retry-after").is_none());

    r.set_health("web_canary", "k8s", false).unwrap();
    let canary = get("web.agendor.com.br", Some("_AUSER_TYPE=canary"));
    let e = splitway::Exchange::begin(&r, &RequestView::from_request(&canary, None));
    let response = e.own_response(str::to_owned).unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.body(), "no server available\n");
    assert_eq!(response.headers()["retry-after"], "5");
    // The integration's own answers are recorded against no server.
    e.finish(503, true);
    assert_eq!(r.server("web_canary", "k8s").unwrap().stats.requests, 0);

    let plain = get("web.agendor.com.br", None);
    let e = splitway::Exchange::begin(&r, &RequestView::from_request(&plain, None));
    assert!(e.own_response(str::to_owned).is_none());
    let mut headers = http::HeaderMap::new();
    e.complete_response(&mut headers);
    assert!(headers.is_empty(), "no cookie to set: {headers:?}");
}

#[test]
fn an_exchange_sets_the_sticky_cookie_on_the_servers_response() {
    let r = router(STICKY);
    let req = get("web.agendor.com.br", None);
    let e = splitway::Exchange::begin(&r, &RequestView::from_request(&req, None));
    let mut headers = http::HeaderMap::new();
    headers.append("set-cookie", "app=1".parse().unwrap());
    e.complete_response(&mut headers);
    let cookies: Vec<&str> = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert_eq!(cookies[0], "app=1");
    assert_eq!(Some(cookies[1]), e.decision().set_cookie());
    assert!(cookies[1].starts_with("sw_web="), "{}", cookies[1]);
}

#[test]
fn stats_json_has_the_admin_fields_for_every_server() {
    let r = router(PHASE1);
    let req = get("web.agendor.com.br", None);
    splitway::Exchange::begin(&r, &RequestView::from_request(&req, None)).finish(500, true);
    let doc: serde_json::Value =
        serde_json::from_str(&splitway::stats::stats_json(&r.servers())).unwrap();
    let keys: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["servers", "latency_bucket_bounds_ms"]);
    let servers = doc["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 3);
    let first = servers[0].as_object().unwrap();
    let keys: Vec<&str> = first.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "backend",
            "server",
            "requests",
            "errors",
            "error_rate",
            "latency_sum_ms",
            "weight",
            "healthy",
            "latency_buckets"
        ]
    );
    assert_eq!(first["server"], "legacy_1");
    assert_eq!(
        (first["requests"].as_u64(), first["errors"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(first["error_rate"].as_f64(), Some(1.0));
    assert_eq!(
        (first["weight"].as_u64(), first["healthy"].as_bool()),
        (Some(1), Some(true))
    );
    let buckets = first["latency_buckets"].as_array().unwrap();
    let bounds = doc["latency_bucket_bounds_ms"].as_array().unwrap();
    assert_eq!(bounds.len(), splitway::stats::LATENCY_BUCKETS_MICROS.len());
    assert_eq!(buckets.len(), bounds.len() + 1);
    assert_eq!(buckets.iter().map(|b| b.as_u64().unwrap()).sum::<u64>(), 1);
    assert_eq!(bounds[0].as_f64(), Some(0.1));
    assert_eq!(bounds[3].as_f64(), Some(1.0));
}

#[test]
fn set_weights_changes_several_servers_of_one_backend_in_one_swap_or_none() {
    let yaml = "frontends:\n  web:\n    rules: [\"Host:a.com\"]\nbackends:\n  web:\n    - {name: a, url: \"http://a.internal\", weight: 5}\n    - {name: b, url: \"http://b.internal\", weight: 5}\n    - {name: c, url: \"http://c.internal\", weight: 1}\n";
    let config = splitway::config::Config::from_str(yaml, splitway::config::Format::Yaml, "w.yaml")
        .unwrap()
        .config;
    let router = splitway::Router::from_config(&config).unwrap();
    let weights = |r: &splitway::Router| -> Vec<u32> {
        r.snapshot().config().backends[0]
            .servers
            .iter()
            .map(|s| s.weight)
            .collect()
    };
    let before = router.snapshot();
    router
        .set_weights("web", &[("a", 500), ("b", 500), ("c", 10)])
        .unwrap();
    assert_eq!(weights(&router), [500, 500, 10]);
    // One swap: the table before is the one taken out, with none in between.
    assert!(!std::sync::Arc::ptr_eq(&before, &router.snapshot()));
    assert_eq!(before.config().backends[0].servers[0].weight, 5);
    // An unknown server or a weight above the cap changes nothing.
    assert!(matches!(
        router.set_weights("web", &[("a", 1), ("z", 1)]),
        Err(splitway::EditError::UnknownServer { .. })
    ));
    assert!(matches!(
        router.set_weights("web", &[("a", 1), ("b", 1_000_001)]),
        Err(splitway::EditError::WeightTooLarge { weight: 1_000_001 })
    ));
    assert_eq!(weights(&router), [500, 500, 10]);
}

const FIXED: &str = r#"
frontends:
  web: {rule: "Host(`web.agendor.com.br`)"}
  down: {rule: "Host(`down.agendor.com.br`)"}
backends:
  web:
    - {name: real, url: "http://real.internal", weight: 2}
    - {name: broken-ref, status: 500, weight: 1}
  down:
    - {name: maintenance, status: 503, body: "back at 10:00\n"}
"#;

#[test]
fn a_fixed_response_server_keeps_its_share_and_the_exchange_answers_it() {
    let r = router(FIXED);
    let plain = get("web.agendor.com.br", None);
    let mut seen = Vec::new();
    for _ in 0..30 {
        let d = r.route(&RequestView::from_request(&plain, None));
        seen.push((d.server().unwrap().name().to_owned(), d.status().code()));
    }
    let n = |s: &str, code: u16| seen.iter().filter(|(n, c)| n == s && *c == code).count();
    assert_eq!((n("real", 200), n("broken-ref", 500)), (20, 10));

    let down = get("down.agendor.com.br", None);
    let e = splitway::Exchange::begin(&r, &RequestView::from_request(&down, None));
    assert_eq!(e.decision().status(), Status::Fixed(503));
    assert_eq!(e.decision().status().reason(), "fixed response");
    assert_eq!(e.decision().server().unwrap().name(), "maintenance");
    let response = e.own_response(str::to_owned).unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.body(), "back at 10:00\n");
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    e.finish(503, false);
    // Counted against the fixed server, as any server's answer is.
    let stats = r.server("down", "maintenance").unwrap().stats;
    assert_eq!((stats.requests, stats.server_errors), (1, 1));
}
