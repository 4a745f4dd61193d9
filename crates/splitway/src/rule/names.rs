//! Matcher names: the one list of every name any syntax knows, which syntaxes accept each, and
//! how a written name resolves to one (or to an error that says what was probably meant).
//!
//! Every builder dispatches on [`MatcherName`] with an exhaustive `match`, so a name added
//! here is a compile error in each place that must decide what it means.
// Without the `internals` feature these items are crate-private; with it they are public.
#![cfg_attr(not(feature = "internals"), allow(unreachable_pub))]

use std::fmt;
use std::ops::Range;

use super::err;
use super::{RuleError, Syntax};

/// Declares [`MatcherName`] and the lists derived from it, from one table of
/// `Name: syntaxes;` lines (the order is the order error messages list names in).
macro_rules! matcher_names {
    ($($(#[$doc:meta])* $name:ident: $($syntax:ident)|+;)*) => {
        /// A matcher name, spelt as Traefik documents it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum MatcherName {
            $($(#[$doc])* $name,)*
        }

        impl MatcherName {
            /// Every name, in the order messages list them.
            pub const ALL: &[MatcherName] = &[$(MatcherName::$name,)*];

            /// The name as documented (`HostRegexp`, `ClientIP`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(MatcherName::$name => stringify!($name),)*
                }
            }

            /// Whether rules in `syntax` have this matcher.
            pub const fn in_syntax(self, syntax: Syntax) -> bool {
                match self {
                    $(MatcherName::$name => matches!(syntax, $(Syntax::$syntax)|+),)*
                }
            }
        }
    };
}

matcher_names! {
    /// Exact host (v1 and v2: a list; v3: one host or a `*.` wildcard).
    Host: V1 | V2 | V3;
    /// v2's other spelling of `Host`.
    HostHeader: V2;
    /// Host regex (v3) or gorilla/mux host templates (v1, v2).
    HostRegexp: V1 | V2 | V3;
    /// Exact path (v1 and v2: templates allowed).
    Path: V1 | V2 | V3;
    /// v1 `Path` that strips the matched path before forwarding.
    PathStrip: V1;
    /// v1 `PathStrip` whose values are always templates.
    PathStripRegex: V1;
    /// Path prefix.
    PathPrefix: V1 | V2 | V3;
    /// v1 `PathPrefix` that strips the matched prefix before forwarding.
    PathPrefixStrip: V1;
    /// v1 `PathPrefixStrip` whose values are always templates.
    PathPrefixStripRegex: V1;
    /// Path regex (v3).
    PathRegexp: V3;
    /// Request method.
    Method: V1 | V2 | V3;
    /// Header value, exact (v3).
    Header: V3;
    /// Header value, regex (v3).
    HeaderRegexp: V3;
    /// Header value, exact (v1 pairs, v2).
    Headers: V1 | V2;
    /// Header value, regex (v1 pairs, v2).
    HeadersRegexp: V1 | V2;
    /// Query parameter.
    Query: V1 | V2 | V3;
    /// Query parameter, regex (v3).
    QueryRegexp: V3;
    /// Client address in a network.
    ClientIP: V2 | V3;
    /// Cookie value, exact.
    Cookie: V2 | V3;
    /// Cookie value, regex.
    CookieRegexp: V2 | V3;
    /// v1 rewrite: add a path prefix.
    AddPrefix: V1;
    /// v1 rewrite: replace the path.
    ReplacePath: V1;
    /// v1 rewrite: replace the path by regex.
    ReplacePathRegex: V1;
}

impl MatcherName {
    /// The name spelt exactly `text` (case-sensitive), in any syntax.
    pub fn parse(text: &str) -> Option<MatcherName> {
        MatcherName::ALL
            .iter()
            .copied()
            .find(|name| name.as_str() == text)
    }

    /// The names of `syntax`'s matchers, in the order messages list them.
    pub fn of(syntax: Syntax) -> impl Iterator<Item = MatcherName> {
        MatcherName::ALL
            .iter()
            .copied()
            .filter(move |name| name.in_syntax(syntax))
    }
}

impl fmt::Display for MatcherName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `names` as `A, B, C`.
fn listed(names: impl Iterator<Item = MatcherName>) -> String {
    names
        .map(MatcherName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A v1 name: exact, case-sensitive, as Traefik 1.7 reads it.
pub(super) fn resolve_v1(name: &str, span: Range<usize>) -> Result<MatcherName, RuleError> {
    if let Some(found) = MatcherName::parse(name).filter(|n| n.in_syntax(Syntax::V1)) {
        return Ok(found);
    }
    let message = if name.is_empty() {
        "missing matcher name before `:`".to_owned()
    } else if let Some(c) =
        MatcherName::of(Syntax::V1).find(|c| c.as_str().eq_ignore_ascii_case(name))
    {
        format!("unknown matcher `{name}` (matcher names are case-sensitive; did you mean `{c}`?)")
    } else if name.contains('(') {
        format!(
            "`{name}` looks like an expression matcher; a v1 rule is `Name:value` \
             (e.g. `Host:example.com`)"
        )
    } else {
        let hint = closest(name, MatcherName::of(Syntax::V1))
            .map(|c| format!(" (did you mean `{c}`?)"))
            .unwrap_or_default();
        format!(
            "unknown matcher `{name}`{hint}; v1 matchers are: {}",
            listed(MatcherName::of(Syntax::V1))
        )
    };
    Err(err(message, span))
}

/// Whether `name` is one of the four spellings Traefik accepts for `canonical`: as
/// documented, all lower case, all upper case, or only the first letter upper case.
fn accepted_spelling(name: &str, canonical: MatcherName) -> bool {
    let canonical = canonical.as_str();
    if !name.eq_ignore_ascii_case(canonical) {
        return false;
    }
    let mut rest = name.bytes();
    let first_upper = rest.next().is_some_and(|b| b.is_ascii_uppercase());
    name == canonical
        || name.bytes().all(|b| !b.is_ascii_uppercase())
        || name.bytes().all(|b| !b.is_ascii_lowercase())
        || (first_upper && rest.all(|b| !b.is_ascii_uppercase()))
}

/// An expression (v2 or v3) name, in any of its accepted spellings.
pub(super) fn resolve_expr(
    name: &str,
    syntax: Syntax,
    span: Range<usize>,
) -> Result<MatcherName, RuleError> {
    let other_syntax = match syntax {
        Syntax::V2 => Syntax::V3,
        Syntax::V1 | Syntax::V3 => Syntax::V2,
    };
    // v1 rules are not expressions: the v3 names serve (as `Rule::parse` never asks).
    let own = if syntax == Syntax::V1 {
        Syntax::V3
    } else {
        syntax
    };
    if let Some(found) = MatcherName::of(own).find(|c| accepted_spelling(name, *c)) {
        return Ok(found);
    }
    let message = if let Some(c) =
        MatcherName::of(own).find(|c| name.eq_ignore_ascii_case(c.as_str()))
    {
        format!(
            "`{name}` is not an accepted spelling of `{c}`: write `{c}`, `{}`, `{}` or `{}`",
            c.as_str().to_ascii_lowercase(),
            c.as_str().to_ascii_uppercase(),
            first_upper_only(c.as_str())
        )
    } else if let Some(c) = MatcherName::of(other_syntax).find(|c| accepted_spelling(name, *c)) {
        let instead = match c {
            MatcherName::Headers => " (use `Header`)",
            MatcherName::HeadersRegexp => " (use `HeaderRegexp`)",
            MatcherName::HostHeader => " (use `Host`)",
            MatcherName::Header => " (use `Headers`)",
            MatcherName::HeaderRegexp => " (use `HeadersRegexp`)",
            _ => "",
        };
        let switch = match other_syntax {
            Syntax::V2 => "set `rule_syntax: v2` to use it",
            Syntax::V1 | Syntax::V3 => "it exists only in v3 syntax",
        };
        format!("`{name}` is not a {syntax} matcher{instead}; {switch}")
    } else {
        let hint = closest(name, MatcherName::of(own))
            .map(|c| format!("did you mean `{c}`? "))
            .unwrap_or_default();
        format!(
            "unknown matcher `{name}`; {hint}{syntax} matchers are: {}",
            listed(MatcherName::of(own))
        )
    };
    Err(err(message, span))
}

fn first_upper_only(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// Closest name of `names` to `name` when it is close enough to suggest (the first of equally
/// close ones).
fn closest(name: &str, names: impl Iterator<Item = MatcherName>) -> Option<MatcherName> {
    let lower = name.to_ascii_lowercase();
    names
        .map(|n| (edit_distance(&lower, &n.as_str().to_ascii_lowercase()), n))
        .filter(|(d, n)| *d <= 2.max(n.as_str().len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row.first().copied().unwrap_or(0);
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let above = row.get(j + 1).copied().unwrap_or(usize::MAX);
            let left = row.get(j).copied().unwrap_or(usize::MAX);
            let next = (prev + usize::from(ca != *cb))
                .min(above.saturating_add(1))
                .min(left.saturating_add(1));
            prev = above;
            if let Some(cell) = row.get_mut(j + 1) {
                *cell = next;
            }
        }
    }
    row.last().copied().unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn names(syntax: Syntax) -> Vec<&'static str> {
        MatcherName::of(syntax).map(MatcherName::as_str).collect()
    }

    #[test]
    fn each_syntax_lists_its_names_in_order() {
        assert_eq!(
            names(Syntax::V1),
            [
                "Host",
                "HostRegexp",
                "Path",
                "PathStrip",
                "PathStripRegex",
                "PathPrefix",
                "PathPrefixStrip",
                "PathPrefixStripRegex",
                "Method",
                "Headers",
                "HeadersRegexp",
                "Query",
                "AddPrefix",
                "ReplacePath",
                "ReplacePathRegex",
            ]
        );
        assert_eq!(
            names(Syntax::V2),
            [
                "Host",
                "HostHeader",
                "HostRegexp",
                "Path",
                "PathPrefix",
                "Method",
                "Headers",
                "HeadersRegexp",
                "Query",
                "ClientIP",
                "Cookie",
                "CookieRegexp",
            ]
        );
        assert_eq!(
            names(Syntax::V3),
            [
                "Host",
                "HostRegexp",
                "Path",
                "PathPrefix",
                "PathRegexp",
                "Method",
                "Header",
                "HeaderRegexp",
                "Query",
                "QueryRegexp",
                "ClientIP",
                "Cookie",
                "CookieRegexp",
            ]
        );
    }

    #[test]
    fn every_name_parses_back_from_its_text() {
        for name in MatcherName::ALL {
            assert_eq!(MatcherName::parse(name.as_str()), Some(*name));
        }
        assert_eq!(MatcherName::ALL.len(), 23);
        assert_eq!(MatcherName::parse("host"), None);
    }

    #[test]
    fn suggestions() {
        let host_path = || [MatcherName::Host, MatcherName::Path].into_iter();
        assert_eq!(closest("host", host_path()), Some(MatcherName::Host));
        assert_eq!(
            closest(
                "PathPrefx",
                [MatcherName::Path, MatcherName::PathPrefix].into_iter()
            ),
            Some(MatcherName::PathPrefix)
        );
        assert_eq!(closest("Zzzzzz", host_path()), None);
    }
}
