//! Header rewriting between the client and the upstream server: hop-by-hop headers dropped
//! in both directions, `X-Forwarded-*` added, `Host` kept or replaced.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::h1;

/// Whether `name` describes one connection, not the message ([`h1::is_hop_by_hop_name`]).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    h1::is_hop_by_hop_name(name.as_str().as_bytes())
}

/// Removes the hop-by-hop headers and every header that `Connection` names. Most messages
/// carry none, or only `Connection` with its usual tokens: then nothing is allocated, and
/// each one found is removed with a look over the few names left for the next.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // `keys` gives each name once, however many values it has.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    // The names `Connection` lists beyond the usual tokens (hop-by-hop names, or no
    // header's name), read before it goes.
    let mut named: Vec<HeaderName> = Vec::new();
    for token in connection_tokens(headers) {
        if h1::names_a_header(token.as_bytes())
            && let Ok(name) = HeaderName::from_bytes(token.as_bytes())
        {
            named.push(name);
        }
    }
    while let Some(name) = headers.keys().find(|n| is_hop_by_hop(n)).cloned() {
        headers.remove(&name);
    }
    for name in &named {
        headers.remove(name);
    }
}

/// The protocol a message asks to switch to: its `Upgrade` value when `Connection` lists
/// `upgrade`.
pub(crate) fn upgrade_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = connection_tokens(headers).any(|token| token.eq_ignore_ascii_case("upgrade"));
    asks.then(|| headers.get(header::UPGRADE).cloned())
        .flatten()
}

/// Puts back the two headers of an upgrade that [`strip_hop_by_hop`] removed.
pub(crate) fn ask_upgrade(headers: &mut HeaderMap, protocol: HeaderValue) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, protocol);
}

/// What the proxy changes in a request's headers on the way to its server, applied as the
/// request head is written ([`Forwarding::write`]) rather than to the header map: the client's
/// headers are read once and nothing is inserted; nothing is hashed or allocated either, unless
/// the request carries `X-Forwarded-For` already or `Connection` names other headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Forwarding<'a> {
    /// `Host` toward the server: the client's host, or the server's authority.
    pub(crate) host: &'a [u8],
    /// Added to `X-Forwarded-For`, after any addresses the request already carries.
    pub(crate) peer: IpAddr,
    /// `X-Forwarded-Proto`: `http` or `https`, as the client came.
    pub(crate) proto: &'static str,
    /// `X-Forwarded-Host`: the host the client asked for, when it named one.
    pub(crate) client_host: Option<&'a [u8]>,
    /// The protocol of an upgrade that goes through, passed on with `Connection: upgrade`
    /// (the two headers that the hop-by-hop rule would otherwise drop).
    pub(crate) upgrade: Option<&'a [u8]>,
}

impl Forwarding<'_> {
    /// Writes the header lines the server gets for a request with `headers`: each of them but
    /// the hop-by-hop ones, those `Connection` names, the framing ones (`Content-Length`; the
    /// head's writer adds its own) and those set here (`Host`, `X-Forwarded-*`), in their
    /// order; then `Host`, `X-Forwarded-For` (the addresses the request carried, then the
    /// peer's), `X-Forwarded-Proto`, `X-Forwarded-Host` and the upgrade's two.
    pub(crate) fn write(&self, headers: &HeaderMap, out: &mut Vec<u8>) {
        let mut has_connection = false;
        let mut has_forwarded_for = false;
        for name in headers.keys() {
            has_connection |= *name == header::CONNECTION;
            has_forwarded_for |= *name == XFF;
        }
        // The names `Connection` lists beyond the usual tokens: rare, so found by text.
        let mut named: Vec<&str> = Vec::new();
        if has_connection {
            named.extend(connection_tokens(headers).filter(|t| h1::names_a_header(t.as_bytes())));
        }
        for (name, value) in headers {
            if is_hop_by_hop(name)
                || *name == header::HOST
                || *name == header::CONTENT_LENGTH
                || *name == XFF
                || *name == XFP
                || *name == XFH
                || named.iter().any(|n| n.eq_ignore_ascii_case(name.as_str()))
            {
                continue;
            }
            h1::header_line(out, name.as_str().as_bytes(), value.as_bytes());
        }
        h1::header_line(out, b"host", self.host);
        out.extend_from_slice(b"x-forwarded-for: ");
        if has_forwarded_for {
            for prior in headers.get_all(&XFF) {
                out.extend_from_slice(prior.as_bytes());
                out.extend_from_slice(b", ");
            }
        }
        push_ip(out, self.peer);
        out.extend_from_slice(b"\r\n");
        h1::header_line(out, b"x-forwarded-proto", self.proto.as_bytes());
        if let Some(host) = self.client_host {
            h1::header_line(out, b"x-forwarded-host", host);
        }
        if let Some(protocol) = self.upgrade {
            h1::header_line(out, b"connection", b"upgrade");
            h1::header_line(out, b"upgrade", protocol);
        }
    }
}

// Made at compile time (`from_static` checks its name at run time otherwise).
const XFF: HeaderName = HeaderName::from_static("x-forwarded-for");
const XFP: HeaderName = HeaderName::from_static("x-forwarded-proto");
const XFH: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The comma-separated tokens of every `Connection` value, trimmed.
pub(crate) fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// Writes `ip` as `Display` does; IPv4, the common case, without the formatting machinery
/// (`Ipv4Addr`'s `Display` was about 2 % of a proxied request's instructions).
fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                if octet >= 100 {
                    out.push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    out.push(b'0' + octet / 10 % 10);
                }
                out.push(b'0' + octet % 10);
            }
        }
        IpAddr::V6(v6) => {
            use std::io::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_names_are_dropped() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("connection", "keep-alive, X-Secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("http2-settings", "AAMAAABkAARAAAAAAAIAAAAA"),
            ("proxy-authorization", "Basic x"),
            ("x-kept", "yes"),
            ("cookie", "a=b"),
        ] {
            h.append(k, v.parse().unwrap());
        }
        strip_hop_by_hop(&mut h);
        // `HeaderMap::remove` moves the last header into the freed place: compare as a set.
        let mut left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["cookie", "x-kept"]);
    }

    #[test]
    fn a_message_without_hop_by_hop_headers_keeps_all_its_headers_in_order() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("cookie", "a=b"),
            ("x-kept", "1"),
            ("cookie", "c=d"),
            ("accept", "*/*"),
        ] {
            h.append(k, v.parse().unwrap());
        }
        let before = h.clone();
        strip_hop_by_hop(&mut h);
        assert_eq!(h, before);
    }

    #[test]
    fn every_value_of_connection_names_headers_to_drop() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("connection", "x-one"),
            ("connection", " X-Two ,keep-alive"),
            ("x-one", "1"),
            ("x-two", "2"),
            ("x-two", "2b"),
            ("x-three", "3"),
        ] {
            h.append(k, v.parse().unwrap());
        }
        strip_hop_by_hop(&mut h);
        let left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["x-three"]);
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        let mut v4 = vec![
            [0, 0, 0, 0],
            [255, 255, 255, 255],
            [127, 0, 0, 1],
            [10, 9, 99, 100],
        ];
        v4.extend((0..=255u8).map(|o| [o, 255 - o, o / 3, o.wrapping_mul(7)]));
        let v6: [IpAddr; 3] = [
            "::1".parse().unwrap(),
            "2001:db8::8a2e:370:7334".parse().unwrap(),
            "::ffff:192.0.2.1".parse().unwrap(),
        ];
        for ip in v4.into_iter().map(IpAddr::from).chain(v6) {
            let mut out = b"x, ".to_vec();
            push_ip(&mut out, ip);
            assert_eq!(out, format!("x, {ip}").into_bytes());
        }
    }

    fn written(headers: &[(&'static str, &str)], forwarding: &Forwarding<'_>) -> String {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(*k, v.parse().unwrap());
        }
        let mut out = Vec::new();
        forwarding.write(&h, &mut out);
        String::from_utf8(out).unwrap()
    }

    const PLAIN: Forwarding<'static> = Forwarding {
        host: b"10.0.0.5:8080",
        peer: IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)),
        proto: "http",
        client_host: Some(b"web.agendor.com.br"),
        upgrade: None,
    };

    #[test]
    fn a_forwarded_request_keeps_its_own_headers_in_order_and_gets_the_proxys() {
        let lines = written(
            &[
                ("host", "web.agendor.com.br"),
                ("cookie", "a=b"),
                ("x-forwarded-for", "203.0.113.7"),
                ("accept", "*/*"),
                ("x-forwarded-for", "198.51.100.2"),
                ("cookie", "c=d"),
                ("x-forwarded-proto", "spoofed"),
                ("x-forwarded-host", "spoofed"),
                ("content-length", "3"),
            ],
            &PLAIN,
        );
        assert_eq!(
            lines,
            "cookie: a=b\r\ncookie: c=d\r\naccept: */*\r\nhost: 10.0.0.5:8080\r\n\
             x-forwarded-for: 203.0.113.7, 198.51.100.2, 127.0.0.1\r\n\
             x-forwarded-proto: http\r\nx-forwarded-host: web.agendor.com.br\r\n"
        );
        let fresh = Forwarding {
            proto: "https",
            client_host: None,
            peer: [10, 0, 0, 1].into(),
            ..PLAIN
        };
        assert_eq!(
            written(&[], &fresh),
            "host: 10.0.0.5:8080\r\nx-forwarded-for: 10.0.0.1\r\nx-forwarded-proto: https\r\n"
        );
    }

    #[test]
    fn a_forwarded_request_drops_hop_by_hop_headers_but_an_upgrades_own() {
        let client = [
            ("connection", "keep-alive, X-Secret, Upgrade"),
            ("connection", " x-two"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("x-two", "2"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("http2-settings", "AAMAAABkAARAAAAAAAIAAAAA"),
            ("proxy-authorization", "Basic x"),
            ("x-kept", "yes"),
        ];
        let tail = "host: 10.0.0.5:8080\r\nx-forwarded-for: 127.0.0.1\r\n\
                    x-forwarded-proto: http\r\nx-forwarded-host: web.agendor.com.br\r\n";
        assert_eq!(written(&client, &PLAIN), format!("x-kept: yes\r\n{tail}"));
        let upgrade = Forwarding {
            upgrade: Some(b"websocket"),
            ..PLAIN
        };
        assert_eq!(
            written(&client, &upgrade),
            format!("x-kept: yes\r\n{tail}connection: upgrade\r\nupgrade: websocket\r\n")
        );
    }
}
