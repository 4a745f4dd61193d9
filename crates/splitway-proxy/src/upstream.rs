//! The pooled HTTP/1.1 connections to the servers, over a connector: plain TCP, or TLS on top
//! of it ([`crate::upstream_tls`]).
//!
//! [`Upstream::connection`] takes the server's most recently used idle connection (or opens
//! one) before the request is built, so that a server refusing it leaves the request as it
//! came (to be decided again); [`Connection::send`] sends the request on it, and the
//! response body gives the connection back once it has been read to the end; a body dropped
//! before its end closes the connection (hyper cannot reuse it). A connection idle for longer
//! than the idle timeout is never used again: it is closed when next met, or when a newer one
//! comes back to the same server. A request that a reused connection closed before taking
//! (the server timed it out meanwhile) is sent on another, as nothing of it was sent.
//!
//! It does the job of hyper-util's pooled client with less per request: the pool's key is
//! hashed with FNV rather than SipHash, nothing is spawned per request to wait for the body's
//! end, and there is no checkout future racing a connect.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::hash::{BuildHasherDefault, Hasher};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Request, Response, Uri, header};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::rt::{Read, Write};
use tokio::time::Instant;
use tower_service::Service;

type BoxError = Box<dyn StdError + Send + Sync>;

/// What a pool connects with: a service from a server's URI to a byte stream (hyper-util's
/// `HttpConnector`, or the TLS connector on top of it). One name for the bounds.
pub(crate) trait Connector:
    Service<
        Uri,
        Response: Read + Write + Unpin + Send + 'static,
        Future: Send + 'static,
        Error: Into<BoxError>,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<C> Connector for C where
    C: Service<
            Uri,
            Response: Read + Write + Unpin + Send + 'static,
            Future: Send + 'static,
            Error: Into<BoxError>,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// Why a request got no response from its server.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// No connection: refused, not accepted within the connect timeout, or its TLS handshake
    /// failed. Nothing was sent.
    #[error("could not connect")]
    Connect(#[source] BoxError),
    /// The connection failed while the request was sent or its response head read.
    #[error("the request failed")]
    Request(#[source] hyper::Error),
    /// The request's URI names no scheme and authority.
    #[error("no server in the request's URI")]
    NoServer,
}

impl UpstreamError {
    /// Whether nothing was sent because no connection could be made.
    pub(crate) fn is_connect(&self) -> bool {
        matches!(self, UpstreamError::Connect(_))
    }
}

/// The pool's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolSettings {
    /// How long an idle connection may be used again.
    pub(crate) idle_timeout: Duration,
    /// Most idle connections kept per server.
    pub(crate) max_idle_per_server: usize,
}

/// A server, as the pool knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key(Scheme, Authority);

/// An idle connection and since when.
struct Idle<B> {
    sender: SendRequest<B>,
    since: Instant,
}

/// The connections to every server reached through one connector.
pub(crate) struct Upstream<C, B> {
    connector: C,
    settings: PoolSettings,
    idle: Mutex<HashMap<Key, Vec<Idle<B>>, BuildHasherDefault<Fnv>>>,
}

impl<C, B> std::fmt::Debug for Upstream<C, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<C, B> Upstream<C, B> {
    pub(crate) fn new(connector: C, settings: PoolSettings) -> Self {
        Upstream {
            connector,
            settings,
            idle: Mutex::new(HashMap::default()),
        }
    }

    /// The most recently used idle connection to `key` still open and within the idle
    /// timeout; older or closed ones met on the way are dropped.
    fn checkout(&self, key: &Key) -> Option<SendRequest<B>> {
        let mut idle = self.idle.lock().ok()?;
        let stack = idle.get_mut(key)?;
        let now = Instant::now();
        while let Some(conn) = stack.pop() {
            if !conn.sender.is_closed()
                && now.duration_since(conn.since) < self.settings.idle_timeout
            {
                return Some(conn.sender);
            }
        }
        None
    }

    /// Gives back a connection whose response was read to the end.
    fn give_back(&self, key: Key, sender: SendRequest<B>) {
        if sender.is_closed() {
            return;
        }
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        let stack = idle.entry(key).or_default();
        let now = Instant::now();
        // The oldest are first: those past the idle timeout go (closing them).
        let expired = stack
            .iter()
            .take_while(|conn| now.duration_since(conn.since) >= self.settings.idle_timeout)
            .count();
        stack.drain(..expired);
        if stack.len() < self.settings.max_idle_per_server {
            stack.push(Idle { sender, since: now });
        }
    }
}

impl<C, B> Upstream<C, B>
where
    C: Connector,
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// Sends `req` (its URI absolute: the server's scheme and authority, then the path) and
    /// reads the response head: [`Upstream::connection`] then [`Connection::send`].
    pub(crate) async fn request(
        self: &Arc<Self>,
        req: Request<B>,
    ) -> Result<Response<PooledBody<C, B>>, UpstreamError> {
        let server = req.uri().clone();
        self.connection(&server).await?.send(req).await
    }

    /// A connection to the server that `server` (a URI) names: the most recently used idle
    /// one, or a new one. Taken before the request is made, so that a server refusing it
    /// leaves the request untouched.
    pub(crate) async fn connection(
        self: &Arc<Self>,
        server: &Uri,
    ) -> Result<Connection<C, B>, UpstreamError> {
        let (Some(scheme), Some(authority)) = (server.scheme(), server.authority()) else {
            return Err(UpstreamError::NoServer);
        };
        let key = Key(scheme.clone(), authority.clone());
        let (sender, reused) = match self.checkout(&key) {
            Some(sender) => (sender, true),
            None => (self.connect(server).await?, false),
        };
        Ok(Connection {
            pool: Arc::clone(self),
            key,
            server: server.clone(),
            sender,
            reused,
        })
    }

    /// A new connection to the server of `uri`, driven by a task of its own until it closes.
    async fn connect(&self, uri: &Uri) -> Result<SendRequest<B>, UpstreamError> {
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(|e| UpstreamError::Connect(e.into()))?;
        let io = connector
            .call(uri.clone())
            .await
            .map_err(|e| UpstreamError::Connect(e.into()))?;
        let (sender, conn) = http1::handshake(io)
            .await
            .map_err(|e| UpstreamError::Connect(e.into()))?;
        let server = uri.authority().map(ToString::to_string).unwrap_or_default();
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(server, error = %e, "connection to the server ended with an error");
            }
        });
        Ok(sender)
    }
}

/// A connection to one server, for one request.
pub(crate) struct Connection<C, B> {
    pool: Arc<Upstream<C, B>>,
    key: Key,
    /// The server's URI, for another connection if this one closes before taking the request.
    server: Uri,
    sender: SendRequest<B>,
    /// Taken from the idle ones (which the server may have closed meanwhile).
    reused: bool,
}

impl<C, B> Connection<C, B>
where
    C: Connector,
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// Sends `req` and reads the response head. Its URI is sent in origin form (the path and
    /// query); `Host` is the server's authority unless the request has one. A reused
    /// connection that closed before taking the request is replaced by another (nothing was
    /// sent); a connection failing after that is an error.
    pub(crate) async fn send(
        mut self,
        mut req: Request<B>,
    ) -> Result<Response<PooledBody<C, B>>, UpstreamError> {
        if !req.headers().contains_key(header::HOST)
            && let Ok(host) = HeaderValue::from_str(self.key.1.as_str())
        {
            req.headers_mut().insert(header::HOST, host);
        }
        // HTTP/1 to a server (not a proxy): the origin form.
        let origin = req
            .uri()
            .path_and_query()
            .map_or_else(|| Uri::from_static("/"), |pq| Uri::from(pq.clone()));
        *req.uri_mut() = origin;
        loop {
            if let Err(e) = self.sender.ready().await {
                if !self.reused {
                    return Err(UpstreamError::Request(e));
                }
                self = self.pool.connection(&self.server).await?;
                continue;
            }
            match self.sender.try_send_request(req).await {
                Ok(response) => {
                    let home = Home {
                        pool: self.pool,
                        key: self.key,
                        sender: self.sender,
                    };
                    return Ok(response.map(|body| PooledBody {
                        body,
                        home: Some(home),
                    }));
                }
                Err(mut e) => match e.take_message() {
                    // Not taken by a connection that was closing: another one.
                    Some(back) if self.reused => {
                        req = back;
                        self = self.pool.connection(&self.server).await?;
                    }
                    _ => return Err(UpstreamError::Request(e.into_error())),
                },
            }
        }
    }
}

/// Where a connection goes back once its response body has been read.
struct Home<C, B> {
    pool: Arc<Upstream<C, B>>,
    key: Key,
    sender: SendRequest<B>,
}

/// A response body from a server; read to its end, it gives its connection back to the pool.
pub(crate) struct PooledBody<C, B> {
    body: Incoming,
    home: Option<Home<C, B>>,
}

impl<C, B> std::fmt::Debug for PooledBody<C, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledBody")
            .field("body", &self.body)
            .field("pooled", &self.home.is_some())
            .finish()
    }
}

impl<C, B> PooledBody<C, B> {
    fn give_back(&mut self) {
        if let Some(home) = self.home.take() {
            home.pool.give_back(home.key, home.sender);
        }
    }
}

impl<C, B> Drop for PooledBody<C, B> {
    fn drop(&mut self) {
        // A body with nothing left to read (none at all, or read to the end) frees its
        // connection; one dropped before its end leaves hyper to close it.
        if self.body.is_end_stream() {
            self.give_back();
        }
    }
}

impl<C, B> Body for PooledBody<C, B> {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.give_back();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The 64-bit FNV-1a hash: a few instructions a byte for the pool's short keys, where
/// SipHash's set-up and finish cost more than the key.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::{BodyExt, Empty, Full};
    use hyper::service::service_fn;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpListener;
    use tokio::task::JoinHandle;

    use super::*;

    /// A server on 127.0.0.1 that counts the connections it accepted and answers each request
    /// with a 64 KiB body; `/close` answers with `Connection: close`. With `hang_up`, it closes
    /// a connection that sends no request for that long, without a word (as servers' keep-alive
    /// timeouts do). Stopped when dropped.
    struct Server {
        uri: String,
        accepted: Arc<AtomicUsize>,
        task: JoinHandle<()>,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    async fn start_server(hang_up: Option<Duration>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&accepted);
        let task = tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let service = service_fn(|req: Request<Incoming>| async move {
                        let mut response =
                            Response::new(Full::new(Bytes::from(vec![b'x'; 65_536])));
                        if req.uri().path() == "/close" {
                            response
                                .headers_mut()
                                .insert(header::CONNECTION, HeaderValue::from_static("close"));
                        }
                        Ok::<_, Infallible>(response)
                    });
                    let mut builder = hyper::server::conn::http1::Builder::new();
                    if let Some(after) = hang_up {
                        builder
                            .timer(hyper_util::rt::TokioTimer::new())
                            .header_read_timeout(after);
                    }
                    let conn = builder.serve_connection(TokioIo::new(tcp), service);
                    let _ = conn.await;
                });
            }
        });
        Server {
            uri,
            accepted,
            task,
        }
    }

    fn new_pool(idle_timeout: Duration) -> Arc<Upstream<HttpConnector, Empty<Bytes>>> {
        Arc::new(Upstream::new(
            HttpConnector::new(),
            PoolSettings {
                idle_timeout,
                max_idle_per_server: 4,
            },
        ))
    }

    fn get(server: &Server, path: &str) -> Request<Empty<Bytes>> {
        Request::get(format!("{}{path}", server.uri))
            .body(Empty::new())
            .unwrap()
    }

    /// Sends a GET and reads the whole body; its length.
    async fn fetch(
        pool: &Arc<Upstream<HttpConnector, Empty<Bytes>>>,
        req: Request<Empty<Bytes>>,
    ) -> usize {
        let response = pool.request(req).await.unwrap();
        assert_eq!(response.status(), 200);
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .len()
    }

    #[tokio::test]
    async fn bodies_read_to_the_end_give_their_connection_back() {
        let server = start_server(None).await;
        let pool = new_pool(Duration::from_secs(30));
        for _ in 0..5 {
            assert_eq!(fetch(&pool, get(&server, "/")).await, 65_536);
        }
        assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
        // A body dropped before its end: that connection is not used again.
        let response = pool.request(get(&server, "/")).await.unwrap();
        drop(response);
        assert_eq!(fetch(&pool, get(&server, "/")).await, 65_536);
        assert_eq!(server.accepted.load(Ordering::SeqCst), 2);
        // Two at once: two connections, both kept, then both reused.
        let (a, b) = tokio::join!(
            fetch(&pool, get(&server, "/")),
            fetch(&pool, get(&server, "/"))
        );
        assert_eq!((a, b), (65_536, 65_536));
        let before = server.accepted.load(Ordering::SeqCst);
        let (a, b) = tokio::join!(
            fetch(&pool, get(&server, "/")),
            fetch(&pool, get(&server, "/"))
        );
        assert_eq!((a, b), (65_536, 65_536));
        assert_eq!(server.accepted.load(Ordering::SeqCst), before);
    }

    #[tokio::test]
    async fn closed_and_idle_connections_are_replaced_without_an_error() {
        let server = start_server(None).await;
        let pool = new_pool(Duration::from_millis(300));
        // The server closes after each answer: every request a new connection, none failing.
        for _ in 0..3 {
            assert_eq!(fetch(&pool, get(&server, "/close")).await, 65_536);
        }
        assert_eq!(server.accepted.load(Ordering::SeqCst), 3);
        // Past the idle timeout, a kept connection is not used again.
        assert_eq!(fetch(&pool, get(&server, "/")).await, 65_536);
        assert_eq!(fetch(&pool, get(&server, "/")).await, 65_536);
        assert_eq!(server.accepted.load(Ordering::SeqCst), 4);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(fetch(&pool, get(&server, "/")).await, 65_536);
        assert_eq!(server.accepted.load(Ordering::SeqCst), 5);

        // A server that hangs up on idle connections: the next request goes on a new one.
        let hanging = start_server(Some(Duration::from_millis(100))).await;
        let kept = new_pool(Duration::from_secs(30));
        for round in 1..=3 {
            assert_eq!(fetch(&kept, get(&hanging, "/")).await, 65_536);
            assert_eq!(hanging.accepted.load(Ordering::SeqCst), round);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error_and_a_relative_uri_no_server() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let pool = new_pool(Duration::from_secs(30));
        let req = Request::get(format!("http://{addr}/"))
            .body(Empty::new())
            .unwrap();
        let e = pool.request(req).await.expect_err("nothing listens");
        assert!(e.is_connect(), "{e:?}");
        let relative = Request::get("/only-a-path").body(Empty::new()).unwrap();
        let e = pool.request(relative).await.expect_err("no server");
        assert!(matches!(e, UpstreamError::NoServer), "{e:?}");
    }
}
