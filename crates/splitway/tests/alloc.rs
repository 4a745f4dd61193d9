//! No heap allocation per decision: matching and picking (wrr, random, hash, honoured sticky
//! cookie) on a warmed-up router, measured with a counting global allocator (per thread).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use splitway::config::{Config, Format};
use splitway::{RequestView, Router};

/// A realistic Cookie header: five cookies, about 200 bytes.
const COOKIES: &str = "_ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; \
     session_id=3f9a1c2b7e6d4f5a8b9c0d1e2f3a4b5c; locale=pt-BR; _AUSER_TYPE=canary";

fn router(yaml: &str) -> Router {
    let config = Config::from_str(yaml, Format::Yaml, "t.yaml")
        .unwrap()
        .config;
    Router::from_config(&config).unwrap()
}

/// Allocations made by `n` decisions for `req` (after one warm-up decision).
fn allocations(router: &Router, req: &http::Request<()>, n: usize) -> u64 {
    let warm = router.route(&RequestView::from_request(req, None));
    drop(warm);
    let info = allocation_counter::measure(|| {
        for _ in 0..n {
            let d = router.route(&RequestView::from_request(req, None));
            std::hint::black_box(d.server().map(|s| s.name().len()));
        }
    });
    info.count_total
}

fn seed_request(host: &str, cookie: &str) -> http::Request<()> {
    http::Request::get("/deals/42?tab=notes")
        .header("host", host)
        .header("user-agent", "Mozilla/5.0")
        .header("cookie", cookie)
        .body(())
        .unwrap()
}

const PHASE2: &str = include_str!("../../../examples/config/phase2.yaml");

#[test]
fn seed_phase2_decisions_do_not_allocate() {
    let r = router(PHASE2);
    // Canary cookie: the cookie rule matches.
    let canary = seed_request("web.agendor.com.br", COOKIES);
    assert_eq!(allocations(&r, &canary, 1000), 0);
    // No canary cookie: weighted round robin over 5:5:1.
    let plain = seed_request("web.agendor.com.br:443", "_ga=1; locale=pt-BR");
    assert_eq!(allocations(&r, &plain, 1000), 0);
    // Unknown host: 404.
    let other = seed_request("example.com", COOKIES);
    assert_eq!(allocations(&r, &other, 1000), 0);
}

#[test]
fn random_hash_and_sticky_picks_do_not_allocate() {
    let yaml = r#"
frontends:
  random: {rule: "Host(`random.test`)"}
  hash:   {rule: "Host(`hash.test`)"}
  sticky: {rule: "Host(`sticky.test`)"}
backends:
  random:
    balance: random
    servers:
      - {name: a, url: "http://a.internal", weight: 9}
      - {name: b, url: "http://b.internal", weight: 1}
  hash:
    hash: {key: "cookie:uid", seed: "r1"}
    servers:
      - {name: a, url: "http://a.internal", weight: 9}
      - {name: b, url: "http://b.internal", weight: 1}
  sticky:
    sticky: {cookie: srv}
    servers:
      - {name: a, url: "http://a.internal"}
      - {name: b, url: "http://b.internal"}
"#;
    let r = router(yaml);
    let random = seed_request("random.test", COOKIES);
    assert_eq!(allocations(&r, &random, 1000), 0);
    let hash = seed_request("hash.test", "uid=account-42; _ga=1");
    assert_eq!(allocations(&r, &hash, 1000), 0);
    // sticky: the first pick sets a cookie (that allocates the header text); a request
    // carrying a valid cookie is honoured without allocating.
    let first = r.route(&RequestView::from_request(
        &seed_request("sticky.test", ""),
        None,
    ));
    let cookie = first
        .set_cookie()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let stuck = seed_request("sticky.test", &format!("_ga=1; {cookie}"));
    assert_eq!(allocations(&r, &stuck, 1000), 0);
    let d = r.route(&RequestView::from_request(&stuck, None));
    assert_eq!(d.set_cookie(), None);
}

#[test]
fn path_trie_and_header_automaton_decisions_do_not_allocate() {
    // Enough path routes under one host for a trie, and enough regex routes on one header
    // and one cookie for an automaton each (a warmed-up thread reuses its search scratch).
    let mut yaml = String::from("frontends:\n");
    for i in 0..12 {
        yaml += &format!(
            "  p{i}: {{rule: \"Host(`api.test`) && PathPrefix(`/svc{i}/`)\", backend: b}}\n"
        );
        yaml += &format!(
            "  h{i}: {{rules: [\"HeadersRegexp:Cookie,_BETA=feature{i}\\\\b\"], backend: b}}\n"
        );
        yaml += &format!("  c{i}: {{rule: \"CookieRegexp(`tenant`, `^t{i}$`)\", backend: b}}\n");
    }
    yaml += "backends:\n  b:\n    - {name: a, url: \"http://a.internal\"}\n";
    let r = router(&yaml);
    let path = http::Request::get("/svc7/items")
        .header("host", "api.test")
        .header("cookie", COOKIES)
        .body(())
        .unwrap();
    assert_eq!(
        r.route(&RequestView::from_request(&path, None)).route(),
        Some("p7")
    );
    assert_eq!(allocations(&r, &path, 1000), 0);
    let header = seed_request("web.test", &format!("{COOKIES}; _BETA=feature5"));
    assert_eq!(
        r.route(&RequestView::from_request(&header, None)).route(),
        Some("h5")
    );
    assert_eq!(allocations(&r, &header, 1000), 0);
    let cookie = seed_request("web.test", &format!("{COOKIES}; tenant=t11"));
    assert_eq!(
        r.route(&RequestView::from_request(&cookie, None)).route(),
        Some("c11")
    );
    assert_eq!(allocations(&r, &cookie, 1000), 0);
    let miss = seed_request("web.test", COOKIES);
    assert_eq!(
        r.route(&RequestView::from_request(&miss, None)).route(),
        None
    );
    assert_eq!(allocations(&r, &miss, 1000), 0);
}

#[test]
fn signed_cookies_off_or_absent_from_the_request_cost_no_allocation() {
    // Off: the seed configuration names no signed cookie, and its cookie rule still
    // matches the plain cookie without allocating.
    let seed = Config::from_str(PHASE2, Format::Yaml, "phase2.yaml")
        .unwrap()
        .config;
    assert!(seed.signed_cookies.is_empty());
    let r = Router::from_config(&seed).unwrap();
    let canary = seed_request("web.agendor.com.br", COOKIES);
    assert_eq!(
        r.route(&RequestView::from_request(&canary, None)).route(),
        Some("web_canary")
    );
    assert_eq!(allocations(&r, &canary, 1000), 0);

    // On for `_AUSER_TYPE`, but the request carries no such cookie: routed as it is.
    let dir = std::env::temp_dir().join(format!("splitway-alloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("canary.key"), "0123456789abcdef0123456789abcdef\n").unwrap();
    let yaml = format!("signed_cookies:\n  _AUSER_TYPE: {{keys: [canary.key]}}\n{PHASE2}");
    let file = dir.join("phase2.yaml");
    std::fs::write(&file, yaml).unwrap();
    let signed = Config::from_file(&file).unwrap().config;
    std::fs::remove_dir_all(&dir).unwrap();
    let r = Router::from_config(&signed).unwrap();
    let plain = seed_request("web.agendor.com.br", "_ga=1; locale=pt-BR");
    assert_eq!(
        r.route(&RequestView::from_request(&plain, None)).route(),
        Some("web")
    );
    assert_eq!(allocations(&r, &plain, 1000), 0);
    // The unsigned canary cookie is removed before the rules look (that rewrite allocates).
    assert_eq!(
        r.route(&RequestView::from_request(&canary, None)).route(),
        Some("web")
    );
}
