//! The exact-host index: which frontends a request with a given host can match.

use std::collections::HashMap;
use std::iter::Peekable;
use std::slice;

use crate::rule::{Expr, HostPattern, MatcherKind, Rule};

/// Frontend positions (in priority order) by the exact host their rule requires, plus the
/// positions of frontends that require none.
#[derive(Debug, Default)]
pub(super) struct HostIndex {
    by_host: HashMap<Box<str>, Vec<usize>>,
    hostless: Vec<usize>,
}

impl HostIndex {
    /// Indexes rules given in priority order.
    pub(super) fn build<'r>(rules: impl Iterator<Item = &'r Rule>) -> Self {
        let mut index = HostIndex::default();
        for (pos, rule) in rules.enumerate() {
            match required_hosts(rule.expr()) {
                Some(hosts) => {
                    for host in hosts {
                        let list = index.by_host.entry(host.into()).or_default();
                        // A host listed twice in one rule must not list the frontend twice.
                        if list.last() != Some(&pos) {
                            list.push(pos);
                        }
                    }
                }
                None => index.hostless.push(pos),
            }
        }
        index
    }

    /// Positions to try, in priority order, for a request whose normalised host is `host`.
    pub(super) fn candidates(&self, host: Option<&str>) -> Candidates<'_> {
        let for_host: &[usize] = host
            .and_then(|h| self.by_host.get(h))
            .map_or(&[], Vec::as_slice);
        Candidates {
            a: for_host.iter().peekable(),
            b: self.hostless.iter().peekable(),
        }
    }
}

/// The merge of two ascending position lists.
#[derive(Debug, Clone)]
pub(crate) struct Candidates<'t> {
    a: Peekable<slice::Iter<'t, usize>>,
    b: Peekable<slice::Iter<'t, usize>>,
}

impl Iterator for Candidates<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        match (self.a.peek(), self.b.peek()) {
            (Some(&&a), Some(&&b)) => {
                if a < b {
                    self.a.next().copied()
                } else {
                    self.b.next().copied()
                }
            }
            (Some(_), None) => self.a.next().copied(),
            (None, _) => self.b.next().copied(),
        }
    }
}

/// The exact hosts one of which a request must have for `expr` to hold, if the rule says so
/// in a way that can be seen from its shape: a host matcher of exact names at the top level,
/// or inside a top-level conjunction, or in every branch of a disjunction.
fn required_hosts(expr: &Expr) -> Option<Vec<String>> {
    match expr {
        Expr::Match(m) => match &m.kind {
            MatcherKind::Host(patterns) => patterns
                .iter()
                .map(|p| match p {
                    HostPattern::Exact(h) => Some(h.clone()),
                    HostPattern::OneLabelThen(_) | HostPattern::Any => None,
                })
                .collect(),
            _ => None,
        },
        Expr::And(children) => children.iter().find_map(required_hosts),
        Expr::Or(children) if !children.is_empty() => {
            let mut all = Vec::new();
            for child in children {
                all.extend(required_hosts(child)?);
            }
            Some(all)
        }
        Expr::Or(_) | Expr::Not(_) => None,
    }
}
