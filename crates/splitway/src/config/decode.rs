//! The spanned tree into a [`Config`], reporting every problem found (never only the first).
//!
//! Both shapes are read by one decoder, told apart by structure: a backend that is a list, or
//! whose `servers` is a list, is the seed's shape; `servers` as a table of tables is Traefik
//! v1's. A frontend gives its rule as `rules` (a list of v1 strings), `rule` (one string, v1
//! or an expression) or `routes` (Traefik v1's named routes, ANDed in route-name order).
//! Keys are case-sensitive, written as the seed and Traefik's documentation write them.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::sink::Sink;
use super::suggest::{closest, did_you_mean};
use super::tree::{Key, Kind, Node};
use super::{
    Backend, Balance, Config, Frontend, Hash, HashKey, HealthCheck, MAX_FRONTENDS, MAX_WEIGHT,
    SameSite, Server, Sticky,
};
use crate::rule::{Rule, RuleError, Syntax};

const TOP_KEYS: &[&str] = &["frontends", "backends", "rule_syntax"];
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
const SERVER_KEYS: &[&str] = &["name", "url", "weight", "values"];
const TRAEFIK_SERVER_KEYS: &[&str] = &["url", "weight"];
const VALUES_KEYS: &[&str] = &["weight", "url"];
const LOAD_BALANCER_KEYS: &[&str] = &["method", "sticky", "stickiness"];
const STICKINESS_KEYS: &[&str] = &["cookieName"];
/// Cookie attributes of later Traefik versions' stickiness that splitway's Traefik v1 shape
/// does not read (use the `sticky` map for them).
const STICKINESS_TRAEFIK: &[&str] = &["secure", "httpOnly", "sameSite"];
const STICKY_KEYS: &[&str] = &["cookie", "secure", "http_only", "same_site", "max_age"];
const HASH_KEYS: &[&str] = &["key", "seed", "issue_cookie"];
const HEALTH_KEYS: &[&str] = &["path", "interval", "timeout", "port", "hostname", "headers"];
const HEALTH_TRAEFIK: &[&str] = &["scheme"];

/// Default time between health checks.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// Default time-out of one health check.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Decodes `root` (the parsed file, `None` for a file with no content) into a `Config`;
/// `None` when an error was found (all of them are in `sink`).
pub(crate) fn decode(root: Option<&Node>, sink: &mut Sink) -> Option<Config> {
    let mut d = Decoder {
        sink,
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

    // ----- frontends ---------------------------------------------------------------------

    fn frontends(
        &mut self,
        key: &Key,
        node: &Node,
        backends: &[(String, &Key)],
        default_syntax: Syntax,
    ) -> Vec<Frontend> {
        let entries: &[(Key, Node)] = match &node.kind {
            Kind::Null => &[],
            _ => match self.map(node, "a map of frontends") {
                Some(e) => e,
                None => return Vec::new(),
            },
        };
        if entries.is_empty() {
            self.sink.error(
                key.span.start,
                "no frontends: a configuration that routes nothing is a mistake",
            );
            return Vec::new();
        }
        if entries.len() > MAX_FRONTENDS {
            self.sink.error(
                key.span.start,
                format!(
                    "too many frontends: {} (at most {MAX_FRONTENDS})",
                    entries.len()
                ),
            );
            return Vec::new();
        }
        let known: HashSet<&str> = backends.iter().map(|(n, _)| n.as_str()).collect();
        let mut out = Vec::with_capacity(entries.len());
        for (name, value) in entries {
            if let Some(f) = self.frontend(name, value, backends, &known, default_syntax) {
                out.push(f);
            }
        }
        out
    }

    fn frontend(
        &mut self,
        name: &Key,
        node: &Node,
        backends: &[(String, &Key)],
        known: &HashSet<&str>,
        default_syntax: Syntax,
    ) -> Option<Frontend> {
        let place = format!("frontend `{}`", name.text);
        let fields = self.fields(
            node,
            "a map (a frontend)",
            &place,
            FRONTEND_KEYS,
            FRONTEND_TRAEFIK,
        )?;

        // The backend: checked even when the rule is bad, to report everything at once.
        let backend = match fields.get("backend") {
            Some(b) => self.string(b, "a backend name").map(|s| (s.to_owned(), b)),
            None => Some((name.text.clone(), node)),
        };
        let mut ok = true;
        if let Some((backend, at)) = &backend
            && !known.contains(backend.as_str())
        {
            {
                let hint = if self.backend_hints_left > 0 {
                    self.backend_hints_left -= 1;
                    did_you_mean(backend, backends.iter().map(|(n, _)| n.as_str()))
                } else {
                    String::new()
                };
                let at = if fields.get("backend").is_some() {
                    at.content_start
                } else {
                    name.span.start
                };
                self.sink.error(
                    at,
                    format!("{place} routes to backend `{backend}`, which does not exist{hint}"),
                );
                ok = false;
            }
        }

        let syntax = match fields.get("rule_syntax") {
            Some(n) => self.syntax(n),
            None => Some(default_syntax),
        };
        let priority = match fields.get("priority") {
            Some(n) => self.integer(n, "an integer priority").map(Some),
            None => Some(None),
        };
        let pass_host_header = match self.one_of(&fields, "passHostHeader", "pass_host_header") {
            Some(n) => self.boolean(n, "`true` or `false`"),
            None => Some(true),
        };

        let sources: Vec<(&Key, &Node)> = ["rules", "rule", "routes"]
            .iter()
            .filter_map(|k| fields.entry(k))
            .collect();
        let rule = match sources.as_slice() {
            [] => {
                // A misspelt `rules` was reported already; "no rule" would only repeat it.
                if fields.unknown == 0 {
                    self.sink.error(
                        name.span.start,
                        format!("{place} has no rule: give `rules`, `rule` or `routes`"),
                    );
                }
                None
            }
            [(key, value)] => match key.text.as_str() {
                "rules" => self.rules_list(&place, value),
                "routes" => self.routes(&place, value),
                _ => syntax.and_then(|s| self.single_rule(&place, value, s)),
            },
            [first, rest @ ..] => {
                for (key, _) in rest {
                    self.sink.error(
                        key.span.start,
                        format!(
                            "{place} has both `{}` and `{}`: give only one of `rules`, `rule` and `routes`",
                            first.0.text, key.text
                        ),
                    );
                }
                None
            }
        };

        let (rule, priority, pass_host_header, (backend, _)) =
            (rule?, priority?, pass_host_header?, backend?);
        if !ok {
            return None;
        }
        let explicit = match (priority, rule.syntax()) {
            (Some(p), Syntax::V1) if p > 0 => Some(p),
            (Some(p), Syntax::V2 | Syntax::V3) if p != 0 => Some(p),
            _ => None,
        };
        Some(Frontend {
            name: name.text.clone(),
            backend,
            priority: explicit.unwrap_or_else(|| rule.default_priority()),
            rule,
            pass_host_header,
        })
    }

    /// Reports a rule parse error inside the rule text.
    fn rule_error(&mut self, place: &str, texts: &[&Node], e: &RuleError) {
        let at = texts
            .get(e.part)
            .or(texts.first())
            .map_or(0, |n| n.offset_in_str(e.span.start));
        self.sink
            .error(at, format!("invalid rule in {place}: {}", e.message));
    }

    fn rules_list(&mut self, place: &str, node: &Node) -> Option<Rule> {
        let items = match &node.kind {
            Kind::Seq(items) => items,
            Kind::Str(_) => {
                self.type_error(
                    node,
                    "a list of rule strings (for one rule string, write `rule:`)",
                );
                return None;
            }
            _ => {
                self.type_error(node, "a list of rule strings");
                return None;
            }
        };
        if items.is_empty() {
            self.sink.error(
                node.span.start,
                format!("`rules` of {place} is empty: a frontend needs at least one rule"),
            );
            return None;
        }
        let mut texts = Vec::with_capacity(items.len());
        let mut nodes = Vec::with_capacity(items.len());
        for item in items {
            if let Some(s) = self.string(item, "a rule string") {
                texts.push(s);
                nodes.push(item);
            }
        }
        if texts.len() != items.len() {
            return None;
        }
        match Rule::parse_v1(&texts) {
            Ok(rule) => Some(rule),
            Err(e) => {
                self.rule_error(place, &nodes, &e);
                None
            }
        }
    }

    fn single_rule(&mut self, place: &str, node: &Node, syntax: Syntax) -> Option<Rule> {
        let text = self.string(node, "a rule string")?;
        let parsed = if Rule::looks_like_v1(text) {
            Rule::parse_v1(&[text])
        } else {
            Rule::parse(text, syntax)
        };
        match parsed {
            Ok(rule) => Some(rule),
            Err(e) => {
                self.rule_error(place, &[node], &e);
                None
            }
        }
    }

    /// Traefik v1 routes: every route's rule, ANDed, in route-name order.
    fn routes(&mut self, place: &str, node: &Node) -> Option<Rule> {
        let entries = self.map(node, "a map of routes")?;
        if entries.is_empty() {
            self.sink.error(
                node.span.start,
                format!("`routes` of {place} is empty: a frontend needs at least one rule"),
            );
            return None;
        }
        let mut routes: Vec<(&str, &Node)> = Vec::with_capacity(entries.len());
        let mut ok = true;
        for (key, value) in entries {
            let route_place = format!("route `{}` of {place}", key.text);
            let Some(fields) =
                self.fields(value, "a map with a `rule`", &route_place, ROUTE_KEYS, &[])
            else {
                ok = false;
                continue;
            };
            match fields.get("rule") {
                Some(rule) if rule.as_str().is_some() => routes.push((&key.text, rule)),
                Some(rule) => {
                    self.type_error(rule, "a rule string");
                    ok = false;
                }
                None => {
                    if fields.unknown == 0 {
                        self.sink
                            .error(key.span.start, format!("{route_place} has no `rule`"));
                    }
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        routes.sort_by(|a, b| a.0.cmp(b.0));
        let texts: Vec<&str> = routes.iter().filter_map(|(_, n)| n.as_str()).collect();
        let nodes: Vec<&Node> = routes.iter().map(|(_, n)| *n).collect();
        match Rule::parse_v1(&texts) {
            Ok(rule) => Some(rule),
            Err(e) => {
                self.rule_error(place, &nodes, &e);
                None
            }
        }
    }

    // ----- backends ----------------------------------------------------------------------

    fn backends<'n>(
        &mut self,
        key: &Key,
        node: &'n Node,
    ) -> (Vec<Backend>, Vec<(String, &'n Key)>) {
        let entries: &[(Key, Node)] = match &node.kind {
            Kind::Null => &[],
            _ => match self.map(node, "a map of backends") {
                Some(e) => e,
                None => return (Vec::new(), Vec::new()),
            },
        };
        if entries.is_empty() {
            self.sink.error(
                key.span.start,
                "no backends: a configuration needs at least one backend",
            );
        }
        let names = entries.iter().map(|(k, _)| (k.text.clone(), k)).collect();
        let backends = entries
            .iter()
            .filter_map(|(name, value)| self.backend(name, value))
            .collect();
        (backends, names)
    }

    fn backend(&mut self, name: &Key, node: &Node) -> Option<Backend> {
        let place = format!("backend `{}`", name.text);
        let mut backend = Backend {
            name: name.text.clone(),
            servers: Vec::new(),
            balance: Balance::Wrr,
            sticky: None,
            hash: None,
            health_check: None,
        };
        let mut ok = true;
        match &node.kind {
            Kind::Seq(_) => backend.servers = self.server_list(&place, node)?,
            Kind::Map(_) => {
                let fields = self.fields(
                    node,
                    "a list of servers or a map with `servers`",
                    &place,
                    BACKEND_KEYS,
                    BACKEND_TRAEFIK,
                )?;
                if let Some(servers) = fields.get("servers") {
                    let servers = match &servers.kind {
                        Kind::Seq(_) => self.server_list(&place, servers),
                        Kind::Map(_) => self.traefik_servers(&place, servers),
                        Kind::Null => Some(Vec::new()),
                        _ => {
                            self.type_error(servers, "a list (or Traefik table) of servers");
                            None
                        }
                    };
                    match servers {
                        Some(s) => backend.servers = s,
                        None => ok = false,
                    }
                }
                ok &= self.backend_options(&place, &fields, &mut backend);
            }
            Kind::Null => {}
            _ => {
                self.type_error(node, "a list of servers or a map with `servers`");
                return None;
            }
        }
        if ok && backend.servers.is_empty() {
            self.sink
                .error(name.span.start, format!("{place} has no servers"));
            ok = false;
        }
        ok.then_some(backend)
    }

    /// `balance`, `sticky`, `hash`, `health_check` and their Traefik v1 spellings.
    fn backend_options(&mut self, place: &str, fields: &Fields<'_>, backend: &mut Backend) -> bool {
        let mut ok = true;
        let mut balance_from: Option<&Key> = None;
        let mut sticky_from: Option<&Key> = None;
        if let Some((key, node)) = fields.entry("balance") {
            balance_from = Some(key);
            match self.string(node, "`wrr` or `random`") {
                Some("wrr") => backend.balance = Balance::Wrr,
                Some("random") => backend.balance = Balance::Random,
                Some(other) => {
                    let hint = did_you_mean(other, ["wrr", "random"]);
                    self.sink.error(
                        node.content_start,
                        format!("unknown balance `{other}`: expected `wrr` or `random`{hint}"),
                    );
                    ok = false;
                }
                None => ok = false,
            }
        }
        if let Some((key, node)) = fields.entry("sticky") {
            sticky_from = Some(key);
            match self.sticky(place, node, &backend.name) {
                Some(s) => backend.sticky = Some(s),
                None => ok = false,
            }
        }
        if let Some((key, node)) = fields.entry("loadBalancer") {
            let lb_place = format!("`loadBalancer` of {place}");
            match self.fields(node, "a map", &lb_place, LOAD_BALANCER_KEYS, &[]) {
                Some(lb) => {
                    if let Some(method) = lb.get("method") {
                        if let Some(first) = balance_from {
                            self.conflict(key, first, "the balancing method");
                            ok = false;
                        }
                        match self.string(method, "`wrr` or `drr`") {
                            Some("wrr" | "drr") => backend.balance = Balance::Wrr,
                            Some(other) => {
                                let hint = did_you_mean(other, ["wrr", "drr"]);
                                self.sink.error(
                                    method.content_start,
                                    format!(
                                        "unknown load-balancer method `{other}`: expected `wrr` or `drr`{hint}"
                                    ),
                                );
                                ok = false;
                            }
                            None => ok = false,
                        }
                    }
                    let old_sticky = match lb.get("sticky") {
                        Some(n) => match self.boolean(n, "`true` or `false`") {
                            Some(b) => b,
                            None => {
                                ok = false;
                                false
                            }
                        },
                        None => false,
                    };
                    let stickiness = lb.get("stickiness");
                    if old_sticky || stickiness.is_some() {
                        if let Some(first) = sticky_from {
                            self.conflict(key, first, "stickiness");
                            ok = false;
                        }
                        let cookie_name = match stickiness {
                            Some(n) => {
                                let st_place = format!("`stickiness` of {place}");
                                match self.fields(
                                    n,
                                    "a map",
                                    &st_place,
                                    STICKINESS_KEYS,
                                    STICKINESS_TRAEFIK,
                                ) {
                                    Some(st) => match st.get("cookieName") {
                                        Some(c) => {
                                            self.string(c, "a cookie name").map(str::to_owned)
                                        }
                                        None => Some(String::new()),
                                    },
                                    None => None,
                                }
                            }
                            None => Some(String::new()),
                        };
                        match cookie_name {
                            Some(c) => {
                                backend.sticky = Some(Sticky {
                                    cookie: super::traefik_cookie_name(&c, &backend.name),
                                    secure: false,
                                    http_only: false,
                                    same_site: None,
                                    max_age: None,
                                });
                            }
                            None => ok = false,
                        }
                    }
                }
                None => ok = false,
            }
        }
        if let Some(node) = fields.get("hash") {
            match self.hash(place, node, &backend.name) {
                Some(h) => backend.hash = Some(h),
                None => ok = false,
            }
        }
        let health = match (fields.entry("health_check"), fields.entry("healthCheck")) {
            (Some(_), Some((second, _))) => {
                self.sink.error(
                    second.span.start,
                    "`health_check` and `healthCheck` are the same setting: give only one",
                );
                ok = false;
                None
            }
            (Some((_, n)), None) => Some((n, false)),
            (None, Some((_, n))) => Some((n, true)),
            (None, None) => None,
        };
        if let Some((node, traefik)) = health {
            match self.health_check(place, node, traefik) {
                Some(h) => backend.health_check = h,
                None => ok = false,
            }
        }
        ok
    }

    fn conflict(&mut self, second: &Key, first: &Key, what: &str) {
        self.sink.error(
            second.span.start,
            format!(
                "`{}` sets {what} again (already set by `{}`): give it once",
                second.text, first.text
            ),
        );
    }

    /// The seed's list of servers.
    fn server_list(&mut self, place: &str, node: &Node) -> Option<Vec<Server>> {
        let Kind::Seq(items) = &node.kind else {
            self.type_error(node, "a list of servers");
            return None;
        };
        let mut servers: Vec<(Server, usize)> = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            match self.server(place, item) {
                Some((server, at)) => servers.push((server, at)),
                None => ok = false,
            }
        }
        ok &= self.unique_names(place, &servers);
        ok.then(|| servers.into_iter().map(|(s, _)| s).collect())
    }

    /// Reports servers of one backend that share a name.
    fn unique_names(&mut self, place: &str, servers: &[(Server, usize)]) -> bool {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut ok = true;
        for (server, at) in servers {
            if seen.insert(&server.name, *at).is_some() {
                self.sink.error(
                    *at,
                    format!("duplicate server name `{}` in {place}", server.name),
                );
                ok = false;
            }
        }
        ok
    }

    /// One server of the seed's list; with the offset of its name, for duplicate reports.
    fn server(&mut self, place: &str, node: &Node) -> Option<(Server, usize)> {
        let fields = self.fields(
            node,
            "a server (a map with `name` and `url`)",
            &format!("a server of {place}"),
            SERVER_KEYS,
            &[],
        )?;
        let mut ok = true;
        let name = match fields.get("name") {
            Some(n) => match self.string(n, "a server name") {
                Some("") => {
                    self.sink
                        .error(n.span.start, "a server name must not be empty");
                    None
                }
                Some(s) => Some((s.to_owned(), n.content_start)),
                None => None,
            },
            None => {
                self.sink.error(
                    node.span.start,
                    format!("a server of {place} has no `name`"),
                );
                None
            }
        };
        let server_place = match &name {
            Some((n, _)) => format!("server `{n}` of {place}"),
            None => format!("a server of {place}"),
        };
        let mut url: Option<(String, http::Uri)> = None;
        let mut weight: Option<u32> = None;
        let mut url_seen = false;
        let mut weight_seen = false;
        if let Some(n) = fields.get("url") {
            url_seen = true;
            match self.string(n, "a URL string") {
                Some(s) => match self.uri(s, n.content_start) {
                    Some(u) => url = Some((s.to_owned(), u)),
                    None => ok = false,
                },
                None => ok = false,
            }
        }
        if let Some(n) = fields.get("weight") {
            weight_seen = true;
            match self.weight(n) {
                Some(w) => weight = Some(w),
                None => ok = false,
            }
        }
        if let Some(values) = fields.get("values") {
            ok &= self.values(
                &server_place,
                values,
                (&mut url, &mut url_seen),
                (&mut weight, &mut weight_seen),
            );
        }
        if !url_seen {
            ok = false;
        }
        if !url_seen && fields.unknown == 0 {
            self.sink
                .error(node.span.start, format!("{server_place} has no `url`"));
            ok = false;
        }
        let (name, at) = name?;
        let (url, uri) = url?;
        ok.then_some((
            Server {
                name,
                url,
                uri,
                weight: weight.unwrap_or(1),
            },
            at,
        ))
    }

    /// The talk's quirk: `values: ["weight = 5", "url = \"http://...\""]`.
    fn values(
        &mut self,
        place: &str,
        node: &Node,
        url: (&mut Option<(String, http::Uri)>, &mut bool),
        weight: (&mut Option<u32>, &mut bool),
    ) -> bool {
        let Kind::Seq(items) = &node.kind else {
            self.type_error(node, "a list of `key = value` strings");
            return false;
        };
        let mut ok = true;
        for item in items {
            let Some(text) = self.string(item, "a `key = value` string") else {
                ok = false;
                continue;
            };
            let Some((key, value)) = text.split_once('=') else {
                self.sink.error(
                    item.content_start,
                    format!("expected `weight = N` or `url = \"...\"` in {place}, found `{text}`"),
                );
                ok = false;
                continue;
            };
            let key_at = item.offset_in_str(text.len() - text.trim_start().len());
            let value_offset = key.len() + 1 + (value.len() - value.trim_start().len());
            let value_at = item.offset_in_str(value_offset);
            let key = key.trim();
            let value = unquote(value.trim());
            match key {
                "weight" => {
                    if std::mem::replace(weight.1, true) {
                        self.sink
                            .error(key_at, format!("the weight of {place} is given twice"));
                        ok = false;
                    }
                    match self.weight_text(value, value_at) {
                        Some(w) => *weight.0 = Some(w),
                        None => ok = false,
                    }
                }
                "url" => {
                    if std::mem::replace(url.1, true) {
                        self.sink
                            .error(key_at, format!("the url of {place} is given twice"));
                        ok = false;
                    }
                    match self.uri(value, value_at) {
                        Some(u) => *url.0 = Some((value.to_owned(), u)),
                        None => ok = false,
                    }
                }
                other => {
                    let hint = did_you_mean(other, VALUES_KEYS.iter().copied());
                    self.sink.error(
                        key_at,
                        format!(
                            "unknown server setting `{other}` in `values` of {place}: expected `weight` or `url`{hint}"
                        ),
                    );
                    ok = false;
                }
            }
        }
        ok
    }

    /// Traefik v1's `[backends.NAME.servers.SERVER]` tables.
    fn traefik_servers(&mut self, place: &str, node: &Node) -> Option<Vec<Server>> {
        let entries = self.map(node, "a table of servers")?;
        let mut servers = Vec::with_capacity(entries.len());
        let mut ok = true;
        for (name, value) in entries {
            let server_place = format!("server `{}` of {place}", name.text);
            let Some(fields) = self.fields(
                value,
                "a server table with `url` and `weight`",
                &server_place,
                TRAEFIK_SERVER_KEYS,
                &[],
            ) else {
                ok = false;
                continue;
            };
            let url = match fields.get("url") {
                Some(n) => self
                    .string(n, "a URL string")
                    .and_then(|s| self.uri(s, n.content_start).map(|u| (s.to_owned(), u))),
                None => {
                    if fields.unknown == 0 {
                        self.sink
                            .error(name.span.start, format!("{server_place} has no `url`"));
                    }
                    None
                }
            };
            let weight = match fields.get("weight") {
                Some(n) => {
                    let w = self.weight(n);
                    if w == Some(0) {
                        self.sink.warn(
                            n.span.start,
                            format!(
                                "{server_place} has weight 0: splitway drains it (Traefik 1.7 treated 0 as 1)"
                            ),
                        );
                    }
                    w
                }
                None => Some(1),
            };
            match (url, weight) {
                (Some((url, uri)), Some(weight)) => servers.push(Server {
                    name: name.text.clone(),
                    url,
                    uri,
                    weight,
                }),
                _ => ok = false,
            }
        }
        ok.then_some(servers)
    }

    fn weight(&mut self, node: &Node) -> Option<u32> {
        let result = match node.kind {
            Kind::Int(i) => check_weight_int(i),
            Kind::Float(f) => Err(if f.is_finite() && f.fract() == 0.0 && f > 0.0 {
                format!("weight {f} is too large (at most {MAX_WEIGHT})")
            } else {
                format!("a weight must be an integer, found {f}")
            }),
            _ => Err(format!(
                "expected an integer weight, found {}",
                node.describe()
            )),
        };
        result.map_err(|m| self.sink.error(node.span.start, m)).ok()
    }

    fn weight_text(&mut self, text: &str, at: usize) -> Option<u32> {
        let result = if let Ok(i) = text.parse::<i64>() {
            check_weight_int(i)
        } else if text.bytes().all(|b| b.is_ascii_digit()) && !text.is_empty() {
            Err(format!("weight {text} is too large (at most {MAX_WEIGHT})"))
        } else if text.parse::<f64>().is_ok() {
            Err(format!("a weight must be an integer, found {text}"))
        } else {
            Err(format!("expected an integer weight, found `{text}`"))
        };
        result.map_err(|m| self.sink.error(at, m)).ok()
    }

    fn uri(&mut self, text: &str, at: usize) -> Option<http::Uri> {
        match text.parse::<http::Uri>() {
            Err(e) => {
                self.sink
                    .error(at, format!("invalid server URL `{text}`: {e}"));
                None
            }
            Ok(uri) => match (uri.scheme_str(), uri.authority()) {
                (Some("http" | "https"), Some(a)) if !a.host().is_empty() => Some(uri),
                (Some(s), Some(_)) if s != "http" && s != "https" => {
                    self.sink.error(
                        at,
                        format!("server URL `{text}` must use http or https, not `{s}`"),
                    );
                    None
                }
                _ => {
                    self.sink.error(
                        at,
                        format!(
                            "server URL `{text}` must be absolute, with a scheme and a host (`http://host:port`)"
                        ),
                    );
                    None
                }
            },
        }
    }

    // ----- sticky, hash, health ----------------------------------------------------------

    fn sticky(&mut self, place: &str, node: &Node, backend: &str) -> Option<Sticky> {
        let fields = self.fields(
            node,
            "a map",
            &format!("`sticky` of {place}"),
            STICKY_KEYS,
            &[],
        )?;
        let mut ok = true;
        let cookie = match fields.get("cookie") {
            Some(n) => match self.string(n, "a cookie name") {
                Some(c) if is_token(c) => Some(c.to_owned()),
                Some(c) => {
                    self.sink.error(
                        n.content_start,
                        format!(
                            "`{c}` is not a valid cookie name (letters, digits and !#$%&'*+-.^_`|~ only)"
                        ),
                    );
                    None
                }
                None => None,
            },
            None => Some(super::traefik_cookie_name("", backend)),
        };
        let mut flag = |d: &mut Self, key: &str| match fields.get(key) {
            Some(n) => d.boolean(n, "`true` or `false`").unwrap_or_else(|| {
                ok = false;
                false
            }),
            None => false,
        };
        let secure = flag(self, "secure");
        let http_only = flag(self, "http_only");
        let same_site = match fields.get("same_site") {
            Some(n) => match self.string(n, "`none`, `lax` or `strict`") {
                Some(s) if s.eq_ignore_ascii_case("none") => Some(Some(SameSite::None)),
                Some(s) if s.eq_ignore_ascii_case("lax") => Some(Some(SameSite::Lax)),
                Some(s) if s.eq_ignore_ascii_case("strict") => Some(Some(SameSite::Strict)),
                Some(s) => {
                    self.sink.error(
                        n.content_start,
                        format!("unknown same_site `{s}`: expected `none`, `lax` or `strict`"),
                    );
                    None
                }
                None => None,
            },
            None => Some(None),
        };
        let max_age = match fields.get("max_age") {
            Some(n) => self.integer(n, "a number of seconds").map(Some),
            None => Some(None),
        };
        let (cookie, same_site, max_age) = (cookie?, same_site?, max_age?);
        ok.then_some(Sticky {
            cookie,
            secure,
            http_only,
            same_site,
            max_age,
        })
    }

    fn hash(&mut self, place: &str, node: &Node, backend: &str) -> Option<Hash> {
        let hash_place = format!("`hash` of {place}");
        let fields = self.fields(node, "a map", &hash_place, HASH_KEYS, &[])?;
        let key = match fields.get("key") {
            Some(n) => self.hash_key(n),
            None => {
                self.sink.error(
                    node.span.start,
                    format!("{hash_place} has no `key` (`cookie:NAME`, `header:NAME`, `query:NAME` or `client_ip`)"),
                );
                None
            }
        };
        let seed = match fields.get("seed") {
            Some(n) => self.string(n, "a seed string").map(str::to_owned),
            None => Some(backend.to_owned()),
        };
        let issue = match fields.entry("issue_cookie") {
            Some((k, n)) => self.boolean(n, "`true` or `false`").map(|b| (b, Some(k))),
            None => Some((false, None)),
        };
        let (key, seed, (issue_cookie, issue_key)) = (key?, seed?, issue?);
        if issue_cookie && !matches!(key, HashKey::Cookie(_)) {
            self.sink.error(
                issue_key.map_or(node.span.start, |k| k.span.start),
                "`issue_cookie: true` needs a cookie key (`key: cookie:NAME`)",
            );
            return None;
        }
        Some(Hash {
            key,
            seed,
            issue_cookie,
        })
    }

    fn hash_key(&mut self, node: &Node) -> Option<HashKey> {
        let text = self.string(
            node,
            "`cookie:NAME`, `header:NAME`, `query:NAME` or `client_ip`",
        )?;
        let at = node.content_start;
        const FORMS: &str = "`cookie:NAME`, `header:NAME`, `query:NAME` or `client_ip`";
        if text == "client_ip" {
            return Some(HashKey::ClientIp);
        }
        let Some((kind, name)) = text.split_once(':') else {
            let hint = did_you_mean(text, ["client_ip", "cookie", "header", "query"]);
            self.sink.error(
                at,
                format!("unknown hash key `{text}`: expected {FORMS}{hint}"),
            );
            return None;
        };
        let name_at = node.offset_in_str(kind.len() + 1);
        if !matches!(kind, "cookie" | "header" | "query") {
            let hint = closest(kind, ["cookie", "header", "query"])
                .map_or_else(String::new, |c| format!("; did you mean `{c}:{name}`?"));
            self.sink.error(
                at,
                format!("unknown hash key kind `{kind}` in `{text}`: expected {FORMS}{hint}"),
            );
            return None;
        }
        if name.is_empty() {
            self.sink.error(
                name_at,
                format!("hash key `{text}` has no name: write `{kind}:NAME`"),
            );
            return None;
        }
        match kind {
            "cookie" if is_token(name) => Some(HashKey::Cookie(name.to_owned())),
            "cookie" => {
                self.sink.error(
                    name_at,
                    format!("`{name}` is not a valid cookie name (letters, digits and !#$%&'*+-.^_`|~ only)"),
                );
                None
            }
            "header" => match http::HeaderName::from_bytes(name.as_bytes()) {
                Ok(h) => Some(HashKey::Header(h)),
                Err(_) => {
                    self.sink
                        .error(name_at, format!("`{name}` is not a valid header name"));
                    None
                }
            },
            _ => Some(HashKey::Query(name.to_owned())),
        }
    }

    /// `health_check` (ours) or `healthCheck` (Traefik v1). `Some(None)`: no checks (a
    /// Traefik table without `path`, which Traefik ignores too).
    fn health_check(
        &mut self,
        place: &str,
        node: &Node,
        traefik: bool,
    ) -> Option<Option<HealthCheck>> {
        let name = if traefik {
            "healthCheck"
        } else {
            "health_check"
        };
        let hc_place = format!("`{name}` of {place}");
        let ignored = if traefik { HEALTH_TRAEFIK } else { &[] };
        let fields = self.fields(node, "a map", &hc_place, HEALTH_KEYS, ignored)?;
        let mut ok = true;
        let path = match fields.get("path") {
            Some(n) => match self.string(n, "a path string") {
                Some(p) if p.starts_with('/') => Some(p.to_owned()),
                Some(p) => {
                    self.sink.error(
                        n.content_start,
                        format!("health-check path `{p}` must start with `/`"),
                    );
                    ok = false;
                    None
                }
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let mut duration = |d: &mut Self, key: &str, default: Duration| match fields.get(key) {
            Some(n) => d.duration(n).unwrap_or_else(|| {
                ok = false;
                default
            }),
            None => default,
        };
        let interval = duration(self, "interval", DEFAULT_INTERVAL);
        let timeout = duration(self, "timeout", DEFAULT_TIMEOUT);
        let port = match fields.get("port") {
            Some(n) => match self.integer(n, "a port number") {
                Some(p) => match u16::try_from(p) {
                    Ok(p) if p > 0 => Some(p),
                    _ => {
                        self.sink.error(
                            n.span.start,
                            format!("port {p} is out of range (1 to 65535)"),
                        );
                        ok = false;
                        None
                    }
                },
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let hostname = match fields.get("hostname") {
            Some(n) => match self.string(n, "a host name") {
                Some(h) => Some(h.to_owned()),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let mut headers = Vec::new();
        if let Some(n) = fields.get("headers") {
            match self.map(n, "a map of header names to values") {
                Some(entries) => {
                    for (k, v) in entries {
                        if http::HeaderName::from_bytes(k.text.as_bytes()).is_err() {
                            self.sink.error(
                                k.span.start,
                                format!("`{}` is not a valid header name", k.text),
                            );
                            ok = false;
                        }
                        match self.string(v, "a header value string") {
                            Some(value) => headers.push((k.text.clone(), value.to_owned())),
                            None => ok = false,
                        }
                    }
                }
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        let Some(path) = path else {
            if traefik {
                self.sink.warn(
                    node.span.start,
                    format!("{hc_place} has no `path`: no health checks are run (as in Traefik)"),
                );
                return Some(None);
            }
            self.sink
                .error(node.span.start, format!("{hc_place} needs a `path`"));
            return None;
        };
        Some(Some(HealthCheck {
            path,
            interval,
            timeout,
            port,
            hostname,
            headers,
        }))
    }

    /// A Go duration string (`"30s"`, `"1m30s"`, `"500ms"`) or a number of seconds.
    fn duration(&mut self, node: &Node) -> Option<Duration> {
        let parsed = match &node.kind {
            Kind::Int(i) if *i > 0 => u64::try_from(*i).ok().map(Duration::from_secs),
            Kind::Str(s) => parse_go_duration(s).filter(|d| !d.is_zero()),
            Kind::Int(_) => None,
            _ => {
                self.type_error(node, "a duration (`\"30s\"`, `\"1m\"`, `\"500ms\"`)");
                return None;
            }
        };
        if parsed.is_none() {
            let shown = match &node.kind {
                Kind::Str(s) => s.clone(),
                Kind::Int(i) => i.to_string(),
                _ => String::new(),
            };
            self.sink.error(
                node.content_start,
                format!(
                    "invalid duration `{shown}`: expected a positive Go duration like `30s`, `1m` or `500ms`"
                ),
            );
        }
        parsed
    }
}

fn check_weight_int(i: i64) -> Result<u32, String> {
    if i < 0 {
        return Err(format!("a weight must not be negative, found {i}"));
    }
    match u32::try_from(i) {
        Ok(w) if w <= MAX_WEIGHT => Ok(w),
        _ => Err(format!("weight {i} is too large (at most {MAX_WEIGHT})")),
    }
}

/// Strips one pair of matching quotes.
fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|t| t.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// Whether `s` is a cookie name: a non-empty RFC 7230 token.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_tchar)
}

/// An RFC 7230 token character.
pub(crate) fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '!' | '#'
                | '$'
                | '%'
                | '&'
                | '\''
                | '*'
                | '+'
                | '-'
                | '.'
                | '^'
                | '_'
                | '`'
                | '|'
                | '~'
        )
}

/// Parses Go's `time.ParseDuration` syntax: an optional sign, then one or more decimal
/// numbers each with a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`); `"0"` alone is zero.
/// Negative durations are refused (`None`).
pub(crate) fn parse_go_duration(text: &str) -> Option<Duration> {
    let s = text.strip_prefix('+').unwrap_or(text);
    if s.starts_with('-') {
        return None;
    }
    if s == "0" {
        return Some(Duration::ZERO);
    }
    if s.is_empty() {
        return None;
    }
    let mut rest = s;
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        if number.is_empty() || number == "." {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let nanos_per = match unit {
            "ns" => 1e0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * nanos_per;
        rest = after;
    }
    if !total.is_finite() || total > 1e18 {
        return None;
    }
    // Truncation to whole nanoseconds, as Go does.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let nanos = total as u64;
    Some(Duration::from_nanos(nanos))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("30"), None);
        assert_eq!(parse_go_duration("-1s"), None);
        assert_eq!(parse_go_duration("1x"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn cookie_tokens() {
        assert!(is_token("_AUSER_TYPE"));
        assert!(!is_token(""));
        assert!(!is_token("a b"));
        assert!(!is_token("a;b"));
        assert!(!is_token("ç"));
    }

    #[test]
    fn values_are_unquoted_once() {
        assert_eq!(unquote("\"http://a\""), "http://a");
        assert_eq!(unquote("'x'"), "x");
        assert_eq!(unquote("\"x"), "\"x");
    }
}
