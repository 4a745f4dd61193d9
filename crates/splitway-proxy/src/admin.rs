//! The admin listener: what an operator (or a rollout script) asks a running proxy.
//!
//! - `GET /healthz`: `200 ok` while the proxy runs (a liveness probe).
//! - `GET /metrics`: the process's metrics in Prometheus' text format, when the caller gave a
//!   way to render them (the `splitway` binary installs `metrics-exporter-prometheus`):
//!   `splitway_requests_total` and `splitway_request_duration_seconds` per route, backend and
//!   server, so a dashboard can set the canary beside the stable servers.
//! - `GET /stats`: every server's state and outcome counters, all read from one table, as
//!   JSON ([`splitway::stats::stats_json`]):
//!   `{"servers": [{"backend", "server", "requests", "errors", "error_rate",
//!   "latency_sum_ms", "weight", "healthy", "latency_buckets"}...],
//!   "latency_bucket_bounds_ms": [...]}` (`errors` are 5xx answers, the proxy's own 502 and
//!   504 included; `latency_buckets` are non-cumulative counts per bucket, the last above the
//!   largest bound), so a rollout script can compare the canary with the stable servers.
//!
//! - `PUT /servers/BACKEND/SERVER/weight/N`: sets the server's weight (0 drains it: no new
//!   users, sticky ones stay), at once, in this process: the rollback switch. The next reload
//!   of the file puts the file's weights back, so make the same change in the file too.
//! - `PUT /servers/BACKEND/SERVER/down` and `.../up`: marks the server down or up. For a
//!   backend with a `health_check`, the next check decides again.
//!
//! Those answer `204` when done, `404` for an unknown backend or server, `400` for a bad
//! weight. Anything else is a 404. Bind it to a private address: it has no authentication.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use splitway::{EditError, Router};
use tokio::net::TcpListener;

use crate::forward::{ProxyBody, own};
use crate::limits::Limits;
use crate::server::serve_with;

/// Renders the process's metrics in Prometheus' text format (`/metrics`).
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// Serves the admin endpoints for `router` on `listener` until `shutdown` completes;
/// `/metrics` answers 404 when `metrics` is `None`.
pub async fn serve_admin(
    listener: TcpListener,
    router: Router,
    metrics: Option<RenderMetrics>,
    shutdown: impl Future<Output = ()>,
) {
    serve_with(
        listener,
        Limits::admin(),
        move |req: Request<Incoming>, _peer: SocketAddr| {
            let (router, metrics) = (router.clone(), metrics.clone());
            async move {
                if req.method() == Method::GET
                    && req.uri().path() == "/metrics"
                    && let Some(render) = metrics
                {
                    let mut response = own(StatusCode::OK, render());
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; version=0.0.4"),
                    );
                    return response;
                }
                answer(&router, req.method(), req.uri().path())
            }
        },
        shutdown,
    )
    .await;
}

fn answer(router: &Router, method: &Method, path: &str) -> Response<ProxyBody> {
    if method == Method::PUT
        && let Some(rest) = path.strip_prefix("/servers/")
    {
        return edit(router, rest);
    }
    match (method, path) {
        (&Method::GET, "/healthz") => own(StatusCode::OK, "ok\n"),
        (&Method::GET, "/stats") => {
            let mut response = own(
                StatusCode::OK,
                splitway::stats::stats_json(&router.servers()),
            );
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        _ => own(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// `BACKEND/SERVER/weight/N`, `BACKEND/SERVER/down` or `BACKEND/SERVER/up`.
fn edit(router: &Router, rest: &str) -> Response<ProxyBody> {
    let parts: Vec<&str> = rest.split('/').collect();
    let outcome = match parts.as_slice() {
        [backend, server, "weight", n] => match n.parse::<u32>() {
            Ok(weight) => router
                .set_weight(backend, server, weight)
                .map_err(|e| match e {
                    EditError::UnknownServer { .. } => (StatusCode::NOT_FOUND, e.to_string()),
                    other => (StatusCode::BAD_REQUEST, other.to_string()),
                }),
            Err(_) => Err((StatusCode::BAD_REQUEST, format!("bad weight `{n}`"))),
        },
        [backend, server, mark @ ("up" | "down")] => router
            .set_health(backend, server, *mark == "up")
            .map(|_| ())
            .map_err(|e| (StatusCode::NOT_FOUND, e.to_string())),
        _ => Err((StatusCode::NOT_FOUND, "not found".to_owned())),
    };
    match outcome {
        Ok(()) => {
            tracing::info!(edit = rest, "admin edit applied");
            own(StatusCode::NO_CONTENT, "")
        }
        Err((status, message)) => own(status, format!("{message}\n")),
    }
}
