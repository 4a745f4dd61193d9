//! Inputs that broke a robustness property, kept as ordinary tests once fixed.
//!
//! The libFuzzer targets (fuzz/, see fuzz/README.md) found no crash in their 10-minute runs.
//! What they cannot reach is size: their inputs are a few KiB, and the bugs below needed
//! megabytes. They were found while fuzzing, by feeding the loader and the rule parser inputs
//! at the size limits: three made loading time grow with the square of the input, so that a
//! file well under `MAX_CONFIG_BYTES` took minutes (a hang, for a service reloading it), and
//! two made memory grow far past the file's size (a v2 rule's length squared; a YAML alias
//! of a long string). The time cases below check how the time grows, not how long it is (a
//! shared machine makes every figure move): work on an eighth of the input and on all of it,
//! in the same run, must differ by less than 20 times, where linear work gives 8 and the
//! quadratic work of the bugs up to 64 (less where a linear part, such as the YAML parse,
//! weighs as much). The memory cases went 6 and 18 times past their bounds
//! before the fixes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use splitway::config::{Config, Format};
use splitway::diag::Severity;
use splitway::rule::{MAX_RULE_LEN, Rule, Syntax};

/// Runs `work` on `small` and on `large` (eight times its size) in turn, three times each,
/// asserts that the large one's best time is less than 20 times the small one's, and returns
/// the large one's result. Taking turns lets a busy machine slow both alike.
fn grows_linearly<I, T>(what: &str, small: I, large: I, work: impl Fn(&I) -> T) -> T {
    let timed = |input: &I| {
        let start = Instant::now();
        let out = work(input);
        (start.elapsed(), out)
    };
    let (mut small_took, mut large_took) = (Duration::MAX, Duration::MAX);
    let mut out = None;
    for _ in 0..3 {
        small_took = small_took.min(timed(&small).0);
        let (took, result) = timed(&large);
        large_took = large_took.min(took);
        out = Some(result);
    }
    let ratio = large_took.as_secs_f64() / small_took.as_secs_f64().max(1e-9);
    eprintln!(
        "{what}: {small_took:?}, then {large_took:?} for eight times the input ({ratio:.1}x)"
    );
    assert!(
        ratio < 20.0,
        "{what}: {large_took:?} for eight times the input of {small_took:?} ({ratio:.1}x; \
         linear work gives about 8x, quadratic up to 64x)"
    );
    out.expect("ran three times")
}

/// Many frontends naming backends that do not exist, among many backends: every frontend
/// scanned every backend name, and computed a "did you mean" over all of them, and every
/// error made `has_errors` scan every diagnostic so far. 20,000 of each took 190 s (release).
#[test]
fn many_frontends_naming_missing_backends_are_rejected_quickly() {
    let config = |n: usize| {
        let mut text = String::from("frontends:\n");
        for i in 0..n {
            text.push_str(&format!("  f{i}: {{rule: \"Host:a\", backend: x{i}}}\n"));
        }
        text.push_str("backends:\n");
        for i in 0..n {
            text.push_str(&format!("  b{i}: [{{name: s, url: \"http://s\"}}]\n"));
        }
        text
    };
    let n = 4_000;
    let e = grows_linearly("missing backends", config(n / 8), config(n), |text| {
        Config::from_str(text, Format::Yaml, "t").expect_err("backends are missing")
    });
    let errors: Vec<_> = e
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), n);
    // The first errors still say what was probably meant; later ones do not (bounded work).
    assert_eq!(
        errors[0].message,
        "frontend `f0` routes to backend `x0`, which does not exist; did you mean `b0`?"
    );
    assert_eq!(
        errors[n - 1].message,
        format!(
            "frontend `f{}` routes to backend `x{}`, which does not exist",
            n - 1,
            n - 1
        )
    );
}

/// Many backends no frontend uses: each one's warning scanned the frontends, and asked
/// `has_errors`, which scanned the warnings so far.
#[test]
fn many_unused_backends_are_warned_about_quickly() {
    let config = |n: usize| {
        let mut text = String::from("frontends:\n");
        for i in 0..n {
            text.push_str(&format!("  f{i}: {{rule: \"Host:a\", backend: b0}}\n"));
        }
        text.push_str("backends:\n");
        for i in 0..n {
            text.push_str(&format!("  b{i}: [{{name: s, url: \"http://s\"}}]\n"));
        }
        text
    };
    let n = 16_000;
    let loaded = grows_linearly("unused backends", config(n / 8), config(n), |text| {
        Config::from_str(text, Format::Yaml, "t").unwrap()
    });
    assert_eq!(loaded.warnings.len(), n - 1);
}

/// A v1 `Headers:` piece with thousands of distinct names: finding the last pair of each name
/// scanned all later pairs, 0.26 s for one 64 KiB rule (release), 25 s for a config of 120.
#[test]
fn v1_headers_with_many_distinct_names_parse_quickly() {
    let rule = |len: usize| {
        let mut pairs = String::new();
        let mut count = 0;
        while pairs.len() < len - 100 {
            pairs.push_str(&format!("h{count},v,"));
            count += 1;
        }
        // The last pair for a name wins, as in gorilla/mux.
        pairs.push_str("h0,last");
        (format!("Headers:{pairs}"), count)
    };
    let (small, large) = (rule(MAX_RULE_LEN / 8), rule(MAX_RULE_LEN));
    let count = large.1;
    let rules = grows_linearly("v1 Headers pairs", small, large, |(text, _)| {
        (0..10)
            .map(|_| Rule::parse_v1(&[text]).unwrap())
            .collect::<Vec<_>>()
    });
    let req = http::Request::get("/")
        .header("h0", "last")
        .header("h1", "v")
        .body(())
        .unwrap();
    let view = splitway::RequestView::from_request(&req, None);
    assert!(!rules[0].matches(&view), "all {count} headers are required");
    let mut all = http::Request::get("/");
    for i in 0..count {
        all = all.header(format!("h{i}"), if i == 0 { "last" } else { "v" });
    }
    let all = all.body(()).unwrap();
    assert!(rules[0].matches(&splitway::RequestView::from_request(&all, None)));
}

/// A v2 `Query` call with many `key=value` arguments: each argument's matcher held a copy of
/// the whole call's text, so a 60 KB rule of 10,000 pairs held 600 MB (and an 8 MB file of
/// such rules, far more than any machine has).
#[test]
fn v2_query_with_many_pairs_does_not_copy_the_call_per_pair() {
    let args = vec!["`a=b`"; 10_000].join(",");
    let text = format!("Query({args})");
    let mut rule = None;
    let info = allocation_counter::measure(|| {
        rule = Some(Rule::parse(&text, Syntax::V2).unwrap());
    });
    assert!(
        info.bytes_max < 32 << 20,
        "parsing a {} byte rule peaked at {} bytes",
        text.len(),
        info.bytes_max
    );
    // Each pair's matcher names its own argument.
    let rule = rule.unwrap();
    let req = http::Request::get("/?a=c").body(()).unwrap();
    let explained = rule.explain(&splitway::RequestView::from_request(&req, None));
    assert_eq!(explained.failed.as_deref(), Some("Query(`a=b`)"));
    // A single pair keeps the call's text as written.
    let one = Rule::parse("query( `a=b` )", Syntax::V2).unwrap();
    assert_eq!(
        one.explain(&splitway::RequestView::from_request(&req, None))
            .failed
            .as_deref(),
        Some("query( `a=b` )")
    );
}

/// YAML aliases of a long string: the alias budget counted values, not their size, so a
/// 1 MB file aliasing a 1 MB string 400 times peaked at 400 MB, and a few thousand times
/// (well within the value budget) at gigabytes. Now aliases may repeat at most 8 MiB of text.
#[test]
fn yaml_aliases_of_long_strings_are_refused_within_a_text_budget() {
    let peak = |text: &str| {
        let mut result = None;
        let info = allocation_counter::measure(|| {
            result = Some(Config::from_str(text, Format::Yaml, "t"));
        });
        (result.unwrap(), info.bytes_max)
    };
    // One long string, aliased many times: refused at the 9th alias.
    let mut text = format!("x: &a \"{}\"\ny: [", "a".repeat(1 << 20));
    text.push_str(&"*a,".repeat(400));
    text.push_str("]\n");
    let (result, bytes) = peak(&text);
    assert!(bytes < 64 << 20, "peaked at {bytes} bytes");
    let e = result.expect_err("refused");
    assert_eq!(
        (e.diagnostics[0].line, e.diagnostics[0].col),
        (2, 29),
        "{:?}",
        e.diagnostics[0]
    );
    assert_eq!(
        e.diagnostics[0].message,
        "YAML aliases repeat more than 8388608 bytes of text: refusing to build it"
    );
    // Nested aliases: 10 KB of text repeated 1000 times by a 10 KB file of 1,111 values.
    let text = format!(
        "a: &a \"{}\"\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
         c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n\
         d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
        "a".repeat(10_000)
    );
    let (result, bytes) = peak(&text);
    assert!(bytes < 64 << 20, "peaked at {bytes} bytes");
    let e = result.expect_err("refused");
    assert!(e.diagnostics[0].message.contains("bytes of text"), "{e}");
    // Aliases of short values stay fine.
    let ok = "frontends:\n  web: {rules: &r [\"Host:a\"]}\n  api: {rules: *r, backend: web}\n\
              backends:\n  web: [{name: s, url: \"http://s\"}]\n";
    Config::from_str(ok, Format::Yaml, "t").unwrap();
}

/// Found by the `rule_parse` target: a bad escape whose fixed width (`\1` plus 3 octal digits,
/// `\x` plus 2 hex, `\u` plus 4) ends inside a multi-byte character gave an error span that
/// split that character, and showed the escape as just `\`. The span now covers the whole
/// character.
#[test]
fn a_bad_escape_ending_inside_a_character_is_blamed_on_whole_characters() {
    for (text, blamed) in [
        ("He \"\\14\u{29d}ux\\e \"\\1)", "\\14\u{29d}"),
        ("Host(\"\\x4\u{e9}\")", "\\x4\u{e9}"),
        ("Host(\"\\u12\u{1f600}\")", "\\u12\u{1f600}"),
    ] {
        let e = Rule::parse(text, Syntax::V3).unwrap_err();
        assert_eq!(text.get(e.span.clone()), Some(blamed), "{e:?}");
        assert!(e.message.contains(&format!("`{blamed}`")), "{}", e.message);
    }
}
