//! Cookie parsing (`RequestView::cookies`) on arbitrary `Cookie` header lines and names: no
//! panic; every value found holds no `;`; a pair planted in the header is found (within the
//! first `MAX_COOKIE_PAIRS` pieces); the `Cookie` matcher agrees.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use splitway::RequestView;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    lines: Vec<&'a [u8]>,
    name: &'a str,
    /// A `name=value` pair added as a header line of its own.
    planted: Option<&'a str>,
}

fuzz_target!(|input: Input<'_>| {
    let mut headers = http::HeaderMap::new();
    for line in &input.lines {
        if let Ok(v) = http::HeaderValue::from_bytes(line) {
            headers.append(http::header::COOKIE, v);
        }
    }
    // A cookie name is a token: no separators, no white space, no `=` or `;`.
    let plantable = !input.name.is_empty()
        && input
            .name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"=;\"".contains(&b));
    let planted = input.planted.filter(|v| {
        plantable
            && v.bytes()
                .all(|b| b.is_ascii_graphic() && !b";\"".contains(&b))
    });
    if let Some(value) = planted
        && let Ok(v) = http::HeaderValue::from_str(&format!("{}={value}", input.name))
    {
        headers.append(http::header::COOKIE, v);
    }
    let (method, uri) = (http::Method::GET, http::Uri::from_static("/"));
    let view = RequestView::new(&method, &uri, &headers, None);
    let found: Vec<&str> = view.cookies(input.name).collect();
    for v in &found {
        assert!(!v.contains(';'), "a cookie value holds `;`: {v:?}");
    }
    // Only the first MAX_COOKIE_PAIRS pieces are looked at; the planted line comes last.
    let pieces: usize = headers
        .get_all(http::header::COOKIE)
        .iter()
        .map(|v| v.as_bytes().iter().filter(|&&b| b == b';').count() + 1)
        .sum();
    if let Some(value) = planted
        && pieces <= splitway::request::MAX_COOKIE_PAIRS
    {
        assert!(
            found.contains(&value),
            "planted {value:?} not found in {found:?}"
        );
    }
    // The matchers built on it agree with it.
    if plantable && !input.name.contains('`') {
        let rule = format!("Cookie(`{}`, `x`)", input.name);
        if let Ok(r) = splitway::rule::Rule::parse(&rule, splitway::rule::Syntax::V3) {
            assert_eq!(r.matches(&view), found.contains(&"x"));
        }
    }
});
