//! `splitway diff`: the talk's phases replayed from committed request files, and a cohort's
//! canary raised and lowered, with exact counts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::{TempDir, splitway};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn file(rel: &str) -> String {
    root().join(rel).display().to_string()
}

/// `splitway diff ARGS --json`: (exit code, parsed stdout).
fn diff(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["diff"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = splitway(&all);
    let code = out.status.code().unwrap();
    assert!(
        code == 0 || code == 1,
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        code,
        serde_json::from_slice(&out.stdout).expect("JSON on stdout"),
    )
}

fn phase(n: u8) -> String {
    file(&format!("examples/config/phase{n}.yaml"))
}

#[test]
fn phase_1_to_2_moves_exactly_12_of_26_requests_and_gives_k8s_2_of_22() {
    let (code, d) = diff(&[
        &phase(1),
        &phase(2),
        "--requests",
        &file("examples/requests/phase.jsonl"),
    ]);
    assert_eq!(code, 0);
    assert_eq!(d["requests"], 26);
    assert_eq!(
        d["routes"],
        json!([
            {"route": "web", "before": 22, "after": 22},
            {"route": "web_canary", "before": 3, "after": 3},
            {"route": null, "before": 1, "after": 1},
        ])
    );
    assert_eq!(d["moves"], json!([]));
    // 1:1 (`A B A B …`) against 5:5:1 (`A B A B C A B A B A B`) over 22 picks: 7 differ
    // in the first 11, 5 in the next 11.
    assert_eq!(d["moved_requests"], 12);
    assert_eq!(d["backends"][0]["backend"], "web");
    assert_eq!(
        d["backends"][0]["requests_before"],
        json!({"legacy_1": 11, "legacy_2": 11, "k8s": 0})
    );
    assert_eq!(
        d["backends"][0]["requests_after"],
        json!({"legacy_1": 10, "legacy_2": 10, "k8s": 2})
    );
    assert_eq!(
        d["backends"][0]["before"],
        json!({"legacy_1": 0.5, "legacy_2": 0.5, "k8s": 0.0})
    );
    assert_eq!(d["backends"][1]["requests_after"], json!({"k8s": 3}));
    assert_eq!(
        d["users"],
        json!({"to_canary": 0, "from_canary": 0, "between_stable": 0, "moved": 0, "total": 0, "canary": null})
    );
    assert_eq!(d["failed"], json!([]));
}

#[test]
fn phase_2_to_3_moves_the_20_legacy_requests_and_fails_over_a_threshold() {
    let (code, d) = diff(&[
        &phase(2),
        &phase(3),
        "--requests",
        &file("examples/requests/phase.jsonl"),
        "--fail-on",
        "moved-requests:50",
        "--fail-on",
        "unrouted",
    ]);
    assert_eq!(d["moved_requests"], 20);
    assert_eq!(
        d["backends"][0]["requests_after"],
        json!({"legacy_1": 0, "legacy_2": 0, "k8s": 22})
    );
    // 20 of 26 is 76.9% > 50%; no request loses its route.
    assert_eq!(d["failed"], json!(["moved-requests:50"]));
    assert_eq!(code, 1);
    let (code, d) = diff(&[
        &phase(2),
        &phase(3),
        "--requests",
        &file("examples/requests/phase.jsonl"),
        "--fail-on",
        "moved-requests:80",
    ]);
    assert_eq!((code, d["failed"].clone()), (0, json!([])));
}

#[test]
fn an_access_log_replays_with_the_given_host() {
    let (_, d) = diff(&[
        &phase(1),
        &phase(2),
        "--requests",
        &file("examples/requests/access.log"),
        "--host",
        "web.agendor.com.br",
    ]);
    assert_eq!(d["requests"], 11);
    assert_eq!(
        d["routes"],
        json!([{"route": "web", "before": 11, "after": 11}])
    );
    assert_eq!(d["moved_requests"], 7);
    assert_eq!(
        d["backends"][0]["requests_before"],
        json!({"legacy_1": 6, "legacy_2": 5, "k8s": 0})
    );
    assert_eq!(
        d["backends"][0]["requests_after"],
        json!({"legacy_1": 5, "legacy_2": 5, "k8s": 1})
    );
}

#[test]
fn requests_that_lose_their_route_fail_unrouted() {
    let dir = TempDir::new("diff-unrouted");
    let only_canary_host = dir.path().join("canary-only.yaml");
    std::fs::write(
        &only_canary_host,
        "frontends:\n  c:\n    rule: \"Host(`web-canary.agendor.com.br`)\"\nbackends:\n  c:\n    - name: k8s\n      url: http://k8s.internal\n",
    )
    .unwrap();
    let (code, d) = diff(&[
        &phase(1),
        only_canary_host.to_str().unwrap(),
        "--requests",
        &file("examples/requests/phase.jsonl"),
        "--fail-on",
        "unrouted",
    ]);
    assert_eq!(code, 1);
    assert_eq!(d["lost_route"], 25);
    assert_eq!(
        d["moves"],
        json!([{"from": "web", "to": null, "requests": 22}, {"from": "web_canary", "to": null, "requests": 3}])
    );
    assert_eq!(d["failed"], json!(["unrouted"]));
}

#[test]
fn raising_a_cohort_from_10_to_20_percent_moves_users_only_onto_the_canary() {
    let (code, d) = diff(&[
        &file("examples/config/cohort.yaml"),
        &file("examples/config/cohort-20.yaml"),
        "--canary",
        "web/k8s",
        "--fail-on",
        "from-canary",
    ]);
    assert_eq!(code, 0);
    // 10,000 generated users, each once without and once with the beta cookie.
    assert_eq!(d["requests"], 20_000);
    let web = &d["backends"][0];
    assert_eq!(web["backend"], "web");
    assert_eq!(web["requests_before"], json!({"legacy": 8961, "k8s": 1039}));
    assert_eq!(web["requests_after"], json!({"legacy": 8025, "k8s": 1975}));
    // Exactly the growth of the canary, and nobody else.
    assert_eq!(
        d["users"],
        json!({"to_canary": 936, "from_canary": 0, "between_stable": 0, "moved": 936, "total": 10000, "canary": "web/k8s"})
    );
    assert_eq!(1975 - 1039, 936);
    assert_eq!(d["failed"], json!([]));
}

#[test]
fn lowering_the_cohort_reports_the_users_moved_back_and_fails_from_canary() {
    let (code, d) = diff(&[
        &file("examples/config/cohort-20.yaml"),
        &file("examples/config/cohort.yaml"),
        "--canary",
        "web/k8s",
        "--fail-on",
        "from-canary",
        "--fail-on",
        "moved-users:10",
    ]);
    assert_eq!(code, 1);
    assert_eq!(d["users"]["from_canary"], 936);
    assert_eq!(d["users"]["to_canary"], 0);
    assert_eq!(d["users"]["between_stable"], 0);
    // 9.36% of users moved: under the 10% threshold.
    assert_eq!(d["failed"], json!(["from-canary"]));
}

#[test]
fn generated_requests_are_the_same_for_a_seed_and_differ_across_seeds() {
    let args = |seed: &'static str| {
        vec![
            file("examples/config/cohort.yaml"),
            file("examples/config/cohort-20.yaml"),
            "--users".into(),
            "500".into(),
            "--seed".into(),
            seed.into(),
        ]
    };
    let run = |a: Vec<String>| {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        diff(&refs).1
    };
    let a = run(args("a"));
    assert_eq!(a, run(args("a")));
    assert_ne!(
        a["backends"][0]["requests_before"],
        run(args("b"))["backends"][0]["requests_before"]
    );
    assert_eq!(a["users"]["total"], 500);
}

#[test]
fn the_text_report_names_each_part() {
    let out = splitway(&[
        "diff",
        &phase(1),
        &phase(2),
        "--requests",
        &file("examples/requests/phase.jsonl"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout).replace(&root().display().to_string(), ".");
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    assert_eq!(
        lines,
        [
            "./examples/config/phase1.yaml -> ./examples/config/phase2.yaml: 26 requests",
            "routes (requests before -> after):",
            "  web               22 -> 22",
            "  web_canary         3 -> 3",
            "  (no route)         1 -> 1",
            "moved: 12 requests change route or server (46.15%); 0 lose their route, 0 gain one",
            "backend web (server shares before -> after):",
            "  legacy_1   50.00% ->  45.45%  (11 -> 10)",
            "  legacy_2   50.00% ->  45.45%  (11 -> 10)",
            "  k8s         0.00% ->   9.09%  (0 -> 2)",
            "backend web_canary (server shares before -> after):",
            "  k8s  100.00% -> 100.00%  (3 -> 3)",
            "users: 0 of 0 change server (0.00%): to_canary 0, from_canary 0, between_stable 0 (no canary named (--canary BACKEND/SERVER))",
        ]
    );
    let bad = splitway(&["diff", &phase(1), &phase(2), "--fail-on", "sometimes"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn a_committed_account_log_raised_and_lowered_moves_exactly_82_accounts_one_way() {
    let (old, new) = (
        file("examples/config/cohort.yaml"),
        file("examples/config/cohort-20.yaml"),
    );
    let requests = file("examples/requests/accounts.jsonl");
    let (code, up) = diff(&[
        &old,
        &new,
        "--requests",
        &requests,
        "--canary",
        "web/k8s",
        "--fail-on",
        "from-canary",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        up["backends"][0]["requests_before"],
        json!({"legacy": 894, "k8s": 106})
    );
    assert_eq!(
        up["backends"][0]["requests_after"],
        json!({"legacy": 812, "k8s": 188})
    );
    assert_eq!(
        up["users"],
        json!({"to_canary": 82, "from_canary": 0, "between_stable": 0, "moved": 82, "total": 1000, "canary": "web/k8s"})
    );
    let (code, down) = diff(&[
        &new,
        &old,
        "--requests",
        &requests,
        "--canary",
        "web/k8s",
        "--fail-on",
        "from-canary",
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        down["users"],
        json!({"to_canary": 0, "from_canary": 82, "between_stable": 0, "moved": 82, "total": 1000, "canary": "web/k8s"})
    );
    assert_eq!(down["failed"], json!(["from-canary"]));
}
