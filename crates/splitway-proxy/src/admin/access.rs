//! Who may use which admin endpoint: one pure function, [`AdminAccess::check`], decides for
//! every request before any endpoint runs.
//!
//! - `GET /healthz`, `GET /metrics` and `GET /` (the dashboard page, which holds no data) are
//!   always open: probes and Prometheus scrapes send no token.
//! - With a token ([`AdminAccess::with_token`]): every other request needs
//!   `Authorization: Bearer TOKEN`, else 401. The token is compared in constant time.
//! - Without one ([`AdminAccess::loopback_only`]): the listener may bind a loopback address
//!   only ([`AdminAccess::allows_bind`]); every other request needs a loopback `Host`
//!   (`127.0.0.1`, `[::1]` or `localhost`, any port) and, when sent, a loopback `Origin`,
//!   else 403: a page the operator visits cannot reach the admin through a DNS name rebound
//!   to 127.0.0.1. Writes (any method but `GET`, `HEAD` and the read `POST /explain`) also
//!   need `X-Splitway: 1`, else 403: a cross-site form or `fetch` cannot send that header
//!   without a preflight the admin never answers.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use http::header::{self, HeaderMap};
use http::{Method, StatusCode, Uri};

/// The header a write must carry when the admin has no token.
pub const WRITE_HEADER: &str = "x-splitway";

/// How the admin listener authenticates its callers.
#[derive(Clone, Default)]
pub struct AdminAccess {
    token: Option<Box<[u8]>>,
}

/// Why a request was refused: the status to answer (401 or 403) and the reason, for the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied {
    /// 401 (no or wrong token) or 403 (not loopback, or a write without `X-Splitway: 1`).
    pub status: StatusCode,
    /// What the caller must change, in words.
    pub reason: &'static str,
}

/// Why a token file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The file could not be read.
    #[error("cannot read the admin token file {path}: {source}")]
    Unreadable {
        /// The file.
        path: String,
        /// The read error.
        source: std::io::Error,
    },
    /// The file holds nothing (or only a newline).
    #[error("the admin token file {path} is empty")]
    Empty {
        /// The file.
        path: String,
    },
}

impl AdminAccess {
    /// No token: loopback binds, loopback `Host` and `Origin`, `X-Splitway: 1` on writes.
    pub fn loopback_only() -> AdminAccess {
        AdminAccess { token: None }
    }

    /// A bearer token: its bytes. An empty token is refused.
    pub fn with_token(token: &[u8]) -> Option<AdminAccess> {
        (!token.is_empty()).then(|| AdminAccess {
            token: Some(token.into()),
        })
    }

    /// The token in `path`: the file's bytes less one trailing newline (`\n` or `\r\n`).
    pub fn from_token_file(path: &Path) -> Result<AdminAccess, TokenError> {
        let bytes = std::fs::read(path).map_err(|source| TokenError::Unreadable {
            path: path.display().to_string(),
            source,
        })?;
        let token = bytes
            .strip_suffix(b"\r\n")
            .or_else(|| bytes.strip_suffix(b"\n"))
            .unwrap_or(&bytes);
        AdminAccess::with_token(token).ok_or_else(|| TokenError::Empty {
            path: path.display().to_string(),
        })
    }

    /// Whether a token is configured.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Whether the listener may bind `addr`: always with a token, else only a loopback
    /// address. The error says why, for the operator.
    pub fn allows_bind(&self, addr: SocketAddr) -> Result<(), String> {
        if self.token.is_some() || addr.ip().is_loopback() {
            return Ok(());
        }
        Err(format!(
            "the admin listener may bind {addr} only with --admin-token-file: without a \
             token anyone who reaches it could change the servers' weights; bind a loopback \
             address (127.0.0.1 or [::1]) or give a token"
        ))
    }

    /// Whether a request may reach its endpoint. `uri` gives the path (and, for HTTP/2, the
    /// authority); `headers` the `Host`, `Origin`, `Authorization` and `X-Splitway` headers.
    pub fn check(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<(), Denied> {
        let path = uri.path();
        if (method == Method::GET || method == Method::HEAD)
            && matches!(path, "/healthz" | "/metrics" | "/")
        {
            return Ok(());
        }
        match &self.token {
            Some(token) => check_token(token, headers),
            None => check_loopback(method, uri, headers),
        }
    }
}

/// Never prints the token.
impl fmt::Debug for AdminAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminAccess")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

fn check_token(token: &[u8], headers: &HeaderMap) -> Result<(), Denied> {
    const DENIED: Denied = Denied {
        status: StatusCode::UNAUTHORIZED,
        reason: "this endpoint needs `Authorization: Bearer TOKEN` with the admin token",
    };
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(DENIED);
    };
    let value = value.as_bytes();
    // The scheme is case-insensitive (RFC 9110 section 11.1).
    let given = match (value.get(..7), value.get(7..)) {
        (Some(scheme), Some(rest)) if scheme.eq_ignore_ascii_case(b"bearer ") => rest,
        _ => return Err(DENIED),
    };
    if constant_time_eq(given, token) {
        Ok(())
    } else {
        Err(DENIED)
    }
}

/// Equal bytes, in a time that depends on the lengths only: every byte pair is looked at,
/// whatever the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let lengths_differ = u8::from(a.len() != b.len());
    // Compared against itself when the lengths differ, so the loop's length does not depend
    // on where the two differ either.
    let other = if a.len() == b.len() { b } else { a };
    let diff = a.iter().zip(other).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff | lengths_differ) == 0
}

fn check_loopback(method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<(), Denied> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let host_ok = match (hosts.next(), hosts.next()) {
        (Some(host), None) => {
            host.to_str().is_ok_and(is_loopback_authority)
                && uri
                    .authority()
                    .is_none_or(|a| is_loopback_authority(a.as_str()))
        }
        // HTTP/2 sends the authority as `:authority`, which hyper puts in the URI.
        (None, _) => uri
            .authority()
            .is_some_and(|a| is_loopback_authority(a.as_str())),
        (Some(_), Some(_)) => false,
    };
    if !host_ok {
        return Err(Denied {
            status: StatusCode::FORBIDDEN,
            reason: "without an admin token, the admin answers only requests for a loopback \
                     Host (127.0.0.1, [::1] or localhost)",
        });
    }
    let mut origins = headers.get_all(header::ORIGIN).iter();
    let origin_ok = match (origins.next(), origins.next()) {
        (None, _) => true,
        (Some(origin), None) => origin.to_str().is_ok_and(is_loopback_origin),
        (Some(_), Some(_)) => false,
    };
    if !origin_ok {
        return Err(Denied {
            status: StatusCode::FORBIDDEN,
            reason: "without an admin token, the admin answers only requests from a loopback \
                     Origin",
        });
    }
    let read = method == Method::GET
        || method == Method::HEAD
        || (method == Method::POST && uri.path() == "/explain");
    let mut marks = headers.get_all(WRITE_HEADER).iter();
    let marked = matches!((marks.next(), marks.next()), (Some(v), None) if v == "1");
    if read || marked {
        Ok(())
    } else {
        Err(Denied {
            status: StatusCode::FORBIDDEN,
            reason: "without an admin token, a write needs the header `X-Splitway: 1`",
        })
    }
}

/// `127.0.0.1`, `[::1]` or `localhost` (any case), each with or without a port.
fn is_loopback_authority(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((inner, port))
                if port.is_empty() || port.strip_prefix(':').is_some_and(is_port) =>
            {
                return inner == "::1";
            }
            _ => return false,
        },
        None => match authority.split_once(':') {
            Some((host, port)) if is_port(port) => host,
            Some(_) => return false,
            None => authority,
        },
    };
    host == "127.0.0.1" || host.eq_ignore_ascii_case("localhost")
}

/// 1 to 5 digits.
fn is_port(digits: &str) -> bool {
    (1..=5).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `http://` or `https://` and a loopback authority, nothing after it.
fn is_loopback_origin(origin: &str) -> bool {
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(is_loopback_authority)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    fn status(access: &AdminAccess, method: Method, path: &str, pairs: &[(&str, &str)]) -> u16 {
        let uri: Uri = path.parse().unwrap();
        match access.check(&method, &uri, &headers(pairs)) {
            Ok(()) => 200,
            Err(denied) => denied.status.as_u16(),
        }
    }

    #[test]
    fn probes_and_scrapes_are_always_open() {
        let token = AdminAccess::with_token(b"s3cret").unwrap();
        for access in [AdminAccess::loopback_only(), token] {
            for path in ["/healthz", "/metrics", "/"] {
                assert_eq!(
                    status(&access, Method::GET, path, &[("host", "evil.example")]),
                    200
                );
                assert_eq!(status(&access, Method::GET, path, &[]), 200);
            }
        }
    }

    #[test]
    fn a_token_is_needed_exactly_and_in_any_scheme_case() {
        let access = AdminAccess::with_token(b"s3cret").unwrap();
        let get = |pairs: &[(&str, &str)]| status(&access, Method::GET, "/stats", pairs);
        assert_eq!(get(&[("authorization", "Bearer s3cret")]), 200);
        assert_eq!(
            get(&[("authorization", "bearer s3cret"), ("host", "evil.example")]),
            200
        );
        assert_eq!(get(&[]), 401);
        assert_eq!(get(&[("authorization", "Bearer s3cre")]), 401);
        assert_eq!(get(&[("authorization", "Bearer s3cret2")]), 401);
        assert_eq!(get(&[("authorization", "Bearer S3cret")]), 401);
        assert_eq!(get(&[("authorization", "Basic s3cret")]), 401);
        assert_eq!(get(&[("authorization", "Bearer  s3cret")]), 401);
        assert_eq!(
            get(&[
                ("authorization", "Bearer s3cret"),
                ("authorization", "Bearer x")
            ]),
            401
        );
        // A write needs nothing more than the token.
        assert_eq!(
            status(
                &access,
                Method::PUT,
                "/servers/web/k8s/down",
                &[("authorization", "Bearer s3cret")]
            ),
            200
        );
        assert_eq!(
            status(
                &access,
                Method::PUT,
                "/servers/web/k8s/down",
                &[("x-splitway", "1")]
            ),
            401
        );
    }

    #[test]
    fn without_a_token_only_loopback_hosts_and_origins_pass() {
        let access = AdminAccess::loopback_only();
        let get = |pairs: &[(&str, &str)]| status(&access, Method::GET, "/stats", pairs);
        for host in [
            "127.0.0.1",
            "127.0.0.1:9901",
            "[::1]",
            "[::1]:9901",
            "localhost",
            "LocalHost:1",
        ] {
            assert_eq!(get(&[("host", host)]), 200, "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:9901",
            "127.0.0.2",
            "localhost.evil.example",
            "127.0.0.1:",
            "127.0.0.1:x",
            "[::1]x",
            "[::2]",
            "127.0.0.1@evil.example",
        ] {
            assert_eq!(get(&[("host", host)]), 403, "{host}");
        }
        assert_eq!(get(&[]), 403);
        assert_eq!(get(&[("host", "127.0.0.1"), ("host", "127.0.0.1")]), 403);
        for origin in [
            "http://127.0.0.1:9901",
            "https://localhost",
            "http://[::1]:80",
        ] {
            assert_eq!(
                get(&[("host", "localhost"), ("origin", origin)]),
                200,
                "{origin}"
            );
        }
        for origin in [
            "http://evil.example",
            "null",
            "http://127.0.0.1/x",
            "127.0.0.1",
        ] {
            assert_eq!(
                get(&[("host", "localhost"), ("origin", origin)]),
                403,
                "{origin}"
            );
        }
    }

    #[test]
    fn an_http2_authority_counts_as_the_host() {
        let access = AdminAccess::loopback_only();
        assert_eq!(
            status(&access, Method::GET, "http://127.0.0.1:9901/stats", &[]),
            200
        );
        assert_eq!(
            status(&access, Method::GET, "http://evil.example/stats", &[]),
            403
        );
        assert_eq!(
            status(
                &access,
                Method::GET,
                "http://evil.example/stats",
                &[("host", "127.0.0.1")]
            ),
            403
        );
    }

    #[test]
    fn without_a_token_writes_need_the_splitway_header() {
        let access = AdminAccess::loopback_only();
        let local = ("host", "127.0.0.1:9901");
        let put = |pairs: &[(&str, &str)]| {
            status(&access, Method::PUT, "/servers/web/k8s/weight/0", pairs)
        };
        assert_eq!(put(&[local]), 403);
        assert_eq!(put(&[local, ("x-splitway", "0")]), 403);
        assert_eq!(put(&[local, ("x-splitway", "1")]), 200);
        assert_eq!(put(&[("host", "evil.example"), ("x-splitway", "1")]), 403);
        assert_eq!(
            status(&access, Method::POST, "/rollouts/web/pause", &[local]),
            403
        );
        assert_eq!(status(&access, Method::DELETE, "/stats", &[local]), 403);
        // `POST /explain` is a read.
        assert_eq!(status(&access, Method::POST, "/explain", &[local]), 200);
    }

    #[test]
    fn binds_off_loopback_need_a_token() {
        let open = AdminAccess::loopback_only();
        assert!(open.allows_bind("127.0.0.1:0".parse().unwrap()).is_ok());
        assert!(open.allows_bind("[::1]:0".parse().unwrap()).is_ok());
        let refused = open
            .allows_bind("0.0.0.0:9901".parse().unwrap())
            .unwrap_err();
        assert!(refused.contains("0.0.0.0:9901") && refused.contains("--admin-token-file"));
        let token = AdminAccess::with_token(b"t").unwrap();
        assert!(token.allows_bind("0.0.0.0:9901".parse().unwrap()).is_ok());
    }

    #[test]
    fn a_token_file_loses_one_trailing_newline_and_must_hold_something() {
        let dir = std::env::temp_dir().join(format!("splitway-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        let token_of = |bytes: &[u8]| {
            std::fs::write(&file, bytes).unwrap();
            AdminAccess::from_token_file(&file).map(|a| a.token)
        };
        assert_eq!(token_of(b"abc\n").unwrap().as_deref(), Some(&b"abc"[..]));
        assert_eq!(token_of(b"abc\r\n").unwrap().as_deref(), Some(&b"abc"[..]));
        assert_eq!(
            token_of(b"abc\n\n").unwrap().as_deref(),
            Some(&b"abc\n"[..])
        );
        assert!(matches!(token_of(b"\n"), Err(TokenError::Empty { .. })));
        assert!(matches!(token_of(b""), Err(TokenError::Empty { .. })));
        let missing = AdminAccess::from_token_file(&dir.join("missing"));
        assert!(matches!(missing, Err(TokenError::Unreadable { .. })));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(AdminAccess::with_token(b"").is_none());
        assert!(!format!("{:?}", AdminAccess::with_token(b"s3cret").unwrap()).contains("s3cret"));
    }

    #[test]
    fn constant_time_eq_is_equality() {
        for (a, b, eq) in [
            (&b""[..], &b""[..], true),
            (b"abc", b"abc", true),
            (b"abc", b"abd", false),
            (b"abc", b"ab", false),
            (b"ab", b"abc", false),
            (b"", b"a", false),
        ] {
            assert_eq!(constant_time_eq(a, b), eq);
        }
    }
}
