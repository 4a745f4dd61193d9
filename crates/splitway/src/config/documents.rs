//! YAML streams as located values, for tools that read other YAML beside splitway's own
//! configurations (the `splitway import` commands read Kubernetes manifests with it).
//!
//! The same parser as configuration files, with the same budgets, but any number of
//! documents. Offsets are bytes into the text; [`crate::diag::LineIndex`] turns them into
//! lines and columns.
//!
//! ```
//! use splitway::config::{YamlKind, parse_yaml_documents};
//!
//! let docs = parse_yaml_documents("kind: Service\n---\nkind: Ingress\n", "a.yaml").unwrap();
//! assert_eq!(docs.len(), 2);
//! let YamlKind::Map(entries) = &docs[1].kind else { panic!() };
//! assert_eq!(entries[0].0.text, "kind");
//! assert_eq!(entries[0].1.kind, YamlKind::Str("Ingress".into()));
//! assert_eq!(docs[1].offset, 18);
//! ```

use super::load::MAX_CONFIG_BYTES;
use super::sink::Sink;
use super::tree::{Kind, Node};
use super::yaml;
use crate::diag::{ConfigError, Diagnostic, Severity};

/// One YAML value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlValue {
    /// Byte offset of the value in the text.
    pub offset: usize,
    /// The value.
    pub kind: YamlKind,
}

/// The value of a [`YamlValue`] (YAML 1.2 core schema; quoted scalars are strings).
#[derive(Debug, Clone, PartialEq)]
pub enum YamlKind {
    /// `null`, `~` or nothing.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// A float (also an integer too large for `i64`).
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    Seq(Vec<YamlValue>),
    /// A map, in file order (a duplicate key is an error).
    Map(Vec<(YamlKey, YamlValue)>),
}

/// A map key and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlKey {
    /// The key as text.
    pub text: String,
    /// Byte offset of the key in the text.
    pub offset: usize,
}

/// Parses every document of a YAML stream (`---` separated); empty documents are left out.
/// Syntax errors, duplicate keys and exceeded budgets are located errors; `file` names the
/// text in them.
pub fn parse_yaml_documents(text: &str, file: &str) -> Result<Vec<YamlValue>, ConfigError> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError {
            diagnostics: vec![Diagnostic {
                severity: Severity::Error,
                file: file.to_owned(),
                line: 1,
                col: 1,
                message: format!(
                    "the file is {} bytes, more than the {MAX_CONFIG_BYTES} bytes accepted",
                    text.len()
                ),
            }],
        });
    }
    let mut sink = Sink::default();
    let docs = yaml::parse_stream(text, &mut sink);
    match docs {
        Some(docs) if !sink.has_errors() => Ok(docs.into_iter().map(value).collect()),
        _ => Err(ConfigError {
            diagnostics: sink.finish(file, text),
        }),
    }
}

/// The public form of a tree node (nesting is bounded by the parser's depth limit).
fn value(node: Node) -> YamlValue {
    let kind = match node.kind {
        Kind::Null => YamlKind::Null,
        Kind::Bool(b) => YamlKind::Bool(b),
        Kind::Int(i) => YamlKind::Int(i),
        Kind::Float(f) => YamlKind::Float(f),
        Kind::Str(s) => YamlKind::Str(s),
        Kind::Seq(items) => YamlKind::Seq(items.into_iter().map(value).collect()),
        Kind::Map(entries) => YamlKind::Map(
            entries
                .into_iter()
                .map(|(k, v)| {
                    (
                        YamlKey {
                            text: k.text,
                            offset: k.span.start,
                        },
                        value(v),
                    )
                })
                .collect(),
        ),
    };
    YamlValue {
        offset: node.span.start,
        kind,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_gives_every_non_empty_document_in_order() {
        let docs =
            parse_yaml_documents("---\na: 1\n---\n---\n# nothing\n...\n---\n- x\n", "f").unwrap();
        assert_eq!(docs.len(), 2);
        assert!(matches!(docs[0].kind, YamlKind::Map(_)));
        assert!(matches!(docs[1].kind, YamlKind::Seq(_)));
    }

    #[test]
    fn anchors_do_not_cross_documents() {
        let err = parse_yaml_documents("a: &x 1\n---\nb: *x\n", "f.yaml").unwrap_err();
        assert_eq!(err.diagnostics.len(), 1);
        assert_eq!(err.diagnostics[0].line, 3);
    }

    #[test]
    fn duplicate_keys_are_located_errors() {
        let err = parse_yaml_documents("kind: A\n---\nkind: B\nkind: C\n", "f.yaml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.yaml:4:1: error: duplicate key `kind` (first at line 3, column 1)"
        );
    }
}
