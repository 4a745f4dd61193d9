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
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
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
    // The answers are in the Prometheus metrics, by route, backend, server and class; the GET
    // its server refused was tried twice (there is no other server) before the 502.
    let metrics = http(&admin, "admin", "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200 OK"), "{metrics}");
    let line = |labels: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with("splitway_requests_total{") && l.contains(labels))
            .map(|l| l.rsplit(' ').next().unwrap_or("").to_owned())
    };
    assert_eq!(
        line(r#"route="web",backend="web",server="s",status_class="5xx""#).as_deref(),
        Some("2"),
        "{metrics}"
    );
    assert_eq!(
        line(r#"route="",backend="",server="",status_class="4xx""#).as_deref(),
        Some("1"),
        "{metrics}"
    );

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

/// Out of file descriptors (a 64-file limit, a connection cap set above it), the proxy backs
/// off and logs at most a line a second with the count of the failures it did not log (it
/// used to log one every 50 ms, and spin), and serves again once the clients let go.
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
