//! HTTP/1.1 as the proxy speaks it to its servers, without I/O: the request head written
//! into a buffer, the response head parsed out of one (what its connection's own headers say
//! read, and those headers left out of what is passed on: [`Head`]), and the response body's
//! framing (RFC 9112 §6) decoded from one. The pool (`upstream.rs`) moves the bytes.
//!
//! The head's header values are slices of the bytes read, not copies; a body's data frames
//! likewise.

use std::mem::MaybeUninit;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode, Version};
use hyper::body::SizeHint;

/// Most headers a response head may have.
const MAX_HEADERS: usize = 128;
/// Headers a parsed head's map has room for at least.
const HEADER_ROOM: usize = 12;
/// Largest response head (and largest trailer block).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Longest chunk-size line (with its extensions).
const MAX_CHUNK_LINE: usize = 4096;

/// A server's message that is not HTTP/1.1 as it must be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum H1Error {
    /// The head is not an HTTP/1 response head, or has a bad status, header or length.
    #[error("malformed response head: {0}")]
    Head(&'static str),
    /// The head is longer than [`MAX_HEAD_BYTES`].
    #[error("response head over {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    /// A chunked body's framing is broken.
    #[error("malformed chunked body: {0}")]
    Chunked(&'static str),
    /// The connection closed before the body's end.
    #[error("the connection closed before the body's end")]
    Truncated,
}

/// How a request's body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFraming {
    /// No body, and no header saying so (a `GET`).
    None,
    /// `Content-Length`: this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`: a body of unknown length.
    Chunked,
}

impl RequestFraming {
    /// The framing of a body with `hint` (its exact length when known) sent with `method`.
    pub fn of(method: &Method, hint: &SizeHint) -> RequestFraming {
        match hint.exact() {
            // As hyper does: an empty body says so only where a body is expected.
            Some(0) if !matches!(*method, Method::POST | Method::PUT | Method::PATCH) => {
                RequestFraming::None
            }
            Some(n) => RequestFraming::Length(n),
            None => RequestFraming::Chunked,
        }
    }
}

/// Writes the request head into `out`: the request line with `target` (origin form), the
/// header lines that `lines` writes (never the framing ones: see [`header_lines`]), and the
/// framing's own.
pub fn encode_head(
    out: &mut Vec<u8>,
    method: &Method,
    target: &str,
    lines: impl FnOnce(&mut Vec<u8>),
    framing: RequestFraming,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    lines(out);
    match framing {
        RequestFraming::None => {}
        RequestFraming::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            push_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        RequestFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes every header of `headers` as a line, except the framing ones (`Content-Length`,
/// `Transfer-Encoding`), which [`encode_head`] writes from the body.
pub fn header_lines(out: &mut Vec<u8>, headers: &HeaderMap) {
    for (name, value) in headers {
        if *name == header::CONTENT_LENGTH || *name == header::TRANSFER_ENCODING {
            continue;
        }
        header_line(out, name.as_str().as_bytes(), value.as_bytes());
    }
}

/// One header line: `name: value` and CRLF.
pub fn header_line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The names that describe one connection, not the message (RFC 9110 section 7.6.1, plus
/// the non-standard ones proxies meet, and `HTTP2-Settings`, which an `h2c` upgrade sends
/// whether or not `Connection` names it): never passed on.
const HOP_BY_HOP: [&[u8]; 10] = [
    b"connection",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
    b"proxy-authorization",
    b"proxy-authenticate",
    b"keep-alive",
    b"proxy-connection",
    b"http2-settings",
];

/// Whether `name`, in any case, is one of the hop-by-hop names. Its length is compared first,
/// so that most names are passed over at once.
pub fn is_hop_by_hop_name(name: &[u8]) -> bool {
    HOP_BY_HOP
        .iter()
        .any(|hop| hop.len() == name.len() && hop.eq_ignore_ascii_case(name))
}

/// Whether a `Connection` token names a header of this hop, to be left out with it: any
/// token but the usual `close`, `keep-alive` and `upgrade` (which say something of the
/// connection and name hop-by-hop headers anyway).
pub fn names_a_header(token: &[u8]) -> bool {
    !(token.eq_ignore_ascii_case(b"close")
        || token.eq_ignore_ascii_case(b"keep-alive")
        || token.eq_ignore_ascii_case(b"upgrade"))
}

/// Writes `n` in decimal.
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Writes a chunk's size line (before its data) into `out`.
pub fn chunk_size_line(out: &mut Vec<u8>, len: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    let mut n = len;
    loop {
        at -= 1;
        digits[at] = HEX[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
}

/// A response head as parsed: the response with the headers it is passed on with, and what
/// the headers of its connection said. Those (the hop-by-hop ones, RFC 9110 §7.6.1, and the
/// ones `Connection` names) describe this hop, not the message: a final answer's map holds
/// none of them. An interim one (1xx: a 101's `Upgrade`) keeps them all.
#[derive(Debug)]
pub struct Head {
    /// The status, version and headers.
    pub response: Response<()>,
    /// Whether the server keeps the connection open after this response: HTTP/1.1 unless it
    /// says `Connection: close`, HTTP/1.0 only when it says `keep-alive`.
    pub keep_alive: bool,
    /// The last `Transfer-Encoding` coding, when there is one.
    transfer: Option<Coding>,
}

/// A response's last transfer coding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Chunked,
    Other,
}

/// Parses a response head at the start of `buf`. `Ok(None)`: not all of it is there yet. Once
/// whole, the head's bytes are split off `buf` (the header values are slices of them, not
/// copies) and what follows stays. The headers go into `headers`, cleared first, whose place
/// the response then takes (leaving an empty map): a map whose request is written serves
/// again, without an allocation.
pub fn parse_head(buf: &mut BytesMut, headers: &mut HeaderMap) -> Result<Option<Head>, H1Error> {
    let Some(len) = head_end(buf) else {
        if buf.len() > MAX_HEAD_BYTES {
            return Err(H1Error::HeadTooLarge);
        }
        return Ok(None);
    };
    if len > MAX_HEAD_BYTES {
        return Err(H1Error::HeadTooLarge);
    }
    let head = buf.split_to(len).freeze();
    // Left uninitialised: zeroing the slots would cost more than parsing a short head.
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut parsed,
        &head,
        &mut slots,
    ) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(H1Error::Head("not an HTTP/1 response")),
        Err(httparse::Error::TooManyHeaders) => return Err(H1Error::Head("too many headers")),
        Err(_) => return Err(H1Error::Head("not an HTTP/1 response")),
    }
    let version = match parsed.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let status = parsed
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or(H1Error::Head("bad status code"))?;
    // The connection's own headers first, read from their bytes.
    let (mut close, mut keep) = (false, false);
    let mut transfer = None;
    let mut named: Vec<&[u8]> = Vec::new();
    for h in parsed.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            for token in tokens(h.value) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep |= token.eq_ignore_ascii_case(b"keep-alive");
                if names_a_header(token) {
                    named.push(token);
                }
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = h
                .value
                .rsplit(|&b| b == b',')
                .next()
                .map(<[u8]>::trim_ascii);
            transfer = Some(match last {
                Some(coding) if coding.eq_ignore_ascii_case(b"chunked") => Coding::Chunked,
                _ => Coding::Other,
            });
        }
    }
    let of_the_hop = |name: &str| {
        is_hop_by_hop_name(name.as_bytes())
            || named
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name.as_bytes()))
    };
    let interim = status.is_informational();
    // Room for a request's headers too: hyper's server keeps the map of each response it
    // writes for the next request on the connection, to which the proxy then adds its own
    // `X-Forwarded-*`; a map sized to the response alone grew (rehashed) on every request.
    headers.clear();
    headers.reserve(parsed.headers.len().max(HEADER_ROOM));
    for h in parsed.headers.iter() {
        if !interim && of_the_hop(h.name) {
            continue;
        }
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| H1Error::Head("bad header name"))?;
        let value = HeaderValue::from_maybe_shared(head.slice_ref(h.value))
            .map_err(|_| H1Error::Head("bad header value"))?;
        headers.append(name, value);
    }
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = version;
    *response.headers_mut() = std::mem::take(headers);
    Ok(Some(Head {
        response,
        keep_alive: if version == Version::HTTP_10 {
            keep
        } else {
            !close
        },
        transfer,
    }))
}

/// The length of the head at the start of `buf` up to its blank line (CRLF, or a bare LF as
/// httparse also takes), if it is all there.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    // Line by line (a vectorised search for each line's end, not a test of every byte).
    memchr::memchr_iter(b'\n', buf).find_map(|at| {
        let after = buf.get(at + 1..)?;
        if after.starts_with(b"\r\n") {
            Some(at + 3)
        } else if after.starts_with(b"\n") {
            Some(at + 2)
        } else {
            None
        }
    })
}

/// How a response's body is framed (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// None: the answer to a `HEAD`, a 1xx, 204 or 304.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding` ending in `chunked`.
    Chunked,
    /// Up to the connection's close (which then cannot be reused).
    Close,
}

impl Head {
    /// The framing of the response's body, answering a request made with `method`.
    pub fn framing(&self, method: &Method) -> Result<BodyFraming, H1Error> {
        let status = self.response.status();
        if *method == Method::HEAD
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return Ok(BodyFraming::Empty);
        }
        match self.transfer {
            Some(Coding::Chunked) => return Ok(BodyFraming::Chunked),
            Some(Coding::Other) => return Ok(BodyFraming::Close),
            None => {}
        }
        let headers = self.response.headers();
        let mut lengths = values(headers, &header::CONTENT_LENGTH);
        let Some(first) = lengths.next() else {
            return Ok(BodyFraming::Close);
        };
        let length = parse_length(first.as_bytes())?;
        // Several are allowed only when they agree.
        for other in lengths {
            if parse_length(other.as_bytes())? != length {
                return Err(H1Error::Head("conflicting Content-Length"));
            }
        }
        Ok(BodyFraming::Length(length))
    }
}

/// The values of `name` in `headers`, in order. A walk over the few headers of a response
/// with a cheap comparison of standard names, rather than a hashed lookup for each name.
fn values<'a>(
    headers: &'a HeaderMap,
    name: &'a HeaderName,
) -> impl Iterator<Item = &'a HeaderValue> + 'a {
    headers
        .iter()
        .filter(move |(n, _)| *n == name)
        .map(|(_, v)| v)
}

fn parse_length(digits: &[u8]) -> Result<u64, H1Error> {
    content_length(digits).ok_or(H1Error::Head("bad Content-Length"))
}

/// A `Content-Length` value: 1 to 19 digits, nothing else.
pub fn content_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')),
    )
}

/// The comma-separated tokens of a raw header value (`Connection`'s), trimmed.
pub fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(<[u8]>::trim_ascii)
}

/// What [`Decoder::decode`] found in the buffer.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    /// Some of the body's bytes.
    Data(Bytes),
    /// The trailer fields after a chunked body.
    Trailers(HeaderMap),
    /// The body's end (no bytes of it are left in the buffer).
    End,
    /// More bytes are needed.
    More,
}

/// Reads a response body's framing out of the bytes as they come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoder {
    state: State,
    /// Not read up to the close: the connection can carry another request after it.
    reusable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// This many bytes left of a `Content-Length` body.
    Length(u64),
    /// Until the close.
    Close,
    /// A chunk-size line next.
    ChunkSize,
    /// This many bytes left of a chunk's data.
    ChunkData(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    /// The trailer section (perhaps empty) after the last chunk.
    Trailers,
    Done,
}

impl Decoder {
    /// A decoder for a body framed as `framing`.
    pub fn new(framing: BodyFraming) -> Decoder {
        let state = match framing {
            BodyFraming::Empty | BodyFraming::Length(0) => State::Done,
            BodyFraming::Length(n) => State::Length(n),
            BodyFraming::Chunked => State::ChunkSize,
            BodyFraming::Close => State::Close,
        };
        Decoder {
            state,
            reusable: framing != BodyFraming::Close,
        }
    }

    /// Whether the body has been read to its end.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Whether the connection can carry another request once the body is done.
    pub fn reusable(&self) -> bool {
        self.reusable
    }

    /// What is known of the length still to come.
    pub fn size_hint(&self) -> SizeHint {
        match self.state {
            State::Length(n) => SizeHint::with_exact(n),
            State::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }

    /// The next frame out of `buf` (its bytes split off it).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, H1Error> {
        loop {
            match self.state {
                State::Done => return Ok(Decoded::End),
                State::Length(left) => {
                    if buf.is_empty() {
                        return Ok(Decoded::More);
                    }
                    let (data, rest) = take_up_to(buf, left);
                    self.state = if rest == 0 {
                        State::Done
                    } else {
                        State::Length(rest)
                    };
                    return Ok(Decoded::Data(data));
                }
                State::Close => {
                    if buf.is_empty() {
                        return Ok(Decoded::More);
                    }
                    return Ok(Decoded::Data(buf.split().freeze()));
                }
                State::ChunkSize => {
                    let Some(end) = find_crlf(buf) else {
                        if buf.len() > MAX_CHUNK_LINE {
                            return Err(H1Error::Chunked("chunk-size line too long"));
                        }
                        return Ok(Decoded::More);
                    };
                    if end > MAX_CHUNK_LINE {
                        // The same answer however the bytes came: all at once or a few at a time.
                        return Err(H1Error::Chunked("chunk-size line too long"));
                    }
                    let size = chunk_size(&buf[..end])?;
                    buf.advance(end + 2);
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::ChunkData(size)
                    };
                }
                State::ChunkData(left) => {
                    if buf.is_empty() {
                        return Ok(Decoded::More);
                    }
                    let (data, rest) = take_up_to(buf, left);
                    self.state = if rest == 0 {
                        State::ChunkEnd
                    } else {
                        State::ChunkData(rest)
                    };
                    return Ok(Decoded::Data(data));
                }
                State::ChunkEnd => {
                    if buf.len() < 2 {
                        return Ok(Decoded::More);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(H1Error::Chunked("no CRLF after a chunk"));
                    }
                    buf.advance(2);
                    self.state = State::ChunkSize;
                }
                State::Trailers => {
                    if buf.len() >= 2 && &buf[..2] == b"\r\n" {
                        buf.advance(2);
                        self.state = State::Done;
                        return Ok(Decoded::End);
                    }
                    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
                    return match httparse::parse_headers(buf, &mut slots) {
                        Ok(httparse::Status::Complete((len, _))) if len > MAX_HEAD_BYTES => {
                            Err(H1Error::Chunked("trailers too large"))
                        }
                        Ok(httparse::Status::Complete((len, fields))) => {
                            let mut trailers = HeaderMap::with_capacity(fields.len());
                            for f in fields {
                                let name = HeaderName::from_bytes(f.name.as_bytes())
                                    .map_err(|_| H1Error::Chunked("bad trailer name"))?;
                                let value = HeaderValue::from_bytes(f.value)
                                    .map_err(|_| H1Error::Chunked("bad trailer value"))?;
                                trailers.append(name, value);
                            }
                            buf.advance(len);
                            self.state = State::Done;
                            Ok(Decoded::Trailers(trailers))
                        }
                        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
                            Err(H1Error::Chunked("trailers too large"))
                        }
                        Ok(httparse::Status::Partial) => Ok(Decoded::More),
                        Err(_) => Err(H1Error::Chunked("bad trailers")),
                    };
                }
            }
        }
    }

    /// The connection closed: the end of a body read up to the close, else too early.
    pub fn closed(&mut self) -> Result<(), H1Error> {
        match self.state {
            State::Close | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(H1Error::Truncated),
        }
    }
}

/// Up to `left` bytes split off the front of `buf` (a slice of it, not a copy), and how many
/// are left after them.
fn take_up_to(buf: &mut BytesMut, left: u64) -> (Bytes, u64) {
    let take = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
    (buf.split_to(take).freeze(), left - take as u64)
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// The size of a chunk-size line (without its CRLF); extensions after `;` are ignored.
fn chunk_size(line: &[u8]) -> Result<u64, H1Error> {
    let digits = line
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii_end();
    if digits.is_empty() || digits.len() > 15 {
        return Err(H1Error::Chunked("bad chunk size"));
    }
    digits.iter().try_fold(0u64, |n, &d| {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return Err(H1Error::Chunked("bad chunk size")),
        };
        Ok(n << 4 | u64::from(v))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn head(text: &str) -> (Head, BytesMut) {
        let mut buf = BytesMut::from(text);
        let response = parse_head(&mut buf, &mut HeaderMap::new())
            .unwrap()
            .unwrap();
        (response, buf)
    }

    /// Every frame of `wire` fed to a decoder in pieces of `step` bytes: the data joined,
    /// the trailers, and whether it ended.
    fn decode_all(
        framing: BodyFraming,
        wire: &[u8],
        step: usize,
    ) -> (Vec<u8>, Option<HeaderMap>, bool) {
        let mut decoder = Decoder::new(framing);
        let mut buf = BytesMut::new();
        let (mut data, mut trailers) = (Vec::new(), None);
        let mut fed = 0;
        loop {
            match decoder.decode(&mut buf).unwrap() {
                Decoded::Data(b) => data.extend_from_slice(&b),
                Decoded::Trailers(t) => trailers = Some(t),
                Decoded::End => return (data, trailers, true),
                Decoded::More if fed >= wire.len() => return (data, trailers, false),
                Decoded::More => {
                    let to = (fed + step).min(wire.len());
                    buf.extend_from_slice(&wire[fed..to]);
                    fed = to;
                }
            }
        }
    }

    #[test]
    fn the_request_head_carries_the_headers_and_its_own_framing() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("s:8080"));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("99"));
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        let mut out = Vec::new();
        encode_head(
            &mut out,
            &Method::POST,
            "/p?q=1",
            |out| header_lines(out, &headers),
            RequestFraming::Length(12),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /p?q=1 HTTP/1.1\r\nhost: s:8080\r\nx-a: 1\r\nx-a: 2\r\ncontent-length: 12\r\n\r\n"
        );
        let mut out = Vec::new();
        encode_head(&mut out, &Method::GET, "/", |_| {}, RequestFraming::None);
        assert_eq!(out, b"GET / HTTP/1.1\r\n\r\n");
        let mut out = Vec::new();
        encode_head(&mut out, &Method::PUT, "/", |_| {}, RequestFraming::Chunked);
        assert_eq!(out, b"PUT / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n");
        let mut line = Vec::new();
        chunk_size_line(&mut line, 0x1a2f);
        chunk_size_line(&mut line, 0);
        assert_eq!(line, b"1a2f\r\n0\r\n");
    }

    #[test]
    fn request_framing_follows_the_size_and_the_method() {
        assert_eq!(
            RequestFraming::of(&Method::GET, &SizeHint::with_exact(0)),
            RequestFraming::None
        );
        assert_eq!(
            RequestFraming::of(&Method::POST, &SizeHint::with_exact(0)),
            RequestFraming::Length(0)
        );
        assert_eq!(
            RequestFraming::of(&Method::GET, &SizeHint::with_exact(5)),
            RequestFraming::Length(5)
        );
        assert_eq!(
            RequestFraming::of(&Method::POST, &SizeHint::new()),
            RequestFraming::Chunked
        );
    }

    #[test]
    fn a_head_is_parsed_once_whole_and_what_follows_stays() {
        let text = "HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\n\r\nhello";
        for cut in 0..text.len() - 5 {
            let mut buf = BytesMut::from(&text[..cut]);
            assert!(
                parse_head(&mut buf, &mut HeaderMap::new())
                    .unwrap()
                    .is_none(),
                "cut at {cut}"
            );
        }
        let (response, rest) = head(text);
        assert_eq!(response.response.status(), 201);
        assert_eq!(response.response.version(), Version::HTTP_11);
        let values: Vec<_> = response.response.headers().get_all("x-a").iter().collect();
        assert_eq!(values, ["1", "2"]);
        assert_eq!(&rest[..], b"hello");
        assert_eq!(response.framing(&Method::GET), Ok(BodyFraming::Length(5)));
        assert_eq!(response.framing(&Method::HEAD), Ok(BodyFraming::Empty));
    }

    #[test]
    fn a_final_answer_leaves_its_connections_headers_out_and_an_interim_one_keeps_them() {
        let names = |head: &Head| -> Vec<String> {
            head.response
                .headers()
                .keys()
                .map(|n| n.to_string())
                .collect()
        };
        let (final_answer, _) = head(
            "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\n\
             X-Hop: 1\r\nTransfer-Encoding: chunked\r\nX-Kept: 2\r\nUpgrade: h2c\r\n\
             Proxy-Connection: x\r\nx-hop: 3\r\n\r\n",
        );
        assert_eq!(names(&final_answer), ["x-kept"]);
        assert_eq!(final_answer.framing(&Method::GET), Ok(BodyFraming::Chunked));
        assert!(final_answer.keep_alive);
        let (upgrade, _) = head(
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        );
        assert_eq!(names(&upgrade), ["connection", "upgrade"]);
    }

    #[test]
    fn malformed_and_oversized_heads_are_errors() {
        let mut buf = BytesMut::from("SSH-2.0-OpenSSH\r\n\r\n");
        assert!(matches!(
            parse_head(&mut buf, &mut HeaderMap::new()),
            Err(H1Error::Head(_))
        ));
        let mut buf = BytesMut::from(
            format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(MAX_HEAD_BYTES)).as_str(),
        );
        assert!(matches!(
            parse_head(&mut buf, &mut HeaderMap::new()),
            Err(H1Error::HeadTooLarge)
        ));
        let mut many = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..=MAX_HEADERS {
            many.push_str(&format!("x-{i}: 1\r\n"));
        }
        many.push_str("\r\n");
        let mut buf = BytesMut::from(many.as_str());
        assert!(matches!(
            parse_head(&mut buf, &mut HeaderMap::new()),
            Err(H1Error::Head("too many headers"))
        ));
        let (response, _) =
            head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
        assert!(response.framing(&Method::GET).is_err());
        let (response, _) = head("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n");
        assert!(response.framing(&Method::GET).is_err());
    }

    #[test]
    fn framing_and_keep_alive_follow_rfc_9112() {
        let cases = [
            (
                "HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n",
                BodyFraming::Empty,
                true,
            ),
            (
                "HTTP/1.1 304 Not Modified\r\n\r\n",
                BodyFraming::Empty,
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n",
                BodyFraming::Chunked,
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                BodyFraming::Close,
                true,
            ),
            ("HTTP/1.1 200 OK\r\n\r\n", BodyFraming::Close, true),
            (
                "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 1\r\n\r\n",
                BodyFraming::Length(1),
                false,
            ),
            (
                "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n",
                BodyFraming::Length(1),
                false,
            ),
            (
                "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\n",
                BodyFraming::Length(1),
                true,
            ),
        ];
        for (text, framing, alive) in cases {
            let (response, _) = head(text);
            assert_eq!(response.framing(&Method::GET), Ok(framing), "{text}");
            assert_eq!(response.keep_alive, alive, "{text}");
        }
    }

    #[test]
    fn bodies_decode_the_same_in_any_pieces() {
        let chunked =
            b"5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-sum: 7\r\n\r\n";
        for step in [1, 2, 3, 7, 100] {
            let (data, trailers, ended) = decode_all(BodyFraming::Chunked, chunked, step);
            assert_eq!(data, b"helloabcdefghijklmnopqrstuvwxyz", "step {step}");
            assert_eq!(trailers.unwrap()["x-sum"], "7");
            assert!(ended);
            let (data, trailers, ended) =
                decode_all(BodyFraming::Chunked, b"3\r\nabc\r\n0\r\n\r\n", step);
            assert_eq!(
                (data.as_slice(), trailers, ended),
                (&b"abc"[..], None, true)
            );
            let (data, _, ended) = decode_all(BodyFraming::Length(4), b"abcdEXTRA", step);
            assert_eq!((data.as_slice(), ended), (&b"abcd"[..], true));
        }
        // A close-delimited body ends at the close, others may not.
        let (data, _, ended) = decode_all(BodyFraming::Close, b"to the end", 4);
        assert_eq!((data.as_slice(), ended), (&b"to the end"[..], false));
        let mut close = Decoder::new(BodyFraming::Close);
        assert_eq!(close.closed(), Ok(()));
        assert!(close.is_done() && !close.reusable());
        let mut length = Decoder::new(BodyFraming::Length(3));
        assert_eq!(length.closed(), Err(H1Error::Truncated));
        assert!(Decoder::new(BodyFraming::Empty).is_done());
    }

    #[test]
    fn bad_chunks_are_errors() {
        for wire in [
            &b"zz\r\n"[..],
            b"3\r\nabcXY",
            b"1234567890abcdef0\r\n",
            b"\r\n",
        ] {
            let mut decoder = Decoder::new(BodyFraming::Chunked);
            let mut buf = BytesMut::from(wire);
            let result = loop {
                match decoder.decode(&mut buf) {
                    Ok(Decoded::Data(_)) => {}
                    other => break other,
                }
            };
            assert!(
                matches!(result, Err(H1Error::Chunked(_))),
                "{wire:?}: {result:?}"
            );
        }
        // Too long a size line, or too many trailers: the same error whether the bytes came in
        // pieces (the limit passed before the line's end) or at once (the end already there).
        let long_line = [vec![b'1'; MAX_CHUNK_LINE + 1], b"\r\n".to_vec()].concat();
        let big_trailers = format!("0\r\nx: {}\r\n\r\n", "a".repeat(MAX_HEAD_BYTES));
        for (wire, error) in [
            (long_line, "chunk-size line too long"),
            (big_trailers.into_bytes(), "trailers too large"),
        ] {
            for cut in [wire.len(), wire.len() - 2] {
                let mut decoder = Decoder::new(BodyFraming::Chunked);
                let mut buf = BytesMut::from(&wire[..cut]);
                assert_eq!(
                    decoder.decode(&mut buf),
                    Err(H1Error::Chunked(error)),
                    "cut {cut}"
                );
            }
        }
    }
}
