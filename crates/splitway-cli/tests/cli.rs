//! The CLI contract of SPEC.md section 5, run as a user runs it, on the talk's configurations.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::{TempDir, splitway, stderr, stdout};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn config(name: &str) -> String {
    root()
        .join("examples/config")
        .join(name)
        .display()
        .to_string()
}

fn json_of(args: &[&str]) -> Value {
    let out = splitway(args);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("valid JSON on stdout")
}

fn explain(file: &str, url: &str, headers: &[&str]) -> Value {
    let cfg = config(file);
    let mut args = vec!["explain", "--config", &cfg, "--url", url, "--json"];
    for h in headers {
        args.extend(["-H", h]);
    }
    json_of(&args)
}

/// `splitway simulate --config FILE --url URL EXTRA... --json`, parsed.
fn simulate(file: &str, url: &str, extra: &[&str]) -> Value {
    let cfg = config(file);
    let mut args = vec!["simulate", "--config", &cfg, "--url", url];
    args.extend_from_slice(extra);
    args.push("--json");
    json_of(&args)
}

const SEED: [&str; 4] = [
    "phase1.yaml",
    "phase2.yaml",
    "phase3.yaml",
    "canary-host.yaml",
];

#[test]
fn check_accepts_every_seed_config_with_one_line_each() {
    let files: Vec<String> = SEED
        .iter()
        .chain(&["traefik-v1.toml"])
        .map(|f| config(f))
        .collect();
    let mut args = vec!["check"];
    args.extend(files.iter().map(String::as_str));
    let out = splitway(&args);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(
        lines[1],
        format!(
            "{}: ok: 2 frontends, 2 backends, 4 servers, 0 warnings",
            files[1]
        )
    );
    for (line, file) in lines.iter().zip(&files) {
        assert!(line.starts_with(&format!("{file}: ok: ")), "{line}");
    }
}

#[test]
fn phase1_canary_cookie_goes_to_k8s_and_others_to_legacy() {
    let canary = explain(
        "phase1.yaml",
        "http://web.agendor.com.br/deals",
        &["Cookie: _AUSER_TYPE=canary"],
    );
    assert_eq!(
        canary,
        json!({
            "route": "web_canary",
            "backend": "web_canary",
            "server": "k8s",
            "url": "http://agendor-web-canary.production.svc.cluster.local",
            "status": 200,
            "set_cookie": null,
            "candidates": [
                {"route": "web_canary", "priority": 62, "matched": true, "failed": null}
            ],
            "path": "/deals"
        })
    );

    let plain = explain("phase1.yaml", "http://web.agendor.com.br/deals", &[]);
    assert_eq!(plain["route"], "web");
    assert_eq!(plain["backend"], "web");
    assert_eq!(plain["server"], "legacy_1");
    assert_eq!(
        plain["candidates"],
        json!([
            {"route": "web_canary", "priority": 62, "matched": false,
             "failed": "HeadersRegexp:Cookie,_AUSER_TYPE=canary"},
            {"route": "web", "priority": 23, "matched": true, "failed": null}
        ])
    );
}

#[test]
fn host_is_matched_without_case_and_port_from_header_or_authority() {
    let via_header = explain(
        "phase1.yaml",
        "/deals?x=1",
        &[
            "Host: WEB.Agendor.com.br:8080",
            "Cookie: a=b; _AUSER_TYPE=canary",
        ],
    );
    assert_eq!(via_header["route"], "web_canary");
    let via_authority = explain("phase1.yaml", "http://WEB.AGENDOR.COM.BR:443/", &[]);
    assert_eq!(via_authority["route"], "web");
    // The authority of an absolute-form target wins over the Host header.
    let both = explain(
        "phase1.yaml",
        "http://web.agendor.com.br/",
        &["Host: example.com"],
    );
    assert_eq!(both["route"], "web");
}

#[test]
fn unknown_host_is_a_404_with_no_candidates() {
    let v = explain("phase3.yaml", "/deals", &["Host: example.com"]);
    assert_eq!(
        v,
        json!({"route": null, "backend": null, "server": null, "url": null,
               "status": 404, "set_cookie": null, "candidates": [], "path": null})
    );
}

#[test]
fn canary_host_reaches_the_canary_without_a_cookie() {
    let v = explain("canary-host.yaml", "http://web-canary.agendor.com.br/", &[]);
    assert_eq!(v["route"], "web_canary_host");
    assert_eq!(
        v["url"],
        "http://agendor-web-canary.production.svc.cluster.local"
    );
}

#[test]
fn phase2_simulate_11000_gives_exactly_5000_5000_1000() {
    let v = simulate(
        "phase2.yaml",
        "http://web.agendor.com.br/",
        &["-n", "11000"],
    );
    assert_eq!(
        v["counts"],
        json!({"legacy_1": 5000, "legacy_2": 5000, "k8s": 1000})
    );
    assert_eq!(v["statuses"], json!({"200": 11000}));
    assert!(v.get("sequence").is_none());
}

#[test]
fn phase2_sequence_is_interleaved_not_in_runs() {
    let v = simulate(
        "phase2.yaml",
        "http://web.agendor.com.br/",
        &["-n", "11", "--sequence"],
    );
    let (a, b, c) = ("legacy_1", "legacy_2", "k8s");
    assert_eq!(v["sequence"], json!([a, b, a, b, c, a, b, a, b, a, b]));
}

#[test]
fn simulate_vary_cookie_gives_each_request_its_own_user() {
    let v = simulate(
        "phase1.yaml",
        "http://web.agendor.com.br/",
        &["-n", "4", "--vary", "cookie:_AUSER_TYPE", "--sequence"],
    );
    // user-1.. never equals `canary`, so the legacy servers alternate.
    assert_eq!(
        v["sequence"],
        json!(["legacy_1", "legacy_2", "legacy_1", "legacy_2"])
    );
}

#[test]
fn simulate_counts_statuses_for_unrouted_requests() {
    let v = simulate(
        "phase3.yaml",
        "http://nope.example/",
        &["-n", "3", "--sequence"],
    );
    assert_eq!(v["counts"], json!({}));
    assert_eq!(v["statuses"], json!({"404": 3}));
    assert_eq!(v["sequence"], json!([null, null, null]));
}

#[test]
fn traefik_v1_toml_routes_as_traefik_would() {
    let api = explain(
        "traefik-v1.toml",
        "http://web.agendor.com.br/api/deals",
        &["Cookie: _AUSER_TYPE=canary"],
    );
    // Explicit priority 100 beats the canary's default (sum of rule lengths, 62).
    assert_eq!(api["route"], "api");
    assert_eq!(api["backend"], "web");
    // `PathPrefixStrip:/api`: the server sees the path without it.
    assert_eq!(api["path"], "/deals");
    let canary = explain(
        "traefik-v1.toml",
        "http://web.agendor.com.br/deals",
        &["Cookie: _AUSER_TYPE=canary"],
    );
    assert_eq!(canary["route"], "web_canary");
    let plain = explain("traefik-v1.toml", "http://web.agendor.com.br/deals", &[]);
    assert_eq!(plain["route"], "web");
    assert_eq!(plain["path"], "/deals");
    let none = explain("traefik-v1.toml", "http://nowhere.example/api/x", &[]);
    assert_eq!(none["path"], Value::Null);
}

#[test]
fn explain_prints_the_path_the_server_will_see() {
    let cfg = config("traefik-v1.toml");
    let out = splitway(&[
        "explain",
        "--config",
        &cfg,
        "--url",
        "http://web.agendor.com.br/api/deals/42?tab=notes",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert!(text.lines().any(|l| l == "path:    /deals/42"), "{text}");
}

#[test]
fn method_is_used_as_given() {
    let cfg = config("phase1.yaml");
    let v = json_of(&[
        "explain",
        "--config",
        &cfg,
        "--method",
        "get",
        "--url",
        "http://web.agendor.com.br/",
        "--json",
    ]);
    assert_eq!(v["status"], 200);
}

#[test]
fn usage_errors_exit_2() {
    let cfg = config("phase1.yaml");
    for args in [
        vec!["explain", "--config", &cfg, "--url", "not a url"],
        vec!["explain", "--config", &cfg, "--url", "/", "-H", "no-colon"],
        vec!["explain", "--config", "/nonexistent/x.yaml", "--url", "/"],
        vec![
            "simulate", "--config", &cfg, "--url", "/", "--vary", "body:x",
        ],
        vec!["explain", "--config", &cfg],
        vec!["check"],
    ] {
        let out = splitway(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

/// Every file of the bad-input corpus: exit 2, every stderr line located, never a panic.
#[test]
fn bad_corpus_gives_exit_2_with_located_errors() {
    let dir = root().join("crates/splitway/tests/corpus/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "toml")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 40, "only {} corpus files", files.len());
    for file in &files {
        let name = file.display().to_string();
        let out = splitway(&["check", &name]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(stdout(&out).is_empty(), "{name}");
        let errors: Vec<&str> = err.lines().filter(|l| l.contains(": error: ")).collect();
        assert!(!errors.is_empty(), "{name}: no error line in {err:?}");
        for line in err.lines() {
            let rest = line
                .strip_prefix(&format!("{name}:"))
                .unwrap_or_else(|| panic!("{name}: unlocated line {line:?}"));
            let mut parts = rest.splitn(3, ':');
            let line_no: usize = parts.next().unwrap().parse().expect("line number");
            let col: usize = parts.next().unwrap().parse().expect("column");
            assert!(line_no >= 1 && col >= 1, "{line}");
            let tail = parts.next().unwrap();
            assert!(
                tail.starts_with(" error: ") || tail.starts_with(" warning: "),
                "{line}"
            );
        }
    }
}

#[test]
fn simulate_vary_cookie_on_a_cohort_is_reproducible_and_near_its_weights() {
    let run = || {
        simulate(
            "cohort.yaml",
            "http://web.agendor.com.br/",
            &["-n", "10000", "--vary", "cookie:agendor_uid"],
        )
    };
    let (one, two) = (run(), run());
    assert_eq!(one, two, "the same users land in the same places");
    let k8s = one["counts"]["k8s"].as_u64().unwrap();
    let legacy = one["counts"]["legacy"].as_u64().unwrap();
    assert_eq!(k8s + legacy, 10_000);
    assert!((900..=1100).contains(&k8s), "k8s got {k8s} of 10000");
}

#[test]
fn simulate_vary_header_gives_request_i_the_header_user_i() {
    let dir = TempDir::new("cli-vary");
    let file = dir.path().join("by-account.yaml");
    std::fs::write(
        &file,
        r#"
frontends:
  web: {rule: "PathPrefix(`/`)"}
backends:
  web:
    hash: {key: "header:X-Account"}
    servers:
      - {name: a, url: "http://a.internal"}
      - {name: b, url: "http://b.internal"}
      - {name: c, url: "http://c.internal"}
"#,
    )
    .unwrap();
    let cfg = file.display().to_string();
    let v = json_of(&[
        "simulate",
        "--config",
        &cfg,
        "--url",
        "/",
        "-H",
        "Host: x",
        "-n",
        "5",
        "--vary",
        "header:X-Account",
        "--sequence",
        "--json",
    ]);
    // Each request i is routed as an explain with `X-Account: user-i` is.
    for i in 1..=5 {
        let header = format!("X-Account: user-{i}");
        let e = json_of(&[
            "explain", "--config", &cfg, "--url", "/", "-H", "Host: x", "-H", &header, "--json",
        ]);
        assert_eq!(v["sequence"][i - 1], e["server"], "user-{i}");
    }
}

#[test]
fn explain_cohort_fields_and_issued_cookie() {
    let with_id = explain(
        "cohort.yaml",
        "http://web.agendor.com.br/",
        &["Cookie: agendor_uid=account-42"],
    );
    let cohort = with_id["cohort"].as_array().expect("cohort field");
    assert_eq!(cohort.len(), 2);
    let chosen = with_id["server"].as_str().unwrap();
    for s in cohort {
        assert!(s["score"].as_f64().unwrap() > 0.0);
        let takeover = &s["takeover_weight"];
        if s["server"] == chosen {
            assert!(takeover.is_null());
        } else {
            assert!(takeover.as_u64().unwrap() >= 1);
        }
    }
    assert!(with_id["set_cookie"].is_null());

    let anonymous = explain("cohort.yaml", "http://web.agendor.com.br/", &[]);
    let cookie = anonymous["set_cookie"].as_str().expect("an id is issued");
    assert!(cookie.starts_with("agendor_uid="), "{cookie}");
    assert!(
        cookie.ends_with("; Path=/; Max-Age=31536000; SameSite=Lax"),
        "{cookie}"
    );
    assert!(anonymous.get("cohort").is_none());
}

#[test]
fn check_warns_about_frontends_that_can_never_win() {
    let dir = TempDir::new("cli-shadow");
    let file = dir.path().join("shadow.yaml");
    std::fs::write(
        &file,
        r#"
frontends:
  web:
    rules: ["Host:a.com"]
  web_again:
    rules: ["Host:a.com"]
  api:
    rules: ["Host:a.com", "PathPrefix:/api"]
  api_v1:
    priority: 1
    rules: ["Host:a.com", "PathPrefix:/api", "Method:GET"]
  other:
    rules: ["Host:b.com"]
backends:
  web: [{name: s, url: "http://s.internal"}]
  web_again: [{name: s, url: "http://s.internal"}]
  api: [{name: s, url: "http://s.internal"}]
  api_v1: [{name: s, url: "http://s.internal"}]
  other: [{name: s, url: "http://s.internal"}]
"#,
    )
    .unwrap();
    let name = file.display().to_string();
    let out = splitway(&["check", &name]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let warnings: Vec<String> = stderr(&out).lines().map(str::to_owned).collect();
    assert_eq!(
        warnings,
        [
            format!(
                "{name}: warning: frontend `web_again` can never win: `web` is tried first and \
                 matches every request it matches"
            ),
            format!(
                "{name}: warning: frontend `api_v1` can never win: `api` is tried first and \
                 matches every request it matches"
            ),
        ]
    );
    assert_eq!(
        stdout(&out),
        format!("{name}: ok: 5 frontends, 5 backends, 5 servers, 2 warnings\n")
    );
}

#[test]
fn explain_shows_a_fixed_response_servers_status_and_name_and_no_url() {
    let v = explain(
        "maintenance.yaml",
        "http://web.agendor.com.br/admin/users",
        &[],
    );
    assert_eq!(
        (
            v["route"].clone(),
            v["server"].clone(),
            v["url"].clone(),
            v["status"].clone()
        ),
        (
            json!("admin"),
            json!("maintenance"),
            Value::Null,
            json!(503)
        )
    );
    let v = explain("maintenance.yaml", "http://web.agendor.com.br/deals", &[]);
    assert_eq!(
        (v["server"].clone(), v["status"].clone()),
        (json!("legacy_1"), json!(200))
    );
}
