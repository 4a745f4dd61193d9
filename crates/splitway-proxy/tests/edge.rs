//! The proxy facing hostile or careless clients, on 127.0.0.1: connections that never speak,
//! stop halfway through the HTTP/2 preface or hold an h2c connection open with nothing in
//! flight; more connections than the cap; heads too large or with too many fields; a missing,
//! doubled or invalid `Host`; an h2c upgrade. Short limits keep every test within seconds;
//! every server, proxy and socket is stopped at the end (also when a test fails).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use splitway_proxy::{Limits, Options};
use support::{Task, router_from_yaml, serve_proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// An upstream that answers `200 ok` (to heads of up to 500 fields), with the `Host`, `Upgrade`, `Connection` and
/// `HTTP2-Settings` it received echoed as `x-seen-*` headers; `/slow` answers after 2.5 s.
async fn upstream() -> (SocketAddr, Task) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            connections.spawn(async move {
                let service = service_fn(|req: Request<Incoming>| async move {
                    if req.uri().path() == "/slow" {
                        tokio::time::sleep(Duration::from_millis(2500)).await;
                    }
                    let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
                    for name in ["host", "upgrade", "connection", "http2-settings"] {
                        let seen = req
                            .headers()
                            .get(name)
                            .cloned()
                            .unwrap_or_else(|| "-".parse().unwrap());
                        response.headers_mut().insert(
                            format!("x-seen-{name}")
                                .parse::<http::HeaderName>()
                                .unwrap(),
                            seen,
                        );
                    }
                    Ok::<_, Infallible>(response)
                });
                // More header fields than the proxy lets through: a 431 is the proxy's.
                let _ = http1::Builder::new()
                    .max_headers(500)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, Task(task))
}

/// The proxy with `limits`, routing `web.example` to one upstream; stopped when dropped.
struct Edge {
    addr: SocketAddr,
    _proxy: Task,
    _upstream: Task,
}

impl Edge {
    async fn start(limits: Limits) -> Edge {
        let (upstream, upstream_task) = upstream().await;
        let yaml = format!(
            "frontends:\n  web:\n    rules: [\"Host:web.example\"]\n\
             backends:\n  web:\n    - {{name: s, url: \"http://{upstream}\"}}\n"
        );
        let router = router_from_yaml(&yaml, "t");
        let options = Options {
            response_timeout: Duration::from_secs(10),
            limits,
            ..Options::default()
        };
        let (addr, proxy) = serve_proxy(router, options, std::future::pending()).await;
        Edge {
            addr,
            _proxy: Task(proxy),
            _upstream: upstream_task,
        }
    }

    /// Sends raw bytes on a fresh connection; the status code of the answer and its head.
    async fn raw(&self, request: &[u8]) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr).await.unwrap();
        // Written beside the read: the proxy may answer (and close) before it read it all.
        let (mut read, mut write) = stream.split();
        let (_, head) = tokio::join!(write.write_all(request), read_head(&mut read));
        let head = head.expect("a response head");
        (status_of(&head), head)
    }

    async fn h2c(
        &self,
    ) -> (
        h2::client::SendRequest<Bytes>,
        JoinHandle<Result<(), h2::Error>>,
    ) {
        let stream = TcpStream::connect(self.addr).await.unwrap();
        let (send, conn) = h2::client::handshake(stream).await.unwrap();
        (send, tokio::spawn(conn))
    }
}

fn limits() -> Limits {
    Limits {
        max_connections: 200,
        ..Limits::default()
    }
}

/// Reads up to the end of a response head (10 s at most); `None` if the connection closed
/// or failed first.
async fn read_head<R: AsyncReadExt + Unpin>(stream: &mut R) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte)).await {
            Ok(Ok(1)) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

fn status_of(head: &str) -> u16 {
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// How long until the peer closes `stream` (reads EOF or an error), at most `bound`.
async fn closed_after(stream: &mut TcpStream, bound: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 256];
    tokio::time::timeout(bound, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

#[tokio::test]
async fn silent_and_half_preface_connections_are_closed_within_the_handshake_timeout() {
    let edge = Edge::start(Limits {
        handshake_timeout: Duration::from_secs(1),
        ..limits()
    })
    .await;
    let starts: [&[u8]; 3] = [
        b"",
        b"PRI * HTTP/2.0\r\n",
        // The whole preface, but not the SETTINGS frame that must follow it.
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ];
    let mut held = Vec::new();
    for start in starts {
        let mut stream = TcpStream::connect(edge.addr).await.unwrap();
        stream.write_all(start).await.unwrap();
        held.push((start, stream));
    }
    for (start, stream) in &mut held {
        let after = closed_after(stream, Duration::from_secs(5)).await;
        let after = after.unwrap_or_else(|| panic!("{start:?}: still open after 5 s"));
        assert!(after < Duration::from_millis(2500), "{start:?}: {after:?}");
    }
    // A client that speaks is served as before.
    let (status, _) = edge
        .raw(b"GET / HTTP/1.1\r\nHost: web.example\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_h2c_connection_with_no_stream_is_closed_after_the_idle_timeout_and_one_in_flight_is_not()
 {
    let edge = Edge::start(Limits {
        idle_timeout: Duration::from_secs(1),
        handshake_timeout: Duration::from_secs(1),
        ..limits()
    })
    .await;
    // No stream at all: a GOAWAY after a second, and the connection ends cleanly.
    let started = Instant::now();
    let (_send, conn) = edge.h2c().await;
    let ended = tokio::time::timeout(Duration::from_secs(5), conn)
        .await
        .expect("the idle h2c connection closed within 5 s")
        .unwrap();
    assert!(ended.is_ok(), "{ended:?}");
    let after = started.elapsed();
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_millis(3000),
        "{after:?}"
    );

    // A stream in flight for 2.5 s, longer than the idle timeout: answered, on the same
    // connection, which closes only once it is idle again.
    let (send, conn) = edge.h2c().await;
    let mut send = send.ready().await.unwrap();
    let req = Request::get("http://web.example/slow").body(()).unwrap();
    let (response, _) = send.send_request(req, true).unwrap();
    let started = Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .expect("answered in time")
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(2400));
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    drop(body);
    assert!(!conn.is_finished(), "closed with a stream in flight");
    let ended = tokio::time::timeout(Duration::from_secs(5), conn)
        .await
        .expect("closed once idle")
        .unwrap();
    assert!(ended.is_ok(), "{ended:?}");

    // A client that never answers the PING of the graceful close: dropped a handshake
    // timeout after the GOAWAY.
    let mut raw = TcpStream::connect(edge.addr).await.unwrap();
    raw.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let after = closed_after(&mut raw, Duration::from_secs(8)).await;
    let after = after.expect("closed within 8 s");
    assert!(
        after >= Duration::from_millis(1900) && after < Duration::from_millis(4000),
        "{after:?}"
    );
}

#[tokio::test]
async fn h2c_requests_past_the_head_limits_or_with_another_host_are_refused() {
    let edge = Edge::start(limits()).await;
    let (send, conn) = edge.h2c().await;
    let _conn = Task(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let ask = |req: Request<()>| {
        let send = send.clone();
        async move {
            let mut send = send.ready().await.unwrap();
            let (response, _) = send.send_request(req, true).unwrap();
            tokio::time::timeout(Duration::from_secs(10), response)
                .await
                .expect("answered in time")
                .unwrap()
        }
    };
    let get = || Request::get("http://web.example/");
    let response = ask(get().header("x-big", "a".repeat(100_000)).body(()).unwrap()).await;
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let mut many = get();
    for i in 0..101 {
        many = many.header(format!("x-{i}"), "1");
    }
    let response = ask(many.body(()).unwrap()).await;
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let response = ask(get().header("host", "other.example").body(()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // The same origin told twice: routed, and the server's Host is the `:authority`.
    let response = ask(get().header("host", "WEB.example:80").body(()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-seen-host"], "web.example");
    // The connection survived each refusal.
    let response = ask(get().body(()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn past_max_connections_nothing_more_is_accepted_until_some_close() {
    let edge = Edge::start(Limits {
        max_connections: 50,
        ..Limits::default()
    })
    .await;
    // 60 keep-alive clients, each sending one request and then holding its connection.
    let request = b"GET / HTTP/1.1\r\nHost: web.example\r\n\r\n";
    let mut clients = Vec::new();
    for _ in 0..60 {
        let mut stream = TcpStream::connect(edge.addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        clients.push(stream);
    }
    // Who is answered within a second (the answers come at once, or not at all).
    async fn answered(stream: &mut TcpStream) -> bool {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(1), async {
            while !head.ends_with(b"\r\n\r\n") {
                if stream.read(&mut byte).await.ok() != Some(1) {
                    return false;
                }
                head.push(byte[0]);
            }
            true
        });
        read.await.unwrap_or(false) && head.starts_with(b"HTTP/1.1 200")
    }
    let mut served = Vec::new();
    let mut waiting = Vec::new();
    let results = futures_join(clients.iter_mut().map(answered)).await;
    for (stream, ok) in clients.into_iter().zip(results) {
        if ok {
            served.push(stream)
        } else {
            waiting.push(stream)
        }
    }
    assert_eq!((served.len(), waiting.len()), (50, 10));
    // Twenty go away: the ten waiting are accepted and answered, and so is a newcomer.
    served.truncate(30);
    let results = futures_join(waiting.iter_mut().map(answered)).await;
    assert_eq!(results.iter().filter(|ok| **ok).count(), 10);
    let (status, _) = edge
        .raw(b"GET / HTTP/1.1\r\nHost: web.example\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(status, 200);
}

/// Runs the futures concurrently on this task; their outputs in order.
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let futures: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut futures: Vec<_> = futures.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(out) => {
                        *output = Some(out);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.unwrap()).collect()
}

#[tokio::test]
async fn http1_heads_past_the_limits_are_refused() {
    let edge = Edge::start(limits()).await;
    let big = format!(
        "GET / HTTP/1.1\r\nHost: web.example\r\nX-Big: {}\r\n\r\n",
        "a".repeat(100_000)
    );
    assert_eq!(edge.raw(big.as_bytes()).await.0, 431);
    let mut many = String::from("GET / HTTP/1.1\r\nHost: web.example\r\n");
    for i in 0..100 {
        many.push_str(&format!("X-{i}: 1\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(edge.raw(many.as_bytes()).await.0, 431);
    let long = format!(
        "GET /{} HTTP/1.1\r\nHost: web.example\r\n\r\n",
        "a".repeat(9000)
    );
    assert_eq!(edge.raw(long.as_bytes()).await.0, 414);
    // Just within each limit: served.
    let within = format!(
        "GET /{} HTTP/1.1\r\nHost: web.example\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(8000),
        "a".repeat(50_000)
    );
    assert_eq!(edge.raw(within.as_bytes()).await.0, 200);
}

#[tokio::test]
async fn http1_requests_need_exactly_one_valid_host() {
    let edge = Edge::start(limits()).await;
    let cases: [(&str, u16); 8] = [
        ("Host: web.example\r\n", 200),
        ("Host: web.example:8080\r\n", 200),
        ("Host: web.example\r\nHost: web.example\r\n", 400),
        ("Host: web.example\r\nHost: other.example\r\n", 400),
        ("", 400),
        ("Host: web.example:abc\r\n", 400),
        ("Host: web example\r\n", 400),
        ("Host: \r\n", 400),
    ];
    for (host, want) in cases {
        let request = format!("GET / HTTP/1.1\r\n{host}Connection: close\r\n\r\n");
        let (status, head) = edge.raw(request.as_bytes()).await;
        assert_eq!(status, want, "{host:?}: {head}");
    }
    // HTTP/1.0 may go without (and then matches no host rule).
    let (status, _) = edge.raw(b"GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_h2c_upgrade_is_forwarded_as_a_plain_request() {
    let edge = Edge::start(limits()).await;
    let (status, head) = edge
        .raw(
            b"GET / HTTP/1.1\r\nHost: web.example\r\nConnection: Upgrade, HTTP2-Settings\r\n\
              Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        )
        .await;
    assert_eq!(status, 200, "{head}");
    let head = head.to_ascii_lowercase();
    for seen in [
        "x-seen-upgrade: -",
        "x-seen-http2-settings: -",
        "x-seen-connection: -",
    ] {
        assert!(head.contains(seen), "{seen}: {head}");
    }
    // Not even when `Connection` does not name HTTP2-Settings.
    let (_, head) = edge
        .raw(
            b"GET / HTTP/1.1\r\nHost: web.example\r\nConnection: Upgrade\r\n\
              Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        )
        .await;
    let head = head.to_ascii_lowercase();
    assert!(head.contains("x-seen-upgrade: -"), "{head}");
    assert!(head.contains("x-seen-http2-settings: -"), "{head}");
}

/// One connection's requests, each answered before the next is sent: the status and body of
/// each (bodies are the upstream's `ok`, of the length its head says).
async fn one_connection(edge: &Edge, requests: &[&[u8]]) -> Vec<(u16, String)> {
    let mut stream = TcpStream::connect(edge.addr).await.unwrap();
    let mut answers = Vec::new();
    for request in requests {
        stream.write_all(request).await.unwrap();
        let Some(head) = read_head(&mut stream).await else {
            answers.push((0, String::new()));
            break;
        };
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.unwrap();
        answers.push((status_of(&head), String::from_utf8(body).unwrap()));
    }
    answers
}

#[tokio::test]
async fn a_connection_goes_on_from_the_proxys_own_codec_to_hypers_mid_way() {
    let edge = Edge::start(limits()).await;
    let get = b"GET / HTTP/1.1\r\nHost: web.example\r\n\r\n".as_slice();
    let answers = one_connection(
        &edge,
        &[
            // The proxy's own codec.
            get,
            b"POST / HTTP/1.1\r\nHost: web.example\r\nContent-Length: 2\r\n\r\nhi",
            // A chunked body: hyper's from here to the end.
            b"POST / HTTP/1.1\r\nHost: web.example\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
            get,
            b"GET / HTTP/1.1\r\nHost: web.example\r\nHost: other.example\r\n\r\n",
        ],
    )
    .await;
    let want = [
        (200, "ok"),
        (200, "ok"),
        (200, "ok"),
        (200, "ok"),
        (400, "more than one Host header\n"),
    ];
    let got: Vec<(u16, &str)> = answers.iter().map(|(s, b)| (*s, b.as_str())).collect();
    assert_eq!(got, want);
    // Past the head limits after requests on the proxy's codec: hyper's 431.
    let mut many = String::from("GET / HTTP/1.1\r\nHost: web.example\r\n");
    for i in 0..100 {
        many.push_str(&format!("X-{i}: 1\r\n"));
    }
    many.push_str("\r\n");
    let answers = one_connection(&edge, &[get, get, many.as_bytes()]).await;
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, [200, 200, 431]);
}
