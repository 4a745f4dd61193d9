//! One request to a running proxy's admin listener (`rollout`, `explain --admin`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// How long one admin request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The token in `file` (surrounding whitespace dropped), if a file is given.
pub(crate) fn read_token(file: Option<&Path>) -> Result<Option<String>, String> {
    file.map(|f| {
        std::fs::read_to_string(f)
            .map(|t| t.trim().to_owned())
            .map_err(|e| format!("cannot read {}: {e}", f.display()))
    })
    .transpose()
}

/// Sends `body` to `path` on the admin at `addr`: the answer's status and body. A `write`
/// carries the write mark.
pub(crate) fn request(
    addr: SocketAddr,
    method: &Method,
    path: &str,
    token: Option<&str>,
    body: &str,
    write: bool,
) -> Result<(StatusCode, String), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let mut req = Request::builder()
            .method(method.clone())
            .uri(format!("http://{addr}{path}"));
        if write {
            // The mark the admin asks of every write without a token (a browser's
            // cross-site request cannot carry it); harmless with a token.
            req = req.header(splitway_proxy::admin::WRITE_HEADER, "1");
        }
        if let Some(t) = token {
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if !body.is_empty() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.to_owned())))
            .map_err(|e| format!("bad request: {e}"))?;
        let exchange = async {
            let response = client
                .request(req)
                .await
                .map_err(|e| format!("cannot reach the admin at {addr}: {e}"))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("reading the admin's answer: {e}"))?
                .to_bytes();
            Ok((status, String::from_utf8_lossy(&body).into_owned()))
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| format!("the admin at {addr} did not answer within {TIMEOUT:?}"))?
    })
}
