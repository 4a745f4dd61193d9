//! The row model shared by the library replay (`traefik_cases.rs`) and the CLI replay
//! (`splitway-cli/tests/traefik_replay.rs`), and the config text both of them route with.
#![allow(dead_code, unreachable_pub)]

/// Which rule language a table's rules are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syn {
    /// Traefik 1.7 rule strings (config `rules:` list).
    V1,
    /// Traefik v2 expressions (config `rule_syntax: v2`).
    V2,
    /// Traefik v3 expressions.
    V3,
}

/// What splitway must do with a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// The rule parses and matches the request.
    Match,
    /// The rule parses and does not match the request.
    NoMatch,
    /// The rule does not parse (a config error).
    ParseError,
}

/// One fact from a Traefik test: a rule, a request, and the outcome.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// `TestName/sub-test description` in the Traefik source file.
    pub src: &'static str,
    pub rule: &'static str,
    pub method: &'static str,
    /// Absolute (`https://host/path?q`) or origin form (`/path`, host in a `Host` header).
    pub url: &'static str,
    /// Header lines, in order (a repeated name gives several lines).
    pub headers: &'static [(&'static str, &'static str)],
    /// Go's `req.RemoteAddr` as the test sets it (`ip`, `ip:port`, or not an address).
    pub remote: Option<&'static str>,
    pub want: Want,
    /// Set when Traefik's test expects otherwise and SPEC.md deliberately differs: names the
    /// SPEC section; `want` is splitway's expectation.
    pub differs: Option<&'static str>,
    /// Set when the request cannot be given on the command line (why).
    pub lib_only: Option<&'static str>,
}

/// A matching row: `GET url` matches `rule`.
pub const fn ok(src: &'static str, rule: &'static str, url: &'static str) -> Row {
    row(src, rule, url, Want::Match)
}

/// A non-matching row.
pub const fn no(src: &'static str, rule: &'static str, url: &'static str) -> Row {
    row(src, rule, url, Want::NoMatch)
}

/// A rule that must not parse.
pub const fn bad(src: &'static str, rule: &'static str) -> Row {
    row(src, rule, "/", Want::ParseError)
}

const fn row(src: &'static str, rule: &'static str, url: &'static str, want: Want) -> Row {
    Row {
        src,
        rule,
        method: "GET",
        url,
        headers: &[],
        remote: None,
        want,
        differs: None,
        lib_only: None,
    }
}

impl Row {
    pub const fn hdr(self, headers: &'static [(&'static str, &'static str)]) -> Row {
        Row { headers, ..self }
    }
    pub const fn ip(self, remote: &'static str) -> Row {
        Row {
            remote: Some(remote),
            ..self
        }
    }
    pub const fn method(self, method: &'static str) -> Row {
        Row { method, ..self }
    }
    pub const fn spec(self, why: &'static str) -> Row {
        Row {
            differs: Some(why),
            ..self
        }
    }
    pub const fn lib_only(self, why: &'static str) -> Row {
        Row {
            lib_only: Some(why),
            ..self
        }
    }

    /// The TCP peer address Traefik derives from `remote` (port stripped; `None` when it is not
    /// an address, as with the tests' `RemoteAddr = "1"`).
    pub fn client_ip(&self) -> Option<std::net::IpAddr> {
        let remote = self.remote?;
        remote
            .parse()
            .ok()
            .or_else(|| remote.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
    }
}

/// One table: the rows transcribed from one Traefik source file.
#[derive(Debug)]
pub struct Table {
    /// `repo path @ version` the rows come from.
    pub source: &'static str,
    pub syntax: Syn,
    pub rows: &'static [Row],
}

/// A priority fact: several routes, one request, the route that must win.
#[derive(Debug)]
pub struct PriorityCase {
    pub src: &'static str,
    pub syntax: Syn,
    /// Origin form; the tests give no host.
    pub url: &'static str,
    /// `(name, rule, priority)`; priority 0 means "the default".
    pub routes: &'static [(&'static str, &'static str, i64)],
    pub winner: &'static str,
    pub differs: Option<&'static str>,
}

/// A config with one frontend per route, all on one backend, in YAML (rules single-quoted, so
/// backticks, double quotes and backslashes stay as written).
pub fn config_yaml(syntax: Syn, routes: &[(&str, &str, i64)]) -> String {
    let mut out = String::from("frontends:\n");
    for (name, rule, priority) in routes {
        let quoted = format!("'{}'", rule.replace('\'', "''"));
        out.push_str(&format!("  {name}:\n    backend: b\n"));
        match syntax {
            Syn::V1 => out.push_str(&format!("    rules: [{quoted}]\n")),
            Syn::V2 => out.push_str(&format!("    rule_syntax: v2\n    rule: {quoted}\n")),
            Syn::V3 => out.push_str(&format!("    rule: {quoted}\n")),
        }
        if *priority != 0 {
            out.push_str(&format!("    priority: {priority}\n"));
        }
    }
    out.push_str("backends:\n  b:\n    - name: s\n      url: \"http://127.0.0.1:9\"\n");
    out
}
