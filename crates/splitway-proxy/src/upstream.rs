//! The pooled HTTP/1.1 connections to the servers, over a connector: plain TCP, or TLS on top
//! of it ([`crate::upstream_tls`]).
//!
//! [`Upstream::connection`] takes the server's most recently used idle connection (or opens
//! one) before the request is built, so that a server refusing it leaves the request as it
//! came (to be decided again); [`Connection::send`] writes the request and reads the response
//! head ([`Connection::forward`]: a client's request, the proxy's changes to its headers
//! written as its head is, [`crate::headers::Forwarding`]), and the response body, read to its
//! end, gives the connection back; a body dropped before its end closes it. A connection idle
//! for longer than the idle timeout is never used again: it is closed when next met, or when a
//! newer one comes back to the same server.
//!
//! Each connection is driven by the request that holds it, in that request's task: the head is
//! written from a buffer the connection keeps, the response is parsed out of another
//! ([`crate::h1`]), and the body's frames are slices of the bytes read. Nothing is spawned and
//! nothing crosses a channel (hyper's client connection is a task of its own, which each
//! request wakes through a channel and which sends the response back through another).
//!
//! A kept connection is not read while idle; whether its server closed it is looked at when it
//! is taken (a read that must not block). A request without a body that a reused connection
//! failed to take (the write failed, or the server closed it before answering: it timed the
//! connection out meanwhile) is sent again on another; only `GET`, `HEAD` and `OPTIONS` when
//! the write had gone through.
//!
//! The request body is sent before the response is read, as nginx does by default; a server
//! answering before the whole body is sent and closing is seen as a failed request.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::uri::{Authority, Scheme};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use hyper::body::{Body, Frame, SizeHint};
use hyper::rt::{Read, Write};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tower_service::Service;

use crate::h1::{self, Decoded, Decoder, RequestFraming};
use crate::headers::Forwarding;
use crate::replay::Replay;

type BoxError = Box<dyn StdError + Send + Sync>;

/// What a pool connects with: a service from a server's URI to a byte stream (hyper-util's
/// `HttpConnector`, or the TLS connector on top of it). One name for the bounds.
pub(crate) trait Connector:
    Service<
        Uri,
        Response: Read + Write + Unpin + Send + Sync + 'static,
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
            Response: Read + Write + Unpin + Send + Sync + 'static,
            Future: Send + 'static,
            Error: Into<BoxError>,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// The byte stream a connector gives, as tokio reads and writes it.
type Stream<C> = TokioIo<<C as Service<Uri>>::Response>;

/// Why a request got no response from its server.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// No connection: refused, not accepted within the connect timeout, or its TLS handshake
    /// failed. Nothing was sent.
    #[error("could not connect")]
    Connect(#[source] BoxError),
    /// The connection failed while the request was sent or its response head read, or the
    /// response head was not HTTP/1.1 as it must be.
    #[error("the request failed")]
    Request(#[source] BoxError),
    /// The request's URI names no scheme and authority.
    #[error("no server in the request's URI")]
    NoServer,
}

impl UpstreamError {
    /// Whether nothing was sent because no connection could be made.
    pub(crate) fn is_connect(&self) -> bool {
        matches!(self, UpstreamError::Connect(_))
    }

    fn request(e: impl Into<BoxError>) -> Self {
        UpstreamError::Request(e.into())
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

/// A server, as the pool knows it: its scheme and authority as written in the configuration,
/// compared byte for byte (`Authority`'s own comparison ignores case, a byte at a time, which
/// cost more than the rest of the lookup; two spellings of one host just pool apart).
#[derive(Debug, Clone)]
struct Key(Scheme, Authority);

impl Key {
    /// The server a URI names; `None` when it has no scheme or authority.
    fn of(server: &Uri) -> Option<Key> {
        Some(Key(server.scheme()?.clone(), server.authority()?.clone()))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.0 == other.0 && self.1.as_str() == other.1.as_str()
    }
}

impl Eq for Key {}

impl std::hash::Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_str().hash(state);
        self.1.as_str().hash(state);
    }
}

/// Bytes read from a connection at a time, at most.
const READ_SIZE: usize = 16 * 1024;

/// An open connection to a server and its two buffers.
struct Conn<T> {
    io: T,
    /// Bytes read and not used yet.
    read: BytesMut,
    /// The request head being written: kept until the response head, to be sent again on
    /// another connection should this one have been closed.
    write: Vec<u8>,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Conn<T> {
    fn new(io: T) -> Self {
        Conn {
            io,
            read: BytesMut::new(),
            write: Vec::new(),
        }
    }

    /// Reads what the server sent into `read`; `Ok(0)` at its end.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.read.capacity() - self.read.len() < READ_SIZE / 4 {
            self.read.reserve(READ_SIZE);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read)
    }

    async fn fill(&mut self) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_fill(cx)).await
    }

    /// Whether the server has neither closed the connection nor sent anything unasked while
    /// it was idle: a read that does not wait (tokio answers it from the readiness it keeps,
    /// without a system call, when nothing came).
    fn still_open(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        matches!(self.poll_fill(&mut cx), Poll::Pending)
    }
}

/// An idle connection and until when it may be used again (`None`: a timeout too long to
/// add to the clock, never).
struct Idle<T> {
    conn: Conn<T>,
    until: Option<Instant>,
}

/// The idle connections of each server, most recently used last.
type IdleByServer<T> = HashMap<Key, Vec<Idle<T>>, BuildHasherDefault<Fnv>>;

/// The connections to every server reached through one connector.
pub(crate) struct Upstream<C: Connector> {
    connector: C,
    settings: PoolSettings,
    idle: Mutex<IdleByServer<Stream<C>>>,
}

impl<C: Connector> std::fmt::Debug for Upstream<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<C: Connector> Upstream<C> {
    pub(crate) fn new(connector: C, settings: PoolSettings) -> Self {
        Upstream {
            connector,
            settings,
            idle: Mutex::new(HashMap::default()),
        }
    }

    /// The most recently used idle connection to `key` still open and within the idle
    /// timeout; older or closed ones met on the way are dropped.
    fn checkout(&self, key: &Key) -> Option<Conn<Stream<C>>> {
        let mut idle = self.idle.lock().ok()?;
        let stack = idle.get_mut(key)?;
        let now = Instant::now();
        while let Some(mut idle) = stack.pop() {
            if idle.until.is_none_or(|until| now < until) && idle.conn.still_open() {
                return Some(idle.conn);
            }
        }
        None
    }

    /// Gives back a connection whose response was read to the end.
    fn give_back(&self, key: Key, conn: Conn<Stream<C>>) {
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        let stack = idle.entry(key).or_default();
        let now = Instant::now();
        // The oldest are first: those past the idle timeout go (closing them).
        let expired = stack
            .iter()
            .take_while(|idle| idle.until.is_some_and(|until| until <= now))
            .count();
        stack.drain(..expired);
        if stack.len() < self.settings.max_idle_per_server {
            stack.push(Idle {
                conn,
                until: now.checked_add(self.settings.idle_timeout),
            });
        }
    }

    /// Sends `req` (its URI absolute: the server's scheme and authority, then the path) and
    /// reads the response head: [`Upstream::connection`] then [`Connection::send`].
    pub(crate) async fn request<B>(
        self: &Arc<Self>,
        req: Request<B>,
    ) -> Result<Response<PooledBody<C>>, UpstreamError>
    where
        B: Body + Unpin,
        B::Error: Into<BoxError>,
    {
        let server = req.uri().clone();
        self.connection(&server).await?.send(req).await
    }

    /// A connection to the server that `server` (a URI) names: the most recently used idle
    /// one ([`Upstream::kept`]), or a new one ([`Upstream::open`]). Taken before the request is
    /// made, so that a server refusing it leaves the request untouched.
    pub(crate) async fn connection(
        self: &Arc<Self>,
        server: &Uri,
    ) -> Result<Connection<C>, UpstreamError> {
        match self.kept(server) {
            Some(conn) => Ok(conn),
            None => self.open(server).await,
        }
    }

    /// The server's most recently used idle connection still open, if there is one: taken
    /// without waiting (the common case needs no timer).
    pub(crate) fn kept(self: &Arc<Self>, server: &Uri) -> Option<Connection<C>> {
        let key = Key::of(server)?;
        let conn = self.checkout(&key)?;
        Some(Connection {
            pool: Arc::clone(self),
            key,
            server: server.clone(),
            conn,
            reused: true,
        })
    }

    /// A new connection to the server that `server` names.
    pub(crate) async fn open(
        self: &Arc<Self>,
        server: &Uri,
    ) -> Result<Connection<C>, UpstreamError> {
        let key = Key::of(server).ok_or(UpstreamError::NoServer)?;
        let conn = self.connect(server).await?;
        Ok(Connection {
            pool: Arc::clone(self),
            key,
            server: server.clone(),
            conn,
            reused: false,
        })
    }

    /// A new connection to the server of `uri`.
    async fn connect(&self, uri: &Uri) -> Result<Conn<Stream<C>>, UpstreamError> {
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(|e| UpstreamError::Connect(e.into()))?;
        let io = connector
            .call(uri.clone())
            .await
            .map_err(|e| UpstreamError::Connect(e.into()))?;
        Ok(Conn::new(TokioIo::new(io)))
    }
}

/// A connection to one server, for one request.
pub(crate) struct Connection<C: Connector> {
    pool: Arc<Upstream<C>>,
    key: Key,
    /// The server's URI, for another connection if this one closes before taking the request.
    server: Uri,
    conn: Conn<Stream<C>>,
    /// Taken from the idle ones (which the server may have closed meanwhile).
    reused: bool,
}

/// How far a failed exchange got: whether the request may go again on another connection.
enum Failed {
    /// Writing the request failed: the server has not taken it.
    Write(io::Error),
    /// The server closed the connection (or reset it) before a byte of the response.
    Unanswered(io::Error),
    /// Any other failure: not sent again.
    Other(UpstreamError),
}

impl<C: Connector> Connection<C> {
    /// Sends `req` and reads the response head. Its URI is sent in origin form (the path and
    /// query); `Host` is the server's authority unless the request has one. A reused
    /// connection that closed before taking the request is replaced by another (see the
    /// module's documentation); a connection failing after that is an error.
    pub(crate) async fn send<B>(
        self,
        mut req: Request<B>,
    ) -> Result<Response<PooledBody<C>>, UpstreamError>
    where
        B: Body + Unpin,
        B::Error: Into<BoxError>,
    {
        if !req.headers().contains_key(header::HOST)
            && let Ok(host) = HeaderValue::from_str(self.key.1.as_str())
        {
            req.headers_mut().insert(header::HOST, host);
        }
        self.send_with(req, |headers, out| h1::header_lines(out, headers))
            .await
    }

    /// [`Connection::send`] for a client's request on its way to the server: its headers as
    /// `forwarding` changes them, written straight into the head.
    pub(crate) async fn forward<B>(
        self,
        req: Request<B>,
        forwarding: &Forwarding<'_>,
    ) -> Result<Response<PooledBody<C>>, UpstreamError>
    where
        B: Body + Unpin,
        B::Error: Into<BoxError>,
    {
        self.send_with(req, |headers, out| forwarding.write(headers, out))
            .await
    }

    /// Sends `req` with the header lines that `lines` writes from its headers.
    async fn send_with<B>(
        mut self,
        req: Request<B>,
        lines: impl FnOnce(&HeaderMap, &mut Vec<u8>),
    ) -> Result<Response<PooledBody<C>>, UpstreamError>
    where
        B: Body + Unpin,
        B::Error: Into<BoxError>,
    {
        let (mut parts, mut body) = req.into_parts();
        // HTTP/1 to a server (not a proxy): the origin form.
        let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let framing = RequestFraming::of(&parts.method, &body.size_hint());
        let bodiless = matches!(framing, RequestFraming::None | RequestFraming::Length(0));
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        let mut head = std::mem::take(&mut self.conn.write);
        head.clear();
        h1::encode_head(
            &mut head,
            &parts.method,
            target,
            |out| lines(&parts.headers, out),
            framing,
        );
        // Written: the request's map holds the response's headers next.
        let mut headers = std::mem::take(&mut parts.headers);
        loop {
            let failed = match self
                .conn
                .exchange(&head, &mut body, framing, &mut headers)
                .await
            {
                Ok(response) => {
                    self.conn.write = head;
                    return self.answered(&parts.method, response);
                }
                Err(failed) => failed,
            };
            match failed {
                Failed::Write(_) if self.reused && bodiless => {}
                Failed::Unanswered(_) if self.reused && bodiless && safe => {}
                Failed::Write(e) | Failed::Unanswered(e) => return Err(UpstreamError::request(e)),
                Failed::Other(e) => return Err(e),
            }
            // Rare: boxed, so that the request's future does not carry its room.
            self = Box::pin(self.pool.connection(&self.server)).await?;
        }
    }

    /// The response whose head came: its body reads the rest from this connection.
    fn answered(
        self,
        method: &Method,
        head: h1::Head,
    ) -> Result<Response<PooledBody<C>>, UpstreamError> {
        let upgrade = head.response.status() == StatusCode::SWITCHING_PROTOCOLS;
        let framing = head.framing(method).map_err(UpstreamError::request)?;
        let keep_alive = !upgrade && head.keep_alive;
        let body = PooledBody {
            decoder: Decoder::new(framing),
            home: keep_alive.then(|| (Arc::clone(&self.pool), self.key)),
            conn: Some(self.conn),
            upgrade,
        };
        Ok(head.response.map(|()| body))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Conn<T> {
    /// Writes `head` and the body, then reads up to the response head (past any 1xx but a
    /// 101), its headers put in `headers` ([`h1::parse_head`]).
    async fn exchange<B>(
        &mut self,
        head: &[u8],
        body: &mut B,
        framing: RequestFraming,
        headers: &mut HeaderMap,
    ) -> Result<h1::Head, Failed>
    where
        B: Body + Unpin,
        B::Error: Into<BoxError>,
    {
        self.io.write_all(head).await.map_err(Failed::Write)?;
        if !matches!(framing, RequestFraming::None | RequestFraming::Length(0)) {
            self.write_body(body, framing == RequestFraming::Chunked)
                .await
                .map_err(Failed::Other)?;
        }
        self.io.flush().await.map_err(Failed::Write)?;
        let mut answered = false;
        loop {
            match h1::parse_head(&mut self.read, headers) {
                Ok(Some(head))
                    if head.response.status().is_informational()
                        && head.response.status() != StatusCode::SWITCHING_PROTOCOLS =>
                {
                    // An interim answer (100 Continue, 103 Early Hints): the final one follows.
                    answered = true;
                    continue;
                }
                Ok(Some(head)) => return Ok(head),
                Ok(None) => {}
                Err(e) => return Err(Failed::Other(UpstreamError::request(e))),
            }
            let before = answered || !self.read.is_empty();
            match self.fill().await {
                Ok(0) if before => {
                    return Err(Failed::Other(UpstreamError::request(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection within the response head",
                    ))));
                }
                Ok(0) => {
                    return Err(Failed::Unanswered(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection without answering",
                    )));
                }
                Ok(_) => {}
                Err(e) if before => return Err(Failed::Other(UpstreamError::request(e))),
                Err(e) => return Err(Failed::Unanswered(e)),
            }
        }
    }

    /// Streams the request body: as it comes with `Content-Length`, else in chunks.
    async fn write_body<B>(&mut self, body: &mut B, chunked: bool) -> Result<(), UpstreamError>
    where
        B: Body + Unpin,
        B::Error: Into<BoxError>,
    {
        let mut line = Vec::with_capacity(20);
        let mut trailers = None;
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
        {
            let frame = frame.map_err(|e| UpstreamError::Request(e.into()))?;
            let mut data = match frame.into_data() {
                Ok(data) => data,
                Err(frame) => {
                    trailers = frame.into_trailers().ok();
                    continue;
                }
            };
            if !data.has_remaining() {
                continue;
            }
            if chunked {
                line.clear();
                h1::chunk_size_line(&mut line, data.remaining());
                self.io
                    .write_all(&line)
                    .await
                    .map_err(UpstreamError::request)?;
            }
            self.io
                .write_all_buf(&mut data)
                .await
                .map_err(UpstreamError::request)?;
            if chunked {
                self.io
                    .write_all(b"\r\n")
                    .await
                    .map_err(UpstreamError::request)?;
            }
        }
        if chunked {
            line.clear();
            line.extend_from_slice(b"0\r\n");
            for (name, value) in trailers.iter().flatten() {
                line.extend_from_slice(name.as_str().as_bytes());
                line.extend_from_slice(b": ");
                line.extend_from_slice(value.as_bytes());
                line.extend_from_slice(b"\r\n");
            }
            line.extend_from_slice(b"\r\n");
            self.io
                .write_all(&line)
                .await
                .map_err(UpstreamError::request)?;
        }
        Ok(())
    }
}

/// A response body from a server, read from its connection as it is polled; read to its end,
/// it gives the connection back to the pool (unless the server said it closes it).
pub(crate) struct PooledBody<C: Connector> {
    conn: Option<Conn<Stream<C>>>,
    decoder: Decoder,
    /// Where the connection goes once the body is done: `None` when it is not reusable.
    home: Option<(Arc<Upstream<C>>, Key)>,
    /// The server switched protocols (101): the connection is the upgraded stream's.
    upgrade: bool,
}

impl<C: Connector> std::fmt::Debug for PooledBody<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledBody")
            .field("decoder", &self.decoder)
            .field("pooled", &self.home.is_some())
            .finish()
    }
}

impl<C: Connector> PooledBody<C> {
    /// The connection, once the body is done: back to the pool when it can carry another
    /// request (nothing unread is left on it), else closed.
    fn done(&mut self) {
        let conn = self.conn.take();
        if let (Some(conn), Some((pool, key))) = (conn, self.home.take())
            && self.decoder.reusable()
            && conn.read.is_empty()
        {
            pool.give_back(key, conn);
        }
    }

    /// After a 101: the connection as a byte stream, with what the server sent after the
    /// head. `None` for any other response.
    pub(crate) fn into_upgraded(mut self) -> Option<Replay<Stream<C>>> {
        if !self.upgrade {
            return None;
        }
        let conn = self.conn.take()?;
        Some(Replay::new(conn.read.freeze(), conn.io))
    }
}

impl<C: Connector> Drop for PooledBody<C> {
    fn drop(&mut self) {
        // A body with nothing left to read (none at all, or read to the end) frees its
        // connection; one dropped before its end closes it.
        if self.decoder.is_done() && !self.upgrade {
            self.done();
        }
    }
}

impl<C: Connector> Body for PooledBody<C> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.upgrade {
            return Poll::Ready(None);
        }
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            let decoded = match this.decoder.decode(&mut conn.read) {
                Ok(decoded) => decoded,
                Err(e) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(e.into())));
                }
            };
            let frame = match decoded {
                Decoded::Data(data) => Frame::data(data),
                Decoded::Trailers(trailers) => Frame::trailers(trailers),
                Decoded::End => {
                    this.done();
                    return Poll::Ready(None);
                }
                Decoded::More => match ready!(conn.poll_fill(cx)) {
                    Ok(0) => {
                        let closed = this.decoder.closed();
                        this.conn = None;
                        return Poll::Ready(closed.err().map(|e| Err(e.into())));
                    }
                    Ok(_) => continue,
                    Err(e) => {
                        this.conn = None;
                        return Poll::Ready(Some(Err(e.into())));
                    }
                },
            };
            if this.decoder.is_done() {
                // Back to the pool before the data is even written to the client.
                this.done();
            }
            return Poll::Ready(Some(Ok(frame)));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.upgrade || self.decoder.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        self.decoder.size_hint()
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
    use tokio::io::AsyncWriteExt as _;

    use http_body_util::{BodyExt, Empty, Full};
    use hyper::body::Incoming;
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

    fn new_pool(idle_timeout: Duration) -> Arc<Upstream<HttpConnector>> {
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
    async fn fetch(pool: &Arc<Upstream<HttpConnector>>, req: Request<Empty<Bytes>>) -> usize {
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
            .body(Empty::<Bytes>::new())
            .unwrap();
        let e = pool.request(req).await.expect_err("nothing listens");
        assert!(e.is_connect(), "{e:?}");
        let relative = Request::get("/only-a-path")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let e = pool.request(relative).await.expect_err("no server");
        assert!(matches!(e, UpstreamError::NoServer), "{e:?}");
    }

    /// A server on 127.0.0.1 that answers from a script, byte for byte: for each request it
    /// reads (the whole of it: its head, and its body by `Content-Length` or to the last
    /// chunk) it writes the next answer, and closes the connection after one ending in
    /// `CLOSE`. It keeps what it read, and counts the connections.
    struct Scripted {
        uri: String,
        accepted: Arc<AtomicUsize>,
        received: Arc<Mutex<Vec<u8>>>,
        task: JoinHandle<()>,
    }

    impl Drop for Scripted {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    const CLOSE: &[u8] = b"CLOSE";

    async fn scripted(answers: Vec<&'static [u8]>) -> Scripted {
        use tokio::io::AsyncReadExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (counted, kept) = (Arc::clone(&accepted), Arc::clone(&received));
        let task = tokio::spawn(async move {
            let mut answers = answers.into_iter();
            'accept: loop {
                let (mut tcp, _) = listener.accept().await.unwrap();
                counted.fetch_add(1, Ordering::SeqCst);
                loop {
                    // One whole request.
                    let mut request = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !whole_request(&request) {
                        let n = tcp.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            continue 'accept;
                        }
                        request.extend_from_slice(&chunk[..n]);
                    }
                    kept.lock().unwrap().extend_from_slice(&request);
                    let Some(answer) = answers.next() else {
                        return;
                    };
                    let (answer, close) = match answer.strip_suffix(CLOSE) {
                        Some(answer) => (answer, true),
                        None => (answer, false),
                    };
                    tcp.write_all(answer).await.unwrap();
                    if close {
                        continue 'accept;
                    }
                }
            }
        });
        Scripted {
            uri,
            accepted,
            received,
            task,
        }
    }

    fn whole_request(bytes: &[u8]) -> bool {
        let text = String::from_utf8_lossy(bytes).to_ascii_lowercase();
        let Some(end) = text.find("\r\n\r\n") else {
            return false;
        };
        if text[..end].contains("transfer-encoding: chunked") {
            return text.ends_with("0\r\n\r\n");
        }
        let length = text[..end]
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |n| n.trim().parse::<usize>().unwrap());
        bytes.len() >= end + 4 + length
    }

    /// A body of unknown length (sent chunked), in the pieces given.
    struct Pieces(Vec<&'static str>);

    impl Body for Pieces {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if self.0.is_empty() {
                return Poll::Ready(None);
            }
            let piece = self.0.remove(0);
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(piece.as_bytes())))))
        }
    }

    /// The response's body and trailers, or the error reading it.
    async fn read_whole(
        response: Response<PooledBody<HttpConnector>>,
    ) -> Result<(Bytes, Option<http::HeaderMap>), BoxError> {
        let collected = response.into_body().collect().await?;
        let trailers = collected.trailers().cloned();
        Ok((collected.to_bytes(), trailers))
    }

    #[tokio::test]
    async fn each_framing_of_a_response_is_read_and_its_connection_reused_when_it_can_be() {
        let server = scripted(vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=y\r\n, w\r\n0\r\nX-Sum: 8\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nmade",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbyeCLOSE",
            b"HTTP/1.1 200 OK\r\n\r\nup to the closeCLOSE",
            b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nokCLOSE",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshortCLOSE",
        ])
        .await;
        let pool = new_pool(Duration::from_secs(30));
        let get = |path: &str| {
            Request::get(format!("{}{path}", server.uri))
                .body(Empty::<Bytes>::new())
                .unwrap()
        };
        let (body, trailers) = read_whole(pool.request(get("/chunked")).await.unwrap())
            .await
            .unwrap();
        assert_eq!(
            (&body[..], trailers.unwrap()["x-sum"].as_bytes()),
            (&b"hello, w"[..], &b"8"[..])
        );
        let response = pool.request(get("/continue")).await.unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(read_whole(response).await.unwrap().0, "made");
        let head = Request::head(format!("{}/head", server.uri))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = pool.request(head).await.unwrap();
        assert!(response.body().is_end_stream());
        assert_eq!(read_whole(response).await.unwrap().0, "");
        let response = pool.request(get("/none")).await.unwrap();
        assert_eq!(
            (response.status(), read_whole(response).await.unwrap().0),
            (StatusCode::NO_CONTENT, Bytes::new())
        );
        // Four answers on the first connection; the server then says it closes it.
        assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
        let body_of = async |req| {
            read_whole(pool.request(req).await.unwrap())
                .await
                .unwrap()
                .0
        };
        assert_eq!(body_of(get("/bye")).await, "bye");
        assert_eq!(body_of(get("/close")).await, "up to the close");
        assert_eq!(body_of(get("/old")).await, "ok");
        let short = read_whole(pool.request(get("/short")).await.unwrap()).await;
        assert!(
            short
                .unwrap_err()
                .to_string()
                .contains("closed before the body's end")
        );
        // Not reused after `Connection: close`, a close-delimited body, HTTP/1.0, a short body.
        assert_eq!(server.accepted.load(Ordering::SeqCst), 4);
        let received = String::from_utf8(server.received.lock().unwrap().clone()).unwrap();
        let host = server.uri.trim_start_matches("http://");
        assert!(
            received.starts_with(&format!(
                "GET /chunked HTTP/1.1\r\nhost: {host}\r\n\r\nGET /continue HTTP/1.1\r\n"
            )),
            "{received}"
        );
        assert!(received.contains("HEAD /head HTTP/1.1\r\n"));
    }

    #[tokio::test]
    async fn request_bodies_go_with_their_length_or_in_chunks() {
        let server = scripted(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ])
        .await;
        let pool = new_pool(Duration::from_secs(30));
        let fixed = Request::put(format!("{}/fixed", server.uri))
            .body(Full::new(Bytes::from_static(b"12345")))
            .unwrap();
        read_whole(pool.request(fixed).await.unwrap())
            .await
            .unwrap();
        let pieces = Request::post(format!("{}/pieces", server.uri))
            .body(Pieces(vec!["abc", "", "defgh"]))
            .unwrap();
        read_whole(pool.request(pieces).await.unwrap())
            .await
            .unwrap();
        let empty = Request::post(format!("{}/empty", server.uri))
            .body(Empty::<Bytes>::new())
            .unwrap();
        read_whole(pool.request(empty).await.unwrap())
            .await
            .unwrap();
        let host = server.uri.trim_start_matches("http://");
        let received = String::from_utf8(server.received.lock().unwrap().clone()).unwrap();
        assert_eq!(
            received,
            format!(
                "PUT /fixed HTTP/1.1\r\nhost: {host}\r\ncontent-length: 5\r\n\r\n12345\
                 POST /pieces HTTP/1.1\r\nhost: {host}\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n\
                 POST /empty HTTP/1.1\r\nhost: {host}\r\ncontent-length: 0\r\n\r\n"
            )
        );
        assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_malformed_response_head_is_an_error_and_not_retried() {
        let server = scripted(vec![
            b"HTTP/1.1 2000 Nope\r\n\r\nCLOSE",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!",
        ])
        .await;
        let pool = new_pool(Duration::from_secs(30));
        let req = Request::get(format!("{}/", server.uri))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let e = pool.request(req).await.expect_err("a bad status line");
        assert!(matches!(e, UpstreamError::Request(_)), "{e:?}");
        assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
    }
}
