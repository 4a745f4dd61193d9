//! The decision on arbitrary requests (method, host, path, query, headers, cookies, peer)
//! against a fixed table: no panic, the table agrees with the reference interpreter, `explain`
//! agrees with `route`, and every `Set-Cookie` is a valid header value.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use splitway::config::{Config, Format};
use splitway::{RequestView, Router, Status, reference};
use splitway_fuzz::{ArbRequest, FIXED_CONFIG};

fn fixed() -> &'static (Config, Router) {
    static FIXED: OnceLock<(Config, Router)> = OnceLock::new();
    FIXED.get_or_init(|| {
        let config = match Config::from_str(FIXED_CONFIG, Format::Yaml, "fixed.yaml") {
            Ok(loaded) => loaded.config,
            Err(e) => panic!("the fixed configuration does not load: {e}"),
        };
        let router = match Router::from_config(&config) {
            Ok(r) => r,
            Err(e) => panic!("the fixed configuration does not compile: {e}"),
        };
        (config, router)
    })
}

fuzz_target!(|input: ArbRequest<'_>| {
    let Some(req) = input.build() else { return };
    let (config, router) = fixed();
    let view = RequestView::from_request(&req, input.peer);
    let decision = router.route(&view);

    let ordered = reference::ordered(config);
    let expected = reference::route(&ordered, &view).map(|f| f.name.as_str());
    assert_eq!(decision.route(), expected, "table and reference disagree");

    // Every backend of the fixed table has a server in service.
    match decision.status() {
        Status::Routed => assert!(decision.server().is_some() && decision.backend().is_some()),
        Status::NoRoute => assert!(expected.is_none()),
        Status::NoServer => panic!("no server, yet every backend has one: {decision:?}"),
        other => panic!("the fixed table has no fixed-response server, yet: {other:?}"),
    }
    if let Some(cookie) = decision.set_cookie() {
        assert!(
            http::HeaderValue::from_str(cookie).is_ok(),
            "Set-Cookie is not a header value: {cookie:?}"
        );
    }

    let explained = router.explain(&view);
    assert_eq!(
        explained.decision.route(),
        expected,
        "explain and route disagree"
    );
    if let Some(winner) = expected {
        let last = explained
            .candidates
            .last()
            .map(|c| (c.route.as_str(), c.matched));
        assert_eq!(last, Some((winner, true)));
    }
    assert!(
        explained
            .candidates
            .iter()
            .rev()
            .skip(1)
            .all(|c| !c.matched)
    );
    let _ = format!("{decision:?} {:?}", explained.cohort);
});
