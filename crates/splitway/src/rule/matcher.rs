//! Compiled matchers, the leaves of a rule's AST, and how each one looks at a request.
// Without the `internals` feature these items are crate-private; with it they are public.
#![cfg_attr(not(feature = "internals"), allow(unreachable_pub))]

use std::borrow::Cow;
use std::net::IpAddr;

use http::HeaderName;
use ipnet::IpNet;
use regex::Regex;

use crate::request::{PathForm, RequestView, is_text, query_unescape};

/// One compiled matcher with the rule text it came from.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// What it tests.
    pub kind: MatcherKind,
    /// Its source text in the rule (`Host(`a.com`)`, `HeadersRegexp:Cookie,x`), for explanations.
    pub text: Box<str>,
}

impl Matcher {
    /// The matcher's source text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the request satisfies this matcher.
    pub fn matches(&self, req: &RequestView<'_>) -> bool {
        match &self.kind {
            MatcherKind::Host(patterns) => {
                let host = req.host();
                patterns.iter().any(|p| p.matches(host))
            }
            MatcherKind::HostRegex(regexes) => {
                let host = req.host().unwrap_or("");
                regexes.iter().any(|r| r.is_match(host))
            }
            MatcherKind::Path(form, paths) => {
                let path = req.path(*form);
                paths.iter().any(|p| p == path)
            }
            MatcherKind::PathPrefix(form, prefixes) => {
                let path = req.path(*form);
                prefixes.iter().any(|p| path.starts_with(p.as_str()))
            }
            MatcherKind::PathRegex(form, regexes) => {
                let path = req.path(*form);
                regexes.iter().any(|r| r.is_match(path))
            }
            MatcherKind::Method(methods) => methods.iter().any(|m| m == req.method()),
            MatcherKind::Header { name, value } => {
                if value.is_empty() {
                    req.headers().contains_key(name)
                } else {
                    // Equal bytes to a `String` are text: no UTF-8 check needed.
                    req.headers()
                        .get_all(name)
                        .iter()
                        .any(|v| v.as_bytes() == value.as_bytes())
                }
            }
            // The search runs on the bytes, and only a value it matches is checked for UTF-8
            // (most values do not match, and the check costs as much as the search).
            MatcherKind::HeaderRegex { name, regex } => req
                .headers()
                .get_all(name)
                .iter()
                .any(|v| regex.is_match(v.as_bytes()) && is_text(v.as_bytes())),
            MatcherKind::Query {
                key,
                value,
                occurrence,
            } => query_matches(req, key, value, *occurrence),
            MatcherKind::ClientIp(nets) => req
                .client_ip()
                .is_some_and(|ip| nets.iter().any(|n| net_contains(n, ip))),
            MatcherKind::Cookie { name, value } => req.cookies(name).any(|v| v == value),
            MatcherKind::CookieRegex { name, regex } => {
                req.cookies(name).any(|v| regex.is_match(v))
            }
            MatcherKind::Always => true,
        }
    }
}

/// A regex searched in header values (bytes). A pattern that is a plain literal, such as the
/// seed's `_AUSER_TYPE=canary`, is searched with `memmem` directly: the regex engine's
/// per-search set-up costs about half as much again as the literal search itself on a
/// 200-byte Cookie header.
#[derive(Debug, Clone)]
pub struct ValueRegex {
    regex: regex::bytes::Regex,
    /// Boxed: a finder is a few hundred bytes, and matchers are many.
    literal: Option<Box<memchr::memmem::Finder<'static>>>,
}

impl ValueRegex {
    /// Wraps a compiled regex, finding out whether its pattern is a plain literal.
    pub fn new(regex: regex::bytes::Regex) -> Self {
        let literal = match regex_syntax::parse(regex.as_str()).map(|hir| hir.into_kind()) {
            Ok(regex_syntax::hir::HirKind::Literal(lit)) => {
                Some(Box::new(memchr::memmem::Finder::new(&lit.0).into_owned()))
            }
            _ => None,
        };
        ValueRegex { regex, literal }
    }

    /// Whether `value` contains a match.
    #[inline]
    pub fn is_match(&self, value: &[u8]) -> bool {
        match &self.literal {
            Some(finder) => finder.find(value).is_some(),
            None => self.regex.is_match(value),
        }
    }

    /// The pattern as compiled (Go syntax already translated).
    pub fn as_str(&self) -> &str {
        self.regex.as_str()
    }

    /// Whether the pattern is searched as a plain literal.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn is_literal(&self) -> bool {
        self.literal.is_some()
    }
}

impl HostPattern {
    /// Whether a normalised request host (lowercase, no port, no trailing dot) fits.
    pub fn matches(&self, host: Option<&str>) -> bool {
        match self {
            HostPattern::Any => true,
            HostPattern::Exact(h) => host == Some(h.as_str()),
            HostPattern::OneLabelThen(suffix) => host
                .and_then(|h| h.strip_suffix(suffix.as_str()))
                .is_some_and(|label| !label.is_empty() && !label.contains('.')),
        }
    }
}

impl QueryValue {
    /// Whether one decoded query value passes the test.
    fn test(&self, value: &[u8]) -> bool {
        match self {
            QueryValue::Equals(want) => value == want.as_bytes(),
            QueryValue::Regex(re) => std::str::from_utf8(value).is_ok_and(|v| re.is_match(v)),
            QueryValue::Present => true,
        }
    }
}

/// Whether `ip` is in `net`; an IPv4-mapped IPv6 peer (`::ffff:a.b.c.d`) also counts as its
/// IPv4 address, as Go's `IPNet.Contains` treats it.
fn net_contains(net: &IpNet, ip: IpAddr) -> bool {
    net.contains(&ip)
        || match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .is_some_and(|v4| net.contains(&IpAddr::V4(v4))),
            IpAddr::V4(_) => false,
        }
}

fn query_matches(
    req: &RequestView<'_>,
    key: &str,
    value: &QueryValue,
    occurrence: QueryOccurrence,
) -> bool {
    match occurrence {
        QueryOccurrence::First => req
            .query()
            .and_then(|raw| first_query_value(raw, key))
            .is_some_and(|v| value.test(&v)),
        QueryOccurrence::Any => req.query_values(key).any(|v| value.test(&v)),
    }
}

/// gorilla/mux's `findFirstQueryKey`: pairs split on `&` or `;`, the first whose decoded key
/// is `key` gives the value (none when that value does not decode).
fn first_query_value<'q>(raw: &'q str, key: &str) -> Option<Cow<'q, [u8]>> {
    for pair in raw.split(['&', ';']).filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match query_unescape(k) {
            Some(k) if *k == *key.as_bytes() => return query_unescape(v),
            _ => {}
        }
    }
    None
}

/// An exact host pattern (already lowercased, without trailing dot).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// Equal to this host.
    Exact(String),
    /// v3 `*.example.com`: exactly one label, then this suffix (stored as `.example.com`).
    OneLabelThen(String),
    /// v3 `*`: every request, even one with no host.
    Any,
}

/// The value test of a query matcher.
#[derive(Debug, Clone)]
pub enum QueryValue {
    /// The value equals this text (`""` for v3 `Query(`k`)`).
    Equals(String),
    /// The value matches this regex (v1 templates anchored; v3 `QueryRegexp` unanchored).
    Regex(Regex),
    /// Any value, as long as the key is present (v1 `Query:k=`).
    Present,
}

/// Which occurrences of a repeated query key are tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryOccurrence {
    /// v1/v2: only the first occurrence of the key.
    First,
    /// v3: any occurrence.
    Any,
}

/// What a matcher tests. Every syntax's matchers map onto these.
#[derive(Debug, Clone)]
pub enum MatcherKind {
    /// Host equality, any of the patterns (case-insensitive, port and `[]` removed, trailing
    /// dot tolerated on both sides).
    Host(Vec<HostPattern>),
    /// A regex over the lowercased host without port (v3: unanchored search as written;
    /// v1/v2 templates: anchored and case-insensitive). Any of them.
    HostRegex(Vec<Regex>),
    /// Path equal to any of these.
    Path(PathForm, Vec<String>),
    /// Path starting with any of these (plain string prefix).
    PathPrefix(PathForm, Vec<String>),
    /// Path matching any of these regexes (templates are anchored in the regex itself).
    PathRegex(PathForm, Vec<Regex>),
    /// Method equal to any of these (upper-cased rule values; request compared as received).
    Method(Vec<String>),
    /// Some value of header `name` equals `value` (an empty `value`, which only v1
    /// `Headers:Name, ` can give, asks for the header to be present, as gorilla/mux does).
    Header {
        /// Header name.
        name: HeaderName,
        /// Exact value.
        value: String,
    },
    /// Some value of header `name` contains a match of `regex`.
    HeaderRegex {
        /// Header name.
        name: HeaderName,
        /// Unanchored regex, run on the value's bytes; only a value that is valid UTF-8 counts.
        regex: ValueRegex,
    },
    /// Query key `key` with `value` tested at `occurrence`.
    Query {
        /// Key (case-sensitive).
        key: String,
        /// Value test.
        value: QueryValue,
        /// First occurrence only, or any.
        occurrence: QueryOccurrence,
    },
    /// The TCP peer address is in any of these networks.
    ClientIp(Vec<IpNet>),
    /// The cookie `name` (in any `Cookie` header) equals `value`.
    Cookie {
        /// Cookie name.
        name: String,
        /// Exact value.
        value: String,
    },
    /// The cookie `name` contains a match of `regex`.
    CookieRegex {
        /// Cookie name.
        name: String,
        /// Unanchored regex.
        regex: Regex,
    },
    /// Matches every request (v1 rewrite-only matchers).
    Always,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn value_regex(pattern: &str) -> ValueRegex {
        ValueRegex::new(regex::bytes::Regex::new(pattern).unwrap())
    }

    #[test]
    fn only_plain_literals_skip_the_regex_engine() {
        for (pattern, literal) in [
            ("_AUSER_TYPE=canary", true),
            (r"a\.b", true),
            ("café", true),
            ("a.b", false),
            ("^canary$", false),
            ("(?i)canary", false),
            ("", false),
            ("a|b", false),
        ] {
            assert_eq!(value_regex(pattern).is_literal(), literal, "{pattern}");
        }
    }

    proptest::proptest! {
        #[test]
        fn literal_search_agrees_with_the_regex(
            pattern in r"[ab=.\\^$|é]{0,4}",
            haystack in proptest::collection::vec(
                proptest::sample::select(&b"ab=.\\^$|\xc3\xa9\xff"[..]),
                0..12,
            ),
        ) {
            let Ok(regex) = regex::bytes::Regex::new(&pattern) else {
                return Ok(());
            };
            let fast = ValueRegex::new(regex.clone());
            proptest::prop_assert_eq!(fast.is_match(&haystack), regex.is_match(&haystack));
        }
    }
}
