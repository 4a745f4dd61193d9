//! Signed cookies through the router: what every matcher and the cohort hash see of a signed
//! cookie (its verified VALUE, or nothing), and how the configuration reads its keys.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use splitway::config::Config;
use splitway::signed_cookie::{SigningKey, sign};
use splitway::{RequestView, Router};

const KEY_A: &str = "A-key-for-tests-0123456789abcdef";
const KEY_B: &str = "B-key-for-tests-0123456789abcdef";
const KEY_WRONG: &str = "wrong-key-for-tests-0123456789ab";
/// The time every request here is routed at.
const NOW: u64 = 1_767_225_600;

/// A directory of its own under the system's temporary one, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir =
            std::env::temp_dir().join(format!("splitway-signed-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The talk's phase 2 with `_AUSER_TYPE` signed (keys `a.key`, then `b.key` when `rotated`)
/// and a `beta` cookie read by an exact Cookie matcher and a cohort keyed on `uid`.
fn talk_config(dir: &Dir, keys: &[&str]) -> Config {
    dir.write("a.key", &format!("{KEY_A}\n"));
    dir.write("b.key", KEY_B);
    let keys = keys.join(", ");
    let yaml = format!(
        r#"
signed_cookies:
  _AUSER_TYPE: {{keys: [{keys}], max_age: 720h}}
  beta: {{keys: [a.key]}}
  uid: {{keys: [a.key]}}
frontends:
  web:
    rules: ["Host:web.agendor.com.br"]
  web_canary:
    rules: ["Host:web.agendor.com.br", "HeadersRegexp:Cookie,_AUSER_TYPE=canary"]
  beta:
    rule: "Host(`beta.test`) && Cookie(`beta`, `v1.2.3`)"
  cohort:
    rule: "Host(`cohort.test`)"
backends:
  web:
    - {{name: legacy, url: "http://legacy.internal"}}
  web_canary:
    - {{name: k8s, url: "http://k8s.internal"}}
  beta:
    - {{name: beta, url: "http://beta.internal"}}
  cohort:
    hash: {{key: "cookie:uid", seed: "s"}}
    servers:
      - {{name: a, url: "http://a.internal"}}
      - {{name: b, url: "http://b.internal"}}
      - {{name: c, url: "http://c.internal"}}
"#
    );
    let file = dir.write("routes.yaml", &yaml);
    Config::from_file(&file).unwrap().config
}

fn key(text: &str) -> SigningKey {
    SigningKey::new(text.as_bytes().to_vec()).unwrap()
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// The route `host` with this Cookie header gets at [`NOW`], by `route` and by `explain`
/// (which must agree).
fn route(router: &Router, host: &str, cookie: &str) -> String {
    let req = http::Request::get("/")
        .header("host", host)
        .header("cookie", cookie)
        .body(())
        .unwrap();
    let view = || RequestView::from_request(&req, None).at(at(NOW));
    let routed = router.route(&view()).route().unwrap_or("-").to_owned();
    let explained = router.explain(&view());
    assert_eq!(
        explained.decision.route().unwrap_or("-"),
        routed,
        "{cookie}"
    );
    routed
}

fn canary_cookie(key_text: &str, value: &str, expiry: u64) -> String {
    format!(
        "_ga=GA1.2.3; _AUSER_TYPE={}; locale=pt-BR",
        sign(&key(key_text), "_AUSER_TYPE", value, expiry)
    )
}

#[test]
fn only_a_validly_signed_canary_cookie_enrols() {
    let dir = Dir::new("enrol");
    let router = Router::from_config(&talk_config(&dir, &["a.key"])).unwrap();
    let host = "web.agendor.com.br";
    let day = 86_400;
    assert_eq!(
        route(&router, host, &canary_cookie(KEY_A, "canary", NOW + day)),
        "web_canary"
    );
    // Expiring this very second still counts; a second ago does not.
    assert_eq!(
        route(&router, host, &canary_cookie(KEY_A, "canary", NOW)),
        "web_canary"
    );
    assert_eq!(
        route(&router, host, &canary_cookie(KEY_A, "canary", NOW - 1)),
        "web"
    );
    // Signed by a key the configuration does not list.
    assert_eq!(
        route(
            &router,
            host,
            &canary_cookie(KEY_WRONG, "canary", NOW + day)
        ),
        "web"
    );
    // Forged: the value changed after signing, or a made-up signature.
    let legacy = canary_cookie(KEY_A, "legacy", NOW + day);
    assert_eq!(
        route(&router, host, &legacy.replace("legacy.", "canary.")),
        "web"
    );
    let made_up = format!("_AUSER_TYPE=canary.{}.{}", NOW + day, "A".repeat(43));
    assert_eq!(route(&router, host, &made_up), "web");
    // Unsigned: the talk's plain cookie, anyone could set it.
    assert_eq!(route(&router, host, "_AUSER_TYPE=canary"), "web");
    assert_eq!(route(&router, host, "a=1; _AUSER_TYPE=canary; b=2"), "web");
    // Longer-lived than max_age (720h) plus five minutes of clock skew.
    let max = NOW + 720 * 3600 + 300;
    assert_eq!(
        route(&router, host, &canary_cookie(KEY_A, "canary", max)),
        "web_canary"
    );
    assert_eq!(
        route(&router, host, &canary_cookie(KEY_A, "canary", max + 1)),
        "web"
    );
    // A valid signed cookie next to a forged copy: the valid one is seen, the other is not.
    let both = format!(
        "_AUSER_TYPE=canary.1.{}; {}",
        "B".repeat(43),
        canary_cookie(KEY_A, "canary", NOW + day)
    );
    assert_eq!(route(&router, host, &both), "web_canary");
}

#[test]
fn the_regex_sees_the_verified_value_not_the_wire_value() {
    let dir = Dir::new("regex");
    let router = Router::from_config(&talk_config(&dir, &["a.key"])).unwrap();
    // `_AUSER_TYPE=canaryX` verified: the regex `_AUSER_TYPE=canary` still finds its prefix,
    // as it would in an unsigned cookie (the rule is a substring search).
    let cookie = canary_cookie(KEY_A, "canaryX", NOW + 60);
    assert_eq!(route(&router, "web.agendor.com.br", &cookie), "web_canary");
    // The explanation shows the rule's Cookie matcher failing on a forged cookie.
    let req = http::Request::get("/")
        .header("host", "web.agendor.com.br")
        .header("cookie", "_AUSER_TYPE=canary.1.forged")
        .body(())
        .unwrap();
    let explained = router.explain(&RequestView::from_request(&req, None).at(at(NOW)));
    let canary = explained
        .candidates
        .iter()
        .find(|c| c.route == "web_canary")
        .unwrap();
    assert!(!canary.matched);
    assert_eq!(
        canary.failed.as_deref(),
        Some("HeadersRegexp:Cookie,_AUSER_TYPE=canary")
    );
}

#[test]
fn key_rotation_second_key_verifies_first_key_signs() {
    let dir = Dir::new("rotate");
    // b.key is new and signs; a.key still verifies the cookies it signed.
    let config = talk_config(&dir, &["b.key", "a.key"]);
    let router = Router::from_config(&config).unwrap();
    let host = "web.agendor.com.br";
    assert_eq!(
        route(&router, host, &canary_cookie(KEY_A, "canary", NOW + 60)),
        "web_canary"
    );
    assert_eq!(
        route(&router, host, &canary_cookie(KEY_B, "canary", NOW + 60)),
        "web_canary"
    );
    let signed = config
        .signed_cookies
        .iter()
        .find(|c| c.name == "_AUSER_TYPE")
        .unwrap();
    assert_eq!(
        signed.sign("canary", NOW + 60).unwrap(),
        sign(&key(KEY_B), "_AUSER_TYPE", "canary", NOW + 60)
    );
    // With only a.key listed, b.key's cookies are refused.
    let only_a = Router::from_config(&talk_config(&dir, &["a.key"])).unwrap();
    assert_eq!(
        route(&only_a, host, &canary_cookie(KEY_B, "canary", NOW + 60)),
        "web"
    );
}

#[test]
fn cookie_matchers_see_a_value_with_dots() {
    let dir = Dir::new("dots");
    let router = Router::from_config(&talk_config(&dir, &["a.key"])).unwrap();
    let beta = |value: &str, key_text: &str| {
        format!("beta={}", sign(&key(key_text), "beta", value, NOW + 60))
    };
    assert_eq!(route(&router, "beta.test", &beta("v1.2.3", KEY_A)), "beta");
    assert_eq!(route(&router, "beta.test", &beta("v1.2.4", KEY_A)), "-");
    assert_eq!(route(&router, "beta.test", &beta("v1.2.3", KEY_WRONG)), "-");
    assert_eq!(route(&router, "beta.test", "beta=v1.2.3"), "-");
    // Quoted, as some clients send cookie values.
    let quoted = format!("beta=\"{}\"", sign(&key(KEY_A), "beta", "v1.2.3", NOW + 60));
    assert_eq!(route(&router, "beta.test", &quoted), "beta");
}

#[test]
fn a_cohort_keyed_on_a_signed_cookie_hashes_its_value() {
    let dir = Dir::new("cohort");
    let signed = Router::from_config(&talk_config(&dir, &["a.key"])).unwrap();
    // The same backend, its key cookie unsigned.
    let yaml = r#"
frontends:
  cohort: {rule: "Host(`cohort.test`)"}
backends:
  cohort:
    hash: {key: "cookie:uid", seed: "s"}
    servers:
      - {name: a, url: "http://a.internal"}
      - {name: b, url: "http://b.internal"}
      - {name: c, url: "http://c.internal"}
"#;
    let plain = Router::from_config(
        &Config::from_str(yaml, splitway::config::Format::Yaml, "plain.yaml")
            .unwrap()
            .config,
    )
    .unwrap();
    let server = |router: &Router, cookie: &str| {
        let req = http::Request::get("/")
            .header("host", "cohort.test")
            .header("cookie", cookie)
            .body(())
            .unwrap();
        let d = router.route(&RequestView::from_request(&req, None).at(at(NOW)));
        d.server().map(|s| s.name().to_owned())
    };
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..60 {
        let value = format!("user-{i}");
        let wire = sign(&key(KEY_A), "uid", &value, NOW + 60);
        let by_value = server(&plain, &format!("uid={value}")).unwrap();
        assert_eq!(
            server(&signed, &format!("uid={wire}")),
            Some(by_value.clone())
        );
        seen.insert(by_value);
    }
    // Sixty users over three servers reach all three: the test compares real choices.
    assert_eq!(seen.len(), 3);
}

#[test]
fn without_a_time_the_system_clock_is_used() {
    let dir = Dir::new("clock");
    let router = Router::from_config(&talk_config(&dir, &["a.key"])).unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (expiry, want) in [(now + 3600, "web_canary"), (now - 3600, "web")] {
        let req = http::Request::get("/")
            .header("host", "web.agendor.com.br")
            .header("cookie", canary_cookie(KEY_A, "canary", expiry))
            .body(())
            .unwrap();
        let view = RequestView::from_request(&req, None);
        assert_eq!(view.time(), None);
        assert_eq!(router.route(&view).route(), Some(want));
    }
}

/// The error messages of loading `yaml` as `dir/routes.yaml`, as `FILE:LINE:COL: message`.
fn errors(dir: &Dir, yaml: &str) -> Vec<String> {
    let file = dir.write("routes.yaml", yaml);
    match Config::from_file(&file) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .diagnostics
            .iter()
            .map(|d| {
                let file = Path::new(&d.file).file_name().unwrap().to_string_lossy();
                format!("{file}:{}:{}: {}", d.line, d.col, d.message)
            })
            .collect(),
    }
}

const ROUTES: &str = r#"
frontends:
  web: {rule: "Host(`a.test`)"}
backends:
  web:
    - {name: a, url: "http://a.internal"}
"#;

#[test]
fn key_files_are_checked_where_they_are_named() {
    let dir = Dir::new("errors");
    dir.write("short.key", &format!("{}\n", &KEY_A[..31]));
    dir.write("good.key", KEY_A);
    std::fs::create_dir_all(dir.0.join("keys")).unwrap();
    dir.write("keys/nested.key", KEY_B);
    let yaml = format!(
        "signed_cookies:\n  a: {{keys: [short.key]}}\n  b:\n    keys:\n      - good.key\n      - missing.key\n  c: {{keys: []}}\n  d: {{max_age: 1h}}\n  e: {{keys: [keys/nested.key], max_age: soon}}\n  \"bad name\": {{keys: [good.key]}}\n{ROUTES}"
    );
    let found = errors(&dir, &yaml);
    assert_eq!(found.len(), 6, "{found:#?}");
    assert!(
        found[0].starts_with("routes.yaml:2:14: key file `short.key`: the key is 31 bytes"),
        "{}",
        found[0]
    );
    assert!(
        found[1].starts_with("routes.yaml:6:9: key file `missing.key`: cannot read it"),
        "{}",
        found[1]
    );
    assert_eq!(
        found[2],
        "routes.yaml:7:13: `keys` is empty: it needs at least one key file"
    );
    assert_eq!(
        found[3],
        "routes.yaml:8:6: signed cookie `d` has no `keys`: it needs at least one key file"
    );
    assert!(
        found[4].starts_with("routes.yaml:9:41: invalid duration `soon`"),
        "{}",
        found[4]
    );
    assert!(
        found[5].starts_with("routes.yaml:10:3: `bad name` is not a cookie name"),
        "{}",
        found[5]
    );
    // Relative to the configuration's directory, not the working directory.
    let ok = format!("signed_cookies:\n  e: {{keys: [keys/nested.key, good.key]}}\n{ROUTES}");
    let config = Config::from_file(&dir.write("routes.yaml", &ok))
        .unwrap()
        .config;
    let e = &config.signed_cookies[0];
    assert_eq!((e.name.as_str(), e.keys.len()), ("e", 2));
    assert_eq!(e.keys[0], key(KEY_B));
    assert_eq!(e.max_age, Duration::from_secs(30 * 86_400));
}

#[test]
fn upgrade_protocols_default_to_websocket_and_never_allow_h2c() {
    let dir = Dir::new("upgrades");
    let load = |top: &str| Config::from_file(&dir.write("routes.yaml", &format!("{top}{ROUTES}")));
    assert_eq!(load("").unwrap().config.upgrade_protocols, ["websocket"]);
    assert_eq!(
        load("upgrade_protocols: [WebSocket, foo, websocket]\n")
            .unwrap()
            .config
            .upgrade_protocols,
        ["websocket", "foo"]
    );
    assert!(
        load("upgrade_protocols: []\n")
            .unwrap()
            .config
            .upgrade_protocols
            .is_empty()
    );
    assert_eq!(
        errors(
            &dir,
            &format!("upgrade_protocols: [websocket, H2C, \"a b\"]\n{ROUTES}")
        ),
        [
            "routes.yaml:1:32: `H2C` upgrades are never forwarded: the server's side would become HTTP/2 that the proxy no longer reads (request smuggling)",
            "routes.yaml:1:38: `a b` is not a protocol name (a token such as `websocket`)",
        ]
    );
}

#[test]
fn a_cookie_splitway_issues_itself_cannot_be_signed() {
    let dir = Dir::new("issued");
    dir.write("k.key", KEY_A);
    let yaml = "signed_cookies:\n  srv: {keys: [k.key]}\n  uid: {keys: [k.key]}\n  plain: {keys: [k.key]}\n\
                frontends:\n  a: {rule: \"Host(`a.test`)\"}\n  b: {rule: \"Host(`b.test`)\"}\n\
                backends:\n  a:\n    sticky: {cookie: srv}\n    servers: [{name: s, url: \"http://s.internal\"}]\n\
                \x20 b:\n    hash: {key: \"cookie:uid\", issue_cookie: true}\n    servers: [{name: s, url: \"http://s.internal\"}]\n";
    assert_eq!(
        errors(&dir, yaml),
        [
            "routes.yaml:2:3: `srv` cannot be signed: backend `a` issues it itself (a sticky or issue_cookie cookie), unsigned, and would then refuse it",
            "routes.yaml:3:3: `uid` cannot be signed: backend `b` issues it itself (a sticky or issue_cookie cookie), unsigned, and would then refuse it",
        ]
    );
}
