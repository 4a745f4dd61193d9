//! One request through the proxy: decide, forward over the pool of connections to the
//! servers, answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::uri::PathAndQuery;
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Body;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use splitway::{Decision, Exchange, RequestView, Router};

use crate::admission::{InFlightCap, OVERLOAD_RETRY_AFTER_SECONDS};
use crate::headers;
use crate::held::HeldBody;
use crate::limits::Limits;
use crate::replay::Replay;
use crate::strict;
use crate::upstream::{Connector, Upstream, UpstreamError};
use crate::upstream_tls::{HttpsClients, HttpsPool, Pool};

/// Marks a request that came over TLS (its `X-Forwarded-Proto` is `https`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientTls;

/// The body of every response the proxy sends: the upstream's, streamed, or its own.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of a request sent to a server: the client's, streamed, or none (a repeat).
type UpstreamBody = BoxBody<Bytes, BoxError>;

/// How one attempt ended.
enum Answer {
    /// With this response for the client.
    Done(Response<ProxyBody>),
    /// No connection to the server (refused, or not accepted in time): nothing was sent.
    /// The 502 to give, and the request as it came.
    Refused(Response<ProxyBody>, Box<Request<UpstreamBody>>),
}

impl Answer {
    fn response(&self) -> &Response<ProxyBody> {
        match self {
            Answer::Done(r) | Answer::Refused(r, _) => r,
        }
    }

    fn into_response(self) -> Response<ProxyBody> {
        match self {
            Answer::Done(r) | Answer::Refused(r, _) => r,
        }
    }
}

/// Which pool a request goes on ([`Proxy::pool_for`]).
enum PoolFor {
    Http,
    Https(HttpsPool),
    /// The server is `https`, but its TLS settings could not be made into a client.
    NoTls,
}

/// Whether `req` may be sent again when its server refused the connection: it has no body,
/// is safe to repeat and does not ask for an upgrade.
fn repeatable<B: Body>(req: &Request<B>) -> bool {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    safe && req.body().is_end_stream() && headers::upgrade_protocol(req.headers()).is_none()
}

/// Timeouts and pool settings, and the limits on clients.
#[derive(Debug, Clone)]
pub struct Options {
    /// Longest wait for a TCP connection to a server (502 past it).
    pub connect_timeout: Duration,
    /// Longest wait from sending the request to the upstream's response head (504 past it).
    pub response_timeout: Duration,
    /// How long an idle pooled connection may be used again (an older one is closed when next
    /// met). Keep it shorter than the servers' keep-alive timeout: a request that meets a
    /// connection the server closed before taking it goes on another, but one the server
    /// closes while reading it fails with a 502.
    pub pool_idle_timeout: Duration,
    /// Most idle connections kept per server.
    pub pool_max_idle_per_host: usize,
    /// What a client may hold and send ([`serve`](crate::serve) applies the connection
    /// limits, [`Proxy::handle`] the request ones).
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            connect_timeout: Duration::from_secs(5),
            // nginx's `proxy_read_timeout`: long enough for slow pages, not forever.
            response_timeout: Duration::from_secs(60),
            pool_idle_timeout: Duration::from_secs(30),
            pool_max_idle_per_host: 32,
            limits: Limits::default(),
        }
    }
}

/// The proxy: a router and its pools of connections to the servers (one for `http` servers,
/// one per backend `tls` setting for `https` ones, [`crate::upstream_tls`]). Cheap to clone
/// (all are handles).
#[derive(Clone, Debug)]
pub struct Proxy {
    router: Router,
    http: Arc<Upstream<HttpConnector>>,
    https: Arc<HttpsClients>,
    options: Options,
    /// Requests in flight, shared by every clone (and every worker's copy).
    in_flight: std::sync::Arc<InFlightCap>,
}

impl Proxy {
    /// A proxy routing with `router`.
    pub fn new(router: Router, options: Options) -> Self {
        let in_flight = InFlightCap::new(options.limits.max_requests_in_flight);
        Proxy {
            http: http_pool(&options),
            router,
            https: Arc::new(HttpsClients::new(pool(&options))),
            options,
            in_flight,
        }
    }

    /// A copy with a connection pool of its own, sharing the router, the options and the
    /// count of requests in flight: one for each runtime that serves requests, so that no
    /// upstream connection is driven by one runtime for requests of another.
    pub fn with_own_pool(&self) -> Proxy {
        Proxy {
            http: http_pool(&self.options),
            https: Arc::new(HttpsClients::new(pool(&self.options))),
            router: self.router.clone(),
            options: self.options.clone(),
            in_flight: std::sync::Arc::clone(&self.in_flight),
        }
    }
}

/// The pool settings of the clients to the servers.
fn pool(options: &Options) -> Pool {
    Pool {
        connect_timeout: options.connect_timeout,
        idle_timeout: options.pool_idle_timeout,
        max_idle_per_host: options.pool_max_idle_per_host,
    }
}

/// The pool of connections to the `http` servers.
fn http_pool(options: &Options) -> Arc<Upstream<HttpConnector>> {
    let pool = pool(options);
    let mut connector = pool.connector();
    connector.enforce_http(true);
    pool.upstream(connector)
}

impl Proxy {
    /// The router (for reloads and health marks).
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The options it was made with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Answers one request from `peer`: 503 with `Retry-After: 1` when
    /// [`Limits::max_requests_in_flight`] requests are in flight already (before anything
    /// else: recorded as a 404 is, no backend and no server), 400, 414 or 431 when it breaks the
    /// [`Limits`] or names its host badly (no `Host` on HTTP/1.1, two, an invalid one, or on
    /// HTTP/2 one other than `:authority`), 404 (no route), 503 (no server), 502 (the server
    /// refused, reset or answered badly), 504 (no response head in time), or the server's
    /// response with the decision's cookie.
    ///
    /// When the chosen server refuses the connection (or does not accept it within the
    /// connect timeout), nothing has been sent, so a request
    /// without a body that is safe to repeat (`GET`, `HEAD`, `OPTIONS`) is decided again and
    /// sent once more (to another server, as the round robin moves on and a refusing
    /// health-checked server is marked down); the client sees the 502 only if that fails too.
    ///
    /// The request's body may be any (hyper's server's `Incoming`, a whole `Full`); it is
    /// streamed to the server.
    pub async fn handle<B>(&self, req: Request<B>, peer: SocketAddr) -> Response<ProxyBody>
    where
        B: Body<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<BoxError>,
    {
        let Some(admitted) = self.in_flight.try_enter() else {
            return self.overloaded();
        };
        // One future for the whole request, not one inside another: each level kept its own
        // copy of the request.
        let response = match self.refused(&req, peer) {
            Some(refused) => refused,
            None => {
                let again = repeatable(&req);
                let req = req.map(|body| body.map_err(Into::into).boxed());
                match self.answer(req, peer).await {
                    Answer::Refused(_, req) if again => {
                        self.answer(*req, peer).await.into_response()
                    }
                    answer => answer.into_response(),
                }
            }
        };
        response.map(|body| {
            HeldBody {
                body,
                _held: admitted,
            }
            .boxed()
        })
    }

    /// The 503 for a request past the cap on requests in flight, recorded.
    fn overloaded(&self) -> Response<ProxyBody> {
        let mut response = own(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many requests in flight\n",
        );
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(OVERLOAD_RETRY_AFTER_SECONDS),
        );
        self.router
            .record_unrouted(StatusCode::SERVICE_UNAVAILABLE.as_u16());
        response
    }

    /// The answer to a request that breaks the [`Limits`] or names its host badly
    /// ([`strict::check`]), if it does.
    fn refused<B>(&self, req: &Request<B>, peer: SocketAddr) -> Option<Response<ProxyBody>> {
        if let Err(refusal) = strict::check(req, &self.options.limits) {
            tracing::debug!(%peer, status = refusal.status.as_u16(), reason = refusal.reason.trim_end(), "refused");
            let mut response = own(refusal.status, refusal.reason);
            if req.version() < http::Version::HTTP_2 {
                // A client that sent this may not frame its next request well either.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            return Some(response);
        }
        None
    }

    /// One decision and its answer, recorded.
    async fn answer(&self, req: Request<UpstreamBody>, peer: SocketAddr) -> Answer {
        let exchange = Exchange::begin(
            &self.router,
            &RequestView::from_request(&req, Some(peer.ip())),
        );
        let answer =
            match exchange.own_response(|text| full(Bytes::copy_from_slice(text.as_bytes()))) {
                Some(response) => Answer::Done(response),
                None => match self.pool_for(exchange.decision()) {
                    PoolFor::Http => self.forward_on(&self.http, req, peer, &exchange).await,
                    // Boxed: a TLS connection (rustls' state inline) makes this future about
                    // 2 KiB, which every plain request's future would otherwise carry and copy.
                    PoolFor::Https(pool) => {
                        Box::pin(self.forward_on(&pool, req, peer, &exchange)).await
                    }
                    PoolFor::NoTls => Answer::Done(own(StatusCode::BAD_GATEWAY, "bad gateway\n")),
                },
            };
        let status = answer.response().status().as_u16();
        exchange.finish(status, true);
        let decision = exchange.decision();
        tracing::debug!(
            route = decision.route(),
            server = decision.server().map(|s| s.name()),
            status,
            "proxied"
        );
        answer
    }

    /// The pool for the decision's server: by its scheme (no server: plain, which
    /// [`Proxy::forward_on`] answers), or none when no TLS toward it can be made (logged).
    fn pool_for(&self, decision: &Decision) -> PoolFor {
        let Some(server) = decision.server() else {
            return PoolFor::Http;
        };
        if server.uri().scheme() != Some(&http::uri::Scheme::HTTPS) {
            return PoolFor::Http;
        }
        match self.https.client(decision.upstream_tls()) {
            Ok(pool) => PoolFor::Https(pool),
            Err(e) => {
                tracing::warn!(server = server.name(), error = %e, "no TLS toward the server");
                PoolFor::NoTls
            }
        }
    }

    /// The request to the decision's server, on the pool for its scheme. The connection comes
    /// first, so that a server refusing it hands the request back as it came, for another
    /// decision ([`Answer::Refused`]), and no copy of it is kept just in case.
    async fn forward_on<C>(
        &self,
        pool: &Arc<Upstream<C>>,
        mut req: Request<UpstreamBody>,
        peer: SocketAddr,
        exchange: &Exchange,
    ) -> Answer
    where
        C: Connector,
    {
        let decision = exchange.decision();
        let Some(server) = decision.server() else {
            return Answer::Done(own(
                StatusCode::SERVICE_UNAVAILABLE,
                "no server available\n",
            ));
        };
        let upstream_failed = |e: &UpstreamError| {
            // The whole chain: "could not connect" alone does not say that the certificate
            // was refused, nor why.
            tracing::warn!(server = server.name(), error = %causes(e), "upstream failed");
            if e.is_connect() {
                self.mark_down_if_checked(decision, server.name());
            }
            own(StatusCode::BAD_GATEWAY, "bad gateway\n")
        };
        let timed_out = || own(StatusCode::GATEWAY_TIMEOUT, "upstream timed out\n");
        let timeout = self.options.response_timeout;
        // A kept connection is taken at once; only a new one is waited for, with a timer. The
        // pool's futures boxed: they are large, and a future holding them inline is copied
        // whole each time it moves (into its parent, into the connection's slot).
        let conn = match pool.kept(server.uri()) {
            Some(conn) => conn,
            None => match tokio::time::timeout(timeout, Box::pin(pool.open(server.uri()))).await {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) if e.is_connect() => {
                    return Answer::Refused(upstream_failed(&e), Box::new(req));
                }
                Ok(Err(e)) => return Answer::Done(upstream_failed(&e)),
                Err(_) => return Answer::Done(timed_out()),
            },
        };
        // A protocol upgrade (WebSocket): its two hop-by-hop headers are what it is about,
        // so they go through, and once the server agrees (101) the two connections are joined.
        // Other upgrades (h2c) are dropped with the hop-by-hop headers. Which go through is
        // the configuration's `upgrade_protocols`, from the table this decision was made on.
        let upgrade = strict::upgrade(req.headers(), decision.upgrade_protocols());
        let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));
        if let Err(e) = exchange.rewrite_request(&mut req) {
            tracing::warn!(error = %e, route = decision.route(), "path rewrite failed");
            return Answer::Done(own(StatusCode::INTERNAL_SERVER_ERROR, "bad path rewrite\n"));
        }
        let proto = if req.extensions().get::<ClientTls>().is_some() {
            "https"
        } else {
            "http"
        };
        let (mut parts, body) = req.into_parts();
        // The host the client asked for, as a header value: `Host`'s own (shared, not copied)
        // on HTTP/1, the `:authority` on HTTP/2.
        let client_host = match parts.uri.authority() {
            Some(a) => HeaderValue::from_str(a.as_str()).ok(),
            None => parts.headers.get(header::HOST).cloned(),
        };
        let (Some(target), Some(server_host)) = (
            upstream_target(server.uri(), &parts.uri),
            server.uri().authority(),
        ) else {
            return Answer::Done(own(StatusCode::BAD_GATEWAY, "bad upstream address\n"));
        };
        // HTTP/1 upstream: the Host header names either the client's host or the server's.
        let host = match (decision.pass_host_header(), &client_host) {
            (Some(true), Some(client)) => client.as_bytes(),
            _ => server_host.as_str().as_bytes(),
        };
        let forwarding = headers::Forwarding {
            host,
            peer: peer.ip(),
            proto,
            client_host: client_host.as_ref().map(HeaderValue::as_bytes),
            upgrade: upgrade.as_ref().map(HeaderValue::as_bytes),
        };
        // The connection knows its server: the request carries the target alone.
        parts.uri = Uri::from(target);
        parts.version = http::Version::HTTP_11;
        let upstream = Request::from_parts(parts, body);
        let sent = Box::pin(conn.forward(upstream, &forwarding));
        let response = match tokio::time::timeout(timeout, sent).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return Answer::Done(upstream_failed(&e)),
            Err(_) => return Answer::Done(timed_out()),
        };
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let (parts, body) = response.into_parts();
            return Answer::Done(match (client_upgrade, body.into_upgraded()) {
                (Some(client), Some(upstream)) => {
                    switch_protocols(parts, client, upstream, server.name().to_owned())
                }
                // A switch the client did not ask for.
                _ => {
                    tracing::warn!(server = server.name(), "unasked-for 101 from the server");
                    own(StatusCode::BAD_GATEWAY, "bad gateway\n")
                }
            });
        }
        // Its hop-by-hop headers were left out as its head was read (`h1::Head`).
        let (mut parts, body) = response.into_parts();
        exchange.complete_response(&mut parts.headers);
        Answer::Done(Response::from_parts(parts, body.boxed()))
    }
}

impl Proxy {
    /// A server that refuses connections is marked down at once, so that the next requests
    /// go elsewhere rather than waiting for its health check's next turn; only when its
    /// backend has a `health_check`, which brings it back when it recovers (without one,
    /// nothing would).
    fn mark_down_if_checked(&self, decision: &Decision, server: &str) {
        let Some(backend) = decision.backend() else {
            return;
        };
        let checked = self
            .router
            .snapshot()
            .config()
            .backends
            .iter()
            .any(|b| b.name == backend && b.health_check.is_some());
        if checked && let Ok(true) = self.router.set_health(backend, server, false) {
            tracing::warn!(
                backend,
                server,
                "connection refused: marked down until its health check passes"
            );
        }
    }
}

/// Answers the client's upgrade with the server's 101 and joins the two upgraded connections
/// in a task of their own (it outlives this request, as a WebSocket does).
fn switch_protocols<T>(
    mut parts: http::response::Parts,
    client_upgrade: hyper::upgrade::OnUpgrade,
    mut upstream: Replay<T>,
    server: String,
) -> Response<ProxyBody>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let protocol = headers::upgrade_protocol(&parts.headers);
    tokio::spawn(async move {
        let client = match client_upgrade.await {
            Ok(client) => client,
            Err(e) => {
                tracing::debug!(server, error = %e, "upgrade not completed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!(server, error = %e, "upgraded connection ended with an error");
        }
    });
    headers::strip_hop_by_hop(&mut parts.headers);
    if let Some(protocol) = protocol {
        headers::ask_upgrade(&mut parts.headers, protocol);
    }
    Response::from_parts(
        parts,
        http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed(),
    )
}

/// The target the server is sent: its path prefix (if its URL has one) and the request's
/// path and query. `None` when they do not make one (never a panic).
fn upstream_target(server: &Uri, request: &Uri) -> Option<PathAndQuery> {
    let base = server.path().trim_end_matches('/');
    if base.is_empty() {
        // Shared with the request's, not copied.
        return Some(
            request
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
        );
    }
    let pq = request.path_and_query().map_or("/", |pq| pq.as_str());
    PathAndQuery::try_from(format!("{base}{pq}")).ok()
}

/// An error and its sources, `: `-separated.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// A whole body of bytes, as the proxy's body type.
fn full(bytes: Bytes) -> ProxyBody {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

/// A response the proxy writes itself.
pub(crate) fn own(status: StatusCode, text: impl Into<Bytes>) -> Response<ProxyBody> {
    let mut response = Response::new(full(text.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_upstream_target_joins_the_servers_prefix_and_the_requests_path() {
        let cases = [
            ("http://s:8080", "/a/b?x=1", "/a/b?x=1"),
            ("http://s:8080/", "/a", "/a"),
            ("http://s/base/", "/a?q", "/base/a?q"),
            ("http://s", "http://client.example/p?q", "/p?q"),
            ("http://s", "http://client.example", "/"),
        ];
        for (server, request, want) in cases {
            let got = upstream_target(&server.parse().unwrap(), &request.parse().unwrap());
            assert_eq!(got.unwrap().as_str(), want, "{server} + {request}");
        }
    }
}
