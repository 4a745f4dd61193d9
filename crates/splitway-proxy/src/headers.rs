//! Header rewriting between the client and the upstream server: hop-by-hop headers dropped
//! in both directions, `X-Forwarded-*` added, `Host` kept or replaced.

use std::net::IpAddr;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Whether `name` describes one connection, not the message (RFC 9110 section 7.6.1, plus
/// the non-standard ones proxies meet, and `HTTP2-Settings`, which an `h2c` upgrade sends
/// whether or not `Connection` names it): never forwarded. One match on the name's text,
/// which the compiler sorts by length first, so that most names are passed over at once.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "proxy-authorization"
            | "proxy-authenticate"
            | "keep-alive"
            | "proxy-connection"
            | "http2-settings"
    )
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
    let tokens = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim);
    for token in tokens {
        if ["keep-alive", "close", "upgrade"]
            .iter()
            .any(|usual| token.eq_ignore_ascii_case(usual))
        {
            continue;
        }
        if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
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
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    asks.then(|| headers.get(header::UPGRADE).cloned())
        .flatten()
}

/// Puts back the two headers of an upgrade that [`strip_hop_by_hop`] removed.
pub(crate) fn ask_upgrade(headers: &mut HeaderMap, protocol: HeaderValue) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, protocol);
}

/// Adds the client's address to `X-Forwarded-For` (after any the request already carries) and
/// sets `X-Forwarded-Proto` and `X-Forwarded-Host` (the host the client asked for).
pub(crate) fn add_forwarded(
    headers: &mut HeaderMap,
    peer: IpAddr,
    proto: &'static str,
    client_host: Option<HeaderValue>,
) {
    // Made at compile time (`from_static` checks its name at run time otherwise).
    const XFF: HeaderName = HeaderName::from_static("x-forwarded-for");
    const XFP: HeaderName = HeaderName::from_static("x-forwarded-proto");
    const XFH: HeaderName = HeaderName::from_static("x-forwarded-host");
    // Sized once, and handed to the header value without a copy.
    let prior = headers.get_all(&XFF);
    let room = prior.iter().map(|v| v.len() + 2).sum::<usize>() + 39;
    let mut chain = String::with_capacity(room);
    for prior in prior.iter().filter_map(|v| v.to_str().ok()) {
        chain.push_str(prior);
        chain.push_str(", ");
    }
    push_ip(&mut chain, peer);
    if let Ok(value) = HeaderValue::from_maybe_shared(Bytes::from(chain.into_bytes())) {
        headers.insert(XFF, value);
    }
    headers.insert(XFP, HeaderValue::from_static(proto));
    if let Some(value) = client_host {
        headers.insert(XFH, value);
    }
}

/// Writes `ip` as `Display` does; IPv4, the common case, without the formatting machinery
/// (`Ipv4Addr`'s `Display` was about 2 % of a proxied request's instructions).
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if octet >= 100 {
                    out.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    out.push(char::from(b'0' + octet / 10 % 10));
                }
                out.push(char::from(b'0' + octet % 10));
            }
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write as _;
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
            let mut out = String::from("x, ");
            push_ip(&mut out, ip);
            assert_eq!(out, format!("x, {ip}"));
        }
    }

    #[test]
    fn forwarded_for_appends_the_peer_to_the_chain() {
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", "203.0.113.7".parse().unwrap());
        h.append("x-forwarded-for", "198.51.100.2".parse().unwrap());
        add_forwarded(
            &mut h,
            [127, 0, 0, 1].into(),
            "http",
            Some(HeaderValue::from_static("web.agendor.com.br")),
        );
        assert_eq!(
            h.get_all("x-forwarded-for").iter().collect::<Vec<_>>(),
            ["203.0.113.7, 198.51.100.2, 127.0.0.1"]
        );
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "web.agendor.com.br");

        let mut fresh = HeaderMap::new();
        add_forwarded(&mut fresh, [10, 0, 0, 1].into(), "https", None);
        assert_eq!(fresh["x-forwarded-for"], "10.0.0.1");
        assert_eq!(fresh["x-forwarded-proto"], "https");
        assert!(!fresh.contains_key("x-forwarded-host"));
    }
}
