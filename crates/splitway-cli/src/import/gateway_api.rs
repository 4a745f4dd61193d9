//! Gateway API: `gateway.networking.k8s.io/v1` HTTPRoutes (and the listeners of the Gateways
//! they attach to, when the input has them: a route attaches to the HTTP(S) listeners its
//! parentRef's `sectionName` and `port` pick whose `allowedRoutes` admit it, by kind and by
//! namespace (`Same`, `All`, or a `Selector` of `matchLabels` on a Namespace manifest), and
//! takes the intersection of its hostnames with theirs).
//!
//! Every (hostname, match) of every rule of every route becomes one frontend, and the
//! specification's precedence becomes explicit priorities, highest first: an exact hostname
//! (longer first), then a wildcard hostname (longer first), then none; an `Exact` path, then a
//! `RegularExpression` path (longer first; its place is implementation-specific in the
//! specification, and this is Envoy Gateway's), then a longer `PathPrefix`; a method match; more header matches;
//! more query matches; the oldest route by `creationTimestamp` (routes without one come after
//! those with one, and tie among themselves); namespace/name alphabetically; rule order; match
//! order. Each rule's backendRefs are one weighted backend, split exactly by splitway's smooth
//! weighted round robin.

use std::cmp::Ordering;

use super::manifest::{Node, Object, Report, find_service, service_url};
use super::output::{Output, ServerOut, and, rule_str, server_names};

const GROUP: &str = "gateway.networking.k8s.io";

/// A hostname to match: exact, or `*.` suffix wildcard (one or more labels).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Hostname {
    Any,
    Exact(String),
    Wildcard(String),
}

impl Hostname {
    fn parse(text: &str) -> Hostname {
        let text = text.to_ascii_lowercase();
        match text.strip_prefix("*.") {
            Some(rest) => Hostname::Wildcard(rest.to_owned()),
            None => Hostname::Exact(text),
        }
    }

    /// Whether this (a pattern) covers the exact name `name`.
    fn covers(&self, name: &str) -> bool {
        match self {
            Hostname::Any => true,
            Hostname::Exact(e) => e == name,
            Hostname::Wildcard(suffix) => name
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        }
    }

    /// The hostnames both accept (route hostname `self`, listener hostname `other`).
    fn intersect(&self, other: &Hostname) -> Option<Hostname> {
        match (self, other) {
            (_, Hostname::Any) => Some(self.clone()),
            (Hostname::Any, _) => Some(other.clone()),
            (Hostname::Exact(a), b) => b.covers(a).then(|| self.clone()),
            (a, Hostname::Exact(b)) => a.covers(b).then(|| other.clone()),
            (Hostname::Wildcard(a), Hostname::Wildcard(b)) => {
                if a == b || a.ends_with(&format!(".{b}")) {
                    Some(self.clone())
                } else if b.ends_with(&format!(".{a}")) {
                    Some(other.clone())
                } else {
                    None
                }
            }
        }
    }

    /// The matcher, or none for `Any`. A wildcard matches one or more labels before its
    /// suffix, unlike splitway's one-label `Host(`*.…`)`, so it is a regex.
    fn matcher(&self) -> Option<String> {
        match self {
            Hostname::Any => None,
            Hostname::Exact(h) => Some(format!("Host({})", rule_str(h))),
            Hostname::Wildcard(s) => Some(format!(
                "HostRegexp({})",
                rule_str(&format!("^[^.]+(\\.[^.]+)*\\.{}$", regex::escape(s)))
            )),
        }
    }

    /// Precedence: exact (longer first) over wildcard (longer first) over none.
    fn rank(&self) -> (u8, usize) {
        match self {
            Hostname::Exact(h) => (2, h.len()),
            Hostname::Wildcard(s) => (1, s.len() + 2),
            Hostname::Any => (0, 0),
        }
    }

    fn suffix_text(&self) -> String {
        match self {
            Hostname::Any => "*".to_owned(),
            Hostname::Exact(h) => h.clone(),
            Hostname::Wildcard(s) => format!("*.{s}"),
        }
    }
}

/// One match of a rule, compiled to matcher texts, with what precedence looks at.
struct Match {
    matchers: Vec<String>,
    /// (path class: Exact 2, RegularExpression 1, PathPrefix 0; path length)
    path_rank: (u8, usize),
    method: bool,
    headers: usize,
    queries: usize,
}

/// One frontend to be: a route's rule's match for one hostname.
struct Item<'a> {
    route: Object<'a>,
    rule: usize,
    match_index: usize,
    hostname: Hostname,
    m: std::rc::Rc<Match>,
    backend: String,
    /// `FILE:LINE:COL` of the match (of the rule, for a rule without matches).
    at: String,
}

/// Imports every HTTPRoute of `objects` into `out`.
pub(crate) fn import(objects: &[Object<'_>], out: &mut Output, report: &mut Report) {
    let mut items: Vec<Item<'_>> = Vec::new();
    for obj in objects {
        match (obj.kind, obj.api_version) {
            ("HTTPRoute", v) if v == format!("{GROUP}/v1") || v == format!("{GROUP}/v1beta1") => {
                route(obj, objects, out, report, &mut items);
            }
            ("HTTPRoute", v) => report.error(
                &obj.node,
                format!(
                    "{}: apiVersion `{v}` is not imported: only {GROUP}/v1 HTTPRoutes",
                    obj.id()
                ),
            ),
            ("Gateway" | "Service" | "ReferenceGrant" | "Namespace", _) => {}
            _ => report.warn(
                &obj.node,
                format!(
                    "{}: not an HTTPRoute, Gateway, Service, ReferenceGrant or Namespace: not imported",
                    obj.id()
                ),
            ),
        }
    }
    items.sort_by(precedence);
    let n = items.len();
    for (i, item) in items.iter().enumerate() {
        let priority = i64::try_from(n - i).unwrap_or(i64::MAX);
        let mut matchers: Vec<String> = item.hostname.matcher().into_iter().collect();
        matchers.extend(item.m.matchers.iter().cloned());
        let rule = if matchers.is_empty() {
            "PathPrefix(`/`)".to_owned()
        } else {
            and(&matchers)
        };
        let mut name = format!("{}-{}-{}", item.route.name, item.rule, item.match_index);
        if item.hostname != Hostname::Any {
            name = format!("{name}-{}", item.hostname.suffix_text());
        }
        let from = format!(
            "{} rule {} match {} hostname {}, from {}",
            item.route.id(),
            item.rule,
            item.match_index,
            item.hostname.suffix_text(),
            item.at
        );
        out.frontend(&name, rule, priority, &item.backend, from);
    }
}

/// The order of the specification, most preferred first.
fn precedence(a: &Item<'_>, b: &Item<'_>) -> Ordering {
    let key = |i: &Item<'_>| {
        (
            i.hostname.rank(),
            i.m.path_rank,
            i.m.method,
            i.m.headers,
            i.m.queries,
        )
    };
    key(b)
        .cmp(&key(a))
        .then_with(|| match (a.route.created(), b.route.created()) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        })
        .then_with(|| (a.route.namespace, a.route.name).cmp(&(b.route.namespace, b.route.name)))
        .then_with(|| (a.rule, a.match_index).cmp(&(b.rule, b.match_index)))
}

fn route<'a>(
    obj: &Object<'a>,
    objects: &[Object<'a>],
    out: &mut Output,
    report: &mut Report,
    items: &mut Vec<Item<'a>>,
) {
    let Some(spec) = obj.spec() else {
        report.error(&obj.node, format!("{}: no `spec`", obj.id()));
        return;
    };
    for (key, node) in spec.entries() {
        if !matches!(key, "parentRefs" | "hostnames" | "rules") {
            report.warn(
                &node,
                format!("{}: spec.{key} is not carried over", obj.id()),
            );
        }
    }
    let Some(hostnames) = hostnames(obj, objects, &spec, report) else {
        return;
    };
    for (r, rule) in spec
        .get("rules")
        .into_iter()
        .flat_map(|r| r.items())
        .enumerate()
    {
        for (key, node) in rule.entries() {
            match key {
                "matches" | "backendRefs" | "name" => {}
                "filters" => {
                    for f in node.items() {
                        let t = f.get("type").and_then(|t| t.str()).unwrap_or("?");
                        report.warn(
                            &f,
                            format!("{}: rule {r}: filter `{t}` is not carried over", obj.id()),
                        );
                    }
                }
                other => report.warn(
                    &node,
                    format!("{}: rule {r}: `{other}` is not carried over", obj.id()),
                ),
            }
        }
        let backend = backend(obj, objects, &rule, r, out, report);
        let matches: Vec<Node<'a>> = rule
            .get("matches")
            .into_iter()
            .flat_map(|m| m.items())
            .collect();
        let places: Vec<String> = if matches.is_empty() {
            vec![rule.at()]
        } else {
            matches.iter().map(|m| m.at()).collect()
        };
        let compiled: Vec<Option<Match>> = if matches.is_empty() {
            vec![Some(Match {
                matchers: vec!["PathPrefix(`/`)".to_owned()],
                path_rank: (0, 1),
                method: false,
                headers: 0,
                queries: 0,
            })]
        } else {
            matches
                .iter()
                .map(|m| compile_match(obj, r, m, report))
                .collect()
        };
        for ((mi, m), at) in compiled.into_iter().enumerate().zip(places) {
            let Some(m) = m else { continue };
            let m = std::rc::Rc::new(m);
            for h in &hostnames {
                items.push(Item {
                    route: *obj,
                    rule: r,
                    match_index: mi,
                    hostname: h.clone(),
                    m: m.clone(),
                    backend: backend.clone(),
                    at: at.clone(),
                });
            }
        }
    }
}

/// The route's hostnames intersected with its Gateways' listener hostnames; `None` (with a
/// warning) when nothing intersects.
fn hostnames(
    obj: &Object<'_>,
    objects: &[Object<'_>],
    spec: &Node<'_>,
    report: &mut Report,
) -> Option<Vec<Hostname>> {
    let mut route_names: Vec<Hostname> = spec
        .get("hostnames")
        .into_iter()
        .flat_map(|h| h.items())
        .filter_map(|h| h.str())
        .map(Hostname::parse)
        .collect();
    if route_names.is_empty() {
        route_names.push(Hostname::Any);
    }
    let mut listeners: Vec<Hostname> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    let mut attached = false;
    for parent in spec.get("parentRefs").into_iter().flat_map(|p| p.items()) {
        let group = parent.get("group").and_then(|g| g.str()).unwrap_or(GROUP);
        let kind = parent
            .get("kind")
            .and_then(|k| k.str())
            .unwrap_or("Gateway");
        if group != GROUP || kind != "Gateway" {
            continue;
        }
        let ns = parent
            .get("namespace")
            .and_then(|n| n.str())
            .unwrap_or(obj.namespace);
        let Some(name) = parent.get("name").and_then(|n| n.str()) else {
            continue;
        };
        let section = parent.get("sectionName").and_then(|s| s.str());
        let port = parent.get("port").and_then(|p| p.int());
        let Some(gw) = objects
            .iter()
            .find(|o| o.kind == "Gateway" && o.namespace == ns && o.name == name)
        else {
            continue;
        };
        attached = true;
        for l in gw
            .spec()
            .and_then(|s| s.get("listeners"))
            .into_iter()
            .flat_map(|l| l.items())
        {
            if section.is_some() && l.get("name").and_then(|n| n.str()) != section {
                continue;
            }
            if port.is_some() && l.get("port").and_then(|p| p.int()) != port {
                continue;
            }
            if let Err(why) = listener_admits(gw, &l, obj, objects) {
                refused.push(why);
                continue;
            }
            listeners.push(
                l.get("hostname")
                    .and_then(|h| h.str())
                    .map_or(Hostname::Any, Hostname::parse),
            );
        }
    }
    if !attached {
        return Some(route_names);
    }
    if listeners.is_empty() {
        let at = spec.get("parentRefs").unwrap_or(obj.node);
        let why = if refused.is_empty() {
            "no listener of its parentRefs (sectionName, port)".to_owned()
        } else {
            refused.join("; ")
        };
        report.warn(
            &at,
            format!(
                "{}: no listener of its Gateways admits it ({why}): the route is not accepted, not imported",
                obj.id()
            ),
        );
        return None;
    }
    let mut out: Vec<Hostname> = Vec::new();
    for r in &route_names {
        for l in &listeners {
            if let Some(h) = r.intersect(l)
                && !out.contains(&h)
            {
                out.push(h);
            }
        }
    }
    if out.is_empty() {
        let at = spec.get("hostnames").unwrap_or(obj.node);
        report.warn(&at, format!("{}: no hostname intersects its Gateways' listener hostnames: the route is not accepted, not imported", obj.id()));
        return None;
    }
    Some(out)
}

/// Whether listener `l` of Gateway `gw` admits HTTPRoute `route`: an HTTP or HTTPS
/// listener, whose `allowedRoutes.kinds` (when given) names HTTPRoute, and whose
/// `allowedRoutes.namespaces.from` is `All`, `Same` (the default: the Gateway's namespace) or
/// `Selector` with `matchLabels` that the route's Namespace manifest (in the input) carries.
fn listener_admits(
    gw: &Object<'_>,
    l: &Node<'_>,
    route: &Object<'_>,
    objects: &[Object<'_>],
) -> Result<(), String> {
    let name = l.get("name").and_then(|n| n.str()).unwrap_or("?");
    let listener = format!("listener `{name}` of {}", gw.id());
    let protocol = l.get("protocol").and_then(|p| p.str()).unwrap_or("HTTP");
    if !matches!(protocol, "HTTP" | "HTTPS") {
        return Err(format!("{listener} speaks {protocol}"));
    }
    let allowed = l.get("allowedRoutes");
    let kinds: Vec<(&str, &str)> = allowed
        .and_then(|a| a.get("kinds"))
        .into_iter()
        .flat_map(|k| k.items())
        .map(|k| {
            (
                k.get("group").and_then(|g| g.str()).unwrap_or(GROUP),
                k.get("kind").and_then(|k| k.str()).unwrap_or(""),
            )
        })
        .collect();
    if !kinds.is_empty() && !kinds.contains(&(GROUP, "HTTPRoute")) {
        return Err(format!("{listener} allows no HTTPRoute"));
    }
    let namespaces = allowed.and_then(|a| a.get("namespaces"));
    let from = namespaces
        .and_then(|n| n.get("from"))
        .and_then(|f| f.str())
        .unwrap_or("Same");
    match from {
        "All" => Ok(()),
        "Same" if route.namespace == gw.namespace => Ok(()),
        "Same" => Err(format!(
            "{listener} allows routes of namespace `{}` only",
            gw.namespace
        )),
        "Selector" => {
            let selector = namespaces.and_then(|n| n.get("selector"));
            if selector.and_then(|s| s.get("matchExpressions")).is_some() {
                return Err(format!(
                    "{listener} selects namespaces with matchExpressions, which this import does not evaluate"
                ));
            }
            let wanted: Vec<(&str, &str)> = selector
                .and_then(|s| s.get("matchLabels"))
                .into_iter()
                .flat_map(|m| m.entries())
                .filter_map(|(k, v)| Some((k, v.str()?)))
                .collect();
            let Some(ns) = objects
                .iter()
                .find(|o| o.kind == "Namespace" && o.name == route.namespace)
            else {
                return Err(format!(
                    "{listener} selects namespaces by label, and no Namespace `{}` manifest is in the input",
                    route.namespace
                ));
            };
            let labels = ns.node.path(&["metadata", "labels"]);
            let has = |k: &str, v: &str| {
                labels
                    .and_then(|l| l.get(k))
                    .and_then(|x| x.str())
                    .is_some_and(|x| x == v)
            };
            if wanted.iter().all(|(k, v)| has(k, v)) {
                Ok(())
            } else {
                Err(format!(
                    "{listener}'s namespace selector does not select namespace `{}`",
                    route.namespace
                ))
            }
        }
        other => Err(format!(
            "{listener} has allowedRoutes.namespaces.from `{other}`"
        )),
    }
}

fn compile_match(obj: &Object<'_>, r: usize, m: &Node<'_>, report: &mut Report) -> Option<Match> {
    let mut matchers = Vec::new();
    let bad_regex = |report: &mut Report, at: &Node<'_>, v: &str, e: regex::Error| {
        report.warn(at, format!("{}: rule {r}: regular expression `{v}` does not compile here ({}): match not imported", obj.id(), e.to_string().lines().last().unwrap_or("invalid").trim_start_matches("error: ")));
    };
    let path = m.get("path");
    let path_type = path
        .and_then(|p| p.get("type"))
        .and_then(|t| t.str())
        .unwrap_or("PathPrefix");
    let value = path
        .and_then(|p| p.get("value"))
        .and_then(|v| v.str())
        .unwrap_or("/");
    let path_rank = match path_type {
        "Exact" | "PathPrefix" if !value.starts_with('/') => {
            report.error(
                &path.unwrap_or(*m),
                format!("{}: rule {r}: path `{value}` must start with `/`", obj.id()),
            );
            return None;
        }
        "Exact" => {
            matchers.push(format!("Path({})", rule_str(value)));
            (2, value.len())
        }
        "PathPrefix" => {
            let trimmed = value.trim_end_matches('/');
            if trimmed.is_empty() {
                matchers.push("PathPrefix(`/`)".to_owned());
            } else {
                matchers.push(format!(
                    "(Path({}) || PathPrefix({}))",
                    rule_str(trimmed),
                    rule_str(&format!("{trimmed}/"))
                ));
            }
            (0, trimmed.len().max(1))
        }
        "RegularExpression" => {
            let anchored = format!("^(?:{value})$");
            if let Err(e) = regex::Regex::new(&anchored) {
                bad_regex(report, &path.unwrap_or(*m), value, e);
                return None;
            }
            matchers.push(format!("PathRegexp({})", rule_str(&anchored)));
            (1, value.len())
        }
        other => {
            report.error(&path.unwrap_or(*m), format!("{}: rule {r}: path type `{other}` is not Exact, PathPrefix or RegularExpression", obj.id()));
            return None;
        }
    };
    let count = |list: &str,
                 exact: &str,
                 regexp: &str,
                 matchers: &mut Vec<String>,
                 report: &mut Report|
     -> Option<usize> {
        let mut n = 0;
        for h in m.get(list).into_iter().flat_map(|l| l.items()) {
            let t = h.get("type").and_then(|t| t.str()).unwrap_or("Exact");
            let (Some(name), Some(value)) = (
                h.get("name").and_then(|v| v.str()),
                h.get("value").and_then(|v| v.str()),
            ) else {
                report.error(
                    &h,
                    format!(
                        "{}: rule {r}: a {list} match needs `name` and `value` strings",
                        obj.id()
                    ),
                );
                return None;
            };
            match t {
                "Exact" => {
                    matchers.push(format!("{exact}({}, {})", rule_str(name), rule_str(value)))
                }
                "RegularExpression" => {
                    let anchored = format!("^(?:{value})$");
                    if let Err(e) = regex::Regex::new(&anchored) {
                        bad_regex(report, &h, value, e);
                        return None;
                    }
                    matchers.push(format!(
                        "{regexp}({}, {})",
                        rule_str(name),
                        rule_str(&anchored)
                    ));
                }
                other => {
                    report.error(&h, format!("{}: rule {r}: {list} match type `{other}` is not Exact or RegularExpression", obj.id()));
                    return None;
                }
            }
            n += 1;
        }
        Some(n)
    };
    let headers = count("headers", "Header", "HeaderRegexp", &mut matchers, report)?;
    let queries = count("queryParams", "Query", "QueryRegexp", &mut matchers, report)?;
    let method = match m.get("method").and_then(|v| v.str()) {
        Some(method) => {
            matchers.push(format!("Method({})", rule_str(method)));
            true
        }
        None => false,
    };
    for (key, node) in m.entries() {
        if !matches!(key, "path" | "headers" | "queryParams" | "method") {
            report.warn(
                &node,
                format!(
                    "{}: rule {r}: match field `{key}` is not carried over",
                    obj.id()
                ),
            );
        }
    }
    Some(Match {
        matchers,
        path_rank,
        method,
        headers,
        queries,
    })
}

/// A rule's backendRefs as one weighted backend. A reference that cannot be resolved keeps
/// its share of the traffic on a fixed-response server that answers 500, as Gateway API does.
fn backend(
    obj: &Object<'_>,
    objects: &[Object<'_>],
    rule: &Node<'_>,
    r: usize,
    out: &mut Output,
    report: &mut Report,
) -> String {
    struct Ref<'a> {
        name: &'a str,
        namespace: &'a str,
        port: u16,
        weight: u32,
        /// `None`: the reference cannot be resolved, and its share answers 500.
        url: Option<String>,
    }
    let mut refs: Vec<Ref<'_>> = Vec::new();
    for b in rule.get("backendRefs").into_iter().flat_map(|b| b.items()) {
        let name = b.get("name").and_then(|n| n.str()).unwrap_or("");
        let namespace = b
            .get("namespace")
            .and_then(|n| n.str())
            .unwrap_or(obj.namespace);
        let group = b.get("group").and_then(|g| g.str()).unwrap_or("");
        let kind = b.get("kind").and_then(|k| k.str()).unwrap_or("Service");
        let port = b
            .get("port")
            .and_then(|p| p.int())
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0);
        let weight = match b.get("weight").map(|w| w.int()) {
            None => 1,
            Some(Some(w)) if (0..=1_000_000).contains(&w) => u32::try_from(w).unwrap_or(1),
            Some(_) => {
                report.error(&b, format!("{}: rule {r}: backendRef `{name}`: weight must be a whole number from 0 to 1000000", obj.id()));
                1
            }
        };
        for (key, node) in b.entries() {
            if !matches!(
                key,
                "name" | "namespace" | "group" | "kind" | "port" | "weight"
            ) {
                report.warn(
                    &node,
                    format!(
                        "{}: rule {r}: backendRef `{name}`: `{key}` is not carried over",
                        obj.id()
                    ),
                );
            }
        }
        let problem = if !(group.is_empty() || group == "core") || kind != "Service" {
            Some(format!("kind `{kind}` of group `{group}` is not a Service"))
        } else if name.is_empty() {
            Some("no name".to_owned())
        } else if port == 0 {
            Some("no port".to_owned())
        } else if find_service(objects, namespace, name).is_none() {
            Some(format!("no Service {namespace}/{name} in the input"))
        } else if namespace != obj.namespace && !granted(objects, obj, namespace, name) {
            Some(format!(
                "no ReferenceGrant in namespace {namespace} lets HTTPRoutes of {} refer to Service {name}",
                obj.namespace
            ))
        } else {
            None
        };
        let url = match problem {
            Some(p) => {
                report.warn(&b, format!("{}: rule {r}: backendRef `{name}` cannot be resolved ({p}): its share of the traffic answers 500, as in Gateway API", obj.id()));
                None
            }
            None => Some(service_url(name, namespace, port)),
        };
        refs.push(Ref {
            name: if name.is_empty() { "backend" } else { name },
            namespace,
            port,
            weight,
            url,
        });
    }
    if refs.is_empty() {
        report.warn(
            rule,
            format!(
                "{}: rule {r}: no backendRefs: it answers 500, as in Gateway API",
                obj.id()
            ),
        );
        refs.push(Ref {
            name: "no-backend",
            namespace: obj.namespace,
            port: 0,
            weight: 1,
            url: None,
        });
    } else if refs.iter().all(|r| r.weight == 0) {
        report.warn(
            rule,
            format!(
                "{}: rule {r}: every backendRef has weight 0: it answers 500, as in Gateway API",
                obj.id()
            ),
        );
        refs.push(Ref {
            name: "all-weights-zero",
            namespace: obj.namespace,
            port: 0,
            weight: 1,
            url: None,
        });
    }
    let keys: Vec<(&str, &str, u16)> = refs.iter().map(|r| (r.name, r.namespace, r.port)).collect();
    let names = server_names(&keys);
    let servers = refs
        .iter()
        .zip(names)
        .map(|(r, name)| ServerOut {
            name,
            url: r.url.clone().unwrap_or_default(),
            status: r.url.is_none().then_some(500),
            weight: r.weight,
        })
        .collect();
    let name = if refs.len() == 1 {
        refs.first().map_or("backend", |r| r.name).to_owned()
    } else {
        format!("{}-{r}", obj.name)
    };
    out.backend(&name, servers, None)
}

/// Whether a ReferenceGrant in `namespace` lets `route`'s namespace refer to Service `name`.
fn granted(objects: &[Object<'_>], route: &Object<'_>, namespace: &str, name: &str) -> bool {
    objects
        .iter()
        .filter(|o| o.kind == "ReferenceGrant" && o.namespace == namespace)
        .any(|g| {
            let Some(spec) = g.spec() else { return false };
            let from = spec
                .get("from")
                .into_iter()
                .flat_map(|f| f.items())
                .any(|f| {
                    f.get("group").and_then(|v| v.str()) == Some(GROUP)
                        && f.get("kind").and_then(|v| v.str()) == Some("HTTPRoute")
                        && f.get("namespace").and_then(|v| v.str()) == Some(route.namespace)
                });
            let to = spec.get("to").into_iter().flat_map(|t| t.items()).any(|t| {
                matches!(
                    t.get("group").and_then(|v| v.str()),
                    Some("" | "core") | None
                ) && t.get("kind").and_then(|v| v.str()) == Some("Service")
                    && t.get("name")
                        .and_then(|v| v.str())
                        .is_none_or(|n| n == name)
            });
            from && to
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_hostname_matches_one_or_more_labels_and_not_the_bare_suffix() {
        let w = Hostname::parse("*.example.com");
        assert!(w.covers("foo.example.com"));
        assert!(w.covers("a.b.example.com"));
        assert!(!w.covers("example.com"));
        assert!(!w.covers("fooexample.com"));
    }

    #[test]
    fn intersection_keeps_the_more_specific_name() {
        let w = Hostname::parse("*.example.com");
        let e = Hostname::parse("foo.example.com");
        assert_eq!(w.intersect(&e), Some(e.clone()));
        assert_eq!(e.intersect(&w), Some(e.clone()));
        assert_eq!(
            Hostname::parse("*.a.example.com").intersect(&w),
            Some(Hostname::parse("*.a.example.com"))
        );
        assert_eq!(Hostname::parse("bar.other.com").intersect(&w), None);
    }
}
