//! Property: on random rule sets and random requests, the compiled Table decides exactly as
//! the reference interpreter (frontends in priority order, AST walked for each).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use splitway::config::{Backend, Balance, Config, Frontend, Server};
use splitway::reference;
use splitway::rule::{Rule, Syntax};
use splitway::{RequestView, Router};

const HOSTS: &[&str] = &["a.com", "b.com", "web.agendor.com.br", "A.com"];
const PATHS: &[&str] = &["/", "/api", "/api/v1", "/static/x.css", "/a%20b"];
const COOKIES: &[&str] = &["_AUSER_TYPE=canary", "X_AUSER_TYPE=canaryfoo", "other=1"];

/// One v3 matcher from a small vocabulary, so that rules often overlap.
fn matcher_v3() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(HOSTS).prop_map(|h| format!("Host(`{h}`)")),
        prop::sample::select(&["*.com", "*"][..]).prop_map(|h| format!("Host(`{h}`)")),
        prop::sample::select(PATHS).prop_map(|p| format!("PathPrefix(`{p}`)")),
        prop::sample::select(PATHS).prop_map(|p| format!("Path(`{p}`)")),
        prop::sample::select(&["GET", "POST"][..]).prop_map(|m| format!("Method(`{m}`)")),
        Just("Cookie(`_AUSER_TYPE`, `canary`)".to_owned()),
        Just("HeaderRegexp(`Cookie`, `_AUSER_TYPE=canary`)".to_owned()),
        Just("ClientIP(`10.0.0.0/8`)".to_owned()),
        Just("Query(`beta`, `1`)".to_owned()),
    ]
}

fn expr_v3() -> impl Strategy<Value = String> {
    let host = || prop::sample::select(HOSTS);
    matcher_v3().prop_recursive(3, 12, 3, move |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} && {b}")),
            // Host alternatives, one with a further condition, then another condition: the
            // index files the frontend under both hosts, which do not prove the alternatives.
            (host(), inner.clone(), host(), inner.clone())
                .prop_map(|(a, x, b, y)| format!("((Host(`{a}`) && {x}) || Host(`{b}`)) && {y}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} || {b})")),
            inner.prop_map(|a| format!("!({a})")),
        ]
    })
}

fn rule_v1() -> impl Strategy<Value = Vec<String>> {
    let piece = prop_oneof![
        prop::sample::select(HOSTS).prop_map(|h| format!("Host:{h}")),
        prop::sample::select(PATHS).prop_map(|p| format!("PathPrefix:{p}")),
        Just("HeadersRegexp:Cookie,_AUSER_TYPE=canary".to_owned()),
        Just("Method:GET,POST".to_owned()),
        Just("Query:beta=1".to_owned()),
    ];
    prop::collection::vec(piece, 1..3)
}

#[derive(Debug, Clone)]
enum RuleText {
    V1(Vec<String>),
    V3(String),
}

fn rule_text() -> impl Strategy<Value = RuleText> {
    prop_oneof![
        rule_v1().prop_map(RuleText::V1),
        expr_v3().prop_map(RuleText::V3)
    ]
}

fn config(rules: &[(RuleText, Option<i64>)]) -> Config {
    let frontends = rules
        .iter()
        .enumerate()
        .map(|(i, (text, priority))| {
            let rule = match text {
                RuleText::V1(parts) => {
                    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
                    Rule::parse_v1(&parts)
                }
                RuleText::V3(e) => Rule::parse(e, Syntax::V3),
            }
            .expect("generated rules parse");
            let priority = priority.unwrap_or_else(|| rule.default_priority());
            Frontend {
                name: format!("f{i:02}"),
                backend: "b".into(),
                rule,
                priority,
                pass_host_header: true,
            }
        })
        .collect();
    let server = Server {
        name: "s".into(),
        url: "http://s.internal".into(),
        uri: "http://s.internal".parse().unwrap(),
        weight: 1,
        response: None,
    };
    Config {
        frontends,
        backends: vec![Backend {
            name: "b".into(),
            servers: vec![server],
            balance: Balance::Wrr,
            sticky: None,
            hash: None,
            health_check: None,
            tls: None,
        }],
        rollouts: Vec::new(),
        signed_cookies: Vec::new(),
        upgrade_protocols: vec!["websocket".to_owned()],
    }
}

#[derive(Debug, Clone)]
struct Req {
    absolute: bool,
    host: &'static str,
    port: Option<u16>,
    path: &'static str,
    query: Option<&'static str>,
    method: &'static str,
    cookie: Option<&'static str>,
    ip: Option<[u8; 4]>,
}

fn request() -> impl Strategy<Value = Req> {
    (
        any::<bool>(),
        prop::sample::select(
            &[
                "a.com",
                "b.com",
                "web.agendor.com.br",
                "A.COM",
                "x.com",
                "b.com.",
            ][..],
        ),
        prop::option::of(prop::sample::select(&[80u16, 8080][..])),
        prop::sample::select(PATHS),
        prop::option::of(prop::sample::select(&["beta=1", "beta=2&beta=1", "x"][..])),
        prop::sample::select(&["GET", "POST", "get"][..]),
        prop::option::of(prop::sample::select(COOKIES)),
        prop::option::of(prop::sample::select(&[[10, 1, 2, 3], [192, 0, 2, 1]][..])),
    )
        .prop_map(
            |(absolute, host, port, path, query, method, cookie, ip)| Req {
                absolute,
                host,
                port,
                path,
                query,
                method,
                cookie,
                ip,
            },
        )
}

fn build(r: &Req) -> http::Request<()> {
    let authority = match r.port {
        Some(p) => format!("{}:{p}", r.host),
        None => r.host.to_owned(),
    };
    let pq = match r.query {
        Some(q) => format!("{}?{q}", r.path),
        None => r.path.to_owned(),
    };
    let uri = if r.absolute {
        format!("http://{authority}{pq}")
    } else {
        pq
    };
    let mut b = http::Request::builder().method(r.method).uri(uri);
    if !r.absolute {
        b = b.header("host", authority);
    }
    if let Some(c) = r.cookie {
        b = b.header("cookie", c);
    }
    b.body(()).unwrap()
}

// Dense tables: many path and same-header regex routes, so that the path tries and the
// per-header automata are built (a group needs 4 path routes or 8 regex routes on one header)
// and an indexing bug (a skipped or misfiled frontend) changes a decision.

const DENSE_PATHS: &[&str] = &[
    "/",
    "/api",
    "/api/",
    "/api/v1",
    "/apiary",
    "/s",
    "/static/a",
];
const DENSE_REGEXES: &[&str] = &[
    "^t1$", "t1", "^t[12]$", "^t2", "eu$", "t", "^$", "x|y", r"\bt1\b", "T1", "(?i)t1",
];

fn primary() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(DENSE_PATHS).prop_map(|p| format!("PathPrefix(`{p}`)")),
        1 => prop::sample::select(DENSE_PATHS).prop_map(|p| format!("Path(`{p}`)")),
        3 => prop::sample::select(DENSE_REGEXES)
            .prop_map(|r| format!("HeaderRegexp(`X-Tenant`, `{r}`)")),
        2 => prop::sample::select(DENSE_REGEXES)
            .prop_map(|r| format!("CookieRegexp(`beta`, `{r}`)")),
        1 => Just("HeaderRegexp(`Cookie`, `_AUSER_TYPE=canary`)".to_owned()),
    ]
}

fn dense_rule() -> impl Strategy<Value = RuleText> {
    let extra = prop_oneof![
        Just("Method(`GET`)".to_owned()),
        Just("!Method(`POST`)".to_owned()),
        Just("Header(`X-Tenant`, `t1`)".to_owned()),
        primary(),
    ];
    let v3 = (
        prop::option::of(prop::sample::select(&["a.com", "b.com"][..])),
        primary(),
        prop::option::of((any::<bool>(), extra)),
    )
        .prop_map(|(host, first, second)| {
            let mut e = first;
            if let Some((or, m)) = second {
                e = if or {
                    format!("({e} || {m})")
                } else {
                    format!("{e} && {m}")
                };
            }
            match host {
                Some(h) => RuleText::V3(format!("Host(`{h}`) && {e}")),
                None => RuleText::V3(e),
            }
        });
    let v1 = (
        prop::option::of(Just("Host:a.com".to_owned())),
        prop_oneof![
            prop::sample::select(DENSE_PATHS).prop_map(|p| format!("PathPrefix:{p}")),
            prop::sample::select(&["^t1$", "t1", "eu$", "^t[12]$"][..])
                .prop_map(|r| format!("HeadersRegexp:X-Tenant,{r}")),
        ],
    )
        .prop_map(|(host, m)| RuleText::V1(host.into_iter().chain([m]).collect()));
    prop_oneof![4 => v3, 1 => v1]
}

/// X-Tenant header values (one not UTF-8: regexes must see no match in it).
const TENANTS: &[&[u8]] = &[
    b"t1", b"t2", b"t1-eu", b"x", b"", b"T1", b"t1\xff", b"a t1 b",
];

#[derive(Debug, Clone)]
struct DenseReq {
    host: &'static str,
    path: &'static str,
    tenants: Vec<&'static [u8]>,
    cookies: Vec<&'static str>,
}

fn dense_request() -> impl Strategy<Value = DenseReq> {
    (
        prop::sample::select(&["a.com", "b.com", "c.com"][..]),
        prop::sample::select(
            &[
                "/",
                "/api",
                "/api/v1/x",
                "/apiary/x",
                "/s",
                "/static/a",
                "/static/%61",
                "/x",
            ][..],
        ),
        prop::collection::vec(prop::sample::select(TENANTS), 0..3),
        prop::collection::vec(
            prop::sample::select(
                &[
                    "beta=t1",
                    "beta=\"t2\"; beta=x",
                    "_AUSER_TYPE=canary; beta=eu",
                    "beta=",
                ][..],
            ),
            0..3,
        ),
    )
        .prop_map(|(host, path, tenants, cookies)| DenseReq {
            host,
            path,
            tenants,
            cookies,
        })
}

fn build_dense(r: &DenseReq) -> http::Request<()> {
    let mut b = http::Request::get(r.path).header("host", r.host);
    for t in &r.tenants {
        b = b.header("x-tenant", http::HeaderValue::from_bytes(t).unwrap());
    }
    for c in &r.cookies {
        b = b.header("cookie", *c);
    }
    b.body(()).unwrap()
}

/// The table's decision and explanation agree with the reference interpreter for `req`.
fn check(
    router: &Router,
    ordered: &[&Frontend],
    view: &RequestView<'_>,
    what: &dyn std::fmt::Debug,
) -> Result<(), TestCaseError> {
    let expected = reference::route(ordered, view).map(|f| f.name.as_str());
    let decision = router.route(view);
    prop_assert_eq!(decision.route(), expected, "request {:?}", what);

    // explain decides the same, and its last candidate is the winner.
    let explained = router.explain(view);
    prop_assert_eq!(explained.decision.route(), expected);
    if let Some(winner) = expected {
        let last = explained.candidates.last().unwrap();
        prop_assert_eq!((last.route.as_str(), last.matched), (winner, true));
    }
    prop_assert!(
        explained
            .candidates
            .iter()
            .rev()
            .skip(1)
            .all(|c| !c.matched)
    );
    Ok(())
}

proptest! {
    // Fewer cases than below: each builds automata, slow in a debug build.
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn dense_path_and_regex_tables_decide_as_the_reference_interpreter(
        rules in prop::collection::vec((dense_rule(), prop::option::of(-5i64..50)), 8..40),
        requests in prop::collection::vec(dense_request(), 1..16),
    ) {
        let config = config(&rules);
        let router = Router::from_config(&config).unwrap();
        let ordered = reference::ordered(&config);
        for r in &requests {
            let req = build_dense(r);
            check(&router, &ordered, &RequestView::from_request(&req, None), r)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn table_decides_as_the_reference_interpreter(
        rules in prop::collection::vec((rule_text(), prop::option::of(-5i64..50)), 1..12),
        requests in prop::collection::vec(request(), 1..16),
    ) {
        let config = config(&rules);
        let router = Router::from_config(&config).unwrap();
        let ordered = reference::ordered(&config);
        for r in &requests {
            let req = build(r);
            let ip = r.ip.map(std::net::IpAddr::from);
            check(&router, &ordered, &RequestView::from_request(&req, ip), r)?;
        }
    }
}
