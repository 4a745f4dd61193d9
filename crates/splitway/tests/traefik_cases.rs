//! Traefik's own matcher test cases (v3 `matcher_test.go`, `mux_test.go`, v3.x
//! `matcher_v2_test.go`, v1.7 `rules_test.go`), replayed against `Rule::parse(..).matches(..)`
//! and, for priorities, against a `Router`. The rows live in `traefik_cases/tables.rs` so that
//! the CLI replay (`splitway-cli/tests/traefik_replay.rs`) runs exactly the same facts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "traefik_cases/model.rs"]
mod model;
#[path = "traefik_cases/tables.rs"]
mod tables;

use model::{Row, Syn, Want};
use splitway::RequestView;
use splitway::Router;
use splitway::config::{Config, Format};
use splitway::rule::{Rule, Syntax};

fn syntax(s: Syn) -> Syntax {
    match s {
        Syn::V1 => Syntax::V1,
        Syn::V2 => Syntax::V2,
        Syn::V3 => Syntax::V3,
    }
}

fn request(row: &Row) -> http::Request<()> {
    let mut req = http::Request::builder()
        .method(row.method)
        .uri(row.url)
        .body(())
        .unwrap_or_else(|e| panic!("{}: request {}: {e}", row.src, row.url));
    for (k, v) in row.headers {
        // From bytes, so that a non-ASCII Host (the punycode rows) can be sent at all.
        let value = http::HeaderValue::from_bytes(v.as_bytes()).unwrap();
        let name = http::HeaderName::from_bytes(k.as_bytes()).unwrap();
        req.headers_mut().append(name, value);
    }
    req
}

/// What splitway does with a row.
fn outcome(syn: Syn, row: &Row) -> Want {
    match Rule::parse(row.rule, syntax(syn)) {
        Err(_) => Want::ParseError,
        Ok(rule) => {
            let req = request(row);
            if rule.matches(&RequestView::from_request(&req, row.client_ip())) {
                Want::Match
            } else {
                Want::NoMatch
            }
        }
    }
}

#[test]
fn every_row_of_every_table_holds() {
    let mut failures = Vec::new();
    for table in tables::TABLES {
        for row in table.rows {
            let got = outcome(table.syntax, row);
            if got != row.want {
                failures.push(format!(
                    "{} | {} | `{}` {} {} {:?} ip={:?}: want {:?}, got {got:?}",
                    table.source,
                    row.src,
                    row.rule,
                    row.method,
                    row.url,
                    row.headers,
                    row.remote,
                    row.want
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The row counts are pinned so that a row dropped by mistake is noticed.
#[test]
fn row_counts_per_source_file() {
    let counts: Vec<(&str, usize, usize)> = tables::TABLES
        .iter()
        .map(|t| {
            let differs = t.rows.iter().filter(|r| r.differs.is_some()).count();
            (t.source, t.rows.len(), differs)
        })
        .collect();
    assert_eq!(
        counts,
        [
            (
                "traefik/traefik pkg/muxer/http/matcher_test.go (v3)",
                215,
                4
            ),
            ("traefik/traefik pkg/muxer/http/mux_test.go (v3)", 77, 0),
            (
                "traefik/traefik pkg/muxer/http/matcher_v2_test.go (v3.x)",
                339,
                4
            ),
            ("traefik/traefik rules/rules_test.go (v1.7)", 40, 0),
        ]
    );
    assert_eq!(tables::priority_cases().count(), 8);
}

#[test]
fn default_priority_is_the_rule_length() {
    for (src, rule, want) in tables::V3_RULE_PRIORITY {
        let r = Rule::parse(rule, Syntax::V3).unwrap();
        assert_eq!(r.default_priority(), *want, "{src}");
    }
}

#[test]
fn priorities_pick_the_traefik_winner() {
    for case in tables::priority_cases() {
        let yaml = model::config_yaml(case.syntax, case.routes);
        let loaded = Config::from_str(&yaml, Format::Yaml, "case.yaml")
            .unwrap_or_else(|e| panic!("{}: {e:?}\n{yaml}", case.src));
        let router = Router::from_config(&loaded.config).unwrap();
        let req = http::Request::builder().uri(case.url).body(()).unwrap();
        let decision = router.route(&RequestView::from_request(&req, None));
        assert_eq!(decision.route(), Some(case.winner), "{}", case.src);
    }
}
