//! The admin listener: what an operator (or a rollout script) asks a running proxy.
//!
//! - `GET /healthz`: `200 ok` while the proxy runs (a liveness probe).
//! - `GET /metrics`: the process's metrics in Prometheus' text format, when the caller gave a
//!   way to render them (the `splitway` binary installs `metrics-exporter-prometheus`):
//!   the request metrics of [`splitway::telemetry`] (per backend and server, and per route),
//!   so a dashboard can set the canary beside the stable servers.
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
//! weight, and a weight edit answers `409` on a backend whose rollout is progressing or
//! holding (it would fight the rollout).
//! - `GET /rollouts` (with [`serve_admin_with`] and a [`Rollouts`]): every rollout as JSON,
//!   `{"rollouts": [{"backend", "source", "canary", "state", "step", "steps", "share",
//!   "effective_share", "weights": {SERVER: N}, "reason", "failures", "last_analysis": null |
//!   {"at", "canary": {"requests", "errors", "p99_ms"}, "stable": {...}, "lower_bound",
//!   "verdict", "summary"}, "next_decision_at", "transitions": [{"at", "from", "to", "step",
//!   "reason"}]}]}`, times in RFC 3339.
//! - `POST /rollouts/{backend}/pause|resume|promote|abort|rollback`: `200` with the rollout's
//!   new object, `404` for a backend without a rollout, `409` when the action does not apply
//!   to its state.
//!
//! Anything else is a 404.
//!
//! Who may call what is decided once, for every endpoint, before it runs ([`AdminAccess`]):
//! `/healthz` and `/metrics` are open; the rest needs the bearer token when one is
//! configured, else a loopback `Host` and `Origin`, and `X-Splitway: 1` on writes (the
//! rollout actions included).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use splitway::{EditError, Router};
use tokio::net::TcpListener;

use crate::forward::{ProxyBody, own};
use crate::limits::Limits;
use crate::rollouts::{ActError, Rollouts, parse_action};
use crate::server::serve_with;

mod access;

pub use access::{AdminAccess, Denied, TokenError, WRITE_HEADER};

/// Renders the process's metrics in Prometheus' text format (`/metrics`).
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// Serves the admin endpoints for `router` on `listener` until `shutdown` completes, each
/// request first checked by `access`; `/metrics` answers 404 when `metrics` is `None`.
///
/// Check the address with [`AdminAccess::allows_bind`] before binding it: given a listener
/// bound off loopback without a token, this logs an error and serves nothing (a `Host`
/// check means nothing to a client that is not a browser).
pub async fn serve_admin(
    listener: TcpListener,
    router: Router,
    metrics: Option<RenderMetrics>,
    access: AdminAccess,
    shutdown: impl Future<Output = ()>,
) {
    serve_admin_with(listener, router, metrics, access, None, shutdown).await;
}

/// [`serve_admin`], with `/rollouts` answering for `rollouts` (404 without).
pub async fn serve_admin_with(
    listener: TcpListener,
    router: Router,
    metrics: Option<RenderMetrics>,
    access: AdminAccess,
    rollouts: Option<Rollouts>,
    shutdown: impl Future<Output = ()>,
) {
    if let Ok(addr) = listener.local_addr()
        && let Err(reason) = access.allows_bind(addr)
    {
        tracing::error!("admin listener not started: {reason}");
        return;
    }
    let access = Arc::new(access);
    serve_with(
        listener,
        Limits::admin(),
        move |req: Request<Incoming>, _peer: SocketAddr| {
            let (router, metrics, access, rollouts) = (
                router.clone(),
                metrics.clone(),
                access.clone(),
                rollouts.clone(),
            );
            async move {
                if let Err(denied) = access.check(req.method(), req.uri(), req.headers()) {
                    return refuse(denied);
                }
                if let Some(r) = &rollouts
                    && let Some(response) = rollouts_answer(r, req.method(), req.uri().path())
                {
                    return response;
                }
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
                if req.method() == Method::PUT
                    && let Some(r) = &rollouts
                    && let Some(backend) = weight_edit_backend(req.uri().path())
                    && r.drives(backend)
                {
                    return own(
                        StatusCode::CONFLICT,
                        format!(
                            "backend `{backend}` is driven by its rollout: pause or abort it first\n"
                        ),
                    );
                }
                answer(&router, req.method(), req.uri().path())
            }
        },
        shutdown,
    )
    .await;
}

/// 401 (with `WWW-Authenticate: Bearer`) or 403, the reason as the body.
fn refuse(denied: Denied) -> Response<ProxyBody> {
    let mut response = own(denied.status, format!("{}\n", denied.reason));
    if denied.status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"splitway admin\""),
        );
    }
    response
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

/// The backend of a `PUT /servers/BACKEND/SERVER/weight/N`.
fn weight_edit_backend(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/servers/")?;
    let mut parts = rest.split('/');
    let backend = parts.next()?;
    let _server = parts.next()?;
    (parts.next() == Some("weight")).then_some(backend)
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<ProxyBody> {
    let mut response = own(status, format!("{value}\n"));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `GET /rollouts` and `POST /rollouts/{backend}/ACTION`; `None` for other paths.
fn rollouts_answer(
    rollouts: &Rollouts,
    method: &Method,
    path: &str,
) -> Option<Response<ProxyBody>> {
    if path == "/rollouts" {
        return Some(if method == Method::GET {
            json_response(StatusCode::OK, &rollouts.to_json())
        } else {
            own(StatusCode::METHOD_NOT_ALLOWED, "use GET\n")
        });
    }
    let rest = path.strip_prefix("/rollouts/")?;
    let (backend, word) = rest.split_once('/')?;
    if method != Method::POST {
        return Some(own(StatusCode::METHOD_NOT_ALLOWED, "use POST\n"));
    }
    let Some(action) = parse_action(word) else {
        return Some(own(
            StatusCode::NOT_FOUND,
            format!("unknown action `{word}`: pause, resume, promote, abort or rollback\n"),
        ));
    };
    Some(match rollouts.act(backend, action, SystemTime::now()) {
        Ok(value) => {
            tracing::info!(backend, action = action.as_str(), "rollout action applied");
            json_response(StatusCode::OK, &value)
        }
        Err(e @ ActError::Unknown(_)) => own(StatusCode::NOT_FOUND, format!("{e}\n")),
        Err(e) => own(StatusCode::CONFLICT, format!("{e}\n")),
    })
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
