//! Matcher constructors shared by the v1 and expression parsers: each checks one argument and
//! reports a problem as a [`RuleError`] pointing at that argument.

use std::net::IpAddr;
use std::ops::Range;

use http::HeaderName;
use ipnet::IpNet;
use regex::Regex;

use super::template::{self, TemplateKind};
use super::{HostPattern, RuleError, ValueRegex, regex_go};

/// An error located at `span` of the rule text (part 0; v1 lists set the part later).
pub(super) fn err(message: impl Into<String>, span: Range<usize>) -> RuleError {
    RuleError {
        message: message.into(),
        part: 0,
        span,
    }
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
pub(super) fn ascii_host(host: &str, matcher: &str, span: Range<usize>) -> Result<(), RuleError> {
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

/// Closest name of `names` to `name` when it is close enough to suggest.
pub(super) fn closest<'n>(name: &str, names: &[&'n str]) -> Option<&'n str> {
    let lower = name.to_ascii_lowercase();
    names
        .iter()
        .map(|n| (edit_distance(&lower, &n.to_ascii_lowercase()), *n))
        .filter(|(d, n)| *d <= 2.max(n.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row.first().copied().unwrap_or(0);
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let above = row.get(j + 1).copied().unwrap_or(usize::MAX);
            let left = row.get(j).copied().unwrap_or(usize::MAX);
            let next = (prev + usize::from(ca != *cb))
                .min(above.saturating_add(1))
                .min(left.saturating_add(1));
            prev = above;
            if let Some(cell) = row.get_mut(j + 1) {
                *cell = next;
            }
        }
    }
    row.last().copied().unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(closest("host", &["Host", "Path"]), Some("Host"));
        assert_eq!(
            closest("PathPrefx", &["Path", "PathPrefix"]),
            Some("PathPrefix")
        );
        assert_eq!(closest("Zzzzzz", &["Host", "Path"]), None);
    }
}
