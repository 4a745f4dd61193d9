//! Regexes written for Go (Traefik) compiled with the `regex` crate.
//!
//! Go's RE2 and the `regex` crate agree on almost everything a routing rule uses; the
//! differences that make a valid Traefik rule fail here are rewritten before compiling:
//!
//! - a `{` (or `}`) that does not form a repetition `{n}`, `{n,}`, `{n,m}` is a literal in Go
//!   (`http{secure:s?}`), an error in the `regex` crate: it is escaped;
//! - inside a character class, `[` is a literal in Go but opens a nested class here, and `&&`,
//!   `~~`, `--` are set operators here: they are escaped;
//! - `\Q...\E` quotes literal text in Go: the text is escaped.

use std::borrow::Cow;

use regex::{Regex, RegexBuilder};

use super::REGEX_SIZE_LIMIT;
use super::matcher::ValueRegex;

/// Compiles a Go regex with the size limits; the error is a message for a person.
pub(crate) fn compile(re: &str) -> Result<Regex, String> {
    with_message(re, |translated| {
        RegexBuilder::new(translated)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
    })
}

/// [`compile`] for a regex that searches bytes (header values, which are not checked for
/// UTF-8 before the search; on text it matches exactly what the `str` regex matches).
pub(crate) fn compile_bytes(re: &str) -> Result<ValueRegex, String> {
    with_message(re, |translated| {
        regex::bytes::RegexBuilder::new(translated)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
    })
    .map(ValueRegex::new)
}

/// Translates `re` and builds it with `build`, turning the crate's error into a message.
fn with_message<R>(
    re: &str,
    build: impl FnOnce(&str) -> Result<R, regex::Error>,
) -> Result<R, String> {
    build(&translate(re)).map_err(|e| match e {
        regex::Error::CompiledTooBig(limit) => format!(
            "regex `{re}` is too big once compiled (limit {limit} bytes); simplify it or \
                 lower its repetition counts"
        ),
        regex::Error::Syntax(text) => {
            // The crate's message is a multi-line diagram; its last `error:` line is the
            // part that reads well inside a one-line diagnostic.
            let reason = text
                .lines()
                .rev()
                .find_map(|l| l.trim().strip_prefix("error:"))
                .map(str::trim)
                .unwrap_or("does not parse");
            format!("invalid regex `{re}`: {reason}")
        }
        other => format!("invalid regex `{re}`: {other}"),
    })
}

/// Rewrites Go regex syntax into `regex` crate syntax with the same meaning.
pub(crate) fn translate(re: &str) -> Cow<'_, str> {
    if !re.contains(['{', '}', '[', '\\']) {
        return Cow::Borrowed(re);
    }
    let bytes = re.as_bytes();
    let mut out = String::with_capacity(re.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    // Position of the first member of the current class (after `[` and an optional `^`),
    // where a `]` is a literal.
    let mut class_first = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => {
                if !in_class && bytes.get(i + 1) == Some(&b'Q') {
                    let rest = re.get(i + 2..).unwrap_or("");
                    let (quoted, consumed) = match rest.find("\\E") {
                        Some(end) => (rest.get(..end).unwrap_or(""), end + 2),
                        None => (rest, rest.len()),
                    };
                    out.push_str(&regex::escape(quoted));
                    i += 2 + consumed;
                    continue;
                }
                // Copy the escape and the character it escapes, whole (it may be multi-byte).
                out.push('\\');
                i += 1;
                if let Some(c) = re.get(i..).and_then(|s| s.chars().next()) {
                    out.push(c);
                    i += c.len_utf8();
                }
                continue;
            }
            b'[' if !in_class => {
                in_class = true;
                out.push('[');
                i += 1;
                if bytes.get(i) == Some(&b'^') {
                    out.push('^');
                    i += 1;
                }
                class_first = i;
                continue;
            }
            b'[' => {
                // `[:alpha:]` keeps its meaning; any other `[` is a literal in Go.
                if bytes.get(i + 1) == Some(&b':')
                    && let Some(end) = re.get(i..).and_then(|s| s.find(":]"))
                {
                    out.push_str(re.get(i..i + end + 2).unwrap_or(""));
                    i += end + 2;
                    continue;
                }
                out.push_str("\\[");
            }
            b']' if in_class && i != class_first => {
                in_class = false;
                out.push(']');
            }
            b'&' | b'~' if in_class => {
                out.push('\\');
                out.push(char::from(b));
            }
            b'-' if in_class && bytes.get(i + 1) == Some(&b'-') => out.push_str("\\-"),
            b'{' if !in_class => match repetition_len(bytes.get(i..).unwrap_or(&[])) {
                Some(len) => {
                    out.push_str(re.get(i..i + len).unwrap_or(""));
                    i += len;
                    continue;
                }
                None => out.push_str("\\{"),
            },
            b'}' if !in_class => out.push_str("\\}"),
            _ => {
                if let Some(c) = re.get(i..).and_then(|s| s.chars().next()) {
                    out.push(c);
                    i += c.len_utf8();
                    continue;
                }
            }
        }
        i += 1;
    }
    Cow::Owned(out)
}

/// Length of the repetition `{n}`, `{n,}` or `{n,m}` at the start of `s`, if it is one.
fn repetition_len(s: &[u8]) -> Option<usize> {
    let mut i = 1;
    let digits = |i: &mut usize| {
        let start = *i;
        while s.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return None;
    }
    if s.get(i) == Some(&b',') {
        i += 1;
        digits(&mut i);
    }
    (s.get(i) == Some(&b'}')).then_some(i + 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn literal_braces_are_escaped_like_go_reads_them() {
        assert_eq!(translate("http{secure:s?}"), "http\\{secure:s?\\}");
        assert_eq!(translate("a{}"), "a\\{\\}");
        assert_eq!(translate("a{,3}"), "a\\{,3\\}");
        assert_eq!(translate("x{2,}y{1,3}z{4}"), "x{2,}y{1,3}z{4}");
        assert_eq!(translate("plain"), "plain");
        assert!(matches!(translate("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn go_literal_braces_compile_and_match_literally() {
        let re = compile("^http{secure:s?}$").unwrap();
        // In Go the braces are literal and `s?` is an optional `s`.
        assert!(re.is_match("http{secure:s}"));
        assert!(re.is_match("http{secure:}"));
        assert!(!re.is_match("https"));
        let re = compile("^[0-9]{1,3}$").unwrap();
        assert!(re.is_match("123"));
        assert!(!re.is_match("1234"));
    }

    #[test]
    fn class_syntax_that_go_reads_literally() {
        let re = compile("^[a[]+$").unwrap();
        assert!(re.is_match("a[a"));
        let re = compile("^[a&&b]+$").unwrap();
        assert!(re.is_match("a&&b"));
        let re = compile("^[[:digit:]]+$").unwrap();
        assert!(re.is_match("42"));
        let re = compile("^[]a]+$").unwrap();
        assert!(re.is_match("]a"));
        let re = compile(r"^[{}]+$").unwrap();
        assert!(re.is_match("{}"));
    }

    #[test]
    fn quoted_text_is_literal() {
        let re = compile(r"^\Qa.b*\E$").unwrap();
        assert!(re.is_match("a.b*"));
        assert!(!re.is_match("axb"));
        let re = compile(r"\Q(x").unwrap();
        assert!(re.is_match("a(x"));
    }

    #[test]
    fn errors_are_one_line_and_name_the_regex() {
        let e = compile("(x").unwrap_err();
        assert_eq!(e, "invalid regex `(x`: unclosed group");
        let e = compile("(a{1000}){1000}").unwrap_err();
        assert!(e.contains("too big"), "{e}");
    }
}
