//! Properties that complement the fuzz targets (fuzz/): a rule printed with `Display` parses
//! back, in its own syntax, to a rule that decides every request the same way (and for v3,
//! prints to the same text again).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use splitway::RequestView;
use splitway::rule::{Rule, Syntax, go_quote};

/// Strings that exercise quoting: backticks, double quotes, backslashes, carriage returns,
/// braces, non-ASCII text.
fn tricky() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a`b".to_owned()),
        Just("say \"hi\"".to_owned()),
        Just("back\\slash".to_owned()),
        Just("cr\rlf".to_owned()),
        Just("caf\u{e9}".to_owned()),
        "[a-z`\"\\\\{}\r ]{1,6}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(&["canary", "1", "alice", "_AUSER_TYPE=canary"][..])
            .prop_map(str::to_owned),
        1 => tricky(),
    ]
}

/// Values without braces (a v2 query value with `{` is a template).
fn simple() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&["canary", "1", "alice", "a b"][..])
}

fn regex() -> impl Strategy<Value = String> {
    prop::sample::select(
        &[
            "canary",
            "^(1|yes)$",
            "a{2,}",
            "http{secure:s?}",
            "[a[]+",
            "[a&&b]",
            "[[:digit:]]+",
            "[]a]",
            "\\Qa.b*\\E",
            "(?i)WEB",
            "x`y",
            "\\{\\}",
            "^/users/[0-9]+$",
        ][..],
    )
    .prop_map(str::to_owned)
}

fn matcher_v3() -> impl Strategy<Value = String> {
    let q = |s: String| go_quote(&s);
    prop_oneof![
        prop::sample::select(
            &[
                "a.com", "A.Com", "a.com.", "a..", ".", "*", "*.a.com", "*.a.com.", "*..", "[::1]"
            ][..]
        )
        .prop_map(move |h| format!("Host({})", go_quote(h))),
        regex().prop_map(move |r| format!("HostRegexp({})", q(r))),
        prop::sample::select(&["/", "/api", "/a b", "/a`b", "/caf\u{e9}"][..])
            .prop_map(|p| format!("Path({})", go_quote(p))),
        prop::sample::select(&["/", "/api", "/a\"b"][..])
            .prop_map(|p| format!("PathPrefix({})", go_quote(p))),
        regex().prop_map(|r| format!("PathRegexp({})", go_quote(&r))),
        prop::sample::select(&["GET", "post", "Purge"][..])
            .prop_map(|m| format!("Method({})", go_quote(m))),
        (prop::sample::select(&["Cookie", "X-User"][..]), value()).prop_map(|(n, v)| format!(
            "Header({}, {})",
            go_quote(n),
            go_quote(&v)
        )),
        (prop::sample::select(&["Cookie", "x-user"][..]), regex()).prop_map(|(n, r)| format!(
            "HeaderRegexp({}, {})",
            go_quote(n),
            go_quote(&r)
        )),
        (tricky(), prop::option::of(value())).prop_map(|(k, v)| match v {
            Some(v) => format!("Query({}, {})", go_quote(&k), go_quote(&v)),
            None => format!("Query({})", go_quote(&k)),
        }),
        (prop::sample::select(&["beta", "user"][..]), regex()).prop_map(|(k, r)| format!(
            "QueryRegexp({}, {})",
            go_quote(k),
            go_quote(&r)
        )),
        prop::sample::select(&["10.0.0.0/8", "::1", "10.1.2.3/8", "::ffff:10.0.0.0/104"][..])
            .prop_map(|n| format!("ClientIP({})", go_quote(n))),
        (tricky(), value()).prop_map(|(n, v)| format!(
            "Cookie({}, {})",
            go_quote(&n),
            go_quote(&v)
        )),
        (prop::sample::select(&["uid", "_AUSER_TYPE"][..]), regex()).prop_map(|(n, r)| format!(
            "CookieRegexp({}, {})",
            go_quote(n),
            go_quote(&r)
        )),
    ]
}

fn expr(leaf: BoxedStrategy<String>) -> impl Strategy<Value = String> {
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| v.join(" && ")),
            prop::collection::vec(inner.clone(), 2..4)
                .prop_map(|v| format!("({})", v.join(" || "))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| v.join(" || ")),
            inner.clone().prop_map(|a| format!("!{a}")),
            inner.prop_map(|a| format!("!({a})")),
        ]
    })
}

fn matcher_v2() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(
            prop::sample::select(&["a.com", "B.com.", "*.a.com"][..]),
            1..3
        )
        .prop_map(|hs| format!(
            "Host({})",
            hs.iter().map(|h| go_quote(h)).collect::<Vec<_>>().join(",")
        )),
        prop::sample::select(&["{sub}.a.com", "{sub:[a-z]+}.a.com"][..])
            .prop_map(|h| format!("HostRegexp({})", go_quote(h))),
        prop::sample::select(&["/api", "/users/{id:[0-9]+}", "/{x}"][..])
            .prop_map(|p| format!("PathPrefix({})", go_quote(p))),
        prop::sample::select(&["/api", "/users/{id}"][..])
            .prop_map(|p| format!("Path({})", go_quote(p))),
        Just("Method(`GET`, `post`)".to_owned()),
        (simple(), simple()).prop_map(|(a, b)| format!("Query(`a={a}`, `b={b}`)")),
        Just("Query(`beta=`)".to_owned()),
        Just("Query(`v={v:[0-9]+}`)".to_owned()),
        (prop::sample::select(&["Cookie", "X-User"][..]), value()).prop_map(|(n, v)| format!(
            "Headers({}, {})",
            go_quote(n),
            go_quote(&v)
        )),
        Just("HeadersRegexp(`Cookie`, `_AUSER_TYPE=canary`)".to_owned()),
        Just("ClientIP(`10.0.0.0/8`, `::1`)".to_owned()),
        (value(), value()).prop_map(|(n, v)| format!("Cookie({}, {})", go_quote(&n), go_quote(&v))),
    ]
}

fn rule_v1() -> impl Strategy<Value = Vec<String>> {
    let piece = prop::sample::select(
        &[
            "Host:a.com,B.com.",
            "HostRegexp:{sub:[a-z]+}.a.com",
            "Path:/a b,/api",
            "PathStrip:/api",
            "PathPrefix:/api,/users/{id:[0-9]+}",
            "PathPrefixStripRegex:/users/{id}",
            "Method:GET,post",
            "Headers:X-User,alice",
            "Headers:X-User, ",
            "HeadersRegexp:Cookie,_AUSER_TYPE=canary",
            "Query:beta=1",
            "Query:beta=",
            "Query:v={v:[0-9]+}",
            "AddPrefix:/p",
            "ReplacePathRegex:^/api/(.*) /$1",
        ][..],
    );
    prop::collection::vec(
        prop::collection::vec(piece, 1..3).prop_map(|p| p.join(";")),
        1..3,
    )
}

#[derive(Debug, Clone)]
struct Req {
    method: &'static str,
    uri: &'static str,
    host: &'static str,
    headers: Vec<(&'static str, String)>,
    ip: Option<&'static str>,
}

fn request() -> impl Strategy<Value = Req> {
    (
        prop::sample::select(&["GET", "POST", "PURGE", "get"][..]),
        prop::sample::select(
            &[
                "/",
                "/api/v1?beta=1",
                "/a%20b?a=canary&b=1",
                "/users/42?v=7&user=alice",
                "/a/./api/../api?beta=&beta=1",
                "/caf%C3%A9?a%60b=canary",
                "http://x.a.com/api",
            ][..],
        ),
        prop::sample::select(
            &[
                "a.com",
                "b.com",
                "x.a.com",
                "a..",
                "A.COM:80",
                "[::1]:8080",
                "web",
            ][..],
        ),
        prop::collection::vec(
            (
                prop::sample::select(&["cookie", "x-user"][..]),
                prop_oneof![
                    value(),
                    Just("uid=alice; _AUSER_TYPE=canary".to_owned()),
                    Just("a`b=canary".to_owned())
                ],
            ),
            0..3,
        ),
        prop::option::of(prop::sample::select(
            &["10.1.2.3", "::1", "::ffff:10.0.0.1", "192.0.2.1"][..],
        )),
    )
        .prop_map(|(method, uri, host, headers, ip)| Req {
            method,
            uri,
            host,
            headers,
            ip,
        })
}

fn check_same(a: &Rule, b: &Rule, requests: &[Req]) -> Result<(), TestCaseError> {
    for r in requests {
        let mut builder = http::Request::builder()
            .method(r.method)
            .uri(r.uri)
            .header("host", r.host);
        for (k, v) in &r.headers {
            builder = builder.header(*k, v.as_str());
        }
        let Ok(req) = builder.body(()) else { continue };
        let view = RequestView::from_request(&req, r.ip.map(|ip| ip.parse().unwrap()));
        prop_assert_eq!(a.matches(&view), b.matches(&view), "request {:?}", r);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn v3_parse_print_parse(
        text in expr(matcher_v3().boxed()),
        requests in prop::collection::vec(request(), 1..8),
    ) {
        let rule = Rule::parse(&text, Syntax::V3)
            .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        let printed = rule.to_string();
        let again = Rule::parse(&printed, Syntax::V3)
            .map_err(|e| TestCaseError::fail(format!("{printed:?} (from {text:?}): {e}")))?;
        prop_assert_eq!(again.to_string(), printed.clone(), "from {}", text);
        prop_assert_eq!(rule.expr().to_string(), printed);
        check_same(&rule, &again, &requests)?;
    }

    #[test]
    fn v2_parse_print_parse(
        text in expr(matcher_v2().boxed()),
        requests in prop::collection::vec(request(), 1..8),
    ) {
        let rule = Rule::parse(&text, Syntax::V2)
            .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        let printed = rule.to_string();
        let again = Rule::parse(&printed, Syntax::V2)
            .map_err(|e| TestCaseError::fail(format!("{printed:?} (from {text:?}): {e}")))?;
        check_same(&rule, &again, &requests)?;
    }

    #[test]
    fn v1_parse_print_parse(
        texts in rule_v1(),
        requests in prop::collection::vec(request(), 1..8),
    ) {
        let parts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let rule = Rule::parse_v1(&parts).unwrap();
        let printed = rule.to_string();
        let again = Rule::parse(&printed, Syntax::V1)
            .map_err(|e| TestCaseError::fail(format!("{printed:?}: {e}")))?;
        prop_assert_eq!(again.rewrites().len(), rule.rewrites().len());
        check_same(&rule, &again, &requests)?;
    }
}
