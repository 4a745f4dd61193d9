//! Runs the axum_canary binary as the README does and checks its answers: bounded in time,
//! on 127.0.0.1 only, and the process is killed at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use http::{Method, Request};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Kills the example when the test ends, whatever happens.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start() -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_axum_canary"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start axum_canary");
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("axum_canary listening on http://") {
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
        .expect("axum_canary says where it listens");
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    (running, addr)
}

#[tokio::test]
async fn answers_as_the_readme_says() {
    let (_running, addr) = start();
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let call = |method: Method, path: &str, cookie: Option<&str>| {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"));
        if let Some(c) = cookie {
            b = b.header("cookie", c);
        }
        let req = b.body(Empty::new()).unwrap();
        let client = client.clone();
        async move {
            let resp = tokio::time::timeout(Duration::from_secs(10), client.request(req))
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
    };

    let (status, tag, body) = call(Method::GET, "/", None).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "v1 (route web, server legacy_1)\n")
    );
    assert_eq!(tag.as_deref(), Some("web/legacy_1"));
    let (_, _, body) = call(Method::GET, "/", Some("_AUSER_TYPE=canary")).await;
    assert_eq!(body, "v2 (route web_canary, server k8s)\n");

    assert_eq!(
        call(Method::POST, "/admin/phase/2", None).await.2,
        "phase 2\n"
    );
    let mut v2 = 0;
    for _ in 0..11 {
        if call(Method::GET, "/deals", None)
            .await
            .2
            .starts_with("v2 deals")
        {
            v2 += 1;
        }
    }
    assert_eq!(v2, 1, "one request in 11 goes to k8s in phase 2");
    assert_eq!(
        call(Method::POST, "/admin/weight/web/k8s/5", None).await.2,
        "web/k8s weight 5\n"
    );
    let mut v2 = 0;
    for _ in 0..15 {
        if call(Method::GET, "/", None).await.2.starts_with("v2") {
            v2 += 1;
        }
    }
    assert_eq!(v2, 5, "5 of 15 at weights 5:5:5");
    assert_eq!(call(Method::POST, "/admin/phase/7", None).await.0, 404);
    assert_eq!(
        call(Method::POST, "/admin/phase/1", None).await.2,
        "phase 1\n"
    );
    assert!(call(Method::GET, "/", None).await.2.starts_with("v1"));

    let (status, _, stats) = call(Method::GET, "/admin/stats", None).await;
    assert_eq!(status, 200);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    let servers = stats["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 3);
    assert!(servers.iter().all(|s| s["requests"].as_u64().is_some()));
    // The proxy's /stats shape: weight and health beside the counters, from one table.
    assert!(servers.iter().all(|s| s["weight"].as_u64().is_some()
        && s["healthy"].as_bool() == Some(true)
        && s["errors"].as_u64() == Some(0)
        && s["latency_buckets"].as_array().map(Vec::len) == Some(17)));
    assert_eq!(
        stats["latency_bucket_bounds_ms"].as_array().map(Vec::len),
        Some(16)
    );

    // Prometheus' text: the duration histogram has splitway's 16 buckets (and +Inf) per
    // server that answered, folded by the upkeep thread within about a second.
    let mut text = String::new();
    for _ in 0..50 {
        text = call(Method::GET, "/metrics", None).await.2;
        if text.contains("splitway_request_duration_seconds_bucket") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let buckets: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with("splitway_request_duration_seconds_bucket{")
                && l.contains(r#"server="legacy_1""#)
        })
        .collect();
    assert_eq!(buckets.len(), 17, "{text}");
    assert!(buckets[0].contains(r#"le="0.0001""#), "{}", buckets[0]);
    assert!(buckets[16].contains(r#"le="+Inf""#), "{}", buckets[16]);
    assert!(
        text.contains(r#"splitway_route_requests_total{route="web",status_class="2xx"}"#),
        "{text}"
    );
}

#[tokio::test]
async fn exposes_its_rollouts_as_the_proxy_does() {
    let (_running, addr) = start();
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let call = |method: Method, path: &str| {
        let req = Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .body(Empty::new())
            .unwrap();
        let client = client.clone();
        async move {
            let resp = tokio::time::timeout(Duration::from_secs(10), client.request(req))
                .await
                .expect("answer within 10 s")
                .unwrap();
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8(body.to_vec()).unwrap())
        }
    };
    let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
    assert_eq!(
        call(Method::GET, "/admin/rollouts").await,
        (200, r#"{"rollouts":[]}"#.to_owned())
    );
    assert_eq!(
        call(Method::POST, "/admin/phase/rollout").await,
        (200, "phase rollout\n".to_owned())
    );
    let (status, body) = call(Method::GET, "/admin/rollouts").await;
    assert_eq!(status, 200);
    let r = json(&body)["rollouts"][0].clone();
    assert_eq!(
        (
            r["backend"].as_str(),
            r["state"].as_str(),
            r["step"].as_u64()
        ),
        (Some("web"), Some("progressing"), Some(1))
    );
    // 1% of a 5:5 backend: 500:500:10, in the table the layer routes on.
    assert_eq!(
        r["weights"],
        serde_json::json!({"legacy_1": 500, "legacy_2": 500, "k8s": 10})
    );
    let (_, stats) = call(Method::GET, "/admin/stats").await;
    let weights: Vec<u64> = json(&stats)["servers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["backend"] == "web")
        .map(|s| s["weight"].as_u64().unwrap())
        .collect();
    assert_eq!(weights, [500, 500, 10]);
    // The rollout drives the weights: a manual edit would fight it.
    assert_eq!(call(Method::POST, "/admin/weight/web/k8s/5").await.0, 409);

    let (status, body) = call(Method::POST, "/admin/rollouts/web/promote").await;
    assert_eq!(status, 200);
    assert_eq!(json(&body)["state"], "promoted");
    for _ in 0..11 {
        assert!(call(Method::GET, "/deals").await.1.starts_with("v2 deals"));
    }
    let (status, body) = call(Method::POST, "/admin/rollouts/web/pause").await;
    assert_eq!(
        (status, body.as_str()),
        (409, "cannot pause a rollout that is promoted\n")
    );
    assert_eq!(call(Method::POST, "/admin/rollouts/api/pause").await.0, 404);
    assert_eq!(
        call(Method::POST, "/admin/rollouts/web/launch").await.0,
        404
    );
    // Back to phase 1: the rollout ends and the file's weights serve.
    assert_eq!(call(Method::POST, "/admin/phase/1").await.0, 200);
    assert_eq!(
        call(Method::GET, "/admin/rollouts").await,
        (200, r#"{"rollouts":[]}"#.to_owned())
    );
    assert!(call(Method::GET, "/").await.1.starts_with("v1"));
}
