//! A spanned value tree: what both YAML and TOML parse into before decoding, so that the
//! decoder (and every diagnostic it emits) is written once for both formats.
//!
//! Spans are byte offsets into the file's text.

use std::ops::Range;

/// One value of the file, with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    /// Where the value is, in bytes (for a quoted string, the quotes included).
    pub(crate) span: Range<usize>,
    /// The value.
    pub(crate) kind: Kind,
    /// For strings: the byte offset where the string's content starts (after an opening
    /// quote). For other values: `span.start`.
    pub(crate) content_start: usize,
    /// For strings: whether the content is written verbatim from `content_start` (no escapes,
    /// no line folding), so that byte `k` of the value is byte `content_start + k` of the file.
    pub(crate) raw: bool,
}

/// The value of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// YAML `null`, `~` or nothing.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// A float (also an integer too large for `i64`).
    Float(f64),
    /// A string (TOML date-times are kept as their text).
    Str(String),
    /// A list.
    Seq(Vec<Node>),
    /// A map, in file order. Duplicate keys have been reported and dropped by the parser.
    Map(Vec<(Key, Node)>),
}

/// A map key with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    /// The key as text.
    pub(crate) text: String,
    /// Where it is, in bytes.
    pub(crate) span: Range<usize>,
}

impl Node {
    /// A non-string node.
    pub(crate) fn new(span: Range<usize>, kind: Kind) -> Node {
        let content_start = span.start;
        Node {
            span,
            kind,
            content_start,
            raw: false,
        }
    }

    /// A string node: finds where its content starts in `source` (skipping one opening
    /// quote, or three for TOML's multi-line strings and their first newline) and whether it
    /// is written verbatim there.
    pub(crate) fn string(source: &str, span: Range<usize>, value: String) -> Node {
        let at = source.get(span.start..).unwrap_or("");
        let mut content_start = span.start;
        if at.starts_with("\"\"\"") || at.starts_with("'''") {
            content_start += 3;
            let rest = source.get(content_start..).unwrap_or("");
            if rest.starts_with("\r\n") {
                content_start += 2;
            } else if rest.starts_with('\n') {
                content_start += 1;
            }
        } else if at.starts_with('"') || at.starts_with('\'') {
            content_start += 1;
        }
        let raw = source
            .get(content_start..content_start.saturating_add(value.len()))
            .is_some_and(|written| written == value);
        Node {
            span,
            kind: Kind::Str(value),
            content_start,
            raw,
        }
    }

    /// The file offset of byte `k` of this string's value: exact when the string is written
    /// verbatim, else the start of the value.
    pub(crate) fn offset_in_str(&self, k: usize) -> usize {
        if self.raw {
            self.content_start.saturating_add(k)
        } else {
            self.span.start
        }
    }

    /// What the value is, for "expected X, found Y" messages.
    pub(crate) fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Null => "nothing (null)",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) | Kind::Float(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a map",
        }
    }

    /// The string, if this is one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn string_content_start_skips_quotes() {
        let src = r#"a: "Host:x""#;
        let n = Node::string(src, 3..11, "Host:x".into());
        assert_eq!(n.content_start, 4);
        assert!(n.raw);
        assert_eq!(n.offset_in_str(5), 9);
    }

    #[test]
    fn escaped_strings_fall_back_to_the_value_start() {
        let src = r#"a: "Host:\x41""#;
        let n = Node::string(src, 3..14, "Host:A".into());
        assert!(!n.raw);
        assert_eq!(n.offset_in_str(5), 3);
    }

    #[test]
    fn toml_multiline_strings_skip_the_first_newline() {
        let src = "a = \"\"\"\nHost:x\"\"\"";
        let n = Node::string(src, 4..17, "Host:x".into());
        assert_eq!(n.content_start, 8);
        assert!(n.raw);
    }
}
