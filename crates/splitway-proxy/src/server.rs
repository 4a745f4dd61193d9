//! Accepting connections: HTTP/1.1 with keep-alive and protocol upgrades (WebSocket), or
//! HTTP/2 with prior knowledge (h2c); or either inside TLS ([`serve_tls`], the handshake done
//! by [`crate::tls`] before the same connection handling); one task per connection, and a
//! graceful stop that lets requests in flight finish. HTTP/1.1 is the proxy's own codec's
//! (`h1_server`) until a request it leaves to hyper's server (a streamed body, an
//! upgrade, a malformed head), which serves the connection from there; HTTP/2 is hyper's.
//!
//! What a client may hold is bounded ([`Limits`]): at most `max_connections` connections
//! (past it nothing more is accepted until one closes: one semaphore permit a connection,
//! held by the socket itself so that an upgraded connection keeps its own); a connection must
//! show its protocol within `handshake_timeout` (the whole HTTP/2 preface and first SETTINGS
//! frame, or a first byte of HTTP/1), send each HTTP/1 head within `header_read_timeout`, and
//! is closed after `idle_timeout` with nothing in flight: on hyper's codecs the proxy counts
//! the requests (HTTP/2 streams) it is answering, from the service call to the drop of the
//! response body, since hyper's own keep-alive pings only find a peer that stopped answering. Failed accepts back
//! off from 50 ms to 1 s and log at most one line a second, with the count of the others.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::forward::{ClientTls, Proxy, ProxyBody};
use crate::h1_server::{self, Served};
use crate::held::HeldBody;
use crate::limits::Limits;
use crate::replay::Replay;
use crate::tls::ServerTls;

/// Longest the graceful stop waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What an HTTP/2 client sends first (RFC 9113 section 3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The largest first SETTINGS frame read during the handshake: the default frame size.
const MAX_FIRST_SETTINGS: usize = 16_384;

/// Serves `proxy` on `listener` until `shutdown` completes, then stops accepting and waits (up
/// to 30 s) for the connections' requests in flight. The connection limits are those of the
/// proxy's [`Options::limits`](crate::Options::limits).
pub async fn serve(listener: TcpListener, proxy: Proxy, shutdown: impl Future<Output = ()>) {
    let permits = connection_permits(&proxy.options().limits);
    serve_sharing(
        listener,
        proxy,
        None,
        permits,
        AcceptLog::default(),
        shutdown,
    )
    .await;
}

/// One semaphore permit a client connection, up to `max_connections`.
pub(crate) fn connection_permits(limits: &Limits) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ))
}

/// [`serve`] (or [`serve_tls`] with `tls`), with the connection cap's permits and the
/// accept-failure log shared with other listeners (the workers').
pub(crate) async fn serve_sharing(
    listener: TcpListener,
    proxy: Proxy,
    tls: Option<ServerTls>,
    permits: Arc<Semaphore>,
    log: AcceptLog,
    shutdown: impl Future<Output = ()>,
) {
    let limits = proxy.options().limits.clone();
    // One proxy for every request, behind one reference count (a clone is four, and a copy of
    // its options).
    let proxy = Arc::new(proxy);
    let handle = move |req, peer| {
        let proxy = Arc::clone(&proxy);
        async move { proxy.handle(req, peer).await }
    };
    serve_with_permits(listener, limits, tls, permits, log, handle, shutdown).await;
}

/// [`serve`] over TLS only: each connection's TLS handshake first (the certificate chosen by
/// SNI, ALPN `h2` or `http/1.1`; [`crate::tls`]), within the handshake timeout, which also
/// bounds the protocol's first bytes after it.
pub async fn serve_tls(
    listener: TcpListener,
    proxy: Proxy,
    tls: ServerTls,
    shutdown: impl Future<Output = ()>,
) {
    let permits = connection_permits(&proxy.options().limits);
    serve_sharing(
        listener,
        proxy,
        Some(tls),
        permits,
        AcceptLog::default(),
        shutdown,
    )
    .await;
}

/// Serves one connection (any byte stream: a TLS one, an in-memory one) from `peer` until it
/// ends, with the proxy's limits on time and size; the caller bounds how many run at once.
pub async fn serve_connection<I>(io: I, peer: SocketAddr, proxy: Proxy)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = Arc::new(proxy.options().limits.clone());
    // Never asked to stop: the connection ends on its own (closed, idle, or failed).
    let (_keep, stopped) = watch::channel(false);
    let proxy = Arc::new(proxy);
    let handle = move |req, peer| {
        let proxy = Arc::clone(&proxy);
        async move { proxy.handle(req, peer).await }
    };
    connection(
        io,
        peer,
        handle,
        limits,
        None,
        stopped,
        tokio::time::Instant::now(),
    )
    .await;
}

/// The accept loop behind [`serve`] and [`serve_tls`] (and the admin listener): `handle`
/// answers each request.
pub(crate) async fn serve_with<H, F>(
    listener: TcpListener,
    limits: Limits,
    tls: Option<ServerTls>,
    handle: H,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Request<RequestBody>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<ProxyBody>> + Send + 'static,
{
    let permits = connection_permits(&limits);
    serve_with_permits(
        listener,
        limits,
        tls,
        permits,
        AcceptLog::default(),
        handle,
        shutdown,
    )
    .await;
}

/// [`serve_with`], the connection cap's `permits` given (shared by several listeners).
async fn serve_with_permits<H, F>(
    listener: TcpListener,
    limits: Limits,
    tls: Option<ServerTls>,
    permits: Arc<Semaphore>,
    log: AcceptLog,
    handle: H,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Request<RequestBody>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<ProxyBody>> + Send + 'static,
{
    let limits = Arc::new(limits);
    let (stop, stopped) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut errors = AcceptErrors { delay: None, log };
    tokio::pin!(shutdown);
    loop {
        // A free place first: at the cap, the loop waits here (the kernel's backlog holds the
        // next clients) rather than accepting and dropping.
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => {
                    errors.recovered();
                    conn
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait, longer each time, rather
                    // than spin (and log as if each failure were news).
                    let Some(delay) = errors.failed(&e, Instant::now()) else {
                        continue;
                    };
                    drop(permit);
                    tokio::select! {
                        () = tokio::time::sleep(delay) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // Forget the connections that have ended.
        while connections.try_join_next().is_some() {}
        let (handle, limits, stopped) = (handle.clone(), Arc::clone(&limits), stopped.clone());
        match &tls {
            None => connections.spawn(connection(
                stream,
                peer,
                handle,
                limits,
                Some(permit),
                stopped,
                tokio::time::Instant::now(),
            )),
            Some(tls) => connections.spawn(tls_connection(
                tls.clone(),
                stream,
                peer,
                handle,
                limits,
                permit,
                stopped,
            )),
        };
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("requests still in flight after the drain timeout; stopping anyway");
        connections.abort_all();
    }
}

/// Failed accepts: how long to wait before the next, and whether to log this one.
#[derive(Debug, Default)]
struct AcceptErrors {
    /// The last wait; `None` after a success.
    delay: Option<Duration>,
    /// The log's rate, shared by the accept loops of one listening address (the workers'),
    /// so that the process logs at most one line a second whatever their number.
    log: AcceptLog,
}

/// When an accept failure was last logged, and how many were not logged since.
#[derive(Debug, Default, Clone)]
pub(crate) struct AcceptLog(Arc<std::sync::Mutex<LogState>>);

#[derive(Debug, Default)]
struct LogState {
    logged: Option<Instant>,
    suppressed: u64,
}

impl AcceptErrors {
    const FIRST_DELAY: Duration = Duration::from_millis(50);
    const MAX_DELAY: Duration = Duration::from_secs(1);
    const LOG_EVERY: Duration = Duration::from_secs(1);

    /// Records a failure at `now`; the wait before the next accept, or `None` when the error
    /// was one connection's (reset or aborted before it was accepted), not the listener's.
    fn failed(&mut self, error: &io::Error, now: Instant) -> Option<Duration> {
        if matches!(
            error.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionRefused
        ) {
            tracing::debug!(%error, "a connection failed before it was accepted");
            return None;
        }
        let delay = self
            .delay
            .map_or(Self::FIRST_DELAY, |d| (d * 2).min(Self::MAX_DELAY));
        self.delay = Some(delay);
        let mut log = match self.log.0.lock() {
            Ok(log) => log,
            Err(poisoned) => poisoned.into_inner(),
        };
        if log
            .logged
            .is_none_or(|at| now.duration_since(at) >= Self::LOG_EVERY)
        {
            tracing::warn!(
                %error,
                retry_in_ms = delay.as_millis(),
                suppressed = log.suppressed,
                "accept failed (suppressed: failures since the last such line, not logged)"
            );
            log.logged = Some(now);
            log.suppressed = 0;
        } else {
            log.suppressed += 1;
        }
        Some(delay)
    }

    /// An accept succeeded: the next failure waits the shortest time again (the log's rate
    /// stays bounded).
    fn recovered(&mut self) {
        self.delay = None;
    }
}

/// HTTP/1 or HTTP/2, as the connection preface told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

/// Reads the start of a connection until its protocol is known: any byte that leaves the
/// HTTP/2 preface makes it HTTP/1; the whole preface makes it HTTP/2, and then the client's
/// first frame is read too when it is the SETTINGS frame that must follow, so that the
/// handshake timeout covers it. Returns the bytes read, to be read again by the protocol;
/// `None` when the client closed first.
async fn sniff<I: AsyncRead + Unpin>(io: &mut I) -> io::Result<Option<(Protocol, BytesMut)>> {
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        if io.read_buf(&mut buf).await? == 0 {
            return Ok(None);
        }
        let seen = buf.len().min(H2_PREFACE.len());
        if buf.get(..seen) != H2_PREFACE.get(..seen) {
            return Ok(Some((Protocol::Http1, buf)));
        }
        if seen == H2_PREFACE.len() {
            break;
        }
    }
    // The frame header: 24-bit length, type (4: SETTINGS), flags, stream id.
    let header = H2_PREFACE.len() + 9;
    while buf.len() < header {
        if io.read_buf(&mut buf).await? == 0 {
            return Ok(None);
        }
    }
    let length = buf
        .get(H2_PREFACE.len()..H2_PREFACE.len() + 3)
        .map_or(usize::MAX, |b| {
            b.iter().fold(0, |n, &byte| (n << 8) | usize::from(byte))
        });
    let settings = buf.get(H2_PREFACE.len() + 3) == Some(&4);
    if settings && length <= MAX_FIRST_SETTINGS {
        buf.reserve(length);
        while buf.len() < header + length {
            if io.read_buf(&mut buf).await? == 0 {
                return Ok(None);
            }
        }
    }
    // Anything else is the HTTP/2 codec's to refuse.
    Ok(Some((Protocol::Http2, buf)))
}

/// A TLS connection: the TLS handshake, then the connection inside it, the protocol's first
/// bytes within what is left of the handshake timeout; each request marked [`ClientTls`].
async fn tls_connection<H, F>(
    tls: ServerTls,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    handle: H,
    limits: Arc<Limits>,
    permit: OwnedSemaphorePermit,
    stopped: watch::Receiver<bool>,
) where
    H: Fn(Request<RequestBody>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<ProxyBody>> + Send + 'static,
{
    let started = tokio::time::Instant::now();
    let Some(io) = tls.handshake(tcp, limits.handshake_timeout, peer).await else {
        return;
    };
    let handle = move |mut req: Request<RequestBody>, peer| {
        req.extensions_mut().insert(ClientTls);
        handle(req, peer)
    };
    connection(io, peer, handle, limits, Some(permit), stopped, started).await;
}

/// One connection, from the first byte to its end (or the stop); its protocol must show
/// within the handshake timeout from `started`.
async fn connection<I, H, F>(
    mut io: I,
    peer: SocketAddr,
    handle: H,
    limits: Arc<Limits>,
    permit: Option<OwnedSemaphorePermit>,
    stopped: watch::Receiver<bool>,
    started: tokio::time::Instant,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<RequestBody>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<ProxyBody>> + Send + 'static,
{
    let deadline = started + limits.handshake_timeout;
    let (protocol, read) = match tokio::time::timeout_at(deadline, sniff(&mut io)).await {
        Ok(Ok(Some(sniffed))) => sniffed,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "connection failed before its first request");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "no protocol handshake in time: closed");
            return;
        }
    };
    let ended = match protocol {
        Protocol::Http1 => {
            // The proxy's own codec first; hyper's from the first request it does not serve.
            let served = h1_server::serve(io, read, peer, &handle, &limits, stopped.clone());
            let (io, read) = match served.await {
                Served::Closed => return,
                Served::HandedOver(io, read) => (io, read),
            };
            let activity = Arc::new(Activity::new());
            let service = hyper_service(handle, peer, Arc::clone(&activity));
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_header_size(limits.max_header_bytes);
            // hyper's default is 100, kept on the stack; a different cap moves it to the heap.
            if limits.max_headers != 100 {
                builder.max_headers(limits.max_headers);
            }
            // The bytes read and not served put back in front, and the connection's place under
            // the cap, released when the stream is dropped (after an upgrade, by the upgraded
            // connection's task).
            let io = TokioIo::new(Replay::new(read, io).keeping(permit));
            let conn = builder.serve_connection(io, service).with_upgrades();
            drive(
                conn,
                |c| c.graceful_shutdown(),
                activity,
                &limits,
                stopped,
                peer,
            )
            .await
        }
        Protocol::Http2 => {
            let activity = Arc::new(Activity::new());
            let service = hyper_service(handle, peer, Arc::clone(&activity));
            let mut builder = http2::Builder::new(TokioExecutor::new());
            builder
                .timer(TokioTimer::new())
                .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
                .max_concurrent_streams(limits.h2_max_concurrent_streams)
                .max_pending_accept_reset_streams(limits.h2_max_pending_accept_reset_streams)
                .max_local_error_reset_streams(limits.h2_max_local_error_reset_streams);
            // The bytes `sniff` read put back in front, and the connection's place under the
            // cap, released when the stream is dropped.
            let io = TokioIo::new(Replay::new(read.freeze(), io).keeping(permit));
            let conn = builder.serve_connection(io, service);
            drive(
                conn,
                |c| c.graceful_shutdown(),
                activity,
                &limits,
                stopped,
                peer,
            )
            .await
        }
    };
    if let Err(e) = ended {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// `handle` as hyper's service, each request counted in `activity` (what the connection's
/// idle timeout watches) from the service call to the drop of its response body (or of the
/// call's future).
fn hyper_service<H, F>(
    handle: H,
    peer: SocketAddr,
    activity: Arc<Activity>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<HeldBody<ProxyBody, InFlight>>,
    Error = Infallible,
    Future: Send + 'static,
> + Send
+ 'static
where
    H: Fn(Request<RequestBody>, SocketAddr) -> F + Send + 'static,
    F: Future<Output = Response<ProxyBody>> + Send + 'static,
{
    service_fn(move |req: Request<Incoming>| {
        let guard = activity.enter();
        // Boxed once here, so that hyper moves a pointer into its slot, not the whole future.
        let response = Box::pin(handle(req.map(RequestBody::Streamed), peer));
        async move {
            let response = response.await;
            Ok::<_, Infallible>(response.map(|body| HeldBody { body, _held: guard }))
        }
    })
}

/// A request's body as the listener hands it on: read whole with its head (the proxy's own
/// HTTP/1 codec, [`crate::h1_server`]), or streamed by hyper's server.
pub(crate) enum RequestBody {
    /// All of it (`None`: there is none).
    Whole(Option<Bytes>),
    Streamed(Incoming),
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            RequestBody::Whole(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            RequestBody::Streamed(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Whole(data) => data.is_none(),
            RequestBody::Streamed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Whole(data) => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            RequestBody::Streamed(body) => body.size_hint(),
        }
    }
}

/// Runs a connection until it ends; when it has been idle for the idle timeout, or the stop
/// is asked, shuts it down gracefully (HTTP/2: GOAWAY; requests in flight finish) and waits
/// for that (an upgraded connection has already left it). After an idle GOAWAY, a client that
/// neither opens a stream nor lets the connection close (HTTP/2's graceful close waits for
/// the answer to a PING) is dropped once idle for the handshake timeout.
async fn drive<C>(
    conn: C,
    graceful: fn(Pin<&mut C>),
    activity: Arc<Activity>,
    limits: &Limits,
    mut stopped: watch::Receiver<bool>,
    peer: SocketAddr,
) -> hyper::Result<()>
where
    C: Future<Output = hyper::Result<()>>,
{
    tokio::pin!(conn);
    let idled = tokio::select! {
        ended = conn.as_mut() => return ended,
        () = activity.quiet_for(limits.idle_timeout, tokio::time::Instant::now()) => true,
        _ = stopped.wait_for(|stop| *stop) => false,
    };
    graceful(conn.as_mut());
    if !idled {
        // The stop: the drain timeout bounds it.
        return conn.await;
    }
    tracing::debug!(%peer, "idle: closing");
    tokio::select! {
        ended = conn.as_mut() => ended,
        () = activity.quiet_for(limits.handshake_timeout, tokio::time::Instant::now()) => {
            tracing::debug!(%peer, "still open after an idle close: dropped");
            Ok(())
        }
    }
}

/// What a connection's idle timeout watches: its requests in flight, and when the last one
/// ended. Plain atomics, so that a request's start and end cost no wake-up of the connection's
/// task (a channel would wake it twice a request, and re-arm its timer each time).
struct Activity {
    open: AtomicUsize,
    /// Milliseconds from `base` to the end of the last request (0: none yet).
    quiet_since_ms: AtomicU64,
    base: tokio::time::Instant,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            open: AtomicUsize::new(0),
            quiet_since_ms: AtomicU64::new(0),
            base: tokio::time::Instant::now(),
        }
    }

    /// Counts one request in flight until the guard drops.
    fn enter(self: &Arc<Self>) -> InFlight {
        self.open.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(self))
    }

    /// Completes once nothing has been in flight for `timeout`, counted from the end of the
    /// last request or from `from`, whichever is later. Its timer fires at most once a
    /// `timeout` while requests keep coming.
    async fn quiet_for(&self, timeout: Duration, from: tokio::time::Instant) {
        loop {
            let now = tokio::time::Instant::now();
            let deadline = if self.open.load(Ordering::Acquire) == 0 {
                let since =
                    self.base + Duration::from_millis(self.quiet_since_ms.load(Ordering::Acquire));
                since.max(from) + timeout
            } else {
                now + timeout
            };
            if deadline <= now {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// One request in flight on a connection, until dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        // The end time first, so that a count of zero is never read with an older one.
        let ended = u64::try_from(activity.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        activity.quiet_since_ms.fetch_max(ended, Ordering::AcqRel);
        activity.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_connection_is_quiet_a_timeout_after_its_last_request_ends() {
        use tokio::time::{Instant, sleep};
        let start = Instant::now();
        let activity = Arc::new(Activity::new());
        let timeout = Duration::from_secs(10);
        let requests = {
            let activity = Arc::clone(&activity);
            tokio::spawn(async move {
                // One request from 3 s to 25 s, longer than the timeout; then two that
                // overlap, from 30 s to 31 s and from 30.5 s to 32 s.
                sleep(Duration::from_secs(3)).await;
                let long = activity.enter();
                sleep(Duration::from_secs(22)).await;
                drop(long);
                sleep(Duration::from_secs(5)).await;
                let first = activity.enter();
                sleep(Duration::from_millis(500)).await;
                let second = activity.enter();
                sleep(Duration::from_millis(500)).await;
                drop(first);
                sleep(Duration::from_secs(1)).await;
                drop(second);
            })
        };
        activity.quiet_for(timeout, start).await;
        assert_eq!(start.elapsed(), Duration::from_secs(42));
        requests.await.unwrap();
        // Counted from `from` when that is later than the last request's end.
        let from = Instant::now();
        activity.quiet_for(Duration::from_secs(2), from).await;
        assert_eq!(from.elapsed(), Duration::from_secs(2));
    }

    fn logged_at(errors: &AcceptErrors) -> Option<Instant> {
        errors.log.0.lock().unwrap().logged
    }

    #[test]
    fn two_loops_sharing_a_log_log_once_a_second_between_them() {
        let log = AcceptLog::default();
        let mut a = AcceptErrors {
            delay: None,
            log: log.clone(),
        };
        let mut b = AcceptErrors {
            delay: None,
            log: log.clone(),
        };
        let emfile = io::Error::from_raw_os_error(24);
        let at = Instant::now();
        a.failed(&emfile, at);
        b.failed(&emfile, at + Duration::from_millis(10));
        a.failed(&emfile, at + Duration::from_millis(500));
        assert_eq!(logged_at(&a), Some(at));
        assert_eq!(log.0.lock().unwrap().suppressed, 2);
        b.failed(&emfile, at + Duration::from_millis(1000));
        assert_eq!(logged_at(&a), Some(at + Duration::from_millis(1000)));
        assert_eq!(log.0.lock().unwrap().suppressed, 0);
    }

    #[test]
    fn accept_failures_back_off_and_log_once_a_second() {
        let mut errors = AcceptErrors::default();
        let emfile = io::Error::from_raw_os_error(24);
        let start = Instant::now();
        let mut at = start;
        let mut delays = Vec::new();
        let mut logged = 0;
        // Ten seconds of failures, each after the wait the previous one asked for.
        while at.duration_since(start) < Duration::from_secs(10) {
            let before = logged_at(&errors);
            let delay = errors.failed(&emfile, at);
            if logged_at(&errors) != before {
                logged += 1;
            }
            let Some(delay) = delay else {
                panic!("EMFILE is the listener's")
            };
            delays.push(delay.as_millis());
            at += delay;
        }
        assert_eq!(delays.get(..6), Some(&[50, 100, 200, 400, 800, 1000][..]));
        // At 0, 50, 150, 350 and 750 ms, then once a second from 1.55 s to 9.55 s: 14
        // failures in ten seconds, and one line a second (the first five share one).
        assert_eq!(delays.len(), 14);
        assert_eq!(logged, 10);
        assert_eq!(errors.log.0.lock().unwrap().suppressed, 0);
        // A success starts the waits over.
        errors.recovered();
        assert_eq!(errors.failed(&emfile, at), Some(Duration::from_millis(50)));
        // One connection's failure is not the listener's: no wait.
        let reset = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(errors.failed(&reset, at), None);
    }
}
