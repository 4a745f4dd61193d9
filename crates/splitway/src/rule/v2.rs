//! The v2 builder: one expression call into a matcher, with Traefik v2's gorilla/mux
//! meanings (lists of values, templates, the first occurrence of a query key), built by the
//! same list and template builders as v1's.

use super::build;
use super::call::Call;
use super::err;
use super::expr::flatten;
use super::names::MatcherName;
use super::{Expr, Matcher, MatcherKind, QueryOccurrence, RuleError, Syntax};
use crate::request::PathForm;

/// The matcher of one v2 call.
pub(super) fn build(call: Call<'_>) -> Result<Expr, RuleError> {
    let any = usize::MAX;
    let kind = match call.name {
        MatcherName::Host | MatcherName::HostHeader => {
            call.arity(1, any, "host names")?;
            build::host_list(call.name, &call.args)?
        }
        MatcherName::HostRegexp => {
            call.arity(1, any, "host templates")?;
            build::host_templates(call.name, &call.args)?
        }
        MatcherName::Path | MatcherName::PathPrefix => {
            call.arity(1, any, "path templates")?;
            let prefix = call.name == MatcherName::PathPrefix;
            let templated = call.args.iter().any(|a| a.value.contains('{'));
            build::path_list(call.name, &call.args, PathForm::Routing, prefix, templated)?
        }
        MatcherName::Method => {
            call.arity(1, any, "methods")?;
            build::methods(&call.args)
        }
        MatcherName::Headers => return call.header(false),
        MatcherName::HeadersRegexp => return call.header(true),
        MatcherName::Query => return query(&call),
        MatcherName::ClientIP => {
            call.arity(1, any, "IP addresses or CIDR networks")?;
            let nets = call
                .args
                .iter()
                .map(|a| build::client_net(&a.value, a.span.clone()))
                .collect::<Result<Vec<_>, _>>()?;
            MatcherKind::ClientIp(nets)
        }
        MatcherName::Cookie => return call.cookie(false),
        MatcherName::CookieRegexp => return call.cookie(true),
        MatcherName::PathRegexp
        | MatcherName::PathStrip
        | MatcherName::PathStripRegex
        | MatcherName::PathPrefixStrip
        | MatcherName::PathPrefixStripRegex
        | MatcherName::Header
        | MatcherName::HeaderRegexp
        | MatcherName::QueryRegexp
        | MatcherName::AddPrefix
        | MatcherName::ReplacePath
        | MatcherName::ReplacePathRegex => return Err(call.not_in(Syntax::V2)),
    };
    Ok(call.matcher(kind))
}

/// `Query(`k=v`, ...)`: every pair must hold, each tested at the key's first occurrence.
fn query(call: &Call<'_>) -> Result<Expr, RuleError> {
    call.arity(1, usize::MAX, "`key=value` pairs")?;
    let mut all = Vec::with_capacity(call.args.len());
    for a in &call.args {
        let Some((key, value)) = a.value.split_once('=') else {
            return Err(err(
                format!(
                    "`Query` argument `{}` must be `key=value` (or `key=` for any value)",
                    a.value
                ),
                a.span.clone(),
            ));
        };
        let value = build::query_template_value(value, a.span.clone())?;
        // Each pair's matcher gets its own text, `Query(<this argument>)`: giving each one
        // the whole call's text copied it once per argument, so a 60 KB rule of 10,000
        // pairs held 600 MB.
        let arg_text = a
            .span
            .start
            .checked_sub(call.span.start)
            .zip(a.span.end.checked_sub(call.span.start))
            .and_then(|(s, e)| call.text.get(s..e))
            .filter(|_| call.args.len() > 1);
        all.push(Expr::Match(Matcher {
            kind: MatcherKind::Query {
                key: key.to_owned(),
                value,
                occurrence: QueryOccurrence::First,
            },
            text: match arg_text {
                Some(arg) => format!("{}({arg})", call.name).into(),
                None => call.text.into(),
            },
        }));
    }
    Ok(flatten(all, true))
}
