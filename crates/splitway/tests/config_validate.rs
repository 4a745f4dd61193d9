//! Validation (SPEC.md 2.3): every error at once, located, sorted; the optional maps; limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;
use std::time::Duration;

use splitway::config::{
    Balance, Config, Format, Hash, HashKey, Loaded, MAX_CONFIG_BYTES, SameSite, Sticky, UpstreamTls,
};
use splitway::diag::{ConfigError, Severity};
use splitway::rule::Syntax;

fn ok(text: &str) -> Loaded {
    match Config::from_str(text, Format::Yaml, "t.yaml") {
        Ok(l) => l,
        Err(e) => panic!("{e}"),
    }
}

fn err(text: &str, format: Format) -> ConfigError {
    match Config::from_str(text, format, "t") {
        Ok(_) => panic!("loaded, but must fail"),
        Err(e) => e,
    }
}

/// `LINE:COL: severity: message` of each diagnostic.
fn lines(e: &ConfigError) -> Vec<String> {
    e.diagnostics
        .iter()
        .map(|d| format!("{}:{}: {}: {}", d.line, d.col, d.severity, d.message))
        .collect()
}

#[test]
fn every_error_is_reported_at_once_in_file_order_errors_before_warnings() {
    let text = r#"frontends:
  web:
    backend: webb
    rules: ["Host:a.com"]
    entryPoints: [http]
  api:
    rulez: ["Host:api.a.com"]
backends:
  web:
    - name: a
      url: "http://a.local"
      weight: -1
    - name: a
      url: "nope"
  empty: []
"#;
    let e = err(text, Format::Yaml);
    assert_eq!(
        lines(&e),
        [
            "3:14: error: frontend `web` routes to backend `webb`, which does not exist; did you mean `web`?",
            "6:3: error: frontend `api` routes to backend `api`, which does not exist",
            "7:5: error: unknown key `rulez` in frontend `api`; did you mean `rules`?",
            "12:15: error: a weight must not be negative, found -1",
            "14:13: error: server URL `nope` must be absolute, with a scheme and a host (`http://host:port`)",
            "15:3: error: backend `empty` has no servers",
            "5:5: warning: `entryPoints` in frontend `web` is a Traefik v1 setting that splitway does not use; ignored",
        ]
    );
    assert_eq!(e.errors().count(), 6);
}

#[test]
fn duplicate_server_names_point_at_the_second_name() {
    let text = "frontends:\n  web:\n    rules: [\"Host:a\"]\nbackends:\n  web:\n    - {name: a, url: \"http://a\"}\n    - {name: a, url: \"http://b\"}\n";
    let e = err(text, Format::Yaml);
    assert_eq!(
        lines(&e),
        ["7:14: error: duplicate server name `a` in backend `web`"]
    );
}

#[test]
fn a_rule_error_points_into_the_rule_text_of_the_right_list_item() {
    let text = "frontends:\n  web:\n    rules:\n      - \"Host:a.com\"\n      - 'Path:/x;Bogus:y'\nbackends:\n  web: [{name: a, url: \"http://a\"}]\n";
    let e = err(text, Format::Yaml);
    let first = &e.diagnostics[0];
    // `Bogus` starts at byte 8 of the second rule string, whose content starts at column 10.
    assert_eq!((first.line, first.col), (5, 18), "{first}");
    assert!(first.message.contains("Bogus"), "{first}");
}

#[test]
fn a_rule_with_escapes_is_located_at_its_string() {
    let text = "frontends:\n  web:\n    rule: \"Host(`a.com`) \\x26\\x26 Bogus(`x`)\"\nbackends:\n  web: [{name: a, url: \"http://a\"}]\n";
    let e = err(text, Format::Yaml);
    let first = &e.diagnostics[0];
    assert_eq!((first.line, first.col), (3, 11), "{first}");
}

#[test]
fn a_lone_rule_string_is_v1_or_an_expression_and_rule_syntax_picks_v2() {
    let text = r#"rule_syntax: v2
frontends:
  a:
    rule: "Host:a.com"
    backend: b
  e:
    rule: "Host(`a.com`, `b.com`)"
    backend: b
  f:
    rule: "Host(`a.com`)"
    rule_syntax: v3
    backend: b
    priority: 7
backends:
  b: [{name: s, url: "http://s.local"}]
"#;
    let c = ok(text).config;
    let got: Vec<(Syntax, i64)> = c
        .frontends
        .iter()
        .map(|f| (f.rule.syntax(), f.priority))
        .collect();
    assert_eq!(got, [(Syntax::V1, 10), (Syntax::V2, 22), (Syntax::V3, 7)]);
}

#[test]
fn backend_maps_read_balance_sticky_hash_and_health_check() {
    // `sticky` and `hash` exclude each other: one backend each.
    let text = r#"frontends:
  web:
    rules: ["Host:a.com"]
  cohort:
    rules: ["Host:b.com"]
backends:
  web:
    servers:
      - {name: stable, url: "http://s.local", weight: 9}
      - {name: canary, url: "https://c.local:8443", weight: 1}
    balance: random
    sticky:
      cookie: srv
      secure: true
      http_only: true
      same_site: Lax
      max_age: 3600
    health_check:
      path: /healthz
      interval: 1m30s
      timeout: 2
      port: 8080
      headers: {X-Probe: yes}
  cohort:
    servers:
      - {name: stable, url: "http://s.local", weight: 9}
    hash:
      key: "cookie:uid"
      issue_cookie: true
"#;
    let config = ok(text).config;
    let b = &config.backends[0];
    assert_eq!(b.balance, Balance::Random);
    assert_eq!(
        b.sticky,
        Some(Sticky {
            cookie: "srv".into(),
            secure: true,
            http_only: true,
            same_site: Some(SameSite::Lax),
            max_age: Some(3600),
        })
    );
    assert_eq!(
        config.backends[1].hash,
        Some(Hash {
            key: HashKey::Cookie("uid".into()),
            seed: "cohort".into(),
            issue_cookie: true,
        })
    );
    let hc = b.health_check.as_ref().unwrap();
    assert_eq!(hc.path, "/healthz");
    assert_eq!(hc.interval, Duration::from_secs(90));
    assert_eq!(hc.timeout, Duration::from_secs(2));
    assert_eq!(hc.port, Some(8080));
    assert_eq!(hc.headers, [("X-Probe".to_owned(), "yes".to_owned())]);
}

#[test]
fn hash_keys_of_every_kind() {
    for (key, expected) in [
        ("client_ip", HashKey::ClientIp),
        (
            "header:X-User",
            HashKey::Header(http::HeaderName::from_static("x-user")),
        ),
        ("query:uid", HashKey::Query("uid".into())),
    ] {
        let text = format!(
            "frontends:\n  web:\n    rules: [\"Host:a\"]\nbackends:\n  web:\n    servers: [{{name: a, url: \"http://a\"}}]\n    hash: {{key: \"{key}\", seed: s1}}\n"
        );
        let hash = ok(&text).config.backends[0].hash.clone().unwrap();
        assert_eq!(hash.key, expected);
        assert_eq!(hash.seed, "s1");
    }
}

#[test]
fn a_server_map_with_a_misspelt_key_gets_a_suggestion() {
    let text = "frontends:\n  web:\n    rules: [\"Host:a\"]\nbackends:\n  web:\n    - {name: a, ulr: \"http://a\"}\n";
    let e = err(text, Format::Yaml);
    assert_eq!(
        lines(&e),
        ["6:17: error: unknown key `ulr` in a server of backend `web`; did you mean `url`?"]
    );
}

#[test]
fn an_unused_backend_is_a_warning() {
    let text = "frontends:\n  web:\n    rules: [\"Host:a\"]\nbackends:\n  web: [{name: a, url: \"http://a\"}]\n  old: [{name: a, url: \"http://a\"}]\n";
    let w = ok(text).warnings;
    assert_eq!(w.len(), 1);
    assert_eq!(
        (w[0].line, w[0].col, w[0].severity),
        (6, 3, Severity::Warning)
    );
    assert_eq!(w[0].message, "backend `old` is not used by any frontend");
}

#[test]
fn size_limit_is_checked_before_parsing() {
    let big = vec![b'#'; MAX_CONFIG_BYTES + 1];
    let e = Config::from_bytes(&big, Format::Yaml, "big.yaml").unwrap_err();
    assert_eq!(e.diagnostics.len(), 1);
    assert_eq!((e.diagnostics[0].line, e.diagnostics[0].col), (1, 1));
    assert!(e.diagnostics[0].message.contains("bytes"));
}

#[test]
fn file_errors_are_diagnostics_at_1_1() {
    let e = Config::from_file(Path::new("/nonexistent/splitway.yaml")).unwrap_err();
    let d = &e.diagnostics[0];
    assert_eq!(
        (d.file.as_str(), d.line, d.col),
        ("/nonexistent/splitway.yaml", 1, 1)
    );
    assert!(d.message.starts_with("cannot read the file: "), "{d}");

    let e = Config::from_file(Path::new("/nonexistent/splitway.json")).unwrap_err();
    assert!(e.diagnostics[0].message.contains(".yaml, .yml or .toml"));
}

#[test]
fn toml_reports_every_syntax_error() {
    let e = err("a = \nb = ]\n[c\n", Format::Toml);
    assert!(e.errors().count() >= 3, "{e}");
    let first: Vec<(usize, usize)> = e.diagnostics.iter().map(|d| (d.line, d.col)).collect();
    let mut sorted = first.clone();
    sorted.sort();
    assert_eq!(first, sorted);
}

#[test]
fn invalid_utf8_is_located_at_the_first_bad_byte() {
    let e = Config::from_bytes(b"a: 1\nb: \"x\xc3\x28\"\n", Format::Yaml, "u.yaml").unwrap_err();
    let d = &e.diagnostics[0];
    assert_eq!((d.line, d.col), (2, 6));
    assert_eq!(
        d.to_string(),
        "u.yaml:2:6: error: the file is not UTF-8 text (byte 0xc3 at offset 10)"
    );
}

#[test]
fn a_fixed_response_server_has_a_status_and_never_a_url() {
    let loaded = ok(
        "frontends:\n  a: {rule: \"Host(`a`)\"}\nbackends:\n  a:\n    - {name: m, status: 503, body: down}\n",
    );
    let s = &loaded.config.backends[0].servers[0];
    let fixed = s.response.as_ref().unwrap();
    assert_eq!(
        (fixed.status, fixed.body.as_deref(), s.url.as_str()),
        (503, Some("down"), "")
    );
    let e = err(
        "frontends:\n  a: {rule: \"Host(`a`)\"}\nbackends:\n  a:\n    - {name: both, url: \"http://x\", status: 500}\n    - {name: low, status: 99}\n    - {name: text, status: \"500\"}\n    - {name: orphan, url: \"http://y\", body: hi}\n    - {name: none}\n",
        Format::Yaml,
    );
    assert_eq!(
        lines(&e),
        [
            "5:45: error: server `both` of backend `a` has both `url` and `status`: a server forwards or answers itself, not both",
            "6:27: error: server `low` of backend `a`: status 99 is not an HTTP status (100 to 599)",
            "7:28: error: expected an HTTP status (100 to 599), found a string",
            "8:45: error: server `orphan` of backend `a`: `body` goes with `status` (a fixed response)",
            "9:7: error: server `none` of backend `a` has no `url` (or `status`, for a fixed response)",
        ]
    );
}

#[test]
fn backend_tls_reads_ca_file_server_name_and_insecure_skip_verify() {
    let text = r#"frontends:
  web: {backend: web, rules: ["Host:a.com"]}
  api: {backend: api, rules: ["Host:api.a.com"]}
backends:
  web:
    servers:
      - {name: a, url: "https://a.internal:8443"}
    tls: {ca_file: certs/ca.pem, server_name: web.internal}
  api:
    servers:
      - {name: a, url: "https://10.0.0.2"}
    tls: {insecure_skip_verify: true}
"#;
    let loaded = ok(text);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let web = loaded.config.backend("web").unwrap().tls.clone().unwrap();
    assert_eq!(
        web,
        UpstreamTls {
            ca_file: Some("certs/ca.pem".into()),
            server_name: Some("web.internal".to_owned()),
            insecure_skip_verify: false,
        }
    );
    let api = loaded.config.backend("api").unwrap().tls.clone().unwrap();
    assert_eq!(api.ca_file, None);
    assert!(api.insecure_skip_verify);
}

#[test]
fn backend_tls_errors_are_located_and_all_reported() {
    let text = r#"frontends:
  web: {backend: web, rules: ["Host:a.com"]}
backends:
  web:
    servers:
      - {name: a, url: "https://a.internal"}
    tls:
      ca_file: ca.pem
      insecure_skip_verify: true
      server_name: "a b"
      verify: false
"#;
    let e = err(text, Format::Yaml);
    assert_eq!(
        lines(&e),
        [
            "8:16: error: `tls` of backend `web` has both `ca_file` and `insecure_skip_verify: true`: one says which CA to trust, the other trusts any certificate; give one",
            "10:21: error: `tls` of backend `web`: `server_name` `a b` is not a DNS name or an IP address",
            "11:7: error: unknown key `verify` in `tls` of backend `web`",
        ]
    );
    let e = err(
        "frontends: {web: {backend: web, rules: [\"Host:a\"]}}\nbackends:\n  web:\n    servers: [{name: a, url: \"https://a\"}]\n    tls: {insecure_skip_verify: \"yes\", ca_file: \"\"}\n",
        Format::Yaml,
    );
    assert_eq!(
        lines(&e),
        [
            "5:33: error: expected `true` or `false`, found a string",
            "5:49: error: `tls` of backend `web`: `ca_file` is empty",
        ]
    );
}

#[test]
fn backend_tls_without_an_https_server_is_a_warning() {
    let text = "frontends: {web: {backend: web, rules: [\"Host:a\"]}}\nbackends:\n  web:\n    servers: [{name: a, url: \"http://a\"}]\n    tls: {server_name: a.internal}\n";
    let loaded = ok(text);
    let warnings: Vec<String> = loaded
        .warnings
        .iter()
        .map(|d| format!("{}:{}: {}", d.line, d.col, d.message))
        .collect();
    assert_eq!(
        warnings,
        ["5:5: backend `web` has `tls` but no `https` server: it applies to none"]
    );
}

#[test]
fn a_relative_ca_file_is_relative_to_the_config_files_directory() {
    let dir = std::env::temp_dir().join(format!("splitway-tls-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("routes.yaml");
    std::fs::write(
        &path,
        "frontends: {web: {backend: web, rules: [\"Host:a\"]}}\nbackends:\n  web:\n    servers: [{name: a, url: \"https://a\"}]\n    tls: {ca_file: certs/ca.pem}\n  abs:\n    servers: [{name: a, url: \"https://a\"}]\n    tls: {ca_file: /etc/ca.pem}\n",
    )
    .unwrap();
    let loaded = Config::from_file(&path).unwrap();
    let ca = |b: &str| {
        loaded
            .config
            .backend(b)
            .unwrap()
            .tls
            .clone()
            .unwrap()
            .ca_file
    };
    assert_eq!(ca("web"), Some(dir.join("certs/ca.pem")));
    assert_eq!(ca("abs"), Some(std::path::PathBuf::from("/etc/ca.pem")));
    std::fs::remove_dir_all(&dir).unwrap();
}
