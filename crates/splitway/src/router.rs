//! The handle services hold: route requests, explain decisions, swap tables.

use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwap, Guard};

use std::path::Path;

use crate::config::MAX_WEIGHT;
use crate::config::{Config, Format, Loaded};
use crate::decision::{Candidate, CohortStanding, Decision, Explanation};
use crate::diag::{ConfigError, Diagnostic, Severity};
use crate::request::RequestView;
use crate::stats::ServerSnapshot;
use crate::table::{CompiledBackend, Outcome, Table, TableError};

/// Why a change to one server ([`Router::set_weight`], [`Router::set_health`]) was refused.
/// The table in service is untouched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// The table in service has no such backend, or no such server in it.
    #[error("no server `{server}` in backend `{backend}`")]
    UnknownServer {
        /// The backend named.
        backend: String,
        /// The server named.
        server: String,
    },
    /// A weight above [`MAX_WEIGHT`].
    #[error("weight {weight} is above the maximum of {MAX_WEIGHT}")]
    WeightTooLarge {
        /// The weight asked for.
        weight: u32,
    },
    /// The edited table did not compile. A weight within the cap changes nothing compiling
    /// checks, so this does not happen to a table that compiled; it exists so that an edit
    /// never has to panic.
    #[error(transparent)]
    Compile(TableError),
}

/// The backend called `backend` and the index of its server called `server`.
fn find_server<'t>(
    table: &'t Table,
    backend: &str,
    server: &str,
) -> Result<(&'t CompiledBackend, usize), EditError> {
    let unknown = || EditError::UnknownServer {
        backend: backend.to_owned(),
        server: server.to_owned(),
    };
    let b = table
        .backend_index(backend)
        .and_then(|i| table.backends.get(i))
        .ok_or_else(unknown)?;
    let s = b.server_index(server).ok_or_else(unknown)?;
    Ok((b, s))
}

/// A cheap-to-clone handle on the table in service.
///
/// Every clone sees the same table. [`Router::route`] never blocks: it reads the current
/// table through an [`ArcSwap`], so a [`Router::reload`] running on another thread is never
/// waited for, and a decision is made wholly on the old table or wholly on the new one.
#[derive(Debug, Clone)]
pub struct Router {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    table: ArcSwap<Table>,
    /// Tables taken out of service that decisions may still hold. The thread that swaps
    /// tables frees them once no decision does (see [`Router::retire`]), so that a request
    /// never pays for freeing a table (milliseconds for ten thousand frontends).
    retired: Mutex<Vec<Arc<Table>>>,
}

impl Router {
    /// A router serving `table`.
    pub fn new(table: Table) -> Router {
        Router {
            shared: Arc::new(Shared {
                table: ArcSwap::from_pointee(table),
                retired: Mutex::new(Vec::new()),
            }),
        }
    }

    fn table(&self) -> &ArcSwap<Table> {
        &self.shared.table
    }

    /// Keeps `old`, just taken out of service, until no decision holds it, and frees the
    /// retired tables that no decision holds any more. A retired table still in use is freed
    /// by a later swap (or with the router).
    fn retire(&self, old: Arc<Table>) {
        let mut retired = match self.shared.retired.lock() {
            Ok(guard) => guard,
            // Nothing a panic could have left half-done: the list only holds tables.
            Err(poisoned) => poisoned.into_inner(),
        };
        retired.push(old);
        // A retired table is out of the `ArcSwap`, so a new reference can only be cloned from
        // an existing one: with a count of one, the list's is the last, and it stays so.
        retired.retain(|table| Arc::strong_count(table) > 1);
    }

    /// A router serving the compiled form of `config`.
    pub fn from_config(config: &Config) -> Result<Router, TableError> {
        Ok(Router::new(Table::compile(config)?))
    }

    /// Decides where `req` goes.
    ///
    /// The cheapest decision to take and drop (it allocates nothing and writes no shared
    /// counter). It may be kept as long as needed; an integration that keeps one for a whole
    /// request uses an [`crate::Exchange`], which also turns it into the response.
    pub fn route(&self, req: &RequestView<'_>) -> Decision {
        let table = self.table().load();
        let (outcome, set_cookie) = table.decide(req);
        Decision::new(table, outcome, set_cookie)
    }

    /// [`Router::route`], holding the table by a counted reference: for a decision kept while
    /// a request is in flight, where a guard would hold one of its thread's few fast slots.
    pub(crate) fn route_kept(&self, req: &RequestView<'_>) -> Decision {
        let table = Guard::from_inner(self.table().load_full());
        let (outcome, set_cookie) = table.decide(req);
        Decision::new(table, outcome, set_cookie)
    }

    /// Records a response the integration gave before any decision (e.g. the proxy's 503 when
    /// too many requests are in flight) in the request metrics, as a 404 is recorded: empty
    /// `backend`, `server` and `route`. No server's counters, and so no rollout's analysis,
    /// see it.
    pub fn record_unrouted(&self, status: u16) {
        let table = self.table().load();
        crate::telemetry::unserved_response(&table.unrouted, "", status);
        crate::telemetry::route_response(&table.unrouted_route, "", status);
    }

    /// Decides where `req` goes, listing the frontends tried and why each did not match.
    ///
    /// The decision is made as [`Router::route`] makes it (it advances round-robin state
    /// the same way).
    pub fn explain(&self, req: &RequestView<'_>) -> Explanation {
        let table = self.table().load_full();
        table.with_verified_cookies(req, |req| explain_on(Arc::clone(&table), req))
    }

    /// Compiles `config` and puts it in service. Servers that keep their backend, name and
    /// URL keep their health. On error the table in service is untouched.
    ///
    /// Decisions already made keep the table they were made on; the replaced table is freed
    /// by this call or a later swap (reload, weight change) once no decision holds it, so a
    /// request never pays for freeing a table.
    pub fn reload(&self, config: &Config) -> Result<(), TableError> {
        let previous = self.table().load();
        let table = Table::compile_after(config, Some(&previous))?;
        drop(previous);
        let old = self.table().swap(Arc::new(table));
        self.retire(old);
        Ok(())
    }

    /// Marks a server up or down (what the proxy's health checks do). Every method skips
    /// servers that are down, sticky cookies naming them included; with none left a decision
    /// is a 503. Returns whether the mark changed anything.
    pub fn set_health(
        &self,
        backend: &str,
        server: &str,
        healthy: bool,
    ) -> Result<bool, EditError> {
        let table = self.table().load();
        let (b, s) = find_server(&table, backend, server)?;
        Ok(b.balancer.set_healthy(s, healthy))
    }

    /// Every server of the table in service, in configuration order: backend, name, URL,
    /// weight, health and counters, all read from one table.
    pub fn servers(&self) -> Vec<ServerSnapshot> {
        let table = self.table().load();
        table
            .backends
            .iter()
            .flat_map(|b| (0..b.servers.len()).filter_map(move |i| snapshot(b, i)))
            .collect()
    }

    /// One server of the table in service (see [`Router::servers`]); `None` when the table has
    /// no such backend or server.
    pub fn server(&self, backend: &str, server: &str) -> Option<ServerSnapshot> {
        let table = self.table().load();
        let (b, s) = find_server(&table, backend, server).ok()?;
        snapshot(b, s)
    }

    /// Changes one server's weight (0 drains it: no new users, sticky ones stay) by swapping in
    /// a table compiled from the current configuration with that one change. Concurrent
    /// edits and reloads are serialised by compare-and-swap: none is lost.
    pub fn set_weight(&self, backend: &str, server: &str, weight: u32) -> Result<(), EditError> {
        self.set_weights(backend, &[(server, weight)])
    }

    /// Changes several servers' weights of one backend in one table swap, so that no request
    /// sees some of the changes without the others (a rollout's step moves the canary and
    /// the stable servers together: a cohort user must never see a half-made step). As
    /// [`Router::set_weight`]: compare-and-swap, and on any error (an unknown server, a
    /// weight above the cap) nothing changes.
    pub fn set_weights(&self, backend: &str, weights: &[(&str, u32)]) -> Result<(), EditError> {
        if let Some(&(_, weight)) = weights.iter().find(|(_, w)| *w > MAX_WEIGHT) {
            return Err(EditError::WeightTooLarge { weight });
        }
        loop {
            let current = self.table().load_full();
            for (server, _) in weights {
                find_server(&current, backend, server)?;
            }
            let mut config = current.config().clone();
            for s in config
                .backends
                .iter_mut()
                .filter(|b| b.name == backend)
                .flat_map(|b| b.servers.iter_mut())
            {
                if let Some((_, w)) = weights.iter().find(|(name, _)| *name == s.name) {
                    s.weight = *w;
                }
            }
            let next = Arc::new(
                Table::compile_after(&config, Some(&current)).map_err(EditError::Compile)?,
            );
            let swapped = self.table().compare_and_swap(&current, next);
            if Arc::ptr_eq(&swapped, &current) {
                drop(swapped);
                self.retire(current);
                return Ok(());
            }
        }
    }

    /// Loads, validates and compiles configuration text, then puts it in service. Returns the
    /// warnings. On any error the table in service is untouched.
    pub fn reload_str(
        &self,
        text: &str,
        format: Format,
        file: &str,
    ) -> Result<Vec<Diagnostic>, ConfigError> {
        self.reload_loaded(Config::from_str(text, format, file)?, file)
    }

    /// Reads, validates and compiles a configuration file, then puts it in service. Returns
    /// the warnings. On any error the table in service is untouched.
    pub fn reload_file(&self, path: &Path) -> Result<Vec<Diagnostic>, ConfigError> {
        let loaded = Config::from_file(path)?;
        self.reload_loaded(loaded, &path.display().to_string())
    }

    fn reload_loaded(&self, loaded: Loaded, file: &str) -> Result<Vec<Diagnostic>, ConfigError> {
        self.reload(&loaded.config).map_err(|e| ConfigError {
            // The loader validates everything compiling checks, so this is a backstop; it has
            // no position in the text to give.
            diagnostics: vec![Diagnostic::unlocated(Severity::Error, file, e.to_string())],
        })?;
        Ok(loaded.warnings)
    }

    /// The table in service now.
    pub fn snapshot(&self) -> Arc<Table> {
        self.table().load_full()
    }
}

/// [`Router::explain`] on `table`, for a request whose signed cookies are verified.
fn explain_on(table: Arc<Table>, req: &RequestView<'_>) -> Explanation {
    let mut candidates = Vec::new();
    let mut winner = None;
    for pos in table.candidates(req) {
        let Some(f) = table.frontends.get(pos) else {
            continue;
        };
        let m = f.rule.explain(req);
        candidates.push(Candidate {
            route: f.name.to_string(),
            priority: f.priority,
            matched: m.matched,
            failed: m.failed,
        });
        if m.matched {
            winner = Some(pos);
            break;
        }
    }
    let (outcome, set_cookie) = match winner {
        Some(frontend) => table.pick(frontend, req),
        None => (Outcome::NoRoute, None),
    };
    let cohort = winner
        .and_then(|f| table.frontends.get(f))
        .and_then(|f| table.backends.get(f.backend))
        .and_then(|b| {
            let scores = b.balancer.cohort_scores(req)?;
            Some(
                scores
                    .into_iter()
                    .filter_map(|s| {
                        let server = b.servers.get(s.server)?;
                        Some(CohortStanding {
                            server: server.name.clone(),
                            weight: server.weight,
                            eligible: s.eligible,
                            score: s.score,
                            takeover_weight: s.takeover_weight,
                        })
                    })
                    .collect(),
            )
        });
    Explanation {
        decision: Decision::new(Guard::from_inner(table), outcome, set_cookie),
        candidates,
        cohort,
    }
}

/// Server `i` of backend `b`, read once.
fn snapshot(b: &CompiledBackend, i: usize) -> Option<ServerSnapshot> {
    let server = b.servers.get(i)?;
    let state = b.balancer.state(i)?;
    Some(ServerSnapshot {
        backend: b.name.to_string(),
        server: server.name.clone(),
        url: server.url.clone(),
        weight: server.weight,
        healthy: state.is_healthy(),
        stats: state.counters.snapshot(),
    })
}
