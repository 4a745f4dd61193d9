//! From a decision to the response: what an integration (the tower layer, the proxy) does with
//! a [`Decision`], written once for all of them.
//!
//! ```
//! use splitway::{Exchange, RequestView, Router};
//! use splitway::config::{Config, Format};
//!
//! let yaml = r#"
//! frontends:
//!   web: {rules: ["Host:web.agendor.com.br"]}
//! backends:
//!   web: [{name: legacy, url: "http://legacy.internal"}]
//! "#;
//! let router = Router::from_config(&Config::from_str(yaml, Format::Yaml, "inline.yaml").unwrap().config).unwrap();
//!
//! let request = http::Request::get("http://example.com/").body(()).unwrap();
//! let exchange = Exchange::begin(&router, &RequestView::from_request(&request, None));
//! // No route: the integration answers with this instead of calling a server.
//! let response = exchange.own_response(|text| text.to_owned()).unwrap();
//! assert_eq!(response.status(), 404);
//! exchange.finish(response.status().as_u16(), true);
//! ```

use std::time::{Duration, Instant};

use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, Uri, header};

use crate::decision::{Decision, Status};
use crate::request::RequestView;
use crate::router::Router;

/// The header a path strip sets to the prefix it removed (`PathStrip`, `PathPrefixStrip`, ...).
pub const FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

/// The header a path replacement sets to the path it replaced (`ReplacePath`, ...).
pub const REPLACED_PATH: HeaderName = HeaderName::from_static("x-replaced-path");

/// A rewritten path that does not make a valid request target (see
/// [`Exchange::rewrite_request`]).
#[derive(Debug, thiserror::Error)]
#[error("the rewritten path `{path}` is not a valid request target: {source}")]
pub struct RewriteError {
    path: String,
    source: http::Error,
}

/// How long a client is told to wait before trying again after a 503 "no server available".
pub const RETRY_AFTER_SECONDS: u32 = 5;

/// One request on its way through splitway: the decision, kept for the request's whole life,
/// and the clock started when it was taken.
///
/// An integration takes one per request with [`Exchange::begin`], answers with
/// [`Exchange::own_response`] when there is one (no route, no server), else applies the
/// frontend's path rewrites with [`Exchange::rewrite_request`], calls the chosen server and
/// passes its response head through [`Exchange::complete_response`]; in both cases
/// it ends with [`Exchange::finish`], which records the outcome.
#[derive(Debug, Clone)]
pub struct Exchange {
    decision: Decision,
    start: Instant,
}

impl Exchange {
    /// Takes the decision for `req` and starts the clock.
    pub fn begin(router: &Router, req: &RequestView<'_>) -> Exchange {
        Exchange {
            // Kept while the request is in flight: by a counted reference (see `Decision`).
            decision: router.route_kept(req),
            start: Instant::now(),
        }
    }

    /// The decision.
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    /// The response to give without calling a server, or `None` when a server was chosen:
    /// 404 with the text `no route` when no frontend matched, 503 with `no server available`
    /// and `Retry-After` ([`RETRY_AFTER_SECONDS`]) when the backend has no server to offer.
    /// For a fixed-response server (`status:`), its status and body, with the sticky or
    /// cohort `Set-Cookie` of the decision. All are `text/plain`; `body` makes the body from
    /// the text (an integration whose body type cannot hold text may drop it).
    pub fn own_response<B>(&self, body: impl FnOnce(&str) -> B) -> Option<Response<B>> {
        let (status, text) = match self.decision.status() {
            Status::Routed => return None,
            Status::NoRoute => (StatusCode::NOT_FOUND, "no route\n"),
            Status::NoServer => (StatusCode::SERVICE_UNAVAILABLE, "no server available\n"),
            Status::Fixed(code) => (
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                self.decision
                    .server()
                    .and_then(|s| s.response())
                    .and_then(|f| f.body.as_deref())
                    .unwrap_or(""),
            ),
        };
        let mut response = Response::new(body(text));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        match self.decision.status() {
            Status::NoServer => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
            }
            // A fixed-response server is a server: its sticky or cohort cookie is set.
            Status::Fixed(_) => self.complete_response(headers),
            _ => {}
        }
        Some(response)
    }

    /// Applies the matched frontend's path rewrites ([`Decision::rewritten_path`]) to the
    /// request to send: the new path (the query kept as it was, the scheme and authority of an
    /// absolute-form target too) and the header that goes with it: `X-Forwarded-Prefix` (the
    /// removed prefix) for a strip, `X-Replaced-Path` (the original path) for a replacement,
    /// each replacing a value the client sent. Does nothing when the frontend has no
    /// rewrites. On an error the request is left as it was.
    pub fn rewrite_request<B>(&self, req: &mut http::Request<B>) -> Result<(), RewriteError> {
        let Some(rewritten) = self.decision.path_rewrite(req.uri().path()) else {
            return Ok(());
        };
        let target = match req.uri().query() {
            Some(query) => format!("{}?{query}", rewritten.path),
            None => rewritten.path.clone(),
        };
        let fail = |source: http::Error| RewriteError {
            path: rewritten.path.clone(),
            source,
        };
        let mut uri = req.uri().clone().into_parts();
        uri.path_and_query =
            Some(PathAndQuery::from_maybe_shared(target).map_err(|e| fail(e.into()))?);
        *req.uri_mut() = Uri::from_parts(uri).map_err(|e| fail(e.into()))?;
        let headers = req.headers_mut();
        for (name, value) in [
            (FORWARDED_PREFIX, &rewritten.forwarded_prefix),
            (REPLACED_PATH, &rewritten.replaced_path),
        ] {
            headers.remove(&name);
            if let Some(value) = value.as_deref().and_then(header_value) {
                headers.insert(name, value);
            }
        }
        Ok(())
    }

    /// Adds to the chosen server's response headers what the decision asks of them: the
    /// sticky or cohort `Set-Cookie`, when there is one.
    pub fn complete_response(&self, headers: &mut HeaderMap) {
        if let Some(cookie) = self
            .decision
            .set_cookie()
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            headers.append(header::SET_COOKIE, cookie);
        }
    }

    /// Records the outcome, once the response head is known: `status` is what the client got
    /// (the server's status, or the integration's own 404, 502, 503 or 504). It goes into the
    /// chosen server's counters ([`Decision::record`]) and, with `metrics`, into the request
    /// metrics of [`crate::telemetry`](mod@crate::telemetry). Returns the time since
    /// [`Exchange::begin`]. Call it once per exchange.
    pub fn finish(&self, status: u16, metrics: bool) -> Duration {
        let elapsed = self.start.elapsed();
        self.decision.record(status, elapsed);
        if metrics {
            self.decision.record_metrics(status, elapsed);
        }
        elapsed
    }
}

/// A decoded path as a header value; escaped again when it holds bytes a header cannot.
fn header_value(path: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(path).ok().or_else(|| {
        let escaped = percent_encoding::utf8_percent_encode(path, percent_encoding::CONTROLS);
        HeaderValue::from_str(&escaped.to_string()).ok()
    })
}
