//! splitway inside a tower stack: canary releases in the service itself, no proxy in front.
//!
//! ```text
//! request ──▶ SplitwayLayer ──▶ Dispatch ──"legacy"──▶ v1 handlers (axum::Router)
//!             takes the          by server   ──"k8s"────▶ v2 handlers (axum::Router)
//!             Decision, puts     name
//!             it in extensions,
//!             sets the cookie
//! ```
//!
//! [`SplitwayLayer`] takes the routing decision once per request, puts it into the request's
//! extensions as a [`splitway::Decision`] (handlers, logs and metrics read which route and
//! server serve the request), applies the matched frontend's path rewrites (Traefik v1's
//! `PathPrefixStrip`, `AddPrefix`, ...: the inner service sees the path a server behind the
//! proxy would), writes the sticky or cohort cookie on the response, and answers 404/503
//! itself. [`Dispatch`] maps server names to inner services. Both are plain tower
//! services: they work with `axum::Router::layer`, `tower::ServiceBuilder` and hyper-util's
//! `TowerToHyperService`, with any response body type that is `Default + From<String>`
//! (axum's `Body`, `String`, `http_body_util::Full<Bytes>`, ...): the layer writes its own
//! answers' text in it (`no route`, `no server available`, a fixed response's `body`).
//!
//! ```
//! use axum::{Router, routing::get, extract::Extension};
//! use splitway::config::{Config, Format};
//! use splitway_tower::{Dispatch, SplitwayLayer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let yaml = r#"
//! frontends:
//!   web:        {rules: ["PathPrefix:/"]}
//!   web_canary: {rules: ["PathPrefix:/", "HeadersRegexp:Cookie,_AUSER_TYPE=canary"]}
//! backends:
//!   web:        [{name: legacy, url: "http://legacy.internal"}]
//!   web_canary: [{name: k8s, url: "http://k8s.internal"}]
//! "#;
//! let config = Config::from_str(yaml, Format::Yaml, "inline.yaml").unwrap().config;
//! let router = splitway::Router::from_config(&config).unwrap();
//!
//! let v1 = Router::new().route("/", get(|| async { "v1" }));
//! let v2 = Router::new().route(
//!     "/",
//!     get(|Extension(d): Extension<splitway::Decision>| async move {
//!         format!("v2 via {}", d.route().unwrap_or("?"))
//!     }),
//! );
//! let app = ServiceBuilder::new()
//!     .layer(SplitwayLayer::new(router))
//!     .service(Dispatch::new().server("legacy", v1).server("k8s", v2));
//!
//! let request = http::Request::get("/")
//!     .header("cookie", "_AUSER_TYPE=canary")
//!     .body(axum::body::Body::empty())
//!     .unwrap();
//! let response = app.oneshot(request).await.unwrap();
//! let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
//! assert_eq!(&body[..], b"v2 via web_canary");
//! # }
//! ```
//!
//! Observability: a `tracing` span `splitway` per request (fields `route`, `backend`,
//! `server`, `status`), metrics through the `metrics` facade (see [`SplitwayLayer::metrics`]),
//! and per-server counters readable with [`splitway::Router::servers`]. What a decision means
//! for the response (own 404 and 503, the cookie, the recorded outcome) is
//! [`splitway::Exchange`]'s, shared with the proxy.
//!
//! The metrics are those of `splitway serve` ([`splitway::telemetry`]):
//! `splitway_requests_total{backend, server, status_class}`,
//! `splitway_request_duration_seconds{backend, server}` and
//! `splitway_route_requests_total{route, status_class}`. The application installs the
//! recorder; give the duration histogram splitway's buckets, so that Prometheus'
//! `histogram_quantile` and splitway's own p99 agree:
//!
//! ```
//! use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
//! use splitway_tower::{DURATION_METRIC, LATENCY_BUCKETS_SECONDS};
//!
//! let recorder = PrometheusBuilder::new()
//!     .set_buckets_for_metric(Matcher::Full(DURATION_METRIC.into()), &LATENCY_BUCKETS_SECONDS)
//!     .unwrap()
//!     .build_recorder(); // or `.install_recorder()` in an application
//! # drop(recorder);
//! ```

mod dispatch;
#[cfg(feature = "rollouts")]
pub mod fleet;
mod layer;
mod options;
#[cfg(feature = "rollouts")]
pub mod prometheus;
#[cfg(feature = "rollouts")]
pub mod rollouts;
mod service;

pub use dispatch::{Dispatch, DispatchFuture};
pub use layer::SplitwayLayer;
pub use options::ClientAddr;
#[cfg(feature = "rollouts")]
pub use rollouts::Rollouts;
pub use service::{ResponseFuture, Splitway};
pub use splitway::telemetry::{DURATION_METRIC, LATENCY_BUCKETS_SECONDS};

/// This crate's README, its example compiled (and run) as a doc-test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
