//! A plain reference interpreter: the meaning of a configuration, with no index and no
//! compiled form.
//!
//! It sorts the frontends by priority (ties by name) and walks each rule's AST in turn. The
//! [`crate::Table`] must decide exactly as this does; property tests and fuzz targets compare
//! the two, and the benchmarks use it as the naive baseline (what Traefik and ingress-nginx do:
//! scan routes in priority order).

use crate::config::{Config, Frontend};
use crate::request::RequestView;

/// The frontends of `config` in the order they are tried.
pub fn ordered(config: &Config) -> Vec<&Frontend> {
    let mut frontends: Vec<&Frontend> = config.frontends.iter().collect();
    frontends.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.name.cmp(&b.name)));
    frontends
}

/// The frontend that `req` goes to, scanning `ordered` (from [`ordered`]) from the start.
pub fn route<'c>(ordered: &[&'c Frontend], req: &RequestView<'_>) -> Option<&'c Frontend> {
    ordered.iter().copied().find(|f| f.rule.expr().eval(req))
}
