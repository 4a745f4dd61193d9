//! Tokens of an expression rule (Traefik v2 and v3): names, `(`, `)`, `,`, `&&`, `||`, `!`
//! and Go string literals (backtick raw strings, or double-quoted with Go's escapes).

use std::ops::Range;

use super::RuleError;
use super::err;

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TokenKind {
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

/// One token and where it is in the rule text.
#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) kind: TokenKind,
    pub(super) span: Range<usize>,
}

/// The token as an error message names it.
pub(super) fn describe(text: &str, tok: &Token) -> String {
    match &tok.kind {
        TokenKind::Eof => "end of rule".to_owned(),
        TokenKind::Str(_) => format!("string {}", text.get(tok.span.clone()).unwrap_or("")),
        _ => format!("`{}`", text.get(tok.span.clone()).unwrap_or("")),
    }
}

/// The tokens of `text`, ending with one `Eof`.
pub(super) fn tokenize(text: &str) -> Result<Vec<Token>, RuleError> {
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
            b'(' => TokenKind::LParen,
            b')' => TokenKind::RParen,
            b',' => TokenKind::Comma,
            b'!' => TokenKind::Not,
            b'&' | b'|' => {
                if bytes.get(i + 1) != Some(&b) {
                    let op = char::from(b);
                    return Err(err(
                        format!("unexpected `{op}`: the operators are `&&`, `||` and `!`"),
                        i..i + 1,
                    ));
                }
                i += 1;
                if b == b'&' {
                    TokenKind::And
                } else {
                    TokenKind::Or
                }
            }
            b'`' => {
                let rest = text.get(i + 1..).unwrap_or("");
                let Some(end) = rest.find('`') else {
                    return Err(err("unterminated backtick string", i..text.len()));
                };
                // Go drops carriage returns from raw strings.
                let value = rest.get(..end).unwrap_or("").replace('\r', "");
                i += end + 1;
                TokenKind::Str(value)
            }
            b'"' => {
                let (value, end) = quoted(text, i)?;
                i = end - 1;
                TokenKind::Str(value)
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
                TokenKind::Ident
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
        kind: TokenKind::Eof,
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
