//! The compiled, immutable route table.
//!
//! Frontends are sorted once by priority (highest first; ties by name, the name that sorts
//! first winning) so that "first match wins" is the whole decision rule. An index (see
//! `index.rs`) then narrows the frontends a request can match: by the exact host a rule
//! requires (`Host:a.com` in a v1 list, `Host(`a.com`) && ...` at the top of an expression),
//! then, inside one host, by the path prefix it requires (`paths.rs`) or by the header or
//! cookie regex it requires (one automaton per header, `regex_set.rs`). A decision evaluates
//! only those frontends, smallest position first, so the number of routes does not change its
//! cost, and it allocates nothing and takes no lock.

mod hosts;
mod index;
mod lint;
mod paths;
mod regex_set;

use std::collections::HashMap;
use std::sync::Arc;

use crate::balance::{Balancer, Pick, ServerState};
use crate::config::{Backend, Config, Server};
use crate::request::RequestView;
use crate::rule::Rule;
use crate::signed_cookie;
use crate::telemetry::ClassCounters;

pub use lint::Shadowed;

/// An error building a [`Table`] from a [`Config`] that was not produced by the loader (the
/// loader already reports these, located, as config errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// A frontend names a backend that the config does not have.
    #[error("frontend `{frontend}` routes to unknown backend `{backend}`")]
    UnknownBackend {
        /// The frontend.
        frontend: String,
        /// The backend it names.
        backend: String,
    },
    /// Two frontends or two backends share a name.
    #[error("duplicate {what} name `{name}`")]
    DuplicateName {
        /// `frontend` or `backend`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// More frontends, backends or servers than an index can hold.
    #[error("too many {0}")]
    TooMany(&'static str),
}

/// The compiled form of a [`Config`]: immutable once built, shared by every decision.
#[derive(Debug)]
pub struct Table {
    /// Sorted by priority, highest first, ties by name.
    pub(crate) frontends: Vec<CompiledFrontend>,
    pub(crate) backends: Vec<CompiledBackend>,
    index: index::Index,
    /// The configuration it was compiled from, for edits such as a weight change.
    config: Config,
    /// `splitway_requests_total` of 404s (no route: no backend, no server).
    pub(crate) unrouted: ClassCounters,
    /// `splitway_route_requests_total` of 404s (empty route).
    pub(crate) unrouted_route: ClassCounters,
}

#[derive(Debug)]
pub(crate) struct CompiledFrontend {
    pub(crate) name: Box<str>,
    /// The rule, shared with the table's [`Config`] (a `Rule` clone copies three `Arc`s;
    /// the compiled regexes are not copied).
    pub(crate) rule: Rule,
    pub(crate) priority: i64,
    pub(crate) backend: usize,
    /// Whether a proxy keeps the client's `Host` header upstream.
    pub(crate) pass_host_header: bool,
    /// `splitway_route_requests_total` for this route, registered on its first response.
    pub(crate) metrics: ClassCounters,
}

#[derive(Debug)]
pub(crate) struct CompiledBackend {
    pub(crate) name: Box<str>,
    pub(crate) servers: Vec<Server>,
    pub(crate) balancer: Balancer,
    /// `splitway_requests_total` for this backend's 503s without a server.
    pub(crate) unserved: ClassCounters,
}

/// What a table decided, by index into itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// No frontend matched.
    NoRoute,
    /// Frontend matched; its backend has no server to offer.
    NoServer { frontend: usize },
    /// Frontend matched and this server of its backend was chosen.
    /// `fixed`: the server's status when it is a fixed response (read here, where the backend
    /// is at hand, so that a decision's status needs no lookup).
    Server {
        frontend: usize,
        server: usize,
        fixed: Option<u16>,
    },
}

impl Table {
    /// Compiles a configuration.
    pub fn compile(config: &Config) -> Result<Table, TableError> {
        Table::compile_after(config, None)
    }

    /// Compiles a configuration that replaces `previous`: servers that keep their backend,
    /// name and URL keep their state (health).
    pub fn compile_after(config: &Config, previous: Option<&Table>) -> Result<Table, TableError> {
        let inherited = previous.map(Table::server_states).unwrap_or_default();
        let mut backend_index: HashMap<&str, usize> = HashMap::new();
        let mut backends = Vec::with_capacity(config.backends.len());
        for (i, b) in config.backends.iter().enumerate() {
            if backend_index.insert(&b.name, i).is_some() {
                return Err(TableError::DuplicateName {
                    what: "backend",
                    name: b.name.clone(),
                });
            }
            backends.push(CompiledBackend::new(
                b,
                &inherited,
                config.rollout(&b.name).is_some(),
            ));
        }

        let mut frontends = Vec::with_capacity(config.frontends.len());
        let mut seen = HashMap::new();
        for f in &config.frontends {
            if seen.insert(f.name.as_str(), ()).is_some() {
                return Err(TableError::DuplicateName {
                    what: "frontend",
                    name: f.name.clone(),
                });
            }
            let backend = *backend_index.get(f.backend.as_str()).ok_or_else(|| {
                TableError::UnknownBackend {
                    frontend: f.name.clone(),
                    backend: f.backend.clone(),
                }
            })?;
            frontends.push(CompiledFrontend {
                name: f.name.as_str().into(),
                rule: f.rule.clone(),
                pass_host_header: f.pass_host_header,
                priority: f.priority,
                backend,
                metrics: ClassCounters::default(),
            });
        }
        frontends.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.name.cmp(&b.name)));
        if u32::try_from(frontends.len()).is_err() {
            return Err(TableError::TooMany("frontends"));
        }
        let config = config.clone();
        let index = index::Index::build(frontends.iter().map(|f| &f.rule));
        Ok(Table {
            frontends,
            backends,
            index,
            config,
            unrouted: ClassCounters::default(),
            unrouted_route: ClassCounters::default(),
        })
    }

    /// Every server's shared state, by (backend, server name, URL).
    fn server_states(&self) -> HashMap<(&str, &str, &str), Arc<ServerState>> {
        let mut out = HashMap::new();
        for b in &self.backends {
            for (i, s) in b.servers.iter().enumerate() {
                if let Some(state) = b.balancer.state(i) {
                    out.insert(
                        (&*b.name, s.name.as_str(), s.url.as_str()),
                        Arc::clone(state),
                    );
                }
            }
        }
        out
    }

    /// The configuration this table was compiled from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The backend called `name`, by index.
    pub(crate) fn backend_index(&self, name: &str) -> Option<usize> {
        self.backends.iter().position(|b| &*b.name == name)
    }

    /// Number of frontends.
    pub fn len(&self) -> usize {
        self.frontends.len()
    }

    /// Whether the table has no frontend.
    pub fn is_empty(&self) -> bool {
        self.frontends.is_empty()
    }

    /// Frontend names in the order they are tried (priority, then name).
    pub fn frontend_names(&self) -> impl Iterator<Item = &str> {
        self.frontends.iter().map(|f| &*f.name)
    }

    /// Frontends that can never win, as far as can be seen without a request.
    pub fn shadowed(&self) -> Vec<Shadowed> {
        let rules: Vec<(&str, &Rule)> =
            self.frontends.iter().map(|f| (&*f.name, &f.rule)).collect();
        lint::shadowed(&rules)
    }

    /// The first matching frontend, by index, without picking a server.
    #[inline]
    pub(crate) fn find(&self, req: &RequestView<'_>) -> Option<usize> {
        self.index
            .find(req, |i, proven| {
                self.frontends
                    .get(i as usize)
                    .is_some_and(|f| proven.eval(f.rule.expr(), req))
            })
            .map(|i| i as usize)
    }

    /// Frontend positions that `req` can match, in the order they are tried (for
    /// explanations: this allocates, [`Table::find`] does not).
    pub(crate) fn candidates(&self, req: &RequestView<'_>) -> Vec<usize> {
        self.index.candidates(req)
    }

    /// Runs `f` on the request as rules see it: with the configured signed cookies replaced
    /// by their verified values, or removed (see [`crate::signed_cookie`]). With none
    /// configured, or none in the request, that is `req` itself, and nothing is allocated.
    #[inline]
    pub(crate) fn with_verified_cookies<R>(
        &self,
        req: &RequestView<'_>,
        f: impl FnOnce(&RequestView<'_>) -> R,
    ) -> R {
        let signed = &self.config.signed_cookies;
        if signed.is_empty() {
            return f(req);
        }
        match signed_cookie::verified_headers(signed, req.headers(), || req.unix_now()) {
            Some(headers) => f(&req.with_headers(&headers)),
            None => f(req),
        }
    }

    /// The whole decision: frontend, then a server of its backend, and the cookie to set.
    #[inline]
    pub(crate) fn decide(&self, req: &RequestView<'_>) -> (Outcome, Option<Box<str>>) {
        if self.config.signed_cookies.is_empty() {
            return self.decide_verified(req);
        }
        self.decide_with_signed_cookies(req)
    }

    /// [`Table::decide`] with signed cookies configured: kept out of line, so that the
    /// decision without them carries none of its code (its frame holds a whole `HeaderMap`).
    #[inline(never)]
    fn decide_with_signed_cookies(&self, req: &RequestView<'_>) -> (Outcome, Option<Box<str>>) {
        self.with_verified_cookies(req, |req| self.decide_verified(req))
    }

    /// [`Table::decide`] on a request whose signed cookies are verified.
    #[inline]
    fn decide_verified(&self, req: &RequestView<'_>) -> (Outcome, Option<Box<str>>) {
        match self.find(req) {
            Some(frontend) => self.pick(frontend, req),
            None => (Outcome::NoRoute, None),
        }
    }

    /// Picks a server of `frontend`'s backend for `req`.
    pub(crate) fn pick(
        &self,
        frontend: usize,
        req: &RequestView<'_>,
    ) -> (Outcome, Option<Box<str>>) {
        let backend = self
            .frontends
            .get(frontend)
            .and_then(|f| self.backends.get(f.backend));
        let pick = backend.map(|b| b.balancer.pick(req)).unwrap_or_default();
        match pick {
            Pick {
                server: Some(server),
                set_cookie,
            } => {
                let fixed = backend
                    .and_then(|b| b.servers.get(server))
                    .and_then(|s| s.response.as_ref())
                    .map(|r| r.status);
                let outcome = Outcome::Server {
                    frontend,
                    server,
                    fixed,
                };
                (outcome, set_cookie)
            }
            Pick { server: None, .. } => (Outcome::NoServer { frontend }, None),
        }
    }
}

impl CompiledBackend {
    fn new(
        b: &Backend,
        inherited: &HashMap<(&str, &str, &str), Arc<ServerState>>,
        in_rollout: bool,
    ) -> Self {
        let states = b
            .servers
            .iter()
            .map(|s| {
                let state: Arc<ServerState> = inherited
                    .get(&(b.name.as_str(), s.name.as_str(), s.url.as_str()))
                    .cloned()
                    .unwrap_or_default();
                if in_rollout {
                    // So that `increase()` sees a server's first answers, 5xx included.
                    state.metrics.register_at_zero(&b.name, &s.name);
                }
                state
            })
            .collect();
        CompiledBackend {
            name: b.name.as_str().into(),
            servers: b.servers.clone(),
            balancer: Balancer::new(b, states, in_rollout),
            unserved: ClassCounters::default(),
        }
    }

    /// The index of the server called `name`.
    pub(crate) fn server_index(&self, name: &str) -> Option<usize> {
        self.servers.iter().position(|s| s.name == name)
    }
}
