//! The listener's TLS: certificates chosen by SNI, ALPN `h2` and `http/1.1`, and the PEM files
//! reloaded when they change.
//!
//! Each [`CertPair`] is a PEM certificate chain (leaf first) and its private key. A client's
//! SNI name picks the first pair whose leaf certificate carries that name among its DNS names
//! (subjectAltName, wildcards such as `*.example.com` included, as a client would check it);
//! without SNI, or when no certificate has the name, the first pair answers. After the
//! handshake, the connection is served as any other ([`serve_tls`](crate::server::serve_tls)):
//! a client that agreed on `h2` sends the HTTP/2 preface, one on `http/1.1` (or no ALPN) an
//! HTTP/1 request; the handshake and that first step share the handshake timeout.
//!
//! [`ServerTls::watch`] looks at the files as [`watch()`](crate::watch()) looks at the
//! configuration: every interval by their size and modification time, and every tenth tick by
//! their bytes. When their bytes differ from those last loaded, every pair is loaded again and the new set takes over for
//! the next handshakes; a set that fails to load (a key that does not match its certificate,
//! a file mid-write) is logged and changes nothing. Every rustls configuration here is built
//! with the `ring` provider named ([`rustls::ServerConfig::builder_with_provider`]), never the
//! process default, so that a dependency enabling a second provider changes nothing.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ParsedCertificate, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use crate::watch::FULL_CHECK_EVERY;

/// One certificate chain and its private key, both PEM files (they may be the same file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPair {
    /// The certificate chain, the leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// A certificate file that could not be used: which file, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError {
    /// The file at fault (empty when the problem is no file's).
    pub file: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.file.as_os_str().is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.file.display(), self.reason)
        }
    }
}

impl std::error::Error for TlsError {}

impl TlsError {
    fn new(file: &Path, reason: impl Into<String>) -> TlsError {
        TlsError {
            file: file.to_owned(),
            reason: reason.into(),
        }
    }
}

/// The `ring` provider, named rather than taken from the process default.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The listener's TLS: its certificates and the server configuration that serves them. Cheap
/// to clone (a handle on the same certificates).
#[derive(Clone)]
pub struct ServerTls {
    pairs: Arc<[CertPair]>,
    certificates: Arc<Certificates>,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("pairs", &self.pairs)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Loads every pair (at least one; the first is the default). An error names the file:
    /// unreadable, no certificate or no key in it, or a key that does not match its
    /// certificate.
    pub fn load(pairs: Vec<CertPair>) -> Result<ServerTls, TlsError> {
        let provider = provider();
        let contents = read_contents(&pairs);
        let loaded = load_all(&pairs, &contents, &provider)?;
        let certificates = Arc::new(Certificates {
            loaded: RwLock::new(loaded),
            tried: Mutex::new(contents),
        });
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::new(Path::new(""), e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&certificates) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(ServerTls {
            pairs: pairs.into(),
            certificates,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Loads every pair again and, when all load, serves them from the next handshake on.
    /// On an error the certificates in service stay.
    pub fn reload(&self) -> Result<(), TlsError> {
        let contents = read_contents(&self.pairs);
        self.reload_from(contents)
    }

    /// [`ServerTls::reload`] when a file's bytes differ from those last loaded (or refused);
    /// `None` when none does.
    pub fn reload_if_changed(&self) -> Option<Result<(), TlsError>> {
        let contents = read_contents(&self.pairs);
        let same = self
            .certificates
            .tried
            .lock()
            .is_ok_and(|tried| *tried == contents);
        (!same).then(|| self.reload_from(contents))
    }

    fn reload_from(&self, contents: Contents) -> Result<(), TlsError> {
        let loaded = load_all(&self.pairs, &contents, &provider());
        if let Ok(mut tried) = self.certificates.tried.lock() {
            *tried = contents;
        }
        let loaded = loaded?;
        if let Ok(mut current) = self.certificates.loaded.write() {
            *current = loaded;
        }
        Ok(())
    }

    /// Reloads the certificates whenever one of their files changes, looking every
    /// `interval`, until the returned task is aborted or the runtime stops.
    pub fn watch(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let tls = self.clone();
        let files: Vec<PathBuf> = self
            .pairs
            .iter()
            .flat_map(|p| [p.cert.clone(), p.key.clone()])
            .collect();
        tokio::spawn(async move {
            let stamps = |files: Vec<PathBuf>| async move {
                let mut stamps = Vec::with_capacity(files.len());
                for file in files {
                    let meta = tokio::fs::metadata(file).await.ok();
                    stamps.push(
                        meta.map(|m| (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH))),
                    );
                }
                stamps
            };
            // Unknown at first: the first tick compares the bytes with those loaded.
            let mut last_stamps = None;
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut since_read = 0u32;
            loop {
                ticks.tick().await;
                let now_stamps = Some(stamps(files.clone()).await);
                since_read += 1;
                if now_stamps == last_stamps && since_read < FULL_CHECK_EVERY {
                    continue;
                }
                since_read = 0;
                last_stamps = now_stamps;
                let t = tls.clone();
                match tokio::task::spawn_blocking(move || t.reload_if_changed()).await {
                    Ok(Some(Ok(()))) => tracing::info!("TLS certificates reloaded"),
                    Ok(Some(Err(e))) => tracing::error!(
                        "TLS certificates not reloaded, the previous ones keep serving: {e}"
                    ),
                    Ok(None) | Err(_) => {}
                }
            }
        })
    }

    /// The handshake with a client, within `timeout`; `None` (and a debug line) when it fails
    /// or takes longer.
    pub(crate) async fn handshake(
        &self,
        tcp: TcpStream,
        timeout: Duration,
        peer: std::net::SocketAddr,
    ) -> Option<TlsStream<TcpStream>> {
        match tokio::time::timeout(timeout, self.acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!(%peer, "no TLS handshake in time: closed");
                None
            }
        }
    }
}

/// The certificates in service, looked up at each handshake.
#[derive(Debug)]
struct Certificates {
    loaded: RwLock<Vec<Arc<CertifiedKey>>>,
    /// The files' bytes when last loaded, or refused (a reload is tried when they change).
    tried: Mutex<Contents>,
}

/// Every pair's certificate and key files' bytes, in order (an unreadable file: the error).
type Contents = Vec<(Result<Vec<u8>, String>, Result<Vec<u8>, String>)>;

fn read_contents(pairs: &[CertPair]) -> Contents {
    let read = |path: &Path| std::fs::read(path).map_err(|e| format!("cannot read: {e}"));
    pairs
        .iter()
        .map(|pair| (read(&pair.cert), read(&pair.key)))
        .collect()
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let loaded = self.loaded.read().ok()?;
        let wanted = hello
            .server_name()
            .and_then(|name| ServerName::try_from(name).ok());
        let chosen = wanted.and_then(|name| {
            loaded.iter().find(|key| {
                key.end_entity_cert()
                    .ok()
                    .and_then(|der| ParsedCertificate::try_from(der).ok())
                    .is_some_and(|cert| rustls::client::verify_server_name(&cert, &name).is_ok())
            })
        });
        chosen.or_else(|| loaded.first()).cloned()
    }
}

/// Every pair, in order, from the files' `contents`; the first error stops.
fn load_all(
    pairs: &[CertPair],
    contents: &Contents,
    provider: &CryptoProvider,
) -> Result<Vec<Arc<CertifiedKey>>, TlsError> {
    if pairs.is_empty() {
        return Err(TlsError::new(Path::new(""), "no certificate given"));
    }
    pairs
        .iter()
        .zip(contents)
        .map(|(pair, (cert, key))| load_pair(pair, cert, key, provider).map(Arc::new))
        .collect()
}

fn load_pair(
    pair: &CertPair,
    cert_pem: &Result<Vec<u8>, String>,
    key_pem: &Result<Vec<u8>, String>,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let cert_pem = cert_pem
        .as_ref()
        .map_err(|e| TlsError::new(&pair.cert, e.as_str()))?;
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::new(&pair.cert, format!("bad PEM: {e}")))?;
    if chain.is_empty() {
        return Err(TlsError::new(
            &pair.cert,
            "no certificate in the file (a PEM `CERTIFICATE` block)",
        ));
    }
    ParsedCertificate::try_from(&chain[0])
        .map_err(|e| TlsError::new(&pair.cert, format!("bad certificate: {e}")))?;
    let key_pem = key_pem
        .as_ref()
        .map_err(|e| TlsError::new(&pair.key, e.as_str()))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
        TlsError::new(
            &pair.key,
            match e {
                rustls::pki_types::pem::Error::NoItemsFound => {
                    "no private key in the file (a PEM `PRIVATE KEY` block)".to_owned()
                }
                e => format!("bad PEM: {e}"),
            },
        )
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        TlsError::new(
            &pair.key,
            match e {
                rustls::Error::InconsistentKeys(_) => format!(
                    "the key does not match the certificate of {}",
                    pair.cert.display()
                ),
                e => format!("unusable private key: {e}"),
            },
        )
    })
}
