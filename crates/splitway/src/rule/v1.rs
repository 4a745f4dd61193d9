//! Traefik 1.7 rule strings (`Host:a.com;PathPrefix:/api`), split exactly as Traefik splits
//! them (TRAEFIK.md section 1): a string splitter, not a grammar.
//!
//! 1. Split on `;`, drop empty pieces: each piece is one matcher, all ANDed.
//! 2. Split a piece on `:`, drop empty pieces: the first, trimmed, is the name
//!    (case-sensitive); the others joined with one `:` are the argument text (`a::b` is `a:b`).
//! 3. Split the argument text on `,`, drop empty pieces, trim each: the arguments.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use super::build::{self, Arg};
use super::err;
use super::names::{self, MatcherName};
use super::template::TemplateKind;
use super::{
    Expr, MAX_RULE_LEN, Matcher, MatcherKind, QueryOccurrence, Rewrite, Rule, RuleError, Syntax,
};
use crate::request::PathForm;

pub(super) fn parse(texts: &[&str]) -> Result<Rule, RuleError> {
    if texts.is_empty() {
        return Err(err(
            "no rule: give at least one rule string, e.g. `Host:example.com`",
            0..0,
        ));
    }
    let mut exprs = Vec::new();
    let mut rewrites = Vec::new();
    for (part, text) in texts.iter().enumerate() {
        if text.len() > MAX_RULE_LEN {
            return Err(RuleError {
                part,
                ..err(
                    format!(
                        "rule is {} bytes long, more than the limit of {MAX_RULE_LEN}",
                        text.len()
                    ),
                    0..text.len(),
                )
            });
        }
        parse_one(text, &mut exprs, &mut rewrites).map_err(|mut e| {
            e.part = part;
            e
        })?;
    }
    let expr = if exprs.len() == 1 {
        exprs.pop().unwrap_or(Expr::And(Vec::new()))
    } else {
        Expr::And(exprs)
    };
    Ok(Rule {
        syntax: Syntax::V1,
        texts: texts.iter().map(|t| (*t).to_owned()).collect(),
        expr: Arc::new(expr),
        rewrites: rewrites.into(),
    })
}

pub(super) fn looks_like_v1(text: &str) -> bool {
    let text = text.trim_start();
    let end = text
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (name, rest) = text.split_at(end);
    MatcherName::parse(name).is_some_and(|n| n.in_syntax(Syntax::V1))
        && rest.trim_start().starts_with(':')
}

/// Pieces of `text` between `sep`s, each with its byte offset, empty ones dropped.
fn fields(text: &str, sep: char) -> impl Iterator<Item = (usize, &str)> {
    let mut offset = 0;
    text.split(sep)
        .map(move |piece| {
            let start = offset;
            offset += piece.len() + sep.len_utf8();
            (start, piece)
        })
        .filter(|(_, piece)| !piece.is_empty())
}

/// `piece` trimmed of white space, with its offset moved accordingly.
fn trimmed(offset: usize, piece: &str) -> (Range<usize>, &str) {
    let start = offset + (piece.len() - piece.trim_start().len());
    let t = piece.trim();
    (start..start + t.len(), t)
}

fn parse_one(
    text: &str,
    exprs: &mut Vec<Expr>,
    rewrites: &mut Vec<Rewrite>,
) -> Result<(), RuleError> {
    let before = exprs.len();
    for (piece_start, piece) in fields(text, ';') {
        // Traefik would call a blank piece an unknown matcher ``; a stray space after the
        // last `;` is harmless, so it is dropped like an empty piece.
        if piece.trim().is_empty() {
            continue;
        }
        let mut colon_fields = fields(piece, ':');
        let Some((name_off, name_raw)) = colon_fields.next() else {
            continue;
        };
        let (name_span, name) = trimmed(piece_start + name_off, name_raw);
        // The argument text, with each byte's offset in `text` (the `:` that rejoins two
        // fields maps to the first colon before the second).
        let mut joined = String::new();
        let mut offsets: Vec<usize> = Vec::new();
        for (off, field) in colon_fields {
            let at = piece_start + off;
            if !joined.is_empty() {
                joined.push(':');
                offsets.push(at.saturating_sub(1));
            }
            joined.push_str(field);
            offsets.extend(at..at + field.len());
        }
        let span_of = |r: Range<usize>| -> Range<usize> {
            match (
                offsets.get(r.start),
                r.end.checked_sub(1).and_then(|e| offsets.get(e)),
            ) {
                (Some(&s), Some(&e)) if r.end > r.start => s..e + 1,
                (Some(&s), _) => s..s,
                _ => name_span.clone(),
            }
        };
        let args: Vec<Arg> = fields(&joined, ',')
            .map(|(off, raw)| {
                let (r, value) = trimmed(off, raw);
                let span = if value.is_empty() {
                    span_of(off..off + raw.len())
                } else {
                    span_of(r)
                };
                Arg {
                    value: value.to_owned(),
                    span,
                }
            })
            .collect();
        let piece_span = trimmed(piece_start, piece).0;
        let source = text.get(piece_span.clone()).unwrap_or(piece);
        let name = names::resolve_v1(name, name_span.clone())?;
        if args.is_empty() {
            return Err(err(
                format!(
                    "`{name}` needs at least one argument, e.g. `{}`",
                    example(name)
                ),
                name_span,
            ));
        }
        matcher(name, source, &args, piece_span, exprs, rewrites)?;
    }
    if exprs.len() == before {
        return Err(err(
            "rule has no matcher: write at least one, e.g. `Host:example.com`",
            0..text.len(),
        ));
    }
    Ok(())
}

/// A rule string that uses `name` well, for error messages.
fn example(name: MatcherName) -> &'static str {
    match name {
        MatcherName::Host => "Host:example.com",
        MatcherName::HostRegexp => "HostRegexp:{sub:[a-z]+}.example.com",
        MatcherName::Method => "Method:GET,POST",
        MatcherName::Headers => "Headers:X-Canary,on",
        MatcherName::HeadersRegexp => "HeadersRegexp:Cookie,beta=1",
        MatcherName::Query => "Query:beta=1",
        MatcherName::ReplacePathRegex => "ReplacePathRegex:^/api/(.*) /$1",
        MatcherName::Path
        | MatcherName::PathStrip
        | MatcherName::PathStripRegex
        | MatcherName::PathPrefix
        | MatcherName::PathPrefixStrip
        | MatcherName::PathPrefixStripRegex
        | MatcherName::AddPrefix
        | MatcherName::ReplacePath => "PathPrefix:/api",
        MatcherName::HostHeader
        | MatcherName::PathRegexp
        | MatcherName::Header
        | MatcherName::HeaderRegexp
        | MatcherName::QueryRegexp
        | MatcherName::ClientIP
        | MatcherName::Cookie
        | MatcherName::CookieRegexp => "Host:example.com",
    }
}

fn push(exprs: &mut Vec<Expr>, kind: MatcherKind, text: &str) {
    exprs.push(Expr::Match(Matcher {
        kind,
        text: text.into(),
    }));
}

fn one_arg(name: MatcherName, args: &[Arg], span: Range<usize>) -> Result<&Arg, RuleError> {
    match args {
        [only] => Ok(only),
        _ => Err(err(
            format!(
                "`{name}` takes exactly one value, found {} (commas cannot occur inside it)",
                args.len()
            ),
            span,
        )),
    }
}

fn matcher(
    name: MatcherName,
    source: &str,
    args: &[Arg],
    piece_span: Range<usize>,
    exprs: &mut Vec<Expr>,
    rewrites: &mut Vec<Rewrite>,
) -> Result<(), RuleError> {
    match name {
        MatcherName::Host => push(exprs, build::host_list(name, args)?, source),
        MatcherName::HostRegexp => push(exprs, build::host_templates(name, args)?, source),
        MatcherName::Path | MatcherName::PathStrip | MatcherName::PathStripRegex => {
            let templated =
                name == MatcherName::PathStripRegex || args.iter().any(|a| a.value.contains('{'));
            let kind = build::path_list(name, args, PathForm::Decoded, false, templated)?;
            push(exprs, kind, source);
            if name != MatcherName::Path {
                rewrites.push(strip_rewrite(name, args)?);
            }
        }
        MatcherName::PathPrefix
        | MatcherName::PathPrefixStrip
        | MatcherName::PathPrefixStripRegex => {
            let always_template = name == MatcherName::PathPrefixStripRegex;
            let mut plain = Vec::new();
            let mut regexes = Vec::new();
            for a in args {
                if always_template || a.value.contains('{') {
                    build::slash(name, a)?;
                    regexes.push(build::template(
                        &a.value,
                        TemplateKind::PathPrefix,
                        a.span.clone(),
                    )?);
                } else if a.value.starts_with('/') {
                    plain.push(a.value.clone());
                }
                // A plain prefix without a leading `/` never matches in Traefik 1.7, and is
                // not an error: it adds nothing.
            }
            let mut alternatives = Vec::new();
            if !plain.is_empty() || regexes.is_empty() {
                push(
                    &mut alternatives,
                    MatcherKind::PathPrefix(PathForm::Decoded, plain),
                    source,
                );
            }
            if !regexes.is_empty() {
                push(
                    &mut alternatives,
                    MatcherKind::PathRegex(PathForm::Decoded, regexes),
                    source,
                );
            }
            match alternatives.len() {
                1 => exprs.extend(alternatives),
                _ => exprs.push(Expr::Or(alternatives)),
            }
            if name != MatcherName::PathPrefix {
                rewrites.push(strip_rewrite(name, args)?);
            }
        }
        MatcherName::Method => push(exprs, build::methods(args), source),
        MatcherName::Headers | MatcherName::HeadersRegexp => {
            header_pairs(name, args, piece_span, exprs)?;
        }
        MatcherName::Query => query_pairs(args, piece_span, exprs)?,
        MatcherName::AddPrefix | MatcherName::ReplacePath => {
            let a = one_arg(name, args, piece_span)?;
            rewrites.push(if name == MatcherName::AddPrefix {
                Rewrite::AddPrefix(a.value.clone())
            } else {
                Rewrite::ReplacePath(a.value.clone())
            });
            push(exprs, MatcherKind::Always, source);
        }
        MatcherName::ReplacePathRegex => {
            // `REGEX REPLACEMENT`.
            let a = one_arg(name, args, piece_span)?;
            let Some((re, replacement)) = a.value.split_once(' ') else {
                return Err(err(
                    format!(
                        "`ReplacePathRegex` takes a regex and a replacement separated by a \
                         space, e.g. `{}`",
                        example(name)
                    ),
                    a.span.clone(),
                ));
            };
            let re_span = a.span.start..a.span.start + re.len();
            let regex = build::regex(re, re_span)?;
            rewrites.push(Rewrite::ReplacePathRegex(
                regex,
                replacement.trim().to_owned(),
            ));
            push(exprs, MatcherKind::Always, source);
        }
        MatcherName::HostHeader
        | MatcherName::PathRegexp
        | MatcherName::Header
        | MatcherName::HeaderRegexp
        | MatcherName::QueryRegexp
        | MatcherName::ClientIP
        | MatcherName::Cookie
        | MatcherName::CookieRegexp => {
            // `names::resolve_v1` refuses these; no rule string reaches here.
            return Err(err(format!("`{name}` is not a v1 matcher"), piece_span));
        }
    }
    Ok(())
}

/// What a strip matcher removes: its values as written (`PathStrip`, `PathPrefixStrip`), or
/// its templates as prefixes (the `Regex` forms), as Traefik 1.7's strip handlers take them.
fn strip_rewrite(name: MatcherName, args: &[Arg]) -> Result<Rewrite, RuleError> {
    if matches!(
        name,
        MatcherName::PathStripRegex | MatcherName::PathPrefixStripRegex
    ) {
        let regexes = args
            .iter()
            .map(|a| build::template(&a.value, TemplateKind::PathPrefix, a.span.clone()))
            .collect::<Result<_, _>>()?;
        Ok(Rewrite::StripPrefixRegex(regexes))
    } else {
        Ok(Rewrite::StripPrefix(
            args.iter().map(|a| a.value.clone()).collect(),
        ))
    }
}

/// v1 `Headers`/`HeadersRegexp`: `Name,value` pairs, each a matcher.
fn header_pairs(
    name: MatcherName,
    args: &[Arg],
    piece_span: Range<usize>,
    exprs: &mut Vec<Expr>,
) -> Result<(), RuleError> {
    if !args.len().is_multiple_of(2) {
        return Err(err(
            format!(
                "`{name}` takes `Name,value` pairs, found {} values (commas cannot occur \
                 inside a value)",
                args.len()
            ),
            piece_span,
        ));
    }
    let pairs: Vec<(&Arg, &Arg)> = args
        .chunks_exact(2)
        .filter_map(|c| Some((c.first()?, c.get(1)?)))
        .collect();
    // gorilla/mux keeps the pairs in a map keyed by the name as written: the last
    // pair for one spelling wins. (A map here too: scanning the later pairs for each
    // pair was quadratic, seconds for one long rule.)
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(pairs.len());
    for (i, (k, _)) in pairs.iter().enumerate() {
        last.insert(k.value.as_str(), i);
    }
    for (i, (k, v)) in pairs.iter().enumerate() {
        if last.get(k.value.as_str()) != Some(&i) {
            continue;
        }
        let header = build::header_name(&k.value, k.span.clone())?;
        let text = format!("{name}:{},{}", k.value, v.value);
        let kind = if name == MatcherName::Headers {
            MatcherKind::Header {
                name: header,
                value: v.value.clone(),
            }
        } else {
            MatcherKind::HeaderRegex {
                name: header,
                regex: build::header_regex(&v.value, v.span.clone())?,
            }
        };
        push(exprs, kind, &text);
    }
    Ok(())
}

/// v1 `Query`: `key=value` pairs, each a matcher of the key's first occurrence.
fn query_pairs(
    args: &[Arg],
    piece_span: Range<usize>,
    exprs: &mut Vec<Expr>,
) -> Result<(), RuleError> {
    // Every `=` splits, and the pieces of all arguments form one key, value list.
    let mut items: Vec<(&str, &Arg)> = Vec::new();
    for a in args {
        items.extend(a.value.split('=').map(|s| (s, a)));
    }
    if !items.len().is_multiple_of(2) {
        return Err(err(
            format!(
                "`Query` takes `key=value` pairs (`key=` for any value), and a value \
                 cannot contain `=` or `,`; `{}` splits into {} pieces",
                args.iter()
                    .map(|a| a.value.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                items.len()
            ),
            piece_span,
        ));
    }
    for pair in items.chunks_exact(2) {
        let (Some((key, ka)), Some((value, va))) = (pair.first(), pair.get(1)) else {
            continue;
        };
        let span = ka.span.start.min(va.span.start)..ka.span.end.max(va.span.end);
        let value_test = build::query_template_value(value, span)?;
        push(
            exprs,
            MatcherKind::Query {
                key: (*key).to_owned(),
                value: value_test,
                occurrence: QueryOccurrence::First,
            },
            &format!("Query:{key}={value}"),
        );
    }
    Ok(())
}
