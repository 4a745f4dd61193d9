//! `splitway serve` as a process: it prints where it listens, answers on 127.0.0.1, and stops
//! cleanly (exit 0) on SIGTERM, as Kubernetes stops a pod.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::TempDir;

/// One HTTP/1.1 request over a fresh connection; the whole response as text.
fn http(addr: &str, host: &str, path: &str) -> String {
    request(addr, "GET", path, &format!("Host: {host}\r\n"))
}

/// One HTTP/1.1 request with `headers` (each line ending in CRLF); the whole response.
fn request(addr: &str, method: &str, path: &str, headers: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

/// The server process, killed if the test ends (passes or fails) while it still runs.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            self.0.kill().ok();
            self.0.wait().ok();
        }
    }
}

#[cfg(unix)]
#[test]
fn serve_answers_and_stops_on_sigterm() {
    let dir = TempDir::new("serve");
    let config = dir.path().join("routes.yaml");
    // The only server is a port bound and closed again: a routed request gets the 502.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    std::fs::write(
        &config,
        format!(
            "frontends:\n  web:\n    rules: [\"Host:web.example\"]\n\
             backends:\n  web:\n    - {{name: s, url: \"http://{closed}\"}}\n"
        ),
    )
    .unwrap();
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_splitway"))
            .args(["serve", "--config"])
            .arg(&config)
            .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
    let (mut proxy, mut admin) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while proxy.is_none() || admin.is_none() {
        assert!(Instant::now() < deadline, "no listening lines in 30 s");
        let line = lines.next().expect("stderr open").unwrap();
        if let Some(rest) = line.strip_prefix("splitway: proxy listening on ") {
            proxy = rest.split(',').next().map(str::to_owned);
        } else if let Some(rest) = line.strip_prefix("splitway: admin listening on ") {
            admin = Some(rest.to_owned());
        }
    }
    let (proxy, admin) = (proxy.unwrap(), admin.unwrap());
    assert!(proxy.starts_with("127.0.0.1:") && admin.starts_with("127.0.0.1:"));

    assert!(http(&admin, "admin", "/healthz").starts_with("HTTP/1.1 200 OK"));
    assert!(http(&proxy, "nowhere.example", "/").starts_with("HTTP/1.1 404"));
    assert!(http(&proxy, "web.example", "/").starts_with("HTTP/1.1 502"));
    // The answers are in the Prometheus metrics, by backend, server and class, and by route;
    // the GET its server refused was tried twice (there is no other server) before the 502.
    let metrics = http(&admin, "admin", "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200 OK"), "{metrics}");
    let value = |series: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(series) && l.as_bytes().get(series.len()) == Some(&b' '))
            .map(|l| l.rsplit(' ').next().unwrap_or("").to_owned())
    };
    let requests = |labels: &str| value(&format!("splitway_requests_total{{{labels}}}"));
    assert_eq!(
        requests(r#"backend="web",server="s",status_class="5xx""#).as_deref(),
        Some("2"),
        "{metrics}"
    );
    assert_eq!(
        requests(r#"backend="",server="",status_class="4xx""#).as_deref(),
        Some("1"),
        "{metrics}"
    );
    assert_eq!(
        value(r#"splitway_route_requests_total{route="web",status_class="5xx"}"#).as_deref(),
        Some("2"),
        "{metrics}"
    );
    // A series appears with its first response: no 2xx has been answered.
    assert_eq!(
        requests(r#"backend="web",server="s",status_class="2xx""#),
        None,
        "{metrics}"
    );
    // The duration histogram has splitway's buckets: 16 bounds and +Inf.
    let buckets = metrics
        .lines()
        .filter(|l| {
            l.starts_with(r#"splitway_request_duration_seconds_bucket{backend="web",server="s","#)
        })
        .count();
    assert_eq!(buckets, 17, "{metrics}");

    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.0.kill().ok();
            panic!("splitway serve did not stop within 30 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(0));
}

/// A configuration with one frontend whose only server is a closed port.
fn one_route_config(dir: &TempDir) -> std::path::PathBuf {
    let config = dir.path().join("routes.yaml");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    std::fs::write(
        &config,
        format!(
            "frontends:\n  web:\n    rules: [\"Host:web.example\"]\n\
             backends:\n  web:\n    - {{name: s, url: \"http://{closed}\"}}\n"
        ),
    )
    .unwrap();
    config
}

/// `splitway serve ARGS` expected to refuse to start: its exit code and stderr (30 s at most).
fn serve_refused(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_splitway"))
            .arg("serve")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "splitway serve still runs after 30 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.code(), stderr)
}

#[test]
fn serve_refuses_an_admin_off_loopback_without_a_token() {
    let dir = TempDir::new("serve-admin-bind");
    let config = one_route_config(&dir);
    // Refused before anything is bound: no socket off 127.0.0.1 is ever opened.
    let (code, stderr) = serve_refused(&[
        "--config".as_ref(),
        config.as_os_str(),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--admin".as_ref(),
        "0.0.0.0:0".as_ref(),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("0.0.0.0:0") && stderr.contains("only with --admin-token-file"),
        "{stderr}"
    );
}

#[test]
fn serve_refuses_an_empty_or_missing_token_file() {
    let dir = TempDir::new("serve-admin-token-file");
    let config = one_route_config(&dir);
    let empty = dir.path().join("empty-token");
    std::fs::write(&empty, "\n").unwrap();
    let missing = dir.path().join("missing-token");
    for (file, says) in [(&empty, "is empty"), (&missing, "cannot read")] {
        let (code, stderr) = serve_refused(&[
            "--config".as_ref(),
            config.as_os_str(),
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--admin".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--admin-token-file".as_ref(),
            file.as_os_str(),
        ]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
}

#[test]
fn serve_with_a_token_file_asks_for_the_token() {
    let dir = TempDir::new("serve-admin-token");
    let config = one_route_config(&dir);
    let token = dir.path().join("token");
    std::fs::write(&token, "t0ken\n").unwrap();
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_splitway"))
            .args(["serve", "--config"])
            .arg(&config)
            .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
            .arg("--admin-token-file")
            .arg(&token)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let admin = loop {
        assert!(Instant::now() < deadline, "no admin line in 30 s");
        let line = lines.next().expect("stderr open").unwrap();
        if let Some(rest) = line.strip_prefix("splitway: admin listening on ") {
            break rest.to_owned();
        }
    };
    let host = format!("Host: {admin}\r\n");
    assert!(http(&admin, &admin, "/healthz").starts_with("HTTP/1.1 200"));
    let drain = "/servers/web/s/weight/0";
    let without = request(&admin, "PUT", drain, &format!("{host}X-Splitway: 1\r\n"));
    assert!(without.starts_with("HTTP/1.1 401"), "{without}");
    let wrong = request(
        &admin,
        "PUT",
        drain,
        &format!("{host}Authorization: Bearer t0ken2\r\n"),
    );
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    let with = request(
        &admin,
        "PUT",
        drain,
        &format!("{host}Authorization: Bearer t0ken\r\n"),
    );
    assert!(with.starts_with("HTTP/1.1 204"), "{with}");
}

#[cfg(unix)]
#[test]
fn accept_failures_do_not_flood_the_log() {
    let dir = TempDir::new("serve-emfile");
    let config = dir.path().join("routes.yaml");
    std::fs::write(
        &config,
        "frontends:\n  web:\n    rules: [\"Host:web.example\"]\n\
         backends:\n  web:\n    - {name: s, url: \"http://127.0.0.1:9\"}\n",
    )
    .unwrap();
    // `ulimit -n` sets the soft and the hard limit: the proxy cannot raise it.
    let mut child = Running(
        Command::new("sh")
            .arg("-c")
            .arg("ulimit -n 64 && exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_splitway"))
            .args(["serve", "--config"])
            .arg(&config)
            .args(["--listen", "127.0.0.1:0", "--max-connections", "500"])
            .args(["--handshake-timeout", "30"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let stderr = BufReader::new(child.0.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let proxy = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("a listening line in 30 s");
        if let Some(rest) = line.strip_prefix("splitway: proxy listening on ") {
            break rest.split(',').next().unwrap().to_owned();
        }
    };
    // 100 silent clients: the proxy runs out of descriptors after some 50.
    let held: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(&proxy).unwrap())
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let logged: Vec<String> = lines
        .try_iter()
        .filter(|l| l.contains("accept failed"))
        .collect();
    // At 0 s, 1 s, 2 s and maybe 3 s; the first line's failures are news, later ones count
    // what they stand for.
    assert!(
        (1..=4).contains(&logged.len()),
        "{} lines: {logged:#?}",
        logged.len()
    );
    assert!(
        logged.iter().all(|l| l.contains("suppressed=")),
        "{logged:#?}"
    );
    assert!(
        logged.iter().skip(1).any(|l| !l.contains("suppressed=0")),
        "{logged:#?}"
    );
    drop(held);
    // Once they let go, the proxy answers again (within its 1 s back-off).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = std::panic::catch_unwind(|| http(&proxy, "nowhere.example", "/"));
        if answer.is_ok_and(|a| a.starts_with("HTTP/1.1 404")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not answering 10 s after the clients left"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
