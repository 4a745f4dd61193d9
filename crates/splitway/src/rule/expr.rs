//! Expression rules (Traefik v2 and v3): a tokenizer and a recursive-descent parser.
//!
//! Grammar (`!` binds tightest, then `&&`, then `||`):
//!
//! ```text
//! or    = and { "||" and }
//! and   = unary { "&&" unary }
//! unary = "!" unary | "(" or ")" | call
//! call  = NAME "(" [ STRING { "," STRING } [ "," ] ] ")"
//! ```
//!
//! Strings are Go string literals: backtick raw strings, or double-quoted with Go's escapes.
//! Nesting (`(` and `!`) is counted while parsing and refused past [`MAX_RULE_DEPTH`], before
//! recursing, so no input can overflow the stack.

use std::ops::Range;
use std::sync::Arc;

use super::build::{self, err};
use super::template::TemplateKind;
use super::{
    Expr, HostPattern, MAX_RULE_DEPTH, MAX_RULE_LEN, Matcher, MatcherKind, QueryOccurrence,
    QueryValue, Rule, RuleError, Syntax,
};
use crate::request::PathForm;

pub(super) fn parse(text: &str, syntax: Syntax) -> Result<Rule, RuleError> {
    if text.len() > MAX_RULE_LEN {
        return Err(err(
            format!(
                "rule is {} bytes long, more than the limit of {MAX_RULE_LEN}",
                text.len()
            ),
            0..text.len(),
        ));
    }
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        text,
        tokens,
        pos: 0,
        syntax,
    };
    if parser.peek().kind == Kind::Eof {
        return Err(err(
            "empty rule: write at least one matcher, e.g. `Host(`example.com`)`",
            0..text.len(),
        ));
    }
    let expr = parser.parse_or(0)?;
    let next = parser.peek();
    if next.kind != Kind::Eof {
        return Err(err(
            format!(
                "unexpected {} after a complete expression; join matchers with `&&` or `||`",
                describe(text, next)
            ),
            next.span.clone(),
        ));
    }
    Ok(Rule {
        syntax,
        texts: Arc::from([text.to_owned()]),
        expr: Arc::new(expr),
        rewrites: Arc::from([]),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Ident,
    LParen,
    RParen,
    Comma,
    And,
    Or,
    Not,
    /// A string literal, with its value (escapes applied).
    Str(String),
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    span: Range<usize>,
}

fn describe(text: &str, tok: &Token) -> String {
    match &tok.kind {
        Kind::Eof => "end of rule".to_owned(),
        Kind::Str(_) => format!("string {}", text.get(tok.span.clone()).unwrap_or("")),
        _ => format!("`{}`", text.get(tok.span.clone()).unwrap_or("")),
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, RuleError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let start = i;
        let kind = match b {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => Kind::LParen,
            b')' => Kind::RParen,
            b',' => Kind::Comma,
            b'!' => Kind::Not,
            b'&' | b'|' => {
                if bytes.get(i + 1) != Some(&b) {
                    let op = char::from(b);
                    return Err(err(
                        format!("unexpected `{op}`: the operators are `&&`, `||` and `!`"),
                        i..i + 1,
                    ));
                }
                i += 1;
                if b == b'&' { Kind::And } else { Kind::Or }
            }
            b'`' => {
                let rest = text.get(i + 1..).unwrap_or("");
                let Some(end) = rest.find('`') else {
                    return Err(err("unterminated backtick string", i..text.len()));
                };
                // Go drops carriage returns from raw strings.
                let value = rest.get(..end).unwrap_or("").replace('\r', "");
                i += end + 1;
                Kind::Str(value)
            }
            b'"' => {
                let (value, end) = quoted(text, i)?;
                i = end - 1;
                Kind::Str(value)
            }
            b'\'' => {
                return Err(err(
                    "single quotes do not make a string here: use backticks (`a`) or double \
                     quotes (\"a\")",
                    i..i + 1,
                ));
            }
            b if b.is_ascii_alphanumeric() || b == b'_' => {
                while bytes
                    .get(i + 1)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    i += 1;
                }
                Kind::Ident
            }
            _ => {
                let c = text.get(i..).and_then(|s| s.chars().next()).unwrap_or('?');
                let hint = if c == ':' {
                    " (v1 rules look like `Host:a.com`; expressions like `Host(`a.com`)`)"
                } else {
                    ""
                };
                return Err(err(
                    format!("unexpected character `{c}`{hint}"),
                    i..i + c.len_utf8(),
                ));
            }
        };
        i += 1;
        tokens.push(Token {
            kind,
            span: start..i,
        });
    }
    tokens.push(Token {
        kind: Kind::Eof,
        span: text.len()..text.len(),
    });
    Ok(tokens)
}

/// A double-quoted Go string starting at byte `start`: its value and the byte after it.
fn quoted(text: &str, start: usize) -> Result<(String, usize), RuleError> {
    let bytes = text.as_bytes();
    let mut out: Vec<u8> = Vec::new();
    let mut i = start + 1;
    loop {
        let Some(&b) = bytes.get(i) else {
            return Err(err("unterminated double-quoted string", start..text.len()));
        };
        match b {
            b'"' => break,
            b'\n' => {
                return Err(err(
                    "newline in a double-quoted string (use a backtick string)",
                    start..i,
                ));
            }
            b'\\' => {
                let esc_start = i;
                let code = bytes.get(i + 1).copied();
                let bad = |len: usize| {
                    // The escape's bytes, widened to whole characters: `\14ʝ` takes 4 bytes
                    // that end inside the `ʝ`, and a span must not split a character.
                    let mut end = (esc_start + len).min(text.len());
                    while !text.is_char_boundary(end) {
                        end += 1;
                    }
                    let shown = text.get(esc_start..end).unwrap_or("\\");
                    err(
                        format!(
                            "invalid escape `{shown}` in a double-quoted string (write `\\\\` \
                             for a backslash, or use a backtick string, which has no escapes)"
                        ),
                        esc_start..end,
                    )
                };
                let simple = match code {
                    Some(b'a') => Some(7),
                    Some(b'b') => Some(8),
                    Some(b'f') => Some(12),
                    Some(b'n') => Some(b'\n'),
                    Some(b'r') => Some(b'\r'),
                    Some(b't') => Some(b'\t'),
                    Some(b'v') => Some(11),
                    Some(b'\\') => Some(b'\\'),
                    Some(b'"') => Some(b'"'),
                    _ => None,
                };
                if let Some(byte) = simple {
                    out.push(byte);
                    i += 2;
                    continue;
                }
                let digits = |from: usize, n: usize, radix: u32| -> Option<u32> {
                    let s = text.get(from..from + n)?;
                    if s.bytes().all(|c| char::from(c).is_digit(radix)) {
                        u32::from_str_radix(s, radix).ok()
                    } else {
                        None
                    }
                };
                match code {
                    Some(b'x') => {
                        let v = digits(i + 2, 2, 16).ok_or_else(|| bad(4))?;
                        out.push(u8::try_from(v).map_err(|_| bad(4))?);
                        i += 4;
                    }
                    Some(b'0'..=b'7') => {
                        let v = digits(i + 1, 3, 8).ok_or_else(|| bad(4))?;
                        out.push(u8::try_from(v).map_err(|_| bad(4))?);
                        i += 4;
                    }
                    Some(b'u') | Some(b'U') => {
                        let n = if code == Some(b'u') { 4 } else { 8 };
                        let c = digits(i + 2, n, 16)
                            .and_then(char::from_u32)
                            .ok_or_else(|| bad(n + 2))?;
                        let mut buf = [0; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        i += n + 2;
                    }
                    _ => {
                        let len = text
                            .get(i + 1..)
                            .and_then(|s| s.chars().next())
                            .map_or(1, |c| 1 + c.len_utf8());
                        return Err(bad(len));
                    }
                }
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    let value = String::from_utf8(out).map_err(|_| {
        err(
            "string is not valid UTF-8 once its escapes are applied",
            start..i + 1,
        )
    })?;
    Ok((value, i + 1))
}

struct Parser<'t> {
    text: &'t str,
    tokens: Vec<Token>,
    pos: usize,
    syntax: Syntax,
}

/// One string argument of a call.
struct Arg {
    value: String,
    span: Range<usize>,
}

/// One call, once parsed.
struct Call<'t> {
    /// Canonical matcher name.
    name: &'static str,
    /// Its source text, `Host(`a.com`)`.
    text: &'t str,
    span: Range<usize>,
    args: Vec<Arg>,
}

const EOF: Token = Token {
    kind: Kind::Eof,
    span: 0..0,
};

impl<'t> Parser<'t> {
    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&EOF)
    }

    fn bump(&mut self) -> Token {
        let tok = self.peek().clone();
        self.pos += 1;
        tok
    }

    fn unexpected(&self, tok: &Token, expected: &str) -> RuleError {
        err(
            format!(
                "unexpected {}, expected {expected}",
                describe(self.text, tok)
            ),
            tok.span.clone(),
        )
    }

    fn parse_or(&mut self, depth: usize) -> Result<Expr, RuleError> {
        let mut items = vec![self.parse_and(depth)?];
        while self.peek().kind == Kind::Or {
            self.bump();
            items.push(self.parse_and(depth)?);
        }
        Ok(flatten(items, false))
    }

    fn parse_and(&mut self, depth: usize) -> Result<Expr, RuleError> {
        let mut items = vec![self.parse_unary(depth)?];
        while self.peek().kind == Kind::And {
            self.bump();
            items.push(self.parse_unary(depth)?);
        }
        Ok(flatten(items, true))
    }

    fn deeper(&self, depth: usize, tok: &Token) -> Result<usize, RuleError> {
        if depth >= MAX_RULE_DEPTH {
            Err(err(
                format!("rule nests `(` and `!` more than {MAX_RULE_DEPTH} deep; simplify it"),
                tok.span.clone(),
            ))
        } else {
            Ok(depth + 1)
        }
    }

    fn parse_unary(&mut self, depth: usize) -> Result<Expr, RuleError> {
        let tok = self.bump();
        match tok.kind {
            Kind::Not => {
                let depth = self.deeper(depth, &tok)?;
                Ok(Expr::Not(Box::new(self.parse_unary(depth)?)))
            }
            Kind::LParen => {
                let depth = self.deeper(depth, &tok)?;
                let inner = self.parse_or(depth)?;
                let close = self.bump();
                if close.kind != Kind::RParen {
                    return Err(self.unexpected(&close, "`)` or an operator"));
                }
                Ok(inner)
            }
            Kind::Ident => self.call(tok),
            Kind::Str(_) => Err(err(
                format!(
                    "unexpected string {}: a string can only be a matcher's argument, as in \
                     `Host(`a.com`)`",
                    self.text.get(tok.span.clone()).unwrap_or("")
                ),
                tok.span,
            )),
            _ => Err(self.unexpected(&tok, "a matcher, `!` or `(`")),
        }
    }

    fn call(&mut self, name_tok: Token) -> Result<Expr, RuleError> {
        let written = self.text.get(name_tok.span.clone()).unwrap_or("");
        let name = resolve_name(written, self.syntax, name_tok.span.clone())?;
        let open = self.bump();
        if open.kind != Kind::LParen {
            return Err(self.unexpected(&open, &format!("`(` after `{written}`")));
        }
        let mut args = Vec::new();
        let close = loop {
            let tok = self.bump();
            match tok.kind {
                Kind::RParen => break tok,
                Kind::Str(value) => {
                    if value.is_empty() {
                        return Err(err(
                            format!(
                                "empty argument to `{written}`: every argument must be non-empty"
                            ),
                            tok.span,
                        ));
                    }
                    args.push(Arg {
                        value,
                        span: tok.span,
                    });
                    let sep = self.bump();
                    match sep.kind {
                        Kind::Comma => {}
                        Kind::RParen => break sep,
                        _ => return Err(self.unexpected(&sep, "`,` or `)`")),
                    }
                }
                Kind::Ident => {
                    return Err(err(
                        format!(
                            "arguments must be strings in backticks or double quotes: write \
                             `{}` in backticks",
                            self.text.get(tok.span.clone()).unwrap_or("")
                        ),
                        tok.span,
                    ));
                }
                _ => return Err(self.unexpected(&tok, "a string argument or `)`")),
            }
        };
        let span = name_tok.span.start..close.span.end;
        let call = Call {
            name,
            text: self.text.get(span.clone()).unwrap_or(""),
            span,
            args,
        };
        match self.syntax {
            Syntax::V2 => build_v2(call),
            Syntax::V1 | Syntax::V3 => build_v3(call),
        }
    }
}

/// Joins parsed operands, splicing in operands that are already the same operator.
fn flatten(mut items: Vec<Expr>, and: bool) -> Expr {
    if items.len() == 1
        && let Some(only) = items.pop()
    {
        return only;
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Expr::And(inner) if and => out.extend(inner),
            Expr::Or(inner) if !and => out.extend(inner),
            other => out.push(other),
        }
    }
    if and { Expr::And(out) } else { Expr::Or(out) }
}

const V3_NAMES: &[&str] = &[
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
];

const V2_NAMES: &[&str] = &[
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
];

/// Whether `name` is one of the four spellings Traefik accepts for `canonical`: as
/// documented, all lower case, all upper case, or only the first letter upper case.
fn accepted_spelling(name: &str, canonical: &str) -> bool {
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

fn resolve_name(name: &str, syntax: Syntax, span: Range<usize>) -> Result<&'static str, RuleError> {
    let (names, other, other_syntax) = match syntax {
        Syntax::V2 => (V2_NAMES, V3_NAMES, Syntax::V3),
        Syntax::V1 | Syntax::V3 => (V3_NAMES, V2_NAMES, Syntax::V2),
    };
    if let Some(found) = names.iter().find(|c| accepted_spelling(name, c)) {
        return Ok(found);
    }
    let message = if let Some(c) = names.iter().find(|c| name.eq_ignore_ascii_case(c)) {
        format!(
            "`{name}` is not an accepted spelling of `{c}`: write `{c}`, `{}`, `{}` or `{}`",
            c.to_ascii_lowercase(),
            c.to_ascii_uppercase(),
            first_upper_only(c)
        )
    } else if let Some(c) = other.iter().find(|c| accepted_spelling(name, c)) {
        let instead = match *c {
            "Headers" => " (use `Header`)",
            "HeadersRegexp" => " (use `HeaderRegexp`)",
            "HostHeader" => " (use `Host`)",
            "Header" => " (use `Headers`)",
            "HeaderRegexp" => " (use `HeadersRegexp`)",
            _ => "",
        };
        let switch = match other_syntax {
            Syntax::V2 => "set `rule_syntax: v2` to use it",
            _ => "it exists only in v3 syntax",
        };
        format!("`{name}` is not a {syntax} matcher{instead}; {switch}")
    } else {
        let hint = build::closest(name, names)
            .map(|c| format!("did you mean `{c}`? "))
            .unwrap_or_default();
        format!(
            "unknown matcher `{name}`; {hint}{syntax} matchers are: {}",
            names.join(", ")
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

fn arity(call: &Call<'_>, min: usize, max: usize, what: &str) -> Result<(), RuleError> {
    let n = call.args.len();
    if (min..=max).contains(&n) {
        return Ok(());
    }
    let count = if min == max {
        format!("{min}")
    } else if max == usize::MAX {
        format!("at least {min}")
    } else {
        format!("{min} or {max}")
    };
    let plural = if min == 1 && max == 1 { "" } else { "s" };
    Err(err(
        format!(
            "`{}` takes {count} argument{plural} ({what}), found {n}",
            call.name
        ),
        call.span.clone(),
    ))
}

fn matcher(call: &Call<'_>, kind: MatcherKind) -> Expr {
    Expr::Match(Matcher {
        kind,
        text: call.text.into(),
    })
}

/// The one argument of a checked one-argument call, or the nth of a checked call.
fn arg<'c>(call: &'c Call<'_>, n: usize) -> Result<&'c Arg, RuleError> {
    call.args.get(n).ok_or_else(|| {
        err(
            format!("`{}` is missing an argument", call.name),
            call.span.clone(),
        )
    })
}

fn slash_path<'a>(call: &Call<'_>, a: &'a Arg) -> Result<&'a str, RuleError> {
    if a.value.starts_with('/') {
        Ok(&a.value)
    } else {
        Err(err(
            format!("`{}` value `{}` must start with `/`", call.name, a.value),
            a.span.clone(),
        ))
    }
}

/// Refuses a v3 `Host` value that cannot be a host name or IP literal (Traefik v3's
/// `Host(`/`)` is a config error): letters, digits, `-`, `.`, `_`, the `:` and `[]` of IPv6
/// literals and the `*` of wildcards only.
fn hostname_chars(host: &str, span: Range<usize>) -> Result<(), RuleError> {
    match host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-._:[]*".contains(*c)))
    {
        None => Ok(()),
        Some(c) => Err(err(
            format!("`Host` value `{host}` is not a host name (`{c}` cannot appear in one)"),
            span,
        )),
    }
}

/// `Header`/`HeaderRegexp` (v3) and `Headers`/`HeadersRegexp` (v2): a header name and a
/// value, compared exactly or searched by a regex.
fn header_matcher(call: &Call<'_>, regex: bool) -> Result<MatcherKind, RuleError> {
    arity(call, 2, 2, "a header name and a value")?;
    let (k, v) = (arg(call, 0)?, arg(call, 1)?);
    let name = build::header_name(&k.value, k.span.clone())?;
    Ok(if regex {
        MatcherKind::HeaderRegex {
            name,
            regex: build::header_regex(&v.value, v.span.clone())?,
        }
    } else {
        MatcherKind::Header {
            name,
            value: v.value.clone(),
        }
    })
}

fn build_v3(call: Call<'_>) -> Result<Expr, RuleError> {
    let kind = match call.name {
        "Host" => {
            arity(&call, 1, 1, "a host name")?;
            let a = arg(&call, 0)?;
            build::ascii_host(&a.value, call.name, a.span.clone())?;
            hostname_chars(&a.value, a.span.clone())?;
            let pattern = if a.value == "*" {
                HostPattern::Any
            } else if let Some(rest) = a.value.strip_prefix("*.") {
                let suffix = rest.strip_suffix('.').unwrap_or(rest);
                HostPattern::OneLabelThen(format!(".{}", suffix.to_ascii_lowercase()))
            } else {
                build::exact_host(&a.value)
            };
            MatcherKind::Host(vec![pattern])
        }
        "HostRegexp" => {
            arity(&call, 1, 1, "a regex")?;
            let a = arg(&call, 0)?;
            build::ascii_host(&a.value, call.name, a.span.clone())?;
            MatcherKind::HostRegex(vec![build::regex(&a.value, a.span.clone())?])
        }
        "Path" => {
            arity(&call, 1, 1, "a path")?;
            let a = arg(&call, 0)?;
            MatcherKind::Path(PathForm::Routing, vec![slash_path(&call, a)?.to_owned()])
        }
        "PathPrefix" => {
            arity(&call, 1, 1, "a path prefix")?;
            let a = arg(&call, 0)?;
            MatcherKind::PathPrefix(PathForm::Routing, vec![slash_path(&call, a)?.to_owned()])
        }
        "PathRegexp" => {
            arity(&call, 1, 1, "a regex")?;
            let a = arg(&call, 0)?;
            MatcherKind::PathRegex(
                PathForm::Routing,
                vec![build::regex(&a.value, a.span.clone())?],
            )
        }
        "Method" => {
            arity(&call, 1, 1, "a method")?;
            MatcherKind::Method(vec![arg(&call, 0)?.value.to_ascii_uppercase()])
        }
        "Header" => header_matcher(&call, false)?,
        "HeaderRegexp" => header_matcher(&call, true)?,
        "Query" => {
            arity(&call, 1, 2, "a key, and optionally a value")?;
            let key = arg(&call, 0)?.value.clone();
            let value = call
                .args
                .get(1)
                .map(|a| a.value.clone())
                .unwrap_or_default();
            MatcherKind::Query {
                key,
                value: QueryValue::Equals(value),
                occurrence: QueryOccurrence::Any,
            }
        }
        "QueryRegexp" => {
            arity(&call, 2, 2, "a key and a regex")?;
            let (k, v) = (arg(&call, 0)?, arg(&call, 1)?);
            MatcherKind::Query {
                key: k.value.clone(),
                value: QueryValue::Regex(build::regex(&v.value, v.span.clone())?),
                occurrence: QueryOccurrence::Any,
            }
        }
        "ClientIP" => {
            arity(&call, 1, 1, "an IP address or CIDR network")?;
            let a = arg(&call, 0)?;
            MatcherKind::ClientIp(vec![build::client_net(&a.value, a.span.clone())?])
        }
        _ => return build_cookie(call),
    };
    Ok(matcher(&call, kind))
}

fn build_cookie(call: Call<'_>) -> Result<Expr, RuleError> {
    arity(&call, 2, 2, "a cookie name and a value")?;
    let (k, v) = (arg(&call, 0)?, arg(&call, 1)?);
    let kind = if call.name == "CookieRegexp" {
        MatcherKind::CookieRegex {
            name: k.value.clone(),
            regex: build::regex(&v.value, v.span.clone())?,
        }
    } else {
        MatcherKind::Cookie {
            name: k.value.clone(),
            value: v.value.clone(),
        }
    };
    Ok(matcher(&call, kind))
}

fn build_v2(call: Call<'_>) -> Result<Expr, RuleError> {
    let any = usize::MAX;
    let kind = match call.name {
        "Host" | "HostHeader" => {
            arity(&call, 1, any, "host names")?;
            let mut hosts = Vec::with_capacity(call.args.len());
            for a in &call.args {
                build::ascii_host(&a.value, call.name, a.span.clone())?;
                hosts.push(build::exact_host(&a.value));
            }
            MatcherKind::Host(hosts)
        }
        "HostRegexp" => {
            arity(&call, 1, any, "host templates")?;
            let mut regexes = Vec::with_capacity(call.args.len());
            for a in &call.args {
                build::ascii_host(&a.value, call.name, a.span.clone())?;
                regexes.push(build::template(
                    &a.value,
                    TemplateKind::Host,
                    a.span.clone(),
                )?);
            }
            MatcherKind::HostRegex(regexes)
        }
        "Path" | "PathPrefix" => {
            arity(&call, 1, any, "path templates")?;
            let prefix = call.name == "PathPrefix";
            let tkind = if prefix {
                TemplateKind::PathPrefix
            } else {
                TemplateKind::Path
            };
            let templated = call.args.iter().any(|a| a.value.contains('{'));
            let mut plain = Vec::new();
            let mut regexes = Vec::new();
            for a in &call.args {
                let value = slash_path(&call, a)?;
                if templated {
                    regexes.push(build::template(value, tkind, a.span.clone())?);
                } else {
                    plain.push(value.to_owned());
                }
            }
            if templated {
                MatcherKind::PathRegex(PathForm::Routing, regexes)
            } else if prefix {
                MatcherKind::PathPrefix(PathForm::Routing, plain)
            } else {
                MatcherKind::Path(PathForm::Routing, plain)
            }
        }
        "Method" => {
            arity(&call, 1, any, "methods")?;
            MatcherKind::Method(
                call.args
                    .iter()
                    .map(|a| a.value.to_ascii_uppercase())
                    .collect(),
            )
        }
        "Headers" => header_matcher(&call, false)?,
        "HeadersRegexp" => header_matcher(&call, true)?,
        "Query" => {
            arity(&call, 1, any, "`key=value` pairs")?;
            let mut all = Vec::with_capacity(call.args.len());
            for a in &call.args {
                let Some((key, value)) = a.value.split_once('=') else {
                    return Err(err(
                        format!(
                            "`Query` argument `{}` must be `key=value` (or `key=` for any value)",
                            a.value
                        ),
                        a.span.clone(),
                    ));
                };
                let value = query_template_value(value, a.span.clone())?;
                // Each pair's matcher gets its own text, `Query(<this argument>)`: giving
                // each one the whole call's text copied it once per argument, so a 60 KB
                // rule of 10,000 pairs held 600 MB.
                let arg_text = a
                    .span
                    .start
                    .checked_sub(call.span.start)
                    .zip(a.span.end.checked_sub(call.span.start))
                    .and_then(|(s, e)| call.text.get(s..e))
                    .filter(|_| call.args.len() > 1);
                all.push(Expr::Match(Matcher {
                    kind: MatcherKind::Query {
                        key: key.to_owned(),
                        value,
                        occurrence: QueryOccurrence::First,
                    },
                    text: match arg_text {
                        Some(arg) => format!("{}({arg})", call.name).into(),
                        None => call.text.into(),
                    },
                }));
            }
            return Ok(flatten(all, true));
        }
        "ClientIP" => {
            arity(&call, 1, any, "IP addresses or CIDR networks")?;
            let nets = call
                .args
                .iter()
                .map(|a| build::client_net(&a.value, a.span.clone()))
                .collect::<Result<Vec<_>, _>>()?;
            MatcherKind::ClientIp(nets)
        }
        _ => return build_cookie(call),
    };
    Ok(matcher(&call, kind))
}

/// The value test of a v1/v2 (gorilla/mux) query pair: empty = any value, a template with
/// `{` = an anchored regex, else equality.
pub(super) fn query_template_value(
    value: &str,
    span: Range<usize>,
) -> Result<QueryValue, RuleError> {
    Ok(if value.is_empty() {
        QueryValue::Present
    } else if value.contains('{') {
        QueryValue::Regex(build::template(value, TemplateKind::QueryValue, span)?)
    } else {
        QueryValue::Equals(value.to_owned())
    })
}
