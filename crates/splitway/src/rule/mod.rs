//! The rule language: Traefik v1 rule strings, v3 expressions and v2 expressions, parsed into
//! one AST of compiled matchers.
//!
//! ```
//! use splitway::rule::{Rule, Syntax};
//!
//! let v1 = Rule::parse_v1(&["Host:web.agendor.com.br", "HeadersRegexp:Cookie,_AUSER_TYPE=canary"]).unwrap();
//! let v3 = Rule::parse("Host(`web.agendor.com.br`) && Cookie(`_AUSER_TYPE`, `canary`)", Syntax::V3).unwrap();
//! assert_eq!(v1.default_priority(), 23 + 39);
//! assert_eq!(v3.syntax(), Syntax::V3);
//! ```
//!
//! A rule is refused past 64 KiB of text, 64 levels of `(` and `!`, or a regex that compiles
//! to more than 1 MiB.
//!
//! One concept a file: [`Rule`] and [`Syntax`] here; `lex`, `parse` and `call` read an
//! expression, `names` resolves matcher names (one `MatcherName` enum for every syntax),
//! `v3`, `v2` and `v1` build matchers, `build` holds the builders they share, `expr` and
//! `matcher` are the AST and its leaves, `rewrite` holds v1's path rewrites and applies them,
//! `print` writes rules back as text. The AST and the
//! matchers are public only with the unstable `internals` feature (crate docs).

mod build;
mod call;
mod expr;
mod lex;
mod limits;
mod matcher;
mod names;
mod parse;
mod print;
mod regex_go;
mod rewrite;
mod template;
mod v1;
mod v2;
mod v3;

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

// The crate's internals, public only for its own tests, fuzz targets and benches.
pub(crate) use self::rewrite::Rewritten;
#[cfg(feature = "internals")]
pub use self::{
    expr::Expr,
    limits::{MAX_RULE_DEPTH, MAX_RULE_LEN, REGEX_SIZE_LIMIT},
    matcher::{HostPattern, Matcher, MatcherKind, QueryOccurrence, QueryValue, ValueRegex},
    names::MatcherName,
    print::go_quote,
    rewrite::Rewrite,
};
#[cfg(not(feature = "internals"))]
pub(crate) use self::{
    expr::Expr,
    limits::{MAX_RULE_DEPTH, MAX_RULE_LEN, REGEX_SIZE_LIMIT},
    matcher::{HostPattern, Matcher, MatcherKind, QueryOccurrence, QueryValue, ValueRegex},
    rewrite::Rewrite,
};

use crate::request::RequestView;

/// Which rule language a rule is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Syntax {
    /// Traefik 1.7 rule strings: `Host:a.com;PathPrefix:/api`.
    V1,
    /// Traefik v2 expressions (list arguments, mux templates).
    V2,
    /// Traefik v3 expressions (the default for expressions).
    V3,
}

impl fmt::Display for Syntax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Syntax::V1 => "v1",
            Syntax::V2 => "v2",
            Syntax::V3 => "v3",
        })
    }
}

/// A parse error, located in the rule text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuleError {
    /// What is wrong.
    pub message: String,
    /// For a list of v1 rule strings, the index of the string at fault (else 0).
    pub part: usize,
    /// Byte range in that rule string that the error points at.
    pub span: Range<usize>,
}

/// A parsed, compiled rule: its source text, its syntax, its AST and its rewrites.
///
/// Cloning is cheap and allocates nothing: the parts are shared (a table compiled from a
/// configuration copies every rule, and a copied regex would allocate a cache pool).
#[derive(Debug, Clone)]
pub struct Rule {
    syntax: Syntax,
    /// The rule strings as written (one for expressions, one or more for v1 lists).
    texts: Arc<[String]>,
    expr: Arc<Expr>,
    rewrites: Arc<[Rewrite]>,
}

/// Why a rule did or did not match one request (see [`Rule::explain`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMatch {
    /// Whether the rule matched.
    pub matched: bool,
    /// When it did not, the source text of the first matcher that failed
    /// (for `||`, the last alternative tried; for `!`, the negated text).
    pub failed: Option<String>,
}

impl Rule {
    /// Parses one rule string in `syntax` (for [`Syntax::V1`], one `;`-separated string).
    pub fn parse(text: &str, syntax: Syntax) -> Result<Rule, RuleError> {
        match syntax {
            Syntax::V1 => Rule::parse_v1(&[text]),
            Syntax::V2 | Syntax::V3 => parse::parse(text, syntax),
        }
    }

    /// Parses a list of v1 rule strings, all of which must match (the seed's `rules:` list and
    /// the routes of a Traefik v1 frontend).
    pub fn parse_v1(texts: &[&str]) -> Result<Rule, RuleError> {
        v1::parse(texts)
    }

    /// Tells which syntax a lone `rule:` string is in: v1 when its first token is a matcher
    /// name followed by `:` (`Host:a.com`), an expression otherwise.
    pub fn looks_like_v1(text: &str) -> bool {
        v1::looks_like_v1(text)
    }

    /// The syntax the rule was written in.
    pub fn syntax(&self) -> Syntax {
        self.syntax
    }

    /// The rule strings as written.
    pub fn texts(&self) -> &[String] {
        &self.texts
    }

    internal! {
        /// The AST.
        fn expr(&self) -> &Expr {
            &self.expr
        }
    }

    internal! {
        /// Path rewrites the proxy applies (v1 `PathStrip`, `AddPrefix`, ...), in rule order.
        #[cfg_attr(not(feature = "internals"), allow(dead_code))]
        fn rewrites(&self) -> &[Rewrite] {
            &self.rewrites
        }
    }

    /// `path` (escaped, as received) after the rule's rewrites; `None` when it has none.
    pub(crate) fn rewrite_path(&self, path: &str) -> Option<rewrite::Rewritten> {
        rewrite::apply(&self.rewrites, path)
    }

    /// Traefik's default priority: the rule text's length in bytes, summed over a v1 list.
    pub fn default_priority(&self) -> i64 {
        let len: usize = self.texts.iter().map(String::len).sum();
        i64::try_from(len).unwrap_or(i64::MAX)
    }

    /// Whether the rule matches `req`.
    pub fn matches(&self, req: &RequestView<'_>) -> bool {
        self.expr.eval(req)
    }

    /// Whether the rule matches `req`, and if not, which matcher failed.
    pub fn explain(&self, req: &RequestView<'_>) -> RuleMatch {
        match self.expr.first_failure(req) {
            None => RuleMatch {
                matched: true,
                failed: None,
            },
            Some(text) => RuleMatch {
                matched: false,
                failed: Some(text),
            },
        }
    }
}

/// An error located at `span` of the rule text (part 0; v1 lists set the part later).
pub(super) fn err(message: impl Into<String>, span: Range<usize>) -> RuleError {
    RuleError {
        message: message.into(),
        part: 0,
        span,
    }
}
