//! The splitway configuration an importer writes: frontends with v3 expression rules and
//! explicit priorities, backends with named, weighted servers, rendered as YAML.

use std::fmt::Write as _;

/// One server of a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerOut {
    /// Its name (unique in its backend).
    pub(crate) name: String,
    /// Its URL (unused for a fixed response).
    pub(crate) url: String,
    /// A fixed response's status, in place of the URL.
    pub(crate) status: Option<u16>,
    /// Its weight.
    pub(crate) weight: u32,
}

/// One backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BackendOut {
    name: String,
    servers: Vec<ServerOut>,
    sticky_cookie: Option<String>,
}

/// One frontend.
#[derive(Debug, Clone)]
struct FrontendOut {
    name: String,
    rule: String,
    priority: i64,
    backend: String,
    from: String,
}

/// The configuration being written.
#[derive(Default)]
pub(crate) struct Output {
    frontends: Vec<FrontendOut>,
    backends: Vec<BackendOut>,
}

impl Output {
    /// The backend with these servers and stickiness: an identical one already written, or a
    /// new one named `name` (made unique).
    pub(crate) fn backend(
        &mut self,
        name: &str,
        servers: Vec<ServerOut>,
        sticky_cookie: Option<&str>,
    ) -> String {
        let sticky_cookie = sticky_cookie.map(str::to_owned);
        if let Some(b) = self
            .backends
            .iter()
            .find(|b| b.servers == servers && b.sticky_cookie == sticky_cookie)
        {
            return b.name.clone();
        }
        let name = unique(name, |n| self.backends.iter().any(|b| b.name == n));
        self.backends.push(BackendOut {
            name: name.clone(),
            servers,
            sticky_cookie,
        });
        name
    }

    /// Adds a frontend named `name` (made unique); `from` says what it was imported from.
    pub(crate) fn frontend(
        &mut self,
        name: &str,
        rule: String,
        priority: i64,
        backend: &str,
        from: String,
    ) {
        let name = unique(name, |n| self.frontends.iter().any(|f| f.name == n));
        self.frontends.push(FrontendOut {
            name,
            rule,
            priority,
            backend: backend.to_owned(),
            from,
        });
    }

    /// Whether nothing was imported.
    pub(crate) fn is_empty(&self) -> bool {
        self.frontends.is_empty()
    }

    /// The YAML text: frontends by descending priority (the order they are tried), backends
    /// in the order they were made, leaving out those no frontend uses.
    pub(crate) fn render(&self, header: &str) -> String {
        let mut out = String::new();
        for line in header.lines() {
            let _ = writeln!(out, "# {line}");
        }
        out.push_str("frontends:\n");
        let mut frontends: Vec<&FrontendOut> = self.frontends.iter().collect();
        frontends.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.name.cmp(&b.name)));
        for f in frontends {
            let _ = writeln!(out, "  {}:", yaml_str(&f.name));
            let _ = writeln!(out, "    # {}", f.from.replace('\n', " "));
            let _ = writeln!(out, "    rule: {}", yaml_str(&f.rule));
            let _ = writeln!(out, "    priority: {}", f.priority);
            let _ = writeln!(out, "    backend: {}", yaml_str(&f.backend));
        }
        out.push_str("backends:\n");
        let used = |b: &&BackendOut| self.frontends.iter().any(|f| f.backend == b.name);
        for b in self.backends.iter().filter(used) {
            let _ = writeln!(out, "  {}:", yaml_str(&b.name));
            out.push_str("    servers:\n");
            for s in &b.servers {
                let _ = writeln!(out, "      - name: {}", yaml_str(&s.name));
                match s.status {
                    Some(code) => {
                        let _ = writeln!(out, "        status: {code}");
                    }
                    None => {
                        let _ = writeln!(out, "        url: {}", yaml_str(&s.url));
                    }
                }
                let _ = writeln!(out, "        weight: {}", s.weight);
            }
            if let Some(cookie) = &b.sticky_cookie {
                let _ = writeln!(out, "    sticky:\n      cookie: {}", yaml_str(cookie));
            }
        }
        out
    }
}

/// `name`, or `name-2`, `name-3`… the first that `taken` says is free.
fn unique(name: &str, taken: impl Fn(&str) -> bool) -> String {
    if !taken(name) {
        return name.to_owned();
    }
    (2..)
        .map(|i| format!("{name}-{i}"))
        .find(|n| !taken(n))
        .unwrap_or_else(|| name.to_owned())
}

/// A YAML double-quoted scalar.
pub(crate) fn yaml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A rule-language string: backticks (raw) unless the text holds one, else Go-style double
/// quotes with escapes.
pub(crate) fn rule_str(s: &str) -> String {
    if !s.contains('`') {
        return format!("`{s}`");
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Joins matcher texts with `&&` (each already a matcher or parenthesised).
pub(crate) fn and(parts: &[String]) -> String {
    parts.join(" && ")
}

/// Names the servers of one backend after their Services: `NAME`, or when two references
/// share a name, `NAME.NAMESPACE` (namespaces differ) or `NAME-PORT` (ports differ); still
/// equal references get `-2`, `-3`….
pub(crate) fn server_names(refs: &[(&str, &str, u16)]) -> Vec<String> {
    let mut names: Vec<String> = refs
        .iter()
        .map(|&(name, namespace, port)| {
            let same: Vec<_> = refs.iter().filter(|r| r.0 == name).collect();
            if same.len() < 2 {
                name.to_owned()
            } else if same.iter().any(|r| r.1 != namespace) {
                if same.iter().any(|r| r.1 == namespace && r.2 != port) {
                    format!("{name}.{namespace}-{port}")
                } else {
                    format!("{name}.{namespace}")
                }
            } else {
                format!("{name}-{port}")
            }
        })
        .collect();
    for i in 0..names.len() {
        let (before, rest) = names.split_at_mut(i);
        if let Some(n) = rest.first_mut() {
            let base = n.clone();
            let mut k = 2;
            while before.contains(n) {
                *n = format!("{base}-{k}");
                k += 1;
            }
        }
    }
    names
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn server_names_follow_the_service_names() {
        assert_eq!(
            server_names(&[("a", "default", 80), ("b", "default", 80)]),
            ["a", "b"]
        );
        assert_eq!(
            server_names(&[("a", "x", 80), ("a", "y", 80)]),
            ["a.x", "a.y"]
        );
        assert_eq!(
            server_names(&[("a", "x", 80), ("a", "x", 81)]),
            ["a-80", "a-81"]
        );
        assert_eq!(
            server_names(&[("a", "x", 80), ("a", "x", 80)]),
            ["a-80", "a-80-2"]
        );
    }

    #[test]
    fn rule_strings_use_backticks_unless_they_hold_one() {
        assert_eq!(rule_str("/a"), "`/a`");
        assert_eq!(rule_str("a`\"b\\"), "\"a`\\\"b\\\\\"");
    }
}
