//! Fleet-mode rollouts (`source: prometheus`): the file edits of `rollout start` and
//! `rollout ACTION --config`, a replica's series at zero and its answers without Prometheus,
//! and two `splitway serve` replicas reaching the same verdicts from one real Prometheus.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::{TempDir, splitway, stderr, stdout};

/// A port that was free a moment ago (Prometheus cannot listen on port 0, and a restarted
/// replica must come back on its own ports).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request over a fresh connection: status and body; none if it failed.
fn http(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Splitway: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    stream.read_to_string(&mut out).ok()?;
    let status = out.get(9..12)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// A child process, killed and reaped on drop (a passing or a failing test alike).
struct Proc {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.child.kill().ok();
        }
        self.child.wait().ok();
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts `cmd` with its stderr collected; waits (at most 20 s) for a line containing `ready`.
fn start(mut cmd: Command, ready: &str) -> Proc {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(AtomicBool::new(false));
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    {
        let (log, seen, ready) = (log.clone(), seen.clone(), ready.to_owned());
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if line.contains(&ready) {
                    seen.store(true, Ordering::SeqCst);
                }
                log.lock().unwrap().push(line);
            }
        });
    }
    let mut proc = Proc { child, log };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.load(Ordering::SeqCst) {
        if Instant::now() > deadline || !matches!(proc.child.try_wait(), Ok(None)) {
            let log = proc.log().join("\n");
            proc.stop();
            panic!("not ready (`{ready}`) within 20 s:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    proc
}

fn serve(config: &Path, listen: u16, admin: u16) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_splitway"));
    cmd.args(["serve", "--config"])
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{listen}")])
        .args(["--admin", &format!("127.0.0.1:{admin}")]);
    start(cmd, "proxy listening on")
}

/// A fixed-response upstream: a `splitway serve` answering `status` to every request.
fn upstream_config(path: &Path, status: u16) {
    std::fs::write(
        path,
        format!(
            "frontends:\n  all:\n    rules: [\"PathPrefix:/\"]\nbackends:\n  all:\n    - {{name: fixed, status: {status}, body: \"up\"}}\n"
        ),
    )
    .unwrap();
}

const EDITED: &str = "# The fleet's routes.
frontends:
  web:
    rules: [\"PathPrefix:/\"]
backends:
  web:
    - {name: stable, url: \"http://127.0.0.1:1\", weight: 1}
    - {name: canary, url: \"http://127.0.0.1:2\", weight: 0}
rollouts:
  web:
    canary: canary   # the new build
    steps: [10, 50]
    interval: 2s
    source: prometheus
    prometheus:
      url: http://127.0.0.1:9
      selector: 'job=\"splitway\"'
      settle: 1s

# The end.
";

#[test]
fn rollout_start_and_actions_edit_the_file_as_written() {
    let dir = TempDir::new("fleet-edit");
    let file = dir.path().join("routes.yaml");
    let out = dir.path().join("out.yaml");
    std::fs::write(&file, EDITED).unwrap();
    let before = SystemTime::now();
    let o = splitway(&[
        "rollout",
        "start",
        "--config",
        file.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let printed = stdout(&o);
    let stamp = printed
        .strip_prefix("web: start: ")
        .and_then(|s| s.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("{printed}"));
    // Now, rounded up to the next second.
    let start = humantime::parse_rfc3339(stamp).unwrap();
    let since = start.duration_since(UNIX_EPOCH).unwrap();
    assert_eq!(since.subsec_nanos(), 0);
    assert!(start >= before && start <= SystemTime::now() + Duration::from_secs(1));
    // The input is untouched; the copy has one line more, under the rollout's key.
    assert_eq!(std::fs::read_to_string(&file).unwrap(), EDITED);
    let with_start = EDITED.replace(
        "  web:\n    canary: canary",
        &format!("  web:\n    start: {stamp}\n    canary: canary"),
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), with_start);

    // Two actions, in place: the first adds `actions:` at the end of the rollout (before
    // the trailing comment), the second appends to it.
    // Boundaries are start + k x 2 s: the first at or after each `at`.
    let boundary_after = |at: &str| {
        let at = humantime::parse_rfc3339(at).unwrap();
        let after = at.duration_since(start).unwrap().as_secs_f64();
        let k = (after / 2.0).ceil() as u32;
        humantime::format_rfc3339_seconds(start + Duration::from_secs(2) * k).to_string()
    };
    for (action, at) in [
        ("pause", "2030-01-01T00:00:01Z"),
        ("resume", "2030-01-01T00:00:04.5Z"),
    ] {
        let boundary = boundary_after(at);
        let o = splitway(&[
            "rollout",
            action,
            "web",
            "--config",
            out.to_str().unwrap(),
            "--at",
            at,
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(
            stdout(&o),
            format!(
                "web: {action} at {}, in effect from the boundary {boundary}\n",
                humantime::format_rfc3339_millis(humantime::parse_rfc3339(at).unwrap())
                    .to_string()
                    .replace(".000Z", "Z")
            )
        );
    }
    let with_actions = with_start.replace(
        "      settle: 1s\n",
        "      settle: 1s\n    actions:\n      - {at: 2030-01-01T00:00:01Z, do: pause}\n      - {at: 2030-01-01T00:00:04.500Z, do: resume}\n",
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), with_actions);

    // Without --at: now + 2 minutes, rounded up to the second, printed.
    let o = splitway(&[
        "rollout",
        "promote",
        "web",
        "--config",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let line = stdout(&o);
    let at = line
        .strip_prefix("web: promote at ")
        .and_then(|s| s.split(',').next())
        .unwrap();
    let at = humantime::parse_rfc3339(at).unwrap();
    let lead = at.duration_since(SystemTime::now()).unwrap();
    assert!(
        lead > Duration::from_secs(118) && lead <= Duration::from_secs(121),
        "{lead:?}"
    );

    // Refusals: no such rollout, a bad time, TOML, and an edit that would not load.
    let refused = |args: &[&str], message: &str| {
        let o = splitway(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
    };
    let o = out.to_str().unwrap();
    refused(
        &["rollout", "pause", "api", "--config", o],
        "no rollout of backend `api`",
    );
    refused(
        &["rollout", "pause", "web", "--config", o, "--at", "noon"],
        "--at: `noon` is not an RFC 3339 time",
    );
    let toml = dir.path().join("routes.toml");
    std::fs::write(&toml, "").unwrap();
    refused(
        &["rollout", "start", "--config", toml.to_str().unwrap()],
        "only a YAML file can be edited",
    );
    refused(
        &[
            "rollout",
            "start",
            "--config",
            file.to_str().unwrap(),
            "--config",
            o,
        ],
        "cannot be used multiple times",
    );
    let local = dir.path().join("local.yaml");
    std::fs::write(
        &local,
        EDITED.replace("    source: prometheus\n", "    source: local\n"),
    )
    .unwrap();
    refused(
        &["rollout", "start", "--config", local.to_str().unwrap()],
        "no rollout has `source: prometheus`",
    );
    // --admin and --config are one or the other.
    refused(
        &[
            "rollout",
            "pause",
            "web",
            "--config",
            o,
            "--admin",
            "127.0.0.1:1",
        ],
        "cannot be used with",
    );
}

/// The fleet config of one backend `web` (stable + canary) under test.
fn fleet_config(stable: &str, canary: &str, prometheus: u16, extra: &str) -> String {
    format!(
        "frontends:\n  web:\n    rules: [\"PathPrefix:/\"]\n\
         backends:\n  web:\n    - {{name: stable, url: \"http://{stable}\", weight: 1}}\n    - {{name: canary, url: \"http://{canary}\", weight: 0}}\n\
         rollouts:\n  web:\n    canary: canary\n    steps: [10, 50]\n    interval: 1s\n    source: prometheus\n    prometheus: {{url: \"http://127.0.0.1:{prometheus}\", settle: 1s}}\n{extra}"
    )
}

#[test]
fn a_replica_shows_its_series_at_zero_and_holds_without_prometheus() {
    let dir = TempDir::new("fleet-alone");
    let config = dir.path().join("routes.yaml");
    let closed = free_port();
    std::fs::write(
        &config,
        fleet_config(
            "127.0.0.1:1",
            "127.0.0.1:2",
            closed,
            "    start: 2026-01-01T00:00:00Z\n",
        ),
    )
    .unwrap();
    let (listen, admin) = (free_port(), free_port());
    let replica = serve(&config, listen, admin);
    // Before any request: both servers' 2xx and 5xx series, at 0.
    let (status, metrics) = http(admin, "GET", "/metrics").unwrap();
    assert_eq!(status, 200);
    for server in ["stable", "canary"] {
        for class in ["2xx", "5xx"] {
            let line = format!(
                "splitway_requests_total{{backend=\"web\",server=\"{server}\",status_class=\"{class}\"}} 0\n"
            );
            assert!(metrics.contains(&line), "no {line} in\n{metrics}");
        }
    }
    assert!(!metrics.contains("status_class=\"4xx\""), "{metrics}");
    // Fleet mode: no warning about --state; the admin refuses actions and says what to do.
    assert!(
        !replica.log().iter().any(|l| l.contains("--state")),
        "{:?}",
        replica.log()
    );
    let (status, body) = http(admin, "POST", "/rollouts/web/pause").unwrap();
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body,
        "the rollout of backend `web` is in fleet mode (source: prometheus): no replica acts alone; \
         add a timestamped action to the configuration instead (`splitway rollout ACTION web --config FILE`)\n"
    );
    // A start far in the past: every boundary since is due and Prometheus does not answer,
    // so the rollout holds at step 1, metrics_unavailable, and the failures are counted.
    let deadline = Instant::now() + Duration::from_secs(10);
    let web = loop {
        let (_, body) = http(admin, "GET", "/rollouts").unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        let web = v["rollouts"][0].clone();
        if web["reason"] == "metrics_unavailable" || Instant::now() > deadline {
            break web;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        (&web["source"], &web["state"], &web["step"], &web["reason"]),
        (
            &Value::from("prometheus"),
            &Value::from("holding"),
            &Value::from(1),
            &Value::from("metrics_unavailable")
        ),
        "{web}"
    );
    let (_, metrics) = http(admin, "GET", "/metrics").unwrap();
    let failures: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("splitway_rollout_query_failures_total{backend=\"web\"} "))
        .unwrap_or_else(|| panic!("{metrics}"))
        .parse()
        .unwrap();
    assert!(failures >= 1.0, "{failures}");
    // Logged, but not once a failure.
    let warned = replica
        .log()
        .iter()
        .filter(|l| l.contains("Prometheus did not answer"))
        .count();
    assert_eq!(warned, 1, "{:?}", replica.log());
}

// ----- end to end with a real Prometheus ------------------------------------------------

const PROMETHEUS: &str = "/usr/bin/prometheus";
const INTERVAL: Duration = Duration::from_secs(2);

struct Prometheus {
    proc: Option<Proc>,
    port: u16,
    config: PathBuf,
    data: PathBuf,
}

impl Prometheus {
    fn start(&mut self) {
        let mut cmd = Command::new(PROMETHEUS);
        cmd.arg(format!("--config.file={}", self.config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .arg(format!("--storage.tsdb.path={}", self.data.display()));
        self.proc = Some(start(cmd, "Server is ready to receive web requests"));
    }

    /// SIGTERM (by PID), so that it writes out what it holds, as a rolling update does.
    fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            Command::new("kill")
                .args(["-TERM", &p.pid().to_string()])
                .status()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(p.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            p.stop();
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `(state, step, reason, transitions)` of one backend's rollout on a replica.
fn rollout_of(admin: u16, backend: &str) -> Option<Value> {
    let (status, body) = http(admin, "GET", "/rollouts")?;
    if status != 200 {
        return None;
    }
    let v: Value = serde_json::from_str(&body).ok()?;
    v["rollouts"]
        .as_array()?
        .iter()
        .find(|r| r["backend"] == backend)
        .cloned()
}

fn brief(r: &Value) -> (String, u64, String) {
    (
        r["state"].as_str().unwrap_or("?").to_owned(),
        r["step"].as_u64().unwrap_or(0),
        r["reason"].as_str().unwrap_or("?").to_owned(),
    )
}

/// The transitions as `(seconds after start, to, step, reason)`.
fn transitions(r: &Value, start: SystemTime) -> Vec<(f64, String, u64, String)> {
    r["transitions"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|t| {
                    let at = humantime::parse_rfc3339(t["at"].as_str().unwrap()).unwrap();
                    let secs = match at.duration_since(start) {
                        Ok(d) => d.as_secs_f64(),
                        Err(e) => -e.duration().as_secs_f64(),
                    };
                    (
                        secs,
                        t["to"].as_str().unwrap().to_owned(),
                        t["step"].as_u64().unwrap(),
                        t["reason"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Two replicas, three rollouts (`a` healthy, `b` whose canary turns to 500, `c` paused by a
/// timestamped action), one replica killed and restarted, Prometheus stopped for two
/// intervals. Bounded: every wait has a deadline, the whole run about 40 s and at most 120 s.
#[test]
fn two_replicas_reach_the_same_verdicts_from_one_prometheus() {
    if !Path::new(PROMETHEUS).exists() {
        eprintln!("skipped: {PROMETHEUS} is not installed (Debian package `prometheus`)");
        return;
    }
    let bound = Instant::now() + Duration::from_secs(120);
    let dir = TempDir::new("fleet-e2e");
    let p = |name: &str| dir.path().join(name);

    // Upstreams: one stable, one canary that stays healthy, one that will answer 500.
    let mut upstreams = Vec::new();
    let mut up_ports = Vec::new();
    let mut up_admins = Vec::new();
    for name in ["stable", "canary_ok", "canary_b"] {
        upstream_config(&p(&format!("{name}.yaml")), 200);
        let (listen, admin) = (free_port(), free_port());
        upstreams.push(serve(&p(&format!("{name}.yaml")), listen, admin));
        up_ports.push(listen);
        up_admins.push(admin);
    }
    let replicas_ports = [(free_port(), free_port()), (free_port(), free_port())];
    let prom_port = free_port();

    std::fs::write(
        p("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n\
             scrape_configs:\n  - job_name: splitway\n    static_configs:\n      - targets: ['127.0.0.1:{}', '127.0.0.1:{}']\n\
             \x20 - job_name: upstream\n    static_configs:\n      - targets: ['127.0.0.1:{}', '127.0.0.1:{}', '127.0.0.1:{}']\n",
            replicas_ports[0].1, replicas_ports[1].1, up_admins[0], up_admins[1], up_admins[2]
        ),
    )
    .unwrap();
    let mut prometheus = Prometheus {
        proc: None,
        port: prom_port,
        config: p("prometheus.yml"),
        data: p("tsdb"),
    };
    prometheus.start();

    let rollout = |backend: &str| {
        format!(
            "  {backend}:\n    canary: canary\n    steps: [20, 30, 40, 50, 60, 70, 80, 90]\n    interval: 2s\n\
             \x20   analysis: {{min_requests: 10, failures: 1}}\n    source: prometheus\n\
             \x20   prometheus:\n      url: http://127.0.0.1:{prom_port}\n      selector: 'job=\"splitway\"'\n      settle: 1s\n"
        )
    };
    let backend = |name: &str, canary: u16| {
        format!(
            "  {name}:\n    - {{name: stable, url: \"http://127.0.0.1:{}\", weight: 1}}\n    - {{name: canary, url: \"http://127.0.0.1:{canary}\", weight: 0}}\n",
            up_ports[0]
        )
    };
    let config = p("fleet.yaml");
    std::fs::write(
        &config,
        format!(
            "# Both replicas serve this file.\nfrontends:\n  a:\n    rules: [\"PathPrefix:/a\"]\n  b:\n    rules: [\"PathPrefix:/b\"]\n  c:\n    rules: [\"PathPrefix:/c\"]\nbackends:\n{}{}{}rollouts:\n{}{}{}",
            backend("a", up_ports[1]),
            backend("b", up_ports[2]),
            backend("c", up_ports[1]),
            rollout("a"),
            rollout("b"),
            rollout("c"),
        ),
    )
    .unwrap();
    let o = splitway(&["rollout", "start", "--config", config.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let stamp = stdout(&o)
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("a: start: "))
        .unwrap()
        .to_owned();
    let start = humantime::parse_rfc3339(&stamp).unwrap();
    let boundary = |k: u32| start + INTERVAL * k;
    let mut replicas: Vec<Proc> = replicas_ports
        .iter()
        .map(|&(listen, admin)| serve(&config, listen, admin))
        .collect();
    let admins = [replicas_ports[0].1, replicas_ports[1].1];

    // Traffic: one thread a backend, alternating replicas, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic: Vec<_> = ["/a", "/b", "/c"]
        .into_iter()
        .map(|path| {
            let stop = stop.clone();
            let ports = [replicas_ports[0].0, replicas_ports[1].0];
            std::thread::spawn(move || {
                let mut i = 0usize;
                let until = Instant::now() + Duration::from_secs(110);
                while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                    let _ = http(ports[i % 2], "GET", path);
                    i += 1;
                    std::thread::sleep(Duration::from_millis(4));
                }
            })
        })
        .collect();

    let since_start = || {
        SystemTime::now()
            .duration_since(start)
            .map_or(0.0, |d| d.as_secs_f64())
    };
    let sleep_until = |t: SystemTime| {
        if let Ok(d) = t.duration_since(SystemTime::now()) {
            std::thread::sleep(d);
        }
    };
    let mut events: Vec<String> = Vec::new();

    // start + 3 s: the pause of `c`, timestamped at start + 6.5 s: boundary 4 (start + 8 s).
    sleep_until(start + Duration::from_secs(3));
    let pause_at =
        humantime::format_rfc3339_millis(start + Duration::from_millis(6_500)).to_string();
    let o = splitway(&[
        "rollout",
        "pause",
        "c",
        "--config",
        config.to_str().unwrap(),
        "--at",
        &pause_at,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    events.push(format!("t={:.1}s {}", since_start(), stdout(&o).trim_end()));

    // start + 5 s: `b`'s canary answers 500 from now on (its upstream reloads within 1 s).
    sleep_until(start + Duration::from_secs(5));
    upstream_config(&p("canary_b.yaml"), 500);
    events.push(format!("t={:.1}s canary of b answers 500", since_start()));

    // start + 7 s: replica 2 killed; start + 8 s: started again on its ports.
    sleep_until(start + Duration::from_secs(7));
    replicas[1].stop();
    events.push(format!("t={:.1}s replica 2 killed", since_start()));
    sleep_until(start + Duration::from_secs(8));
    replicas[1] = serve(&config, replicas_ports[1].0, replicas_ports[1].1);
    let back = Instant::now();
    events.push(format!("t={:.1}s replica 2 listening again", since_start()));
    let caught_up = loop {
        let (one, two) = (rollout_of(admins[0], "a"), rollout_of(admins[1], "a"));
        if let (Some(one), Some(two)) = (&one, &two)
            && transitions(one, start) == transitions(two, start)
        {
            break back.elapsed();
        }
        assert!(back.elapsed() < Duration::from_secs(10), "{one:?}\n{two:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    events.push(format!(
        "t={:.1}s replica 2 at the same step as replica 1 ({}, {:?} after it listened)",
        since_start(),
        brief(&rollout_of(admins[1], "a").unwrap()).1,
        caught_up
    ));
    assert!(caught_up < INTERVAL, "{caught_up:?}");

    // start + 12 s: Prometheus stopped for two intervals.
    sleep_until(start + Duration::from_secs(12));
    let a_before_outage = brief(&rollout_of(admins[0], "a").unwrap());
    prometheus.stop();
    let stopped_at = since_start();
    events.push(format!(
        "t={stopped_at:.1}s Prometheus stopped; a is {a_before_outage:?}"
    ));
    let mut held = [false, false];
    let outage_end = start + Duration::from_secs(12) + INTERVAL * 2;
    while SystemTime::now() < outage_end {
        for (i, &admin) in admins.iter().enumerate() {
            if let Some(r) = rollout_of(admin, "a") {
                let (state, step, reason) = brief(&r);
                if reason == "metrics_unavailable" {
                    assert_eq!(state, "holding");
                    assert_eq!(step, a_before_outage.1, "advanced without figures");
                    held[i] = true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        held,
        [true, true],
        "both replicas hold while Prometheus is down"
    );
    prometheus.start();
    events.push(format!("t={:.1}s Prometheus ready again", since_start()));

    // Until `a` is promoted on both (or the bound).
    loop {
        let done = admins
            .iter()
            .all(|&admin| rollout_of(admin, "a").is_some_and(|r| r["state"] == "promoted"));
        if done {
            break;
        }
        assert!(Instant::now() < bound, "a not promoted within the bound");
        std::thread::sleep(Duration::from_millis(200));
    }
    events.push(format!("t={:.1}s a promoted on both", since_start()));
    // Let both take the last settled boundary.
    std::thread::sleep(Duration::from_millis(1_500));
    stop.store(true, Ordering::SeqCst);
    for t in traffic {
        t.join().unwrap();
    }

    let mut report = events.join("\n");
    let mut seen = Vec::new();
    for backend in ["a", "b", "c"] {
        let both: Vec<Value> = admins
            .iter()
            .map(|&admin| rollout_of(admin, backend).unwrap())
            .collect();
        let t: Vec<_> = both.iter().map(|r| transitions(r, start)).collect();
        report.push_str(&format!("\n{backend}: {:?}", t[0]));
        seen.push((backend, both, t));
    }
    eprintln!("{report}");
    let at_of =
        |t: &[(f64, String, u64, String)], to: &str| t.iter().find(|x| x.1 == to).map(|x| x.0);
    for (backend, both, t) in &seen {
        // The same transitions, at the same boundaries, on both replicas.
        assert_eq!(t[0], t[1], "{backend}: the replicas disagree\n{report}");
        for x in &t[0] {
            let k = x.0 / INTERVAL.as_secs_f64();
            assert!(
                (k - k.round()).abs() < 1e-6,
                "{backend}: {x:?} is not on a boundary"
            );
        }
        assert_eq!(brief(&both[0]), brief(&both[1]), "{backend}");
    }
    let (a, b, c) = (&seen[0].2[0], &seen[1].2[0], &seen[2].2[0]);
    assert_eq!(brief(&seen[0].1[0]).0, "promoted", "{report}");
    // `a` held through the outage: a metrics_unavailable boundary after the stop.
    assert!(
        a.iter()
            .any(|x| x.3 == "metrics_unavailable" && x.0 >= stopped_at - 1.0),
        "{report}"
    );
    assert!(at_of(a, "promoted").unwrap() > stopped_at, "{report}");
    // `b` rolled back at a boundary after its canary turned to 500 (start + 5 s).
    assert_eq!(brief(&seen[1].1[0]).0, "rolled_back", "{report}");
    let rolled_back = at_of(b, "rolled_back").unwrap();
    assert!((6.0..=10.0).contains(&rolled_back), "{report}");
    // `c` paused at boundary 4 exactly, the first at or after start + 6.5 s.
    assert_eq!(brief(&seen[2].1[0]).0, "paused", "{report}");
    assert_eq!(at_of(c, "paused"), Some(8.0), "{report}");
    assert_eq!(
        boundary(4),
        humantime::parse_rfc3339(&pause_at).unwrap() + Duration::from_millis(1_500)
    );
    // Both counted their failed queries.
    for &admin in &admins {
        let (_, metrics) = http(admin, "GET", "/metrics").unwrap();
        let failures: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("splitway_rollout_query_failures_total{backend=\"a\"} "))
            .unwrap_or("0")
            .parse()
            .unwrap();
        assert!(failures >= 1.0, "{metrics}");
    }
    drop(replicas);
    drop(upstreams);
}
