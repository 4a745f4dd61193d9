//! `check` on rollouts, and `simulate --rollout`: the outputs scripts read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::{Running, TempDir, admin_line, splitway, stderr, stdout};

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/config")
        .join(name)
        .display()
        .to_string()
}

fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let file = dir.path().join(name);
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn check_counts_rollouts_and_locates_their_errors() {
    let file = example("rollout.yaml");
    let out = splitway(&["check", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("{file}: ok: 2 frontends, 2 backends, 4 servers, 0 warnings, 1 rollout\n")
    );

    let dir = TempDir::new("cli-rollout-check");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("canary: k8s", "canary: k9s")
        .replace("steps: [1, 5, 10, 25, 50]", "steps: [1, 5, 5]");
    let bad = write(&dir, "bad.yaml", &text);
    let name = bad.display().to_string();
    let out = splitway(&["check", &name]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        format!(
            "{name}:30:13: error: canary `k9s` is not a server of backend `web`; did you mean `k8s`?\n\
             {name}:31:19: error: step 5 does not rise above the step before it (5): steps must be strictly rising\n"
        )
    );
}

/// `splitway simulate --config rollout.yaml --rollout web EXTRA...`.
fn replay(extra: &[&str]) -> Output {
    let file = example("rollout.yaml");
    let mut args = vec!["simulate", "--config", &file, "--rollout", "web"];
    args.extend_from_slice(extra);
    splitway(&args)
}

#[test]
fn simulate_rollout_prints_the_rollback_timeline_of_a_seed() {
    let args = [
        "--canary-error-rate",
        "0.041",
        "--stable-error-rate",
        "0.002",
        "--rps",
        "1000",
        "--seed",
        "7",
    ];
    let out = replay(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "t=0s step 1 (1%): weights legacy_1=500 legacy_2=500 k8s=10\n\
         t=30s holding step 1 (1%), failure 1 of 2: canary 4.6% 5xx vs stable 0.2%, 5xx rate 4.6% > 1.0%, lower bound 0.0229 > 0.005\n\
         t=60s rolled_back: canary 4.4% 5xx vs stable 0.2%, 5xx rate 4.4% > 1.0%, lower bound 0.0216 > 0.005\n"
    );
    // Reproducible for a seed, and the seed matters.
    assert_eq!(stdout(&replay(&args)), stdout(&out));
    let mut other = args;
    other[7] = "8";
    assert_ne!(stdout(&replay(&other)), stdout(&out));
}

#[test]
fn simulate_rollout_walks_a_healthy_canary_to_promotion() {
    let out = replay(&["--canary-error-rate", "0", "--rps", "1000", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let walk: Vec<(f64, String, u64, f64)> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["t_seconds"].as_f64().unwrap(),
                e["state"].as_str().unwrap().to_owned(),
                e["step"].as_u64().unwrap(),
                e["effective_share"].as_f64().unwrap(),
            )
        })
        .collect();
    let p = |s: &str| s.to_owned();
    assert_eq!(
        walk,
        [
            (0.0, p("progressing"), 1, 0.99),
            (30.0, p("progressing"), 2, 5.033),
            (60.0, p("progressing"), 3, 9.991),
            (90.0, p("progressing"), 4, 24.981),
            (120.0, p("progressing"), 5, 50.0),
            (150.0, p("promoted"), 5, 100.0),
        ]
    );
    assert_eq!(
        v["end"],
        serde_json::json!({"state": "promoted", "step": 5, "t_seconds": 150.0})
    );
    assert_eq!(
        v["timeline"][5]["weights"],
        serde_json::json!({"legacy_1": 0, "legacy_2": 0, "k8s": 1000})
    );
    let analysis = &v["timeline"][1]["analysis"];
    assert_eq!(analysis["verdict"], "pass");
    assert_eq!(analysis["canary"]["errors"], 0);
    assert_eq!(
        analysis["canary"]["requests"].as_u64().unwrap()
            + analysis["stable"]["requests"].as_u64().unwrap(),
        30_000
    );
}

#[test]
fn simulate_rollout_stops_a_rollout_that_holds_for_ever() {
    // 100 requests a second give the 1% step about 30 canary requests an interval: fewer than
    // min_requests, so the step is held, never judged.
    let out = replay(&["--canary-error-rate", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[1].starts_with("t=30s holding step 1 (1%), too few requests: only "),
        "{text}"
    );
    assert!(
        lines[2].starts_with("t=6000s holding step 1 (1%), too few requests"),
        "{text}"
    );
    assert_eq!(lines[3], "stopped after 200 intervals, holding at step 1");
}

#[test]
fn simulate_rollout_usage_errors_exit_2() {
    for (args, message) in [
        (
            vec!["--canary-error-rate", "0", "--rollout", "api"],
            "splitway: error: --rollout: the configuration has no rollout of backend `api`\n",
        ),
        (
            vec![],
            "splitway: error: --rollout needs --canary-error-rate R\n",
        ),
        (
            vec!["--canary-error-rate", "2"],
            "splitway: error: --canary-error-rate must be between 0 and 1, not 2\n",
        ),
        (
            vec!["--canary-error-rate", "0", "--rps", "0"],
            "splitway: error: --rps must be at least 1\n",
        ),
    ] {
        let file = example("rollout.yaml");
        let mut full = vec!["simulate", "--config", &file];
        if !args.contains(&"--rollout") {
            full.extend(["--rollout", "web"]);
        }
        full.extend(args.iter().copied());
        let out = splitway(&full);
        assert_eq!(out.status.code(), Some(2), "{full:?}");
        assert_eq!(stderr(&out), message, "{full:?}");
    }
    // Without --rollout, --url is still required.
    let file = example("rollout.yaml");
    let out = splitway(&["simulate", "--config", &file]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), "splitway: error: --url is required\n");
}

#[test]
fn rollout_commands_act_on_a_running_proxy_with_exit_codes() {
    use std::time::{Duration, Instant};

    let dir = TempDir::new("cli-rollout-serve");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = write(
        &dir,
        "r.yaml",
        &format!(
            "frontends:\n  web:\n    rules: [\"Host:web.example\"]\n\
             backends:\n  web:\n    - {{name: stable, url: \"http://{closed}\", weight: 5}}\n    - {{name: canary, url: \"http://{closed}/v2\", weight: 0}}\n\
             rollouts:\n  web:\n    canary: canary\n    steps: [1, 50]\n    interval: 1h\n"
        ),
    );
    let state = dir.path().join("state.json");
    let mut child = Running::spawn(
        std::process::Command::new(env!("CARGO_BIN_EXE_splitway"))
            .args(["serve", "--config"])
            .arg(&config)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--admin",
                "127.0.0.1:0",
                "--state",
            ])
            .arg(&state),
    );
    let mut lines = child.stderr_lines();
    let mut admin = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    while admin.is_none() {
        assert!(Instant::now() < deadline, "no admin line in 30 s");
        let line = lines.next().expect("stderr open").unwrap();
        assert!(!line.contains("no --state"), "{line}");
        admin = admin_line(&line);
    }
    let admin = admin.unwrap();
    let rollout = |args: &[&str]| {
        let mut full = vec!["rollout"];
        full.extend_from_slice(args);
        full.extend(["--admin", admin.as_str()]);
        splitway(&full)
    };

    let out = rollout(&["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with(
            "web: progressing step 1/2 (1%), effective 0.99%, weights stable=1000 canary=10, reason started, failures 0, next decision at "
        ),
        "{text}"
    );
    let out = rollout(&["pause", "web", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["state"].as_str(), v["reason"].as_str()),
        (Some("paused"), Some("operator"))
    );
    // Refused: the action does not apply, or there is no such rollout.
    let out = rollout(&["pause", "web"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "splitway: error: cannot pause a rollout that is paused\n"
    );
    let out = rollout(&["promote", "api"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "splitway: error: no rollout of backend `api`\n"
    );
    let out = rollout(&["status", "api"]);
    assert_eq!(out.status.code(), Some(1));
    let out = rollout(&["promote", "web"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with(
            "web: promoted step 1/2 (100%), effective 100.00%, weights stable=0 canary=1000"
        ),
        "{}",
        stdout(&out)
    );
    // The metrics count the transitions and show the step.
    let metrics = {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&admin).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    };
    for line in [
        "splitway_rollout_step{backend=\"web\"} 1",
        "splitway_rollout_transitions_total{backend=\"web\",to=\"paused\"} 1",
        "splitway_rollout_transitions_total{backend=\"web\",to=\"promoted\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in {metrics}"
        );
    }
    // The state file has the promotion.
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(saved["rollouts"][0]["state"], "promoted");

    child.0.kill().ok();
    child.0.wait().ok();
    // Nobody listening: a connection error, exit 2.
    let out = rollout(&["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("splitway: error: cannot reach the admin at "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn serve_without_state_warns_that_a_restart_goes_back_to_step_1() {
    use std::time::{Duration, Instant};

    let file = example("rollout.yaml");
    let mut child = Running::spawn(
        std::process::Command::new(env!("CARGO_BIN_EXE_splitway"))
            .args(["serve", "--config", &file])
            .args(["--listen", "127.0.0.1:0"]),
    );
    let mut lines = child.stderr_lines();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            Instant::now() < deadline,
            "no listening line in 30 s: {seen:?}"
        );
        let line = lines.next().expect("stderr open").unwrap();
        let done = line.starts_with("splitway: proxy listening on ");
        seen.push(line);
        if done {
            break;
        }
    }
    assert!(
        seen.iter().any(|l| l
            == "splitway: warning: no --state FILE: a restart puts every rollout back at step 1"),
        "{seen:?}"
    );
    child.0.kill().ok();
    child.0.wait().ok();
}
