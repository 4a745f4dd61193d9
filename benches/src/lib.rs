//! Rule tables and requests shared by the benchmarks in `benches/` (see BENCHMARKS.md).
//!
//! Four shapes of table, built with any number of frontends, each with one request that
//! routes to a frontend in the middle of the priority order (so the naive baseline, which
//! scans in priority order, does about half its worst-case work):
//!
//! - [`Shape::SeedHosts`] (a): the seed's shape repeated: per host, `Host:hN.example.com` and
//!   its cookie-canary twin `Host:hN.example.com` + `HeadersRegexp:Cookie,_AUSER_TYPE=canary`;
//! - [`Shape::Paths`] (b): `Host(`api.example.com`) && PathPrefix(`/svcN/`)`;
//! - [`Shape::CookieRegexes`] (c): feature-flag routes on the Cookie header, half
//!   `HeadersRegexp:Cookie,_BETA=featureN\b`, half `CookieRegexp(`_BETA`, `^featureN$`)`;
//! - [`Shape::Mix`] (d): per host, `Method` + `PathPrefix`, `Query`, `ClientIP`, and a bare
//!   `Host` route.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;

use splitway::config::{Backend, Balance, Config, Frontend, Server};
use splitway::rule::{Rule, Syntax};

/// A realistic Cookie header: five cookies, about 200 bytes, the seed's canary cookie last.
pub const COOKIE: &str = "_ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; \
     session_id=3f9a1c2b7e6d4f5a8b9c0d1e2f3a4b5c; locale=pt-BR; _AUSER_TYPE=canary";

/// Table sizes every shape is measured at.
pub const SIZES: [usize; 4] = [10, 100, 1_000, 10_000];

/// A shape of rule table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// (a) the seed's exact-host route and cookie-canary twin, per host.
    SeedHosts,
    /// (b) path prefixes under one host.
    Paths,
    /// (c) regex routes on the Cookie header.
    CookieRegexes,
    /// (d) Method, Query, ClientIP and PathPrefix routes per host.
    Mix,
}

impl Shape {
    /// Every shape, in order.
    pub const ALL: [Shape; 4] = [
        Shape::SeedHosts,
        Shape::Paths,
        Shape::CookieRegexes,
        Shape::Mix,
    ];

    /// A short name for benchmark groups.
    pub fn name(self) -> &'static str {
        match self {
            Shape::SeedHosts => "a_seed_hosts",
            Shape::Paths => "b_path_prefixes",
            Shape::CookieRegexes => "c_cookie_regexes",
            Shape::Mix => "d_mix",
        }
    }

    /// The rule of frontend `i`.
    fn rule(self, i: usize) -> Rule {
        match self {
            Shape::SeedHosts => {
                let host = format!("Host:h{}.example.com", i / 2);
                if i.is_multiple_of(2) {
                    Rule::parse_v1(&[&host]).unwrap()
                } else {
                    Rule::parse_v1(&[&host, "HeadersRegexp:Cookie,_AUSER_TYPE=canary"]).unwrap()
                }
            }
            Shape::Paths => Rule::parse(
                &format!("Host(`api.example.com`) && PathPrefix(`/svc{i}/`)"),
                Syntax::V3,
            )
            .unwrap(),
            Shape::CookieRegexes => {
                if i.is_multiple_of(2) {
                    Rule::parse_v1(&[&format!("HeadersRegexp:Cookie,_BETA=feature{i}\\b")]).unwrap()
                } else {
                    Rule::parse(
                        &format!("CookieRegexp(`_BETA`, `^feature{i}$`)"),
                        Syntax::V3,
                    )
                    .unwrap()
                }
            }
            Shape::Mix => {
                let host = format!("Host(`h{}.example.com`)", i / 4);
                let text = match i % 4 {
                    0 => format!("{host} && Method(`POST`) && PathPrefix(`/api/`)"),
                    1 => format!("{host} && Query(`beta`, `1`)"),
                    2 => format!("{host} && ClientIP(`10.0.0.0/8`)"),
                    _ => host,
                };
                Rule::parse(&text, Syntax::V3).unwrap()
            }
        }
    }

    /// A table of `n` frontends of this shape, over two backends (`web`: the seed's 5:5:1
    /// round robin; `canary`: one server).
    pub fn config(self, n: usize) -> Config {
        let frontends = (0..n)
            .map(|i| {
                let rule = self.rule(i);
                Frontend {
                    name: format!("f{i:05}"),
                    backend: if i.is_multiple_of(2) { "web" } else { "canary" }.into(),
                    priority: rule.default_priority(),
                    rule,
                    pass_host_header: true,
                }
            })
            .collect();
        let server = |name: &str, weight| Server {
            name: name.into(),
            url: format!("http://{name}.internal"),
            uri: format!("http://{name}.internal").parse().unwrap(),
            weight,
            response: None,
        };
        let backend = |name: &str, servers| Backend {
            name: name.into(),
            servers,
            balance: Balance::Wrr,
            sticky: None,
            hash: None,
            health_check: None,
            tls: None,
        };
        Config {
            frontends,
            backends: vec![
                backend(
                    "web",
                    vec![
                        server("legacy_1", 5),
                        server("legacy_2", 5),
                        server("k8s", 1),
                    ],
                ),
                backend("canary", vec![server("k8s", 1)]),
            ],
            rollouts: Vec::new(),
            signed_cookies: Vec::new(),
            upgrade_protocols: vec!["websocket".to_owned()],
        }
    }

    /// The benchmark request for a table of `n` frontends, and its client address: it routes
    /// to a frontend near the middle of the priority order.
    pub fn request(self, n: usize) -> (http::Request<()>, Option<IpAddr>) {
        let mid = n / 2;
        let req = match self {
            Shape::SeedHosts => http::Request::get("/deals/42?tab=notes")
                .header("host", format!("h{}.example.com", mid / 2))
                .header("user-agent", "Mozilla/5.0")
                .header("cookie", COOKIE),
            Shape::Paths => http::Request::get(format!("/svc{mid}/items/42"))
                .header("host", "api.example.com")
                .header("cookie", COOKIE),
            Shape::CookieRegexes => http::Request::get("/deals/42")
                .header("host", "web.example.com")
                .header("cookie", format!("{COOKIE}; _BETA=feature{mid}")),
            Shape::Mix => http::Request::get("/home?tab=1&beta=1")
                .header("host", format!("h{}.example.com", mid / 4))
                .header("cookie", COOKIE),
        };
        let ip: IpAddr = [192, 0, 2, 1].into();
        (req.body(()).unwrap(), Some(ip))
    }
}
