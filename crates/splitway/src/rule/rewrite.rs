//! Path rewrites (Traefik v1's `PathStrip`, `PathPrefixStrip`, their `Regex` forms,
//! `AddPrefix`, `ReplacePath`, `ReplacePathRegex`) and how one request path goes through them.
//!
//! Traefik 1.7 keeps at most one rewrite of each kind per frontend (a later matcher of the
//! same kind replaces an earlier one) and chains them in a fixed order, whatever the order in
//! the rule: the regex strip, the plain strip, `AddPrefix`, `ReplacePathRegex`, `ReplacePath`
//! (`server/server.go@v1.7.34`, `wireFrontendBackend`). Each works on the decoded path, as Go's
//! `URL.Path`; the path sent is the request's own escaping where the rewrites kept it (a strip
//! cuts the escaped path at the same place, a prefix is escaped and put in front), and the
//! decoded path escaped as Go escapes a path where they did not (a replacement).
//!
//! Strips send the removed prefix as `X-Forwarded-Prefix`; replacements send the path before
//! them as `X-Replaced-Path`. Both headers replace one the client sent rather than adding to
//! it (Traefik adds, so an upstream reading the first value can be handed a client's).
// Without the `internals` feature these items are crate-private; with it they are public.
#![cfg_attr(not(feature = "internals"), allow(unreachable_pub))]

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use regex::Regex;

/// A path rewrite that a v1 rule asks for; matching ignores it.
#[derive(Debug, Clone)]
pub enum Rewrite {
    /// `PathStrip` and `PathPrefixStrip`: remove the first of these values that starts the
    /// path (a value with a `{` template starts none: Traefik strips those literally too).
    StripPrefix(Vec<String>),
    /// `PathStripRegex` and `PathPrefixStripRegex`: remove what the first of these templates
    /// (compiled as prefixes, anchored at the start) matches, when that is not empty.
    StripPrefixRegex(Vec<Regex>),
    /// `AddPrefix:/p`.
    AddPrefix(String),
    /// `ReplacePath:/p`.
    ReplacePath(String),
    /// `ReplacePathRegex:regex replacement`: every match replaced (Go's `$1` syntax, which
    /// the `regex` crate shares), when the regex matches and the replacement is not empty.
    ReplacePathRegex(Regex, String),
}

/// Go's `shouldEscape(_, encodePath)`: everything but the unreserved characters and
/// `$&+,/:;=@` is escaped.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b',')
    .remove(b'/')
    .remove(b':')
    .remove(b';')
    .remove(b'=')
    .remove(b'@');

/// One request path after a rule's rewrites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rewritten {
    /// The path to send, escaped (no query).
    pub(crate) path: String,
    /// The prefix a strip removed (decoded), for `X-Forwarded-Prefix`.
    pub(crate) forwarded_prefix: Option<String>,
    /// The path before the first replacement (decoded), for `X-Replaced-Path`.
    pub(crate) replaced_path: Option<String>,
}

/// The path as Go's `URL` holds it: decoded, and the escaped form while it is still known.
struct GoPath {
    decoded: String,
    escaped: Option<String>,
}

/// Applies `rewrites` to `path` (escaped, as received); `None` when there are none.
pub(crate) fn apply(rewrites: &[Rewrite], path: &str) -> Option<Rewritten> {
    if rewrites.is_empty() {
        return None;
    }
    let last = |want: fn(&Rewrite) -> bool| rewrites.iter().rev().find(|r| want(r));
    let decoded = match percent_encoding::percent_decode_str(path).decode_utf8() {
        Ok(d) => d.into_owned(),
        // Escapes that are not UTF-8: rewritten as written.
        Err(_) => path.to_owned(),
    };
    let mut p = GoPath {
        escaped: Some(path.to_owned()),
        decoded,
    };
    let mut out = Rewritten {
        path: String::new(),
        forwarded_prefix: None,
        replaced_path: None,
    };
    if let Some(Rewrite::StripPrefixRegex(regexes)) =
        last(|r| matches!(r, Rewrite::StripPrefixRegex(_)))
    {
        let found = regexes
            .iter()
            .filter_map(|re| re.find(&p.decoded))
            .find(|m| m.start() == 0 && !m.is_empty())
            .map(|m| m.end());
        if let Some(end) = found {
            out.forwarded_prefix = p.decoded.get(..end).map(str::to_owned);
            p.strip(end);
        }
    }
    if let Some(Rewrite::StripPrefix(prefixes)) = last(|r| matches!(r, Rewrite::StripPrefix(_)))
        && let Some(prefix) = prefixes.iter().find(|v| p.decoded.starts_with(v.as_str()))
    {
        out.forwarded_prefix = Some(prefix.clone());
        p.strip(prefix.len());
    }
    if let Some(Rewrite::AddPrefix(prefix)) = last(|r| matches!(r, Rewrite::AddPrefix(_))) {
        p.decoded.insert_str(0, prefix);
        if let Some(escaped) = &mut p.escaped {
            escaped.insert_str(0, &escape(prefix));
        }
    }
    if let Some(Rewrite::ReplacePathRegex(regex, replacement)) =
        last(|r| matches!(r, Rewrite::ReplacePathRegex(..)))
        && !replacement.is_empty()
        && regex.is_match(&p.decoded)
    {
        let replaced = regex
            .replace_all(&p.decoded, replacement.as_str())
            .into_owned();
        out.replaced_path = Some(std::mem::replace(&mut p.decoded, replaced));
        p.escaped = None;
    }
    if let Some(Rewrite::ReplacePath(path)) = last(|r| matches!(r, Rewrite::ReplacePath(_))) {
        let before = std::mem::replace(&mut p.decoded, path.clone());
        out.replaced_path.get_or_insert(before);
        p.escaped = None;
    }
    out.path = match p.escaped {
        Some(escaped) => escaped,
        None => escape(&p.decoded).into_owned(),
    };
    Some(out)
}

impl GoPath {
    /// Removes the first `len` bytes of the decoded path, and the escapes that spell them
    /// from the escaped one; then makes sure both start with `/` (Go's `ensureLeadingSlash`).
    fn strip(&mut self, len: usize) {
        self.decoded = leading_slash(self.decoded.get(len..).unwrap_or(""));
        self.escaped = self
            .escaped
            .as_deref()
            .and_then(|e| e.get(escaped_len(e, len)?..))
            .map(leading_slash);
    }
}

/// How many bytes of `escaped` spell the first `decoded_len` bytes of its decoding (each
/// `%XX` is one), or `None` when it is shorter.
fn escaped_len(escaped: &str, decoded_len: usize) -> Option<usize> {
    let bytes = escaped.as_bytes();
    let (mut at, mut decoded) = (0, 0);
    while decoded < decoded_len {
        let step = match (bytes.get(at), bytes.get(at + 1), bytes.get(at + 2)) {
            (Some(b'%'), Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => 3,
            (Some(_), _, _) => 1,
            (None, _, _) => return None,
        };
        at += step;
        decoded += 1;
    }
    Some(at)
}

/// `"/" + s` without its own leading `/`, as Traefik 1.7 does it.
fn leading_slash(s: &str) -> String {
    format!("/{}", s.strip_prefix('/').unwrap_or(s))
}

fn escape(path: &str) -> Cow<'_, str> {
    percent_encoding::utf8_percent_encode(path, PATH).into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn strip(values: &[&str]) -> Rewrite {
        Rewrite::StripPrefix(values.iter().map(|v| (*v).to_owned()).collect())
    }

    fn regex(re: &str) -> Regex {
        Regex::new(re).unwrap()
    }

    fn path(rewrites: &[Rewrite], p: &str) -> String {
        apply(rewrites, p).unwrap().path
    }

    #[test]
    fn no_rewrites_is_none() {
        assert_eq!(apply(&[], "/a"), None);
    }

    #[test]
    fn a_strip_removes_the_first_value_that_starts_the_path() {
        let r = [strip(&["/api", "/api/v1"])];
        let out = apply(&r, "/api/v1/x").unwrap();
        assert_eq!(out.path, "/v1/x");
        assert_eq!(out.forwarded_prefix.as_deref(), Some("/api"));
        assert_eq!(out.replaced_path, None);
        assert_eq!(path(&r, "/api"), "/");
        assert_eq!(path(&r, "/api/"), "/");
        assert_eq!(path(&r, "/apix"), "/x");
        // Nothing starts the path: unchanged, no header.
        assert_eq!(apply(&r, "/other").unwrap().forwarded_prefix, None);
        assert_eq!(path(&r, "/other"), "/other");
    }

    #[test]
    fn a_strip_keeps_the_clients_escapes_after_the_prefix() {
        let r = [strip(&["/api"])];
        assert_eq!(path(&r, "/api/a%20b%2Fc"), "/a%20b%2Fc");
        // An escaped prefix is cut at the same place in the escaped path.
        assert_eq!(path(&r, "/%61pi/x%3F"), "/x%3F");
    }

    #[test]
    fn a_regex_strip_removes_what_the_template_matched() {
        let r = [Rewrite::StripPrefixRegex(vec![regex("^/u/(?:[0-9]+)")])];
        let out = apply(&r, "/u/42/profile").unwrap();
        assert_eq!(out.path, "/profile");
        assert_eq!(out.forwarded_prefix.as_deref(), Some("/u/42"));
        assert_eq!(path(&r, "/u/x"), "/u/x");
    }

    #[test]
    fn add_prefix_goes_in_front_escaped() {
        let r = [Rewrite::AddPrefix("/v2".into())];
        let out = apply(&r, "/x%20y").unwrap();
        assert_eq!(out.path, "/v2/x%20y");
        assert_eq!((out.forwarded_prefix, out.replaced_path), (None, None));
        assert_eq!(path(&[Rewrite::AddPrefix("/a b".into())], "/x"), "/a%20b/x");
    }

    #[test]
    fn replacements_keep_the_original_path_in_the_header() {
        let r = [Rewrite::ReplacePath("/health".into())];
        let out = apply(&r, "/status%20page").unwrap();
        assert_eq!(out.path, "/health");
        assert_eq!(out.replaced_path.as_deref(), Some("/status page"));
        let r = [Rewrite::ReplacePathRegex(
            regex("^/api/(.*)"),
            "/v2/$1".into(),
        )];
        let out = apply(&r, "/api/users/7").unwrap();
        assert_eq!(out.path, "/v2/users/7");
        assert_eq!(out.replaced_path.as_deref(), Some("/api/users/7"));
        // No match: unchanged, no header.
        let out = apply(&r, "/web/x").unwrap();
        assert_eq!((out.path.as_str(), out.replaced_path), ("/web/x", None));
        // A replacement's text is escaped as Go escapes a path.
        let r = [Rewrite::ReplacePath("/a b?c".into())];
        assert_eq!(path(&r, "/x"), "/a%20b%3Fc");
    }

    #[test]
    fn rewrites_chain_in_traefiks_order_whatever_the_rule_order() {
        // Rule order: AddPrefix first; Traefik strips before it adds.
        let r = [Rewrite::AddPrefix("/v2".into()), strip(&["/api"])];
        assert_eq!(path(&r, "/api/x"), "/v2/x");
        // A later matcher of one kind replaces an earlier one.
        let r = [
            Rewrite::AddPrefix("/v1".into()),
            Rewrite::AddPrefix("/v2".into()),
        ];
        assert_eq!(path(&r, "/x"), "/v2/x");
        // Regex strip, then plain strip, then replace (which sees the stripped path).
        let r = [
            Rewrite::ReplacePath("/fixed".into()),
            strip(&["/b"]),
            Rewrite::StripPrefixRegex(vec![regex("^/a")]),
        ];
        let out = apply(&r, "/a/b/c").unwrap();
        assert_eq!(out.path, "/fixed");
        assert_eq!(out.forwarded_prefix.as_deref(), Some("/b"));
        assert_eq!(out.replaced_path.as_deref(), Some("/c"));
    }

    /// The README's table, from the rule text: path sent, X-Forwarded-Prefix, X-Replaced-Path.
    #[test]
    fn each_v1_rewrite_matcher_as_the_readme_gives_it() {
        for (rule, want, prefix, replaced) in [
            ("PathStrip:/api/users/7", "/", Some("/api/users/7"), None),
            ("PathPrefixStrip:/api", "/users/7", Some("/api"), None),
            (
                "PathStripRegex:/api/users/{id:[0-9]+}",
                "/",
                Some("/api/users/7"),
                None,
            ),
            (
                "PathPrefixStripRegex:/api/{v:[a-z]+}",
                "/7",
                Some("/api/users"),
                None,
            ),
            ("AddPrefix:/v2", "/v2/api/users/7", None, None),
            ("ReplacePath:/fixed", "/fixed", None, Some("/api/users/7")),
            (
                "ReplacePathRegex:^/api/(.*) /v2/$1",
                "/v2/users/7",
                None,
                Some("/api/users/7"),
            ),
        ] {
            let parsed = crate::rule::Rule::parse_v1(&[rule]).unwrap();
            let out = parsed.rewrite_path("/api/users/7").unwrap();
            assert_eq!(
                (
                    out.path.as_str(),
                    out.forwarded_prefix.as_deref(),
                    out.replaced_path.as_deref()
                ),
                (want, prefix, replaced),
                "{rule}"
            );
        }
        let plain = crate::rule::Rule::parse_v1(&["PathPrefix:/api"]).unwrap();
        assert_eq!(plain.rewrite_path("/api/users/7"), None);
    }

    #[test]
    fn escaped_len_counts_each_escape_as_one_byte() {
        assert_eq!(escaped_len("/a%20b", 3), Some(5));
        assert_eq!(escaped_len("/a%2", 3), Some(3));
        assert_eq!(escaped_len("/a", 3), None);
    }
}
