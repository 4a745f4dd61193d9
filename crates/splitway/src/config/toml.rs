//! TOML into the spanned tree, with `toml`'s recoverable parser so that every syntax error is
//! reported at once.
//!
//! `toml` keeps tables sorted by key (unless its `preserve_order` feature is on); we sort each
//! table's entries by where their key is first written instead, which gives file order
//! without another dependency.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::sink::Sink;
use super::tree::{Key, Kind, Node};
use super::yaml::MAX_DEPTH;

/// Parses a TOML document. `None` when it has syntax errors (all of them are in `sink`).
pub(crate) fn parse(text: &str, sink: &mut Sink) -> Option<Node> {
    let (table, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for e in errors {
            let at = e.span().map_or(0, |s| s.start);
            sink.error(at, format!("TOML syntax error: {}", e.message().trim_end()));
        }
        return None;
    }
    let span = table.span();
    convert_table(text, span, table.get_ref(), 0, sink)
}

fn convert_table(
    text: &str,
    span: std::ops::Range<usize>,
    table: &DeTable<'_>,
    depth: usize,
    sink: &mut Sink,
) -> Option<Node> {
    if depth > MAX_DEPTH {
        sink.error(
            span.start,
            format!("TOML nested more than {MAX_DEPTH} levels deep"),
        );
        return None;
    }
    let mut entries = Vec::with_capacity(table.len());
    for (key, value) in table.iter() {
        let node = convert(text, value, depth + 1, sink)?;
        entries.push((
            Key {
                text: key.get_ref().to_string(),
                span: key.span(),
            },
            node,
        ));
    }
    entries.sort_by_key(|(k, _)| k.span.start);
    Some(Node::new(span, Kind::Map(entries)))
}

fn convert(
    text: &str,
    value: &Spanned<DeValue<'_>>,
    depth: usize,
    sink: &mut Sink,
) -> Option<Node> {
    let span = value.span();
    let kind = match value.get_ref() {
        DeValue::String(s) => return Some(Node::string(text, span, s.to_string())),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Kind::Int(n),
            Err(_) => Kind::Float(i.as_str().parse::<f64>().unwrap_or(f64::INFINITY)),
        },
        DeValue::Float(f) => Kind::Float(f.as_str().parse::<f64>().unwrap_or(f64::NAN)),
        DeValue::Boolean(b) => Kind::Bool(*b),
        DeValue::Datetime(d) => Kind::Str(d.to_string()),
        DeValue::Array(items) => {
            if depth > MAX_DEPTH {
                sink.error(
                    span.start,
                    format!("TOML nested more than {MAX_DEPTH} levels deep"),
                );
                return None;
            }
            let mut out = Vec::with_capacity(items.len());
            for item in items.iter() {
                out.push(convert(text, item, depth + 1, sink)?);
            }
            Kind::Seq(out)
        }
        DeValue::Table(table) => return convert_table(text, span, table, depth, sink),
    };
    Some(Node::new(span, kind))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn tables_keep_file_order_and_spans() {
        let text = "[b]\nx = \"Host:a\"\n[a]\ny = 1\n";
        let mut sink = Sink::default();
        let Some(Node {
            kind: Kind::Map(entries),
            ..
        }) = parse(text, &mut sink)
        else {
            panic!("not a table")
        };
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.text.as_str()).collect();
        assert_eq!(keys, ["b", "a"]);
        let Kind::Map(inner) = &entries[0].1.kind else {
            panic!("not a table")
        };
        assert_eq!(inner[0].1.content_start, text.find("Host").unwrap());
        assert!(inner[0].1.raw);
    }

    #[test]
    fn every_syntax_error_is_reported() {
        let mut sink = Sink::default();
        assert!(parse("a = \nb = [\n", &mut sink).is_none());
        let diags = sink.finish("t.toml", "a = \nb = [\n");
        assert!(diags.len() >= 2, "{diags:?}");
    }
}
