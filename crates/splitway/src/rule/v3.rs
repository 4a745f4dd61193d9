//! The v3 builder: one expression call into a matcher, with Traefik v3's arities (one value
//! a call) and meanings (`Host(`*.a.com`)` wildcards, unanchored regexes, any occurrence of a
//! query key).

use std::ops::Range;

use super::build;
use super::call::Call;
use super::err;
use super::names::MatcherName;
use super::{Expr, HostPattern, MatcherKind, QueryOccurrence, QueryValue, RuleError, Syntax};
use crate::request::PathForm;

/// The matcher of one v3 call.
pub(super) fn build(call: Call<'_>) -> Result<Expr, RuleError> {
    let kind = match call.name {
        MatcherName::Host => {
            call.arity(1, 1, "a host name")?;
            let a = call.arg(0)?;
            build::ascii_host(&a.value, call.name, a.span.clone())?;
            hostname_chars(&a.value, a.span.clone())?;
            let pattern = if a.value == "*" {
                HostPattern::Any
            } else if let Some(rest) = a.value.strip_prefix("*.") {
                let suffix = rest.strip_suffix('.').unwrap_or(rest);
                HostPattern::OneLabelThen(format!(".{}", suffix.to_ascii_lowercase()))
            } else {
                build::exact_host(&a.value)
            };
            MatcherKind::Host(vec![pattern])
        }
        MatcherName::HostRegexp => {
            call.arity(1, 1, "a regex")?;
            let a = call.arg(0)?;
            build::ascii_host(&a.value, call.name, a.span.clone())?;
            MatcherKind::HostRegex(vec![build::regex(&a.value, a.span.clone())?])
        }
        MatcherName::Path => {
            call.arity(1, 1, "a path")?;
            build::path_list(call.name, &call.args, PathForm::Routing, false, false)?
        }
        MatcherName::PathPrefix => {
            call.arity(1, 1, "a path prefix")?;
            build::path_list(call.name, &call.args, PathForm::Routing, true, false)?
        }
        MatcherName::PathRegexp => {
            call.arity(1, 1, "a regex")?;
            let a = call.arg(0)?;
            MatcherKind::PathRegex(
                PathForm::Routing,
                vec![build::regex(&a.value, a.span.clone())?],
            )
        }
        MatcherName::Method => {
            call.arity(1, 1, "a method")?;
            build::methods(&call.args)
        }
        MatcherName::Header => return call.header(false),
        MatcherName::HeaderRegexp => return call.header(true),
        MatcherName::Query => {
            call.arity(1, 2, "a key, and optionally a value")?;
            let key = call.arg(0)?.value.clone();
            let value = call
                .args
                .get(1)
                .map(|a| a.value.clone())
                .unwrap_or_default();
            MatcherKind::Query {
                key,
                value: QueryValue::Equals(value),
                occurrence: QueryOccurrence::Any,
            }
        }
        MatcherName::QueryRegexp => {
            call.arity(2, 2, "a key and a regex")?;
            let (k, v) = (call.arg(0)?, call.arg(1)?);
            MatcherKind::Query {
                key: k.value.clone(),
                value: QueryValue::Regex(build::regex(&v.value, v.span.clone())?),
                occurrence: QueryOccurrence::Any,
            }
        }
        MatcherName::ClientIP => {
            call.arity(1, 1, "an IP address or CIDR network")?;
            let a = call.arg(0)?;
            MatcherKind::ClientIp(vec![build::client_net(&a.value, a.span.clone())?])
        }
        MatcherName::Cookie => return call.cookie(false),
        MatcherName::CookieRegexp => return call.cookie(true),
        MatcherName::HostHeader
        | MatcherName::PathStrip
        | MatcherName::PathStripRegex
        | MatcherName::PathPrefixStrip
        | MatcherName::PathPrefixStripRegex
        | MatcherName::Headers
        | MatcherName::HeadersRegexp
        | MatcherName::AddPrefix
        | MatcherName::ReplacePath
        | MatcherName::ReplacePathRegex => return Err(call.not_in(Syntax::V3)),
    };
    Ok(call.matcher(kind))
}

/// Refuses a v3 `Host` value that cannot be a host name or IP literal (Traefik v3's
/// `Host(`/`)` is a config error): letters, digits, `-`, `.`, `_`, the `:` and `[]` of IPv6
/// literals and the `*` of wildcards only.
fn hostname_chars(host: &str, span: Range<usize>) -> Result<(), RuleError> {
    match host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-._:[]*".contains(*c)))
    {
        None => Ok(()),
        Some(c) => Err(err(
            format!("`Host` value `{host}` is not a host name (`{c}` cannot appear in one)"),
            span,
        )),
    }
}
