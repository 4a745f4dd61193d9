//! Traefik v3 expressions: grammar, every matcher, and errors with their spans
//! (TRAEFIK.md section 2).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use splitway::rule::{MAX_RULE_DEPTH, MAX_RULE_LEN, Rule, Syntax};
use support::{err, get, hits, hits_from, request, v3};

#[test]
fn host_case_port_trailing_dot() {
    let r = v3("Host(`web.agendor.com.br`)");
    assert!(hits(&r, &get("WEB.agendor.com.br:8080", "/")));
    assert!(hits(&r, &get("web.agendor.com.br.", "/")));
    assert!(!hits(&r, &get("agendor.com.br", "/")));
    assert!(!hits(&r, &request("GET", "/", &[])));
    let r = v3("Host(`Example.COM.`)");
    assert!(hits(&r, &get("example.com", "/")));
}

#[test]
fn host_from_absolute_form_authority() {
    let r = v3("Host(`a.com`)");
    assert!(hits(
        &r,
        &request("GET", "http://A.com:81/x", &[("host", "b.com")])
    ));
    assert!(!hits(
        &r,
        &request("GET", "http://b.com/x", &[("host", "a.com")])
    ));
}

#[test]
fn host_ipv6_brackets_removed() {
    let r = v3("Host(`::1`)");
    assert!(hits(&r, &get("[::1]:8080", "/")));
    assert!(hits(&r, &get("[::1]", "/")));
}

#[test]
fn host_wildcard_is_one_label() {
    let r = v3("Host(`*.example.com`)");
    assert!(hits(&r, &get("a.example.com", "/")));
    assert!(hits(&r, &get("A.Example.com:80", "/")));
    assert!(!hits(&r, &get("example.com", "/")));
    assert!(!hits(&r, &get("a.b.example.com", "/")));
    assert!(!hits(&r, &get("aexample.com", "/")));
    let any = v3("Host(`*`)");
    assert!(hits(&any, &get("whatever", "/")));
    assert!(hits(&any, &request("GET", "/", &[])), "even without a host");
}

#[test]
fn host_regexp_searches_the_lowercased_host() {
    let r = v3(r"HostRegexp(`^[a-z]+\.example\.com$`)");
    assert!(hits(&r, &get("FOO.example.com:8080", "/")));
    assert!(!hits(&r, &get("foo.bar.example.com", "/")));
    let upper = v3(r"HostRegexp(`^[A-Z]+\.com$`)");
    assert!(
        !hits(&upper, &get("ABC.com", "/")),
        "the host is lowercased first"
    );
    let unanchored = v3("HostRegexp(`example`)");
    assert!(hits(&unanchored, &get("www.example.com", "/")));
}

#[test]
fn host_regexp_v2_templates_are_literal_braces_in_v3() {
    let r = v3("HostRegexp(`{sub:[a-z]+}.example.com`)");
    assert!(!hits(&r, &get("foo.example.com", "/")));
    let r = v3("HeaderRegexp(`X-Url`, `^http{secure:s?}://`)");
    assert!(hits(
        &r,
        &request("GET", "/", &[("x-url", "http{secure:s}://a")])
    ));
    assert!(!hits(&r, &request("GET", "/", &[("x-url", "https://a")])));
}

#[test]
fn path_is_exact_on_the_routing_path() {
    let r = v3("Path(`/css`)");
    assert!(hits(&r, &get("a", "/css")));
    assert!(hits(&r, &get("a", "/css?x")));
    assert!(!hits(&r, &get("a", "/css/")));
    assert!(hits(&r, &get("a", "/x/../css")), "dot segments are cleaned");
    assert!(hits(&r, &get("a", "//css")));
    assert!(
        hits(&r, &get("a", "/%63ss")),
        "unreserved escapes are decoded"
    );
}

#[test]
fn routing_path_keeps_reserved_escapes() {
    let r = v3("Path(`/a/b`)");
    assert!(!hits(&r, &get("a", "/a%2Fb")), "%2F stays %2F in v3");
    assert!(hits(&v3("Path(`/a%2Fb`)"), &get("a", "/a%2Fb")));
    assert!(hits(&v3("Path(`/foo bar`)"), &get("a", "/foo%20bar")));
}

#[test]
fn path_prefix_is_a_plain_string_prefix() {
    let r = v3("PathPrefix(`/css`)");
    assert!(hits(&r, &get("a", "/css")));
    assert!(hits(&r, &get("a", "/css-x")));
    assert!(hits(&r, &get("a", "/css/a.css")));
    assert!(!hits(&r, &get("a", "/cs")));
    assert!(!hits(&r, &get("a", "/x/css")));
}

#[test]
fn path_regexp_is_unanchored() {
    let r = v3(r"PathRegexp(`\.css$`)");
    assert!(hits(&r, &get("a", "/a/b.css")));
    assert!(!hits(&r, &get("a", "/a/b.css.map")));
    let r = v3("PathRegexp(`css`)");
    assert!(hits(&r, &get("a", "/x/css/y")));
    let r = v3("PathRegexp(`^/api/v[0-9]{1,2}/`)");
    assert!(hits(&r, &get("a", "/api/v12/x")));
    assert!(!hits(&r, &get("a", "/api/v123/x")));
}

#[test]
fn method_is_compared_as_received() {
    let r = v3("Method(`get`)");
    assert!(hits(&r, &request("GET", "/", &[])));
    assert!(!hits(&r, &request("get", "/", &[])));
    assert!(!hits(&r, &request("POST", "/", &[])));
}

#[test]
fn header_exact_any_line() {
    let r = v3("Header(`X-Canary`, `on`)");
    assert!(hits(&r, &request("GET", "/", &[("x-canary", "on")])));
    assert!(hits(
        &r,
        &request("GET", "/", &[("x-canary", "no"), ("X-CANARY", "on")])
    ));
    assert!(!hits(&r, &request("GET", "/", &[("x-canary", "no, on")])));
    assert!(!hits(&r, &request("GET", "/", &[("x-canary", "On")])));
    assert!(!hits(&r, &request("GET", "/", &[])));
}

#[test]
fn header_regexp_unanchored_any_line() {
    let r = v3("HeaderRegexp(`Cookie`, `_AUSER_TYPE=canary`)");
    assert!(hits(
        &r,
        &request("GET", "/", &[("cookie", "X_AUSER_TYPE=canaryfoo")])
    ));
    assert!(hits(
        &r,
        &request(
            "GET",
            "/",
            &[("cookie", "a=1"), ("cookie", "_AUSER_TYPE=canary")]
        )
    ));
    assert!(!hits(
        &r,
        &request("GET", "/", &[("cookie", "_AUSER_TYPE=stable")])
    ));
}

#[test]
fn cookie_looks_at_one_cookie_value() {
    let r = v3("Cookie(`_AUSER_TYPE`, `canary`)");
    assert!(!hits(
        &r,
        &request("GET", "/", &[("cookie", "X_AUSER_TYPE=canaryfoo")])
    ));
    assert!(!hits(
        &r,
        &request("GET", "/", &[("cookie", "_AUSER_TYPE=canaryfoo")])
    ));
    assert!(hits(
        &r,
        &request("GET", "/", &[("cookie", "a=1; _AUSER_TYPE=canary; b=2")])
    ));
    assert!(hits(
        &r,
        &request(
            "GET",
            "/",
            &[("cookie", "a=1"), ("cookie", "_AUSER_TYPE=canary")]
        )
    ));
    assert!(!hits(
        &r,
        &request("GET", "/", &[("x-cookie", "_AUSER_TYPE=canary")])
    ));
    let re = v3("CookieRegexp(`_AUSER_TYPE`, `^canary(-[0-9]+)?$`)");
    assert!(hits(
        &re,
        &request("GET", "/", &[("cookie", "_AUSER_TYPE=canary-2")])
    ));
    assert!(!hits(
        &re,
        &request("GET", "/", &[("cookie", "_AUSER_TYPE=canaryfoo")])
    ));
    assert!(!hits(
        &re,
        &request("GET", "/", &[("cookie", "X_AUSER_TYPE=canary")])
    ));
}

#[test]
fn query_any_occurrence_and_empty_default() {
    let r = v3("Query(`mobile`)");
    assert!(hits(&r, &get("h", "/?mobile")));
    assert!(hits(&r, &get("h", "/?mobile=")));
    assert!(!hits(&r, &get("h", "/?mobile=true")));
    let r = v3("Query(`a`, `2`)");
    assert!(
        hits(&r, &get("h", "/?a=1&a=2")),
        "v3 tests every occurrence"
    );
    assert!(hits(&r, &get("h", "/?a=2&a=1")));
    assert!(!hits(&r, &get("h", "/?a=3")));
    assert!(!hits(&r, &get("h", "/?A=2")), "keys are case-sensitive");
    let r = v3("Query(`q`, `a b`)");
    assert!(hits(&r, &get("h", "/?q=a+b")));
    assert!(hits(&r, &get("h", "/?q=a%20b")));
    // Go's ParseQuery drops a pair holding `;`.
    assert!(!hits(&r, &get("h", "/?x=1;q=a+b")));
}

#[test]
fn query_regexp_any_occurrence_unanchored() {
    let r = v3("QueryRegexp(`id`, `^[0-9]+$`)");
    assert!(hits(&r, &get("h", "/?id=x&id=42")));
    assert!(!hits(&r, &get("h", "/?id=4x2")));
    let r = v3("QueryRegexp(`id`, `[0-9]`)");
    assert!(hits(&r, &get("h", "/?id=x4")));
}

#[test]
fn client_ip_cidr_and_single_addresses() {
    let r = v3("ClientIP(`10.0.0.0/8`)");
    let req = request("GET", "/", &[("x-forwarded-for", "10.0.0.1")]);
    assert!(hits_from(&r, &req, "10.1.2.3"));
    assert!(
        !hits_from(&r, &req, "11.0.0.1"),
        "X-Forwarded-For is ignored"
    );
    assert!(!hits(&r, &req), "no peer address, no match");
    assert!(
        hits_from(&r, &req, "::ffff:10.9.9.9"),
        "IPv4-mapped peers count as IPv4"
    );
    let one = v3("ClientIP(`192.168.1.7`)");
    assert!(hits_from(&one, &req, "192.168.1.7"));
    assert!(!hits_from(&one, &req, "192.168.1.8"));
    let v6 = v3("ClientIP(`2001:db8::/32`)");
    assert!(hits_from(&v6, &req, "2001:db8:1::5"));
    assert!(!hits_from(&v6, &req, "2001:db9::1"));
    let v6one = v3("ClientIP(`::1`)");
    assert!(hits_from(&v6one, &req, "::1"));
    assert!(!hits_from(&v6one, &req, "::2"));
}

#[test]
fn precedence_not_and_or() {
    // `||` binds loosest: a || (b && /x).
    let r = v3("Host(`a`) || Host(`b`) && Path(`/x`)");
    assert!(hits(&r, &get("a", "/y")));
    assert!(hits(&r, &get("b", "/x")));
    assert!(!hits(&r, &get("b", "/y")));
    // `!` binds tightest: (!a) && /x.
    let r = v3("!Host(`a`) && Path(`/x`)");
    assert!(hits(&r, &get("b", "/x")));
    assert!(!hits(&r, &get("a", "/x")));
    assert!(!hits(&r, &get("b", "/y")));
    let r = v3("!(Host(`a`) || Host(`b`))");
    assert!(!hits(&r, &get("a", "/")));
    assert!(!hits(&r, &get("b", "/")));
    assert!(hits(&r, &get("c", "/")));
    let r = v3("(Host(`a`) || Host(`b`)) && Path(`/x`)");
    assert!(!hits(&r, &get("a", "/y")));
    assert!(hits(&r, &get("a", "/x")));
    let r = v3("!!Host(`a`)");
    assert!(hits(&r, &get("a", "/")));
}

#[test]
fn spec_example() {
    let r = v3(
        "Host(`a.com`) && (PathPrefix(`/api`) || Header(`X-Canary`, `on`)) && !ClientIP(`10.0.0.0/8`)",
    );
    assert!(hits_from(&r, &get("a.com", "/api/x"), "192.0.2.1"));
    assert!(!hits_from(&r, &get("a.com", "/api/x"), "10.0.0.1"));
    assert!(!hits_from(&r, &get("a.com", "/web"), "192.0.2.1"));
    let canary = request("GET", "/web", &[("host", "a.com"), ("x-canary", "on")]);
    assert!(hits_from(&r, &canary, "192.0.2.1"));
}

#[test]
fn four_spellings_of_a_name() {
    for name in ["PathPrefix", "pathprefix", "PATHPREFIX", "Pathprefix"] {
        let r = v3(&format!("{name}(`/a`)"));
        assert!(hits(&r, &get("h", "/a/b")), "{name}");
    }
    for name in ["ClientIP", "clientip", "CLIENTIP", "Clientip"] {
        assert!(
            Rule::parse(&format!("{name}(`::1`)"), Syntax::V3).is_ok(),
            "{name}"
        );
    }
    assert!(Rule::parse("ClientIp(`::1`)", Syntax::V3).is_err());
    let e = err("pathPrefix(`/a`)", Syntax::V3);
    assert_eq!(e.span, 0..10);
    assert_eq!(
        e.message,
        "`pathPrefix` is not an accepted spelling of `PathPrefix`: write `PathPrefix`, \
         `pathprefix`, `PATHPREFIX` or `Pathprefix`"
    );
}

#[test]
fn double_quoted_strings_take_go_escapes() {
    let r = v3(r#"PathRegexp("\\.css$")"#);
    assert!(hits(&r, &get("h", "/a.css")));
    assert!(!hits(&r, &get("h", "/acss")));
    let r = v3(r#"Header("X-A", "a\tb\x41\u00e9")"#);
    let mut req = request("GET", "/", &[]);
    req.headers_mut().insert(
        "x-a",
        http::HeaderValue::from_bytes("a\tbAé".as_bytes()).unwrap(),
    );
    assert!(hits(&r, &req));
    let r = v3("Host(\"a.com\") &&\n\tPath(`/`)");
    assert!(hits(&r, &get("a.com", "/")));
}

#[test]
fn rule_keeps_its_text_and_priority() {
    let r = v3("Host(`example.org`)");
    assert_eq!(r.default_priority(), 19);
    assert_eq!(r.texts(), ["Host(`example.org`)"]);
    assert_eq!(r.syntax(), Syntax::V3);
    let m = r.explain(&splitway::RequestView::from_request(
        &get("x.org", "/"),
        None,
    ));
    assert_eq!(m.failed.as_deref(), Some("Host(`example.org`)"));
}

// ---- errors ----

#[test]
fn syntax_errors_with_spans() {
    let cases: &[(&str, std::ops::Range<usize>, &str)] = &[
        (
            "Host(`a`) &&",
            12..12,
            "unexpected end of rule, expected a matcher, `!` or `(`",
        ),
        (
            "Host(a)",
            5..6,
            "arguments must be strings in backticks or double quotes: write `a` in backticks",
        ),
        (
            "Host(`a`) Path(`/`)",
            10..14,
            "unexpected `Path` after a complete expression; join matchers with `&&` or `||`",
        ),
        (
            "Host(`a`) & Path(`/`)",
            10..11,
            "unexpected `&`: the operators are `&&`, `||` and `!`",
        ),
        (
            "(Host(`a`)",
            10..10,
            "unexpected end of rule, expected `)` or an operator",
        ),
        (
            "Host(`a`))",
            9..10,
            "unexpected `)` after a complete expression; join matchers with `&&` or `||`",
        ),
        ("Host(`a", 5..7, "unterminated backtick string"),
        (
            "Host('a')",
            5..6,
            "single quotes do not make a string here: use backticks (`a`) or double quotes (\"a\")",
        ),
        (
            "Host(``)",
            5..7,
            "empty argument to `Host`: every argument must be non-empty",
        ),
        (
            "Host",
            4..4,
            "unexpected end of rule, expected `(` after `Host`",
        ),
        (
            "`a`",
            0..3,
            "unexpected string `a`: a string can only be a matcher's argument, as in `Host(`a.com`)`",
        ),
    ];
    for (rule, span, message) in cases {
        let e = err(rule, Syntax::V3);
        assert_eq!((&e.span, e.message.as_str()), (span, *message), "{rule}");
        assert_eq!(e.part, 0);
    }
}

#[test]
fn empty_rule_is_an_error() {
    for rule in ["", "   "] {
        assert!(
            err(rule, Syntax::V3).message.starts_with("empty rule"),
            "{rule:?}"
        );
    }
}

#[test]
fn bad_escapes_in_double_quotes() {
    let e = err(r#"Path("/a\qb")"#, Syntax::V3);
    assert_eq!(e.span, 8..10);
    assert!(
        e.message.starts_with("invalid escape `\\q`"),
        "{}",
        e.message
    );
    let e = err(r#"Path("/a\xZZ")"#, Syntax::V3);
    assert_eq!(e.span, 8..12);
    let e = err(r#"Path("/a\xff")"#, Syntax::V3);
    assert!(e.message.contains("not valid UTF-8"), "{}", e.message);
}

#[test]
fn unknown_matchers() {
    let e = err("Foo(`x`)", Syntax::V3);
    assert_eq!(e.span, 0..3);
    assert!(
        e.message.starts_with("unknown matcher `Foo`"),
        "{}",
        e.message
    );
    let e = err("Hots(`x`)", Syntax::V3);
    assert!(e.message.contains("did you mean `Host`?"), "{}", e.message);
    let e = err("Headers(`X`, `y`)", Syntax::V3);
    assert_eq!(e.span, 0..7);
    assert_eq!(
        e.message,
        "`Headers` is not a v3 matcher (use `Header`); set `rule_syntax: v2` to use it"
    );
}

#[test]
fn arity_is_exact() {
    let e = err("Header(`X-A`)", Syntax::V3);
    assert_eq!(e.span, 0..13);
    assert_eq!(
        e.message,
        "`Header` takes 2 arguments (a header name and a value), found 1"
    );
    let e = err("Host(`a.com`, `b.com`)", Syntax::V3);
    assert_eq!(e.message, "`Host` takes 1 argument (a host name), found 2");
    let e = err("Query(`a`, `b`, `c`)", Syntax::V3);
    assert!(
        e.message.contains("takes 1 or 2 arguments"),
        "{}",
        e.message
    );
    for rule in [
        "HostRegexp()",
        "Path(`/a`, `/b`)",
        "Method(`GET`, `POST`)",
        "HeaderRegexp(`a`)",
        "QueryRegexp(`a`)",
        "ClientIP()",
        "Cookie(`a`)",
        "CookieRegexp(`a`, `b`, `c`)",
        "PathRegexp(`a`, `b`)",
        "PathPrefix()",
    ] {
        assert!(Rule::parse(rule, Syntax::V3).is_err(), "{rule}");
    }
}

#[test]
fn argument_errors_point_at_the_argument() {
    let e = err("Host(`a`) && PathRegexp(`(x`)", Syntax::V3);
    assert_eq!(e.span, 24..28);
    assert_eq!(e.message, "invalid regex `(x`: unclosed group");
    let e = err("Path(`x`)", Syntax::V3);
    assert_eq!(e.span, 5..8);
    assert_eq!(e.message, "`Path` value `x` must start with `/`");
    assert!(
        err("PathPrefix(`x`)", Syntax::V3)
            .message
            .contains("must start with `/`")
    );
    let e = err("ClientIP(`10.0.0.300`)", Syntax::V3);
    assert_eq!(e.span, 9..21);
    let e = err("Host(`bücher.de`)", Syntax::V3);
    assert!(e.message.contains("non-ASCII"), "{}", e.message);
    assert!(
        err("HostRegexp(`bü`)", Syntax::V3)
            .message
            .contains("non-ASCII")
    );
    let e = err("Header(`Bad Name`, `x`)", Syntax::V3);
    assert_eq!(e.span, 7..17);
    let e = err("HeaderRegexp(`X`, `(((a{100}){100}){100})`)", Syntax::V3);
    assert!(e.message.contains("too big"), "{}", e.message);
}

#[test]
fn nesting_is_limited_without_overflowing_the_stack() {
    let host = "Host(`a`)";
    // Exactly the limit parses.
    let ok = format!(
        "{}{host}{}",
        "(".repeat(MAX_RULE_DEPTH),
        ")".repeat(MAX_RULE_DEPTH)
    );
    assert!(hits(&v3(&ok), &get("a", "/")));
    let ok = format!("{}{host}", "!".repeat(MAX_RULE_DEPTH));
    assert!(Rule::parse(&ok, Syntax::V3).is_ok());
    // One more does not, and the error points at the first `(` too many.
    let deep = format!(
        "{}{host}{}",
        "(".repeat(MAX_RULE_DEPTH + 1),
        ")".repeat(MAX_RULE_DEPTH + 1)
    );
    let e = err(&deep, Syntax::V3);
    assert_eq!(e.span, MAX_RULE_DEPTH..MAX_RULE_DEPTH + 1);
    assert!(e.message.contains("more than 64 deep"), "{}", e.message);
    // Deep rules under the length limit are refused by depth, before recursing.
    for opener in ["(", "!", "!("] {
        let e = err(&format!("{}{host}", opener.repeat(30_000)), Syntax::V3);
        assert!(e.message.contains("deep"), "{opener}: {}", e.message);
    }
    // 100,000 deep: refused (here by length), never a stack overflow.
    for opener in ["(", "!"] {
        let rule = format!("{}{host}", opener.repeat(100_000));
        assert!(Rule::parse(&rule, Syntax::V3).is_err());
        assert!(Rule::parse(&rule, Syntax::V2).is_err());
    }
}

#[test]
fn length_is_limited() {
    let long = format!("Host(`{}`)", "a".repeat(MAX_RULE_LEN));
    let e = err(&long, Syntax::V3);
    assert_eq!(e.span, 0..long.len());
    assert!(e.message.contains("more than the limit"), "{}", e.message);
    // A long flat rule under the limit is fine (no recursion per operand).
    let flat = vec!["Host(`a`)"; 5_000].join(" || ");
    assert!(flat.len() < MAX_RULE_LEN);
    assert!(hits(&v3(&flat), &get("a", "/")));
}

#[test]
fn host_value_must_be_a_host_name() {
    // Traefik v3 matcher_test.go: `Host(`/`)` is "not a hostname", a config error.
    for bad in ["Host(`/`)", "Host(`a.com/x`)", "Host(`a b`)", "Host(`a,b`)"] {
        let e = err(bad, Syntax::V3);
        assert!(e.message.contains("is not a host name"), "{bad}: {e:?}");
    }
    for good in [
        "Host(`10::10`)",
        "Host(`[::1]`)",
        "Host(`*.a-b_c.com.`)",
        "Host(`*`)",
    ] {
        v3(good);
    }
}
