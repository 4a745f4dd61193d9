//! Property (complementing the `config_load` fuzz target, which mutates bytes): loading never
//! panics on arbitrary YAML or TOML *values*, random trees shaped more or less like a
//! configuration and serialised as text, so that the decoder and validator are reached with
//! every kind of value in every place. A configuration that loads compiles and routes; one
//! that does not has located errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use splitway::config::{Config, Format};
use splitway::diag::Severity;
use splitway::{RequestView, Router};

#[derive(Debug, Clone)]
enum V {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<V>),
    Map(Vec<(String, V)>),
}

const KEYS: &[&str] = &[
    "frontends",
    "backends",
    "rules",
    "rule",
    "routes",
    "backend",
    "priority",
    "rule_syntax",
    "servers",
    "name",
    "url",
    "weight",
    "values",
    "balance",
    "sticky",
    "hash",
    "key",
    "seed",
    "issue_cookie",
    "health_check",
    "path",
    "interval",
    "timeout",
    "port",
    "hostname",
    "headers",
    "cookie",
    "secure",
    "http_only",
    "same_site",
    "max_age",
    "passHostHeader",
    "loadBalancer",
    "method",
    "stickiness",
    "cookieName",
    "healthCheck",
    "entryPoints",
];

const STRINGS: &[&str] = &[
    "Host:web.agendor.com.br",
    "HeadersRegexp:Cookie,_AUSER_TYPE=canary",
    "Host(`a.com`) && PathPrefix(`/api`)",
    "PathPrefix(`/users/{id:[0-9]+}`)",
    "HostRegexp(`(a{1000}){1000}`)",
    "Host(`a.com`",
    "http://s.local",
    "https://c.local:8443",
    "not a url",
    "web",
    "k8s",
    "weight = 5",
    "url = \"http://x.local\"",
    "v2",
    "v3",
    "wrr",
    "random",
    "drr",
    "cookie:uid",
    "header:X-User",
    "query:user",
    "client_ip",
    "30s",
    "1m30s",
    "-5s",
    "Lax",
    "/healthz",
    "",
];

fn leaf() -> impl Strategy<Value = V> {
    prop_oneof![
        Just(V::Null),
        any::<bool>().prop_map(V::Bool),
        prop_oneof![
            Just(0i64),
            Just(-1),
            Just(1),
            Just(1_000_000),
            Just(1_000_001),
            Just(65536),
            Just(i64::MAX),
            Just(i64::MIN),
            any::<i64>()
        ]
        .prop_map(V::Int),
        prop_oneof![Just(0.5f64), Just(-0.0), Just(1e300), any::<f64>()]
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(V::Float),
        prop::sample::select(STRINGS).prop_map(|s| V::Str(s.to_owned())),
        any::<String>().prop_map(V::Str),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => "[a-zA-Z_.\\-]{1,8}",
        1 => any::<String>(),
    ]
}

fn tree() -> impl Strategy<Value = V> {
    leaf().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(V::List),
            prop::collection::vec((key(), inner), 0..6).prop_map(V::Map),
        ]
    })
}

/// A tree with the configuration's outer shape and random values inside.
fn config_like() -> impl Strategy<Value = V> {
    let frontend = prop::collection::vec((prop::sample::select(KEYS), tree()), 0..4)
        .prop_map(|fields| V::Map(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()));
    let server = prop::collection::vec((prop::sample::select(KEYS), leaf()), 0..4)
        .prop_map(|fields| V::Map(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
        .boxed();
    let backend = prop_oneof![
        prop::collection::vec(server.clone(), 0..3).prop_map(V::List),
        (
            prop::collection::vec(server, 0..3),
            prop::collection::vec((key(), tree()), 0..3)
        )
            .prop_map(|(servers, mut rest)| {
                rest.push(("servers".to_owned(), V::List(servers)));
                V::Map(rest)
            }),
        tree(),
    ];
    (
        prop::collection::vec(("[a-z_]{1,6}", frontend), 0..4),
        prop::collection::vec(("[a-z_]{1,6}", backend), 0..4),
        prop::collection::vec((key(), leaf()), 0..2),
    )
        .prop_map(|(frontends, backends, mut extra)| {
            extra.push(("frontends".to_owned(), V::Map(frontends)));
            extra.push(("backends".to_owned(), V::Map(backends)));
            V::Map(extra)
        })
}

/// A double-quoted string, valid in YAML and in TOML (basic string).
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || ('\u{fffe}'..='\u{ffff}').contains(&c) => {
                if u32::from(c) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", u32::from(c)));
                } else {
                    out.push_str(&format!("\\U{:08x}", u32::from(c)));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn float(f: f64) -> String {
    let s = format!("{f:?}");
    if s.contains(['.', 'e']) {
        s
    } else {
        format!("{s}.0")
    }
}

fn yaml_flow(v: &V, out: &mut String) {
    flow(v, out, &YAML_FLOW);
}

/// How a flow (inline) value is written: what stands for null, what separates a key from
/// its value.
struct Flow {
    null: &'static str,
    key_sep: &'static str,
}

const YAML_FLOW: Flow = Flow {
    null: "null",
    key_sep: ": ",
};

/// TOML has no null: a null becomes an empty inline table.
const TOML_FLOW: Flow = Flow {
    null: "{}",
    key_sep: " = ",
};

fn flow(v: &V, out: &mut String, style: &Flow) {
    match v {
        V::Null => out.push_str(style.null),
        V::Bool(b) => out.push_str(&b.to_string()),
        V::Int(i) => out.push_str(&i.to_string()),
        V::Float(f) => out.push_str(&float(*f)),
        V::Str(s) => out.push_str(&quoted(s)),
        V::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                flow(item, out, style);
            }
            out.push(']');
        }
        V::Map(entries) => {
            out.push('{');
            for (i, (k, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&quoted(k));
                out.push_str(style.key_sep);
                flow(item, out, style);
            }
            out.push('}');
        }
    }
}

/// Block style: maps and lists on their own indented lines (empty ones in flow style).
fn yaml_block(v: &V, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        V::List(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&format!("{pad}-"));
                block_child(item, indent + 2, out);
            }
        }
        V::Map(entries) if !entries.is_empty() => {
            for (k, item) in entries {
                let key =
                    if k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !k.is_empty() {
                        k.clone()
                    } else {
                        quoted(k)
                    };
                out.push_str(&format!("{pad}{key}:"));
                block_child(item, indent + 2, out);
            }
        }
        _ => {
            out.push_str(&pad);
            yaml_flow(v, out);
            out.push('\n');
        }
    }
}

fn block_child(v: &V, indent: usize, out: &mut String) {
    match v {
        V::List(items) if !items.is_empty() => {
            out.push('\n');
            yaml_block(v, indent, out);
        }
        V::Map(entries) if !entries.is_empty() => {
            out.push('\n');
            yaml_block(v, indent, out);
        }
        _ => {
            out.push(' ');
            yaml_flow(v, out);
            out.push('\n');
        }
    }
}

fn toml_value(v: &V, out: &mut String) {
    flow(v, out, &TOML_FLOW);
}

/// The root as `key = value` lines, or, for maps of maps, as `[table]` sections.
fn toml_doc(v: &V, sections: bool) -> String {
    let entries = match v {
        V::Map(entries) => entries.clone(),
        other => vec![("root".to_owned(), other.clone())],
    };
    let mut out = String::new();
    let mut tables = Vec::new();
    for (k, item) in &entries {
        match item {
            V::Map(inner) if sections => tables.push((k, inner)),
            _ => {
                out.push_str(&quoted(k));
                out.push_str(" = ");
                toml_value(item, &mut out);
                out.push('\n');
            }
        }
    }
    for (k, inner) in tables {
        for (k2, item) in inner {
            match item {
                V::Map(fields) => {
                    out.push_str(&format!("[{}.{}]\n", quoted(k), quoted(k2)));
                    for (k3, x) in fields {
                        out.push_str(&quoted(k3));
                        out.push_str(" = ");
                        toml_value(x, &mut out);
                        out.push('\n');
                    }
                }
                _ => {
                    out.push_str(&format!("[{}]\n{} = ", quoted(k), quoted(k2)));
                    toml_value(item, &mut out);
                    out.push('\n');
                }
            }
        }
    }
    out
}

fn check(text: &str, format: Format) -> Result<(), TestCaseError> {
    match Config::from_str(text, format, "prop") {
        Ok(loaded) => {
            prop_assert!(
                loaded
                    .warnings
                    .iter()
                    .all(|d| d.severity != Severity::Error)
            );
            let router = Router::from_config(&loaded.config)
                .map_err(|e| TestCaseError::fail(format!("loads but does not compile: {e}")))?;
            let req = http::Request::get("http://a.com/").body(()).unwrap();
            let _ = router.route(&RequestView::from_request(&req, None));
        }
        Err(e) => {
            prop_assert!(!e.diagnostics.is_empty());
            let lines = text.lines().count() + 1;
            for d in &e.diagnostics {
                prop_assert!(
                    d.line >= 1 && d.col >= 1 && d.line <= lines,
                    "{d:?}\n{text}"
                );
            }
            prop_assert!(e.diagnostics.iter().any(|d| d.severity == Severity::Error));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn yaml_values_never_panic(v in prop_oneof![tree(), config_like()], block in any::<bool>()) {
        let mut text = String::new();
        if block {
            yaml_block(&v, 0, &mut text);
        } else {
            yaml_flow(&v, &mut text);
        }
        check(&text, Format::Yaml)?;
    }

    #[test]
    fn toml_values_never_panic(v in prop_oneof![tree(), config_like()], sections in any::<bool>()) {
        check(&toml_doc(&v, sections), Format::Toml)?;
    }
}

#[test]
fn the_serialisers_write_loadable_configs() {
    let server = V::Map(vec![
        ("name".into(), V::Str("k8s".into())),
        ("url".into(), V::Str("http://k8s.local".into())),
    ]);
    let v = V::Map(vec![
        (
            "frontends".into(),
            V::Map(vec![(
                "web".into(),
                V::Map(vec![(
                    "rules".into(),
                    V::List(vec![V::Str("Host:a.com".into())]),
                )]),
            )]),
        ),
        (
            "backends".into(),
            V::Map(vec![("web".into(), V::List(vec![server]))]),
        ),
    ]);
    let mut flow = String::new();
    yaml_flow(&v, &mut flow);
    let mut block = String::new();
    yaml_block(&v, 0, &mut block);
    for text in [flow, block] {
        Config::from_str(&text, Format::Yaml, "t").unwrap_or_else(|e| panic!("{text}\n{e}"));
    }
    let backends_as_table = V::Map(vec![
        (
            "frontends".into(),
            V::Map(vec![(
                "web".into(),
                V::Map(vec![("rule".into(), V::Str("Host:a.com".into()))]),
            )]),
        ),
        (
            "backends".into(),
            V::Map(vec![(
                "web".into(),
                V::Map(vec![(
                    "servers".into(),
                    V::List(vec![V::Map(vec![
                        ("name".into(), V::Str("k8s".into())),
                        ("url".into(), V::Str("http://k8s.local".into())),
                    ])]),
                )]),
            )]),
        ),
    ]);
    for sections in [false, true] {
        let text = toml_doc(&backends_as_table, sections);
        Config::from_str(&text, Format::Toml, "t").unwrap_or_else(|e| panic!("{text}\n{e}"));
    }
}
