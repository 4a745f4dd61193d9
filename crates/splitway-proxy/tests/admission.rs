//! The cap on requests in flight, on real sockets on 127.0.0.1: with a cap of 2 and two slow
//! requests at the server, a third is answered 503 with `Retry-After: 1` while the two are
//! still in flight, and is counted as the proxy's own answer (no backend, no server): no
//! server's counters and no server's metrics see it. Once the two are answered, their places
//! come back. (Its own test binary: the metrics recorder below is the thread's.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use splitway_proxy::{Limits, Options};
use support::{router_from_yaml, serve_proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// An upstream that answers `200 ok`; `/slow` counts itself in `arrived` and waits until
/// `release` is notified.
async fn upstream(release: Arc<Notify>, arrived: Arc<AtomicUsize>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (release, arrived) = (release.clone(), arrived.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let (release, arrived) = (release.clone(), arrived.clone());
                    async move {
                        if req.uri().path() == "/slow" {
                            let notified = release.notified();
                            arrived.fetch_add(1, Ordering::SeqCst);
                            notified.await;
                        }
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// One request on a fresh connection: its status, its `Retry-After` (if any) and its body.
async fn get(proxy: SocketAddr, path: &str) -> (u16, Option<String>, String) {
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: web.example\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut text))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let retry_after = head
        .lines()
        .find_map(|l| l.strip_prefix("retry-after: "))
        .map(str::to_owned);
    (status, retry_after, body.to_owned())
}

/// Counters with a non-zero count, as `name{labels}` -> count.
fn counters(snapshotter: &metrics_util::debugging::Snapshotter) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        if let metrics_util::debugging::DebugValue::Counter(n) = value
            && n > 0
        {
            let labels: Vec<String> = key
                .key()
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            out.insert(format!("{}{{{}}}", key.key().name(), labels.join(",")), n);
        }
    }
    out
}

#[test]
fn past_the_cap_a_request_gets_503_at_once_and_no_server_counts_it() {
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let router = metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let release = Arc::new(Notify::new());
            let arrived = Arc::new(AtomicUsize::new(0));
            let upstream = upstream(release.clone(), arrived.clone()).await;
            let yaml = format!(
                "frontends:\n  web:\n    rules: [\"Host:web.example\"]\n\
                 backends:\n  web:\n    - {{name: s, url: \"http://{upstream}\"}}\n"
            );
            let router = router_from_yaml(&yaml, "t");
            let options = Options {
                limits: Limits {
                    max_requests_in_flight: 2,
                    ..Limits::default()
                },
                ..Options::default()
            };
            let (proxy, served) =
                serve_proxy(router.clone(), options, std::future::pending()).await;

            let first = tokio::spawn(get(proxy, "/slow"));
            let second = tokio::spawn(get(proxy, "/slow"));
            // Both reach the server (and so hold their places) before the third is sent.
            tokio::time::timeout(Duration::from_secs(10), async {
                while arrived.load(Ordering::SeqCst) < 2 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await
            .expect("the two slow requests at the server");
            // The cap is full: this request is refused.
            let (status, retry_after, body) = get(proxy, "/").await;
            assert_eq!(status, 503);
            assert_eq!(retry_after.as_deref(), Some("1"));
            assert_eq!(body, "too many requests in flight\n");
            assert!(!first.is_finished() && !second.is_finished());
            // No server counted anything yet: the two slow ones have no response head.
            assert_eq!(router.server("web", "s").unwrap().stats.requests, 0);

            release.notify_waiters();
            let answers = [first.await.unwrap(), second.await.unwrap()];
            for (status, _, body) in &answers {
                assert_eq!((*status, body.as_str()), (200, "ok"));
            }
            // Their places are back.
            assert_eq!(get(proxy, "/").await.0, 200);
            served.abort();
            router
        })
    });
    // The server counted the two slow requests and the last one; none of the refused.
    let s = router.server("web", "s").unwrap().stats;
    assert_eq!((s.requests, s.server_errors), (3, 0));
    let counts = counters(&snapshotter);
    let all: Vec<(&String, &u64)> = counts.iter().collect();
    assert_eq!(
        all,
        [
            (
                &"splitway_requests_total{backend=,server=,status_class=5xx}".to_owned(),
                &1
            ),
            (
                &"splitway_requests_total{backend=web,server=s,status_class=2xx}".to_owned(),
                &3
            ),
            (
                &"splitway_route_requests_total{route=,status_class=5xx}".to_owned(),
                &1
            ),
            (
                &"splitway_route_requests_total{route=web,status_class=2xx}".to_owned(),
                &3
            ),
        ]
    );
}
