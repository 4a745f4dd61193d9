//! splitway routes each HTTP request by rules to a stable, canary or weighted set of servers,
//! and lets a running service swap its whole rule table without dropping a request.
//!
//! The data flow, one module a step:
//!
//! ```text
//! config text ──config──▶ Config ──Table::compile──▶ Table ──route──▶ Decision
//!  (YAML/TOML)  (rule parses      (validated)        (immutable,       (route, backend,
//!               rule strings)                         indexed)          server, cookie)
//!                                                        │
//!                               balance: per backend, wrr / random / sticky / cohort hash,
//!                               over per-server atomics (health, stats) that outlive reloads
//!
//! Router = ArcSwap<Table>: `route` never blocks; `reload`, `set_weight(s)` swap a whole Table;
//! `set_health` flips an atomic; `servers` reads every server's weight, health and counters
//! from one Table.
//!
//! Exchange (one per request, in the tower layer and the proxy alike):
//!   begin ──▶ own_response (404 / 503) or rewrite_request (the frontend's path rewrites),
//!             the server's response + complete_response (cookie)
//!         ──▶ finish(status): the server's counters and the request metrics
//! ```
//!
//! - [`config`]: the file formats into a validated [`config::Config`], every problem located.
//! - [`rule`]: the rule language (Traefik v1 strings, v2/v3 expressions), one AST.
//! - [`RequestView`]: what rules look at, borrowed from an `http::Request`.
//! - [`Table`] / [`Router`] / [`Decision`]: the compiled table, the handle, the outcome.
//! - [`Exchange`], [`telemetry`](mod@telemetry): what a decision means for the response, and
//!   the request metrics' contract, for every integration.
//! - [`signed_cookie`]: cookies that rules believe only when signed (the request as rules
//!   see it has their verified values, or none).
//! - [`stats`], [`guide`]: per-server counters and their snapshot; which server-choice method
//!   fits which phase.
//! - [`rollout`]: guarded progressive rollouts: share to weights, the analysis, the state
//!   machine, as pure functions of the counters and a clock passed in.
//! - `reference` (with the `internals` feature): the plain interpreter the table is tested
//!   (and benchmarked) against.
//!
//! Errors: loading a file is a [`diag::ConfigError`] (every problem located); compiling a
//! [`config::Config`] built by hand is a [`TableError`]; an edit of one server is an
//! [`EditError`]; a rule parsed on its own is a [`rule::RuleError`].
//!
//! ```
//! use splitway::{Router, config::{Config, Format}};
//!
//! let yaml = r#"
//! frontends:
//!   web:
//!     rules: ["Host:web.agendor.com.br"]
//!   web_canary:
//!     rules: ["Host:web.agendor.com.br", "HeadersRegexp:Cookie,_AUSER_TYPE=canary"]
//! backends:
//!   web:
//!     - name: legacy_1
//!       url: "http://legacy-1.internal"
//!   web_canary:
//!     - name: k8s
//!       url: "http://agendor-web-canary.production.svc.cluster.local"
//! "#;
//! let config = Config::from_str(yaml, Format::Yaml, "aws.yaml").unwrap().config;
//! let router = Router::from_config(&config).unwrap();
//!
//! let request = http::Request::get("http://web.agendor.com.br/deals")
//!     .header("cookie", "_AUSER_TYPE=canary")
//!     .body(())
//!     .unwrap();
//! let decision = router.route(&splitway::RequestView::from_request(&request, None));
//! assert_eq!(decision.route(), Some("web_canary"));
//! assert_eq!(decision.server().map(|s| s.name()), Some("k8s"));
//! ```
//!
//! # Cargo features
//!
//! - `internals` (off by default): makes public the rule language's inner parts (the AST
//!   `rule::Expr`, its matchers, `rule::MatcherName`, `Rule::expr`, `Rule::rewrites`,
//!   `rule::go_quote`, the limits `rule::MAX_RULE_LEN`, `rule::MAX_RULE_DEPTH`,
//!   `rule::REGEX_SIZE_LIMIT` and `request::MAX_COOKIE_PAIRS`), and the plain interpreter
//!   `reference` that the table is tested and benchmarked against, for the project's own
//!   tests, fuzz targets and benchmarks. **Unstable**: not covered by semver, and they expose the
//!   `regex` crate's types; do not enable it in code that depends on splitway.

/// Declares an item `pub` with the `internals` feature and `pub(crate)` without it (see the
/// crate docs): for items of public modules and types; the private modules' items are
/// re-exported under the same condition.
macro_rules! internal {
    ($(#[$attr:meta])* $kind:ident $($rest:tt)*) => {
        #[cfg(feature = "internals")]
        $(#[$attr])* pub $kind $($rest)*
        #[cfg(not(feature = "internals"))]
        $(#[$attr])* pub(crate) $kind $($rest)*
    };
}

pub mod config;
pub mod diag;
pub mod guide;
#[cfg(feature = "internals")]
pub mod reference;
pub mod request;
pub mod rollout;
pub mod rule;
pub mod signed_cookie;
pub mod stats;
pub mod telemetry;

mod balance;
mod decision;
mod exchange;
mod router;
mod table;

pub use decision::{Candidate, CohortStanding, Decision, Explanation, ServerRef, Status};
pub use exchange::{Exchange, FORWARDED_PREFIX, REPLACED_PATH, RETRY_AFTER_SECONDS, RewriteError};
pub use request::RequestView;
pub use router::{EditError, Router};
pub use stats::{ServerSnapshot, ServerStats};
pub use table::{Shadowed, Table, TableError};

/// The project README's examples, compiled and run as doc-tests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// This crate's README (the one crates.io shows), its example run as a doc-test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct CrateReadmeDoctests;
