//! splitway routes each HTTP request by rules to a stable, canary or weighted set of servers,
//! and lets a running service swap its whole rule table without dropping a request.
//!
//! The data flow, one module a step:
//!
//! ```text
//! config text ──config──▶ Config ──Table::compile──▶ Table ──route──▶ Decision
//!  (YAML/TOML)  (rule parses     (validated)          (immutable,       (route, backend,
//!               rule strings)                          indexed)          server, status)
//!                                   Router = ArcSwap<Table>: reload swaps a whole Table
//! ```
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

pub mod config;
pub mod diag;
pub mod guide;
pub mod reference;
pub mod request;
pub mod rule;
pub mod stats;

mod balance;
mod decision;
mod router;
mod table;

pub use decision::{Candidate, CohortStanding, Decision, Explanation, ServerRef, Status};
pub use request::RequestView;
pub use router::{Router, UnknownServer, WeightError};
pub use stats::ServerStats;
pub use table::{Shadowed, Table, TableError};

/// The README's examples, compiled and run as doc-tests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
