//! Traefik 1.7 rule strings: the splitter, every matcher, and errors with their spans
//! (TRAEFIK.md section 1).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use splitway::rule::{MatcherKind, Rewrite, Rule};
use support::{get, hits, request, v1, v1_err};

#[test]
fn seed_rules_and_priority() {
    let web = v1(&["Host:web.agendor.com.br"]);
    let canary = v1(&[
        "Host:web.agendor.com.br",
        "HeadersRegexp:Cookie,_AUSER_TYPE=canary",
    ]);
    assert_eq!(web.default_priority(), 23);
    assert_eq!(canary.default_priority(), 23 + 39);
    let with_cookie = request(
        "GET",
        "/deals",
        &[
            ("host", "web.agendor.com.br"),
            ("cookie", "a=1; _AUSER_TYPE=canary"),
        ],
    );
    let without = get("web.agendor.com.br", "/deals");
    assert!(hits(&web, &with_cookie) && hits(&web, &without));
    assert!(hits(&canary, &with_cookie));
    assert!(!hits(&canary, &without));
}

#[test]
fn host_is_case_insensitive_without_port() {
    let r = v1(&["Host:web.agendor.com.br"]);
    assert!(hits(&r, &get("WEB.agendor.com.br:8080", "/")));
    assert!(hits(&r, &get("web.agendor.com.br.", "/")));
    assert!(!hits(&r, &get("web.agendor.com.br.evil.com", "/")));
    assert!(!hits(&r, &get("agendor.com.br", "/")));
    assert!(!hits(&r, &request("GET", "/", &[])));
}

#[test]
fn host_several_values_are_alternatives_and_rule_is_trimmed_lowercased() {
    let r = v1(&["Host: Foo.Bar , baz.com ; Path:/x"]);
    assert!(hits(&r, &get("foo.bar", "/x")));
    assert!(hits(&r, &get("BAZ.com", "/x")));
    assert!(!hits(&r, &get("foo.bar", "/y")));
    assert!(!hits(&r, &get("qux.com", "/x")));
}

#[test]
fn host_braces_are_literal() {
    let r = v1(&["Host:{sub}.a.com"]);
    assert!(!hits(&r, &get("x.a.com", "/")));
    assert!(hits(&r, &get("{sub}.a.com", "/")));
}

#[test]
fn host_absolute_form_authority_wins_over_host_header() {
    let r = v1(&["Host:web.agendor.com.br"]);
    let req = request(
        "GET",
        "http://web.agendor.com.br:8080/deals",
        &[("host", "other.com")],
    );
    assert!(hits(&r, &req));
    let req = request(
        "GET",
        "http://other.com/deals",
        &[("host", "web.agendor.com.br")],
    );
    assert!(!hits(&r, &req));
}

#[test]
fn host_blank_value_is_accepted_and_never_matches() {
    let r = v1(&["Host: "]);
    assert!(!hits(&r, &get("a.com", "/")));
    assert!(!hits(&r, &request("GET", "/", &[])));
}

#[test]
fn host_regexp_literal_text_is_anchored_and_escaped() {
    let r = v1(&["HostRegexp:foo.bar.com"]);
    assert!(hits(&r, &get("foo.bar.com", "/")));
    assert!(hits(&r, &get("FOO.BAR.COM:443", "/")));
    assert!(!hits(&r, &get("fooubar.com", "/")));
    assert!(!hits(&r, &get("xfoo.bar.com", "/")));
    assert!(!hits(&r, &get("foo.bar.com.br", "/")));
}

#[test]
fn host_regexp_templates() {
    let r = v1(&["HostRegexp:{sub}.example.com,{cc:[a-z]{2}}.example.org"]);
    assert!(hits(&r, &get("api.example.com", "/")));
    assert!(!hits(&r, &get("a.b.example.com", "/")));
    assert!(!hits(&r, &get("example.com", "/")));
    assert!(
        hits(&r, &get("BR.example.org", "/")),
        "templates are case-insensitive"
    );
    assert!(!hits(&r, &get("bra.example.org", "/")));
}

#[test]
fn path_is_exact_and_sees_the_decoded_path() {
    let r = v1(&["Path:/foo,/a/b"]);
    assert!(hits(&r, &get("a", "/foo")));
    assert!(hits(&r, &get("a", "/foo?x=1")));
    assert!(
        !hits(&r, &get("a", "/foo/")),
        "no strict-slash redirect or tolerance"
    );
    assert!(!hits(&r, &get("a", "/foobar")));
    assert!(
        hits(&r, &get("a", "/a%2Fb")),
        "v1 decodes every escape, %2F included"
    );
    let r = v1(&["Path:/foo bar"]);
    assert!(hits(&r, &get("a", "/foo%20bar")));
}

#[test]
fn path_templates_are_anchored() {
    let r = v1(&["Path:/users/{id:[0-9]+}"]);
    assert!(hits(&r, &get("a", "/users/42")));
    assert!(!hits(&r, &get("a", "/users/x")));
    assert!(!hits(&r, &get("a", "/users/42/x")));
    let r = v1(&["Path:/users/{name}"]);
    assert!(hits(&r, &get("a", "/users/bob")));
    assert!(!hits(&r, &get("a", "/users/bob/x")));
}

#[test]
fn path_prefix_plain_is_a_string_prefix() {
    let r = v1(&["PathPrefix:/bar"]);
    for p in ["/bar", "/bar/", "/barbaz", "/bar/x?y"] {
        assert!(hits(&r, &get("a", p)), "{p}");
    }
    assert!(!hits(&r, &get("a", "/ba")));
    let r = v1(&["PathPrefix:/bar/"]);
    assert!(!hits(&r, &get("a", "/bar")));
}

#[test]
fn path_prefix_without_slash_never_matches_and_is_not_an_error() {
    let r = v1(&["PathPrefix:bar"]);
    assert!(!hits(&r, &get("a", "/bar")));
    assert!(!hits(&r, &get("a", "bar")));
    let r = v1(&["PathPrefix:bar,/api"]);
    assert!(hits(&r, &get("a", "/api/x")));
}

#[test]
fn path_prefix_templates_are_anchored_at_the_start_only() {
    let r = v1(&["PathPrefix:/api/{v:v[0-9]+}"]);
    assert!(hits(&r, &get("a", "/api/v1/users")));
    assert!(hits(&r, &get("a", "/api/v12")));
    assert!(!hits(&r, &get("a", "/x/api/v1")));
    assert!(!hits(&r, &get("a", "/api/x")));
    let r = v1(&["PathPrefix:/static,/api/{v:v[0-9]+}"]);
    assert!(hits(&r, &get("a", "/static/x")));
    assert!(hits(&r, &get("a", "/api/v2")));
}

#[test]
fn strip_variants_match_like_their_base_and_ask_for_a_strip() {
    for (rule, yes, no) in [
        ("PathStrip:/foo", "/foo", "/foo/x"),
        ("PathStripRegex:/u/{id:[0-9]+}", "/u/7", "/u/7/x"),
        ("PathPrefixStrip:/api", "/api/x", "/ap"),
        (
            "PathPrefixStripRegex:/api/{v:v[0-9]}",
            "/api/v1/x",
            "/api/x",
        ),
    ] {
        let r = v1(&[rule]);
        assert!(hits(&r, &get("a", yes)), "{rule} {yes}");
        assert!(!hits(&r, &get("a", no)), "{rule} {no}");
        let regex = rule.contains("Regex");
        assert!(
            matches!(
                r.rewrites(),
                [Rewrite::StripPrefixRegex(_)] if regex
            ) || matches!(r.rewrites(), [Rewrite::StripPrefix(_)] if !regex),
            "{rule}"
        );
    }
    assert!(v1(&["Path:/foo"]).rewrites().is_empty());
}

#[test]
fn rewrite_only_matchers_match_everything() {
    let r = v1(&["AddPrefix:/v2"]);
    assert!(hits(&r, &get("any.host", "/anything")));
    assert!(matches!(r.rewrites(), [Rewrite::AddPrefix(p)] if p == "/v2"));
    let r = v1(&["Host:a.com;ReplacePath:/health"]);
    assert!(hits(&r, &get("a.com", "/x")));
    assert!(!hits(&r, &get("b.com", "/x")));
    assert!(matches!(r.rewrites(), [Rewrite::ReplacePath(p)] if p == "/health"));
    let r = v1(&["ReplacePathRegex: ^/api/(.*) /$1"]);
    match r.rewrites() {
        [Rewrite::ReplacePathRegex(re, rep)] => {
            assert_eq!(re.as_str(), "^/api/(.*)");
            assert_eq!(rep, "/$1");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn method_rule_values_are_uppercased_request_is_compared_as_received() {
    let r = v1(&["Method:get,Post"]);
    assert!(hits(&r, &request("GET", "/", &[])));
    assert!(hits(&r, &request("POST", "/", &[])));
    assert!(!hits(&r, &request("PUT", "/", &[])));
    assert!(!hits(&r, &request("get", "/", &[])));
}

#[test]
fn headers_pairs_are_anded_names_case_insensitive_values_exact() {
    let r = v1(&["Headers:X-Canary,on,X-Team,core"]);
    let both = request("GET", "/", &[("x-canary", "on"), ("X-TEAM", "core")]);
    assert!(hits(&r, &both));
    assert!(!hits(&r, &request("GET", "/", &[("x-canary", "on")])));
    assert!(!hits(
        &r,
        &request("GET", "/", &[("x-canary", "ON"), ("x-team", "core")])
    ));
    assert!(!hits(
        &r,
        &request("GET", "/", &[("x-canary", "on2"), ("x-team", "core")])
    ));
}

#[test]
fn headers_each_line_is_one_value_never_split_on_commas() {
    let r = v1(&["Headers:X-Canary,on"]);
    let two_lines = request("GET", "/", &[("x-canary", "off"), ("x-canary", "on")]);
    assert!(hits(&r, &two_lines));
    let one_line = request("GET", "/", &[("x-canary", "off, on")]);
    assert!(!hits(&r, &one_line));
}

#[test]
fn headers_last_pair_wins_for_a_name_spelled_identically() {
    let r = v1(&["Headers:X-A,1,X-A,2"]);
    assert!(hits(&r, &request("GET", "/", &[("x-a", "2")])));
    assert!(!hits(&r, &request("GET", "/", &[("x-a", "1")])));
    // Spelled differently: both pairs are checked.
    let r = v1(&["Headers:X-A,1,x-a,2"]);
    assert!(!hits(&r, &request("GET", "/", &[("x-a", "2")])));
    assert!(hits(
        &r,
        &request("GET", "/", &[("x-a", "1"), ("x-a", "2")])
    ));
}

#[test]
fn headers_regexp_searches_unanchored_like_traefik() {
    let r = v1(&["HeadersRegexp:Cookie,_AUSER_TYPE=canary"]);
    let lookalike = request("GET", "/", &[("cookie", "X_AUSER_TYPE=canaryfoo")]);
    assert!(
        hits(&r, &lookalike),
        "Traefik's unanchored search matches the look-alike"
    );
    let second_line = request(
        "GET",
        "/",
        &[("cookie", "a=1"), ("cookie", "_AUSER_TYPE=canary")],
    );
    assert!(hits(&r, &second_line));
    assert!(!hits(
        &r,
        &request("GET", "/", &[("cookie", "_AUSER_TYPE=stable")])
    ));
    let anchored = v1(&["HeadersRegexp:X-Id,^[0-9]+$"]);
    assert!(hits(&anchored, &request("GET", "/", &[("x-id", "123")])));
    assert!(!hits(&anchored, &request("GET", "/", &[("x-id", "123a")])));
}

#[test]
fn header_value_that_is_not_utf8_never_matches() {
    let r = v1(&["HeadersRegexp:X-Bin,.*"]);
    let mut req = request("GET", "/", &[]);
    req.headers_mut()
        .insert("x-bin", http::HeaderValue::from_bytes(b"caf\xe9").unwrap());
    assert!(!hits(&r, &req));
    // The regex searches the bytes, and finds `caf`; the value is still not text.
    assert!(!hits(&v1(&["HeadersRegexp:X-Bin,caf"]), &req));
    // A regex sees a non-ASCII UTF-8 value as characters: `.` is the one `é`.
    let mut req = request("GET", "/", &[]);
    req.headers_mut().insert(
        "x-bin",
        http::HeaderValue::from_bytes("café".as_bytes()).unwrap(),
    );
    assert!(hits(&v1(&["HeadersRegexp:X-Bin,^caf.$"]), &req));
    // Non-ASCII UTF-8 is text.
    let r = v1(&["Headers:X-Name,café"]);
    let mut req = request("GET", "/", &[]);
    req.headers_mut().insert(
        "x-name",
        http::HeaderValue::from_bytes("café".as_bytes()).unwrap(),
    );
    assert!(hits(&r, &req));
}

#[test]
fn go_style_literal_braces_in_header_regexps() {
    let r = v1(&["HeadersRegexp:X-T,^a{b}$"]);
    assert!(hits(&r, &request("GET", "/", &[("x-t", "a{b}")])));
    assert!(!hits(&r, &request("GET", "/", &[("x-t", "ab")])));
}

#[test]
fn query_tests_only_the_first_occurrence() {
    let r = v1(&["Query:a=1"]);
    assert!(hits(&r, &get("h", "/?a=1")));
    assert!(hits(&r, &get("h", "/?a=1&a=2")));
    assert!(!hits(&r, &get("h", "/?a=2&a=1")));
    assert!(!hits(&r, &get("h", "/?a=11")));
    assert!(!hits(&r, &get("h", "/")));
    // gorilla/mux also splits on `;`.
    assert!(hits(&r, &get("h", "/?x=1;a=1")));
}

#[test]
fn query_empty_value_means_present_and_pairs_are_anded() {
    let r = v1(&["Query:a=,b=2"]);
    assert!(hits(&r, &get("h", "/?a=x&b=2")));
    assert!(hits(&r, &get("h", "/?a&b=2")));
    assert!(!hits(&r, &get("h", "/?b=2")));
    assert!(!hits(&r, &get("h", "/?a=x&b=3")));
}

#[test]
fn query_values_are_decoded_like_go() {
    let r = v1(&["Query:q=a b"]);
    assert!(hits(&r, &get("h", "/?q=a+b")));
    assert!(hits(&r, &get("h", "/?q=a%20b")));
    assert!(!hits(&r, &get("h", "/?q=a%2Bb")));
    let r = v1(&["Query:k y=1"]);
    assert!(hits(&r, &get("h", "/?k%20y=1")));
}

#[test]
fn query_templates_in_the_value_are_anchored() {
    let r = v1(&["Query:id={id:[0-9]+}"]);
    assert!(hits(&r, &get("h", "/?id=123")));
    assert!(!hits(&r, &get("h", "/?id=12x")));
    assert!(!hits(&r, &get("h", "/?id=x12")));
}

#[test]
fn splitter_drops_empty_pieces_and_collapses_colons() {
    let r = v1(&[";;Host:a.com;;;Path:/x;"]);
    assert!(hits(&r, &get("a.com", "/x")));
    assert!(!hits(&r, &get("a.com", "/y")));
    // `::` collapses to `:`, and a leading `:` disappears.
    let r = v1(&["HeadersRegexp::X-T,^a::b$"]);
    assert!(hits(&r, &request("GET", "/", &[("x-t", "a:b")])));
    assert!(!hits(&r, &request("GET", "/", &[("x-t", "a::b")])));
    // Empty values between commas are dropped.
    let r = v1(&["Host:,a.com,,b.com,"]);
    match &r.expr() {
        splitway::rule::Expr::Match(m) => match &m.kind {
            MatcherKind::Host(hosts) => assert_eq!(hosts.len(), 2),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn several_strings_are_anded() {
    let r = v1(&["Host:a.com", "PathPrefix:/api", "Method:GET"]);
    assert!(hits(&r, &get("a.com", "/api/x")));
    assert!(!hits(&r, &get("b.com", "/api/x")));
    assert!(!hits(&r, &get("a.com", "/web")));
    assert!(!hits(&r, &request("POST", "/api", &[("host", "a.com")])));
    assert_eq!(r.texts(), ["Host:a.com", "PathPrefix:/api", "Method:GET"]);
}

#[test]
fn explain_names_the_failing_matcher() {
    let r = v1(&["Host:a.com", "HeadersRegexp:Cookie,_AUSER_TYPE=canary"]);
    let m = r.explain(&splitway::RequestView::from_request(
        &get("a.com", "/"),
        None,
    ));
    assert!(!m.matched);
    assert_eq!(
        m.failed.as_deref(),
        Some("HeadersRegexp:Cookie,_AUSER_TYPE=canary")
    );
}

#[test]
fn looks_like_v1() {
    for yes in [
        "Host:a.com",
        "  PathPrefix:/x",
        "Host :a",
        "HeadersRegexp:Cookie,x",
        "AddPrefix:/p",
    ] {
        assert!(Rule::looks_like_v1(yes), "{yes}");
    }
    for no in [
        "Host(`a.com`)",
        "host:a.com",
        "Foo:bar",
        "",
        "Host",
        "!Host:a",
        "PathRegexp:/x",
    ] {
        assert!(!Rule::looks_like_v1(no), "{no}");
    }
}

// ---- errors ----

#[test]
fn unknown_matcher_names_are_case_sensitive_with_a_hint() {
    let e = v1_err(&["host:a.com"]);
    assert_eq!(e.span, 0..4);
    assert_eq!(e.part, 0);
    assert_eq!(
        e.message,
        "unknown matcher `host` (matcher names are case-sensitive; did you mean `Host`?)"
    );
    let e = v1_err(&["Host:a.com; Foo :/x"]);
    assert_eq!(e.span, 12..15);
    assert!(
        e.message.starts_with("unknown matcher `Foo`"),
        "{}",
        e.message
    );
    let e = v1_err(&["Host:a.com;PathPrefx:/x"]);
    assert!(
        e.message.contains("did you mean `PathPrefix`?"),
        "{}",
        e.message
    );
}

#[test]
fn error_points_into_the_string_at_fault() {
    let e = v1_err(&["Host:a.com", "Path:/x;HeadersRegexp:Cookie,(x"]);
    assert_eq!(e.part, 1);
    assert_eq!(e.span, 29..31);
    assert_eq!(e.message, "invalid regex `(x`: unclosed group");
    let e = v1_err(&["Path:foo"]);
    assert_eq!(e.span, 5..8);
    assert_eq!(e.message, "`Path` value `foo` must start with `/`");
    // The span follows the original text through `::` and spaces.
    let e = v1_err(&["Path:: /a , b"]);
    assert_eq!(e.span, 12..13);
}

#[test]
fn rules_without_matchers_are_errors() {
    for rule in ["", ";", " ; ;;"] {
        let e = v1_err(&[rule]);
        assert!(e.message.contains("no matcher"), "{rule:?}: {}", e.message);
    }
    let e = v1_err(&[]);
    assert!(e.message.contains("no rule"));
    let e = v1_err(&["Host"]);
    assert_eq!(e.span, 0..4);
    assert!(
        e.message.contains("needs at least one argument"),
        "{}",
        e.message
    );
    let e = v1_err(&["Host:,,"]);
    assert_eq!(e.span, 0..4);
}

#[test]
fn pair_matchers_need_pairs() {
    let e = v1_err(&["Headers:X-A"]);
    assert_eq!(e.span, 0..11);
    assert!(e.message.contains("pairs"), "{}", e.message);
    let e = v1_err(&["Query:a=b=c"]);
    assert!(e.message.contains("3 pieces"), "{}", e.message);
    let e = v1_err(&["Headers:Bad Name,1"]);
    assert_eq!(e.span, 8..16);
}

#[test]
fn other_argument_errors() {
    let e = v1_err(&["HostRegexp:{sub.a.com"]);
    assert_eq!(e.span, 11..21);
    assert!(e.message.contains("unbalanced braces"), "{}", e.message);
    let e = v1_err(&["Host:ünicode.com"]);
    assert!(e.message.contains("non-ASCII"), "{}", e.message);
    let e = v1_err(&["ReplacePathRegex:^/x"]);
    assert!(e.message.contains("separated by a space"), "{}", e.message);
    let e = v1_err(&["AddPrefix:/a,/b"]);
    assert!(e.message.contains("exactly one value"), "{}", e.message);
    let e = v1_err(&["PathPrefix:api/{v}"]);
    assert!(e.message.contains("must start with `/`"), "{}", e.message);
}

#[test]
fn oversized_regex_is_an_error() {
    let e = v1_err(&["HeadersRegexp:X,(((a{100}){100}){100})"]);
    assert!(e.message.contains("too big"), "{}", e.message);
    assert_eq!(e.span, 16..38);
}
