//! TLS toward servers: the connection pools that reach `https` server URLs.
//!
//! A server's certificate is verified against the system's root certificates (read with
//! `rustls-native-certs`: the CAs the operating system trusts, which is what an operator
//! running a proxy inside a network with its own CA expects, and what updates with the
//! system; a compiled-in list such as `webpki-roots` would not know a company CA installed on
//! the host), under the name in the URL, or as the backend's `tls` says
//! ([`UpstreamTls`]): `ca_file` (trust only these CAs), `server_name` (the name sent as SNI and
//! that the certificate must carry) or `insecure_skip_verify` (no verification). Requests go
//! over HTTP/1.1 (ALPN `http/1.1`).
//!
//! There is one pooled client per distinct `tls` setting (the system roots being one of
//! them), made the first time a server needing it is reached; backends with the same settings
//! share it. A CA file is read then; a changed one is read again when the proxy restarts, or
//! sooner under another path. A certificate that does not verify ends that request's
//! connection attempt: 502, and a log line naming the server and the reason.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_rustls::{DefaultServerNameResolver, FixedServerNameResolver, ResolveServerName};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use splitway::config::UpstreamTls;

use crate::tls::{TlsError, provider};
use crate::upstream::{Connector, PoolSettings, Upstream};

/// The connector of an `https`-capable client.
pub(crate) type HttpsConnector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The settings every client shares: connect timeout and pool.
#[derive(Debug, Clone)]
pub(crate) struct Pool {
    pub(crate) connect_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_idle_per_host: usize,
}

impl Pool {
    /// The TCP connector (`https` URLs allowed: the TLS layer is on top).
    pub(crate) fn connector(&self) -> HttpConnector {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(self.connect_timeout));
        connector.set_nodelay(true);
        connector.enforce_http(false);
        connector
    }

    /// A pool of connections made by `connector`.
    pub(crate) fn upstream<C: Connector>(&self, connector: C) -> Arc<Upstream<C>> {
        Arc::new(Upstream::new(
            connector,
            PoolSettings {
                idle_timeout: self.idle_timeout,
                max_idle_per_server: self.max_idle_per_host,
            },
        ))
    }
}

/// The pool made for a `tls` setting, or why none could be.
type Made = Result<HttpsPool, TlsError>;

/// The connections to `https` servers with one TLS setting.
pub(crate) type HttpsPool = Arc<Upstream<HttpsConnector>>;

/// The `https` clients, by `tls` setting.
pub(crate) struct HttpsClients {
    pool: Pool,
    clients: Mutex<HashMap<UpstreamTls, Made>>,
}

impl std::fmt::Debug for HttpsClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsClients")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

impl HttpsClients {
    pub(crate) fn new(pool: Pool) -> Self {
        HttpsClients {
            pool,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The client for a backend with these settings (`None`: the system roots); an error when
    /// its CA file cannot be used (kept, so that it is not read again on every request).
    pub(crate) fn client(&self, tls: Option<&UpstreamTls>) -> Made {
        // Looked up by reference: the settings are copied only for a new pool.
        let default;
        let settings = match tls {
            Some(tls) => tls,
            None => {
                default = UpstreamTls::default();
                &default
            }
        };
        let Ok(mut clients) = self.clients.lock() else {
            return Err(TlsError {
                file: Default::default(),
                reason: "the TLS clients' lock is poisoned".to_owned(),
            });
        };
        if let Some(made) = clients.get(settings) {
            return made.clone();
        }
        let made = connector(settings, self.pool.connector()).map(|c| self.pool.upstream(c));
        if let Err(e) = &made {
            tracing::error!("TLS toward servers unusable: {e}");
        }
        clients.insert(settings.clone(), made.clone());
        made
    }
}

/// Checks that `tls` makes a usable client configuration (its CA file readable, with at least
/// one certificate): what `splitway check` and `splitway serve` verify before anything runs.
pub fn check(tls: &UpstreamTls) -> Result<(), TlsError> {
    client_config(tls).map(drop)
}

/// The connector for these settings on top of `http`.
fn connector(tls: &UpstreamTls, http: HttpConnector) -> Result<HttpsConnector, TlsError> {
    let config = client_config(tls)?;
    let resolver: Arc<dyn ResolveServerName + Send + Sync> = match &tls.server_name {
        Some(name) => {
            let name = ServerName::try_from(name.clone()).map_err(|e| TlsError {
                file: Default::default(),
                reason: format!("server_name `{name}`: {e}"),
            })?;
            Arc::new(FixedServerNameResolver::new(name))
        }
        None => Arc::new(DefaultServerNameResolver::default()),
    };
    Ok(hyper_rustls::HttpsConnector::new(
        http, config, false, resolver,
    ))
}

/// The rustls client configuration for these settings (ALPN `http/1.1`).
fn client_config(tls: &UpstreamTls) -> Result<rustls::ClientConfig, TlsError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError {
            file: Default::default(),
            reason: e.to_string(),
        })?;
    let mut config = if tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let roots = match &tls.ca_file {
            Some(path) => ca_file_roots(path)?,
            None => system_roots(),
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The certificates of a PEM file, as trust anchors.
fn ca_file_roots(path: &std::path::Path) -> Result<RootCertStore, TlsError> {
    let error = |reason: String| TlsError {
        file: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| error(format!("cannot read the CA file: {e}")))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| error(format!("bad PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| error(format!("not a usable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(error(
            "no certificate in the CA file (a PEM `CERTIFICATE` block)".to_owned(),
        ));
    }
    Ok(roots)
}

/// The operating system's trusted CAs (those that parse); a warning when there are none, as
/// every `https` server will then fail verification.
fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!(error = %e, "a system root certificate could not be read");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::warn!(
            ignored,
            "no system root certificates: https servers without a `tls.ca_file` cannot be verified"
        );
    }
    roots
}

/// `insecure_skip_verify`: any certificate is accepted; the handshake's signatures are still
/// checked (so the connection is still encrypted to whoever holds the certificate's key).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
