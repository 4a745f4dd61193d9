//! The AST every syntax parses into: matchers combined with `!`, `&&` and `||`, and how it
//! is evaluated and explained against a request.
// Without the `internals` feature these items are crate-private; with it they are public.
#![cfg_attr(not(feature = "internals"), allow(unreachable_pub))]

use super::Matcher;
use crate::request::RequestView;

/// A boolean combination of matchers: the AST every syntax parses into.
#[derive(Debug, Clone)]
pub enum Expr {
    /// One matcher.
    Match(Matcher),
    /// Negation.
    Not(Box<Expr>),
    /// All must hold (an empty `And` holds).
    And(Vec<Expr>),
    /// Any must hold (an empty `Or` does not hold).
    Or(Vec<Expr>),
}

impl Expr {
    /// Evaluates the expression against a request.
    pub fn eval(&self, req: &RequestView<'_>) -> bool {
        match self {
            Expr::Match(m) => m.matches(req),
            Expr::Not(e) => !e.eval(req),
            Expr::And(es) => es.iter().all(|e| e.eval(req)),
            Expr::Or(es) => es.iter().any(|e| e.eval(req)),
        }
    }

    /// `None` when the expression holds, else the source text of a matcher that made it fail.
    pub(super) fn first_failure(&self, req: &RequestView<'_>) -> Option<String> {
        match self {
            Expr::Match(m) => (!m.matches(req)).then(|| m.text().to_owned()),
            Expr::Not(e) => e.eval(req).then(|| format!("!{}", e.describe())),
            Expr::And(es) => es.iter().find_map(|e| e.first_failure(req)),
            Expr::Or(es) => {
                let mut last = None;
                for e in es {
                    match e.first_failure(req) {
                        None => return None,
                        Some(t) => last = Some(t),
                    }
                }
                Some(last.unwrap_or_else(|| "(empty alternative)".to_owned()))
            }
        }
    }

    /// A short text for the expression, from its matchers' source texts.
    fn describe(&self) -> String {
        match self {
            Expr::Match(m) => m.text().to_owned(),
            Expr::Not(e) => format!("!{}", e.describe()),
            Expr::And(es) => join(es, " && "),
            Expr::Or(es) => join(es, " || "),
        }
    }
}

fn join(es: &[Expr], sep: &str) -> String {
    let parts: Vec<String> = es.iter().map(Expr::describe).collect();
    format!("({})", parts.join(sep))
}

/// Joins parsed operands, splicing in operands that are already the same operator.
pub(super) fn flatten(mut items: Vec<Expr>, and: bool) -> Expr {
    if items.len() == 1
        && let Some(only) = items.pop()
    {
        return only;
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Expr::And(inner) if and => out.extend(inner),
            Expr::Or(inner) if !and => out.extend(inner),
            other => out.push(other),
        }
    }
    if and { Expr::And(out) } else { Expr::Or(out) }
}
