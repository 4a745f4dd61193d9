//! Compiled matchers, the leaves of a rule's AST, and how each one looks at a request.

use http::HeaderName;
use ipnet::IpNet;
use regex::Regex;

use crate::request::RequestView;

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
        let _ = req;
        todo!("rule helper implements matcher evaluation")
    }
}

/// Which view of the request path a path matcher sees (SPEC.md 3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathForm {
    /// v1: every percent escape decoded.
    Decoded,
    /// v2/v3: escapes decoded except reserved ones (`%2F` stays), `/./`, `/../`, `//` cleaned.
    Routing,
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

/// A path rewrite that a v1 rule asks the proxy to apply; matching ignores it.
#[derive(Debug, Clone)]
pub enum Rewrite {
    /// `PathStrip`, `PathPrefixStrip`, and their `Regex` forms: remove the matched prefix.
    StripMatchedPrefix,
    /// `AddPrefix:/p`.
    AddPrefix(String),
    /// `ReplacePath:/p`.
    ReplacePath(String),
    /// `ReplacePathRegex:regex replacement`.
    ReplacePathRegex(Regex, String),
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
    /// Some value of header `name` equals `value`.
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
        /// Unanchored regex.
        regex: Regex,
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
