//! gorilla/mux templates (`/users/{id:[0-9]+}`, `{sub}.example.com`) turned into regexes, as
//! Traefik v1 and v2 read them.
//!
//! Text outside braces is literal; `{name}` is one host label or path segment; `{name:re}` is
//! `re`. Braces are matched by counting, so `{id:[0-9]{1,3}}` is one placeholder.

/// Where a template is used; decides the default pattern and the anchoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TemplateKind {
    /// A host: `{name}` is `[^.]+`, anchored at both ends, case-insensitive.
    Host,
    /// A whole path: `{name}` is `[^/]+`, anchored at both ends.
    Path,
    /// A path prefix: `{name}` is `[^/]+`, anchored at the start only.
    PathPrefix,
    /// A query value: `{name}` is `.*`, anchored at both ends.
    QueryValue,
}

/// The regex (Go syntax, to be compiled with `regex_go::compile`) for a mux template.
pub(crate) fn to_regex(template: &str, kind: TemplateKind) -> Result<String, String> {
    let default = match kind {
        TemplateKind::Host => "[^.]+",
        TemplateKind::Path | TemplateKind::PathPrefix => "[^/]+",
        TemplateKind::QueryValue => ".*",
    };
    let mut out = String::with_capacity(template.len() + 16);
    out.push_str(match kind {
        TemplateKind::Host => "(?i)^",
        _ => "^",
    });
    let mut literal_start = 0;
    for (open, close) in braces(template)? {
        out.push_str(&regex::escape(
            template.get(literal_start..open).unwrap_or(""),
        ));
        let inner = template.get(open + 1..close).unwrap_or("");
        let (name, pattern) = match inner.split_once(':') {
            Some((name, pattern)) => (name, pattern),
            None => (inner, default),
        };
        if name.is_empty() || pattern.is_empty() {
            return Err(format!(
                "placeholder `{{{inner}}}` in template `{template}` needs a name (and, after \
                 `:`, a non-empty regex)"
            ));
        }
        out.push_str("(?:");
        out.push_str(pattern);
        out.push(')');
        literal_start = close + 1;
    }
    out.push_str(&regex::escape(template.get(literal_start..).unwrap_or("")));
    if kind != TemplateKind::PathPrefix {
        out.push('$');
    }
    Ok(out)
}

/// Byte positions of each outermost `{` and its matching `}`.
fn braces(template: &str) -> Result<Vec<(usize, usize)>, String> {
    let mut pairs = Vec::new();
    let mut level = 0usize;
    let mut open = 0;
    for (i, b) in template.bytes().enumerate() {
        match b {
            b'{' => {
                if level == 0 {
                    open = i;
                }
                level += 1;
            }
            b'}' => {
                level = level.checked_sub(1).ok_or_else(|| {
                    format!("unbalanced braces in template `{template}`: `}}` at byte {i} closes nothing")
                })?;
                if level == 0 {
                    pairs.push((open, i));
                }
            }
            _ => {}
        }
    }
    if level != 0 {
        return Err(format!(
            "unbalanced braces in template `{template}`: a `{{` is never closed"
        ));
    }
    Ok(pairs)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn literal_text_is_escaped_and_anchored() {
        assert_eq!(
            to_regex("foo.bar.com", TemplateKind::Host).unwrap(),
            r"(?i)^foo\.bar\.com$"
        );
        assert_eq!(to_regex("/a.b", TemplateKind::Path).unwrap(), r"^/a\.b$");
        assert_eq!(to_regex("/a", TemplateKind::PathPrefix).unwrap(), r"^/a");
    }

    #[test]
    fn placeholders_take_default_or_given_patterns() {
        assert_eq!(
            to_regex("{sub}.a.com", TemplateKind::Host).unwrap(),
            r"(?i)^(?:[^.]+)\.a\.com$"
        );
        assert_eq!(
            to_regex("/u/{id}", TemplateKind::Path).unwrap(),
            r"^/u/(?:[^/]+)$"
        );
        assert_eq!(
            to_regex("/u/{id:[0-9]{1,3}}/x", TemplateKind::Path).unwrap(),
            r"^/u/(?:[0-9]{1,3})/x$"
        );
        assert_eq!(
            to_regex("{v}", TemplateKind::QueryValue).unwrap(),
            r"^(?:.*)$"
        );
    }

    #[test]
    fn malformed_templates_are_errors() {
        assert!(to_regex("/a/{id", TemplateKind::Path).is_err());
        assert!(to_regex("/a/id}", TemplateKind::Path).is_err());
        assert!(to_regex("/a/{}", TemplateKind::Path).is_err());
        assert!(to_regex("/a/{:x}", TemplateKind::Path).is_err());
        assert!(to_regex("/a/{id:}", TemplateKind::Path).is_err());
    }
}
