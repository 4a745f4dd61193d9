//! Traefik v1 file-provider configurations load unchanged (SPEC.md 2.2).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use splitway::config::{
    Balance, Config, Format, HealthCheck, Loaded, SameSite, Sticky, traefik_cookie_name,
};
use splitway::diag::Severity;

const TRAEFIK: &str = r#"logLevel = "INFO"
defaultEntryPoints = ["http"]

[entryPoints]
  [entryPoints.http]
  address = ":80"

[file]

[backends]
  [backends.backend1]
    [backends.backend1.servers.server1]
    url = "http://172.17.0.2:80"
    weight = 10
    [backends.backend1.servers.server2]
    url = "http://172.17.0.3:80"
    weight = 1
    [backends.backend1.loadBalancer]
    method = "drr"
      [backends.backend1.loadBalancer.stickiness]
      cookieName = "my cookie"
    [backends.backend1.healthCheck]
    path = "/health"
    interval = "10s"
    port = 8080
    hostname = "health.local"
      [backends.backend1.healthCheck.headers]
      X-Check = "1"
    [backends.backend1.circuitBreaker]
    expression = "NetworkErrorRatio() > 0.5"
  [backends.backend2]
    [backends.backend2.loadBalancer]
    sticky = true
    [backends.backend2.servers.a]
    url = "http://172.17.0.4:80"

[frontends]
  [frontends.frontend1]
  backend = "backend1"
  passHostHeader = false
  entryPoints = ["http"]
    [frontends.frontend1.routes.test_2]
    rule = "PathPrefix:/api"
    [frontends.frontend1.routes.test_1]
    rule = "Host:test.localhost"
  [frontends.frontend2]
  backend = "backend2"
  priority = 10
    [frontends.frontend2.routes.r]
    rule = "Host:b.localhost"
"#;

fn load(text: &str, format: Format) -> Loaded {
    match Config::from_str(text, format, "traefik") {
        Ok(loaded) => loaded,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn traefik_v1_toml_loads_with_the_right_model() {
    let loaded = load(TRAEFIK, Format::Toml);
    let c = &loaded.config;

    let names: Vec<&str> = c.frontends.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["frontend1", "frontend2"]);
    let f1 = &c.frontends[0];
    assert_eq!(f1.backend, "backend1");
    // Routes are ANDed in route-name order; priority is the sum of their lengths.
    assert_eq!(f1.rule.texts(), ["Host:test.localhost", "PathPrefix:/api"]);
    assert_eq!(f1.priority, 19 + 15);
    assert!(!f1.pass_host_header);
    let f2 = &c.frontends[1];
    assert_eq!(f2.priority, 10);
    assert!(f2.pass_host_header);

    let names: Vec<&str> = c.backends.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["backend1", "backend2"]);
    let b1 = &c.backends[0];
    let servers: Vec<(&str, &str, u32)> = b1
        .servers
        .iter()
        .map(|s| (s.name.as_str(), s.url.as_str(), s.weight))
        .collect();
    assert_eq!(
        servers,
        [
            ("server1", "http://172.17.0.2:80", 10),
            ("server2", "http://172.17.0.3:80", 1)
        ]
    );
    assert_eq!(b1.balance, Balance::Wrr);
    assert_eq!(
        b1.sticky,
        Some(Sticky {
            cookie: "my_cookie".into(),
            secure: false,
            http_only: false,
            same_site: None,
            max_age: None,
        })
    );
    assert_eq!(
        b1.health_check,
        Some(HealthCheck {
            path: "/health".into(),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            port: Some(8080),
            hostname: Some("health.local".into()),
            headers: vec![("X-Check".into(), "1".into())],
        })
    );
    let b2 = &c.backends[1];
    assert_eq!(b2.servers[0].weight, 1);
    assert_eq!(
        b2.sticky.as_ref().map(|s| s.cookie.as_str()),
        Some(traefik_cookie_name("", "backend2").as_str())
    );
}

#[test]
fn traefik_keys_splitway_does_not_use_are_warnings_in_file_order() {
    let loaded = load(TRAEFIK, Format::Toml);
    let got: Vec<(usize, usize, &str)> = loaded
        .warnings
        .iter()
        .map(|d| {
            assert_eq!(d.severity, Severity::Warning);
            (d.line, d.col, d.message.as_str())
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                1,
                1,
                "`logLevel` in the top level is a Traefik v1 setting that splitway does not use; ignored"
            ),
            (
                2,
                1,
                "`defaultEntryPoints` in the top level is a Traefik v1 setting that splitway does not use; ignored"
            ),
            (
                4,
                2,
                "`entryPoints` in the top level is a Traefik v1 setting that splitway does not use; ignored"
            ),
            (
                8,
                2,
                "`file` in the top level is a Traefik v1 setting that splitway does not use; ignored"
            ),
            (
                29,
                24,
                "`circuitBreaker` in backend `backend1` is a Traefik v1 setting that splitway does not use; ignored"
            ),
            (
                41,
                3,
                "`entryPoints` in frontend `frontend1` is a Traefik v1 setting that splitway does not use; ignored"
            ),
        ]
    );
}

#[test]
fn traefik_default_cookie_name_matches_traefik() {
    // TRAEFIK.md section 4: backend `backend` gives `_76eb3`.
    assert_eq!(traefik_cookie_name("", "backend"), "_76eb3");
    assert_eq!(traefik_cookie_name("a;b=c", "x"), "a_b_c");
    assert_eq!(traefik_cookie_name("çok", "x"), "_ok");
}

#[test]
fn the_same_traefik_model_loads_from_yaml() {
    let yaml = r#"
backends:
  backend1:
    servers:
      server1: {url: "http://172.17.0.2:80", weight: 10}
      server2: {url: "http://172.17.0.3:80", weight: 1}
    loadBalancer:
      method: drr
      stickiness: {cookieName: "my cookie"}
    healthCheck:
      path: /health
      interval: 10s
      port: 8080
      hostname: health.local
      headers: {X-Check: "1"}
  backend2:
    loadBalancer: {sticky: true}
    servers:
      a: {url: "http://172.17.0.4:80"}
frontends:
  frontend1:
    backend: backend1
    passHostHeader: false
    routes:
      test_2: {rule: "PathPrefix:/api"}
      test_1: {rule: "Host:test.localhost"}
  frontend2:
    backend: backend2
    priority: 10
    routes:
      r: {rule: "Host:b.localhost"}
"#;
    let a = load(TRAEFIK, Format::Toml).config;
    let b = load(yaml, Format::Yaml).config;
    let summary = |c: &Config| {
        let f: Vec<String> = c
            .frontends
            .iter()
            .map(|f| {
                format!(
                    "{} {} {:?} {} {}",
                    f.name,
                    f.backend,
                    f.rule.texts(),
                    f.priority,
                    f.pass_host_header
                )
            })
            .collect();
        let b: Vec<String> = c
            .backends
            .iter()
            .map(|b| {
                format!(
                    "{} {:?} {:?} {:?} {:?} {:?}",
                    b.name, b.servers, b.balance, b.sticky, b.hash, b.health_check
                )
            })
            .collect();
        (f, b)
    };
    assert_eq!(summary(&a), summary(&b));
}

#[test]
fn a_v1_priority_of_zero_or_less_keeps_the_default() {
    let text = r#"
[frontends.f]
backend = "b"
priority = -5
[frontends.f.routes.r]
rule = "Host:a.com"
[frontends.g]
backend = "b"
priority = 0
rule = "Host(`a.com`)"
[backends.b.servers.s]
url = "http://a.local"
"#;
    let c = load(text, Format::Toml).config;
    assert_eq!(c.frontends[0].priority, 10);
    assert_eq!(c.frontends[1].priority, 13);
}

#[test]
fn weight_zero_in_traefik_shape_drains_with_a_warning() {
    let text = r#"
[frontends.f]
backend = "b"
[frontends.f.routes.r]
rule = "Host:a.com"
[backends.b.servers.s]
url = "http://a.local"
weight = 0
[backends.b.servers.t]
url = "http://b.local"
"#;
    let loaded = load(text, Format::Toml);
    assert_eq!(loaded.config.backends[0].servers[0].weight, 0);
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!((loaded.warnings[0].line, loaded.warnings[0].col), (8, 10));
    assert!(loaded.warnings[0].message.contains("weight 0"));
}

/// A Traefik v1 backend with stickiness `secure`, `httpOnly` and `sameSite` (TRAEFIK.md
/// section 4: Traefik 1.7 supports them).
fn stickiness(attributes: &str) -> String {
    format!(
        r#"
[frontends.f]
backend = "b"
[frontends.f.routes.r]
rule = "Host:a.com"
[backends.b.servers.s]
url = "http://a.local"
[backends.b.loadBalancer.stickiness]
cookieName = "lb"
{attributes}
"#
    )
}

#[test]
fn traefik_stickiness_attributes_are_mapped() {
    let loaded = load(
        &stickiness("secure = true\nhttpOnly = true\nsameSite = \"lax\""),
        Format::Toml,
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(
        loaded.config.backends[0].sticky,
        Some(Sticky {
            cookie: "lb".into(),
            secure: true,
            http_only: true,
            same_site: Some(SameSite::Lax),
            max_age: None,
        })
    );
    // The cookie the router sets carries them.
    let router = splitway::Router::from_config(&loaded.config).unwrap();
    let req = http::Request::builder()
        .uri("/")
        .header("host", "a.com")
        .body(())
        .unwrap();
    let decision = router.route(&splitway::RequestView::from_request(&req, None));
    let cookie = decision.set_cookie().unwrap();
    assert!(
        cookie.ends_with("; Path=/; Secure; HttpOnly; SameSite=Lax"),
        "{cookie}"
    );
}

#[test]
fn traefik_same_site_values_are_case_insensitive() {
    for (text, want) in [
        ("none", SameSite::None),
        ("Lax", SameSite::Lax),
        ("STRICT", SameSite::Strict),
        ("sTrIcT", SameSite::Strict),
    ] {
        let loaded = load(&stickiness(&format!("sameSite = \"{text}\"")), Format::Toml);
        let sticky = loaded.config.backends[0].sticky.clone().unwrap();
        assert_eq!(sticky.same_site, Some(want), "{text}");
        assert!(!sticky.secure && !sticky.http_only, "{text}");
    }
}

#[test]
fn traefik_stickiness_attributes_default_off() {
    let loaded = load(&stickiness(""), Format::Toml);
    let sticky = loaded.config.backends[0].sticky.clone().unwrap();
    assert_eq!(
        (sticky.secure, sticky.http_only, sticky.same_site),
        (false, false, None)
    );
}

#[test]
fn traefik_unknown_same_site_is_a_warning_and_no_attribute() {
    let loaded = load(&stickiness("sameSite = \"default\""), Format::Toml);
    assert_eq!(
        loaded.config.backends[0].sticky.as_ref().unwrap().same_site,
        None
    );
    let got: Vec<(usize, usize, &str)> = loaded
        .warnings
        .iter()
        .map(|d| (d.line, d.col, d.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [(
            10,
            13,
            "sameSite `default` is not `none`, `lax` or `strict`; as in Traefik, the cookie gets no SameSite attribute"
        )]
    );
}

#[test]
fn traefik_stickiness_attribute_of_the_wrong_type_is_an_error() {
    let err = Config::from_str(&stickiness("secure = \"yes\""), Format::Toml, "t.toml")
        .expect_err("a string is not a boolean");
    let d = &err.diagnostics[0];
    assert_eq!((d.line, d.col), (10, 10));
    assert!(
        d.message.contains("expected `true` or `false`"),
        "{}",
        d.message
    );
}
