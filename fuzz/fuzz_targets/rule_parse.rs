//! The rule parser on arbitrary text, in each syntax: no panic, no hang; an error points inside
//! the text it blames; a rule that parses evaluates, explains itself consistently, and prints
//! (its `Display`) as text that parses back, in its own syntax, to a rule that decides the
//! same on sample requests.
#![no_main]

use libfuzzer_sys::fuzz_target;
use splitway::RequestView;
use splitway::rule::{MAX_RULE_LEN, Rule, RuleError, Syntax};

fn samples() -> Vec<(http::Request<()>, Option<std::net::IpAddr>)> {
    let mk = |method: &str, uri: &str, headers: &[(&str, &str)]| {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap_or_default()
    };
    vec![
        (mk("GET", "/", &[("host", "a.com")]), None),
        (
            mk(
                "GET",
                "http://web.agendor.com.br/api/v1?beta=1&x=%20",
                &[("cookie", "_AUSER_TYPE=canary"), ("x-user", "alice")],
            ),
            Some([10, 1, 2, 3].into()),
        ),
        (
            mk(
                "POST",
                "/users/42/a%2Fb/./c",
                &[("host", "X.Example.Org:8080")],
            ),
            Some("::1".parse().unwrap_or([0u8; 16].into())),
        ),
    ]
}

fn check_span(e: &RuleError, text: &str) {
    assert!(
        e.span.start <= e.span.end && e.span.end <= text.len(),
        "{e:?} in {text:?}"
    );
    assert!(
        text.is_char_boundary(e.span.start) && text.is_char_boundary(e.span.end),
        "{e:?} splits a character of {text:?}"
    );
    assert!(!e.message.is_empty());
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let parts: Vec<&str> = text.split('\n').collect();
    let result = match first % 4 {
        0 => Rule::parse(text, Syntax::V1),
        1 => Rule::parse(text, Syntax::V2),
        2 => Rule::parse(text, Syntax::V3),
        _ => Rule::parse_v1(&parts),
    };
    let _ = Rule::looks_like_v1(text);
    let rule = match result {
        Ok(rule) => rule,
        Err(e) => {
            let blamed = if first % 4 == 3 {
                parts.get(e.part).copied()
            } else {
                Some(text)
            };
            match blamed {
                Some(t) => check_span(&e, t),
                None => panic!("error names part {} of {}: {e:?}", e.part, parts.len()),
            }
            return;
        }
    };
    let printed = rule.to_string();
    let again = if printed.len() <= MAX_RULE_LEN {
        match Rule::parse(&printed, rule.syntax()) {
            Ok(r) => Some(r),
            Err(e) => panic!("printed rule does not parse: {printed:?}: {e:?} (from {text:?})"),
        }
    } else {
        None
    };
    if let Some(again) = &again
        && rule.syntax() == Syntax::V3
    {
        assert_eq!(again.to_string(), printed, "printing is not a fixpoint");
    }
    for (req, ip) in samples() {
        let view = RequestView::from_request(&req, ip);
        let matched = rule.matches(&view);
        let explained = rule.explain(&view);
        assert_eq!(explained.matched, matched);
        assert_eq!(explained.failed.is_none(), matched);
        if let Some(again) = &again {
            assert_eq!(
                again.matches(&view),
                matched,
                "{printed:?} decides unlike {text:?}"
            );
        }
    }
});
