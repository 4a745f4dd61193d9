//! The configuration model and its loaders.
//!
//! Two file shapes (the seed's Helm values, and Traefik v1's file provider) in two formats
//! (YAML, TOML) load into one [`Config`]. Loading validates everything and reports every
//! problem at once as located [`Diagnostic`]s; a `Config` that exists is valid.
//!
//! ```
//! use splitway::config::{Config, Format};
//!
//! let yaml = r#"
//! frontends:
//!   web:
//!     rules:
//!       - "Host:web.agendor.com.br"
//! backends:
//!   web:
//!     - name: k8s
//!       url: "http://agendor-web.production.svc.cluster.local"
//! "#;
//! let loaded = Config::from_str(yaml, Format::Yaml, "aws.yaml").unwrap();
//! assert_eq!(loaded.config.frontends[0].name, "web");
//! assert_eq!(loaded.config.backends[0].servers[0].weight, 1);
//! ```
//!
//! # How loading behaves where SPEC.md is silent
//!
//! - **Order of work.** The size limit ([`MAX_CONFIG_BYTES`]) is checked first, then UTF-8
//!   (the first invalid byte is located), then the format's syntax. A file with syntax errors
//!   is not decoded further: its recovered tree would only add noise. Otherwise every
//!   decoding and validation error is collected; diagnostics come errors first, each kind in
//!   file order.
//! - **YAML**: one document (a second one is an error); YAML 1.2 core schema (`yes` is a
//!   string); quoted scalars are always strings; aliases are expanded within a budget of
//!   1,000,000 values and 8 MiB of repeated text, and nesting within 128 levels; duplicate keys are errors at the second
//!   key; map keys must be plain scalars; `<<` merge keys are not supported (YAML 1.1).
//! - **Keys are case-sensitive**, spelt as the seed and Traefik's documentation spell them;
//!   a key equal but for case, or within edit distance 2, gets "did you mean".
//! - **Empty configurations are errors**: an empty file, no `frontends` or no `backends`
//!   ("a configuration that routes nothing is a mistake"), so a truncated deploy never
//!   replaces a working table. A backend no frontend uses is a warning.
//! - **Servers**: `name` and `url` are required; URLs must be absolute `http`/`https` with a
//!   host. Instead of `url`, a server may give `status` (100 to 599) and an optional `body`:
//!   a fixed response that the proxy and the tower layer answer themselves ([`FixedResponse`];
//!   not in the Traefik shape, nor in the `values` quirk). In the Traefik shape a missing weight is 1 and weight 0 drains the server (SPEC)
//!   with a warning that Traefik 1.7 treated 0 as 1.
//! - **Traefik v1 keys splitway does not use** (e.g. `entryPoints`, `basicAuth`, `redirect`,
//!   `maxConn`, `circuitBreaker`, `stickiness.secure`, `healthCheck.scheme`, top-level
//!   `logLevel`, `[file]`) are warnings. A Traefik `healthCheck` without `path` runs no
//!   checks (as in Traefik) with a warning; our `health_check` requires `path`.
//! - **Stickiness**: `sticky.cookie` defaults to Traefik's generated name for the backend
//!   ([`traefik_cookie_name`]); Traefik's `cookieName` is sanitised, ours must be a token.
//! - **Outbound TLS** (a key of SPEC 2.1's backend map, not in the Traefik shape, whose
//!   top-level `rootCAs` and `insecureSkipVerify` stay ignored): a backend's `tls` map
//!   (`ca_file`, `server_name`, `insecure_skip_verify`; [`UpstreamTls`]) applies to its
//!   `https` servers; a backend with
//!   `tls` and no `https` server gets a warning, `ca_file` with `insecure_skip_verify: true`
//!   is an error (one says which CA to trust, the other trusts anything), and `server_name`
//!   must be a DNS name or an IP address. The CA file's contents are the proxy's to read
//!   (`splitway check` reads them too).
//! - **Rollouts** (`rollouts:`, docs/rollouts.md): keyed by backend; `canary` and `steps` are
//!   required, `interval` defaults to 30 s, `analysis` to [`crate::rollout::Analysis`]'s
//!   defaults, `on_success` to `promote`.
//! - **Signed cookies** (`signed_cookies:`, docs/signed-cookies.md): keyed by cookie name
//!   (a token), each with `keys` (a non-empty list of key files, read at load relative to the
//!   directory of the file named in diagnostics; each a regular file of 32 to 4096 bytes
//!   less one trailing newline) and `max_age` (default 720h).
//! - **`upgrade_protocols`**: a list of protocol names (tokens, lowercased, duplicates
//!   dropped), default `[websocket]`; `h2c` is an error.
//! - **Durations**: Go syntax (`"30s"`, `"1m30s"`, `"500ms"`) or a whole number of seconds.
//! - **Files**: the format comes from the extension (`.yaml`, `.yml`, `.toml`); any other
//!   extension is an error rather than a guess. I/O errors are diagnostics at 1:1.

mod decode;
mod documents;
mod load;
mod sink;
mod suggest;
mod toml;
mod tree;
mod yaml;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::diag::{ConfigError, Diagnostic};
use crate::rule::Rule;

pub use documents::{YamlKey, YamlKind, YamlValue, parse_yaml_documents};
pub use load::{MAX_CONFIG_BYTES, MAX_FRONTENDS};

/// The largest server weight accepted.
pub const MAX_WEIGHT: u32 = 1_000_000;

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// YAML 1.2.
    Yaml,
    /// TOML 1.0.
    Toml,
}

impl Format {
    /// The format a file name's extension says (`.yaml`, `.yml`, `.toml`).
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "yaml" | "yml" => Some(Format::Yaml),
            "toml" => Some(Format::Toml),
            _ => None,
        }
    }
}

/// A validated configuration: frontends, backends and the rollouts that drive them.
#[derive(Debug, Clone)]
pub struct Config {
    /// Frontends in file order.
    pub frontends: Vec<Frontend>,
    /// Backends in file order.
    pub backends: Vec<Backend>,
    /// Guarded rollouts in file order, at most one a backend (each naming an existing
    /// backend and one of its servers; docs/rollouts.md).
    pub rollouts: Vec<crate::rollout::Rollout>,
    /// Cookies whose values rules only see once their signature is checked, in file order
    /// (`signed_cookies:`, docs/signed-cookies.md); none by default.
    pub signed_cookies: Vec<crate::signed_cookie::SignedCookie>,
    /// The `Upgrade` protocols a proxy forwards (`upgrade_protocols:`), lowercase; never
    /// `h2c`. Default: [`DEFAULT_UPGRADE_PROTOCOLS`].
    pub upgrade_protocols: Vec<String>,
}

/// The `Upgrade` protocols forwarded when the configuration names none: WebSocket only.
pub const DEFAULT_UPGRADE_PROTOCOLS: &[&str] = &["websocket"];

/// A configuration together with the warnings found while loading it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Warnings (e.g. Traefik v1 keys that splitway does not use).
    pub warnings: Vec<Diagnostic>,
}

/// A rule and a priority, pointing at a backend.
#[derive(Debug, Clone)]
pub struct Frontend {
    /// Its name (the key in the file).
    pub name: String,
    /// The backend it routes to (checked to exist).
    pub backend: String,
    /// Its parsed rule.
    pub rule: Rule,
    /// The effective priority: the explicit one where it counts (SPEC.md 3.4), else the
    /// rule's length.
    pub priority: i64,
    /// Traefik v1 `passHostHeader` (default true): whether the proxy keeps the client's Host.
    pub pass_host_header: bool,
}

/// A named set of servers and how to choose among them.
#[derive(Debug, Clone)]
pub struct Backend {
    /// Its name.
    pub name: String,
    /// Its servers, in file order (names unique within the backend).
    pub servers: Vec<Server>,
    /// How servers are chosen.
    pub balance: Balance,
    /// Sticky-cookie settings.
    pub sticky: Option<Sticky>,
    /// Cohort-hash settings.
    pub hash: Option<Hash>,
    /// Active health checks (run by the proxy).
    pub health_check: Option<HealthCheck>,
    /// How the proxy verifies the certificates of this backend's `https` servers (`tls:`);
    /// `None`: against the system's root certificates, with the URL's host as the name.
    pub tls: Option<UpstreamTls>,
}

/// A backend's `tls: {ca_file, server_name, insecure_skip_verify}`: how its `https` servers'
/// certificates are verified (the proxy's outbound TLS; plain `http` servers ignore it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct UpstreamTls {
    /// PEM file of the CA certificates to trust instead of the system's roots. A relative path
    /// is relative to the configuration file's directory once loaded by [`Config::from_file`]
    /// (as written, so relative to the working directory, when loaded from text).
    pub ca_file: Option<PathBuf>,
    /// The name sent as SNI and that the certificate must carry, instead of the URL's host
    /// (a DNS name or an IP address).
    pub server_name: Option<String>,
    /// Accept any certificate (still TLS, but with no protection against a man in the middle);
    /// never together with `ca_file`.
    pub insecure_skip_verify: bool,
}

/// One upstream server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Its name, unique in its backend.
    pub name: String,
    /// Its URL as written in the file.
    pub url: String,
    /// The URL, parsed.
    pub uri: http::Uri,
    /// Its weight, 0 to [`MAX_WEIGHT`] (0: drained).
    pub weight: u32,
    /// A response the integration gives itself instead of forwarding (`status:` in place of
    /// `url:`, e.g. Gateway API's 500 for a reference that cannot be resolved, or a
    /// maintenance page). Such a server's `url` is empty and its `uri` is `/`.
    pub response: Option<FixedResponse>,
}

/// A fixed response: `{name, status: CODE, body?: TEXT}` as a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedResponse {
    /// The HTTP status, 100 to 599.
    pub status: u16,
    /// The body (`text/plain`), empty when absent.
    pub body: Option<String>,
}

/// Server choice within a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Balance {
    /// Smooth weighted round robin (Traefik v1's `drr` maps here too).
    #[default]
    Wrr,
    /// Weighted random.
    Random,
}

/// `SameSite` attribute of a cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// `SameSite=None`.
    None,
    /// `SameSite=Lax`.
    Lax,
    /// `SameSite=Strict`.
    Strict,
}

/// Sticky-cookie settings (Traefik's stickiness).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sticky {
    /// Cookie name (a valid cookie token).
    pub cookie: String,
    /// `Secure` attribute.
    pub secure: bool,
    /// `HttpOnly` attribute.
    pub http_only: bool,
    /// `SameSite` attribute, if any.
    pub same_site: Option<SameSite>,
    /// `Max-Age`, in seconds, if any.
    pub max_age: Option<i64>,
}

/// What a cohort hash is keyed on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashKey {
    /// `cookie:NAME`.
    Cookie(String),
    /// `header:NAME`.
    Header(http::HeaderName),
    /// `query:NAME`.
    Query(String),
    /// `client_ip`: the TCP peer address.
    ClientIp,
}

/// Cohort-hash settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hash {
    /// The key.
    pub key: HashKey,
    /// The seed (default: the backend's name).
    pub seed: String,
    /// Issue a random id cookie when the key cookie is missing (only with `HashKey::Cookie`).
    pub issue_cookie: bool,
}

/// Active health-check settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// Path to GET.
    pub path: String,
    /// Time between checks (default 30 s).
    pub interval: Duration,
    /// Time-out of one check (default 5 s).
    pub timeout: Duration,
    /// Port to use instead of the server's.
    pub port: Option<u16>,
    /// Host header to send.
    pub hostname: Option<String>,
    /// Extra headers to send.
    pub headers: Vec<(String, String)>,
}

/// The cookie name Traefik v1 uses for a backend's stickiness: `cookie_name` with every
/// character that may not appear in a cookie name replaced by `_`, or, when `cookie_name` is
/// empty, `_` and the first 5 hex digits of SHA-1(`"_TRAEFIK_BACKEND_" + backend`).
///
/// ```
/// use splitway::config::traefik_cookie_name;
///
/// assert_eq!(traefik_cookie_name("", "backend"), "_76eb3");
/// assert_eq!(traefik_cookie_name("my cookie", "backend"), "my_cookie");
/// ```
pub fn traefik_cookie_name(cookie_name: &str, backend: &str) -> String {
    if cookie_name.is_empty() {
        let digest = sha1_smol::Sha1::from(format!("_TRAEFIK_BACKEND_{backend}"))
            .digest()
            .to_string();
        let short: String = digest.chars().take(5).collect();
        format!("_{short}")
    } else {
        cookie_name
            .chars()
            .map(|c| if decode::is_tchar(c) { c } else { '_' })
            .collect()
    }
}

/// A duration as the configuration writes one: Go syntax (`"30s"`, `"1m30s"`, `"720h"`) or
/// a whole number of seconds; `None` for anything else, and for zero.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(splitway::config::parse_duration("720h"), Some(Duration::from_secs(2_592_000)));
/// assert_eq!(splitway::config::parse_duration("90"), Some(Duration::from_secs(90)));
/// assert_eq!(splitway::config::parse_duration("soon"), None);
/// ```
pub fn parse_duration(text: &str) -> Option<Duration> {
    let parsed = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok().map(Duration::from_secs)
    } else {
        decode::parse_go_duration(text)
    };
    parsed.filter(|d| !d.is_zero())
}

impl Config {
    /// Loads and validates configuration text. `file` names it in diagnostics.
    pub fn from_str(text: &str, format: Format, file: &str) -> Result<Loaded, ConfigError> {
        load::load(text.as_bytes(), format, file)
    }

    /// Loads and validates configuration bytes (not necessarily UTF-8: invalid text is a
    /// located error, not a panic).
    pub fn from_bytes(bytes: &[u8], format: Format, file: &str) -> Result<Loaded, ConfigError> {
        load::load(bytes, format, file)
    }

    /// Reads, loads and validates a file; its extension gives the format.
    pub fn from_file(path: &Path) -> Result<Loaded, ConfigError> {
        load::load_file(path)
    }

    /// The backend called `name`.
    pub fn backend(&self, name: &str) -> Option<&Backend> {
        self.backends.iter().find(|b| b.name == name)
    }

    /// The rollout of the backend called `backend`.
    pub fn rollout(&self, backend: &str) -> Option<&crate::rollout::Rollout> {
        self.rollouts.iter().find(|r| r.backend == backend)
    }
}
