//! In a backend a rollout drives, a server the rollout drained (weight 0) loses its sticky
//! clients: their cookies count as unknown and are replaced. Elsewhere a drained server keeps
//! them (SPEC.md 4).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use splitway::config::{Config, Format};
use splitway::{RequestView, Router};

fn yaml(with_rollout: bool) -> String {
    let mut text = String::from(
        r#"frontends:
  web:
    rule: "Host(`web.example`)"
backends:
  web:
    sticky:
      cookie: srv
    servers:
      - name: stable
        url: http://stable.internal
        weight: 1
      - name: canary
        url: http://canary.internal
        weight: 1
"#,
    );
    if with_rollout {
        text.push_str("rollouts:\n  web:\n    canary: canary\n    steps: [50]\n");
    }
    text
}

/// (server, Set-Cookie) for a request with `cookie`.
fn pick(router: &Router, cookie: Option<&str>) -> (String, Option<String>) {
    let mut req = http::Request::get("http://web.example/");
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let req = req.body(()).unwrap();
    let d = router.route(&RequestView::from_request(&req, None));
    (
        d.server().unwrap().name().to_owned(),
        d.set_cookie().map(str::to_owned),
    )
}

/// The `srv=VALUE` cookie a client of `server` holds.
fn cookie_of(router: &Router, server: &str) -> String {
    for _ in 0..4 {
        let (s, set) = pick(router, None);
        if s == server {
            return set.unwrap().split(';').next().unwrap().to_owned();
        }
    }
    panic!("{server} never picked");
}

#[test]
fn a_drained_canary_keeps_its_sticky_clients_only_outside_a_rollout() {
    for with_rollout in [false, true] {
        let config = Config::from_str(&yaml(with_rollout), Format::Yaml, "s.yaml")
            .unwrap()
            .config;
        let router = Router::from_config(&config).unwrap();
        let canary = cookie_of(&router, "canary");
        assert_eq!(pick(&router, Some(&canary)), ("canary".to_owned(), None));
        router.set_weight("web", "canary", 0).unwrap();
        let (server, set) = pick(&router, Some(&canary));
        if with_rollout {
            assert_eq!(
                server, "stable",
                "a drained server's cookie counts as unknown"
            );
            let stable = cookie_of(&router, "stable");
            assert_eq!(
                set.as_deref().map(|c| c.split(';').next().unwrap()),
                Some(stable.as_str())
            );
        } else {
            assert_eq!(
                (server.as_str(), set),
                ("canary", None),
                "drained, sticky clients stay"
            );
        }
    }
}
