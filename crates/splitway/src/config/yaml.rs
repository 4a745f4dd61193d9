//! YAML into the spanned tree, from `saphyr-parser`'s events.
//!
//! We read events rather than use a serde deserializer because we want positions for every
//! value and our own budgets: aliases are expanded, but the total number of values after
//! expansion is capped ([`MAX_NODES`], against "billion laughs" alias bombs), and so is the
//! text that aliases repeat ([`MAX_ALIAS_BYTES`], against a few aliases of a long string),
//! and the nesting depth ([`MAX_DEPTH`]). The tree is built with an explicit stack, never recursion.
//! Scalars are resolved with the YAML 1.2 core schema; quoted scalars are always strings.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span};

use super::sink::Sink;
use super::tree::{Key, Kind, Node};
use crate::diag::LineIndex;

/// Most values a YAML file may hold once its aliases are expanded.
pub(crate) const MAX_NODES: usize = 1_000_000;
/// Most bytes of text (strings and keys) that aliases may repeat, in all: as much as the
/// largest file holds. Without it, a 1 MB file aliasing a 1 MB string a few thousand times
/// asked for gigabytes within the value budget.
pub(crate) const MAX_ALIAS_BYTES: usize = super::MAX_CONFIG_BYTES;
/// Deepest nesting of lists and maps accepted.
pub(crate) const MAX_DEPTH: usize = 128;

/// Parses one YAML document. `None` when the text has no document (empty, or only comments)
/// or when it could not be parsed (the reason is in `sink`).
pub(crate) fn parse(text: &str, sink: &mut Sink) -> Option<Node> {
    builder(text, false).run(sink).ok().flatten()
}

/// Parses a YAML stream of any number of documents (Kubernetes manifests), each with the
/// same budgets as one configuration (the value and alias budgets count the whole stream).
/// A document with nothing in it is left out. `None` when the text could not be parsed (the
/// reason is in `sink`).
pub(crate) fn parse_stream(text: &str, sink: &mut Sink) -> Option<Vec<Node>> {
    let mut builder = builder(text, true);
    builder.run(sink).ok()?;
    Some(builder.docs)
}

fn builder(text: &str, stream: bool) -> Builder<'_> {
    Builder {
        text,
        chars: CharMap::new(text),
        lines: LineIndex::new(text),
        stack: Vec::new(),
        anchors: HashMap::new(),
        total: 0,
        alias_bytes: 0,
        aliased: false,
        doc: None,
        stream,
        docs: Vec::new(),
    }
}

/// A list or map being built.
enum Frame {
    Seq {
        start: usize,
        anchor: usize,
        items: Vec<Node>,
        count: usize,
        /// Bytes of text (strings and keys) inside.
        bytes: usize,
    },
    Map {
        start: usize,
        anchor: usize,
        entries: Vec<(Key, Node)>,
        seen: HashMap<String, usize>,
        /// The key waiting for its value; `Some(None)` for a key that was reported bad, whose
        /// value is dropped.
        pending: Option<Option<Key>>,
        count: usize,
        /// Bytes of text (strings and keys) inside.
        bytes: usize,
    },
}

struct Builder<'a> {
    text: &'a str,
    chars: CharMap<'a>,
    lines: LineIndex<'a>,
    stack: Vec<Frame>,
    /// Finished anchored values, their number of values and their bytes of text.
    anchors: HashMap<usize, (Node, usize, usize)>,
    total: usize,
    /// Bytes of text repeated by aliases so far.
    alias_bytes: usize,
    /// Whether an alias has been expanded (for the wording of the value-budget error).
    aliased: bool,
    doc: Option<Node>,
    /// Whether several documents are accepted (collected in `docs`).
    stream: bool,
    /// The finished documents of a stream.
    docs: Vec<Node>,
}

/// Parsing stopped; the reason is in the sink.
struct Stop;

impl Builder<'_> {
    fn run(&mut self, sink: &mut Sink) -> Result<Option<Node>, Stop> {
        let mut parser = Parser::new_from_str(self.text);
        let mut documents = 0usize;
        while let Some(event) = parser.next_event() {
            let (event, span) = match event {
                Ok(ok) => ok,
                Err(e) => {
                    let at = self.byte(e.marker());
                    sink.error(at, format!("YAML syntax error: {}", e.info()));
                    return Err(Stop);
                }
            };
            match event {
                Event::Nothing | Event::StreamStart => {}
                Event::DocumentEnd => {
                    if self.stream {
                        // Anchors belong to their document.
                        self.anchors.clear();
                        if let Some(doc) = self.doc.take()
                            && doc.kind != Kind::Null
                        {
                            self.docs.push(doc);
                        }
                    }
                }
                Event::StreamEnd => break,
                Event::DocumentStart(_) => {
                    documents += 1;
                    if documents > 1 && !self.stream {
                        sink.error(
                            self.byte(&span.start),
                            "a second YAML document: a configuration file holds one document",
                        );
                        return Err(Stop);
                    }
                }
                Event::Alias(id) => self.alias(id, span, sink)?,
                Event::Scalar(value, style, anchor, tag) => {
                    let is_str_tag = tag.as_ref().is_some_and(|t| {
                        t.suffix == "str" && (t.handle == "tag:yaml.org,2002:" || t.handle == "!!")
                    });
                    self.scalar(value.into_owned(), style, is_str_tag, anchor, span, sink)?;
                }
                Event::SequenceStart(anchor, _) => {
                    let start = self.open(span, sink)?;
                    self.stack.push(Frame::Seq {
                        start,
                        anchor,
                        items: Vec::new(),
                        count: 1,
                        bytes: 0,
                    });
                }
                Event::MappingStart(anchor, _) => {
                    let start = self.open(span, sink)?;
                    self.stack.push(Frame::Map {
                        start,
                        anchor,
                        entries: Vec::new(),
                        seen: HashMap::new(),
                        pending: None,
                        count: 1,
                        bytes: 0,
                    });
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let end = self.byte(&span.end);
                    let (node, count, bytes, anchor) = match self.stack.pop() {
                        Some(Frame::Seq {
                            start,
                            anchor,
                            items,
                            count,
                            bytes,
                        }) => (
                            Node::new(start..end.max(start), Kind::Seq(items)),
                            count,
                            bytes,
                            anchor,
                        ),
                        Some(Frame::Map {
                            start,
                            anchor,
                            entries,
                            count,
                            bytes,
                            ..
                        }) => (
                            Node::new(start..end.max(start), Kind::Map(entries)),
                            count,
                            bytes,
                            anchor,
                        ),
                        None => continue,
                    };
                    if anchor != 0 {
                        self.anchors.insert(anchor, (node.clone(), count, bytes));
                    }
                    self.push(node, count, bytes);
                }
            }
        }
        Ok(self.doc.take())
    }

    /// Starts a list or map: checks the depth and the value budget.
    fn open(&mut self, span: Span, sink: &mut Sink) -> Result<usize, Stop> {
        let start = self.byte(&span.start);
        if self.stack.len() >= MAX_DEPTH {
            sink.error(
                start,
                format!("YAML nested more than {MAX_DEPTH} levels deep"),
            );
            return Err(Stop);
        }
        self.count(1, start, sink)?;
        self.key_expected_error(start, "a list or map", sink)?;
        Ok(start)
    }

    /// A list or map cannot be a map key here.
    fn key_expected_error(&self, at: usize, what: &str, sink: &mut Sink) -> Result<(), Stop> {
        if let Some(Frame::Map { pending: None, .. }) = self.stack.last() {
            sink.error(
                at,
                format!("a map key must be a plain string, found {what}"),
            );
            return Err(Stop);
        }
        Ok(())
    }

    /// Counts `n` more values (an alias counts its anchor's), stopping past [`MAX_NODES`].
    fn count(&mut self, n: usize, at: usize, sink: &mut Sink) -> Result<(), Stop> {
        self.total = self.total.saturating_add(n);
        if self.total > MAX_NODES {
            let message = if self.aliased {
                format!(
                    "YAML expands to more than {MAX_NODES} values (aliases repeat their \
                     anchor's values): refusing to build it"
                )
            } else {
                format!("YAML holds more than {MAX_NODES} values: refusing to build it")
            };
            sink.error(at, message);
            return Err(Stop);
        }
        Ok(())
    }

    fn alias(&mut self, id: usize, span: Span, sink: &mut Sink) -> Result<(), Stop> {
        let at = self.byte(&span.start);
        self.key_expected_error(at, "an alias", sink)?;
        let Some((count, bytes)) = self.anchors.get(&id).map(|(_, c, b)| (*c, *b)) else {
            sink.error(
                at,
                "alias to an anchor whose value is not finished (recursive alias)",
            );
            return Err(Stop);
        };
        // Check the budgets before cloning, so a bomb never allocates past them.
        self.aliased = true;
        self.count(count, at, sink)?;
        self.alias_bytes = self.alias_bytes.saturating_add(bytes);
        if self.alias_bytes > MAX_ALIAS_BYTES {
            sink.error(
                at,
                format!(
                    "YAML aliases repeat more than {MAX_ALIAS_BYTES} bytes of text: refusing \
                     to build it"
                ),
            );
            return Err(Stop);
        }
        let Some(node) = self.anchors.get(&id).map(|(node, _, _)| node.clone()) else {
            return Err(Stop);
        };
        self.push(node, count, bytes);
        Ok(())
    }

    fn scalar(
        &mut self,
        value: String,
        style: ScalarStyle,
        is_str_tag: bool,
        anchor: usize,
        span: Span,
        sink: &mut Sink,
    ) -> Result<(), Stop> {
        let start = self.byte(&span.start);
        let end = self.byte(&span.end).max(start);
        self.count(1, start, sink)?;
        if let Some(Frame::Map {
            pending: pending @ None,
            seen,
            bytes,
            ..
        }) = self.stack.last_mut()
        {
            *bytes = bytes.saturating_add(value.len());
            // A key.
            let key = Key {
                text: value,
                span: start..end,
            };
            match seen.entry(key.text.clone()) {
                Entry::Occupied(first) => {
                    let (line, col) = self.lines.line_col(*first.get());
                    sink.error(
                        start,
                        format!(
                            "duplicate key `{}` (first at line {line}, column {col})",
                            key.text
                        ),
                    );
                    *pending = Some(None);
                }
                Entry::Vacant(slot) => {
                    slot.insert(start);
                    *pending = Some(Some(key));
                }
            }
            return Ok(());
        }
        let bytes = value.len();
        let node = if style == ScalarStyle::Plain && !is_str_tag {
            Node::new(start..end, resolve_plain(&value))
        } else {
            Node::string(self.text, start..end, value)
        };
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), 1, bytes));
        }
        self.push(node, 1, bytes);
        Ok(())
    }

    /// Puts a finished value into its parent (or makes it the document).
    fn push(&mut self, node: Node, n: usize, text: usize) {
        match self.stack.last_mut() {
            None => self.doc = Some(node),
            Some(Frame::Seq {
                items,
                count,
                bytes,
                ..
            }) => {
                items.push(node);
                *count = count.saturating_add(n);
                *bytes = bytes.saturating_add(text);
            }
            Some(Frame::Map {
                entries,
                pending,
                count,
                bytes,
                ..
            }) => {
                if let Some(Some(key)) = pending.take() {
                    entries.push((key, node));
                }
                *count = count.saturating_add(n);
                *bytes = bytes.saturating_add(text);
            }
        }
    }

    fn byte(&self, marker: &Marker) -> usize {
        self.chars.byte(marker.index())
    }
}

/// Resolves a plain scalar with the YAML 1.2 core schema.
fn resolve_plain(text: &str) -> Kind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Kind::Null,
        "true" | "True" | "TRUE" => return Kind::Bool(true),
        "false" | "False" | "FALSE" => return Kind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Kind::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Kind::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Kind::Float(f64::NAN),
        _ => {}
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if !oct.is_empty() && oct.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return i64::from_str_radix(oct, 8).map_or(Kind::Float(f64::INFINITY), Kind::Int);
        }
        return Kind::Str(text.to_owned());
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return i64::from_str_radix(hex, 16).map_or(Kind::Float(f64::INFINITY), Kind::Int);
        }
        return Kind::Str(text.to_owned());
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<i64>() {
            Ok(i) => Kind::Int(i),
            Err(_) => text
                .parse::<f64>()
                .map_or_else(|_| Kind::Str(text.to_owned()), Kind::Float),
        };
    }
    if is_core_float(digits)
        && let Ok(f) = text.parse::<f64>()
    {
        return Kind::Float(f);
    }
    Kind::Str(text.to_owned())
}

/// `(\.[0-9]+ | [0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, the sign already removed.
fn is_core_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (s.get(..i).unwrap_or(""), s.get(i + 1..)),
        None => (s, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (mantissa, None),
    };
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match frac {
        None => !int.is_empty() && all_digits(int),
        Some(frac) => all_digits(int) && all_digits(frac) && (!int.is_empty() || !frac.is_empty()),
    };
    let exponent_ok = match exponent {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && all_digits(e)
        }
    };
    mantissa_ok && exponent_ok && (frac.is_some() || exponent.is_some())
}

/// Maps the parser's character indices to byte offsets, with a checkpoint every
/// [`CharMap::STEP`] characters (so a lookup walks at most that many characters).
struct CharMap<'a> {
    text: &'a str,
    ascii: bool,
    checkpoints: Vec<usize>,
}

impl<'a> CharMap<'a> {
    const STEP: usize = 1024;

    fn new(text: &'a str) -> Self {
        let ascii = text.is_ascii();
        let checkpoints = if ascii {
            Vec::new()
        } else {
            text.char_indices()
                .step_by(Self::STEP)
                .map(|(i, _)| i)
                .collect()
        };
        CharMap {
            text,
            ascii,
            checkpoints,
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        if self.ascii {
            return char_index.min(self.text.len());
        }
        let Some(&base) = self.checkpoints.get(char_index / Self::STEP) else {
            return self.text.len();
        };
        let rest = self.text.get(base..).unwrap_or("");
        rest.char_indices()
            .nth(char_index % Self::STEP)
            .map_or(self.text.len(), |(i, _)| base + i)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn tree(text: &str) -> (Option<Node>, Sink) {
        let mut sink = Sink::default();
        (parse(text, &mut sink), sink)
    }

    #[test]
    fn core_schema_scalars() {
        assert_eq!(resolve_plain("~"), Kind::Null);
        assert_eq!(resolve_plain("True"), Kind::Bool(true));
        assert_eq!(resolve_plain("-12"), Kind::Int(-12));
        assert_eq!(resolve_plain("0x1f"), Kind::Int(31));
        assert_eq!(resolve_plain("1.5"), Kind::Float(1.5));
        assert_eq!(resolve_plain("1e3"), Kind::Float(1000.0));
        assert_eq!(resolve_plain("yes"), Kind::Str("yes".into()));
        assert_eq!(resolve_plain("1.2.3"), Kind::Str("1.2.3".into()));
        assert_eq!(resolve_plain("."), Kind::Str(".".into()));
        assert_eq!(
            resolve_plain("99999999999999999999"),
            Kind::Float(99999999999999999999.0)
        );
    }

    #[test]
    fn spans_are_bytes_even_after_multibyte_text() {
        let text = "# çç\na: \"Host:x\"\n";
        let (node, sink) = tree(text);
        assert!(!sink.has_errors());
        let Some(Node {
            kind: Kind::Map(entries),
            ..
        }) = node
        else {
            panic!("not a map")
        };
        let (key, value) = &entries[0];
        assert_eq!(key.span.start, text.find("a:").unwrap());
        assert_eq!(value.content_start, text.find("Host").unwrap());
        assert!(value.raw);
    }

    #[test]
    fn quoted_scalars_are_strings() {
        let (node, _) = tree("a: 'true'\nb: true\n");
        let Some(Node {
            kind: Kind::Map(entries),
            ..
        }) = node
        else {
            panic!("not a map")
        };
        assert_eq!(entries[0].1.kind, Kind::Str("true".into()));
        assert_eq!(entries[1].1.kind, Kind::Bool(true));
    }

    #[test]
    fn aliases_expand() {
        let (node, sink) = tree("a: &x [1, 2]\nb: *x\n");
        assert!(!sink.has_errors());
        let Some(Node {
            kind: Kind::Map(entries),
            ..
        }) = node
        else {
            panic!("not a map")
        };
        assert_eq!(entries[0].1.kind, entries[1].1.kind);
    }
}
