//! The compiled, immutable route table.
//!
//! Frontends are sorted once by priority (highest first; ties by name, the name that sorts
//! first winning) so that "first match wins" is the whole decision rule. Frontends whose rule
//! requires an exact host (`Host:a.com` in a v1 list, `Host(`a.com`) && ...` at the top of an
//! expression) are indexed by that host: a decision looks only at the frontends of the
//! request's host plus those that do not name a host, merged in priority order, so the number
//! of exact-host routes does not change its cost.

mod index;
mod lint;

use std::collections::HashMap;

use crate::balance::SmoothWrr;
use crate::config::{Backend, Config, Server};
use crate::request::RequestView;
use crate::rule::Rule;

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
    hosts: index::HostIndex,
}

#[derive(Debug)]
pub(crate) struct CompiledFrontend {
    pub(crate) name: Box<str>,
    pub(crate) rule: Rule,
    pub(crate) priority: i64,
    pub(crate) backend: usize,
}

#[derive(Debug)]
pub(crate) struct CompiledBackend {
    pub(crate) name: Box<str>,
    pub(crate) servers: Vec<Server>,
    wrr: SmoothWrr,
}

/// What a table decided, by index into itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// No frontend matched.
    NoRoute,
    /// Frontend matched; its backend has no server to offer.
    NoServer { frontend: usize },
    /// Frontend matched and this server of its backend was chosen.
    Server { frontend: usize, server: usize },
}

impl Table {
    /// Compiles a configuration.
    pub fn compile(config: &Config) -> Result<Table, TableError> {
        let mut backend_index: HashMap<&str, usize> = HashMap::new();
        let mut backends = Vec::with_capacity(config.backends.len());
        for (i, b) in config.backends.iter().enumerate() {
            if backend_index.insert(&b.name, i).is_some() {
                return Err(TableError::DuplicateName {
                    what: "backend",
                    name: b.name.clone(),
                });
            }
            backends.push(CompiledBackend::new(b));
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
                priority: f.priority,
                backend,
            });
        }
        frontends.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.name.cmp(&b.name)));
        if u32::try_from(frontends.len()).is_err() {
            return Err(TableError::TooMany("frontends"));
        }
        let hosts = index::HostIndex::build(frontends.iter().map(|f| &f.rule));
        Ok(Table {
            frontends,
            backends,
            hosts,
        })
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
        lint::shadowed(&self.frontends)
    }

    /// The first matching frontend, by index, without picking a server.
    pub(crate) fn find(&self, req: &RequestView<'_>) -> Option<usize> {
        self.candidates(req)
            .find(|&i| self.frontends.get(i).is_some_and(|f| f.rule.matches(req)))
    }

    /// Frontend positions in the order they are tried for this request.
    pub(crate) fn candidates(&self, req: &RequestView<'_>) -> index::Candidates<'_> {
        self.hosts.candidates(req.host())
    }

    /// The whole decision: frontend, then a server of its backend.
    pub(crate) fn decide(&self, req: &RequestView<'_>) -> Outcome {
        let Some(frontend) = self.find(req) else {
            return Outcome::NoRoute;
        };
        self.pick(frontend)
    }

    /// Picks a server of `frontend`'s backend.
    pub(crate) fn pick(&self, frontend: usize) -> Outcome {
        let server = self
            .frontends
            .get(frontend)
            .and_then(|f| self.backends.get(f.backend))
            .and_then(|b| b.wrr.pick());
        match server {
            Some(server) => Outcome::Server { frontend, server },
            None => Outcome::NoServer { frontend },
        }
    }
}

impl CompiledBackend {
    fn new(b: &Backend) -> Self {
        let weights: Vec<u32> = b.servers.iter().map(|s| s.weight).collect();
        CompiledBackend {
            name: b.name.as_str().into(),
            servers: b.servers.clone(),
            wrr: SmoothWrr::new(&weights),
        }
    }
}
