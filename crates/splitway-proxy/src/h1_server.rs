//! HTTP/1.1 toward the clients, spoken by the proxy itself for the exchange that makes up
//! nearly all of its traffic: a request without a body or with one of up to 64 KiB (read
//! whole before the request goes on, within the head's timeout), answered by a response
//! written from a buffer the connection keeps. Any other request (a larger or chunked body,
//! `Expect`, an upgrade, `CONNECT`, a head past the limits or malformed) hands the connection,
//! with every byte read from that request on, to hyper's server ([`crate::server`]), which
//! serves it from there to its end as it serves every connection that starts with such a
//! request: the answers to the unusual and the broken (100-continue, a 101, the 400 to a
//! malformed head, the 431) are hyper's.
//!
//! The gain is in what is not done per request: the read buffer is reused (nothing grows it
//! while a request is in flight, so its header values, slices of the buffer, are gone before
//! it is next reserved); the header map of each response becomes the next request's; the
//! connection's future holds the request's own inline, moved nowhere; no timer is armed and
//! no task woken per request (the head's timer, one per connection, is moved only when it
//! fires early); the head and a body that is ready go out in one write. While a request is in
//! flight the connection is read only to see the client go (its request is then dropped, as
//! hyper drops it), and only into the room the buffer has.
//!
//! The timeouts are the listener's: a head (and a body waited for) must come whole within
//! `header_read_timeout` of the end of the previous response (as hyper counts it), and
//! nothing at all within `idle_timeout`; the graceful stop closes a connection waiting for a
//! head at once and one answering a request after its response, which then says
//! `Connection: close`.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, SystemTime};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Body;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::forward::ProxyBody;
use crate::h1;
use crate::headers;
use crate::limits::Limits;
use crate::server::RequestBody;

/// Most header fields a head parsed here may have; one with more goes to hyper's server,
/// which applies [`Limits::max_headers`].
const MAX_HEADERS: usize = 100;
/// Largest body waited for when it did not all come with its head (read whole before the
/// request is forwarded, as nginx reads bodies by default); a larger one goes to hyper's
/// server, which streams it.
const MAX_AWAITED_BODY: usize = 64 * 1024;
/// Largest buffer a connection keeps from one request to the next ([`trim`]).
const KEPT_BUFFER: usize = 16 * 1024;
/// What a read asks for at least.
const READ_SIZE: usize = 8 * 1024;
/// Body bytes gathered behind the head (or the previous frame) into one write, at most.
const WRITE_BATCH: usize = 64 * 1024;

/// How a connection served here ended.
pub(crate) enum Served<I> {
    /// Closed: by the client, after a response that closes it, a timeout, the stop or a
    /// failed write.
    Closed,
    /// A request this codec does not serve: the connection, and the bytes read from it from
    /// that request's first on, for hyper's server.
    HandedOver(I, Bytes),
}

/// Serves HTTP/1.1 on `io` (whose first bytes, read already, are `read`) with `handle`, until
/// the connection closes or a request needs hyper's server ([`Served::HandedOver`]).
pub(crate) async fn serve<I, H, F>(
    mut io: I,
    mut read: BytesMut,
    peer: SocketAddr,
    handle: &H,
    limits: &Limits,
    stopped: watch::Receiver<bool>,
) -> Served<I>
where
    I: AsyncRead + AsyncWrite + Unpin,
    H: Fn(Request<RequestBody>, SocketAddr) -> F,
    F: Future<Output = Response<ProxyBody>>,
{
    let mut write = Vec::new();
    let mut headers = HeaderMap::new();
    // Read after each response; the future below waits for the stop while a head is awaited.
    let peek = stopped.clone();
    let mut stopped = stopped;
    let stop = stopped.wait_for(|stop| *stop);
    tokio::pin!(stop);
    let mut waiting = Waiting {
        started: Instant::now(),
        idle: limits.idle_timeout.min(limits.header_read_timeout),
        head: limits.header_read_timeout,
    };
    let timer = tokio::time::sleep_until(waiting.deadline(false));
    tokio::pin!(timer);
    loop {
        let mut awaited = 0;
        let request = loop {
            let taken = if read.len() < awaited {
                Taken::Partial
            } else {
                take_request(&mut read, &mut headers, limits)
            };
            match taken {
                Taken::Request(request) => break request,
                Taken::Awaiting(bytes) => awaited = bytes,
                Taken::Other(head) => {
                    let mut all = BytesMut::with_capacity(head.len() + read.len());
                    all.extend_from_slice(&head);
                    all.extend_from_slice(&read);
                    return Served::HandedOver(io, all.freeze());
                }
                Taken::Partial => {}
            }
            if read.capacity() - read.len() < READ_SIZE / 4 {
                read.reserve(READ_SIZE);
            }
            let waited = std::future::poll_fn(|cx| {
                if let Poll::Ready(r) =
                    tokio_util::io::poll_read_buf(Pin::new(&mut io), cx, &mut read)
                {
                    return Poll::Ready(Waited::Read(r));
                }
                if stop.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Waited::Stopped);
                }
                // The timer may be set for an earlier wait: moved on, not fired, then.
                while timer.as_mut().poll(cx).is_ready() {
                    let deadline = waiting.deadline(!read.is_empty());
                    if deadline <= Instant::now() {
                        return Poll::Ready(Waited::TimedOut);
                    }
                    timer.as_mut().reset(deadline);
                }
                Poll::Pending
            })
            .await;
            match waited {
                Waited::Read(Ok(n)) if n > 0 => {}
                // Closed by the client (mid-head too: nothing to answer), or failed.
                Waited::Read(_) => return Served::Closed,
                Waited::Stopped | Waited::TimedOut => {
                    let _ = io.shutdown().await;
                    return Served::Closed;
                }
            }
        };
        let Exchange {
            request,
            keep_alive,
            head_only,
            http10,
        } = request;
        // The answer, unless the client goes first: its request is then dropped (and with it
        // the request to its server), as hyper's server drops it. Read only when nothing of a
        // next request is waiting, and only into the room the buffer has.
        let answering = handle(request, peer);
        tokio::pin!(answering);
        let answered = std::future::poll_fn(|cx| {
            if let Poll::Ready(response) = answering.as_mut().poll(cx) {
                return Poll::Ready(Some(response));
            }
            if read.is_empty() && read.capacity() > read.len() {
                match tokio_util::io::poll_read_buf(Pin::new(&mut io), cx, &mut read) {
                    Poll::Ready(Ok(0) | Err(_)) => return Poll::Ready(None),
                    Poll::Ready(Ok(_)) | Poll::Pending => {}
                }
            }
            Poll::Pending
        })
        .await;
        let Some(response) = answered else {
            tracing::debug!(%peer, "client gone before its response: request dropped");
            return Served::Closed;
        };
        let close = !keep_alive || *peek.borrow();
        write.clear();
        let reused = write_response(&mut io, &mut write, response, head_only, http10, close).await;
        match reused {
            Ok(Some(map)) => {
                headers = map;
                headers.clear();
            }
            Ok(None) => {
                let _ = io.shutdown().await;
                return Served::Closed;
            }
            Err(_) => return Served::Closed,
        }
        trim(&mut read, &mut write);
        waiting.started = Instant::now();
    }
}

/// Lets go of buffers that grew past [`KEPT_BUFFER`] (a large answer, an awaited body), so that
/// a connection waiting for its next request holds a few KiB whatever it served before.
fn trim(read: &mut BytesMut, write: &mut Vec<u8>) {
    if write.capacity() > KEPT_BUFFER {
        *write = Vec::new();
    }
    if read.is_empty() && read.capacity() > KEPT_BUFFER {
        *read = BytesMut::new();
    }
}

/// What the wait for a head ended with.
enum Waited {
    Read(io::Result<usize>),
    Stopped,
    TimedOut,
}

/// When the wait for the current head began, and how long it may last.
struct Waiting {
    started: Instant,
    /// With nothing of the head read yet: the idle timeout (or the head's, when shorter).
    idle: Duration,
    /// Once some of it came.
    head: Duration,
}

impl Waiting {
    fn deadline(&self, some_read: bool) -> Instant {
        let within = if some_read { self.head } else { self.idle };
        self.started + within
    }
}

/// A request taken from the read buffer, and what its head said about its connection.
struct Exchange {
    request: Request<RequestBody>,
    /// The client keeps the connection open after the response (HTTP/1.1 without
    /// `Connection: close`, HTTP/1.0 with `Connection: keep-alive`).
    keep_alive: bool,
    /// A `HEAD`: the response has no body, whatever its headers say.
    head_only: bool,
    /// An HTTP/1.0 client: no chunked response, and a kept connection said so.
    http10: bool,
}

/// What the read buffer held.
// Made and matched once a request, never stored: boxing the request would cost an
// allocation each time.
#[allow(clippy::large_enum_variant)]
enum Taken {
    Request(Exchange),
    /// Not a whole head yet.
    Partial,
    /// A whole head, not its whole body: nothing to look at before `read` holds this many
    /// bytes.
    Awaiting(usize),
    /// A request for hyper's server: its head, split off the buffer (what follows stays).
    Other(Bytes),
}

/// Takes the request at the start of `read` when its head (and its body, if any) is all
/// there and it is one this codec serves. Its header map is `headers` (cleared), which it
/// leaves empty.
fn take_request(read: &mut BytesMut, headers: &mut HeaderMap, limits: &Limits) -> Taken {
    let Some(len) = h1::head_end(read) else {
        return if read.len() > limits.max_header_bytes {
            Taken::Other(Bytes::new())
        } else {
            Taken::Partial
        };
    };
    if len > limits.max_header_bytes {
        return Taken::Other(Bytes::new());
    }
    let head = read.split_to(len).freeze();
    match parse(&head, read, headers, limits) {
        Some(Parsed::Request(exchange)) => Taken::Request(exchange),
        None => Taken::Other(head),
        Some(Parsed::Awaiting(body)) => {
            // The head goes back in front of what came of its body (a copy, on this path
            // alone), which is not looked at again until the whole body is there.
            let mut all = BytesMut::with_capacity(len + body);
            all.extend_from_slice(&head);
            all.extend_from_slice(read);
            *read = all;
            Taken::Awaiting(len + body)
        }
    }
}

/// What a whole head said.
// As `Taken`.
#[allow(clippy::large_enum_variant)]
enum Parsed {
    Request(Exchange),
    /// A body of this length that did not all come with its head.
    Awaiting(usize),
}

/// The request in `head`, its body split off `rest` (untouched unless it is served here);
/// `None` for a request for hyper's server.
fn parse(
    head: &Bytes,
    rest: &mut BytesMut,
    headers: &mut HeaderMap,
    limits: &Limits,
) -> Option<Parsed> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut []);
    let cap = limits.max_headers.min(MAX_HEADERS);
    let slots = slots.get_mut(..cap)?;
    match httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut parsed,
        head,
        slots,
    ) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return None,
    }
    let method = Method::from_bytes(parsed.method?.as_bytes()).ok()?;
    if method == Method::CONNECT {
        return None;
    }
    let http10 = parsed.version? == 0;
    let (mut close, mut keep) = (false, false);
    let mut length = None;
    for h in parsed.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            // A second one (even equal) is hyper's to judge.
            if length.is_some() {
                return None;
            }
            length = Some(h1::content_length(h.value)?);
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in h1::tokens(h.value) {
                if token.eq_ignore_ascii_case(b"upgrade") {
                    return None;
                }
                close |= token.eq_ignore_ascii_case(b"close");
                keep |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding")
            || name.eq_ignore_ascii_case(b"expect")
            || name.eq_ignore_ascii_case(b"upgrade")
        {
            return None;
        }
    }
    let length = usize::try_from(length.unwrap_or(0)).ok()?;
    if length > rest.len() {
        return (length <= MAX_AWAITED_BODY).then_some(Parsed::Awaiting(length));
    }
    let uri = Uri::from_maybe_shared(head.slice_ref(parsed.path?.as_bytes())).ok()?;
    headers.clear();
    headers.reserve(parsed.headers.len());
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        let value = HeaderValue::from_maybe_shared(head.slice_ref(h.value)).ok()?;
        headers.append(name, value);
    }
    let body = (length > 0).then(|| rest.split_to(length).freeze());
    let head_only = method == Method::HEAD;
    let mut request = Request::new(RequestBody::Whole(body));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = if http10 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    *request.headers_mut() = std::mem::take(headers);
    Some(Parsed::Request(Exchange {
        request,
        keep_alive: if http10 { keep } else { !close },
        head_only,
        http10,
    }))
}

/// How a response's body goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// None: the answer to a `HEAD`, a 1xx, 204 or 304.
    Empty,
    /// This many bytes, said by `Content-Length`.
    Length(u64),
    /// In chunks (HTTP/1.1).
    Chunked,
    /// Until the connection closes (an HTTP/1.0 client, the length unknown).
    Close,
}

/// Writes `response`; the header map to use for the next request when the connection stays
/// open (`None`: it closes). `close`: it closes after this response, whatever the response
/// says.
async fn write_response<I: AsyncWrite + Unpin>(
    io: &mut I,
    out: &mut Vec<u8>,
    response: Response<ProxyBody>,
    head_only: bool,
    http10: bool,
    close: bool,
) -> io::Result<Option<HeaderMap>> {
    let (parts, mut body) = response.into_parts();
    let status = parts.status;
    let told = told_length(&parts.headers);
    let framing = if head_only
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        Framing::Empty
    } else if let Some(n) = told.or_else(|| body.size_hint().exact()) {
        Framing::Length(n)
    } else if http10 {
        Framing::Close
    } else {
        Framing::Chunked
    };
    let close = close
        || framing == Framing::Close
        || connection_closes(&parts.headers)
        || (told.is_none() && parts.headers.contains_key(header::CONTENT_LENGTH));
    // A `HEAD`'s (or a 304's) length is the one the full answer would have.
    let shown = match framing {
        Framing::Empty if status == StatusCode::NO_CONTENT => None,
        Framing::Empty if head_only => told.or_else(|| body.size_hint().exact()),
        Framing::Empty => told,
        Framing::Length(n) => Some(n),
        Framing::Chunked | Framing::Close => None,
    };
    encode_head(out, &parts, framing, shown, close, http10);
    if framing == Framing::Empty {
        // Read out, so that a server's connection goes back to its pool (its body is empty).
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            if frame.is_err() {
                break;
            }
        }
        io.write_all(out).await?;
        io.flush().await?;
        return Ok((!close).then_some(parts.headers));
    }
    let whole = write_body(io, out, &mut body, framing).await?;
    Ok((whole && !close).then_some(parts.headers))
}

/// Writes the body after the head in `out` (not written yet); whether it was whole (its
/// length as told, its end reached): a body that failed or ran short leaves the connection
/// unusable.
async fn write_body<I: AsyncWrite + Unpin>(
    io: &mut I,
    out: &mut Vec<u8>,
    body: &mut ProxyBody,
    framing: Framing,
) -> io::Result<bool> {
    let mut left = match framing {
        Framing::Length(n) => n,
        _ => u64::MAX,
    };
    let mut trailers = None;
    loop {
        // What is ready goes behind what is waiting in `out`; before waiting, `out` goes.
        let ready =
            std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *body).poll_frame(cx))).await;
        let frame = match ready {
            Poll::Ready(frame) => frame,
            Poll::Pending => {
                if !out.is_empty() {
                    io.write_all(out).await?;
                    io.flush().await?;
                    out.clear();
                }
                std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
            }
        };
        let frame = match frame {
            None => break,
            Some(Ok(frame)) => frame,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "response body failed: the connection closes");
                io.write_all(out).await?;
                return Ok(false);
            }
        };
        let mut data = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => {
                trailers = frame.into_trailers().ok();
                continue;
            }
        };
        let len = data.remaining();
        if len == 0 {
            continue;
        }
        if framing == Framing::Chunked {
            h1::chunk_size_line(out, len);
        } else if len as u64 > left {
            // More than `Content-Length` said: what fits goes, then the connection closes.
            data = data.slice(..usize::try_from(left).unwrap_or(len));
            out.extend_from_slice(&data);
            io.write_all(out).await?;
            io.flush().await?;
            return Ok(false);
        }
        left = left.saturating_sub(len as u64);
        if out.len() + len <= WRITE_BATCH {
            out.extend_from_slice(&data);
        } else {
            io.write_all(out).await?;
            out.clear();
            io.write_all_buf(&mut data).await?;
        }
        if framing == Framing::Chunked {
            out.extend_from_slice(b"\r\n");
        }
    }
    if framing == Framing::Chunked {
        out.extend_from_slice(b"0\r\n");
        for (name, value) in trailers.iter().flatten() {
            h1::header_line(out, name.as_str().as_bytes(), value.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    io.write_all(out).await?;
    io.flush().await?;
    Ok(match framing {
        Framing::Length(_) => left == 0,
        Framing::Close => false,
        _ => true,
    })
}

/// The response's `Content-Length`, when it has one valid one.
fn told_length(headers: &HeaderMap) -> Option<u64> {
    let mut values = headers.get_all(header::CONTENT_LENGTH).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    h1::content_length(first.as_bytes())
}

/// Whether the response's `Connection` says `close` (the proxy's own refusals do).
fn connection_closes(headers: &HeaderMap) -> bool {
    headers::connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("close"))
}

/// Writes the response head into `out`: the status line, the headers but the framing and
/// connection ones, which `framing`, `length` (the `Content-Length` to show) and `close`
/// decide, and `Date` when it has none.
fn encode_head(
    out: &mut Vec<u8>,
    parts: &http::response::Parts,
    framing: Framing,
    length: Option<u64>,
    close: bool,
    http10: bool,
) {
    let status = parts.status;
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut dated = false;
    for (name, value) in &parts.headers {
        if *name == header::CONTENT_LENGTH
            || *name == header::TRANSFER_ENCODING
            || *name == header::CONNECTION
        {
            continue;
        }
        dated |= *name == header::DATE;
        h1::header_line(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if !dated {
        out.extend_from_slice(b"date: ");
        push_date(out);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(n) = length {
        out.extend_from_slice(b"content-length: ");
        h1::push_decimal(out, n);
        out.extend_from_slice(b"\r\n");
    }
    if framing == Framing::Chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    } else if http10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

thread_local! {
    /// The `Date` of the current second, formatted once a second on each thread.
    static DATE: RefCell<(u64, [u8; 29])> = const { RefCell::new((u64::MAX, [b' '; 29])) };
}

/// Appends the current time as an HTTP date (`Tue, 01 Dec 2026 14:02:00 GMT`).
fn push_date(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let second = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with_borrow_mut(|(at, text)| {
        if *at != second {
            let formatted = httpdate::fmt_http_date(now);
            if formatted.len() == text.len() {
                text.copy_from_slice(formatted.as_bytes());
                *at = second;
            }
        }
        out.extend_from_slice(text);
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};
    use tokio::io::{AsyncReadExt, DuplexStream};

    fn peer() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 40_000))
    }

    /// Answers `/chunked` with a body of unknown length in two frames, `/none` with a 204,
    /// anything else with `<method> <target> <body length>` (a known length).
    async fn answer(req: Request<RequestBody>, _peer: SocketAddr) -> Response<ProxyBody> {
        let target = req.uri().to_string();
        let method = req.method().clone();
        let body = req.into_body().collect().await.unwrap().to_bytes();
        let mut response = match target.as_str() {
            "/chunked" => {
                let frames = [Bytes::from_static(b"ab"), Bytes::from_static(b"cde")];
                Response::new(
                    Frames(frames.into())
                        .map_err(|never| match never {})
                        .boxed(),
                )
            }
            _ => {
                let text = format!("{method} {target} {}", body.len());
                Response::new(
                    Full::new(Bytes::from(text))
                        .map_err(|never| match never {})
                        .boxed(),
                )
            }
        };
        if target == "/none" {
            *response.status_mut() = StatusCode::NO_CONTENT;
        }
        response
            .headers_mut()
            .insert(header::DATE, HeaderValue::from_static("d"));
        response
    }

    /// A body of ready frames and of unknown length.
    struct Frames(std::collections::VecDeque<Bytes>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.pop_front().map(|d| Ok(hyper::body::Frame::data(d))))
        }
    }

    struct Run {
        client: DuplexStream,
        served: tokio::task::JoinHandle<Served<DuplexStream>>,
        stop: watch::Sender<bool>,
    }

    fn start(limits: Limits) -> Run {
        let (stop, stopped) = watch::channel(false);
        start_with(limits, stop, stopped, answer)
    }

    fn start_with<H, F>(
        limits: Limits,
        stop: watch::Sender<bool>,
        stopped: watch::Receiver<bool>,
        handle: H,
    ) -> Run
    where
        H: Fn(Request<RequestBody>, SocketAddr) -> F + Send + Sync + 'static,
        F: Future<Output = Response<ProxyBody>> + Send,
    {
        let (client, server) = tokio::io::duplex(1 << 16);
        let served = tokio::spawn(async move {
            serve(server, BytesMut::new(), peer(), &handle, &limits, stopped).await
        });
        Run {
            client,
            served,
            stop,
        }
    }

    /// Everything the server wrote until it closed its side.
    async fn read_to_close(client: &mut DuplexStream) -> String {
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Sends `GET path` and reads its whole answer, the connection kept.
    async fn served(client: &mut DuplexStream, path: &str) {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        client.write_all(request.as_bytes()).await.unwrap();
        let body = format!("GET {path} 0");
        let answer = format!(
            "HTTP/1.1 200 OK\r\ndate: d\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        read_exactly(client, &answer).await;
    }

    async fn read_exactly(client: &mut DuplexStream, text: &str) {
        let mut got = vec![0; text.len()];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(String::from_utf8(got).unwrap(), text);
    }

    #[tokio::test]
    async fn pipelined_requests_are_answered_in_order_each_framed_as_its_body_says() {
        let mut run = start(Limits::default());
        run.client
            .write_all(
                b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
                  POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
                  GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n\
                  HEAD /c HTTP/1.1\r\nHost: x\r\n\r\n\
                  GET /none HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
            .await
            .unwrap();
        let all = read_to_close(&mut run.client).await;
        assert_eq!(
            all,
            "HTTP/1.1 200 OK\r\ndate: d\r\ncontent-length: 8\r\n\r\nGET /a 0\
             HTTP/1.1 200 OK\r\ndate: d\r\ncontent-length: 9\r\n\r\nPOST /b 5\
             HTTP/1.1 200 OK\r\ndate: d\r\ntransfer-encoding: chunked\r\n\r\n\
             2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n\
             HTTP/1.1 200 OK\r\ndate: d\r\ncontent-length: 9\r\n\r\n\
             HTTP/1.1 204 No Content\r\ndate: d\r\nconnection: close\r\n\r\n"
        );
        assert!(matches!(run.served.await.unwrap(), Served::Closed));
    }

    #[tokio::test]
    async fn requests_cut_into_pieces_anywhere_are_answered_as_when_sent_whole() {
        let requests: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
            POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
            GET /c?q=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        let want = "HTTP/1.1 200 OK\r\ndate: d\r\ncontent-length: 8\r\n\r\nGET /a 0\
             HTTP/1.1 200 OK\r\ndate: d\r\ncontent-length: 9\r\n\r\nPOST /b 5\
             HTTP/1.1 200 OK\r\ndate: d\r\ncontent-length: 12\r\nconnection: close\r\n\r\n\
             GET /c?q=1 0";
        for piece in [1, 2, 3, 7, 29, 64, requests.len()] {
            let run = start(Limits::default());
            let (mut read, mut write) = tokio::io::split(run.client);
            let writes = async {
                for part in requests.chunks(piece) {
                    write.write_all(part).await.unwrap();
                    tokio::task::yield_now().await;
                }
            };
            let mut all = Vec::new();
            let (_, got) = tokio::join!(writes, read.read_to_end(&mut all));
            got.unwrap();
            assert_eq!(String::from_utf8(all).unwrap(), want, "pieces of {piece}");
            assert!(matches!(run.served.await.unwrap(), Served::Closed));
        }
    }

    #[tokio::test]
    async fn an_http10_client_keeps_its_connection_only_when_it_asks() {
        let mut run = start(Limits::default());
        run.client
            .write_all(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .await
            .unwrap();
        read_exactly(
            &mut run.client,
            "HTTP/1.1 200 OK\r\ndate: d\r\ncontent-length: 8\r\n\
             connection: keep-alive\r\n\r\nGET /a 0",
        )
        .await;
        // Of unknown length: until the connection closes.
        run.client
            .write_all(b"GET /chunked HTTP/1.0\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(
            read_to_close(&mut run.client).await,
            "HTTP/1.1 200 OK\r\ndate: d\r\nconnection: close\r\n\r\nabcde"
        );
        assert!(matches!(run.served.await.unwrap(), Served::Closed));
    }

    #[tokio::test]
    async fn what_this_codec_does_not_serve_goes_to_hyper_with_its_bytes() {
        let cases: [&[u8]; 7] = [
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\nhello",
            b"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
            b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nab",
            b"GET / HTTP/1.1\r\nHost: x\r\nX-1: a\r\nX-2: b\r\n\r\n",
        ];
        for case in cases {
            let limits = Limits {
                max_headers: 2,
                ..Limits::default()
            };
            let mut run = start(limits);
            // A request served here first: what is handed over starts after it.
            served(&mut run.client, "/first").await;
            run.client.write_all(case).await.unwrap();
            match run.served.await.unwrap() {
                Served::HandedOver(_, bytes) => {
                    assert_eq!(&bytes[..], case, "{}", String::from_utf8_lossy(case));
                }
                Served::Closed => panic!("closed: {}", String::from_utf8_lossy(case)),
            }
            drop(run.stop);
        }
    }

    #[tokio::test]
    async fn a_head_past_the_size_limit_goes_to_hyper_unsplit() {
        let limits = Limits {
            max_header_bytes: 64,
            ..Limits::default()
        };
        let mut run = start(limits);
        let big = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n", "a".repeat(100));
        run.client.write_all(big.as_bytes()).await.unwrap();
        match run.served.await.unwrap() {
            Served::HandedOver(_, bytes) => assert_eq!(&bytes[..], big.as_bytes()),
            Served::Closed => panic!("closed"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_closes_at_the_idle_timeout_and_a_slow_head_at_its_own() {
        let limits = Limits {
            idle_timeout: Duration::from_secs(5),
            header_read_timeout: Duration::from_secs(8),
            ..Limits::default()
        };
        // Idle after a response: closed 5 s after it.
        let mut run = start(limits.clone());
        served(&mut run.client, "/a").await;
        let answered = Instant::now();
        assert_eq!(read_to_close(&mut run.client).await, "");
        assert_eq!(answered.elapsed(), Duration::from_secs(5));
        // Part of a head, then nothing: closed 8 s after the wait began, not 5.
        let mut run = start(limits);
        let began = Instant::now();
        tokio::time::sleep(Duration::from_secs(3)).await;
        run.client.write_all(b"GET /a HTTP/1.1\r\n").await.unwrap();
        assert_eq!(read_to_close(&mut run.client).await, "");
        assert_eq!(began.elapsed(), Duration::from_secs(8));
    }

    #[tokio::test]
    async fn the_stop_closes_a_waiting_connection_and_marks_the_last_response() {
        let mut run = start(Limits::default());
        served(&mut run.client, "/a").await;
        run.stop.send(true).unwrap();
        assert_eq!(read_to_close(&mut run.client).await, "");
        assert!(matches!(run.served.await.unwrap(), Served::Closed));
        // Asked while a request is in flight (by its handler): its response says that the
        // connection closes, and the request after it is not read.
        let (stop, stopped) = watch::channel(false);
        let asks = stop.clone();
        let mut run = start_with(Limits::default(), stop, stopped, move |req, peer| {
            asks.send_replace(true);
            answer(req, peer)
        });
        run.client
            .write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(
            read_to_close(&mut run.client).await,
            "HTTP/1.1 200 OK\r\ndate: d\r\ncontent-length: 8\r\nconnection: close\r\n\r\nGET /a 0"
        );
        assert!(matches!(run.served.await.unwrap(), Served::Closed));
        // Asked before the connection's first request came: closed at once.
        let mut run = start(Limits::default());
        run.stop.send(true).unwrap();
        assert_eq!(read_to_close(&mut run.client).await, "");
    }

    #[tokio::test]
    async fn a_client_gone_before_its_response_drops_its_request() {
        struct Dropped(Option<tokio::sync::oneshot::Sender<()>>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                if let Some(tx) = self.0.take() {
                    let _ = tx.send(());
                }
            }
        }
        let (dropped, was_dropped) = tokio::sync::oneshot::channel();
        let dropped = std::sync::Mutex::new(Some(dropped));
        let (stop, stopped) = watch::channel(false);
        let mut run = start_with(Limits::default(), stop, stopped, move |_req, _peer| {
            let guard = Dropped(dropped.lock().unwrap().take());
            async move {
                let _guard = guard;
                std::future::pending::<Response<ProxyBody>>().await
            }
        });
        run.client
            .write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        tokio::task::yield_now().await;
        run.client.shutdown().await.unwrap();
        let served = tokio::time::timeout(Duration::from_secs(10), run.served).await;
        assert!(matches!(served.unwrap().unwrap(), Served::Closed));
        was_dropped.await.unwrap();
    }

    #[test]
    fn buffers_past_the_kept_size_are_let_go_and_smaller_ones_kept() {
        let mut read = BytesMut::with_capacity(64 * 1024);
        let mut write = Vec::with_capacity(WRITE_BATCH + 100);
        trim(&mut read, &mut write);
        assert_eq!((read.capacity(), write.capacity()), (0, 0));
        // Bytes of a next request keep the read buffer, whatever its size.
        let mut read = BytesMut::with_capacity(64 * 1024);
        read.extend_from_slice(b"GET");
        let mut write = Vec::with_capacity(KEPT_BUFFER);
        trim(&mut read, &mut write);
        assert!(read.capacity() >= 64 * 1024);
        assert_eq!(&read[..], b"GET");
        assert_eq!(write.capacity(), KEPT_BUFFER);
    }

    #[test]
    fn the_date_is_an_http_date_of_now() {
        let mut out = Vec::new();
        push_date(&mut out);
        let text = String::from_utf8(out).unwrap();
        let parsed = httpdate::parse_http_date(&text).unwrap();
        let now = SystemTime::now();
        let age = now.duration_since(parsed).unwrap();
        assert!(age < Duration::from_secs(2), "{text}");
    }
}
