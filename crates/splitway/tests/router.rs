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
