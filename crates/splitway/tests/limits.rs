//! The limits on adversarial input, each with a clear, located error (or, for request data,
//! a documented bound on what the router looks at): configuration size, number of frontends,
//! rule length (every syntax) and nesting depth, compiled regex size, cookie pairs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use splitway::RequestView;
use splitway::config::{Config, Format, MAX_CONFIG_BYTES, MAX_FRONTENDS};
use splitway::diag::Severity;
use splitway::request::MAX_COOKIE_PAIRS;
use splitway::rule::{MAX_RULE_DEPTH, MAX_RULE_LEN, REGEX_SIZE_LIMIT, Rule, Syntax};

fn first_error(text: &str, format: Format) -> (usize, usize, String) {
    let e = Config::from_str(text, format, "t").expect_err("must not load");
    let d = e
        .diagnostics
        .iter()
        .find(|d| d.severity == Severity::Error)
        .expect("an error");
    (d.line, d.col, d.message.clone())
}

#[test]
fn config_size_is_limited_before_anything_else() {
    let mut big = String::from("frontends: {}\n");
    big.push_str(&" ".repeat(MAX_CONFIG_BYTES));
    for format in [Format::Yaml, Format::Toml] {
        let (line, col, message) = first_error(&big, format);
        assert_eq!((line, col), (1, 1));
        assert!(
            message.contains("more than the 8388608 bytes accepted"),
            "{message}"
        );
    }
}

/// A file that simply holds too many values (no alias) is told so in those words; the alias
/// wording is for files whose aliases expand past the budget (`config_corpus.rs`).
#[test]
fn yaml_value_count_is_limited_without_blaming_aliases() {
    // 1,000,001 list items of one byte each: 4 MB of text, within the size limit.
    let text = format!("x: [{}0]\n", "0,".repeat(1_000_000));
    assert!(text.len() < MAX_CONFIG_BYTES);
    let (line, _, message) = first_error(&text, Format::Yaml);
    assert_eq!(line, 1);
    assert_eq!(
        message,
        "YAML holds more than 1000000 values: refusing to build it"
    );
}

#[test]
fn frontend_count_is_limited_at_the_frontends_key() {
    let mut text = String::from("backends:\n  b: [{name: s, url: \"http://s\"}]\nfrontends:\n");
    for i in 0..=MAX_FRONTENDS {
        text.push_str(&format!("  f{i}: {{rule: \"Host:a\", backend: b}}\n"));
    }
    assert!(text.len() < MAX_CONFIG_BYTES);
    let (line, col, message) = first_error(&text, Format::Yaml);
    assert_eq!((line, col), (3, 1));
    assert_eq!(message, "too many frontends: 100001 (at most 100000)");
}

#[test]
fn rule_length_is_limited_in_every_syntax() {
    let long = format!("Host:{}", "a".repeat(MAX_RULE_LEN));
    let e = Rule::parse(&long, Syntax::V1).unwrap_err();
    assert_eq!(e.span, 0..long.len());
    assert!(
        e.message.contains("more than the limit of 65536"),
        "{}",
        e.message
    );
    // In a v1 list, the error names the string at fault.
    let e = Rule::parse_v1(&["Host:a", &long]).unwrap_err();
    assert_eq!((e.part, e.span.clone()), (1, 0..long.len()));
    for syntax in [Syntax::V2, Syntax::V3] {
        let long = format!("Host(`{}`)", "a".repeat(MAX_RULE_LEN));
        let e = Rule::parse(&long, syntax).unwrap_err();
        assert!(e.message.contains("more than the limit"), "{}", e.message);
    }
    // Just under the limit is fine.
    let ok = format!("Host:{}", "a".repeat(MAX_RULE_LEN - 5));
    assert!(Rule::parse(&ok, Syntax::V1).is_ok());
}

#[test]
fn long_rule_in_a_config_is_located_at_the_rule() {
    let text = format!(
        "frontends:\n  web:\n    rules: [\"Host:{}\"]\nbackends:\n  web: [{{name: s, url: \"http://s\"}}]\n",
        "a".repeat(MAX_RULE_LEN)
    );
    let (line, col, message) = first_error(&text, Format::Yaml);
    assert_eq!(line, 3);
    assert!(col > 1, "{col}");
    assert!(
        message.contains("invalid rule in frontend `web`"),
        "{message}"
    );
    assert!(message.contains("more than the limit"), "{message}");
}

#[test]
fn nesting_depth_is_limited() {
    let ok = format!("{}Host(`a`)", "!".repeat(MAX_RULE_DEPTH));
    assert!(Rule::parse(&ok, Syntax::V3).is_ok());
    let deep = format!("{}Host(`a`)", "!".repeat(MAX_RULE_DEPTH + 1));
    let e = Rule::parse(&deep, Syntax::V3).unwrap_err();
    assert_eq!(e.span, MAX_RULE_DEPTH..MAX_RULE_DEPTH + 1);
    assert!(e.message.contains("more than 64 deep"), "{}", e.message);
}

#[test]
fn compiled_regex_size_is_limited_and_the_argument_blamed() {
    assert_eq!(REGEX_SIZE_LIMIT, 1 << 20);
    let text = "Host(`a`) && PathRegexp(`(a{1000}){1000}`)";
    let e = Rule::parse(text, Syntax::V3).unwrap_err();
    assert_eq!(&text[e.span.clone()], "`(a{1000}){1000}`");
    assert!(e.message.contains("too big once compiled"), "{}", e.message);
    // v1 templates go through the same limit.
    let e = Rule::parse_v1(&["Path:/{x:(a{1000}){1000}}"]).unwrap_err();
    assert!(e.message.contains("too big once compiled"), "{}", e.message);
}

#[test]
fn cookie_pairs_past_the_limit_are_not_looked_at() {
    let view_of = |filler: usize| {
        let mut line = "x=1; ".repeat(filler);
        line.push_str("uid=alice");
        let mut headers = http::HeaderMap::new();
        headers.append(http::header::COOKIE, line.parse().unwrap());
        headers
    };
    let (method, uri) = (http::Method::GET, http::Uri::from_static("/"));
    let rule = Rule::parse("Cookie(`uid`, `alice`)", Syntax::V3).unwrap();

    let within = view_of(MAX_COOKIE_PAIRS - 1);
    let view = RequestView::new(&method, &uri, &within, None);
    assert_eq!(view.cookies("uid").collect::<Vec<_>>(), ["alice"]);
    assert!(rule.matches(&view));

    let past = view_of(MAX_COOKIE_PAIRS);
    let view = RequestView::new(&method, &uri, &past, None);
    assert_eq!(view.cookies("uid").count(), 0);
    assert!(!rule.matches(&view));

    // The count runs over all Cookie lines.
    let mut headers = view_of(MAX_COOKIE_PAIRS - 1);
    headers.append(http::header::COOKIE, "late=1".parse().unwrap());
    let view = RequestView::new(&method, &uri, &headers, None);
    assert_eq!(view.cookies("late").count(), 0);
}
