//! Static checks on a compiled table: frontends that can never win.

use std::collections::{HashMap, HashSet};

use crate::rule::{Expr, MatcherKind, Rule, Syntax};

/// A frontend that can never win, and the frontend that always beats it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadowed {
    /// The frontend that can never win.
    pub frontend: String,
    /// A frontend tried before it that matches every request it matches.
    pub by: String,
}

/// An earlier frontend's position and top-level conditions.
type Earlier = (usize, HashSet<String>);

/// Finds frontends shadowed by an earlier one whose top-level conditions are a subset of
/// theirs (identical rules being the plain case): whatever the later one matches, the earlier
/// one matches too, and it is tried first.
pub(super) fn shadowed(frontends: &[(&str, &Rule)]) -> Vec<Shadowed> {
    // Earlier frontends, keyed by one of their conditions (the smallest), so that each
    // frontend is compared only with those that share at least one condition with it.
    let mut by_key: HashMap<(Syntax, String), Vec<Earlier>> = HashMap::new();
    let mut unconditional: Option<usize> = None;
    let mut found = Vec::new();
    for (pos, &(name, rule)) in frontends.iter().enumerate() {
        let syntax = rule.syntax();
        let conds = conditions(rule.expr());
        let by = unconditional.or_else(|| {
            conds.iter().find_map(|c| {
                by_key
                    .get(&(syntax, c.clone()))?
                    .iter()
                    .find(|(_, earlier)| earlier.is_subset(&conds))
                    .map(|(p, _)| *p)
            })
        });
        if let Some((by, _)) = by.and_then(|p| frontends.get(p)) {
            found.push(Shadowed {
                frontend: name.to_owned(),
                by: (*by).to_owned(),
            });
            continue;
        }
        match conds.iter().min() {
            None => {
                unconditional.get_or_insert(pos);
            }
            Some(key) => by_key
                .entry((syntax, key.clone()))
                .or_default()
                .push((pos, conds.clone())),
        }
    }
    found
}

/// The conditions ANDed at the top of a rule, as canonical text; matchers that match every
/// request are left out.
fn conditions(expr: &Expr) -> HashSet<String> {
    let mut out = HashSet::new();
    collect(expr, &mut out);
    out
}

fn collect(expr: &Expr, out: &mut HashSet<String>) {
    match expr {
        Expr::And(children) => children.iter().for_each(|c| collect(c, out)),
        Expr::Match(m) if matches!(m.kind, MatcherKind::Always) => {}
        other => {
            out.insert(canonical(other));
        }
    }
}

fn canonical(expr: &Expr) -> String {
    match expr {
        Expr::Match(m) => m.text().split_whitespace().collect::<Vec<_>>().join(" "),
        Expr::Not(e) => format!("!{}", canonical(e)),
        Expr::And(es) => {
            let mut parts: Vec<String> = es.iter().map(canonical).collect();
            parts.sort();
            format!("({})", parts.join(" && "))
        }
        Expr::Or(es) => {
            let mut parts: Vec<String> = es.iter().map(canonical).collect();
            parts.sort();
            format!("({})", parts.join(" || "))
        }
    }
}
