//! Upgrades and forwarded headers through the proxy, on 127.0.0.1 with a real upstream:
//! which `Upgrade` protocols go through (the configuration's `upgrade_protocols`, changed by a
//! reload), an upgraded connection holding its place under `max_connections` until it closes,
//! a server's 101 that the client did not ask for (a 502), and a client's own
//! `X-Forwarded-Prefix` on routes with and without a strip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use splitway::Router;
use splitway::config::Config;
use splitway_proxy::{Limits, Options};
use support::{Task, config_from_yaml, serve_proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An upstream that accepts any upgrade it is asked for (101, then echoes every byte until
/// the client closes), and otherwise answers 200 with the path, `Upgrade` and
/// `X-Forwarded-Prefix` it received as `x-seen-*` headers (`-` when absent).
async fn upstream() -> (SocketAddr, Task) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            connections.spawn(async move {
                let service = service_fn(|mut req: Request<Incoming>| async move {
                    if let Some(protocol) = req.headers().get("upgrade").cloned() {
                        let upgraded = hyper::upgrade::on(&mut req);
                        tokio::spawn(async move {
                            let Ok(upgraded) = upgraded.await else { return };
                            let mut io = TokioIo::new(upgraded);
                            let mut buf = [0u8; 1024];
                            while let Ok(n) = io.read(&mut buf).await {
                                if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        });
                        let response = Response::builder()
                            .status(StatusCode::SWITCHING_PROTOCOLS)
                            .header("connection", "upgrade")
                            .header("upgrade", protocol)
                            .body(Full::new(Bytes::new()))
                            .unwrap();
                        return Ok::<_, Infallible>(response);
                    }
                    // Every value, so that an added one would show.
                    let seen = |name: &str| {
                        let values: Vec<&str> = req
                            .headers()
                            .get_all(name)
                            .iter()
                            .map(|v| v.to_str().unwrap())
                            .collect();
                        if values.is_empty() {
                            "-".to_owned()
                        } else {
                            values.join(" | ")
                        }
                    };
                    let response = Response::builder()
                        .header("x-seen-path", req.uri().path())
                        .header("x-seen-upgrade", seen("upgrade"))
                        .header("x-seen-x-forwarded-prefix", seen("x-forwarded-prefix"))
                        .body(Full::new(Bytes::from_static(b"ok")))
                        .unwrap();
                    Ok(response)
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    (addr, Task(task))
}

/// The proxy with `limits` and the configuration `top` (top-level keys) plus routes to one
/// upstream: `web.example` as it is, `strip.example` with `PathPrefixStrip:/api`.
struct Edge {
    addr: SocketAddr,
    router: Router,
    upstream: SocketAddr,
    _proxy: Task,
    _upstream: Task,
}

fn config(top: &str, upstream: SocketAddr) -> Config {
    let yaml = format!(
        "{top}frontends:\n  web:\n    rules: [\"Host:web.example\"]\n\
         \x20 strip:\n    rules: [\"Host:strip.example\", \"PathPrefixStrip:/api\"]\n    backend: web\n\
         backends:\n  web:\n    - {{name: s, url: \"http://{upstream}\"}}\n"
    );
    config_from_yaml(&yaml, "t.yaml")
}

impl Edge {
    async fn start(top: &str, limits: Limits) -> Edge {
        let (upstream, upstream_task) = upstream().await;
        let router = Router::from_config(&config(top, upstream)).unwrap();
        let options = Options {
            response_timeout: Duration::from_secs(10),
            limits,
            ..Options::default()
        };
        let (addr, proxy) = serve_proxy(router.clone(), options, std::future::pending()).await;
        Edge {
            addr,
            router,
            upstream,
            _proxy: Task(proxy),
            _upstream: upstream_task,
        }
    }

    fn reload(&self, top: &str) {
        self.router.reload(&config(top, self.upstream)).unwrap();
    }

    /// Sends `request` on a fresh connection; the connection and the response head.
    async fn send(&self, request: &str) -> (TcpStream, String) {
        let mut stream = TcpStream::connect(self.addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let head = read_head(&mut stream, Duration::from_secs(10))
            .await
            .expect("a response head");
        (stream, head)
    }
}

fn limits() -> Limits {
    Limits {
        max_connections: 50,
        ..Limits::default()
    }
}

/// Reads up to the end of a response head (within `bound`); `None` if the connection closed,
/// failed or stayed silent first.
async fn read_head(stream: &mut TcpStream, bound: Duration) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    tokio::time::timeout(bound, async {
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).await.ok()? != 1 {
                return None;
            }
            head.push(byte[0]);
        }
        Some(String::from_utf8_lossy(&head).to_ascii_lowercase())
    })
    .await
    .ok()
    .flatten()
}

/// Writes `text` on an upgraded connection and reads back as many bytes (the echo).
async fn echo(stream: &mut TcpStream, text: &[u8]) -> Vec<u8> {
    stream.write_all(text).await.unwrap();
    let mut back = vec![0u8; text.len()];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut back))
        .await
        .expect("the echo in time")
        .unwrap();
    back
}

const UPGRADE_FOO: &str =
    "GET /chat HTTP/1.1\r\nHost: web.example\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n";

#[tokio::test]
async fn listed_upgrade_protocols_go_through_and_a_reload_changes_them() {
    // The default, websocket only: `foo` is forwarded as a plain request, without Upgrade.
    let edge = Edge::start("", limits()).await;
    let (_, head) = edge.send(UPGRADE_FOO).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("x-seen-upgrade: -\r\n"), "{head}");

    // Listed: the server's 101 reaches the client and the two connections are joined.
    edge.reload("upgrade_protocols: [websocket, foo]\n");
    let (mut stream, head) = edge.send(UPGRADE_FOO).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: foo\r\n"), "{head}");
    assert_eq!(echo(&mut stream, b"ping over foo").await, b"ping over foo");
    // A WebSocket still goes through with the list, and not with an empty one.
    let websocket = UPGRADE_FOO.replace("Upgrade: foo", "Upgrade: websocket");
    assert!(edge.send(&websocket).await.1.starts_with("http/1.1 101"));

    edge.reload("upgrade_protocols: []\n");
    let (_, head) = edge.send(&websocket).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("x-seen-upgrade: -\r\n"), "{head}");
    // The upgrade joined before the reload lives on.
    assert_eq!(echo(&mut stream, b"still here").await, b"still here");
}

#[tokio::test]
async fn an_upgraded_connection_holds_its_place_under_max_connections_until_it_closes() {
    let edge = Edge::start(
        "",
        Limits {
            max_connections: 2,
            ..Limits::default()
        },
    )
    .await;
    let websocket = "GET /ws HTTP/1.1\r\nHost: web.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    let (mut ws, head) = edge.send(websocket).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert_eq!(echo(&mut ws, b"hello").await, b"hello");
    // One place left: a keep-alive client takes it.
    let plain = "GET / HTTP/1.1\r\nHost: web.example\r\n\r\n";
    let (_kept, head) = edge.send(plain).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    // A third client is not answered while the WebSocket is open...
    let mut third = TcpStream::connect(edge.addr).await.unwrap();
    third.write_all(plain.as_bytes()).await.unwrap();
    assert_eq!(read_head(&mut third, Duration::from_secs(1)).await, None);
    // ...and is, once the WebSocket closes and frees its place.
    assert_eq!(echo(&mut ws, b"bye").await, b"bye");
    drop(ws);
    let head = read_head(&mut third, Duration::from_secs(10)).await;
    assert!(
        head.as_deref()
            .is_some_and(|h| h.starts_with("http/1.1 200")),
        "{head:?}"
    );
}

#[tokio::test]
async fn a_clients_forwarded_prefix_passes_through_unless_the_route_strips() {
    let edge = Edge::start("", limits()).await;
    let ask = |host: &str, path: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nX-Forwarded-Prefix: /from-client\r\nConnection: close\r\n\r\n"
        )
    };
    let (_, head) = edge.send(&ask("web.example", "/api/users")).await;
    assert!(head.contains("x-seen-path: /api/users\r\n"), "{head}");
    assert!(
        head.contains("x-seen-x-forwarded-prefix: /from-client\r\n"),
        "{head}"
    );
    let (_, head) = edge.send(&ask("strip.example", "/api/users")).await;
    assert!(head.contains("x-seen-path: /users\r\n"), "{head}");
    assert!(
        head.contains("x-seen-x-forwarded-prefix: /api\r\n"),
        "{head}"
    );
    // One value, the proxy's: the client's is replaced, not added to (the upstream shows
    // every value it received, joined by ` | `).
    assert!(!head.contains("/from-client"), "{head}");
}

#[tokio::test]
async fn a_switch_the_client_did_not_ask_for_is_a_502() {
    // A server that answers every request with a 101, asked for or not.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    let _server = Task(tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if stream.read(&mut byte).await.unwrap_or(0) != 1 {
                    break;
                }
                head.push(byte[0]);
            }
            let _ = stream
                .write_all(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: foo\r\n\r\n")
                .await;
        }
    }));
    let router = Router::from_config(&config("", upstream)).unwrap();
    let options = Options {
        response_timeout: Duration::from_secs(10),
        limits: limits(),
        ..Options::default()
    };
    let (addr, proxy) = serve_proxy(router, options, std::future::pending()).await;
    let _proxy = Task(proxy);
    // A plain request, and an upgrade to a protocol the configuration does not let through
    // (so the server is not asked for it): neither client asked for this switch.
    for request in ["GET / HTTP/1.1\r\nHost: web.example\r\n\r\n", UPGRADE_FOO] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let head = read_head(&mut stream, Duration::from_secs(10))
            .await
            .expect("a response head");
        assert!(head.starts_with("http/1.1 502 "), "{request:?}: {head}");
    }
}
