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
//! - `GET /stats/history`: per server, what it did second by second over the last five
//!   minutes, and over the last minute ([`history`], sampled every [`HISTORY_INTERVAL`] by a
//!   task of the listener from one read of the table, at most [`history::SAMPLES`] samples a
//!   server): `{"interval_ms", "capacity", "window_seconds", "sampled_at", "servers":
//!   [{"backend", "server", "samples": [{"at", "requests", "errors", "p99_ms"}...],
//!   "last_60s": {"seconds", "requests", "errors", "p50_ms", "p99_ms"}}...]}`.
//! - `GET /config`: the table in service (weights as edited or set by a rollout):
//!   `{"frontends": [{"name", "rule", "syntax", "priority", "backend"}...] (in the order they
//!   are tried), "backends": [{"name", "balance", "sticky_cookie", "hash_key",
//!   "health_check_path", "servers": [{"name", "url", "weight", "status"}...]}...]}`.
//! - `GET /`: the dashboard, one HTML page embedded in the binary that reads the endpoints
//!   above every second and sends the edits below (`docs/admin.md` describes it).
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
//! - `POST /explain`: the body is one request as a JSON object, a line of
//!   `splitway diff --requests` (`{"method", "url", "headers": [[name, value]...],
//!   "client_ip"}`, only `url` required); the answer is exactly `splitway explain --json`'s
//!   object for it ([`crate::explain`]), decided on the table in service, so a rollout's
//!   current weights and the servers' health decide. It is a read: no `X-Splitway` header is
//!   needed, the token is when one is configured. `400` with `{"error": TEXT}` for a body that
//!   is not such an object, `413` for a body over [`MAX_EXPLAIN_BODY`] bytes.
//!
//! Anything else is a 404. Every endpoint's JSON, with examples, and the dashboard are in
//! the crate's `docs/admin.md`.
//!
//! Who may call what is decided once, for every endpoint, before it runs ([`AdminAccess`]):
//! `/healthz`, `/metrics` and the page at `/` (which holds no data) are open; the rest needs
//! the bearer token when one is configured, else a loopback `Host` and `Origin`, and
//! `X-Splitway: 1` on writes (the rollout actions included).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use crate::server::RequestBody;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use splitway::{EditError, Router};
use tokio::net::TcpListener;

use crate::explain::RequestLine;
use crate::forward::{ProxyBody, own};
use crate::limits::Limits;
use crate::rollouts::{ActError, Rollouts, parse_action};
use crate::server::serve_with;

mod access;
pub mod history;
mod live_config;

pub use access::{AdminAccess, Denied, TokenError, WRITE_HEADER};
pub use history::History;

/// How often `/stats/history` samples every server's counters.
pub const HISTORY_INTERVAL: Duration = Duration::from_secs(1);

/// The dashboard, one page with its script and styles inline (no build step, nothing fetched
/// from elsewhere): it reads the JSON endpoints and sends the edits with the write rules.
const DASHBOARD: &str = include_str!("admin/dashboard.html");

/// The largest body `POST /explain` reads (one request object).
pub const MAX_EXPLAIN_BODY: usize = 64 * 1024;

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
    let history = Arc::new(Mutex::new(History::new()));
    // Sampled by a task of its own from one read of the table, never by a request.
    let _sampler = AbortOnDrop(tokio::spawn(sample(
        router.clone(),
        history.clone(),
        HISTORY_INTERVAL,
    )));
    serve_with(
        listener,
        Limits::admin(),
        None,
        move |req: Request<RequestBody>, _peer: SocketAddr| {
            let (router, metrics, access, rollouts, history) = (
                router.clone(),
                metrics.clone(),
                access.clone(),
                rollouts.clone(),
                history.clone(),
            );
            async move {
                if let Err(denied) = access.check(req.method(), req.uri(), req.headers()) {
                    return refuse(denied);
                }
                if req.uri().path() == "/explain" {
                    return explain(&router, req).await;
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
                answer(&router, &history, req.method(), req.uri().path())
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

/// Aborts its task when dropped: the sampler stops with the listener.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Records every server's counters into `history` every `every`.
async fn sample(router: Router, history: Arc<Mutex<History>>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let servers = router.servers();
        lock(&history).record(
            SystemTime::now(),
            servers
                .iter()
                .map(|s| (s.backend.as_str(), s.server.as_str(), &s.stats)),
        );
    }
}

fn lock(history: &Mutex<History>) -> MutexGuard<'_, History> {
    // A panic while recording leaves at worst one server's sample missing.
    history
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn answer(
    router: &Router,
    history: &Mutex<History>,
    method: &Method,
    path: &str,
) -> Response<ProxyBody> {
    if method == Method::PUT
        && let Some(rest) = path.strip_prefix("/servers/")
    {
        return edit(router, rest);
    }
    match (method, path) {
        (&Method::GET, "/healthz") => own(StatusCode::OK, "ok\n"),
        (&Method::GET | &Method::HEAD, "/") => dashboard(),
        (&Method::GET, "/config") => {
            json_response(StatusCode::OK, &live_config::to_json(&router.snapshot()))
        }
        (&Method::GET, "/stats/history") => {
            let document = lock(history).to_json(HISTORY_INTERVAL);
            let mut response = own(StatusCode::OK, document);
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
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

/// The dashboard page. It may not be framed (its buttons edit the servers).
fn dashboard() -> Response<ProxyBody> {
    let mut response = own(StatusCode::OK, DASHBOARD);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; img-src data:; frame-ancestors 'none'; form-action 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `POST /explain`: the body's request explained on the table in service.
async fn explain(router: &Router, req: Request<RequestBody>) -> Response<ProxyBody> {
    let error = |status: StatusCode, message: &str| {
        json_response(status, &serde_json::json!({ "error": message }))
    };
    if req.method() != Method::POST {
        return own(StatusCode::METHOD_NOT_ALLOWED, "use POST\n");
    }
    let too_large = format!("the body is over {MAX_EXPLAIN_BODY} bytes");
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_EXPLAIN_BODY as u64) {
        return error(StatusCode::PAYLOAD_TOO_LARGE, &too_large);
    }
    let body = match Limited::new(req.into_body(), MAX_EXPLAIN_BODY)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, &too_large);
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("reading the body: {e}")),
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return error(StatusCode::BAD_REQUEST, "the body is not UTF-8");
    };
    match RequestLine::from_json(text, None) {
        Ok(line) => json_response(StatusCode::OK, &line.explain(router)),
        Err(e) => error(StatusCode::BAD_REQUEST, &e.to_string()),
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
