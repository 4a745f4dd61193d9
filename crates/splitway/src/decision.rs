//! What the router decided for one request, and why.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::Guard;

use crate::config::FixedResponse;
use crate::rule::Rewritten;
use crate::table::{Outcome, Table};
use crate::telemetry;

/// The outcome class of a decision, as the HTTP status a proxy answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// A server was chosen (200: the request is forwarded).
    Routed,
    /// No frontend matched (404).
    NoRoute,
    /// A frontend matched but its backend has no server available (503).
    NoServer,
    /// The chosen server is a fixed response with this HTTP status (a `status:` server):
    /// the integration answers it itself.
    Fixed(u16),
}

impl Status {
    /// The HTTP status code: 200, 404 or 503.
    pub fn code(self) -> u16 {
        match self {
            Status::Routed => 200,
            Status::NoRoute => 404,
            Status::NoServer => 503,
            Status::Fixed(code) => code,
        }
    }

    /// The outcome in words: `routed`, `no route`, `no server available` (what `explain`
    /// prints, and the text of the integrations' own 404 and 503).
    pub fn reason(self) -> &'static str {
        match self {
            Status::Routed => "routed",
            Status::NoRoute => "no route",
            Status::NoServer => "no server available",
            Status::Fixed(_) => "fixed response",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// The decision for one request: the matched frontend, its backend and the chosen server.
///
/// It keeps the table it was made from alive, so it stays valid (and consistent) across a
/// reload that happens while the request is in flight. Cloning it is cheap; it is `Send`,
/// `Sync` and `'static`, so it can go into a request's extensions.
///
/// An integration that answers requests turns it into a response through an
/// [`crate::Exchange`] (own 404 and 503, the cookie, the recorded outcome).
pub struct Decision {
    /// The table, held through `arc-swap`'s guard: for a decision from [`crate::Router::route`]
    /// this is a slot in a per-thread list rather than a count in the table's `Arc`, so that
    /// concurrent decisions do not all write to one shared counter (a reload turns the slot
    /// into a full count). A clone, and the decision an [`crate::Exchange`] keeps while its
    /// request is in flight, hold a counted reference: a thread has only a few slots, and
    /// with all of them held every later decision on it takes the slower path.
    table: Guard<Arc<Table>>,
    outcome: Outcome,
    set_cookie: Option<Box<str>>,
}

impl Decision {
    pub(crate) fn new(
        table: Guard<Arc<Table>>,
        outcome: Outcome,
        set_cookie: Option<Box<str>>,
    ) -> Self {
        Decision {
            table,
            outcome,
            set_cookie,
        }
    }

    /// The whole `Set-Cookie` header value the response must carry (`NAME=VALUE; Path=/; ...`):
    /// a sticky cookie naming the chosen server, or a cohort id issued by `issue_cookie`.
    /// `None` when the request's own cookie was honoured.
    pub fn set_cookie(&self) -> Option<&str> {
        self.set_cookie.as_deref()
    }

    /// 200 (routed), 404 (no route), 503 (no server), or a fixed-response server's code.
    #[inline]
    pub fn status(&self) -> Status {
        match self.outcome {
            Outcome::NoRoute => Status::NoRoute,
            Outcome::NoServer { .. } => Status::NoServer,
            Outcome::Server { fixed: None, .. } => Status::Routed,
            Outcome::Server {
                fixed: Some(code), ..
            } => Status::Fixed(code),
        }
    }

    fn frontend_index(&self) -> Option<usize> {
        match self.outcome {
            Outcome::NoRoute => None,
            Outcome::NoServer { frontend } | Outcome::Server { frontend, .. } => Some(frontend),
        }
    }

    /// The matched frontend's name.
    pub fn route(&self) -> Option<&str> {
        let f = self.table.frontends.get(self.frontend_index()?)?;
        Some(&f.name)
    }

    /// The `Upgrade` protocols the configuration this decision was made on lets a proxy
    /// forward (`upgrade_protocols`, lowercase; `websocket` by default). Read from the
    /// decision's own table, so that a reload changes them together with the rules.
    pub fn upgrade_protocols(&self) -> &[String] {
        &self.table.config().upgrade_protocols
    }

    /// The matched frontend's priority.
    pub fn priority(&self) -> Option<i64> {
        Some(self.table.frontends.get(self.frontend_index()?)?.priority)
    }

    /// Whether a proxy should send the client's `Host` header upstream (the frontend's
    /// `pass_host_header`, true by default) rather than the server's host. `None` when no
    /// frontend matched.
    pub fn pass_host_header(&self) -> Option<bool> {
        Some(
            self.table
                .frontends
                .get(self.frontend_index()?)?
                .pass_host_header,
        )
    }

    /// The path the server will see for a request whose path (escaped, as received, without
    /// the query) is `original_path`: the matched frontend's v1 path rewrites applied
    /// (`PathStrip`, `PathPrefixStrip`, `PathStripRegex`, `PathPrefixStripRegex`,
    /// `AddPrefix`, `ReplacePath`, `ReplacePathRegex`, as Traefik 1.7 chains them), or
    /// `original_path` itself, borrowed, when it has none or no frontend matched.
    ///
    /// Computed only when asked: [`crate::Router::route`] does no rewriting.
    /// [`crate::Exchange::rewrite_request`] applies it to a request, with its headers.
    ///
    /// ```
    /// use splitway::{RequestView, Router};
    /// use splitway::config::{Config, Format};
    ///
    /// let yaml = r#"
    /// frontends:
    ///   api: {rules: ["Host:web.agendor.com.br;PathPrefixStrip:/api"]}
    /// backends:
    ///   api: [{name: k8s, url: "http://api.internal"}]
    /// "#;
    /// let config = Config::from_str(yaml, Format::Yaml, "inline.yaml").unwrap().config;
    /// let router = Router::from_config(&config).unwrap();
    /// let request = http::Request::get("http://web.agendor.com.br/api/deals?tab=1").body(()).unwrap();
    /// let decision = router.route(&RequestView::from_request(&request, None));
    /// assert_eq!(decision.rewritten_path(request.uri().path()), "/deals");
    /// ```
    pub fn rewritten_path<'p>(&self, original_path: &'p str) -> Cow<'p, str> {
        match self.path_rewrite(original_path) {
            Some(rewritten) => Cow::Owned(rewritten.path),
            None => Cow::Borrowed(original_path),
        }
    }

    /// The matched frontend's rewrites applied to `original_path`; `None` when it has none.
    pub(crate) fn path_rewrite(&self, original_path: &str) -> Option<Rewritten> {
        let f = self.table.frontends.get(self.frontend_index()?)?;
        f.rule.rewrite_path(original_path)
    }

    /// The matched frontend's backend name.
    pub fn backend(&self) -> Option<&str> {
        let f = self.table.frontends.get(self.frontend_index()?)?;
        Some(&self.table.backends.get(f.backend)?.name)
    }

    /// The matched backend's `tls` settings: how the proxy verifies its `https` servers
    /// (`None`: against the system's roots, by the URL's host).
    pub fn upstream_tls(&self) -> Option<&crate::config::UpstreamTls> {
        let f = self.table.frontends.get(self.frontend_index()?)?;
        self.table.config().backends.get(f.backend)?.tls.as_ref()
    }

    /// Records the response to this request in the chosen server's counters (see
    /// [`crate::Router::servers`]). Does nothing when no server was chosen.
    /// [`crate::Exchange::finish`] calls this.
    pub fn record(&self, status: u16, elapsed: Duration) {
        let Outcome::Server {
            frontend, server, ..
        } = self.outcome
        else {
            return;
        };
        let state = self
            .table
            .frontends
            .get(frontend)
            .and_then(|f| self.table.backends.get(f.backend))
            .and_then(|b| b.balancer.state(server));
        if let Some(state) = state {
            state.counters.record(status, elapsed);
        }
    }

    /// Records the response to this request in the request metrics (see
    /// [`crate::telemetry`](mod@crate::telemetry)).
    pub(crate) fn record_metrics(&self, status: u16, elapsed: Duration) {
        let t = &*self.table;
        let Some(frontend) = self.frontend_index().and_then(|f| t.frontends.get(f)) else {
            telemetry::unserved_response(&t.unrouted, "", status);
            telemetry::route_response(&t.unrouted_route, "", status);
            return;
        };
        telemetry::route_response(&frontend.metrics, &frontend.name, status);
        let Some(backend) = t.backends.get(frontend.backend) else {
            return;
        };
        let chosen = match self.outcome {
            Outcome::Server { server, .. } => backend
                .balancer
                .state(server)
                .zip(backend.servers.get(server)),
            _ => None,
        };
        match chosen {
            Some((state, s)) => {
                telemetry::server_response(&state.metrics, &backend.name, &s.name, status, elapsed)
            }
            None => telemetry::unserved_response(&backend.unserved, &backend.name, status),
        }
    }

    /// The chosen server.
    pub fn server(&self) -> Option<ServerRef<'_>> {
        let Outcome::Server {
            frontend, server, ..
        } = self.outcome
        else {
            return None;
        };
        let f = self.table.frontends.get(frontend)?;
        let s = self.table.backends.get(f.backend)?.servers.get(server)?;
        Some(ServerRef {
            name: &s.name,
            url: &s.url,
            uri: &s.uri,
            weight: s.weight,
            response: s.response.as_ref(),
        })
    }
}

impl Clone for Decision {
    fn clone(&self) -> Self {
        Decision {
            table: Guard::from_inner(Arc::clone(&self.table)),
            outcome: self.outcome,
            set_cookie: self.set_cookie.clone(),
        }
    }
}

impl fmt::Debug for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decision")
            .field("status", &self.status())
            .field("route", &self.route())
            .field("backend", &self.backend())
            .field("server", &self.server().map(|s| s.name))
            .field("set_cookie", &self.set_cookie)
            .finish()
    }
}

/// A server chosen by a decision.
#[derive(Debug, Clone, Copy)]
pub struct ServerRef<'a> {
    name: &'a str,
    url: &'a str,
    uri: &'a http::Uri,
    weight: u32,
    response: Option<&'a FixedResponse>,
}

impl<'a> ServerRef<'a> {
    /// Its name, unique in its backend.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// Its URL as written in the configuration.
    pub fn url(&self) -> &'a str {
        self.url
    }

    /// Its URL, parsed.
    pub fn uri(&self) -> &'a http::Uri {
        self.uri
    }

    /// Its configured weight.
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// The fixed response this server gives instead of being called (`status:`), if it is one.
    pub fn response(&self) -> Option<&'a FixedResponse> {
        self.response
    }
}

/// A decision with the frontends tried to reach it.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// The decision (made exactly as [`crate::Router::route`] makes it).
    pub decision: Decision,
    /// The frontends tried, in order, up to and including the one that matched.
    pub candidates: Vec<Candidate>,
    /// For a backend with a cohort `hash` and a request that carries its key: every server's
    /// standing for this user.
    pub cohort: Option<Vec<CohortStanding>>,
}

/// One server's standing for one user of a cohort-hash backend.
#[derive(Debug, Clone, PartialEq)]
pub struct CohortStanding {
    /// The server's name.
    pub server: String,
    /// Its configured weight.
    pub weight: u32,
    /// Whether it can take new users (up, weight above 0).
    pub eligible: bool,
    /// Its rendezvous score for this user (weight × factor; the highest eligible one wins).
    pub score: f64,
    /// For a server that does not have this user: the smallest weight at which it would take
    /// the user over, the others' weights unchanged ("at what canary weight does this account
    /// join the canary?"). `None` for the chosen server, a server that is down, or when no
    /// weight up to the maximum would do.
    pub takeover_weight: Option<u32>,
}

/// One frontend tried while deciding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The frontend's name.
    pub route: String,
    /// Its effective priority.
    pub priority: i64,
    /// Whether its rule matched.
    pub matched: bool,
    /// When it did not match: the source text of the matcher that failed.
    pub failed: Option<String>,
}
