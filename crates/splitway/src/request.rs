//! A borrowed view of one HTTP request: what rules look at.
//!
//! Normalisation (host lowercased and stripped of port, path decoding) is done once per
//! request, lazily, and without allocating in the common case (a lowercase host, a path with
//! no percent escapes and no dot segments).
//!
//! The view borrows `http` 1.x types (`Method`, `Uri`, `HeaderMap`) on purpose: they are what
//! hyper, axum and tower hand a service, so a request is viewed without copying. They (and
//! `http::Uri`, `http::HeaderName` in [`crate::config`]) are the only third-party types in the
//! request, rule and config modules' API.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::net::IpAddr;
use std::time::SystemTime;

use http::{HeaderMap, Method, Uri};

internal! {
    /// Most `;`-separated pieces of the `Cookie` headers that the router looks at, over all the
    /// request's `Cookie` lines, in order; later ones are not seen by any cookie matcher, sticky
    /// cookie or cohort key.
    ///
    /// A browser sends a host far fewer (RFC 6265 section 6.1 asks user agents to keep at least 50
    /// cookies per domain and 3000 in all); the cap bounds the work one crafted header makes every
    /// cookie matcher do. Header values themselves are not truncated: header matchers compare or
    /// run a linear-time regex over each value, and the HTTP server bounds header sizes (hyper's
    /// HTTP/1 defaults: at most 100 header lines and about 400 KiB of request head).
    const MAX_COOKIE_PAIRS: usize = 3000;
}

/// Which view of the request path a rule sees (SPEC.md 3.3): [`RequestView::path`] gives
/// either, each computed once per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PathForm {
    /// Traefik v1: every percent escape decoded.
    Decoded,
    /// Traefik v2/v3: escapes decoded except reserved ones (`%2F` stays), `/./`, `/../`, `//`
    /// cleaned.
    Routing,
}

/// What the router sees of a request. Cheap to build; borrows from the request.
#[derive(Debug)]
pub struct RequestView<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    client_ip: Option<IpAddr>,
    /// The time signed cookies are checked at; `None`: the system clock's, read when needed.
    now: Option<SystemTime>,
    // Normalised forms, computed on first use and shared by every rule the request meets.
    host: OnceCell<Option<Cow<'a, str>>>,
    decoded_path: OnceCell<Cow<'a, str>>,
    routing_path: OnceCell<Cow<'a, str>>,
}

impl<'a> RequestView<'a> {
    /// A view over the parts of a request, with the TCP peer address when known.
    pub fn new(
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a HeaderMap,
        client_ip: Option<IpAddr>,
    ) -> Self {
        RequestView {
            method,
            uri,
            headers,
            client_ip,
            now: None,
            host: OnceCell::new(),
            decoded_path: OnceCell::new(),
            routing_path: OnceCell::new(),
        }
    }

    /// The same view, with signed cookies checked at `now` instead of the system clock's
    /// time (for tests, replays and explanations of a past request).
    ///
    /// The time is part of the request's view, like the client address, rather than read by
    /// the router: a decision is then a function of the table and the view alone. Without
    /// it the router reads the system clock, and only when the table has signed cookies and
    /// the request carries one.
    #[must_use]
    pub fn at(mut self, now: SystemTime) -> Self {
        self.now = Some(now);
        self
    }

    /// The time given with [`RequestView::at`], if any.
    pub fn time(&self) -> Option<SystemTime> {
        self.now
    }

    /// Unix seconds of the view's time, or of the system clock's when it has none.
    pub(crate) fn unix_now(&self) -> u64 {
        crate::signed_cookie::unix_seconds(self.now.unwrap_or_else(SystemTime::now))
    }

    /// This view with other headers (the signed cookies' verified form): the normalised host
    /// and paths are computed again, on first use, as for any view.
    pub(crate) fn with_headers<'h>(&self, headers: &'h HeaderMap) -> RequestView<'h>
    where
        'a: 'h,
    {
        let mut view = RequestView::new(self.method, self.uri, headers, self.client_ip);
        view.now = self.now;
        view
    }

    /// A view over `http::request::Parts`.
    pub fn from_parts(parts: &'a http::request::Parts, client_ip: Option<IpAddr>) -> Self {
        RequestView::new(&parts.method, &parts.uri, &parts.headers, client_ip)
    }

    /// A view over a whole `http::Request` (the body is not looked at).
    pub fn from_request<B>(req: &'a http::Request<B>, client_ip: Option<IpAddr>) -> Self {
        RequestView::new(req.method(), req.uri(), req.headers(), client_ip)
    }

    /// The method as received.
    pub fn method(&self) -> &str {
        self.method.as_str()
    }

    /// The host, from the URI authority when non-empty, else the `Host` header: lowercased,
    /// without port, `[]` or trailing dot. `None` when there is none (or it is not text).
    #[inline]
    pub fn host(&self) -> Option<&str> {
        self.host.get_or_init(|| self.compute_host()).as_deref()
    }

    /// The host as the host index looks it up: [`RequestView::host`]'s bytes, except that a
    /// host already in normal form (lowercase, no port: the common case) is taken as it is,
    /// without the UTF-8 check. That is safe for a lookup: a host that is not text can never
    /// equal a configured host name, which is ASCII.
    #[inline]
    pub(crate) fn host_key(&self) -> Option<&[u8]> {
        if self.host.get().is_none()
            && let Some(raw) = self.raw_host()
            && let Some(len) = plain_len(raw)
        {
            return raw.get(..len).filter(|key| !key.is_empty());
        }
        self.host().map(str::as_bytes)
    }

    fn compute_host(&self) -> Option<Cow<'a, str>> {
        normalize_host(std::str::from_utf8(self.raw_host()?).ok()?)
    }

    /// The host as received: the URI authority when non-empty (without userinfo), else the
    /// `Host` header.
    fn raw_host(&self) -> Option<&'a [u8]> {
        let uri: &'a Uri = self.uri;
        let headers: &'a HeaderMap = self.headers;
        match uri.authority().map(|a| a.as_str()) {
            // Absolute-form target or HTTP/2 `:authority`: drop any userinfo.
            Some(authority) if !authority.is_empty() => {
                authority.rsplit('@').next().map(str::as_bytes)
            }
            _ => Some(headers.get(http::header::HOST)?.as_bytes()),
        }
    }

    /// The path in the given form (SPEC.md 3.3).
    pub fn path(&self, form: PathForm) -> &str {
        let uri: &'a Uri = self.uri;
        match form {
            PathForm::Decoded => self.decoded_path.get_or_init(|| decode_all(uri.path())),
            PathForm::Routing => self.routing_path.get_or_init(|| routing_path(uri.path())),
        }
    }

    /// The raw query string (without `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    /// The decoded values of query parameter `key`, in order, read as Go's `url.ParseQuery`
    /// reads a query: pairs split on `&`, a pair holding `;` or a bad `%` escape skipped, `+`
    /// a space. Allocates only for a value (or key) that holds an escape.
    pub fn query_values<'k>(&self, key: &'k str) -> impl Iterator<Item = Cow<'a, [u8]>> + 'k
    where
        'a: 'k,
    {
        let uri: &'a Uri = self.uri;
        uri.query()
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty() && !pair.contains(';'))
            .filter_map(move |pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let k = query_unescape(k)?;
                (*k == *key.as_bytes()).then(|| query_unescape(v))?
            })
    }

    /// The request headers.
    #[inline]
    pub fn headers(&self) -> &HeaderMap {
        self.headers
    }

    /// The TCP peer address.
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.client_ip
    }

    /// The values of every cookie named `name`, over all `Cookie` headers, in order.
    ///
    /// Each `Cookie` header line is split on `;` and each piece trimmed, as Go's `net/http`
    /// reads cookies; a value in double quotes is returned without them; a piece without `=`
    /// is a cookie with an empty value; a value that is not UTF-8 is skipped. Only the first
    /// 3000 pieces, over all `Cookie` lines, are looked at.
    /// Nothing is allocated, and the values borrow from the request, not from the view.
    pub fn cookies<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a str> + 'n
    where
        'a: 'n,
    {
        let headers: &'a HeaderMap = self.headers;
        headers
            .get_all(http::header::COOKIE)
            .iter()
            .flat_map(|line| line.as_bytes().split(|&b| b == b';'))
            .take(MAX_COOKIE_PAIRS)
            .filter_map(move |piece| {
                let piece = piece.trim_ascii();
                let (key, value) = match piece.iter().position(|&b| b == b'=') {
                    Some(eq) => (piece.get(..eq)?, piece.get(eq + 1..)?),
                    None => (piece, &[][..]),
                };
                if key != name.as_bytes() {
                    return None;
                }
                let value = value
                    .strip_prefix(b"\"")
                    .and_then(|v| v.strip_suffix(b"\""))
                    .unwrap_or(value);
                std::str::from_utf8(value).ok()
            })
    }
}

/// Whether a header value is text (valid UTF-8, SPEC 3.3), with a fast path for ASCII, which
/// header values almost always are.
#[inline]
pub(crate) fn is_text(value: &[u8]) -> bool {
    is_ascii(value) || std::str::from_utf8(value).is_ok()
}

/// `<[u8]>::is_ascii`, eight bytes at a time with no early exit: on a header of a few hundred
/// bytes this is about twice as fast (the answer is almost always yes, so there is nothing
/// to exit early for).
#[inline]
fn is_ascii(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    let mut high = 0u64;
    for word in &mut words {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(word);
        high |= u64::from_ne_bytes(buf);
    }
    let tail = words.remainder().iter().fold(0u8, |acc, &b| acc | b);
    high & 0x8080_8080_8080_8080 == 0 && tail.is_ascii()
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` a byte; a bad escape is an error (`None`).
pub(crate) fn query_unescape(s: &str) -> Option<Cow<'_, [u8]>> {
    if !s.contains(['%', '+']) {
        return Some(Cow::Borrowed(s.as_bytes()));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |j: usize| bytes.get(j).and_then(|&h| char::from(h).to_digit(16));
                let value = hex(i + 1)? * 16 + hex(i + 2)?;
                out.push(u8::try_from(value).ok()?);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    Some(Cow::Owned(out))
}

/// Bytes that make a host need more work than dropping a trailing dot: the port separator,
/// capitals, blanks and a bracket.
static NEEDS_WORK: [bool; 256] = {
    let mut table = [false; 256];
    table[b':' as usize] = true;
    table[b' ' as usize] = true;
    table[b'\t' as usize] = true;
    table[b'[' as usize] = true;
    let mut c = b'A';
    while c <= b'Z' {
        table[c as usize] = true;
        c += 1;
    }
    table
};

/// When a raw host is in normal form but for a trailing dot, the length of its normal form
/// (without the dot); `None` when it needs more work. Most hosts are, and one table lookup
/// per byte finds that out (half the cost of the general pass of [`normalize_host_slowly`]).
fn plain_len(raw: &[u8]) -> Option<usize> {
    let work = raw
        .iter()
        .fold(false, |work, &b| work | NEEDS_WORK[usize::from(b)]);
    (!work).then(|| raw.len() - usize::from(raw.ends_with(b".")))
}

/// Lowercased host without port, brackets or trailing dot; `None` when empty.
fn normalize_host(raw: &str) -> Option<Cow<'_, str>> {
    match plain_len(raw.as_bytes()) {
        // The dot is ASCII: the length is a character boundary.
        Some(len) => raw.get(..len).filter(|h| !h.is_empty()).map(Cow::Borrowed),
        None => normalize_host_slowly(raw),
    }
}

/// [`normalize_host`] for any host: one pass over the bytes counts the colons and finds any
/// upper-case letter (string searches with char patterns cost several times more).
fn normalize_host_slowly(raw: &str) -> Option<Cow<'_, str>> {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let bytes = raw.as_bytes();
    let start = bytes.iter().position(|b| !blank(b))?;
    let end = bytes
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |e| e + 1);
    let host = raw.get(start..end)?;
    let (host, upper) = if let Some(bracketed) = host.strip_prefix('[') {
        // `[v6]` or `[v6]:port`.
        let v6 = match bracketed.find(']') {
            Some(end) => bracketed.get(..end).unwrap_or(bracketed),
            None => bracketed,
        };
        (v6, v6.bytes().any(|b| b.is_ascii_uppercase()))
    } else {
        // One colon separates a port; more than one is a bare IPv6 address, kept whole.
        // A fold without early exit, which the compiler turns into a vector loop.
        let (colons, upper) = host.bytes().fold((0u32, false), |(colons, upper), b| {
            (
                colons + u32::from(b == b':'),
                upper | b.is_ascii_uppercase(),
            )
        });
        match colons {
            1 => (
                host.split_once(':').map_or(host, |(name, _port)| name),
                upper,
            ),
            _ => (host, upper),
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        None
    } else if upper {
        Some(Cow::Owned(host.to_ascii_lowercase()))
    } else {
        Some(Cow::Borrowed(host))
    }
}

/// The path with every valid `%XX` decoded (v1); invalid escapes are kept as written.
fn decode_all(path: &str) -> Cow<'_, str> {
    let decoder = percent_encoding::percent_decode_str(path);
    match decoder.clone().decode_utf8() {
        Ok(decoded) => decoded,
        Err(_) => Cow::Owned(decoder.decode_utf8_lossy().into_owned()),
    }
}

/// Percent escapes that stay encoded in the routing path (their decoding would change how the
/// path splits or reads).
const RESERVED: &[u8] = b":/?#[]@!$&'()*+,;=%";

/// The v2/v3 routing path: unreserved escapes decoded, then `.`/`..`/`//` cleaned.
fn routing_path(path: &str) -> Cow<'_, str> {
    let decoded = if path.contains('%') {
        Cow::Owned(decode_unreserved(path))
    } else {
        Cow::Borrowed(path)
    };
    if needs_clean(&decoded) {
        Cow::Owned(clean(&decoded))
    } else {
        decoded
    }
}

fn decode_unreserved(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).and_then(|&h| char::from(h).to_digit(16));
            if let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) {
                let value = u8::try_from(hi * 16 + lo).unwrap_or(b'%');
                if RESERVED.contains(&value) {
                    out.extend_from_slice(bytes.get(i..i + 3).unwrap_or_default());
                } else {
                    out.push(value);
                }
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Whether the path holds `//`, `/./` or `/../`, or ends with `/.` or `/..`: a segment after
/// a `/` that is `.` or `..`, or empty and followed by another `/`. One pass over the path
/// (five substring searches cost more than the rest of a decision on a short path).
fn needs_clean(path: &str) -> bool {
    let mut segments = path.split('/').skip(1).peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment == "." || segment == ".." || (segment.is_empty() && !last) {
            return true;
        }
    }
    false
}

/// Go's `path.Clean`, keeping a trailing slash (as Traefik's entry points do).
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if segments.last().is_some_and(|s| *s != "..") {
                    segments.pop();
                } else if !rooted {
                    segments.push("..");
                }
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    if rooted {
        out.push('/');
    }
    out.push_str(&segments.join("/"));
    if out.is_empty() {
        out.push('.');
    }
    if path.ends_with('/') && !out.ends_with('/') {
        out.push('/');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn view_parts(uri: &str, host: Option<&str>) -> (Method, Uri, HeaderMap) {
        let mut headers = HeaderMap::new();
        if let Some(h) = host {
            headers.insert(http::header::HOST, h.parse().unwrap());
        }
        (Method::GET, uri.parse().unwrap(), headers)
    }

    #[test]
    fn host_from_header_normalised() {
        for (raw, want) in [
            ("WEB.agendor.com.br:8080", Some("web.agendor.com.br")),
            ("a.com.", Some("a.com")),
            ("[::1]:80", Some("::1")),
            ("[::1]", Some("::1")),
            ("::1", Some("::1")),
            ("", None),
            (":80", None),
        ] {
            let (m, u, h) = view_parts("/", Some(raw));
            let v = RequestView::new(&m, &u, &h, None);
            assert_eq!(v.host(), want, "{raw}");
        }
    }

    /// The straightforward normaliser that the one-pass `normalize_host` replaced: the
    /// rewrite must agree with it on every input.
    fn normalize_host_by_searches(raw: &str) -> Option<String> {
        let host = raw.trim_matches([' ', '\t']);
        let host = if let Some(bracketed) = host.strip_prefix('[') {
            match bracketed.find(']') {
                Some(end) => &bracketed[..end],
                None => bracketed,
            }
        } else {
            match host.split_once(':') {
                Some((name, port)) if !port.contains(':') => name,
                _ => host,
            }
        };
        let host = host.strip_suffix('.').unwrap_or(host);
        (!host.is_empty()).then(|| host.to_ascii_lowercase())
    }

    proptest::proptest! {
        #[test]
        fn word_ascii_check_agrees_with_std(
            // Mostly ASCII, so that one high byte anywhere (head, words, tail) is the case.
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    30 => proptest::sample::select(&[b'a', b' ', 0x7f][..]),
                    1 => proptest::sample::select(&[0x80, 0xc3, 0xff][..]),
                ],
                0..40,
            ),
        ) {
            proptest::prop_assert_eq!(is_ascii(&bytes), bytes.is_ascii());
        }

        #[test]
        fn host_key_is_the_host_unless_the_host_is_not_text(
            raw in proptest::collection::vec(
                proptest::sample::select(&b"aZ.:[] \t\xc3\xa9\xff"[..]),
                0..12,
            ),
        ) {
            let mut headers = HeaderMap::new();
            let Ok(value) = http::HeaderValue::from_bytes(&raw) else {
                return Ok(());
            };
            headers.insert(http::header::HOST, value);
            let (method, uri) = (Method::GET, Uri::from_static("/"));
            let key_first = RequestView::new(&method, &uri, &headers, None);
            let key = key_first.host_key().map(<[u8]>::to_vec);
            let host = RequestView::new(&method, &uri, &headers, None)
                .host()
                .map(|h| h.as_bytes().to_vec());
            if std::str::from_utf8(&raw).is_ok() {
                proptest::prop_assert_eq!(&key, &host);
            } else {
                // Not text: no host, and a key (if any) that no ASCII host name equals.
                proptest::prop_assert_eq!(host, None);
                proptest::prop_assert!(key.is_none_or(|k| !k.is_ascii()));
            }
            // Asked after `host`, the key is the host's bytes.
            proptest::prop_assert_eq!(
                key_first.host().map(str::as_bytes),
                key_first.host_key()
            );
        }

        #[test]
        fn one_pass_host_normaliser_agrees_with_searches(
            raw in "[ \tA-Za-z0-9.:\\[\\]é-]{0,24}",
        ) {
            proptest::prop_assert_eq!(
                normalize_host(&raw).map(Cow::into_owned),
                normalize_host_by_searches(&raw)
            );
        }
    }

    #[test]
    fn host_header_that_is_not_text_is_no_host() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::HOST,
            http::HeaderValue::from_bytes(b"a\xff.com").unwrap(),
        );
        let (m, u) = (Method::GET, Uri::from_static("/"));
        assert_eq!(RequestView::new(&m, &u, &h, None).host(), None);
    }

    #[test]
    fn authority_wins_over_host_header() {
        let (m, u, h) = view_parts("http://user@Abs.Example:81/x", Some("other.com"));
        let v = RequestView::new(&m, &u, &h, None);
        assert_eq!(v.host(), Some("abs.example"));
    }

    #[test]
    fn common_case_borrows() {
        let (m, u, h) = view_parts("/a/b", Some("a.com:8080"));
        let v = RequestView::new(&m, &u, &h, None);
        assert_eq!(v.host(), Some("a.com"));
        assert!(matches!(v.host.get(), Some(Some(Cow::Borrowed(_)))));
        assert_eq!(v.path(PathForm::Routing), "/a/b");
        assert_eq!(v.path(PathForm::Decoded), "/a/b");
        assert!(matches!(v.routing_path.get(), Some(Cow::Borrowed(_))));
        assert!(matches!(v.decoded_path.get(), Some(Cow::Borrowed(_))));
    }

    #[test]
    fn needs_clean_finds_dot_and_empty_segments() {
        let by_substrings = |p: &str| {
            p.contains("//")
                || p.contains("/./")
                || p.contains("/../")
                || p.ends_with("/.")
                || p.ends_with("/..")
        };
        for p in [
            "", "/", "//", "/a", "/a/", "/a//b", "/./", "/.", "/..", "/../a", "/a/.", "/a/..",
            "/a/.b", "/a/..b", "/.a/", "a/./b", "a", ".", "..", "./a", "/a/b/c/", "/...", "///",
            "/a/b//", "x//",
        ] {
            assert_eq!(needs_clean(p), by_substrings(p), "{p:?}");
        }
    }

    #[test]
    fn path_forms() {
        for (raw, decoded, routing) in [
            ("/foo%20bar", "/foo bar", "/foo bar"),
            ("/a%2Fb", "/a/b", "/a%2Fb"),
            ("/a%2fb%3F", "/a/b?", "/a%2fb%3F"),
            ("/a/./b/../c//d/", "/a/./b/../c//d/", "/a/c/d/"),
            ("/a/%2E%2E/b", "/a/../b", "/b"),
            ("/../..", "/../..", "/"),
            ("/a/..", "/a/..", "/"),
            ("/%zz%4", "/%zz%4", "/%zz%4"),
            ("/%ff", "/\u{fffd}", "/\u{fffd}"),
        ] {
            let (m, u, h) = view_parts(raw, None);
            let v = RequestView::new(&m, &u, &h, None);
            assert_eq!(v.path(PathForm::Decoded), decoded, "{raw}");
            assert_eq!(v.path(PathForm::Routing), routing, "{raw}");
        }
    }

    #[test]
    fn query_values_read_as_go_parse_query() {
        let (m, u, h) = view_parts("/?a=1&a=2;x&b&a=%zz&a=x+y&%61=%2F&a", None);
        let v = RequestView::new(&m, &u, &h, None);
        let values: Vec<Vec<u8>> = v.query_values("a").map(|c| c.into_owned()).collect();
        // `a=2;x` holds `;` and `a=%zz` a bad escape: skipped; `%61` decodes to `a`.
        assert_eq!(
            values,
            [b"1".to_vec(), b"x y".to_vec(), b"/".to_vec(), Vec::new()]
        );
        assert_eq!(v.query_values("b").count(), 1);
        assert_eq!(v.query_values("c").count(), 0);
    }

    #[test]
    fn cookies_by_name_across_headers() {
        let mut h = HeaderMap::new();
        h.append(
            http::header::COOKIE,
            "a=1; X_AUSER_TYPE=canaryfoo".parse().unwrap(),
        );
        h.append(
            http::header::COOKIE,
            "_AUSER_TYPE=\"canary\";flag".parse().unwrap(),
        );
        h.append(
            http::header::COOKIE,
            http::HeaderValue::from_bytes(b"a=\xff; a=3").unwrap(),
        );
        let (m, u) = (Method::GET, Uri::from_static("/"));
        let v = RequestView::new(&m, &u, &h, None);
        assert_eq!(v.cookies("a").collect::<Vec<_>>(), ["1", "3"]);
        assert_eq!(v.cookies("_AUSER_TYPE").collect::<Vec<_>>(), ["canary"]);
        assert_eq!(v.cookies("flag").collect::<Vec<_>>(), [""]);
        assert_eq!(v.cookies("AUSER_TYPE").count(), 0);
    }
}
