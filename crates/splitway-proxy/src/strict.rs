//! The checks a request passes before it is routed: its size as [`Limits`] bounds it, and the
//! authority it names (RFC 9112 section 3.2 for HTTP/1, RFC 9113 section 8.3.1 for HTTP/2);
//! and which protocol upgrades go through.
//!
//! The byte size of a head is bounded earlier, by the connection's parser (see
//! [`server`](crate::server)); what is counted here is what the parser let through.

use std::net::Ipv6Addr;

use http::header::{self, HeaderMap, HeaderValue};
use http::uri::Authority;
use http::{Request, StatusCode, Version};

use crate::headers;
use crate::limits::Limits;

/// Why a request is refused: the status and a line of text for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// 400, 414 or 431.
    pub(crate) status: StatusCode,
    /// The response body.
    pub(crate) reason: &'static str,
}

const fn refuse(status: StatusCode, reason: &'static str) -> Refusal {
    Refusal { status, reason }
}

/// `Ok` when `req` may be routed; else the answer to give instead.
pub(crate) fn check<B>(req: &Request<B>, limits: &Limits) -> Result<(), Refusal> {
    if req.headers().len() > limits.max_headers {
        return Err(refuse(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "too many header fields\n",
        ));
    }
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > limits.max_uri_bytes {
        return Err(refuse(
            StatusCode::URI_TOO_LONG,
            "request target too long\n",
        ));
    }
    authority(req)
}

/// One `Host` at most, valid; on HTTP/1.1 exactly one; on HTTP/2 one equal to `:authority`
/// when both are sent, and at least one of the two.
fn authority<B>(req: &Request<B>) -> Result<(), Refusal> {
    let bad = |reason| Err(refuse(StatusCode::BAD_REQUEST, reason));
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return bad("more than one Host header\n");
    }
    let host = match host.map(|h| parse_host(h.as_bytes())) {
        Some(None) => return bad("invalid Host header\n"),
        Some(Some(host)) => Some(host),
        None => None,
    };
    // The authority of an absolute-form target (HTTP/1) or `:authority` (HTTP/2).
    let target = match req.uri().authority().map(target_authority) {
        Some(None) => return bad("invalid authority\n"),
        Some(Some(target)) => Some(target),
        None => None,
    };
    let default_port = if req.uri().scheme_str() == Some("https") {
        443
    } else {
        80
    };
    match req.version() {
        Version::HTTP_09 | Version::HTTP_10 => Ok(()),
        Version::HTTP_11 if host.is_none() => bad("no Host header\n"),
        Version::HTTP_11 => Ok(()),
        // HTTP/2 and later: `:authority` is the authority; a `Host` beside it must name the
        // same one (RFC 9113 section 8.3.1), and the forwarded `Host` is `:authority`.
        _ => match (target, host) {
            (None, None) => bad("no :authority and no Host\n"),
            (Some(target), Some(host)) if !target.same_as(&host, default_port) => {
                bad("Host differs from :authority\n")
            }
            _ => Ok(()),
        },
    }
}

/// The protocol of an upgrade to forward: the request's `Upgrade` when `Connection` asks for
/// one and each protocol it lists is one of `allowed` (the configuration's
/// `upgrade_protocols`, compared without case). Anything else is forwarded as a plain
/// request, the upgrade headers dropped as hop-by-hop ones; `h2c` above all, even when a
/// configuration built by hand lists it (the loader refuses it), since it would turn the
/// connection to the server into one the proxy no longer reads.
pub(crate) fn upgrade(headers: &HeaderMap, allowed: &[String]) -> Option<HeaderValue> {
    let protocol = headers::upgrade_protocol(headers)?;
    let text = protocol.to_str().ok()?;
    let allowed = |name: &str| {
        // `websocket` or `websocket/13`: the name before any version.
        let name = name.trim().split('/').next().unwrap_or("");
        !name.eq_ignore_ascii_case("h2c") && allowed.iter().any(|p| p.eq_ignore_ascii_case(name))
    };
    (!text.trim().is_empty() && text.split(',').all(allowed)).then_some(protocol)
}

/// A `host[:port]` as a request names it: the host's text and the port, if any.
#[derive(Debug, PartialEq, Eq)]
struct HostPort<'a> {
    host: &'a [u8],
    port: Option<u16>,
}

impl HostPort<'_> {
    /// The same origin server: hosts equal without case, ports equal once the scheme's
    /// default is taken for a missing one.
    fn same_as(&self, other: &HostPort<'_>, default_port: u16) -> bool {
        self.host.eq_ignore_ascii_case(other.host)
            && self.port.unwrap_or(default_port) == other.port.unwrap_or(default_port)
    }
}

/// An authority of the request target: valid as a `Host` would be, and without userinfo
/// (RFC 9110 section 4.2.4 deprecates it; RFC 9113 forbids it in `:authority`).
fn target_authority(authority: &Authority) -> Option<HostPort<'_>> {
    parse_host(authority.as_str().as_bytes())
}

/// `uri-host [ ":" port ]` (RFC 9110 section 7.2): a reg-name, an IPv4 address (a reg-name
/// syntactically) or a bracketed IPv6 address; the port 1 to 5 digits, at most 65535. `None`
/// for anything else: empty, a space, userinfo, a port such as `abc`.
fn parse_host(value: &[u8]) -> Option<HostPort<'_>> {
    let (host, port) = if let Some(rest) = value.strip_prefix(b"[") {
        let end = rest.iter().position(|&b| b == b']')?;
        let (inside, after) = rest.split_at(end);
        let literal = std::str::from_utf8(inside).ok()?;
        literal.parse::<Ipv6Addr>().ok()?;
        let after = after.strip_prefix(b"]")?;
        let host = value.get(..end + 2)?;
        match after {
            [] => (host, None),
            [b':', port @ ..] => (host, Some(port)),
            _ => return None,
        }
    } else {
        match value.iter().rposition(|&b| b == b':') {
            Some(colon) => (value.get(..colon)?, Some(value.get(colon + 1..)?)),
            None => (value, None),
        }
    };
    let port = match port {
        None => None,
        Some(digits) => Some(parse_port(digits)?),
    };
    if host.is_empty() || !(host.starts_with(b"[") || reg_name(host)) {
        return None;
    }
    Some(HostPort { host, port })
}

fn parse_port(digits: &[u8]) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// RFC 3986's reg-name: unreserved characters, sub-delims and percent-encoded octets.
fn reg_name(host: &[u8]) -> bool {
    // The common name, without a percent sign: one look-up a byte.
    if host.iter().all(|&b| REG_NAME_BYTE[usize::from(b)]) {
        return true;
    }
    let mut bytes = host.iter();
    while let Some(&b) = bytes.next() {
        let ok = match b {
            b'%' => {
                let (hi, lo) = (bytes.next(), bytes.next());
                hi.is_some_and(u8::is_ascii_hexdigit) && lo.is_some_and(u8::is_ascii_hexdigit)
            }
            b => REG_NAME_BYTE[usize::from(b)],
        };
        if !ok {
            return false;
        }
    }
    true
}

/// The bytes a reg-name takes as they are: unreserved characters and sub-delims.
const REG_NAME_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = matches!(
            b as u8,
            b'a'..=b'z'
                | b'A'..=b'Z'
                | b'0'..=b'9'
                | b'-'
                | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
        );
        b += 1;
    }
    table
};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_checked_against_rfc_9110() {
        for good in [
            "web.agendor.com.br",
            "WEB.agendor.com.br:443",
            "127.0.0.1:8080",
            "[::1]:80",
            "[2001:db8::1]",
            "xn--bcher-kva.example",
            "a%2Db.example",
        ] {
            assert!(parse_host(good.as_bytes()).is_some(), "{good}");
        }
        for bad in [
            "",
            "web.agendor.com.br:abc",
            "web agendor.com.br",
            "web.agendor.com.br:",
            "web.agendor.com.br:65536",
            "web.agendor.com.br:123456",
            "user@web.agendor.com.br",
            "a:1:2",
            "[::1",
            "[::1]x",
            "[not-v6]",
            ":80",
            "a%2",
            "a%zz",
            "a/b",
        ] {
            assert!(parse_host(bad.as_bytes()).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn the_same_origin_ignores_case_and_the_default_port() {
        let a = parse_host(b"Web.Example").unwrap();
        assert!(a.same_as(&parse_host(b"web.example:80").unwrap(), 80));
        assert!(!a.same_as(&parse_host(b"web.example:8080").unwrap(), 80));
        assert!(!a.same_as(&parse_host(b"other.example").unwrap(), 80));
    }

    #[test]
    fn only_listed_upgrades_go_through() {
        let allowed = ["websocket".to_owned(), "h2c".to_owned()];
        let asked = |protocol: &str| {
            let mut h = HeaderMap::new();
            h.insert("connection", "Upgrade".parse().unwrap());
            h.insert("upgrade", protocol.parse().unwrap());
            upgrade(&h, &allowed)
        };
        assert_eq!(asked("websocket").unwrap(), "websocket");
        assert_eq!(asked("WebSocket/13").unwrap(), "WebSocket/13");
        assert!(asked("h2c").is_none());
        assert!(asked("websocket, h2c").is_none());
        assert!(asked("echo").is_none());
        assert!(asked("").is_none());
    }
}
