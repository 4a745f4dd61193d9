//! TLS on 127.0.0.1, with certificates made at run time (`rcgen`; no key is committed): the
//! listener's certificate chosen by SNI (wildcards too, the first pair by default), a pair
//! rewritten on disk served after the reload (a broken one not), HTTP/2 and HTTP/1.1 chosen
//! by ALPN, silent clients closed within the handshake timeout; toward servers, a CA file, a
//! `server_name` override, certificates that must fail (wrong name, unknown CA, a CA the
//! system does not trust) and `insecure_skip_verify`. Every server, proxy and socket is
//! stopped at the end (also when a test fails).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use splitway_proxy::{CertPair, Limits, Options, Proxy, ServerTls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;

use support::{Task, router_from_yaml};

/// A temp dir removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("splitway-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate authority made for one test.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

/// A leaf certificate and its key, as PEM, and the certificate's DER (to compare with what a
/// client was served).
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for `names` (DNS names or IP addresses), signed by this CA.
    fn leaf(&self, names: &[&str]) -> Leaf {
        let params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }
}

impl Leaf {
    /// Writes the pair as `NAME.crt` and `NAME.key` in `dir`.
    fn write(&self, dir: &Path, name: &str) -> CertPair {
        let pair = CertPair {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
        };
        std::fs::write(&pair.cert, &self.cert_pem).unwrap();
        std::fs::write(&pair.key, &self.key_pem).unwrap();
        pair
    }
}

/// What an upstream was asked: the SNI name of its connection (`-` for plain HTTP or none),
/// the path, and the request's `X-Forwarded-Proto`.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// An upstream answering `200 ok`, over TLS with `leaf` when given; records each request.
async fn upstream(leaf: Option<&Leaf>) -> (SocketAddr, Seen, Task) {
    let acceptor = leaf.map(|leaf| {
        let chain = vec![leaf.der.clone()];
        let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, record) = (acceptor.clone(), Arc::clone(&record));
            connections.spawn(async move {
                match acceptor {
                    None => {
                        answer(TokioIo::new(stream), "-".to_owned(), record).await;
                    }
                    Some(acceptor) => {
                        // A client that refuses the certificate ends here.
                        let Ok(tls) = acceptor.accept(stream).await else {
                            return;
                        };
                        let sni = tls.get_ref().1.server_name().unwrap_or("-").to_owned();
                        answer(TokioIo::new(tls), sni, record).await;
                    }
                }
            });
        }
    });
    (addr, seen, Task(task))
}

/// Serves one upstream connection: `200 ok`, each request recorded with `sni`.
async fn answer<I>(io: I, sni: String, record: Seen)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |req: Request<Incoming>| {
        let proto = req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned();
        record
            .lock()
            .unwrap()
            .push((sni.clone(), req.uri().path().to_owned(), proto));
        async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok")))) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

/// The proxy for `yaml`, over TLS when `tls` is given; stopped when dropped.
async fn proxy(yaml: &str, limits: Limits, tls: Option<ServerTls>) -> (SocketAddr, Task) {
    let router = router_from_yaml(yaml, "t");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = Options {
        response_timeout: Duration::from_secs(10),
        limits,
        ..Options::default()
    };
    let proxy = Proxy::new(router, options);
    let task = match tls {
        Some(tls) => tokio::spawn(splitway_proxy::serve_tls(
            listener,
            proxy,
            tls,
            std::future::pending(),
        )),
        None => tokio::spawn(splitway_proxy::serve(
            listener,
            proxy,
            std::future::pending(),
        )),
    };
    (addr, Task(task))
}

fn limits() -> Limits {
    Limits {
        max_connections: 100,
        ..Limits::default()
    }
}

/// Accepts any certificate: to see which one a server sends when no name would verify.
#[derive(Debug)]
struct AnyCertificate;

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A TLS connection to `addr` asking for `name` (an IP address: no SNI), verifying against
/// `ca` (or accepting anything), offering `alpn`.
async fn connect(
    addr: SocketAddr,
    name: &str,
    ca: Option<&Ca>,
    alpn: &[&[u8]],
) -> std::io::Result<TlsStream<TcpStream>> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let mut config = match ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap())
                .unwrap();
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate))
            .with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    connector
        .connect(ServerName::try_from(name.to_owned()).unwrap(), tcp)
        .await
}

/// The leaf certificate the server sent on `stream`.
fn served(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream.get_ref().1.peer_certificates().unwrap()[0].clone()
}

/// One HTTP/1.1 `GET path` with `Host: host` on `stream`: status and body.
async fn get_http1(stream: TlsStream<TcpStream>, host: &str, path: &str) -> (u16, String) {
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let _conn = Task(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let req = Request::get(path)
        .header("host", host)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = send.send_request(req).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A plain HTTP/1.1 `GET path` with `Host: host` to `addr`: the status.
async fn get_plain(addr: SocketAddr, host: &str, path: &str) -> u16 {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let _conn = Task(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let req = Request::get(path)
        .header("host", host)
        .body(Empty::<Bytes>::new())
        .unwrap();
    send.send_request(req).await.unwrap().status().as_u16()
}

/// One route: the test names to `upstream`.
fn one_route(upstream: SocketAddr) -> String {
    format!(
        "frontends:\n  web:\n    rules: [\"Host:web.example,a.example,x.b.example,y.b.example\"]\n\
         backends:\n  web:\n    - {{name: s, url: \"http://{upstream}\"}}\n"
    )
}

#[tokio::test]
async fn the_certificate_is_chosen_by_sni_and_a_rewritten_pair_is_served_after_the_reload() {
    let dir = TempDir::new("tls-sni");
    let ca = Ca::new("splitway test CA");
    let (a, b) = (ca.leaf(&["a.example"]), ca.leaf(&["*.b.example"]));
    let pairs = vec![a.write(&dir.0, "a"), b.write(&dir.0, "b")];
    let tls = ServerTls::load(pairs.clone()).unwrap();
    let (upstream, seen, _upstream) = upstream(None).await;
    let (addr, _proxy) = proxy(&one_route(upstream), limits(), Some(tls.clone())).await;

    // Each name gets its own certificate, which a verifying client accepts, and the request
    // goes through (the upstream hears of it over plain HTTP, as forwarded from https).
    let to_a = connect(addr, "a.example", Some(&ca), &[]).await.unwrap();
    assert_eq!(served(&to_a), a.der);
    assert_eq!(
        get_http1(to_a, "a.example", "/one").await,
        (200, "ok".into())
    );
    let to_b = connect(addr, "x.b.example", Some(&ca), &[]).await.unwrap();
    assert_eq!(served(&to_b), b.der);
    assert_eq!(
        get_http1(to_b, "x.b.example", "/two").await,
        (200, "ok".into())
    );
    // The wildcard covers one label only: a.x.b.example is no name of b's, so the default.
    let deeper = connect(addr, "a.x.b.example", None, &[]).await.unwrap();
    assert_eq!(served(&deeper), a.der);
    // No SNI (an IP address is never sent as one) and an unknown name: the first pair.
    let no_sni = connect(addr, "127.0.0.1", None, &[]).await.unwrap();
    assert_eq!(served(&no_sni), a.der);
    let unknown = connect(addr, "other.example", None, &[]).await.unwrap();
    assert_eq!(served(&unknown), a.der);
    assert!(
        connect(addr, "other.example", Some(&ca), &[])
            .await
            .is_err(),
        "a verifying client refuses the default certificate for another name"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("-".to_owned(), "/one".to_owned(), "https".to_owned()),
            ("-".to_owned(), "/two".to_owned(), "https".to_owned()),
        ]
    );

    // A key that does not match its certificate is refused, naming the key file, and the
    // certificates in service stay.
    let renewed = ca.leaf(&["a.example", "www.a.example"]);
    std::fs::write(&pairs[0].cert, &renewed.cert_pem).unwrap();
    let refused = tls.reload().unwrap_err();
    assert_eq!(refused.file, pairs[0].key);
    assert!(
        refused.reason.contains("does not match"),
        "{}",
        refused.reason
    );
    let still = connect(addr, "a.example", Some(&ca), &[]).await.unwrap();
    assert_eq!(served(&still), a.der);

    // With the key written too, the watcher puts the new pair in service.
    let _watch = Task(tls.watch(Duration::from_millis(50)));
    std::fs::write(&pairs[0].key, &renewed.key_pem).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = connect(addr, "www.a.example", Some(&ca), &[]).await;
        if let Ok(now) = now {
            assert_eq!(served(&now), renewed.der);
            break;
        }
        assert!(Instant::now() < deadline, "the renewed pair was not served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The other pair was left as it was.
    let to_b = connect(addr, "y.b.example", Some(&ca), &[]).await.unwrap();
    assert_eq!(served(&to_b), b.der);
}

#[tokio::test]
async fn alpn_h2_is_served_as_http2_and_http1_as_http1() {
    let dir = TempDir::new("tls-alpn");
    let ca = Ca::new("splitway test CA");
    let tls = ServerTls::load(vec![ca.leaf(&["web.example"]).write(&dir.0, "web")]).unwrap();
    let (upstream, seen, _upstream) = upstream(None).await;
    let (addr, _proxy) = proxy(&one_route(upstream), limits(), Some(tls)).await;

    let h2 = connect(addr, "web.example", Some(&ca), &[b"h2", b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(h2))
            .await
            .unwrap();
    let _conn = Task(tokio::spawn(async move {
        let _ = conn.await;
    }));
    for path in ["/h2-a", "/h2-b"] {
        let req = Request::get(format!("https://web.example{path}"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = send.send_request(req).await.unwrap();
        assert_eq!(response.version(), http::Version::HTTP_2);
        assert_eq!(response.status(), 200);
    }

    let h1 = connect(addr, "web.example", Some(&ca), &[b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(h1.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(
        get_http1(h1, "web.example", "/h1").await,
        (200, "ok".into())
    );
    let paths: Vec<String> = seen.lock().unwrap().iter().map(|s| s.1.clone()).collect();
    assert_eq!(paths, ["/h2-a", "/h2-b", "/h1"]);
}

/// Waits up to `bound` for the peer to close `stream`; how long that took.
async fn closed_within(stream: &mut TcpStream, bound: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((start + bound).into(), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn silent_tls_clients_are_closed_within_the_handshake_timeout() {
    let dir = TempDir::new("tls-silent");
    let ca = Ca::new("splitway test CA");
    let tls = ServerTls::load(vec![ca.leaf(&["web.example"]).write(&dir.0, "web")]).unwrap();
    let (upstream, _, _upstream) = upstream(None).await;
    let limits = Limits {
        handshake_timeout: Duration::from_secs(1),
        ..limits()
    };
    let (addr, _proxy) = proxy(&one_route(upstream), limits, Some(tls)).await;

    // No ClientHello at all.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let closed = closed_within(&mut silent, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "a silent TCP client stayed open 5 s");
    // Half a ClientHello: a TLS record header promising more than is sent.
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();
    let closed = closed_within(&mut half, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "a half ClientHello stayed open 5 s");
    // Plain HTTP on the TLS listener: no HTTP answer (at most a TLS alert), and closed.
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: web.example\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "plain HTTP stayed open 5 s");
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
    // A whole TLS handshake, then no HTTP byte: the handshake timeout covers that too.
    let mut done = connect(addr, "web.example", Some(&ca), &[]).await.unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), done.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "a TLS client that sends no request stayed open ({read:?} after {:?})",
        start.elapsed()
    );
}

/// The certificates toward servers: one proxy, a backend per case.
#[tokio::test]
async fn https_servers_are_verified_by_ca_file_or_server_name_and_bad_ones_get_502() {
    let dir = TempDir::new("tls-out");
    let ca = Ca::new("splitway upstream CA");
    let stranger = Ca::new("a CA nobody trusts");
    let ca_file = dir.0.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    // By IP address, by another name only, and by a CA no backend trusts.
    let (by_ip, by_ip_seen, _t1) = upstream(Some(&ca.leaf(&["127.0.0.1"]))).await;
    let (by_name, by_name_seen, _t2) = upstream(Some(&ca.leaf(&["upstream.internal"]))).await;
    let (unknown, unknown_seen, _t3) = upstream(Some(&stranger.leaf(&["127.0.0.1"]))).await;
    let ca_path = ca_file.display();
    let yaml = format!(
        "frontends:\n\
        \x20 ca: {{backend: ca, rule: \"Host(`ca.example`)\"}}\n\
        \x20 named: {{backend: named, rule: \"Host(`named.example`)\"}}\n\
        \x20 wrongname: {{backend: wrongname, rule: \"Host(`wrongname.example`)\"}}\n\
        \x20 unknownca: {{backend: unknownca, rule: \"Host(`unknownca.example`)\"}}\n\
        \x20 system: {{backend: system, rule: \"Host(`system.example`)\"}}\n\
        \x20 skip: {{backend: skip, rule: \"Host(`skip.example`)\"}}\n\
        backends:\n\
        \x20 ca:\n    servers: [{{name: by-ip, url: \"https://{by_ip}\"}}]\n    tls: {{ca_file: \"{ca_path}\"}}\n\
        \x20 named:\n    servers: [{{name: by-name, url: \"https://{by_name}\"}}]\n    tls: {{ca_file: \"{ca_path}\", server_name: upstream.internal}}\n\
        \x20 wrongname:\n    servers: [{{name: wrong-name, url: \"https://{by_name}\"}}]\n    tls: {{ca_file: \"{ca_path}\"}}\n\
        \x20 unknownca:\n    servers: [{{name: unknown-ca, url: \"https://{unknown}\"}}]\n    tls: {{ca_file: \"{ca_path}\"}}\n\
        \x20 system:\n    servers: [{{name: system-roots, url: \"https://{by_ip}\"}}]\n\
        \x20 skip:\n    servers: [{{name: skipped, url: \"https://{unknown}\"}}]\n    tls: {{insecure_skip_verify: true}}\n"
    );
    let (addr, _proxy) = proxy(&yaml, limits(), None).await;

    assert_eq!(get_plain(addr, "ca.example", "/by-ca").await, 200);
    assert_eq!(
        *by_ip_seen.lock().unwrap(),
        [("-".to_owned(), "/by-ca".to_owned(), "http".to_owned())],
        "an IP address is never sent as SNI"
    );
    assert_eq!(get_plain(addr, "named.example", "/by-name").await, 200);
    assert_eq!(
        *by_name_seen.lock().unwrap(),
        [(
            "upstream.internal".to_owned(),
            "/by-name".to_owned(),
            "http".to_owned()
        )]
    );
    // The certificate names upstream.internal, not 127.0.0.1; the other is from a stranger;
    // the system roots know neither CA. Each is a 502 and no request reaches the server.
    assert_eq!(get_plain(addr, "wrongname.example", "/").await, 502);
    assert_eq!(get_plain(addr, "unknownca.example", "/").await, 502);
    assert_eq!(get_plain(addr, "system.example", "/").await, 502);
    assert_eq!(by_name_seen.lock().unwrap().len(), 1);
    assert_eq!(by_ip_seen.lock().unwrap().len(), 1);
    assert!(unknown_seen.lock().unwrap().is_empty());
    // insecure_skip_verify takes the stranger's certificate.
    assert_eq!(get_plain(addr, "skip.example", "/skipped").await, 200);
    assert_eq!(
        *unknown_seen.lock().unwrap(),
        [("-".to_owned(), "/skipped".to_owned(), "http".to_owned())]
    );
    // Pooled: a second request to a verified server still succeeds.
    assert_eq!(get_plain(addr, "ca.example", "/again").await, 200);
    assert_eq!(by_ip_seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_ca_file_that_cannot_be_used_is_a_502_and_check_names_it() {
    let dir = TempDir::new("tls-bad-ca");
    let ca = Ca::new("splitway upstream CA");
    let (server, seen, _t) = upstream(Some(&ca.leaf(&["127.0.0.1"]))).await;
    let bad = dir.0.join("not-a-ca.pem");
    std::fs::write(&bad, "no PEM here\n").unwrap();
    let settings = splitway::config::UpstreamTls {
        ca_file: Some(bad.clone()),
        ..Default::default()
    };
    let refused = splitway_proxy::upstream_tls::check(&settings).unwrap_err();
    assert_eq!(refused.file, bad);
    assert!(refused.reason.contains("no certificate"), "{refused}");
    let missing = splitway::config::UpstreamTls {
        ca_file: Some(dir.0.join("missing.pem")),
        ..Default::default()
    };
    let refused = splitway_proxy::upstream_tls::check(&missing).unwrap_err();
    assert!(refused.reason.contains("cannot read"), "{refused}");

    let yaml = format!(
        "frontends:\n  web: {{backend: web, rule: \"Host(`web.example`)\"}}\n\
         backends:\n  web:\n    servers: [{{name: s, url: \"https://{server}\"}}]\n    tls: {{ca_file: \"{}\"}}\n",
        bad.display()
    );
    let (addr, _proxy) = proxy(&yaml, limits(), None).await;
    assert_eq!(get_plain(addr, "web.example", "/").await, 502);
    assert_eq!(get_plain(addr, "web.example", "/").await, 502);
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn health_checks_reach_https_servers_over_tls_with_the_backends_settings() {
    let dir = TempDir::new("tls-health");
    let ca = Ca::new("splitway upstream CA");
    let stranger = Ca::new("a CA nobody trusts");
    let ca_file = dir.0.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let (good, good_seen, _t1) = upstream(Some(&ca.leaf(&["127.0.0.1"]))).await;
    let (bad, bad_seen, _t2) = upstream(Some(&stranger.leaf(&["127.0.0.1"]))).await;
    let yaml = format!(
        "frontends:\n  web: {{backend: web, rule: \"Host(`web.example`)\"}}\n\
         backends:\n  web:\n    servers:\n      - {{name: good, url: \"https://{good}\"}}\n      - {{name: bad, url: \"https://{bad}\"}}\n\
         \x20   tls: {{ca_file: \"{}\"}}\n    health_check: {{path: /health, interval: 100ms, timeout: 2s}}\n",
        ca_file.display()
    );
    let router = router_from_yaml(&yaml, "t");
    let _checks = Task(splitway_proxy::health_checks(
        router.clone(),
        Duration::from_millis(50),
    ));
    let healthy = |name: &str| {
        router
            .servers()
            .iter()
            .find(|s| s.server == name)
            .map(|s| s.healthy)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while healthy("bad") != Some(false) || good_seen.lock().unwrap().len() < 3 {
        assert!(
            Instant::now() < deadline,
            "no checks in 10 s: bad {:?}, good seen {:?}",
            healthy("bad"),
            good_seen.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(healthy("good"), Some(true));
    assert!(
        good_seen
            .lock()
            .unwrap()
            .iter()
            .all(|(sni, path, _)| sni == "-" && path == "/health")
    );
    // The stranger's certificate was refused: no check request reached it.
    assert!(bad_seen.lock().unwrap().is_empty());
}
