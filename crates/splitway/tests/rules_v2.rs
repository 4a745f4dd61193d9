//! Traefik v2 expressions (`rule_syntax: v2`): list arguments, mux templates, `Headers`,
//! `HostHeader`, first-occurrence `Query(`k=v`)` (TRAEFIK.md section 2, "v2 syntax").
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use splitway::rule::{Rule, Syntax};
use support::{err, get, hits, hits_from, request, v2};

#[test]
fn host_and_host_header_take_lists() {
    for name in ["Host", "HostHeader"] {
        let r = v2(&format!("{name}(`a.com`, `B.com`)"));
        assert!(hits(&r, &get("a.com", "/")), "{name}");
        assert!(hits(&r, &get("b.com:8080", "/")), "{name}");
        assert!(hits(&r, &get("b.com.", "/")), "{name}");
        assert!(!hits(&r, &get("c.com", "/")), "{name}");
    }
    // No wildcard in v2: `*.a.com` is a plain (never matching) name.
    assert!(!hits(&v2("Host(`*.a.com`)"), &get("x.a.com", "/")));
}

#[test]
fn host_regexp_templates_are_anchored_and_case_insensitive() {
    let r = v2("HostRegexp(`{sub:[a-z]+}.example.com`)");
    assert!(hits(&r, &get("FOO.example.com", "/")));
    assert!(!hits(&r, &get("foo.example.com.evil", "/")));
    assert!(!hits(&r, &get("a.b.example.com", "/")));
    let r = v2("HostRegexp(`foo.bar.com`)");
    assert!(hits(&r, &get("foo.bar.com", "/")));
    assert!(
        !hits(&r, &get("fooubar.com", "/")),
        "text outside braces is literal"
    );
    // Literal text is quoted, so a lone `(` is not an error.
    let r = v2("HostRegexp(`(x`)");
    assert!(!hits(&r, &get("x", "/")));
    let r = v2("HostRegexp(`{sub}.a.com`, `b.com`)");
    assert!(hits(&r, &get("x.a.com", "/")));
    assert!(hits(&r, &get("b.com", "/")));
}

#[test]
fn path_and_prefix_templates() {
    let r = v2("Path(`/users/{id:[0-9]{1,3}}`, `/me`)");
    assert!(hits(&r, &get("h", "/users/123")));
    assert!(!hits(&r, &get("h", "/users/1234")));
    assert!(!hits(&r, &get("h", "/users/12/x")));
    assert!(hits(&r, &get("h", "/me")));
    let r = v2("PathPrefix(`/api/{v}/`)");
    assert!(hits(&r, &get("h", "/api/v1/x")));
    assert!(!hits(&r, &get("h", "/api/v1")));
    let r = v2("PathPrefix(`/css`, `/js`)");
    assert!(hits(&r, &get("h", "/css-x")));
    assert!(hits(&r, &get("h", "/js/a.js")));
    assert!(!hits(&r, &get("h", "/img")));
    // The routing path: %2F kept, dot segments cleaned.
    let r = v2("Path(`/a/b`)");
    assert!(!hits(&r, &get("h", "/a%2Fb")));
    assert!(hits(&r, &get("h", "/a/./b")));
}

#[test]
fn method_list() {
    let r = v2("Method(`GET`, `post`)");
    assert!(hits(&r, &request("GET", "/", &[])));
    assert!(hits(&r, &request("POST", "/", &[])));
    assert!(!hits(&r, &request("PUT", "/", &[])));
}

#[test]
fn headers_and_headers_regexp() {
    let r = v2("Headers(`X-Canary`, `on`)");
    assert!(hits(
        &r,
        &request("GET", "/", &[("x-canary", "off"), ("x-canary", "on")])
    ));
    assert!(!hits(&r, &request("GET", "/", &[("x-canary", "off,on")])));
    let r = v2("HeadersRegexp(`Cookie`, `_AUSER_TYPE=canary`)");
    assert!(hits(
        &r,
        &request("GET", "/", &[("cookie", "X_AUSER_TYPE=canaryfoo")])
    ));
    let c = v2("Cookie(`_AUSER_TYPE`, `canary`)");
    assert!(!hits(
        &c,
        &request("GET", "/", &[("cookie", "X_AUSER_TYPE=canaryfoo")])
    ));
    assert!(hits(
        &c,
        &request("GET", "/", &[("cookie", "_AUSER_TYPE=canary")])
    ));
}

#[test]
fn query_pairs_first_occurrence_anded() {
    let r = v2("Query(`a=1`)");
    assert!(hits(&r, &get("h", "/?a=1&a=2")));
    assert!(
        !hits(&r, &get("h", "/?a=2&a=1")),
        "v2 tests only the first occurrence"
    );
    let r = v2("Query(`a=1`, `b=`)");
    assert!(hits(&r, &get("h", "/?b=x&a=1")));
    assert!(hits(&r, &get("h", "/?b&a=1")));
    assert!(!hits(&r, &get("h", "/?a=1")));
    // Split on the first `=` only.
    let r = v2("Query(`expr=a=b`)");
    assert!(hits(&r, &get("h", "/?expr=a%3Db")));
    let r = v2("Query(`id={id:[0-9]+}`)");
    assert!(hits(&r, &get("h", "/?id=42")));
    assert!(!hits(&r, &get("h", "/?id=42x")));
}

#[test]
fn client_ip_list() {
    let r = v2("ClientIP(`10.0.0.0/8`, `::1`)");
    let req = get("h", "/");
    assert!(hits_from(&r, &req, "10.2.3.4"));
    assert!(hits_from(&r, &req, "::1"));
    assert!(!hits_from(&r, &req, "192.0.2.1"));
}

#[test]
fn v2_names_and_errors() {
    let e = err("Header(`X`, `y`)", Syntax::V2);
    assert_eq!(e.span, 0..6);
    assert_eq!(
        e.message,
        "`Header` is not a v2 matcher (use `Headers`); it exists only in v3 syntax"
    );
    assert!(
        err("PathRegexp(`x`)", Syntax::V2)
            .message
            .contains("not a v2 matcher")
    );
    let e = err("Query(`a`)", Syntax::V2);
    assert_eq!(e.span, 6..9);
    assert!(e.message.contains("must be `key=value`"), "{}", e.message);
    let e = err("Path(`/a`, `b`)", Syntax::V2);
    assert_eq!(e.span, 11..14);
    let e = err("HostRegexp(`{a`)", Syntax::V2);
    assert!(e.message.contains("unbalanced braces"), "{}", e.message);
    assert!(
        err("Host(`ü.de`)", Syntax::V2)
            .message
            .contains("non-ASCII")
    );
    assert!(
        err("Headers(`X`)", Syntax::V2)
            .message
            .contains("takes 2 arguments")
    );
    for name in ["HOSTHEADER", "hostheader", "Hostheader"] {
        assert!(
            Rule::parse(&format!("{name}(`a`)"), Syntax::V2).is_ok(),
            "{name}"
        );
    }
    assert!(Rule::parse("hostHeader(`a`)", Syntax::V2).is_err());
}
