//! Printing rules back as text: `Display` for [`Expr`] (a v3 expression built from the
//! matchers' meaning) and for [`Rule`] (text in the rule's own syntax that parses back to an
//! equivalent rule).
//!
//! ```
//! use splitway::rule::{Rule, Syntax};
//!
//! let rule = Rule::parse("host(`A.com`) && !(Path(`/a`) || Method(`get`))", Syntax::V3).unwrap();
//! assert_eq!(rule.to_string(), "Host(`a.com`) && !(Path(`/a`) || Method(`GET`))");
//! let again = Rule::parse(&rule.to_string(), Syntax::V3).unwrap();
//! assert_eq!(again.to_string(), rule.to_string());
//! ```
//!
//! `Expr`'s printing is canonical: names as documented, values as compiled (hosts lowercased,
//! methods upper-cased, regexes as translated for the `regex` crate, which reads the same in
//! Go), strings in backticks unless they hold a backtick or a carriage return (then Go double
//! quotes), `&&` inside `||` without parentheses, `||` inside `&&` and anything under `!` with
//! them. Printing the v3 rule it parses back to gives the same text.
//!
//! A few matchers that only v1 or v2 rules make have no v3 spelling: the v1 matchers that read
//! the fully decoded path, the v1/v2 query matchers that test only the first occurrence of a
//! key, and v1's presence-only `Headers:Name,` test. `Expr` prints those as their source text
//! (what explanations show), which is not v3; [`Rule`]'s `Display` never needs them, since it
//! prints v1 and v2 rules in their own syntax.
// Without the `internals` feature these items are crate-private; with it they are public.
#![cfg_attr(not(feature = "internals"), allow(unreachable_pub))]

use std::fmt::{self, Display, Formatter, Write};

use super::names::MatcherName;
use super::{Expr, HostPattern, Matcher, MatcherKind, QueryOccurrence, QueryValue};
use super::{Rule, Syntax};
use crate::request::PathForm;

/// An expression that always holds (v3 `Host(`*`)` matches every request, even one without a
/// host), and its negation.
const ALWAYS: &str = "Host(`*`)";
const NEVER: &str = "!Host(`*`)";

impl Display for Rule {
    /// v1 rules: their rule strings joined with `;` (one string with the same matchers, all
    /// ANDed). v2 rules: the expression with each matcher's source text. v3 rules: the
    /// canonical v3 expression: names as documented, values as compiled (hosts lowercased,
    /// methods upper-cased), strings in backticks unless they hold a backtick or a carriage
    /// return; parsed and printed again, it gives the same text.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.syntax {
            Syntax::V1 => f.write_str(&self.texts.join(";")),
            Syntax::V2 => write_expr(f, &self.expr, &|f, m| f.write_str(m.text())),
            Syntax::V3 => write!(f, "{}", self.expr),
        }
    }
}

impl Display for Expr {
    /// The canonical v3 expression (module documentation of `rule::print`).
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_expr(f, self, &write_v3)
    }
}

type Leaf = dyn Fn(&mut Formatter<'_>, &Matcher) -> fmt::Result;

fn write_expr(f: &mut Formatter<'_>, e: &Expr, leaf: &Leaf) -> fmt::Result {
    match e {
        Expr::Match(m) => leaf(f, m),
        Expr::Not(inner) => {
            f.write_char('!')?;
            match inner.as_ref() {
                Expr::Match(_) | Expr::Not(_) => write_expr(f, inner, leaf),
                _ => {
                    f.write_char('(')?;
                    write_expr(f, inner, leaf)?;
                    f.write_char(')')
                }
            }
        }
        Expr::And(items) => write_list(f, items, " && ", ALWAYS, leaf),
        Expr::Or(items) => write_list(f, items, " || ", NEVER, leaf),
    }
}

fn write_list(
    f: &mut Formatter<'_>,
    items: &[Expr],
    sep: &str,
    empty: &str,
    leaf: &Leaf,
) -> fmt::Result {
    if items.is_empty() {
        return f.write_str(empty);
    }
    let and = sep == " && ";
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        // `&&` binds tighter than `||`: an `||` inside `&&` needs parentheses. A list inside
        // a list of the same operator (only hand-built ASTs have one) gets them too.
        let wrap = match item {
            Expr::Or(_) => true,
            Expr::And(_) => and,
            _ => false,
        };
        if wrap {
            f.write_char('(')?;
            write_expr(f, item, leaf)?;
            f.write_char(')')?;
        } else {
            write_expr(f, item, leaf)?;
        }
    }
    Ok(())
}

/// `s` as a Go string literal: backticks when it holds no backtick or carriage return (Go
/// drops those from raw strings), else double quotes with escapes.
pub fn go_quote(s: &str) -> String {
    if !s.contains(['`', '\r']) {
        return format!("`{s}`");
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The v3 call `name(args...)`, each argument a Go string literal.
fn call(name: MatcherName, args: &[&str]) -> String {
    let quoted: Vec<String> = args.iter().map(|a| go_quote(a)).collect();
    format!("{name}({})", quoted.join(", "))
}

/// One v3 call per value, joined with `||` (in parentheses when more than one).
fn any_of<T>(
    f: &mut Formatter<'_>,
    values: &[T],
    call: impl Fn(&T) -> Option<String>,
    m: &Matcher,
) -> fmt::Result {
    let mut calls = Vec::with_capacity(values.len());
    for v in values {
        match call(v) {
            Some(c) => calls.push(c),
            None => return f.write_str(m.text()),
        }
    }
    match calls.as_slice() {
        [] => f.write_str(NEVER),
        [one] => f.write_str(one),
        many => write!(f, "({})", many.join(" || ")),
    }
}

fn host_call(p: &HostPattern) -> Option<String> {
    Some(match p {
        HostPattern::Any => ALWAYS.to_owned(),
        HostPattern::OneLabelThen(suffix) => {
            let rest = suffix.strip_prefix('.')?;
            // The parser strips one trailing dot from the suffix: give it one to strip when
            // the suffix itself ends in a dot.
            let dot = if rest.ends_with('.') { "." } else { "" };
            call(MatcherName::Host, &[&format!("*.{rest}{dot}")])
        }
        // v3 reads these spellings as wildcards: say "exactly this host" with a regex.
        HostPattern::Exact(h) if h == "*" || h.starts_with("*.") => call(
            MatcherName::HostRegexp,
            &[&format!("^{}$", regex::escape(h))],
        ),
        HostPattern::Exact(h) => {
            // The parser strips one trailing dot; an empty host (from `.`) never matches.
            let dot = if h.is_empty() || h.ends_with('.') {
                "."
            } else {
                ""
            };
            call(MatcherName::Host, &[&format!("{h}{dot}")])
        }
    })
}

fn write_v3(f: &mut Formatter<'_>, m: &Matcher) -> fmt::Result {
    // A call of one argument, unless that argument is empty (which v3 cannot write).
    let nonempty = |name: MatcherName, s: &str| (!s.is_empty()).then(|| call(name, &[s]));
    match &m.kind {
        MatcherKind::Host(patterns) => any_of(f, patterns, host_call, m),
        MatcherKind::HostRegex(res) => any_of(
            f,
            res,
            |r| (!r.as_str().is_empty()).then(|| call(MatcherName::HostRegexp, &[r.as_str()])),
            m,
        ),
        MatcherKind::Path(PathForm::Routing, paths) => {
            any_of(f, paths, |p| nonempty(MatcherName::Path, p), m)
        }
        MatcherKind::PathPrefix(PathForm::Routing, paths) => {
            any_of(f, paths, |p| nonempty(MatcherName::PathPrefix, p), m)
        }
        MatcherKind::PathRegex(PathForm::Routing, res) => {
            any_of(f, res, |r| nonempty(MatcherName::PathRegexp, r.as_str()), m)
        }
        MatcherKind::Method(methods) => any_of(f, methods, |v| nonempty(MatcherName::Method, v), m),
        MatcherKind::Header { name, value } if !value.is_empty() => {
            f.write_str(&call(MatcherName::Header, &[name.as_str(), value]))
        }
        MatcherKind::HeaderRegex { name, regex } if !regex.as_str().is_empty() => f.write_str(
            &call(MatcherName::HeaderRegexp, &[name.as_str(), regex.as_str()]),
        ),
        MatcherKind::Query {
            key,
            value,
            occurrence: QueryOccurrence::Any,
        } if !key.is_empty() => match value {
            QueryValue::Equals(v) if v.is_empty() => f.write_str(&call(MatcherName::Query, &[key])),
            QueryValue::Equals(v) => f.write_str(&call(MatcherName::Query, &[key, v])),
            QueryValue::Regex(r) if !r.as_str().is_empty() => {
                f.write_str(&call(MatcherName::QueryRegexp, &[key, r.as_str()]))
            }
            _ => f.write_str(m.text()),
        },
        MatcherKind::ClientIp(nets) => any_of(
            f,
            nets,
            |n| Some(call(MatcherName::ClientIP, &[&n.to_string()])),
            m,
        ),
        MatcherKind::Cookie { name, value } if !name.is_empty() && !value.is_empty() => {
            f.write_str(&call(MatcherName::Cookie, &[name, value]))
        }
        MatcherKind::CookieRegex { name, regex }
            if !name.is_empty() && !regex.as_str().is_empty() =>
        {
            f.write_str(&call(MatcherName::CookieRegexp, &[name, regex.as_str()]))
        }
        MatcherKind::Always => f.write_str(ALWAYS),
        _ => f.write_str(m.text()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn v3(text: &str) -> String {
        Rule::parse(text, Syntax::V3).unwrap().to_string()
    }

    #[test]
    fn canonical_v3() {
        assert_eq!(v3("host(`X`)"), "Host(`x`)");
        assert_eq!(
            v3("(Host(`a`) || Host(`b`)) && Path(`/x`)"),
            "(Host(`a`) || Host(`b`)) && Path(`/x`)"
        );
        assert_eq!(
            v3("Host(`a`) && Path(`/x`) || Method(`post`)"),
            "Host(`a`) && Path(`/x`) || Method(`POST`)"
        );
        assert_eq!(v3("!!Host(`a`)"), "!!Host(`a`)");
        assert_eq!(v3("!(Host(`a`))"), "!Host(`a`)");
        assert_eq!(v3("Header(\"X\", \"a`b\")"), "Header(`x`, \"a`b\")");
        assert_eq!(v3("Host(`a..`)"), "Host(`a..`)");
        assert_eq!(v3("Host(`.`)"), "Host(`.`)");
        assert_eq!(v3("Host(`*.a.com.`)"), "Host(`*.a.com`)");
        assert_eq!(v3("Host(`*..`)"), "Host(`*.`)");
        assert_eq!(v3("Host(`*.a..`)"), "Host(`*.a..`)");
        assert_eq!(v3("ClientIP(`10.0.0.1`)"), "ClientIP(`10.0.0.1/32`)");
        assert_eq!(v3("Query(`k`)"), "Query(`k`)");
        assert_eq!(v3("HostRegexp(`a{x}`)"), "HostRegexp(`a\\{x\\}`)");
    }

    #[test]
    fn v2_exact_star_host_is_not_a_wildcard() {
        let r = Rule::parse("Host(`*.a.com`)", Syntax::V2).unwrap();
        assert_eq!(r.expr().to_string(), "HostRegexp(`^\\*\\.a\\.com$`)");
    }

    #[test]
    fn v1_prints_its_texts_and_v2_its_matchers() {
        let r = Rule::parse_v1(&["Host:a.com", "PathPrefix:/a;Method:GET"]).unwrap();
        assert_eq!(r.to_string(), "Host:a.com;PathPrefix:/a;Method:GET");
        let r = Rule::parse("Host(`a`,`b`) && !Query(`a=1`)", Syntax::V2).unwrap();
        assert_eq!(r.to_string(), "Host(`a`,`b`) && !Query(`a=1`)");
    }

    #[test]
    fn quoting() {
        assert_eq!(go_quote("a"), "`a`");
        assert_eq!(go_quote("a`\"\\\r\n"), "\"a`\\\"\\\\\\r\\n\"");
    }
}
