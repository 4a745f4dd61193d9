//! The spanned tree into a [`Config`], reporting every problem found (never only the first).
//!
//! Both shapes are read by one decoder, told apart by structure: a backend that is a list, or
//! whose `servers` is a list, is the seed's shape; `servers` as a table of tables is Traefik
//! v1's. A frontend gives its rule as `rules` (a list of v1 strings), `rule` (one string, v1
//! or an expression) or `routes` (Traefik v1's named routes, ANDed in route-name order).
//! Keys are case-sensitive, written as the seed and Traefik's documentation write them.
//!
//! This module holds the decoder, its generic helpers (typed reads that report what they
//! expected) and the top level; `frontend` reads frontends and rules, `backend` backends and
//! servers, `options` how a backend chooses (balance, sticky, hash, health checks) and reaches its
//! servers (`tls`),
//! `rollout` the `rollouts:` section.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use super::sink::Sink;
use super::suggest::{closest, did_you_mean};
use super::tree::{Key, Kind, Node};
use super::{
    Backend, Balance, Config, FixedResponse, Frontend, Hash, HashKey, HealthCheck, MAX_FRONTENDS,
    MAX_WEIGHT, SameSite, Server, Sticky, UpstreamTls,
};
use crate::rule::{Rule, RuleError, Syntax};

mod backend;
mod edge;
mod frontend;
mod options;
mod rollout;
mod tls;

pub(crate) use options::{is_tchar, parse_go_duration};

const TOP_KEYS: &[&str] = &[
    "frontends",
    "backends",
    "rule_syntax",
    "rollouts",
    "signed_cookies",
    "upgrade_protocols",
];
/// Top-level keys of a Traefik v1 configuration (static or file provider) that splitway does
/// not use.
const TOP_TRAEFIK: &[&str] = &[
    "entryPoints",
    "defaultEntryPoints",
    "file",
    "api",
    "web",
    "logLevel",
    "debug",
    "checkNewVersion",
    "sendAnonymousUsage",
    "traefikLogsFile",
    "accessLogsFile",
    "accessLog",
    "traefikLog",
    "insecureSkipVerify",
    "rootCAs",
    "maxIdleConnsPerHost",
    "idleTimeout",
    "graceTimeOut",
    "lifeCycle",
    "respondingTimeouts",
    "forwardingTimeouts",
    "keepTrailingSlash",
    "providersThrottleDuration",
    "AllowMinWeightZero",
    "retry",
    "healthCheck",
    "metrics",
    "ping",
    "tracing",
    "rest",
    "docker",
    "kubernetes",
    "consul",
    "consulCatalog",
    "etcd",
    "zookeeper",
    "boltdb",
    "marathon",
    "mesos",
    "ecs",
    "rancher",
    "dynamodb",
    "eureka",
    "servicefabric",
    "constraints",
    "acme",
    "tls",
    "hostResolver",
];

const FRONTEND_KEYS: &[&str] = &[
    "rules",
    "rule",
    "routes",
    "backend",
    "priority",
    "rule_syntax",
    "passHostHeader",
    "pass_host_header",
];
/// Frontend keys of Traefik v1 that splitway does not use.
const FRONTEND_TRAEFIK: &[&str] = &[
    "entryPoints",
    "entrypoints",
    "basicAuth",
    "auth",
    "headers",
    "passTLSCert",
    "passTLSClientCert",
    "redirect",
    "errors",
    "ratelimit",
    "rateLimit",
    "whitelist",
    "whiteList",
    "whitelistSourceRange",
    "whiteListSourceRange",
];
const ROUTE_KEYS: &[&str] = &["rule"];

const BACKEND_KEYS: &[&str] = &[
    "servers",
    "balance",
    "sticky",
    "hash",
    "health_check",
    "tls",
    "loadBalancer",
    "healthCheck",
];
/// Backend keys of Traefik v1 that splitway does not use.
const BACKEND_TRAEFIK: &[&str] = &[
    "maxConn",
    "circuitBreaker",
    "responseForwarding",
    "buffering",
];
const SERVER_KEYS: &[&str] = &["name", "url", "weight", "values", "status", "body"];
const TRAEFIK_SERVER_KEYS: &[&str] = &["url", "weight"];
const VALUES_KEYS: &[&str] = &["weight", "url"];
const LOAD_BALANCER_KEYS: &[&str] = &["method", "sticky", "stickiness"];
/// Traefik 1.7's `stickiness` keys: the cookie name and its attributes (TRAEFIK.md section 4).
const STICKINESS_KEYS: &[&str] = &["cookieName", "secure", "httpOnly", "sameSite"];
const STICKY_KEYS: &[&str] = &["cookie", "secure", "http_only", "same_site", "max_age"];
const HASH_KEYS: &[&str] = &["key", "seed", "issue_cookie"];
const HEALTH_KEYS: &[&str] = &["path", "interval", "timeout", "port", "hostname", "headers"];
const HEALTH_TRAEFIK: &[&str] = &["scheme"];
const TLS_KEYS: &[&str] = &["ca_file", "server_name", "insecure_skip_verify"];

/// Default time between health checks.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// Default time-out of one health check.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Decodes `root` (the parsed file, `None` for a file with no content) into a `Config`;
/// `None` when an error was found (all of them are in `sink`). Files the configuration names
/// (signed cookies' keys) are read relative to `base`.
pub(crate) fn decode(root: Option<&Node>, base: &Path, sink: &mut Sink) -> Option<Config> {
    let mut d = Decoder {
        sink,
        base,
        backend_hints_left: MAX_BACKEND_HINTS,
    };
    let config = d.config(root);
    if d.sink.has_errors() { None } else { config }
}

/// The keys of one map that the decoder knows, after unknown and ignored keys were reported.
struct Fields<'n> {
    found: Vec<(&'static str, &'n Key, &'n Node)>,
    /// How many unknown keys were reported (a missing key may just be misspelt).
    unknown: usize,
}

impl<'n> Fields<'n> {
    fn get(&self, name: &str) -> Option<&'n Node> {
        self.entry(name).map(|(_, n)| n)
    }

    fn entry(&self, name: &str) -> Option<(&'n Key, &'n Node)> {
        self.found
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, k, v)| (*k, *v))
    }
}

/// How many "routes to backend `x`, which does not exist" errors get a "did you mean" hint.
/// Each hint compares the name with every backend's: unbounded, a file of many frontends
/// naming missing backends among many backends took minutes to reject.
const MAX_BACKEND_HINTS: usize = 32;

struct Decoder<'s> {
    sink: &'s mut Sink,
    /// The directory relative file names are read from.
    base: &'s Path,
    backend_hints_left: usize,
}

impl Decoder<'_> {
    // ----- generic helpers -------------------------------------------------------------

    fn type_error(&mut self, node: &Node, expected: &str) {
        self.sink.error(
            node.span.start,
            format!("expected {expected}, found {}", node.describe()),
        );
    }

    /// The entries of a map, or a type error.
    fn map<'n>(&mut self, node: &'n Node, expected: &str) -> Option<&'n [(Key, Node)]> {
        match &node.kind {
            Kind::Map(entries) => Some(entries),
            _ => {
                self.type_error(node, expected);
                None
            }
        }
    }

    /// Sorts the keys of a map into known ones (returned), Traefik v1 keys splitway ignores
    /// (warnings) and unknown ones (errors, with a suggestion).
    fn fields<'n>(
        &mut self,
        node: &'n Node,
        expected: &str,
        place: &str,
        known: &'static [&'static str],
        ignored: &'static [&'static str],
    ) -> Option<Fields<'n>> {
        let entries = self.map(node, expected)?;
        let mut found = Vec::new();
        let mut unknown = 0;
        for (key, value) in entries {
            if let Some(name) = known.iter().find(|k| **k == key.text) {
                found.push((*name, key, value));
            } else if ignored.contains(&key.text.as_str()) {
                self.sink.warn(
                    key.span.start,
                    format!(
                        "`{}` in {place} is a Traefik v1 setting that splitway does not use; ignored",
                        key.text
                    ),
                );
            } else {
                let hint = did_you_mean(&key.text, known.iter().chain(ignored).copied());
                self.sink.error(
                    key.span.start,
                    format!("unknown key `{}` in {place}{hint}", key.text),
                );
                unknown += 1;
            }
        }
        Some(Fields { found, unknown })
    }

    fn string<'n>(&mut self, node: &'n Node, expected: &str) -> Option<&'n str> {
        match &node.kind {
            Kind::Str(s) => Some(s),
            _ => {
                self.type_error(node, expected);
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, expected: &str) -> Option<bool> {
        match node.kind {
            Kind::Bool(b) => Some(b),
            _ => {
                self.type_error(node, expected);
                None
            }
        }
    }

    fn integer(&mut self, node: &Node, expected: &str) -> Option<i64> {
        match node.kind {
            Kind::Int(i) => Some(i),
            _ => {
                self.type_error(node, expected);
                None
            }
        }
    }

    /// When both spellings of one setting are present, an error at the second.
    fn one_of<'n>(&mut self, fields: &Fields<'n>, a: &str, b: &str) -> Option<&'n Node> {
        match (fields.entry(a), fields.entry(b)) {
            (Some((ka, na)), Some((kb, nb))) => {
                let second = if ka.span.start < kb.span.start {
                    kb
                } else {
                    ka
                };
                self.sink.error(
                    second.span.start,
                    format!("`{a}` and `{b}` are the same setting: give only one"),
                );
                Some(if ka.span.start < kb.span.start {
                    na
                } else {
                    nb
                })
            }
            (Some((_, n)), None) | (None, Some((_, n))) => Some(n),
            (None, None) => None,
        }
    }

    // ----- top level ---------------------------------------------------------------------

    fn config(&mut self, root: Option<&Node>) -> Option<Config> {
        let root = match root {
            Some(node) if node.kind != Kind::Null => node,
            _ => {
                self.sink.error(
                    0,
                    "the configuration is empty: it needs `frontends` and `backends`",
                );
                return None;
            }
        };
        let fields = self.fields(
            root,
            "a map with `frontends` and `backends`",
            "the top level",
            TOP_KEYS,
            TOP_TRAEFIK,
        )?;
        let default_syntax = match fields.get("rule_syntax") {
            Some(node) => self.syntax(node).unwrap_or(Syntax::V3),
            None => Syntax::V3,
        };

        let (backends, backend_names) = match fields.entry("backends") {
            Some((key, node)) => self.backends(key, node),
            None => {
                self.sink.error(
                    root.span.start,
                    "no `backends`: a configuration needs at least one backend",
                );
                (Vec::new(), Vec::new())
            }
        };
        let frontends = match fields.entry("frontends") {
            Some((key, node)) => self.frontends(key, node, &backend_names, default_syntax),
            None => {
                self.sink.error(
                    root.span.start,
                    "no `frontends`: a configuration that routes nothing is a mistake",
                );
                Vec::new()
            }
        };

        let rollouts = match fields.get("rollouts") {
            Some(node) => self.rollouts(node, &backends, &backend_names),
            None => Vec::new(),
        };

        let signed_cookies = match fields.get("signed_cookies") {
            Some(node) => self.signed_cookies(node, &backends),
            None => Vec::new(),
        };
        let upgrade_protocols = match fields.get("upgrade_protocols") {
            Some(node) => self.upgrade_protocols(node),
            None => super::DEFAULT_UPGRADE_PROTOCOLS
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
        };

        // Sets, not scans: a file may hold 100,000 frontends and as many backends.
        let used: HashSet<&str> = frontends.iter().map(|f| f.backend.as_str()).collect();
        for (name, key) in &backend_names {
            if !used.contains(name.as_str()) && !self.sink.has_errors() {
                self.sink.warn(
                    key.span.start,
                    format!("backend `{name}` is not used by any frontend"),
                );
            }
        }
        Some(Config {
            frontends,
            backends,
            rollouts,
            signed_cookies,
            upgrade_protocols,
        })
    }

    fn syntax(&mut self, node: &Node) -> Option<Syntax> {
        let text = self.string(node, "`v2` or `v3`")?;
        match text {
            "v3" | "V3" => Some(Syntax::V3),
            "v2" | "V2" => Some(Syntax::V2),
            other => {
                self.sink.error(
                    node.content_start,
                    format!("unknown rule syntax `{other}`: expected `v2` or `v3`"),
                );
                None
            }
        }
    }
}
