//! The proxy end to end on 127.0.0.1: three upstream servers, the proxy in front of them with
//! the talk's phase-2 rules, a client. Every server, the proxy and its watcher are stopped at
//! the end of each test; every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use splitway::Router;
use splitway_proxy::{AdminAccess, Options, Proxy};
use support::{router_from_yaml, serve_proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// An upstream server that answers `NAME:BODY` and echoes what it saw of a few headers.
async fn upstream(name: &'static str) -> (SocketAddr, JoinHandle<()>) {
    upstream_with_health(name, Arc::new(AtomicBool::new(true))).await
}

/// [`upstream`], whose `GET /health` answers 200 while `healthy` holds, else 503.
async fn upstream_with_health(
    name: &'static str,
    healthy: Arc<AtomicBool>,
) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let healthy = Arc::clone(&healthy);
            tokio::spawn(async move {
                let service = service_fn(move |mut req: Request<Incoming>| {
                    let healthy = healthy.load(Ordering::SeqCst);
                    async move {
                        if req
                            .headers()
                            .get("upgrade")
                            .is_some_and(|u| u == "websocket")
                        {
                            // A WebSocket of a kind: the upgraded connection echoes every
                            // byte back.
                            let upgrade = hyper::upgrade::on(&mut req);
                            tokio::spawn(async move {
                                let Ok(upgraded) = upgrade.await else { return };
                                let mut io = TokioIo::new(upgraded);
                                let mut buf = [0u8; 64];
                                while let Ok(n) = io.read(&mut buf).await {
                                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                                        return;
                                    }
                                }
                            });
                            let mut response = Response::new(Full::new(Bytes::new()));
                            *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
                            response
                                .headers_mut()
                                .insert("connection", "upgrade".parse().unwrap());
                            response
                                .headers_mut()
                                .insert("upgrade", "websocket".parse().unwrap());
                            return Ok::<_, Infallible>(response);
                        }
                        if req.uri().path() == "/health" {
                            let mut response = Response::new(Full::new(Bytes::from_static(b"")));
                            if !healthy {
                                *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                            }
                            return Ok::<_, Infallible>(response);
                        }
                        // Every value, joined with `|`; `-` for none.
                        let seen = |h: &str| {
                            let values: Vec<&str> = req
                                .headers()
                                .get_all(h)
                                .iter()
                                .map(|v| v.to_str().unwrap())
                                .collect();
                            if values.is_empty() {
                                "-".to_owned()
                            } else {
                                values.join("|")
                            }
                        };
                        let echoed = [
                            ("x-seen-host", seen("host")),
                            ("x-seen-xff", seen("x-forwarded-for")),
                            ("x-seen-xfh", seen("x-forwarded-host")),
                            ("x-seen-secret", seen("x-secret")),
                            ("x-seen-keep-alive", seen("keep-alive")),
                            ("x-seen-path", req.uri().to_string()),
                            ("x-seen-prefix", seen("x-forwarded-prefix")),
                            ("x-seen-replaced", seen("x-replaced-path")),
                        ];
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let mut response = Response::new(Full::new(Bytes::from(format!(
                            "{name}:{}",
                            String::from_utf8_lossy(&body)
                        ))));
                        for (k, v) in echoed {
                            response.headers_mut().insert(k, v.parse().unwrap());
                        }
                        // A hop-by-hop header the proxy must not pass back.
                        response
                            .headers_mut()
                            .insert("keep-alive", "timeout=60".parse().unwrap());
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    (addr, task)
}

fn config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("routes.yaml");
    // Write then rename, as editors and ConfigMaps do: the watcher never reads half a file.
    let tmp = dir.join("routes.yaml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

fn phase2(p1: SocketAddr, p2: SocketAddr, p3: SocketAddr, gone: SocketAddr) -> String {
    format!(
        r#"
frontends:
  web:
    rules: ["Host:web.agendor.com.br"]
  web_canary:
    rules: ["Host:web.agendor.com.br", "HeadersRegexp:Cookie,_AUSER_TYPE=canary"]
  gone:
    rules: ["Host:gone.example"]
  rewritten:
    rule: "Host(`rewrite.example`)"
    pass_host_header: false
    backend: web_canary
backends:
  web:
    - {{name: legacy_1, url: "http://{p1}", weight: 5}}
    - {{name: legacy_2, url: "http://{p2}", weight: 5}}
    - {{name: k8s, url: "http://{p3}", weight: 1}}
  web_canary:
    - {{name: k8s, url: "http://{p3}"}}
  gone:
    - {{name: nobody, url: "http://{gone}"}}
"#
    )
}

struct Harness {
    dir: PathBuf,
    proxy: SocketAddr,
    admin: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    upstreams: [SocketAddr; 4],
}

impl Harness {
    async fn start(name: &str) -> Harness {
        Harness::start_with(name, AdminAccess::loopback_only()).await
    }

    async fn start_with(name: &str, access: AdminAccess) -> Harness {
        let dir =
            std::env::temp_dir().join(format!("splitway-proxy-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut tasks = Vec::new();
        let mut addrs = Vec::new();
        for n in ["legacy_1", "legacy_2", "k8s"] {
            let (addr, task) = upstream(n).await;
            addrs.push(addr);
            tasks.push(task);
        }
        // A port with nothing listening: bound, then closed.
        let gone = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let upstreams = [addrs[0], addrs[1], addrs[2], gone];
        let path = config(&dir, &phase2(addrs[0], addrs[1], addrs[2], gone));
        let loaded = splitway::config::Config::from_file(&path).unwrap();
        let router = Router::from_config(&loaded.config).unwrap();
        tasks.push(splitway_proxy::watch(
            router.clone(),
            path,
            Duration::from_millis(50),
        ));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let until = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = listener.local_addr().unwrap();
        let options = Options {
            response_timeout: Duration::from_secs(5),
            ..Options::default()
        };
        tasks.push(tokio::spawn(splitway_proxy::serve(
            listener,
            Proxy::new(router.clone(), options),
            until(stopped.clone()),
        )));
        let admin_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = admin_listener.local_addr().unwrap();
        tasks.push(tokio::spawn(splitway_proxy::serve_admin(
            admin_listener,
            router,
            Some(Arc::new(|| "splitway_up 1\n".to_owned())),
            access,
            until(stopped),
        )));
        Harness {
            dir,
            proxy,
            admin,
            client: Client::builder(TokioExecutor::new()).build_http(),
            stop,
            tasks,
            upstreams,
        }
    }

    async fn send(&self, req: Request<Full<Bytes>>) -> (Response<()>, String) {
        send(&self.client, req).await
    }

    fn get(&self, host: &str, cookie: Option<&str>) -> Request<Full<Bytes>> {
        let mut b =
            Request::get(format!("http://{}/deals/42?tab=notes", self.proxy)).header("host", host);
        if let Some(c) = cookie {
            b = b.header("cookie", c);
        }
        b.body(Full::default()).unwrap()
    }

    async fn stop(mut self) {
        self.stop.send(true).unwrap();
        // The proxy and admin loops were asked to stop; whatever still runs is aborted.
        for task in std::mem::take(&mut self.tasks) {
            if tokio::time::timeout(Duration::from_secs(5), async {
                if !task.is_finished() {
                    task.abort();
                }
                let _ = task.await;
            })
            .await
            .is_err()
            {
                panic!("a task did not stop");
            }
        }
    }
}

/// The temp dir goes also when a test fails (its tasks end with the test's runtime).
impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends `req` (10 s at most) and reads the whole answer.
async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> (Response<()>, String) {
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .expect("answered in time")
        .expect("the proxy answered");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        Response::from_parts(parts, ()),
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

/// A proxy on its own (no watcher, no admin) serving a YAML configuration.
struct LoneProxy {
    addr: SocketAddr,
    router: Router,
    client: Client<HttpConnector, Full<Bytes>>,
    stop: tokio::sync::oneshot::Sender<()>,
    server: JoinHandle<()>,
}

impl LoneProxy {
    async fn start(yaml: &str, options: Options) -> LoneProxy {
        let router = router_from_yaml(yaml, "t");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr, server) = serve_proxy(router.clone(), options, async {
            let _ = stopped.await;
        })
        .await;
        LoneProxy {
            addr,
            router,
            client: Client::builder(TokioExecutor::new()).build_http(),
            stop,
            server,
        }
    }

    /// A request to `host` with `body` (`GET` when empty, else `POST`).
    async fn send(&self, host: &str, body: &'static [u8]) -> (StatusCode, String) {
        let method = if body.is_empty() { "GET" } else { "POST" };
        let req = Request::builder()
            .method(method)
            .uri(format!("http://{}/", self.addr))
            .header("host", host)
            .body(Full::new(Bytes::from_static(body)))
            .unwrap();
        let (response, body) = send(&self.client, req).await;
        (response.status(), body)
    }

    /// Stops the proxy and waits (5 s at most) for it.
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(5), self.server)
            .await
            .expect("the proxy stopped")
            .unwrap();
    }
}

const COOKIE: &str = "_ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; \
     session_id=3f9a1c2b7e6d4f5a8b9c0d1e2f3a4b5c; locale=pt-BR";

#[tokio::test]
async fn routes_like_the_talks_phase_2() {
    let h = Harness::start("phase2").await;
    // Everyone else: the exact smooth 5:5:1 sequence.
    let mut seen = Vec::new();
    for _ in 0..11 {
        let (response, body) = h.send(h.get("web.agendor.com.br", Some(COOKIE))).await;
        assert_eq!(response.status(), StatusCode::OK);
        seen.push(body.trim_end_matches(':').to_owned());
    }
    let a = "legacy_1";
    let b = "legacy_2";
    assert_eq!(seen, [a, b, a, b, "k8s", a, b, a, b, a, b]);
    // Beta testers: always the new stack.
    for _ in 0..5 {
        let cookie = format!("{COOKIE}; _AUSER_TYPE=canary");
        let (_, body) = h.send(h.get("web.agendor.com.br", Some(&cookie))).await;
        assert_eq!(body, "k8s:");
    }
    // Unknown host: the proxy's own 404; nothing listening: 502.
    let (response, body) = h.send(h.get("elsewhere.example", None)).await;
    assert_eq!(
        (response.status(), body.as_str()),
        (StatusCode::NOT_FOUND, "no route\n")
    );
    let (response, _) = h.send(h.get("gone.example", None)).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    // The admin counters saw it: 5 + 5 + 1 through `web`, 5 canary requests to k8s.
    let stats = h
        .send(
            Request::get(format!("http://{}/stats", h.admin))
                .body(Full::default())
                .unwrap(),
        )
        .await
        .1;
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    let requests = |backend: &str, server: &str| {
        stats["servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["backend"] == backend && s["server"] == server)
            .map(|s| s["requests"].as_u64().unwrap())
    };
    assert_eq!(requests("web", "legacy_1"), Some(5));
    assert_eq!(requests("web", "k8s"), Some(1));
    assert_eq!(requests("web_canary", "k8s"), Some(5));
    // The GET to a refused connection was tried twice (its one server, again) before the 502.
    assert_eq!(requests("gone", "nobody"), Some(2));
    h.stop().await;
}

#[tokio::test]
async fn rewrites_headers_both_ways_and_streams_the_body() {
    let h = Harness::start("headers").await;
    let req = Request::post(format!("http://{}/upload?x=1", h.proxy))
        .header("host", "web.agendor.com.br")
        .header("cookie", "_AUSER_TYPE=canary")
        .header("connection", "keep-alive, X-Secret")
        .header("x-secret", "1")
        .header("keep-alive", "timeout=5")
        .header("x-forwarded-for", "203.0.113.7")
        .body(Full::new(Bytes::from_static(b"hello")))
        .unwrap();
    let (response, body) = h.send(req).await;
    assert_eq!(body, "k8s:hello");
    let seen = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(seen("x-seen-host"), "web.agendor.com.br");
    assert_eq!(seen("x-seen-xff"), "203.0.113.7, 127.0.0.1");
    assert_eq!(seen("x-seen-xfh"), "web.agendor.com.br");
    assert_eq!(seen("x-seen-secret"), "-");
    assert_eq!(seen("x-seen-keep-alive"), "-");
    assert_eq!(seen("x-seen-path"), "/upload?x=1");
    // The upstream's hop-by-hop header stops at the proxy.
    assert!(response.headers().get("keep-alive").is_none());

    // pass_host_header: false sends the server's own host.
    let (response, body) = h.send(h.get("rewrite.example", None)).await;
    assert_eq!(body, "k8s:");
    assert_eq!(
        response.headers()["x-seen-host"].to_str().unwrap(),
        h.upstreams[2].to_string()
    );
    h.stop().await;
}

#[tokio::test]
async fn a_changed_file_is_reloaded_and_a_broken_one_is_not() {
    let h = Harness::start("reload").await;
    let [p1, p2, p3, gone] = h.upstreams;
    // A broken file first: the phase-2 table keeps serving.
    config(&h.dir, "frontends: [this is not a config\n");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, body) = h.send(h.get("web.agendor.com.br", None)).await;
    assert!(body.starts_with("legacy_"), "{body}");
    // Phase 3: everyone on the new stack (the legacy servers drained to weight 0).
    let phase3 = phase2(p1, p2, p3, gone).replace(", weight: 5}", ", weight: 0}");
    assert_eq!(phase3.matches("weight: 0").count(), 2);
    config(&h.dir, &phase3);
    let mut last = String::new();
    for _ in 0..100 {
        let (_, body) = h.send(h.get("web.agendor.com.br", None)).await;
        last = body;
        if last == "k8s:" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last, "k8s:", "phase 3 was not picked up");
    for _ in 0..5 {
        assert_eq!(h.send(h.get("web.agendor.com.br", None)).await.1, "k8s:");
    }
    h.stop().await;
}

#[tokio::test]
async fn health_checks_take_a_failing_server_out_and_bring_it_back() {
    let flaky = Arc::new(AtomicBool::new(true));
    let (steady, steady_task) = upstream("steady").await;
    let (shaky, shaky_task) = upstream_with_health("shaky", Arc::clone(&flaky)).await;
    let text = format!(
        r#"
frontends:
  web:
    rules: ["Host:web.example"]
backends:
  web:
    servers:
      - {{name: steady, url: "http://{steady}"}}
      - {{name: shaky, url: "http://{shaky}"}}
    health_check: {{path: /health, interval: 100ms, timeout: 1s}}
"#
    );
    let router = router_from_yaml(&text, "h");
    let checks = splitway_proxy::health_checks(router.clone(), Duration::from_millis(20));
    // Waits (bounded) until the router's mark of `shaky` is `want`.
    let wait_for = |want: bool| {
        let router = router.clone();
        async move {
            for _ in 0..250 {
                if router.server("web", "shaky").unwrap().healthy == want {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("shaky never became {want}");
        }
    };
    let picks = |n: usize| {
        (0..n)
            .map(|_| {
                let req = Request::get("/")
                    .header("host", "web.example")
                    .body(())
                    .unwrap();
                let d = router.route(&splitway::RequestView::from_request(&req, None));
                d.server().map(|s| s.name().to_owned())
            })
            .collect::<Vec<_>>()
    };
    flaky.store(false, Ordering::SeqCst);
    wait_for(false).await;
    assert_eq!(picks(4), vec![Some("steady".to_owned()); 4]);
    flaky.store(true, Ordering::SeqCst);
    wait_for(true).await;
    let back = picks(4);
    assert_eq!(
        back.iter()
            .filter(|s| s.as_deref() == Some("shaky"))
            .count(),
        2
    );
    for task in [checks, steady_task, shaky_task] {
        task.abort();
        let _ = task.await;
    }
}

#[tokio::test]
async fn an_upgrade_joins_client_and_server_connections() {
    let h = Harness::start("upgrade").await;
    let mut stream = TcpStream::connect(h.proxy).await.unwrap();
    stream
        .write_all(
            b"GET /cable HTTP/1.1\r\nHost: web.agendor.com.br\r\n\
              Cookie: _AUSER_TYPE=canary\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        )
        .await
        .unwrap();
    // The 101 head, then the two connections are one: bytes come back from the server.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("a response head in time")
            .unwrap();
        assert_eq!(n, 1, "closed before the head ended: {head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    for message in [&b"ping"[..], b"pong pong"] {
        stream.write_all(message).await.unwrap();
        let mut back = vec![0u8; message.len()];
        tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut back))
            .await
            .expect("echo in time")
            .unwrap();
        assert_eq!(back, message);
    }
    drop(stream);
    h.stop().await;
}

#[tokio::test]
async fn the_admin_listener_drains_and_marks_servers_at_once() {
    let h = Harness::start("admin").await;
    let put = |path: &str| {
        Request::put(format!("http://{}{path}", h.admin))
            .header("x-splitway", "1")
            .body(Full::default())
            .unwrap()
    };
    let servers = |n: usize| {
        let h = &h;
        async move {
            let mut out = Vec::new();
            for _ in 0..n {
                out.push(h.send(h.get("web.agendor.com.br", None)).await.1);
            }
            out.sort();
            out.dedup();
            out
        }
    };
    // Roll the canary back: k8s drained from `web`.
    let (response, _) = h.send(put("/servers/web/k8s/weight/0")).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(servers(22).await, ["legacy_1:", "legacy_2:"]);
    // One legacy server down: the other takes everything; back up, both again.
    assert_eq!(
        h.send(put("/servers/web/legacy_1/down")).await.0.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(servers(6).await, ["legacy_2:"]);
    assert_eq!(
        h.send(put("/servers/web/legacy_1/up")).await.0.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(servers(6).await, ["legacy_1:", "legacy_2:"]);
    // Unknown names and bad weights are refused, and change nothing.
    assert_eq!(
        h.send(put("/servers/web/nobody/down")).await.0.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.send(put("/servers/web/k8s/weight/lots")).await.0.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        h.send(put("/servers/web/k8s/weight/1000001"))
            .await
            .0
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(servers(22).await, ["legacy_1:", "legacy_2:"]);
    h.stop().await;
}

/// HTTP/2 with prior knowledge: the host is the `:authority` (no `Host` header), and the
/// server, reached over HTTP/1.1, still gets it as `Host`.
#[tokio::test]
async fn http2_requests_are_routed_by_their_authority() {
    let h = Harness::start("h2").await;
    let stream = TcpStream::connect(h.proxy).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    for (cookie, want) in [("_AUSER_TYPE=canary", "k8s:"), ("other=1", "legacy_1:")] {
        let req = Request::get("http://web.agendor.com.br/deals/42")
            .header("cookie", cookie)
            .body(Full::<Bytes>::default())
            .unwrap();
        assert!(req.headers().get("host").is_none());
        let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(req))
            .await
            .expect("answered in time")
            .unwrap();
        assert_eq!(response.version(), http::Version::HTTP_2);
        assert_eq!(response.headers()["x-seen-host"], "web.agendor.com.br");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, want.as_bytes());
    }
    drop(sender);
    conn.abort();
    let _ = conn.await;
    h.stop().await;
}

/// A server that accepts and never answers gets the proxy's 504 after the response timeout.
#[tokio::test]
async fn a_silent_server_is_a_504_after_the_response_timeout() {
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });
    let text = format!(
        "frontends:\n  web:\n    rules: [\"Host:slow.example\"]\n\
         backends:\n  web:\n    - {{name: silent, url: \"http://{addr}\"}}\n"
    );
    let options = Options {
        response_timeout: Duration::from_millis(200),
        ..Options::default()
    };
    let proxy = LoneProxy::start(&text, options).await;
    let started = std::time::Instant::now();
    let (status, _) = proxy.send("slow.example", b"").await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert!(started.elapsed() >= Duration::from_millis(200));
    proxy.stop().await;
    held.abort();
    let _ = held.await;
}

/// A refused connection marks its server down at once when its backend has a health check
/// (which would bring it back), and changes nothing when it has none; either way a `GET` it
/// refused is sent again, to the live server, and only a request with a body gets the 502.
#[tokio::test]
async fn a_refused_connection_is_retried_and_marks_a_checked_server_down() {
    let (alive, alive_task) = upstream("alive").await;
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    // (health check, times `dead` refused a connection over the five GETs)
    for (check, refused) in [
        ("\n    health_check: {path: /health, interval: 1h}", 1),
        ("", 5),
    ] {
        let text = format!(
            "frontends:\n  web:\n    rules: [\"Host:web.example\"]\n\
             backends:\n  web:\n    servers:\n      - {{name: dead, url: \"http://{dead}\"}}\n\
             \x20     - {{name: alive, url: \"http://{alive}\"}}{check}\n"
        );
        let proxy = LoneProxy::start(&text, Options::default()).await;
        for _ in 0..5 {
            assert_eq!(
                proxy.send("web.example", b"").await,
                (StatusCode::OK, "alive:".to_owned()),
                "{check:?}"
            );
        }
        let router = &proxy.router;
        assert_eq!(
            router.server("web", "dead").unwrap().stats.requests,
            refused,
            "{check:?}"
        );
        assert_eq!(
            router.server("web", "alive").unwrap().stats.requests,
            5,
            "{check:?}"
        );
        assert_eq!(
            router.server("web", "dead").unwrap().healthy,
            check.is_empty()
        );
        if check.is_empty() {
            // The round robin's next pick is `dead`; a POST with a body is not repeated.
            assert_eq!(
                proxy.send("web.example", b"order").await.0,
                StatusCode::BAD_GATEWAY
            );
        }
        proxy.stop().await;
    }
    alive_task.abort();
    let _ = alive_task.await;
}

/// `(status, body)` of one request to the admin listener.
async fn admin_call(
    h: &Harness,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut b = Request::builder()
        .method(method)
        .uri(format!("http://{}{path}", h.admin));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let (response, body) = h.send(b.body(Full::default()).unwrap()).await;
    (response.status().as_u16(), body)
}

/// The servers `web` sends 11 requests to, sorted and deduplicated.
async fn web_servers(h: &Harness) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..11 {
        out.push(h.send(h.get("web.agendor.com.br", None)).await.1);
    }
    out.sort();
    out.dedup();
    out
}

#[tokio::test]
async fn the_admin_without_a_token_answers_loopback_hosts_and_marked_writes_only() {
    let h = Harness::start("admin-loopback").await;
    let drain = "/servers/web/k8s/weight/0";
    // A DNS name rebound to 127.0.0.1: the browser sends the attacker's name as Host.
    let (status, body) = admin_call(&h, "GET", "/stats", &[("host", "evil.example")]).await;
    assert_eq!(
        (status, body.contains("loopback Host")),
        (403, true),
        "{body}"
    );
    assert_eq!(admin_call(&h, "GET", "/stats", &[]).await.0, 200);
    // Probes and scrapes need nothing.
    let metrics = admin_call(&h, "GET", "/metrics", &[("host", "evil.example")]).await;
    assert_eq!(metrics, (200, "splitway_up 1\n".to_owned()));
    assert_eq!(
        admin_call(&h, "GET", "/healthz", &[("host", "evil.example")])
            .await
            .0,
        200
    );
    // Writes: refused without the header, or from a foreign page, and nothing changes.
    let (status, body) = admin_call(&h, "PUT", drain, &[]).await;
    assert_eq!(
        (status, body.contains("X-Splitway: 1")),
        (403, true),
        "{body}"
    );
    let cross_site = [("x-splitway", "1"), ("origin", "http://evil.example")];
    assert_eq!(admin_call(&h, "PUT", drain, &cross_site).await.0, 403);
    let rebound = [("x-splitway", "1"), ("host", "evil.example")];
    assert_eq!(admin_call(&h, "PUT", drain, &rebound).await.0, 403);
    assert_eq!(web_servers(&h).await, ["k8s:", "legacy_1:", "legacy_2:"]);
    let local = [("x-splitway", "1"), ("origin", "http://127.0.0.1:9901")];
    assert_eq!(admin_call(&h, "PUT", drain, &local).await.0, 204);
    assert_eq!(web_servers(&h).await, ["legacy_1:", "legacy_2:"]);
    h.stop().await;
}

#[tokio::test]
async fn the_admin_with_a_token_needs_it_on_every_endpoint_but_probes() {
    let access = AdminAccess::with_token(b"correct horse").unwrap();
    let h = Harness::start_with("admin-token", access).await;
    let drain = "/servers/web/k8s/weight/0";
    let (status, body) = admin_call(&h, "GET", "/stats", &[]).await;
    assert_eq!((status, body.contains("Bearer")), (401, true), "{body}");
    let wrong = [("authorization", "Bearer correct horsf")];
    assert_eq!(admin_call(&h, "GET", "/stats", &wrong).await.0, 401);
    assert_eq!(admin_call(&h, "PUT", drain, &wrong).await.0, 401);
    // The loopback header does not stand in for the token.
    assert_eq!(
        admin_call(&h, "PUT", drain, &[("x-splitway", "1")]).await.0,
        401
    );
    assert_eq!(web_servers(&h).await, ["k8s:", "legacy_1:", "legacy_2:"]);
    assert_eq!(admin_call(&h, "GET", "/metrics", &[]).await.0, 200);
    assert_eq!(admin_call(&h, "GET", "/healthz", &[]).await.0, 200);
    // With the token, any Host: the listener may face other machines.
    let right = [
        ("authorization", "Bearer correct horse"),
        ("host", "admin.internal"),
    ];
    assert_eq!(admin_call(&h, "GET", "/stats", &right).await.0, 200);
    assert_eq!(admin_call(&h, "PUT", drain, &right).await.0, 204);
    assert_eq!(web_servers(&h).await, ["legacy_1:", "legacy_2:"]);
    h.stop().await;
}

/// Each of Traefik 1.7's rewrite matchers, through the proxy, against a server that echoes
/// the target and the rewrite headers it received.
#[tokio::test]
async fn each_traefik_rewrite_reaches_the_server_as_traefik_sends_it() {
    let (echo, server) = upstream("echo").await;
    let yaml = format!(
        r#"
frontends:
  strip: {{rules: ["Host:strip.example;PathStrip:/api"], backend: up}}
  prefix_strip: {{rules: ["Host:prefix-strip.example;PathPrefixStrip:/api,/v1"], backend: up}}
  strip_regex: {{rules: ["Host:strip-regex.example;PathStripRegex:/u/{{id:[0-9]+}}"], backend: up}}
  prefix_strip_regex:
    rules: ["Host:prefix-strip-regex.example;PathPrefixStripRegex:/u/{{id:[0-9]+}}"]
    backend: up
  add: {{rules: ["Host:add.example;AddPrefix:/v2"], backend: up}}
  replace: {{rules: ["Host:replace.example;ReplacePath:/fixed"], backend: up}}
  replace_regex: {{rules: ["Host:replace-regex.example;ReplacePathRegex:^/api/(.*) /v2/$1"], backend: up}}
  plain: {{rules: ["Host:plain.example"], backend: up}}
backends:
  up: [{{name: echo, url: "http://{echo}"}}]
"#
    );
    let proxy = LoneProxy::start(&yaml, Options::default()).await;
    // (host, target sent, target seen, X-Forwarded-Prefix seen, X-Replaced-Path seen)
    let cases = [
        ("strip.example", "/api?q=1", "/?q=1", "/api", "-"),
        (
            "prefix-strip.example",
            "/v1/deals/42?tab=notes",
            "/deals/42?tab=notes",
            "/v1",
            "-",
        ),
        ("prefix-strip.example", "/api/a%20b", "/a%20b", "/api", "-"),
        ("strip-regex.example", "/u/42", "/", "/u/42", "-"),
        (
            "prefix-strip-regex.example",
            "/u/42/profile?x",
            "/profile?x",
            "/u/42",
            "-",
        ),
        ("add.example", "/deals?x=1", "/v2/deals?x=1", "-", "-"),
        (
            "replace.example",
            "/status?verbose",
            "/fixed?verbose",
            "-",
            "/status",
        ),
        (
            "replace-regex.example",
            "/api/users/7?a=b",
            "/v2/users/7?a=b",
            "-",
            "/api/users/7",
        ),
        ("replace-regex.example", "/web/x", "/web/x", "-", "-"),
        ("plain.example", "/api/x", "/api/x", "-", "-"),
    ];
    for (host, sent, path, prefix, replaced) in cases {
        let req = Request::get(format!("http://{}{sent}", proxy.addr))
            .header("host", host)
            // A client's own values never reach the server beside the proxy's.
            .header("x-forwarded-prefix", "/spoofed")
            .header("x-replaced-path", "/spoofed")
            .body(Full::default())
            .unwrap();
        let (response, body) = send(&proxy.client, req).await;
        assert_eq!(
            (response.status(), body.as_str()),
            (StatusCode::OK, "echo:"),
            "{host}{sent}"
        );
        let seen = |h: &str| response.headers()[h].to_str().unwrap().to_owned();
        let want_prefix = if prefix == "-" && host == "plain.example" {
            "/spoofed"
        } else {
            prefix
        };
        let want_replaced = if replaced == "-" && host == "plain.example" {
            "/spoofed"
        } else {
            replaced
        };
        assert_eq!(
            (
                seen("x-seen-path"),
                seen("x-seen-prefix"),
                seen("x-seen-replaced")
            ),
            (
                path.to_owned(),
                want_prefix.to_owned(),
                want_replaced.to_owned()
            ),
            "{host}{sent}"
        );
    }
    proxy.stop().await;
    server.abort();
}

#[tokio::test]
async fn a_fixed_response_server_is_answered_by_the_proxy_itself() {
    let yaml = "frontends:\n  m: {rule: \"Host(`m.example.com`)\"}\nbackends:\n  m:\n    - {name: maintenance, status: 503, body: \"back soon\\n\"}\n";
    let p = LoneProxy::start(yaml, Options::default()).await;
    for _ in 0..3 {
        assert_eq!(
            p.send("m.example.com", b"").await,
            (StatusCode::SERVICE_UNAVAILABLE, "back soon\n".to_owned())
        );
    }
    assert_eq!(
        p.router.server("m", "maintenance").unwrap().stats.requests,
        3
    );
    p.stop().await;
}
