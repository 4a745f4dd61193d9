//! `splitway serve` as a process: it prints where it listens, answers on 127.0.0.1, and stops
//! cleanly (exit 0) on SIGTERM, as Kubernetes stops a pod.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{
    Running, TempDir, admin_addr, http, proxy_and_admin_addrs, proxy_line, request, serve_refused,
};

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
    let mut child = Running::spawn(
        Command::new(env!("CARGO_BIN_EXE_splitway"))
            .args(["serve", "--config"])
            .arg(&config)
            .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"]),
    );
    let mut lines = child.stderr_lines();
    let (proxy, admin) = proxy_and_admin_addrs(&mut lines);
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

    let status = child.signal_and_wait("TERM", Duration::from_secs(30));
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
    let mut child = Running::spawn(
        Command::new(env!("CARGO_BIN_EXE_splitway"))
            .args(["serve", "--config"])
            .arg(&config)
            .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
            .arg("--admin-token-file")
            .arg(&token),
    );
    let mut lines = child.stderr_lines();
    let admin = admin_addr(&mut lines);
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
    let mut child = Running::spawn(
        Command::new("sh")
            .arg("-c")
            .arg("ulimit -n 64 && exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_splitway"))
            .args(["serve", "--config"])
            .arg(&config)
            .args(["--listen", "127.0.0.1:0", "--max-connections", "500"])
            .args(["--handshake-timeout", "30"]),
    );
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let stderr = child.stderr_lines();
    std::thread::spawn(move || {
        for line in stderr.map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let proxy = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("a listening line in 30 s");
        if let Some(proxy) = proxy_line(&line) {
            break proxy;
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
