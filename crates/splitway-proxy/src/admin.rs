//! The admin listener: what an operator (or a rollout script) asks a running proxy.
//!
//! - `GET /healthz`: `200 ok` while the proxy runs (a liveness probe).
//! - `GET /stats`: every server's outcome counters, as JSON:
//!   `{"servers": [{"backend", "server", "requests", "errors", "error_rate",
//!   "latency_sum_ms"}...]}` (`errors` are 5xx answers, the proxy's own 502 and 504 included),
//!   so a rollout script can compare the canary with the stable servers.
//!
//! Anything else is a 404. Bind it to a private address: it has no authentication.

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use splitway::Router;
use tokio::net::TcpListener;

use crate::forward::ProxyBody;
use crate::server::serve_with;

/// Serves the admin endpoints for `router` on `listener` until `shutdown` completes.
pub async fn serve_admin(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()>,
) {
    serve_with(
        listener,
        move |req: Request<Incoming>, _peer: SocketAddr| {
            let router = router.clone();
            async move { answer(&router, req.method(), req.uri().path()) }
        },
        shutdown,
    )
    .await;
}

fn answer(router: &Router, method: &Method, path: &str) -> Response<ProxyBody> {
    match (method, path) {
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n".to_owned()),
        (&Method::GET, "/stats") => {
            let servers: Vec<serde_json::Value> = router
                .all_stats()
                .into_iter()
                .map(|(backend, server, stats)| {
                    serde_json::json!({
                        "backend": backend,
                        "server": server,
                        "requests": stats.requests,
                        "errors": stats.server_errors,
                        "error_rate": stats.error_rate(),
                        "latency_sum_ms": stats.latency_sum.as_secs_f64() * 1000.0,
                    })
                })
                .collect();
            let mut response = text(
                StatusCode::OK,
                format!("{}\n", serde_json::json!({ "servers": servers })),
            );
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n".to_owned()),
    }
}

fn text(status: StatusCode, body: String) -> Response<ProxyBody> {
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response
}
