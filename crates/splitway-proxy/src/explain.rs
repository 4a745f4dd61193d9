//! The JSON forms of one explained request: the request as a JSON object (a line of
//! `splitway diff --requests`, the body of the admin's `POST /explain`) and the explanation
//! as `splitway explain --json` prints it.
//!
//! One code path for every place that explains: `splitway explain` offline, the admin's
//! `POST /explain` (on the live table, so a rollout's current weights decide) and
//! `splitway explain --admin`, which prints what the admin answered.

use std::net::IpAddr;

use http::{HeaderName, HeaderValue, Method, Request, Uri, header};
use serde_json::{Value, json};
use splitway::{Explanation, RequestView, Router};

/// One request to explain or replay: `{"method", "url", "headers": [[name, value]...],
/// "client_ip"}` (only `url` is required; `method` defaults to `GET`).
#[derive(Debug)]
pub struct RequestLine {
    /// The request (no body).
    pub request: Request<()>,
    /// Its TCP peer address, if known (what `ClientIP` and `client_ip` keys see).
    pub client_ip: Option<IpAddr>,
}

/// Why a request object was refused: the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RequestLineError(String);

impl RequestLine {
    /// Reads one JSON object; `host` is the `Host` header of a request that has none.
    pub fn from_json(text: &str, host: Option<&str>) -> Result<RequestLine, RequestLineError> {
        let bad = |m: &str| RequestLineError(m.to_owned());
        let v: Value =
            serde_json::from_str(text).map_err(|e| RequestLineError(format!("not JSON: {e}")))?;
        if !v.is_object() {
            return Err(bad("not a JSON object"));
        }
        let url = v
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no `url` string"))?;
        let method = match v.get("method") {
            None | Some(Value::Null) => "GET",
            Some(m) => m.as_str().ok_or_else(|| bad("`method` must be a string"))?,
        };
        let mut headers = Vec::new();
        match v.get("headers") {
            None | Some(Value::Null) => {}
            Some(list) => {
                let list = list
                    .as_array()
                    .ok_or_else(|| bad("`headers` must be a list of [name, value]"))?;
                for pair in list {
                    match pair.as_array().map(Vec::as_slice) {
                        Some([n, v]) => match (n.as_str(), v.as_str()) {
                            (Some(n), Some(v)) => headers.push((n.to_owned(), v.to_owned())),
                            _ => return Err(bad("a header must be [name, value] strings")),
                        },
                        _ => return Err(bad("a header must be [name, value]")),
                    }
                }
            }
        }
        let client_ip = match v.get("client_ip") {
            None | Some(Value::Null) => None,
            Some(c) => {
                let ip = c
                    .as_str()
                    .ok_or_else(|| bad("`client_ip` must be a string"))?;
                Some(ip.parse().map_err(|_| {
                    RequestLineError(format!("`client_ip` `{ip}` is not an IP address"))
                })?)
            }
        };
        RequestLine::new(method, url, &headers, host, client_ip)
    }

    /// Builds a request from its parts (headers in order, repeated names kept); `host` is
    /// its `Host` header when `headers` has none.
    pub fn new(
        method: &str,
        url: &str,
        headers: &[(String, String)],
        host: Option<&str>,
        client_ip: Option<IpAddr>,
    ) -> Result<RequestLine, RequestLineError> {
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| RequestLineError(format!("invalid method `{method}`")))?;
        let uri: Uri = url
            .parse()
            .map_err(|e| RequestLineError(format!("invalid url `{url}`: {e}")))?;
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .body(())
            .map_err(|e| RequestLineError(e.to_string()))?;
        for (n, v) in headers {
            let name = HeaderName::from_bytes(n.as_bytes())
                .map_err(|_| RequestLineError(format!("invalid header name `{n}`")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|_| RequestLineError(format!("invalid value of header `{n}`")))?;
            request.headers_mut().append(name, value);
        }
        if let Some(h) = host
            && !request.headers().contains_key(header::HOST)
        {
            let value = HeaderValue::from_str(h)
                .map_err(|_| RequestLineError(format!("invalid host `{h}`")))?;
            request.headers_mut().insert(header::HOST, value);
        }
        Ok(RequestLine { request, client_ip })
    }

    /// The request as the JSON object [`RequestLine::from_json`] reads (a header value that
    /// is not text is sent lossily).
    pub fn to_json(&self) -> Value {
        let headers: Vec<Value> = self
            .request
            .headers()
            .iter()
            .map(|(n, v)| json!([n.as_str(), String::from_utf8_lossy(v.as_bytes())]))
            .collect();
        json!({
            "method": self.request.method().as_str(),
            "url": self.request.uri().to_string(),
            "headers": headers,
            "client_ip": self.client_ip.map(|ip| ip.to_string()),
        })
    }

    /// Explains this request with `router` (the table in service): the object
    /// `splitway explain --json` prints.
    pub fn explain(&self, router: &Router) -> Value {
        let view = RequestView::from_request(&self.request, self.client_ip);
        explanation_json(&router.explain(&view), self.request.uri().path())
    }
}

/// The path the server will see (the matched frontend's rewrites applied to `path`); `None`
/// when no frontend matched.
fn server_path(e: &Explanation, path: &str) -> Option<String> {
    let d = &e.decision;
    d.route().map(|_| d.rewritten_path(path).into_owned())
}

/// The object of SPEC.md section 5 for `splitway explain --json`: `{"route", "backend",
/// "server", "url", "status", "set_cookie", "candidates": [{"route", "priority", "matched",
/// "failed"}], "path"}`, and `"cohort": [{"server", "weight", "eligible", "score",
/// "takeover_weight"}]` for a cohort-hash backend and a request with its key. `path` is the
/// request's path as sent; `url` is null for a fixed response.
pub fn explanation_json(e: &Explanation, path: &str) -> Value {
    let d = &e.decision;
    let server = d.server();
    let candidates: Vec<Value> = e
        .candidates
        .iter()
        .map(|c| {
            json!({
                "route": c.route,
                "priority": c.priority,
                "matched": c.matched,
                "failed": c.failed,
            })
        })
        .collect();
    let mut out = json!({
        "route": d.route(),
        "backend": d.backend(),
        "server": server.map(|s| s.name()),
        "url": server.filter(|s| s.response().is_none()).map(|s| s.url()),
        "status": d.status().code(),
        "set_cookie": d.set_cookie(),
        "candidates": candidates,
        "path": server_path(e, path),
    });
    if let (Some(cohort), Some(obj)) = (&e.cohort, out.as_object_mut()) {
        let standings: Vec<Value> = cohort
            .iter()
            .map(|s| {
                json!({
                    "server": s.server,
                    "weight": s.weight,
                    "eligible": s.eligible,
                    "score": s.score,
                    "takeover_weight": s.takeover_weight,
                })
            })
            .collect();
        obj.insert("cohort".into(), Value::Array(standings));
    }
    out
}
