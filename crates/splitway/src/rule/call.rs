//! One parsed matcher call of an expression rule (`Host(`a.com`)`), and the checks of its
//! arguments that the v3 and v2 builders share.

use std::ops::Range;

use super::build::{self, Arg};
use super::err;
use super::names::MatcherName;
use super::{Expr, Matcher, MatcherKind, RuleError, Syntax};

/// One call, once parsed: its name resolved, its string arguments read.
pub(super) struct Call<'t> {
    /// The matcher it names.
    pub(super) name: MatcherName,
    /// Its source text, `Host(`a.com`)`.
    pub(super) text: &'t str,
    /// Where that text is in the rule.
    pub(super) span: Range<usize>,
    /// Its arguments, in order.
    pub(super) args: Vec<Arg>,
}

impl Call<'_> {
    /// Refuses a call with fewer than `min` or more than `max` arguments (`what` says what
    /// they should be).
    pub(super) fn arity(&self, min: usize, max: usize, what: &str) -> Result<(), RuleError> {
        let n = self.args.len();
        if (min..=max).contains(&n) {
            return Ok(());
        }
        let count = if min == max {
            format!("{min}")
        } else if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} or {max}")
        };
        let plural = if min == 1 && max == 1 { "" } else { "s" };
        Err(err(
            format!(
                "`{}` takes {count} argument{plural} ({what}), found {n}",
                self.name
            ),
            self.span.clone(),
        ))
    }

    /// The nth argument of a call whose arity is checked.
    pub(super) fn arg(&self, n: usize) -> Result<&Arg, RuleError> {
        self.args.get(n).ok_or_else(|| {
            err(
                format!("`{}` is missing an argument", self.name),
                self.span.clone(),
            )
        })
    }

    /// The matcher of `kind`, with the call's text.
    pub(super) fn matcher(&self, kind: MatcherKind) -> Expr {
        Expr::Match(Matcher {
            kind,
            text: self.text.into(),
        })
    }

    /// The error for a name that resolution let through but `syntax` has no matcher for
    /// (resolution refuses those, so no rule text reaches it).
    pub(super) fn not_in(&self, syntax: Syntax) -> RuleError {
        err(
            format!("`{}` is not a {syntax} matcher", self.name),
            self.span.clone(),
        )
    }

    /// `Header`/`HeaderRegexp` (v3) and `Headers`/`HeadersRegexp` (v2): a header name and a
    /// value, compared exactly or searched by a regex.
    pub(super) fn header(&self, regex: bool) -> Result<Expr, RuleError> {
        self.arity(2, 2, "a header name and a value")?;
        let (k, v) = (self.arg(0)?, self.arg(1)?);
        let name = build::header_name(&k.value, k.span.clone())?;
        let kind = if regex {
            MatcherKind::HeaderRegex {
                name,
                regex: build::header_regex(&v.value, v.span.clone())?,
            }
        } else {
            MatcherKind::Header {
                name,
                value: v.value.clone(),
            }
        };
        Ok(self.matcher(kind))
    }

    /// `Cookie` and `CookieRegexp` (v2 and v3 alike): a cookie name and a value, compared
    /// exactly or searched by a regex.
    pub(super) fn cookie(&self, regex: bool) -> Result<Expr, RuleError> {
        self.arity(2, 2, "a cookie name and a value")?;
        let (k, v) = (self.arg(0)?, self.arg(1)?);
        let kind = if regex {
            MatcherKind::CookieRegex {
                name: k.value.clone(),
                regex: build::regex(&v.value, v.span.clone())?,
            }
        } else {
            MatcherKind::Cookie {
                name: k.value.clone(),
                value: v.value.clone(),
            }
        };
        Ok(self.matcher(kind))
    }
}
