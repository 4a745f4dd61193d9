//! Runs the hyper_canary binary as the README does and checks its answers and its stop:
//! bounded in time, on 127.0.0.1 only, and the process is killed at the end whatever happens.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use http::{Request, header};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Kills the example when the test ends, whatever happens.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Sends `signal` (`TERM`, `INT`) to the example and waits for it to exit, at most 5 s.
    fn stop_with(&mut self, signal: &str) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-s", signal, &self.0.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -s {signal}: {sent}");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "hyper_canary still runs 5 s after SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Starts the example on a free port of 127.0.0.1 with `args`; returns it and its address.
fn start(args: &[&str]) -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hyper_canary"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("HYPER_CANARY_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start hyper_canary");
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("hyper_canary listening on http://") {
                let addr = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("hyper_canary says where it listens");
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    (running, addr)
}

/// One answer: status, the `x-splitway` tag, the body.
type Answer = (u16, Option<String>, String);

async fn get(
    client: &Client<HttpConnector, Empty<Bytes>>,
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut b = Request::get(format!("http://{addr}{path}"));
    for (name, value) in headers {
        b = b.header(*name, *value);
    }
    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        client.request(b.body(Empty::new()).unwrap()),
    )
    .await
    .expect("answer within 10 s")
    .unwrap();
    let tag = resp
        .headers()
        .get("x-splitway")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, tag, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn phase_2_splits_5_5_1_sends_beta_testers_to_the_canary_and_stops_on_sigterm() {
    let (mut running, addr) = start(&["--phase", "2"]);
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();

    // 100 whole cycles of the smooth weighted round robin at 5:5:1: every cycle of 11
    // requests has exactly 5, 5 and 1 of each server, so 1,100 have 500, 500 and 100.
    let mut total = BTreeMap::new();
    for cycle in 0..100 {
        let mut counts = BTreeMap::new();
        for _ in 0..11 {
            let (status, tag, body) = get(&client, &addr, "/", &[]).await;
            assert_eq!(status, 200, "{body}");
            let tag = tag.expect("a routed response is tagged");
            *counts.entry((tag, body)).or_insert(0) += 1;
        }
        let expected = BTreeMap::from([
            (
                (
                    "web/k8s".to_owned(),
                    "v2 (route web, server k8s)\n".to_owned(),
                ),
                1,
            ),
            (
                (
                    "web/legacy_1".to_owned(),
                    "v1 (route web, server legacy_1)\n".to_owned(),
                ),
                5,
            ),
            (
                (
                    "web/legacy_2".to_owned(),
                    "v1 (route web, server legacy_2)\n".to_owned(),
                ),
                5,
            ),
        ]);
        assert_eq!(counts, expected, "cycle {cycle}");
        for (key, n) in counts {
            *total.entry(key.0).or_insert(0) += n;
        }
    }
    assert_eq!(
        total,
        BTreeMap::from([
            ("web/k8s".to_owned(), 100),
            ("web/legacy_1".to_owned(), 500),
            ("web/legacy_2".to_owned(), 500),
        ])
    );

    // A beta tester goes to the canary, whatever the weights.
    for path in ["/", "/deals"] {
        let answer = get(
            &client,
            &addr,
            path,
            &[(header::COOKIE.as_str(), "_ga=GA1.2.3; _AUSER_TYPE=canary")],
        )
        .await;
        let page = if path == "/" { "" } else { " deals" };
        assert_eq!(
            answer,
            (
                200,
                Some("web_canary/k8s".to_owned()),
                format!("v2{page} (route web_canary, server k8s)\n")
            )
        );
    }

    // No route for an unknown host: the layer's own 404, untagged, with an empty body.
    let answer = get(
        &client,
        &addr,
        "/",
        &[(header::HOST.as_str(), "example.com")],
    )
    .await;
    assert_eq!(answer, (404, None, "no route\n".to_owned()));

    // A routed request for a page the handlers do not have: the handler's 404.
    let (status, tag, body) = get(&client, &addr, "/nope", &[]).await;
    assert_eq!((status, body.as_str()), (404, "no such page\n"));
    assert!(tag.is_some());

    // The client still holds an idle keep-alive connection: the graceful stop closes it
    // and the process exits 0.
    let status = running.stop_with("TERM");
    assert_eq!(status.code(), Some(0), "{status}");
}

#[tokio::test]
async fn phase_1_sends_only_beta_testers_to_v2_and_stops_on_sigint() {
    let (mut running, addr) = start(&[]);
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();

    // Phase 1's stable backend has two servers of equal weight: they take turns.
    let mut servers = Vec::new();
    for _ in 0..4 {
        let (status, tag, body) = get(&client, &addr, "/deals", &[]).await;
        assert_eq!(status, 200);
        let tag = tag.unwrap();
        assert_eq!(
            body,
            format!("v1 deals (route web, server {})\n", &tag["web/".len()..])
        );
        servers.push(tag);
    }
    assert_eq!(
        servers,
        [
            "web/legacy_1",
            "web/legacy_2",
            "web/legacy_1",
            "web/legacy_2"
        ]
    );
    let answer = get(&client, &addr, "/", &[("cookie", "_AUSER_TYPE=canary")]).await;
    assert_eq!(answer.2, "v2 (route web_canary, server k8s)\n");

    let status = running.stop_with("INT");
    assert_eq!(status.code(), Some(0), "{status}");
}
