//! Server selection through the Router: exact totals under concurrency, health and sticky
//! state across reloads, drained servers, and the sticky-cookie property.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use splitway::config::{Config, Format};
use splitway::{RequestView, Router, Status};

const PHASE2: &str = include_str!("../../../examples/config/phase2.yaml");

fn router(yaml: &str) -> Router {
    let config = Config::from_str(yaml, Format::Yaml, "t.yaml")
        .unwrap()
        .config;
    Router::from_config(&config).unwrap()
}

fn get(host: &str, cookie: Option<&str>) -> http::Request<()> {
    let mut b = http::Request::get("/").header("host", host);
    if let Some(c) = cookie {
        b = b.header("cookie", c);
    }
    b.body(()).unwrap()
}

fn server(r: &Router, req: &http::Request<()>) -> Option<String> {
    r.route(&RequestView::from_request(req, None))
        .server()
        .map(|s| s.name().to_owned())
}

/// 8 threads × 100,000 picks on the phase-2 table: the totals are exactly those of the first
/// 800,000 entries of the repeating 11-pick cycle.
#[test]
fn eight_threads_of_100000_picks_keep_exact_totals() {
    let r = router(PHASE2);
    let totals = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let r = r.clone();
                s.spawn(move || {
                    let req = get("web.agendor.com.br", None);
                    let mut c = [0u64; 3];
                    for _ in 0..100_000 {
                        match server(&r, &req).as_deref() {
                            Some("legacy_1") => c[0] += 1,
                            Some("legacy_2") => c[1] += 1,
                            Some("k8s") => c[2] += 1,
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                    c
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .fold([0u64; 3], |a, c| [a[0] + c[0], a[1] + c[1], a[2] + c[2]])
    });
    // 800,000 = 72,727 whole cycles (5/5/1) + 3 picks (legacy_1, legacy_2, legacy_1).
    assert_eq!(totals, [72_727 * 5 + 2, 72_727 * 5 + 1, 72_727]);
}

const STICKY: &str = r#"
frontends:
  web: {rule: "Host(`web.test`)"}
backends:
  web:
    sticky: {cookie: srv, http_only: true}
    servers:
      - {name: a, url: "http://a.internal"}
      - {name: b, url: "http://b.internal"}
      - {name: c, url: "http://c.internal"}
"#;

#[test]
fn health_and_sticky_state_survive_a_reload() {
    let r = router(STICKY);
    let first = r.route(&RequestView::from_request(&get("web.test", None), None));
    let cookie = first
        .set_cookie()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let stuck_on = first.server().unwrap().name().to_owned();
    assert!(r.set_health("web", "c", false).unwrap());
    assert!(!r.server("web", "c").unwrap().healthy);

    // Reload with a changed weight on `a` and a new server `d`: c stays down, the sticky user
    // stays where they were.
    let next = STICKY.replace(
        r#"- {name: a, url: "http://a.internal"}"#,
        r#"- {name: a, url: "http://a.internal", weight: 3}
      - {name: d, url: "http://d.internal"}"#,
    );
    r.reload_str(&next, Format::Yaml, "next.yaml").unwrap();
    assert!(!r.server("web", "c").unwrap().healthy);
    assert!(r.server("web", "d").unwrap().healthy);
    let req = get("web.test", Some(&cookie));
    for _ in 0..20 {
        let d = r.route(&RequestView::from_request(&req, None));
        assert_eq!(
            (d.server().unwrap().name(), d.set_cookie()),
            (stuck_on.as_str(), None)
        );
    }
    // c is never picked while down: 6 picks over a(3), b(1), d(1) are exact.
    let fresh = get("web.test", None);
    let mut picks: Vec<String> = (0..10).map(|_| server(&r, &fresh).unwrap()).collect();
    picks.sort();
    assert_eq!(picks.iter().filter(|p| *p == "a").count(), 6);
    assert_eq!(picks.iter().filter(|p| *p == "b").count(), 2);
    assert_eq!(picks.iter().filter(|p| *p == "d").count(), 2);

    // A server whose URL changes is a new server: its health starts up again.
    let moved = next.replace("http://c.internal", "http://c2.internal");
    r.reload_str(&moved, Format::Yaml, "moved.yaml").unwrap();
    assert!(r.server("web", "c").unwrap().healthy);
}

#[test]
fn all_servers_down_is_503_and_unknown_names_are_errors() {
    let r = router(PHASE2);
    for s in ["legacy_1", "legacy_2", "k8s"] {
        r.set_health("web", s, false).unwrap();
    }
    let d = r.route(&RequestView::from_request(
        &get("web.agendor.com.br", None),
        None,
    ));
    assert_eq!(
        (d.status(), d.route(), d.server().is_none()),
        (Status::NoServer, Some("web"), true)
    );
    // The canary route's backend is another backend: unaffected.
    let canary = get("web.agendor.com.br", Some("_AUSER_TYPE=canary"));
    assert_eq!(server(&r, &canary).as_deref(), Some("k8s"));
    assert!(r.set_health("web", "nope", false).is_err());
    assert!(r.set_health("nope", "k8s", false).is_err());
}

#[test]
fn set_weight_drains_and_restores_without_losing_other_state() {
    let r = router(PHASE2);
    r.set_health("web", "legacy_2", false).unwrap();
    r.set_weight("web", "k8s", 0).unwrap();
    let req = get("web.agendor.com.br", None);
    let picks: Vec<String> = (0..6).map(|_| server(&r, &req).unwrap()).collect();
    assert_eq!(picks, ["legacy_1"; 6]);
    r.set_weight("web", "k8s", 5).unwrap();
    r.set_health("web", "legacy_2", true).unwrap();
    let picks: Vec<String> = (0..15).map(|_| server(&r, &req).unwrap()).collect();
    assert_eq!(picks.iter().filter(|p| *p == "k8s").count(), 5);
    assert_eq!(picks.iter().filter(|p| *p == "legacy_2").count(), 5);
    assert!(r.set_weight("web", "k8s", 1_000_001).is_err());
    assert!(r.set_weight("web", "nope", 1).is_err());
}

#[test]
fn explain_shows_cohort_scores_and_takeover_weights() {
    let yaml = r#"
frontends:
  web: {rule: "Host(`web.test`)"}
backends:
  web:
    hash: {key: "header:X-Account", seed: "release-7"}
    servers:
      - {name: stable, url: "http://stable.internal", weight: 9}
      - {name: canary, url: "http://canary.internal", weight: 1}
"#;
    let r = router(yaml);
    let mut joined = 0;
    for i in 0..200 {
        let req = http::Request::get("/")
            .header("host", "web.test")
            .header("x-account", format!("acct-{i}"))
            .body(())
            .unwrap();
        let e = r.explain(&RequestView::from_request(&req, None));
        let cohort = e.cohort.expect("hash backend with key");
        let chosen = e.decision.server().unwrap().name().to_owned();
        assert_eq!(cohort.len(), 2);
        let canary = cohort.iter().find(|s| s.server == "canary").unwrap();
        if chosen == "stable" {
            let w = canary.takeover_weight.expect("some weight takes it over");
            // Raising the canary to exactly that weight moves this account; one less does not.
            let at = yaml.replace("weight: 1}", &format!("weight: {w}}}"));
            assert_eq!(server_for(&at, i), "canary", "acct-{i} at {w}");
            if w > 1 {
                let below = yaml.replace("weight: 1}", &format!("weight: {}}}", w - 1));
                assert_eq!(server_for(&below, i), "stable", "acct-{i} at {}", w - 1);
            }
        } else {
            joined += 1;
            assert_eq!(canary.takeover_weight, None);
        }
    }
    // Roughly 10% of accounts are on the canary at weight 1 of 10.
    assert!((5..=40).contains(&joined), "{joined}");
}

fn server_for(yaml: &str, i: usize) -> String {
    let r = router(yaml);
    let req = http::Request::get("/")
        .header("host", "web.test")
        .header("x-account", format!("acct-{i}"))
        .body(())
        .unwrap();
    server(&r, &req).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// (d) A sticky cookie is honoured exactly when it names a healthy server of this backend;
    /// otherwise a new cookie naming the chosen server is set.
    #[test]
    fn sticky_cookie_is_honoured_only_for_healthy_servers_of_the_same_backend(
        down in prop::collection::vec(any::<bool>(), 3),
        named in 0usize..5,
    ) {
        let yaml = r#"
frontends:
  web: {rule: "Host(`web.test`)"}
  api: {rule: "Host(`api.test`)"}
backends:
  web:
    sticky: {cookie: srv}
    servers:
      - {name: a, url: "http://a.internal"}
      - {name: b, url: "http://b.internal"}
      - {name: c, url: "http://c.internal", weight: 0}
  api:
    sticky: {cookie: srv}
    servers:
      - {name: x, url: "http://x.internal"}
"#;
        let r = router(yaml);
        for (s, &d) in ["a", "b", "c"].iter().zip(&down) {
            r.set_health("web", s, !d).unwrap();
        }
        // named: 0..3 a server of `web`, 3 a server of `api`, 4 garbage.
        let first = |host: &str| {
            let d = r.route(&RequestView::from_request(&get(host, None), None));
            d.set_cookie().map(|c| c.split(';').next().unwrap().to_owned())
        };
        let cookie = match named {
            0..=2 => {
                // Learn the value for server `named` of `web` from a router where it is the
                // only one up and weighted.
                let only = yaml.replace("weight: 0", "weight: 1");
                let solo = router(&only);
                for (i, s) in ["a", "b", "c"].iter().enumerate() {
                    solo.set_health("web", s, i == named).unwrap();
                }
                let d = solo.route(&RequestView::from_request(&get("web.test", None), None));
                d.set_cookie().unwrap().split(';').next().unwrap().to_owned()
            }
            3 => first("api.test").unwrap(),
            _ => "srv=ffffffffffffffff".to_owned(),
        };
        let d = r.route(&RequestView::from_request(&get("web.test", Some(&cookie)), None));
        let healthy_named = named < 3 && !down[named];
        if healthy_named {
            prop_assert_eq!(d.server().unwrap().name(), ["a", "b", "c"][named]);
            prop_assert_eq!(d.set_cookie(), None);
        } else {
            match d.server() {
                Some(s) => {
                    let i = ["a", "b", "c"].iter().position(|n| *n == s.name()).unwrap();
                    prop_assert!(!down[i] && i < 2, "picked a down or drained server");
                    prop_assert!(d.set_cookie().unwrap().starts_with("srv="));
                }
                None => prop_assert!(down[0] && down[1]),
            }
        }
    }
}
