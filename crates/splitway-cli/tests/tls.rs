//! `splitway serve --tls-cert --tls-key` and a backend's `tls` through the binary: flags that
//! do not pair or files that cannot be used stop it with exit 2 naming the file; over TLS it
//! answers, serves a pair rewritten on disk once its watcher has read it, and logs the server
//! whose certificate it refused; `splitway check` reads the CA files. Certificates are made at
//! run time (`rcgen`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use support::{Running, TempDir, serve_refused, splitway, stderr, stdout};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
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

    /// A certificate for `names` and its key, as PEM.
    fn leaf(&self, names: &[&str]) -> (String, String) {
        let params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Writes `pem` to `dir/name`; the path.
fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path
}

/// A configuration routing `web.example` to `url`, with `tls` (YAML flow map) when given.
fn config(dir: &Path, url: &str, tls: Option<&str>) -> PathBuf {
    let tls = tls.map_or(String::new(), |t| format!("    tls: {t}\n"));
    write(
        dir,
        "routes.yaml",
        &format!(
            "frontends:\n  web:\n    rules: [\"Host:web.example\"]\n\
             backends:\n  web:\n    servers: [{{name: s, url: \"{url}\"}}]\n{tls}"
        ),
    )
}

#[test]
fn serve_refuses_unpaired_flags_and_unusable_pem_files_naming_the_file() {
    let dir = TempDir::new("cli-tls-refused");
    let ca = Ca::new("splitway test CA");
    let (cert, key) = ca.leaf(&["web.example"]);
    let (_, other_key) = ca.leaf(&["web.example"]);
    let cert = write(dir.path(), "web.crt", &cert);
    let key = write(dir.path(), "web.key", &key);
    let other_key = write(dir.path(), "other.key", &other_key);
    let no_cert = write(dir.path(), "no-cert.crt", "not a certificate\n");
    let missing = dir.path().join("missing.crt");
    let routes = config(dir.path(), "http://127.0.0.1:9", None);
    let base = |extra: &[&Path]| {
        let mut args: Vec<std::ffi::OsString> = vec![
            "--config".into(),
            routes.clone().into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ];
        args.extend(extra.iter().map(|p| p.as_os_str().to_owned()));
        args
    };
    let cases: [(&[&Path], Vec<&str>); 4] = [
        (
            &[
                "--tls-cert".as_ref(),
                &cert,
                "--tls-key".as_ref(),
                &key,
                "--tls-cert".as_ref(),
                &cert,
            ],
            vec!["go in pairs", "2 --tls-cert and 1 --tls-key"],
        ),
        (
            &["--tls-cert".as_ref(), &missing, "--tls-key".as_ref(), &key],
            vec![missing.to_str().unwrap(), "cannot read"],
        ),
        (
            &["--tls-cert".as_ref(), &no_cert, "--tls-key".as_ref(), &key],
            vec![no_cert.to_str().unwrap(), "no certificate"],
        ),
        (
            &[
                "--tls-cert".as_ref(),
                &cert,
                "--tls-key".as_ref(),
                &other_key,
            ],
            vec![other_key.to_str().unwrap(), "does not match"],
        ),
    ];
    for (extra, says) in cases {
        let args = base(extra);
        let args: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let (code, err) = serve_refused(&args);
        assert_eq!(code, Some(2), "{extra:?}: {err}");
        for s in says {
            assert!(err.contains(s), "{extra:?}: `{s}` not in {err}");
        }
    }
    // A backend's CA file that holds no certificate: refused too, naming it.
    let routes = config(
        dir.path(),
        "https://127.0.0.1:9",
        Some("{ca_file: no-cert.crt}"),
    );
    let (code, err) = serve_refused(&[
        "--config".as_ref(),
        routes.as_os_str(),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("backend `web`: tls:") && err.contains(no_cert.to_str().unwrap()),
        "{err}"
    );
}

#[test]
fn check_reads_the_ca_files_relative_to_the_config() {
    let dir = TempDir::new("cli-tls-check");
    let ca = Ca::new("splitway test CA");
    write(dir.path(), "ca.pem", &ca.pem);
    write(dir.path(), "empty.pem", "\n");
    let good = config(dir.path(), "https://10.0.0.1", Some("{ca_file: ca.pem}"));
    let out = splitway(&["check".as_ref(), good.as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).ends_with(": ok: 1 frontends, 1 backends, 1 servers, 0 warnings\n"),
        "{}",
        stdout(&out)
    );
    let bad = config(dir.path(), "https://10.0.0.1", Some("{ca_file: empty.pem}"));
    let out = splitway(&["check".as_ref(), bad.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    let expected = format!(
        "{}: error: backend `web`: tls: {}: no certificate in the CA file (a PEM `CERTIFICATE` block)\n",
        bad.display(),
        dir.path().join("empty.pem").display()
    );
    assert_eq!(stderr(&out), expected);
    // A bad key is the loader's, located.
    let typo = config(dir.path(), "https://10.0.0.1", Some("{ca_flie: ca.pem}"));
    let out = splitway(&["check".as_ref(), typo.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            ":7:11: error: unknown key `ca_flie` in `tls` of backend `web`; did you mean `ca_file`?"
        ),
        "{}",
        stderr(&out)
    );
}

/// An HTTPS server with a certificate from a CA nobody trusts: it takes connections and
/// completes what handshakes it can, `count` of them, in a thread of its own.
fn untrusted_server(count: usize) -> std::net::SocketAddr {
    let stranger = Ca::new("a CA nobody trusts");
    let (cert, key) = stranger.leaf(&["127.0.0.1"]);
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
        )
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for _ in 0..count {
            let Ok((tcp, _)) = listener.accept() else {
                return;
            };
            tcp.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let conn = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut buf = [0u8; 1024];
            let _ = tls.read(&mut buf);
        }
    });
    addr
}

/// A GET of `/` for `web.example` over TLS to `addr`, trusting `ca`: the leaf certificate the
/// server sent and the response's status line; `None` when the handshake fails.
fn get(addr: &str, ca: &Ca, name: &str) -> Option<(CertificateDer<'static>, String)> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let conn = rustls::ClientConnection::new(
        Arc::new(config),
        ServerName::try_from(name.to_owned()).unwrap(),
    )
    .unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET / HTTP/1.1\r\nHost: web.example\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    let _ = tls.read_to_string(&mut response);
    let cert = tls.conn.peer_certificates()?.first()?.clone();
    Some((cert, response.lines().next()?.to_owned()))
}

#[test]
fn serve_over_tls_reloads_a_rewritten_pair_and_logs_the_refused_server_certificate() {
    let dir = TempDir::new("cli-tls-serve");
    let ca = Ca::new("splitway test CA");
    let (cert, key) = ca.leaf(&["web.example"]);
    let cert_file = write(dir.path(), "web.crt", &cert);
    let key_file = write(dir.path(), "web.key", &key);
    write(dir.path(), "ca.pem", &ca.pem);
    // The proxy trusts the test CA; the server's certificate is from another: 502. The GET
    // is tried twice (a failed connection is retried once).
    let server = untrusted_server(2);
    let routes = config(
        dir.path(),
        &format!("https://{server}"),
        Some("{ca_file: ca.pem}"),
    );
    let mut child = Running::spawn(
        Command::new(env!("CARGO_BIN_EXE_splitway"))
            .args(["serve", "--config"])
            .arg(&routes)
            .args(["--listen", "127.0.0.1:0", "--tls-cert"])
            .arg(&cert_file)
            .arg("--tls-key")
            .arg(&key_file)
            .env("RUST_LOG", "info"),
    );
    let mut lines = child.stderr_lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let proxy = loop {
        assert!(Instant::now() < deadline, "no listening line in 30 s");
        let line = lines.next().expect("stderr open").unwrap();
        if let Some(rest) = line.strip_prefix("splitway: proxy listening on ") {
            assert!(rest.contains("(TLS)"), "{line}");
            break rest.split(' ').next().unwrap().to_owned();
        }
    };
    // The rest of the log, read in a thread of its own.
    let (log_tx, log) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if log_tx.send(line).is_err() {
                return;
            }
        }
    });

    let first = CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
    let (served, status) = get(&proxy, &ca, "web.example").expect("a TLS handshake");
    assert_eq!(served, first);
    assert!(status.starts_with("HTTP/1.1 502"), "{status}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let line = log
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("a log line about the upstream");
        if line.contains("upstream failed") {
            break line;
        }
    };
    assert!(refused.contains("server=\"s\""), "{refused}");
    assert!(refused.contains("UnknownIssuer"), "{refused}");

    // A new pair written over the old files is served once the watcher (1 s) read it.
    let (renewed_cert, renewed_key) = ca.leaf(&["web.example", "www.web.example"]);
    std::fs::write(&key_file, &renewed_key).unwrap();
    std::fs::write(&cert_file, &renewed_cert).unwrap();
    let renewed = CertificateDer::from_pem_slice(renewed_cert.as_bytes()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some((served, _)) = get(&proxy, &ca, "www.web.example") {
            assert_eq!(served, renewed);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the renewed pair was not served in 15 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let reloaded = std::iter::from_fn(|| log.recv_timeout(Duration::from_secs(5)).ok())
        .any(|line| line.contains("TLS certificates reloaded"));
    assert!(reloaded, "no reload line in the log");
}
