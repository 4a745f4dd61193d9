//! `splitway explain --admin ADDR` against a running `splitway serve`: the same output as the
//! offline explain, decided on the proxy's live table (its rollout's weights), with the token.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use serde_json::Value;
use support::{Serve, TempDir, splitway, stderr, stdout};

fn config(dir: &TempDir) -> std::path::PathBuf {
    let file = dir.path().join("r.yaml");
    std::fs::write(
        &file,
        "frontends:\n  web:\n    rule: \"Host(`web.example`)\"\n  api:\n    rule: \"Host(`api.example`) && PathPrefix(`/v1`)\"\n    backend: api\n\
         backends:\n  web:\n    hash:\n      key: \"cookie:uid\"\n    servers:\n      - {name: stable, url: \"http://127.0.0.1:9\", weight: 9}\n      - {name: canary, url: \"http://127.0.0.1:9/v2\", weight: 0}\n\
         \x20 api:\n    - {name: one, url: \"http://127.0.0.1:9\"}\n\
         rollouts:\n  web:\n    canary: canary\n    steps: [10, 50]\n    interval: 1h\n",
    )
    .unwrap();
    file
}

const USER: [&str; 4] = [
    "--url",
    "http://web.example/deals",
    "-H",
    "Cookie: uid=user-7",
];
const API: [&str; 6] = [
    "--url",
    "/v1/items?page=2",
    "-H",
    "Host: api.example",
    "--client-ip",
    "10.1.2.3",
];

/// `splitway explain SOURCE... REQUEST... [--json]`: exit code and stdout.
fn explain(source: &[&str], request: &[&str], json: bool) -> (Option<i32>, String, String) {
    let mut args = vec!["explain"];
    args.extend_from_slice(source);
    args.extend_from_slice(request);
    if json {
        args.push("--json");
    }
    let out = splitway(&args);
    (out.status.code(), stdout(&out), stderr(&out))
}

#[test]
fn explain_admin_prints_what_the_offline_explain_prints_on_the_live_weights() {
    let dir = TempDir::new("cli-explain-admin");
    let file = config(&dir);
    let file = file.to_str().unwrap();
    let serve = Serve::start(Path::new(file), &[] as &[&str]);
    let admin = serve.admin.clone();
    let live = ["--admin", admin.as_str()];
    let offline = ["--config", file];

    // A backend without a rollout: the live table is the file's, and so is every byte.
    for json in [false, true] {
        let (code, a, err) = explain(&live, &API, json);
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(
            explain(&offline, &API, json),
            (Some(0), a.clone(), String::new())
        );
        if !json {
            assert!(a.starts_with("route:   api (priority "), "{a}");
            assert!(a.contains("\npath:    /v1/items\n"), "{a}");
        }
    }

    // The rollout's backend: the file says 9:0, the proxy serves step 1 (10%): 1008:112.
    let (_, text, _) = explain(&live, &USER, true);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["cohort"][0]["weight"], 1008, "{v}");
    assert_eq!(v["cohort"][1]["weight"], 112, "{v}");
    let (_, text, _) = explain(&offline, &USER, true);
    let file_view: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(file_view["cohort"][0]["weight"], 9);
    assert_eq!(file_view["cohort"][1]["weight"], 0);
    assert_eq!(file_view["server"], "stable");

    // Promoted on the proxy: the same user is explained on the canary, text and JSON.
    let out = splitway(&["rollout", "promote", "web", "--admin", &admin]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (code, text, _) = explain(&live, &USER, false);
    assert_eq!(code, Some(0));
    assert!(
        text.starts_with(
            "route:   web (priority 19)\nbackend: web\nserver:  canary http://127.0.0.1:9/v2\npath:    /deals\nstatus:  200 (routed)\n\
             cohort (weighted rendezvous hash of this user's key):\n  stable (weight 0): score "
        ),
        "{text}"
    );
    assert!(
        text.ends_with("tried:\n  web (priority 19): matched\n"),
        "{text}"
    );
    let (_, text, _) = explain(&live, &USER, true);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (v["server"].as_str(), v["url"].as_str()),
        (Some("canary"), Some("http://127.0.0.1:9/v2"))
    );

    // No proxy there: a connection error, exit 2.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let (code, out, err) = explain(&["--admin", &closed], &USER, false);
    assert_eq!((code, out.as_str()), (Some(2), ""));
    assert!(
        err.starts_with("splitway: error: cannot reach the admin at "),
        "{err}"
    );
    // Both sources, or neither: usage errors.
    assert_eq!(explain(&[], &USER, false).0, Some(2));
    let mut both = vec!["--config", file];
    both.extend_from_slice(&live);
    assert_eq!(explain(&both, &USER, false).0, Some(2));
}

#[test]
fn explain_admin_sends_the_token_file_and_fails_without_it() {
    let dir = TempDir::new("cli-explain-admin-token");
    let file = config(&dir);
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let token = token.to_str().unwrap();
    let serve = Serve::start(&file, &["--admin-token-file", token]);
    let admin = serve.admin.clone();

    let (code, out, err) = explain(&["--admin", &admin], &API, true);
    assert_eq!((code, out.as_str()), (Some(2), ""));
    assert!(err.contains("401"), "{err}");
    let (code, out, err) = explain(
        &["--admin", &admin, "--admin-token-file", token],
        &API,
        true,
    );
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            v["route"].as_str(),
            v["server"].as_str(),
            v["status"].as_u64()
        ),
        (Some("api"), Some("one"), Some(200))
    );
}
