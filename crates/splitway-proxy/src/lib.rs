//! splitway as a reverse proxy: the talk's Traefik role.
//!
//! Data flow for one request: [`server::serve`] accepts the connection (HTTP/1.1 or h2c; or,
//! with [`serve_tls`], HTTPS only: the certificate chosen by SNI, HTTP/2 by ALPN, [`tls`])
//! within the connection [`Limits`] (a cap, handshake, head and idle timeouts, head sizes),
//! reads each HTTP/1.1 request with its own codec (`h1_server`; hyper's server for a streamed
//! body, an upgrade or HTTP/2) and hands it to [`Proxy::handle`], which answers 503 at once past the cap on requests in
//! flight ([`admission`]), refuses what breaks the request limits or
//! names its host badly (400, 414, 431), asks the [`splitway::Router`] for a decision
//! and answers 404 or 503 itself, or forwards the request to the chosen server over its pool of
//! HTTP/1.1 connections ([`forward`]; spoken by the proxy itself in the request's own task;
//! `https` servers over TLS, verified as [`upstream_tls`] says): the frontend's path rewrites applied, hop-by-hop headers dropped both
//! ways, `X-Forwarded-*` added, `Host` kept or replaced as the frontend says, bodies streamed,
//! upgrades (WebSocket) joined, the decision's cookie added to the response, 502/504 when the
//! server fails or is slow, a refused bodyless `GET` sent once more. [`watch()`] reloads the
//! configuration file when it changes; [`health`] runs the backends' active health checks and
//! marks servers up or down in the router; [`rollouts`] drives the configuration's guarded
//! rollouts on the router's counters; [`admin`] answers `/healthz`, `/stats`, `/metrics`,
//! `/stats/history` (sampled once a second into [`admin::History`]), `/config`, `/rollouts`,
//! `POST /explain` ([`explain`]), the weight and up/down edits and the dashboard page at `/`,
//! each request first checked by [`AdminAccess`] (a bearer token, or loopback only).
//! [`Workers`] runs [`serve`] on N threads, one single-threaded runtime and one `SO_REUSEPORT`
//! socket each, the caps shared.
//!
//! # Cargo features
//!
//! - `internals` (off by default): makes public the HTTP/1.1 framing the proxy speaks to its
//!   servers (`h1`: the request head's encoding, the response head's parsing, the body
//!   decoder), for the project's fuzz targets. **Unstable**: not covered by semver.
//!
//! ```no_run
//! use std::time::Duration;
//! use splitway::Router;
//! use splitway_proxy::{Options, Proxy, health_checks, serve, watch};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let path = std::path::PathBuf::from("routes.yaml");
//! let router = Router::from_config(&splitway::config::Config::from_file(&path)?.config)?;
//! let _reloads = watch(router.clone(), path, Duration::from_secs(1));
//! let _checks = health_checks(router.clone(), Duration::from_secs(1));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! serve(listener, Proxy::new(router, Options::default()), async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await;
//! # Ok(())
//! # }
//! ```

pub mod admin;
pub mod admission;
pub mod explain;
pub mod forward;
#[cfg(feature = "internals")]
pub mod h1;
#[cfg(not(feature = "internals"))]
#[allow(unreachable_pub)]
mod h1;
mod h1_server;
mod headers;
pub mod health;
mod held;
pub mod limits;
mod replay;
/// The rollout driver, shared with the tower layer: [`splitway_tower::rollouts`], with the
/// fleet mode's Prometheus client ([`splitway_tower::prometheus`]) and queries
/// ([`splitway_tower::fleet`]).
pub use splitway_tower::{fleet, prometheus, rollouts};
pub mod server;
mod strict;
pub mod tls;
mod upstream;
pub mod upstream_tls;
pub mod watch;
pub mod workers;

pub use admin::{AdminAccess, RenderMetrics, serve_admin, serve_admin_with};
pub use forward::{Options, Proxy, ProxyBody};
pub use health::health_checks;
pub use limits::Limits;
pub use rollouts::Rollouts;
pub use server::{serve, serve_connection, serve_tls};
pub use tls::{CertPair, ServerTls, TlsError};
pub use watch::{watch, watch_with};
pub use workers::Workers;

/// This crate's README, its example compiled (and run) as a doc-test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
