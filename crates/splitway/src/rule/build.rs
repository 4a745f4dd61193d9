//! Matcher constructors shared by the v1 and expression parsers: each checks one argument and
//! reports a problem as a [`RuleError`] pointing at that argument. The gorilla/mux matchers
//! that v1 and v2 rules both have (host lists, host and path templates, query values) are
//! built here once for both.

use std::net::IpAddr;
use std::ops::Range;

use http::HeaderName;
use ipnet::IpNet;
use regex::Regex;

use super::names::MatcherName;
use super::template::{self, TemplateKind};
use super::{HostPattern, MatcherKind, QueryValue, RuleError, ValueRegex, err, regex_go};
use crate::request::PathForm;

/// One argument of a matcher, with its span in the rule text.
pub(super) struct Arg {
    /// The value (escapes applied, white space trimmed in v1).
    pub(super) value: String,
    /// Where it is written.
    pub(super) span: Range<usize>,
}

/// A Go regex, compiled with the size limits.
pub(super) fn regex(re: &str, span: Range<usize>) -> Result<Regex, RuleError> {
    regex_go::compile(re).map_err(|m| err(m, span))
}

/// A Go regex for header values, compiled to search bytes.
pub(super) fn header_regex(re: &str, span: Range<usize>) -> Result<ValueRegex, RuleError> {
    regex_go::compile_bytes(re).map_err(|m| err(m, span))
}

/// A mux template, compiled.
pub(super) fn template(
    tpl: &str,
    kind: TemplateKind,
    span: Range<usize>,
) -> Result<Regex, RuleError> {
    let re = template::to_regex(tpl, kind).map_err(|m| err(m, span.clone()))?;
    regex_go::compile(&re).map_err(|m| err(format!("in template `{tpl}`: {m}"), span))
}

/// A header name.
pub(super) fn header_name(name: &str, span: Range<usize>) -> Result<HeaderName, RuleError> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| err(format!("`{name}` is not a valid header name"), span))
}

/// Refuses a host or host regex with non-ASCII text (hosts on the wire are ASCII; write
/// internationalised names in their `xn--` form).
pub(super) fn ascii_host(
    host: &str,
    matcher: MatcherName,
    span: Range<usize>,
) -> Result<(), RuleError> {
    if host.is_ascii() {
        Ok(())
    } else {
        Err(err(
            format!(
                "`{matcher}` value `{host}` has non-ASCII characters; write the host in its \
                 ASCII (punycode `xn--`) form"
            ),
            span,
        ))
    }
}

/// An exact host: lowercased, without trailing dot.
pub(super) fn exact_host(host: &str) -> HostPattern {
    let host = host.strip_suffix('.').unwrap_or(host);
    HostPattern::Exact(host.to_ascii_lowercase())
}

/// An IP address (a one-address network) or a CIDR network.
pub(super) fn client_net(text: &str, span: Range<usize>) -> Result<IpNet, RuleError> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net);
    }
    text.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
        err(
            format!(
                "`{text}` is not an IP address or CIDR network (e.g. `10.0.0.1`, \
                 `10.0.0.0/8`, `2001:db8::/32`)"
            ),
            span,
        )
    })
}

/// Refuses a path value that does not start with `/`.
pub(super) fn slash(name: MatcherName, a: &Arg) -> Result<(), RuleError> {
    if a.value.starts_with('/') {
        Ok(())
    } else {
        Err(err(
            format!("`{name}` value `{}` must start with `/`", a.value),
            a.span.clone(),
        ))
    }
}

/// Exact hosts, any of them (v1 `Host`, v2 `Host` and `HostHeader`).
pub(super) fn host_list(name: MatcherName, args: &[Arg]) -> Result<MatcherKind, RuleError> {
    let mut hosts = Vec::with_capacity(args.len());
    for a in args {
        ascii_host(&a.value, name, a.span.clone())?;
        hosts.push(exact_host(&a.value));
    }
    Ok(MatcherKind::Host(hosts))
}

/// Host templates, any of them (v1 and v2 `HostRegexp`).
pub(super) fn host_templates(name: MatcherName, args: &[Arg]) -> Result<MatcherKind, RuleError> {
    let mut regexes = Vec::with_capacity(args.len());
    for a in args {
        ascii_host(&a.value, name, a.span.clone())?;
        regexes.push(template(&a.value, TemplateKind::Host, a.span.clone())?);
    }
    Ok(MatcherKind::HostRegex(regexes))
}

/// Whole paths or path prefixes, any of them, each starting with `/` (v1 `Path` and its
/// `Strip` forms, v2 `Path` and `PathPrefix`): compared as text, or, when `templated`, every
/// one compiled as a template.
pub(super) fn path_list(
    name: MatcherName,
    args: &[Arg],
    form: PathForm,
    prefix: bool,
    templated: bool,
) -> Result<MatcherKind, RuleError> {
    let kind = if prefix {
        TemplateKind::PathPrefix
    } else {
        TemplateKind::Path
    };
    let mut plain = Vec::new();
    let mut regexes = Vec::new();
    for a in args {
        slash(name, a)?;
        if templated {
            regexes.push(template(&a.value, kind, a.span.clone())?);
        } else {
            plain.push(a.value.clone());
        }
    }
    Ok(if templated {
        MatcherKind::PathRegex(form, regexes)
    } else if prefix {
        MatcherKind::PathPrefix(form, plain)
    } else {
        MatcherKind::Path(form, plain)
    })
}

/// Methods, any of them, upper-cased (every syntax).
pub(super) fn methods(args: &[Arg]) -> MatcherKind {
    MatcherKind::Method(args.iter().map(|a| a.value.to_ascii_uppercase()).collect())
}

/// The value test of a v1/v2 (gorilla/mux) query pair: empty = any value, a template with
/// `{` = an anchored regex, else equality.
pub(super) fn query_template_value(
    value: &str,
    span: Range<usize>,
) -> Result<QueryValue, RuleError> {
    Ok(if value.is_empty() {
        QueryValue::Present
    } else if value.contains('{') {
        QueryValue::Regex(template(value, TemplateKind::QueryValue, span)?)
    } else {
        QueryValue::Equals(value.to_owned())
    })
}
