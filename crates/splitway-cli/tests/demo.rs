//! `splitway serve --demo` started as a new user would, on 127.0.0.1 ports: its upstreams,
//! traffic and rollout show up on the admin listener, the canary's failure rolls the rollout
//! back, and Ctrl-C (SIGINT) stops everything.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use support::{Running, admin_line, proxy_line, send};

/// How much faster than real time the test runs the demo's timeline.
const SPEED: u32 = 10;
/// The README's bound on the rollback, at speed 1: "rolled back at about 2:00, by 2:30 at
/// the latest".
const ROLLED_BACK_BY: Duration = Duration::from_secs(150);

/// One HTTP/1.1 request over a fresh connection: the status and the body.
fn get(addr: &str, host: &str, path: &str, cookie: Option<&str>) -> (u16, String) {
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    let out = send(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: close\r\n\r\n")
            .as_bytes(),
    );
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {out}"));
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// An admin endpoint's JSON.
fn admin_json(admin: &str, path: &str) -> Value {
    let (status, body) = get(admin, admin, path, None);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// Requests per `backend/server` in a `/stats` document.
fn requests(stats: &Value) -> BTreeMap<String, u64> {
    stats["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                format!(
                    "{}/{}",
                    s["backend"].as_str().unwrap(),
                    s["server"].as_str().unwrap()
                ),
                s["requests"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The sum of a metric's series whose labels contain `labels`.
fn metric_sum(metrics: &str, name: &str, labels: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(labels))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// Lines of a child's pipe, read by a thread of their own.
fn lines_of(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn next_line(lines: &Receiver<String>, deadline: Instant, what: &str) -> String {
    let left = deadline.saturating_duration_since(Instant::now());
    lines
        .recv_timeout(left)
        .unwrap_or_else(|e| panic!("no {what} in time: {e}"))
}

fn rfc3339(text: &str) -> SystemTime {
    humantime::parse_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[cfg(unix)]
#[test]
fn the_demo_shows_a_split_a_cohort_a_rollout_and_its_rollback_then_stops_on_sigint() {
    let started = Instant::now();
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_splitway"))
            .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--admin"])
            .args(["127.0.0.1:0", "--demo-speed", &SPEED.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = lines_of(child.0.stderr.take().unwrap());
    let stdout = lines_of(child.0.stdout.take().unwrap());

    // The bound ports, from the plain lines on stderr.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut upstreams = BTreeMap::new();
    let (mut proxy, mut admin) = (None, None);
    while proxy.is_none() || admin.is_none() || upstreams.len() < 3 {
        let line = next_line(&stderr, deadline, "listening lines");
        if let Some(rest) = line.strip_prefix("splitway: demo upstream ") {
            let (name, addr) = rest.split_once(" listening on ").unwrap();
            upstreams.insert(name.to_owned(), addr.to_owned());
        } else if let Some(addr) = proxy_line(&line) {
            proxy = Some(addr);
        } else if let Some(addr) = admin_line(&line) {
            admin = Some(addr);
        }
    }
    let (proxy, admin) = (proxy.unwrap(), admin.unwrap());
    assert_eq!(
        upstreams.keys().collect::<Vec<_>>(),
        ["k8s", "legacy_1", "legacy_2"]
    );
    for addr in upstreams.values().chain([&proxy, &admin]) {
        assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    }

    // What it prints for the person at the terminal: the dashboard and commands to try.
    let mut guide = Vec::new();
    while guide.last().is_none_or(|l: &String| !l.contains("Ctrl-C")) {
        guide.push(next_line(&stdout, deadline, "the guide"));
    }
    let guide = guide.join("\n");
    assert!(
        guide.contains(&format!("dashboard:  http://{admin}/")),
        "{guide}"
    );
    assert!(
        guide.contains(&format!(
            "curl -s -X POST -H 'X-Splitway: 1' http://{admin}/rollouts/web/pause"
        )),
        "{guide}"
    );
    assert!(
        guide.contains(&format!(
            "curl -s -H 'Host: web.agendor.com.br' -b '_AUSER_TYPE=canary' http://{proxy}/"
        )),
        "{guide}"
    );
    // The configuration it serves names the upstreams' ports.
    assert!(
        guide.contains(&format!("url: \"http://{}\"", upstreams["k8s"])),
        "{guide}"
    );

    // Beta testers go to k8s whatever their account; everyone else to one of the three, and
    // an account always to the same one.
    for i in 0..20 {
        let cookie = format!("_AUSER_TYPE=canary; agendor_uid=tester-{i}");
        let (status, body) = get(&proxy, "web.agendor.com.br", "/", Some(&cookie));
        assert!(body.starts_with("k8s v2 "), "{status} {body}");
    }
    for i in 0..20 {
        let cookie = format!("agendor_uid=account-{i}");
        let (_, first) = get(&proxy, "web.agendor.com.br", "/deals", Some(&cookie));
        let name = first.split(' ').next().unwrap().to_owned();
        assert!(
            ["legacy_1", "legacy_2", "k8s"].contains(&name.as_str()),
            "{first}"
        );
    }

    // Within a minute, /stats counts requests on all three servers, and on k8s through
    // web_canary.
    let servers = ["web/legacy_1", "web/legacy_2", "web/k8s", "web_canary/k8s"];
    loop {
        let counted = requests(&admin_json(&admin, "/stats"));
        assert_eq!(counted.len(), 4, "{counted:?}");
        if servers.iter().all(|s| counted[*s] > 0) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not every server has requests after a minute: {counted:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Every response of the web_canary route came from its only server, k8s. (The two
    // counters are bumped one after the other: a read may fall between them.)
    let mut agreed = None;
    for _ in 0..20 {
        let (_, metrics) = get(&admin, &admin, "/metrics", None);
        let route = metric_sum(
            &metrics,
            "splitway_route_requests_total",
            r#"route="web_canary""#,
        );
        let server = metric_sum(
            &metrics,
            "splitway_requests_total",
            r#"backend="web_canary",server="k8s""#,
        );
        let backend = metric_sum(
            &metrics,
            "splitway_requests_total",
            r#"backend="web_canary""#,
        );
        assert_eq!(server, backend, "{metrics}");
        if route == server {
            agreed = Some(route);
            break;
        }
    }
    assert!(agreed.is_some_and(|n| n >= 20), "{agreed:?}");

    // The rollout progresses, then the failing canary is rolled back within the README's
    // bound (on the rollout's own clock).
    let rollout = loop {
        let rollouts = admin_json(&admin, "/rollouts");
        let rollout = rollouts["rollouts"][0].clone();
        assert_eq!(rollout["backend"], "web");
        assert_eq!(rollout["canary"], "k8s");
        if rollout["state"] == "rolled_back" {
            break rollout;
        }
        assert!(
            ["progressing", "holding"].contains(&rollout["state"].as_str().unwrap()),
            "{rollout}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "not rolled back after 90 s: {rollout}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let transitions = rollout["transitions"].as_array().unwrap();
    let seen: Vec<(String, u64, String)> = transitions
        .iter()
        .map(|t| {
            (
                t["to"].as_str().unwrap().to_owned(),
                t["step"].as_u64().unwrap(),
                t["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let progressed: Vec<u64> = seen
        .iter()
        .filter(|(to, _, reason)| to == "progressing" && reason == "analysis_passed")
        .map(|(_, step, _)| *step)
        .collect();
    // Steps 2 and 3 as a rule; an interval with too few canary requests (rare) holds its
    // step without judging, and the canary's failure then comes one step earlier.
    assert!(
        !progressed.is_empty()
            && progressed[0] == 2
            && progressed.windows(2).all(|w| w[1] == w[0] + 1),
        "{seen:?}"
    );
    let n = seen.len();
    assert_eq!(
        seen[n - 2..],
        [
            (
                "holding".to_owned(),
                seen[n - 1].1,
                "analysis_failed".to_owned()
            ),
            (
                "rolled_back".to_owned(),
                seen[n - 1].1,
                "analysis_failed".to_owned()
            ),
        ],
        "{seen:?}"
    );
    assert_eq!(seen[0], ("progressing".to_owned(), 1, "started".to_owned()));
    let took = rfc3339(transitions[n - 1]["at"].as_str().unwrap())
        .duration_since(rfc3339(transitions[0]["at"].as_str().unwrap()))
        .unwrap();
    assert!(took <= ROLLED_BACK_BY / SPEED, "rolled back after {took:?}");
    let analysis = &rollout["last_analysis"];
    assert_eq!(analysis["verdict"], "fail", "{analysis}");
    assert!(
        analysis["canary"]["errors"].as_u64().unwrap() > 0,
        "{analysis}"
    );
    assert_eq!(rollout["weights"]["k8s"], 0, "{rollout}");
    let stats = admin_json(&admin, "/stats");
    let k8s_in_web = stats["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["backend"] == "web" && s["server"] == "k8s")
        .unwrap()
        .clone();
    assert_eq!(k8s_in_web["weight"], 0, "{k8s_in_web}");

    // Ctrl-C: exit 0 within 5 s, and nothing listens any more.
    let status = child.signal_and_wait("INT", Duration::from_secs(5));
    assert_eq!(status.code(), Some(0));
    for addr in upstreams.values().chain([&proxy, &admin]) {
        assert!(TcpStream::connect(addr).is_err(), "{addr} still accepts");
    }

    // At the end, what each upstream answered and what the proxy counted: every request
    // with the beta-tester cookie reached k8s, and through web_canary.
    let rest: Vec<String> = stderr.try_iter().collect();
    let mut answered = BTreeMap::new();
    let mut counted = BTreeMap::new();
    for line in &rest {
        if let Some(tail) = line.strip_prefix("splitway: demo upstream ")
            && let Some((name, figures)) = tail.split_once(" answered ")
        {
            let numbers: Vec<u64> = figures
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|w| w.parse().ok())
                .take(3)
                .collect();
            answered.insert(name.to_owned(), numbers);
        } else if let Some(tail) = line.strip_prefix("splitway: demo proxy counted ") {
            for entry in tail.split(", ") {
                let (server, n) = entry.rsplit_once(' ').unwrap();
                counted.insert(server.to_owned(), n.parse::<u64>().unwrap());
            }
        }
    }
    assert_eq!(answered.len(), 3, "{rest:#?}");
    assert_eq!(counted.len(), 4, "{rest:#?}");
    // [requests, from beta testers, with 500]
    assert_eq!(answered["legacy_1"][1..], [0, 0], "{rest:#?}");
    assert_eq!(answered["legacy_2"][1..], [0, 0], "{rest:#?}");
    assert_eq!(answered["k8s"][1], counted["web_canary/k8s"], "{rest:#?}");
    assert_eq!(
        answered["legacy_1"][0], counted["web/legacy_1"],
        "{rest:#?}"
    );
    assert_eq!(
        answered["legacy_2"][0], counted["web/legacy_2"],
        "{rest:#?}"
    );
    assert_eq!(
        answered["k8s"][0],
        counted["web/k8s"] + counted["web_canary/k8s"],
        "{rest:#?}"
    );
    assert!(answered["k8s"][2] > 0, "{rest:#?}");
}

#[test]
fn demo_flags_are_usage_errors_elsewhere() {
    let dir = support::TempDir::new("demo-flags");
    let config = dir.path().join("routes.yaml");
    std::fs::write(
        &config,
        "frontends:\n  web:\n    rules: [\"Host:web.example\"]\n\
         backends:\n  web:\n    - {name: s, url: \"http://127.0.0.1:9\"}\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let with_config = support::splitway(&["serve", "--demo", "--config", config]);
    assert_eq!(with_config.status.code(), Some(2));
    assert!(
        support::stderr(&with_config).contains("'--demo' cannot be used with '--config"),
        "{}",
        support::stderr(&with_config)
    );
    for flag in ["--demo-traffic", "--demo-speed"] {
        let alone = support::splitway(&["serve", "--config", config, flag, "3"]);
        assert_eq!(alone.status.code(), Some(2), "{flag}");
        assert!(
            support::stderr(&alone).contains("go with --demo"),
            "{}",
            support::stderr(&alone)
        );
    }
    let neither = support::splitway(&["serve"]);
    assert_eq!(neither.status.code(), Some(2));
    let too_fast = support::splitway(&["serve", "--demo", "--demo-speed", "1000"]);
    assert_eq!(too_fast.status.code(), Some(2));
    let too_much = support::splitway(&["serve", "--demo", "--demo-traffic", "2000"]);
    assert_eq!(too_much.status.code(), Some(2));
}
