//! Differential: the compiled table (index, priorities, fast paths) against the reference
//! interpreter (frontends in priority order, each rule's AST walked) on arbitrary rule sets in
//! all three syntaxes and arbitrary requests. They must pick the same frontend.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use splitway::config::{Backend, Balance, Config, Frontend, Server};
use splitway::{RequestView, Router, reference};
use splitway_fuzz::{ArbRequest, ArbRule};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    rules: Vec<(ArbRule<'a>, Option<i8>)>,
    requests: Vec<ArbRequest<'a>>,
}

fuzz_target!(|input: Input<'_>| {
    let frontends: Vec<Frontend> = input
        .rules
        .iter()
        .take(32)
        .enumerate()
        .filter_map(|(i, (rule, priority))| {
            let rule = rule.parse()?;
            let priority = priority.map_or_else(|| rule.default_priority(), i64::from);
            Some(Frontend {
                name: format!("f{i:02}"),
                backend: "b".into(),
                rule,
                priority,
                pass_host_header: true,
            })
        })
        .collect();
    if frontends.is_empty() {
        return;
    }
    let server = Server {
        name: "s".into(),
        url: "http://s.internal".into(),
        uri: http::Uri::from_static("http://s.internal"),
        weight: 1,
        response: None,
    };
    let config = Config {
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
    };
    let router = match Router::from_config(&config) {
        Ok(r) => r,
        Err(e) => panic!("a valid configuration does not compile: {e}"),
    };
    let ordered = reference::ordered(&config);
    for r in input.requests.iter().take(16) {
        let Some(req) = r.build() else { continue };
        let view = RequestView::from_request(&req, r.peer);
        let expected = reference::route(&ordered, &view).map(|f| f.name.as_str());
        assert_eq!(
            router.route(&view).route(),
            expected,
            "table and reference disagree"
        );
        let explained = router.explain(&view);
        assert_eq!(
            explained.decision.route(),
            expected,
            "explain and reference disagree"
        );
    }
});
