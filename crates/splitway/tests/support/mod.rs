//! Helpers shared by the rule tests: build a request, parse a rule, ask whether it matches.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;

use splitway::RequestView;
use splitway::rule::{Rule, RuleError, Syntax};

/// A request: method, URI (absolute or origin form) and header lines, in order.
pub fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::Request<()> {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap()
}

/// `GET uri` with `Host: host`.
pub fn get(host: &str, uri: &str) -> http::Request<()> {
    request("GET", uri, &[("host", host)])
}

pub fn v1(rules: &[&str]) -> Rule {
    Rule::parse_v1(rules).unwrap_or_else(|e| panic!("{rules:?}: {e:?}"))
}

pub fn v2(rule: &str) -> Rule {
    Rule::parse(rule, Syntax::V2).unwrap_or_else(|e| panic!("{rule}: {e:?}"))
}

pub fn v3(rule: &str) -> Rule {
    Rule::parse(rule, Syntax::V3).unwrap_or_else(|e| panic!("{rule}: {e:?}"))
}

pub fn v1_err(rules: &[&str]) -> RuleError {
    Rule::parse_v1(rules).expect_err("should not parse")
}

pub fn err(rule: &str, syntax: Syntax) -> RuleError {
    Rule::parse(rule, syntax).expect_err("should not parse")
}

pub fn hits(rule: &Rule, req: &http::Request<()>) -> bool {
    rule.matches(&RequestView::from_request(req, None))
}

pub fn hits_from(rule: &Rule, req: &http::Request<()>, ip: &str) -> bool {
    let ip: IpAddr = ip.parse().unwrap();
    rule.matches(&RequestView::from_request(req, Some(ip)))
}
