//! The bad-input corpus: every file in `tests/corpus/bad/` must fail to load through
//! `Config::from_file`, without a panic, with its first error at an exact position and with
//! the expected message. The whole corpus must load quickly (budgets, not luck, bound it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use splitway::config::Config;
use splitway::diag::Severity;

/// (file, line, column, fragment of the first error's message, second fragment or "").
/// Fragments of rule-parser messages are kept short: their wording belongs to `rule`.
#[rustfmt::skip]
const EXPECTED: &[(&str, usize, usize, &str, &str)] = &[
    ("alias_bomb.yaml", 7, 8, "YAML expands to more than 1000000 values (aliases repeat their anchor'", ""),
    ("alias_recursive.yaml", 2, 8, "alias to an anchor whose value is not finished (recursive alias)", ""),
    ("backend_no_servers.yaml", 6, 3, "backend `web` has no servers", ""),
    ("backend_servers_null.yaml", 6, 3, "backend `web` has no servers", ""),
    ("bad_regex_expr.yaml", 3, 35, "invalid rule in frontend `web`", "regex"),
    ("bad_regex_v1.yaml", 5, 31, "invalid rule in frontend `web`", "regex"),
    ("bad_url.yaml", 8, 13, "invalid server URL `not a url`: invalid uri character", ""),
    ("balance_unknown.yaml", 10, 14, "unknown balance `roundrobin`: expected `wrr` or `random`", ""),
    ("binary_junk.toml", 1, 2, "the file is not UTF-8 text (byte 0xfb at offset 1)", ""),
    ("binary_junk.yaml", 1, 1, "the file is not UTF-8 text (byte 0x89 at offset 0)", ""),
    ("complex_key.yaml", 1, 3, "a map key must be a plain string, found a list or map", ""),
    ("deep_rule_nesting.yaml", 3, 12, "invalid rule in frontend `web`", ""),
    ("deep_toml_dotted_key.toml", 1, 1, "TOML syntax error: recursion limit", ""),
    ("deep_toml_nesting.toml", 1, 85, "TOML syntax error: cannot recurse further; max recursion depth met", ""),
    ("deep_yaml_block_nesting.yaml", 129, 129, "YAML nested more than 128 levels deep", ""),
    ("deep_yaml_nesting.yaml", 1, 267, "YAML syntax error: recursion limit exceeded", ""),
    ("duplicate_frontend.yaml", 4, 3, "duplicate key `web` (first at line 2, column 3)", ""),
    ("duplicate_key.toml", 3, 1, "TOML syntax error: duplicate key", ""),
    ("duplicate_server_key.yaml", 9, 7, "duplicate key `url` (first at line 8, column 7)", ""),
    ("duplicate_server_names.yaml", 9, 13, "duplicate server name `k8s` in backend `web`", ""),
    ("duplicate_table.toml", 8, 23, "TOML syntax error: duplicate key", ""),
    ("empty.yaml", 1, 1, "the configuration is empty: it needs `frontends` and `backends`", ""),
    ("frontend_without_rule.yaml", 2, 3, "frontend `web` has no rule: give `rules`, `rule` or `routes`", ""),
    ("hash_and_sticky.yaml", 12, 5, "backend `web` has both `hash` and sticky cookies: use one", ""),
    ("hash_bad_header_name.yaml", 11, 20, "`X User` is not a valid header name", ""),
    ("hash_cookie_without_name.yaml", 11, 20, "hash key `cookie:` has no name: write `cookie:NAME`", ""),
    ("hash_issue_cookie_without_cookie.yaml", 12, 7, "`issue_cookie: true` needs a cookie key (`key: cookie:NAME`)", ""),
    ("hash_unknown_kind.yaml", 11, 13, "unknown hash key kind `cokie` in `cokie:uid`: expected `cookie:NAME`, ", ""),
    ("health_check_bad_interval.yaml", 12, 17, "invalid duration `10x`: expected a positive Go duration like `30s`, `1", ""),
    ("health_check_without_path.yaml", 11, 7, "`health_check` of backend `web` needs a `path`", ""),
    ("huge_regex.yaml", 3, 33, "invalid rule in frontend `web`", "regex"),
    ("implicit_backend_missing.yaml", 4, 3, "frontend `api` routes to backend `api`, which does not exist", ""),
    ("invalid_utf8.toml", 5, 11, "the file is not UTF-8 text (byte 0xff at offset 101)", ""),
    ("invalid_utf8.yaml", 4, 18, "the file is not UTF-8 text (byte 0xe9 at offset 46)", ""),
    ("missing_backend.yaml", 3, 14, "frontend `web` routes to backend `webb`, which does not exist; did you", ""),
    ("multiple_documents.yaml", 9, 1, "a second YAML document: a configuration file holds one document", ""),
    ("no_frontends.yaml", 1, 1, "no `frontends`: a configuration that routes nothing is a mistake", ""),
    ("nul_bytes.yaml", 2, 6, "YAML syntax error: found unprintable character", ""),
    ("only_comments.yaml", 1, 1, "the configuration is empty: it needs `frontends` and `backends`", ""),
    ("priority_float.yaml", 3, 15, "expected an integer priority, found a number", ""),
    ("rule_and_rules.yaml", 4, 5, "frontend `web` has both `rules` and `rule`: give only one of `rules`, ", ""),
    ("rule_item_is_map.yaml", 4, 9, "expected a rule string, found a map", ""),
    ("rule_no_matcher.yaml", 4, 10, "invalid rule in frontend `web`", "matcher"),
    ("rule_syntax_unknown.yaml", 1, 14, "unknown rule syntax `v4`: expected `v2` or `v3`", ""),
    ("rules_empty_list.yaml", 3, 12, "`rules` of frontend `web` is empty: a frontend needs at least one rule", ""),
    ("rules_is_number.yaml", 3, 12, "expected a list of rule strings, found a number", ""),
    ("rules_is_string.yaml", 3, 12, "expected a list of rule strings (for one rule string, write `rule:`), ", ""),
    ("server_without_name.yaml", 7, 7, "a server of backend `web` has no `name`", ""),
    ("server_without_url.yaml", 7, 7, "server `k8s` of backend `web` has no `url`", ""),
    ("several_syntax_errors.toml", 1, 5, "TOML syntax error: string values must be quoted, expected literal stri", ""),
    ("sticky_bad_cookie_name.yaml", 11, 16, "`my cookie` is not a valid cookie name (letters, digits and !#$%&'*+-.", ""),
    ("sticky_bad_same_site.yaml", 12, 18, "unknown same_site `sometimes`: expected `none`, `lax` or `strict`", ""),
    ("syntax_error.toml", 1, 15, "TOML syntax error: unclosed table, expected `]`", ""),
    ("tab_indentation.yaml", 3, 2, "YAML syntax error: tabs disallowed within this context (block indentat", ""),
    ("top_level_list.yaml", 1, 1, "expected a map with `frontends` and `backends`, found a list", ""),
    ("traefik_bad_cookie_type.toml", 9, 14, "expected a cookie name, found a number", ""),
    ("traefik_bad_method.toml", 9, 11, "unknown load-balancer method `roundrobin`: expected `wrr` or `drr`", ""),
    ("traefik_bad_rule.toml", 4, 20, "invalid rule in frontend `web`", "Method"),
    ("traefik_bad_url.toml", 7, 8, "invalid server URL `http://`: empty string", ""),
    ("traefik_health_port.toml", 10, 8, "port 70000 is out of range (1 to 65535)", ""),
    ("traefik_route_without_rule.toml", 6, 1, "unknown key `rul` in route `r2` of frontend `web`; did you mean `rule`", ""),
    ("traefik_unknown_frontend_key.toml", 2, 1, "unknown key `bakend` in frontend `web`; did you mean `backend`?", ""),
    ("traefik_weight_negative.toml", 8, 10, "a weight must not be negative, found -5", ""),
    ("truncated.toml", 9, 14, "TOML syntax error: invalid basic string, expected `\"`", ""),
    ("truncated_flow.yaml", 4, 1, "YAML syntax error: while parsing a flow sequence, expected ',' or ']'", ""),
    ("unbalanced_parentheses.yaml", 3, 40, "invalid rule in frontend `web`", ""),
    ("unclosed_quote.yaml", 4, 9, "YAML syntax error: invalid indentation in quoted scalar", ""),
    ("unknown_frontend_key.yaml", 3, 5, "unknown key `rulez` in frontend `web`; did you mean `rules`?", ""),
    ("unknown_matcher_expr.yaml", 3, 12, "invalid rule in frontend `web`", "Hots"),
    ("unknown_matcher_v1.yaml", 4, 10, "invalid rule in frontend `web`", "Hots"),
    ("unknown_top_key.yaml", 1, 1, "unknown key `frontend` in the top level; did you mean `frontends`?", ""),
    ("url_ftp_scheme.yaml", 8, 13, "server URL `ftp://files.local` must use http or https, not `ftp`", ""),
    ("url_without_scheme.yaml", 8, 13, "server URL `agendor-web.production:80` must be absolute, with a scheme", ""),
    ("values_bad_url.yaml", 10, 11, "invalid server URL `http//missing-colon`: invalid format", ""),
    ("values_negative_weight.yaml", 9, 11, "a weight must not be negative, found -3", ""),
    ("values_no_equals.yaml", 9, 11, "expected `weight = N` or `url = \"...\"` in server `legacy_1` of backend", ""),
    ("values_unknown_key.yaml", 9, 11, "unknown server setting `wieght` in `values` of server `legacy_1` of ba", ""),
    ("weight_float.yaml", 9, 15, "a weight must be an integer, found 1.5", ""),
    ("weight_negative.yaml", 9, 15, "a weight must not be negative, found -1", ""),
    ("weight_overflow.yaml", 9, 15, "weight 100000000000000000000 is too large (at most 1000000)", ""),
    ("weight_string.yaml", 9, 15, "expected an integer weight, found a string", ""),
    ("weight_too_large.yaml", 9, 15, "weight 2000000 is too large (at most 1000000)", ""),
];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/bad")
}

#[test]
fn corpus_has_at_least_45_files_and_each_has_an_expectation() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let expected: BTreeSet<String> = EXPECTED.iter().map(|e| e.0.to_owned()).collect();
    assert_eq!(on_disk, expected, "corpus files and the table must match");
    assert!(on_disk.len() >= 45, "{} files", on_disk.len());
}

#[test]
fn every_bad_file_fails_with_its_first_error_located() {
    let started = Instant::now();
    let mut failures = Vec::new();
    for (name, line, col, fragment, fragment2) in EXPECTED {
        let path = corpus_dir().join(name);
        let result = std::panic::catch_unwind(|| Config::from_file(&path));
        let err = match result {
            Err(_) => {
                failures.push(format!("{name}: panicked"));
                continue;
            }
            Ok(Ok(_)) => {
                failures.push(format!("{name}: loaded, but must fail"));
                continue;
            }
            Ok(Err(err)) => err,
        };
        let Some(first) = err.diagnostics.first() else {
            failures.push(format!("{name}: no diagnostics"));
            continue;
        };
        if first.severity != Severity::Error
            || (first.line, first.col) != (*line, *col)
            || !first.message.contains(fragment)
            || !first.message.contains(fragment2)
            || !first.file.ends_with(name)
        {
            failures.push(format!(
                "{name}: expected {line}:{col} `{fragment}`..`{fragment2}`, got {first}"
            ));
        }
        assert!(err.errors().count() >= 1);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The slowest entries (alias bomb, deep nesting) are bounded by budgets; even a debug
    // build on a shared machine stays far below this.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
