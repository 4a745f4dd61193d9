//! Kubernetes manifests as located objects: multi-document YAML files, `List` objects
//! flattened, and every value able to say where it was written (`FILE:LINE:COL`), so that a
//! warning or an error names the object, the field and the place.

use splitway::config::{YamlKind, YamlValue, parse_yaml_documents};
use splitway::diag::LineIndex;

/// One input file, parsed.
pub(crate) struct Source {
    /// The file name as given.
    pub(crate) name: String,
    text: String,
    docs: Vec<YamlValue>,
}

impl Source {
    /// Parses `text`; a YAML error is reported as located diagnostics.
    pub(crate) fn parse(name: String, text: String) -> Result<Source, Vec<String>> {
        match parse_yaml_documents(&text, &name) {
            Ok(docs) => Ok(Source { name, text, docs }),
            Err(err) => Err(err.diagnostics.iter().map(ToString::to_string).collect()),
        }
    }

    /// `FILE:LINE:COL` of byte `offset`.
    fn place(&self, offset: usize) -> String {
        let (line, col) = LineIndex::new(&self.text).line_col(offset);
        format!("{}:{line}:{col}", self.name)
    }
}

/// A value of a manifest and the file it is in.
#[derive(Clone, Copy)]
pub(crate) struct Node<'a> {
    src: &'a Source,
    value: &'a YamlValue,
    /// Where its key is written, when it is a map entry (warnings point at the key).
    key_offset: Option<usize>,
}

impl<'a> Node<'a> {
    /// `FILE:LINE:COL` of the value (of its key, for a map entry).
    pub(crate) fn at(&self) -> String {
        self.src.place(self.key_offset.unwrap_or(self.value.offset))
    }

    /// The entry `key` of a map.
    pub(crate) fn get(&self, key: &str) -> Option<Node<'a>> {
        self.entries().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// A path of keys (`get("a")?.get("b")`…).
    pub(crate) fn path(&self, keys: &[&str]) -> Option<Node<'a>> {
        let mut node = *self;
        for key in keys {
            node = node.get(key)?;
        }
        Some(node)
    }

    /// The entries of a map (none for anything else).
    pub(crate) fn entries(self) -> impl Iterator<Item = (&'a str, Node<'a>)> + 'a {
        let src = self.src;
        let entries: &'a [_] = match &self.value.kind {
            YamlKind::Map(entries) => entries,
            _ => &[],
        };
        entries.iter().map(move |(k, v)| {
            (
                k.text.as_str(),
                Node {
                    src,
                    value: v,
                    key_offset: Some(k.offset),
                },
            )
        })
    }

    /// The items of a list (none for anything else).
    pub(crate) fn items(self) -> impl Iterator<Item = Node<'a>> + 'a {
        let src = self.src;
        let items: &'a [_] = match &self.value.kind {
            YamlKind::Seq(items) => items,
            _ => &[],
        };
        items.iter().map(move |v| Node {
            src,
            value: v,
            key_offset: None,
        })
    }

    /// The string, if it is one.
    pub(crate) fn str(&self) -> Option<&'a str> {
        match &self.value.kind {
            YamlKind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if it is one.
    pub(crate) fn int(&self) -> Option<i64> {
        match &self.value.kind {
            YamlKind::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// Whether it is a map.
    pub(crate) fn is_map(&self) -> bool {
        matches!(self.value.kind, YamlKind::Map(_))
    }

    /// Whether it is a list.
    pub(crate) fn is_seq(&self) -> bool {
        matches!(self.value.kind, YamlKind::Seq(_))
    }

    /// Whether it is null (or absent, for callers that map `None` to null).
    pub(crate) fn is_null(&self) -> bool {
        matches!(self.value.kind, YamlKind::Null)
    }
}

/// A Kubernetes object: `apiVersion`, `kind`, `metadata`.
#[derive(Clone, Copy)]
pub(crate) struct Object<'a> {
    /// The whole object.
    pub(crate) node: Node<'a>,
    /// `kind`.
    pub(crate) kind: &'a str,
    /// `apiVersion`.
    pub(crate) api_version: &'a str,
    /// `metadata.name`.
    pub(crate) name: &'a str,
    /// `metadata.namespace`, `default` when absent.
    pub(crate) namespace: &'a str,
}

impl<'a> Object<'a> {
    /// `Kind namespace/name`, for messages.
    pub(crate) fn id(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }

    /// `spec`.
    pub(crate) fn spec(&self) -> Option<Node<'a>> {
        self.node.get("spec")
    }

    /// `metadata.annotations` as (name, value node) pairs.
    pub(crate) fn annotations(&self) -> impl Iterator<Item = (&'a str, Node<'a>)> + 'a {
        self.node
            .path(&["metadata", "annotations"])
            .into_iter()
            .flat_map(|a| a.entries())
    }

    /// `metadata.creationTimestamp` (RFC 3339 text, which sorts as time does in UTC `Z`).
    pub(crate) fn created(&self) -> Option<&'a str> {
        self.node.path(&["metadata", "creationTimestamp"])?.str()
    }
}

/// Warnings and errors, each `FILE:LINE:COL: warning|error: MESSAGE`.
#[derive(Default)]
pub(crate) struct Report {
    /// Warnings, in the order found.
    pub(crate) warnings: Vec<String>,
    /// Errors, in the order found.
    pub(crate) errors: Vec<String>,
}

impl Report {
    /// A warning at `node`.
    pub(crate) fn warn(&mut self, node: &Node<'_>, message: impl AsRef<str>) {
        self.warnings
            .push(format!("{}: warning: {}", node.at(), message.as_ref()));
    }

    /// An error at `node`.
    pub(crate) fn error(&mut self, node: &Node<'_>, message: impl AsRef<str>) {
        self.errors
            .push(format!("{}: error: {}", node.at(), message.as_ref()));
    }
}

/// Every object of every file, `List` items in place of their list; documents that are not
/// Kubernetes objects are errors.
pub(crate) fn objects<'a>(sources: &'a [Source], report: &mut Report) -> Vec<Object<'a>> {
    let mut out = Vec::new();
    for src in sources {
        for value in &src.docs {
            let node = Node {
                src,
                value,
                key_offset: None,
            };
            collect(node, report, &mut out, 0);
        }
    }
    out
}

fn collect<'a>(node: Node<'a>, report: &mut Report, out: &mut Vec<Object<'a>>, depth: usize) {
    if !node.is_map() {
        report.error(
            &node,
            "not a Kubernetes object: expected a map with `apiVersion` and `kind`",
        );
        return;
    }
    let (Some(kind), Some(api_version)) = (
        node.get("kind").and_then(|k| k.str()),
        node.get("apiVersion").and_then(|k| k.str()),
    ) else {
        report.error(
            &node,
            "not a Kubernetes object: `apiVersion` and `kind` must be strings",
        );
        return;
    };
    if kind == "List" || kind.ends_with("List") && node.get("items").is_some() {
        match node.get("items") {
            Some(items) if items.is_seq() && depth < 4 => {
                for item in items.items() {
                    collect(item, report, out, depth + 1);
                }
            }
            Some(items) if items.is_null() => {}
            Some(items) => {
                report.error(&items, format!("{kind}: `items` must be a list of objects"))
            }
            None => report.error(&node, format!("{kind}: no `items`")),
        }
        return;
    }
    let Some(name) = node.path(&["metadata", "name"]).and_then(|n| n.str()) else {
        report.error(&node, format!("{kind}: `metadata.name` must be a string"));
        return;
    };
    let namespace = node
        .path(&["metadata", "namespace"])
        .and_then(|n| n.str())
        .unwrap_or("default");
    out.push(Object {
        node,
        kind,
        api_version,
        name,
        namespace,
    });
}

/// A port of a Service reference: a number, or a name to look up in a Service manifest.
pub(crate) enum PortRef<'a> {
    /// `number`.
    Number(u16),
    /// `name`.
    Name(&'a str),
}

/// The port number of Service `namespace/service`'s port named `port`, from a Service
/// manifest in the input.
pub(crate) fn named_port(
    objects: &[Object<'_>],
    namespace: &str,
    service: &str,
    port: &str,
) -> Option<u16> {
    let svc = find_service(objects, namespace, service)?;
    svc.spec()?
        .get("ports")?
        .items()
        .find(|p| p.get("name").and_then(|n| n.str()) == Some(port))?
        .get("port")?
        .int()
        .and_then(|p| u16::try_from(p).ok())
}

/// The Service manifest `namespace/name`, if the input has it.
pub(crate) fn find_service<'a>(
    objects: &[Object<'a>],
    namespace: &str,
    name: &str,
) -> Option<Object<'a>> {
    objects
        .iter()
        .find(|o| o.kind == "Service" && o.namespace == namespace && o.name == name)
        .copied()
}

/// `http://SERVICE.NAMESPACE.svc.cluster.local:PORT`.
pub(crate) fn service_url(service: &str, namespace: &str, port: u16) -> String {
    format!("http://{service}.{namespace}.svc.cluster.local:{port}")
}
