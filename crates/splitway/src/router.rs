//! The handle services hold: route requests, explain decisions, swap tables.

use std::sync::Arc;

use arc_swap::ArcSwap;

use std::path::Path;

use crate::config::{Config, Format, Loaded};
use crate::diag::{ConfigError, Diagnostic, Severity};
use crate::decision::{Candidate, Decision, Explanation};
use crate::request::RequestView;
use crate::table::{Outcome, Table, TableError};

/// A cheap-to-clone handle on the table in service.
///
/// Every clone sees the same table. [`Router::route`] never blocks: it reads the current
/// table through an [`ArcSwap`], so a [`Router::reload`] running on another thread is never
/// waited for, and a decision is made wholly on the old table or wholly on the new one.
#[derive(Debug, Clone)]
pub struct Router {
    table: Arc<ArcSwap<Table>>,
}

impl Router {
    /// A router serving `table`.
    pub fn new(table: Table) -> Router {
        Router {
            table: Arc::new(ArcSwap::from_pointee(table)),
        }
    }

    /// A router serving the compiled form of `config`.
    pub fn from_config(config: &Config) -> Result<Router, TableError> {
        Ok(Router::new(Table::compile(config)?))
    }

    /// Decides where `req` goes.
    pub fn route(&self, req: &RequestView<'_>) -> Decision {
        let table = self.table.load_full();
        let outcome = table.decide(req);
        Decision::new(table, outcome)
    }

    /// Decides where `req` goes, listing the frontends tried and why each did not match.
    ///
    /// The decision is made as [`Router::route`] makes it (it advances round-robin state
    /// the same way).
    pub fn explain(&self, req: &RequestView<'_>) -> Explanation {
        let table = self.table.load_full();
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
        let outcome = match winner {
            Some(frontend) => table.pick(frontend),
            None => Outcome::NoRoute,
        };
        Explanation {
            decision: Decision::new(table, outcome),
            candidates,
        }
    }

    /// Compiles `config` and puts it in service. On error the table in service is untouched.
    pub fn reload(&self, config: &Config) -> Result<(), TableError> {
        let table = Table::compile(config)?;
        self.table.store(Arc::new(table));
        Ok(())
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
            // The loader validates everything compiling checks; this is a backstop.
            diagnostics: vec![Diagnostic {
                severity: Severity::Error,
                file: file.to_owned(),
                line: 1,
                col: 1,
                message: e.to_string(),
            }],
        })?;
        Ok(loaded.warnings)
    }

    /// The table in service now.
    pub fn snapshot(&self) -> Arc<Table> {
        self.table.load_full()
    }
}
