//! ingress-nginx: `networking.k8s.io/v1` Ingresses, each main Ingress with its canary
//! Ingress (`nginx.ingress.kubernetes.io/canary: "true"`) for the same host and path.
//!
//! The canary decision of ingress-nginx's balancer, in its order, becomes frontends of one
//! host and path with decreasing priorities:
//!
//! 1. affinity: a request whose session cookie names a main server stays on the main
//!    Service; with `affinity-canary-behavior: sticky` (the default) one naming a canary
//!    server stays on the canary;
//! 2. `canary-by-header`: the header equal to `canary-by-header-value`, or matching
//!    `canary-by-header-pattern`, or (with neither) `always` sends to the canary, `never` to
//!    the main Service; a pattern that does not compile sends every request carrying the
//!    header to the main Service, as the balancer does on a match error;
//! 3. `canary-by-cookie`: `always` / `never`;
//! 4. `canary-weight` of `canary-weight-total` (default 100): a weighted backend, split
//!    exactly by splitway's smooth weighted round robin where ingress-nginx draws at random.
//!
//! Across hosts and paths, nginx's order: an exact host before a `*.` wildcard host before
//! rules without a host, then `Exact` paths, then longer paths. A host with rules is its own
//! nginx server block: its other paths answer its Ingress's defaultBackend, else 404, and
//! never fall through to a wildcard host's or the host-less rules. `use-regex` on any
//! Ingress of a host makes every non-Exact path of that host a regex.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::manifest::{Node, Object, PortRef, Report, named_port, service_url};
use super::output::{Output, ServerOut, and, rule_str, server_names};

const PREFIX: &str = "nginx.ingress.kubernetes.io/";
/// Annotations read here (without the prefix).
const HANDLED: &[&str] = &[
    "canary",
    "canary-by-header",
    "canary-by-header-value",
    "canary-by-header-pattern",
    "canary-by-cookie",
    "canary-weight",
    "canary-weight-total",
    "affinity",
    "session-cookie-name",
    "affinity-canary-behavior",
    "use-regex",
];
/// ingress-nginx's default session cookie.
const DEFAULT_SESSION_COOKIE: &str = "INGRESSCOOKIE";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PathType {
    Prefix,
    ImplementationSpecific,
    Exact,
}

/// A Service and port.
#[derive(Clone)]
struct Target<'a> {
    service: &'a str,
    namespace: &'a str,
    port: u16,
}

impl Target<'_> {
    fn url(&self) -> String {
        service_url(self.service, self.namespace, self.port)
    }
}

/// One `host` + `path` of an Ingress.
struct PathRule<'a> {
    ingress: Object<'a>,
    host: Option<&'a str>,
    path: &'a str,
    path_type: PathType,
    target: Target<'a>,
    /// Which path of its Ingress this is (from 0), for frontend names.
    index: usize,
    /// `use-regex: "true"`: a non-Exact path is a case-insensitive regex anchored at the start.
    use_regex: bool,
    at: Node<'a>,
}

/// The canary annotations of a canary Ingress.
#[derive(Clone, Default)]
struct Canary {
    header: Option<String>,
    header_value: Option<String>,
    header_pattern: Option<String>,
    cookie: Option<String>,
    weight: u32,
    weight_total: u32,
}

/// Session affinity of a main Ingress.
#[derive(Clone)]
struct Affinity {
    cookie: String,
    canary_sticky: bool,
}

/// A main Ingress's host and path, its affinity, and its canary if it has one.
type Group<'a> = (
    PathRule<'a>,
    Option<Affinity>,
    Option<(PathRule<'a>, Canary)>,
);

/// Imports every Ingress of `objects` into `out`.
pub(crate) fn import(objects: &[Object<'_>], out: &mut Output, report: &mut Report) {
    let mut mains: Vec<(PathRule<'_>, Option<Affinity>)> = Vec::new();
    let mut canaries: Vec<(PathRule<'_>, Canary)> = Vec::new();
    let mut defaults: Vec<PathRule<'_>> = Vec::new();
    for obj in objects {
        match obj.kind {
            "Ingress" if obj.api_version == "networking.k8s.io/v1" => {}
            "Ingress" => {
                report.error(
                    &obj.node,
                    format!(
                        "{}: apiVersion `{}` is not imported: only networking.k8s.io/v1 Ingresses",
                        obj.id(),
                        obj.api_version
                    ),
                );
                continue;
            }
            "Service" => continue,
            _ => {
                report.warn(
                    &obj.node,
                    format!("{}: not an Ingress, not imported", obj.id()),
                );
                continue;
            }
        }
        let annotations = annotations(obj, report);
        let is_canary = annotations.get("canary").map(|(v, _)| *v) == Some("true");
        let canary = is_canary.then(|| canary_policy(obj, &annotations, report));
        let affinity = if is_canary {
            for key in [
                "affinity",
                "session-cookie-name",
                "affinity-canary-behavior",
            ] {
                if let Some((_, node)) = annotations.get(key) {
                    report.warn(node, format!("{}: annotation `{PREFIX}{key}` on a canary Ingress is not carried over: the main Ingress's affinity applies", obj.id()));
                }
            }
            None
        } else {
            for (key, (_, node)) in &annotations {
                if key.starts_with("canary-") {
                    report.warn(node, format!("{}: annotation `{PREFIX}{key}` without `{PREFIX}canary: \"true\"` is ignored, as ingress-nginx ignores it", obj.id()));
                }
            }
            affinity(obj, &annotations, report)
        };
        let mut paths = Vec::new();
        let use_regex = annotations.get("use-regex").map(|(v, _)| *v) == Some("true");
        rules(
            obj,
            objects,
            report,
            &mut paths,
            &mut defaults,
            (is_canary, use_regex),
        );
        match canary {
            Some(policy) => canaries.extend(paths.into_iter().map(|p| (p, policy.clone()))),
            None => mains.extend(paths.into_iter().map(|p| (p, affinity.clone()))),
        }
    }

    // `use-regex` on one Ingress makes every path of its host a regex location, whichever
    // Ingress defines it (ingress-nginx enforces the `~*` modifier host-wide); Exact paths
    // stay exact.
    let regex_hosts: Vec<Option<&str>> = mains
        .iter()
        .map(|(p, _)| p)
        .chain(canaries.iter().map(|(p, _)| p))
        .filter(|p| p.use_regex)
        .map(|p| p.host)
        .collect();
    for p in mains
        .iter_mut()
        .map(|(p, _)| p)
        .chain(canaries.iter_mut().map(|(p, _)| p))
    {
        if p.use_regex || p.path_type == PathType::Exact || !regex_hosts.contains(&p.host) {
            continue;
        }
        if regex::Regex::new(p.path).is_ok() {
            p.use_regex = true;
        } else {
            report.warn(&p.at, format!("{}: path `{}` is not a regular expression, but another Ingress of host `{}` sets `{PREFIX}use-regex`: kept as a prefix", p.ingress.id(), p.path, p.host.unwrap_or("*")));
        }
    }

    // Pair each canary with the main Ingress of its host and path.
    let mut groups: Vec<Group<'_>> = Vec::new();
    for (main, affinity) in mains {
        if let Some((first, _, _)) = groups.iter().find(|(g, _, _)| {
            g.host == main.host && g.path == main.path && g.path_type == main.path_type
        }) {
            report.warn(
                &main.at,
                format!(
                    "{}: host `{}` path `{}` is already served by {}: not imported",
                    main.ingress.id(),
                    main.host.unwrap_or("*"),
                    main.path,
                    first.ingress.id()
                ),
            );
            continue;
        }
        groups.push((main, affinity, None));
    }
    for (canary, policy) in canaries {
        // The main of the same host, path and pathType, else of the same host and path.
        let same = |g: &PathRule<'_>| g.host == canary.host && g.path == canary.path;
        let slot = match groups
            .iter()
            .position(|(g, _, _)| same(g) && g.path_type == canary.path_type)
        {
            Some(i) => groups.get_mut(i),
            None => groups.iter_mut().find(|(g, _, _)| same(g)),
        };
        match slot {
            Some((_, _, slot @ None)) => *slot = Some((canary, policy)),
            Some((main, _, Some((first, _)))) => report.warn(&canary.at, format!("{}: {} already has the canary {}: ingress-nginx uses one canary a path; not imported", canary.ingress.id(), main.ingress.id(), first.ingress.id())),
            None => report.warn(&canary.at, format!("{}: canary for host `{}` path `{}` has no main Ingress: ingress-nginx answers 404 there, and so does the import (nothing routed)", canary.ingress.id(), canary.host.unwrap_or("*"), canary.path)),
        }
    }

    groups.sort_by_key(|(g, _, _)| rank(g));
    let mut base: i64 = 0;
    let mut tier = None;
    for (main, affinity, canary) in &groups {
        let (host_tier, _, _) = rank(main);
        if tier != Some(host_tier) {
            tier = Some(host_tier);
            // nginx gives each host its own server block: a request for a host with rules
            // that matches none of its paths stays in that block (its root location: the
            // Ingress's defaultBackend, else ingress-nginx's default backend, a 404), and
            // never reaches a wildcard host's or the host-less rules. Below the tier's
            // paths, above every less specific host's.
            if host_tier > 0
                && host_fallbacks(out, base.saturating_add(10), &groups, host_tier, &defaults)
            {
                base = base.saturating_add(10);
            }
        }
        base = base.saturating_add(10);
        emit(out, base, main, affinity.as_ref(), canary.as_ref(), report);
    }
    for d in &defaults {
        let from = format!("{} spec.defaultBackend at {}", d.ingress.id(), d.at.at());
        let backend = out.backend(
            d.target.service,
            vec![server(&d.target, d.target.service.to_owned(), 1)],
            None,
        );
        out.frontend(
            &format!("{}-default", d.ingress.name),
            "PathPrefix(`/`)".to_owned(),
            1,
            &backend,
            from,
        );
    }
}

/// For each host of `tier` (1 wildcard, 2 exact) among `groups`, in their order: a frontend
/// for the host's other paths, at `priority`, to the defaultBackend of the Ingress that first
/// names the host, else a fixed 404. Whether it wrote any.
fn host_fallbacks(
    out: &mut Output,
    priority: i64,
    groups: &[Group<'_>],
    tier: u8,
    defaults: &[PathRule<'_>],
) -> bool {
    let mut seen: Vec<&str> = Vec::new();
    let mut wrote = false;
    for (main, _, _) in groups {
        let Some(host) = main.host.filter(|_| rank(main).0 == tier) else {
            continue;
        };
        if seen.contains(&host) {
            continue;
        }
        seen.push(host);
        // A root path of its own already takes every other path.
        let rooted = groups.iter().any(|(g, _, _)| {
            g.host == Some(host) && g.path_type != PathType::Exact && g.path == "/"
        });
        if rooted {
            continue;
        }
        let owner = main.ingress.id();
        let (backend, what) = match defaults.iter().find(|d| d.ingress.id() == owner) {
            Some(d) => (
                out.backend(
                    d.target.service,
                    vec![server(&d.target, d.target.service.to_owned(), 1)],
                    None,
                ),
                "its spec.defaultBackend",
            ),
            None => (
                out.backend(
                    "not-found",
                    vec![ServerOut {
                        name: "not-found".to_owned(),
                        url: String::new(),
                        status: Some(404),
                        weight: 1,
                    }],
                    None,
                ),
                "404, as ingress-nginx's default backend answers",
            ),
        };
        out.frontend(
            &format!("{}-other-paths", host.replace('*', "wildcard")),
            and(&[
                format!("Host({})", rule_str(host)),
                "PathPrefix(`/`)".to_owned(),
            ]),
            priority,
            &backend,
            format!("host {host}: a path none of its rules match ({owner}): {what}"),
        );
        wrote = true;
    }
    wrote
}

/// nginx's order, lowest first: no host < wildcard host < exact host; then prefix < exact
/// path; then shorter < longer path.
fn rank(p: &PathRule<'_>) -> (u8, u8, usize) {
    let host = match p.host {
        None => 0,
        Some(h) if h.starts_with("*.") => 1,
        Some(_) => 2,
    };
    (host, u8::from(p.path_type == PathType::Exact), p.path.len())
}

/// The `nginx.ingress.kubernetes.io/` annotations by short name; others that this import
/// does not read are warnings.
fn annotations<'a>(
    obj: &Object<'a>,
    report: &mut Report,
) -> BTreeMap<&'a str, (&'a str, Node<'a>)> {
    let mut out = BTreeMap::new();
    for (name, node) in obj.annotations() {
        let Some(short) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(value) = node.str() else {
            report.error(
                &node,
                format!(
                    "{}: annotation `{name}` must be a string (quote it)",
                    obj.id()
                ),
            );
            continue;
        };
        if !HANDLED.contains(&short) {
            report.warn(
                &node,
                format!("{}: annotation `{name}` is not carried over", obj.id()),
            );
            continue;
        }
        out.insert(short, (value, node));
    }
    out
}

fn canary_policy(
    obj: &Object<'_>,
    a: &BTreeMap<&str, (&str, Node<'_>)>,
    report: &mut Report,
) -> Canary {
    let text = |k: &str| {
        a.get(k)
            .map(|(v, _)| (*v).to_owned())
            .filter(|v| !v.is_empty())
    };
    let number = |k: &str, report: &mut Report| -> Option<u32> {
        let (v, node) = a.get(k)?;
        match v.trim().parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                report.error(
                    node,
                    format!(
                        "{}: annotation `{PREFIX}{k}` must be a whole number, not `{v}`",
                        obj.id()
                    ),
                );
                None
            }
        }
    };
    let weight_total = number("canary-weight-total", report).unwrap_or(100).max(1);
    let weight = number("canary-weight", report).unwrap_or(0);
    let policy = Canary {
        // The balancer reads `ngx.var["http_" .. name]` with `-` turned into `_`, and nginx
        // names every header variable that way: an annotation `X_Canary` reads the header
        // `X-Canary` (nginx drops headers spelled with `_` by default).
        header: text("canary-by-header").map(|h| h.replace('_', "-")),
        header_value: text("canary-by-header-value"),
        header_pattern: text("canary-by-header-pattern"),
        cookie: text("canary-by-cookie"),
        weight: weight.min(weight_total),
        weight_total,
    };
    if policy.header.is_none() {
        for k in ["canary-by-header-value", "canary-by-header-pattern"] {
            if let Some((_, node)) = a.get(k) {
                report.warn(node, format!("{}: annotation `{PREFIX}{k}` without `{PREFIX}canary-by-header` is ignored", obj.id()));
            }
        }
    }
    if policy.header_value.is_some()
        && policy.header_pattern.is_some()
        && let Some((_, node)) = a.get("canary-by-header-pattern")
    {
        report.warn(node, format!("{}: `{PREFIX}canary-by-header-value` is given, so `{PREFIX}canary-by-header-pattern` is ignored (as in ingress-nginx)", obj.id()));
    }
    policy
}

fn affinity(
    obj: &Object<'_>,
    a: &BTreeMap<&str, (&str, Node<'_>)>,
    report: &mut Report,
) -> Option<Affinity> {
    let (kind, node) = a.get("affinity")?;
    if *kind != "cookie" {
        report.warn(
            node,
            format!(
                "{}: affinity `{kind}` is not carried over: only `cookie`",
                obj.id()
            ),
        );
        return None;
    }
    let cookie = a
        .get("session-cookie-name")
        .map_or(DEFAULT_SESSION_COOKIE, |(v, _)| *v);
    if cookie.is_empty()
        || !cookie
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
    {
        let at = a.get("session-cookie-name").map_or(*node, |(_, n)| *n);
        report.error(
            &at,
            format!(
                "{}: session cookie name `{cookie}` is not a cookie name",
                obj.id()
            ),
        );
        return None;
    }
    let canary_sticky = match a.get("affinity-canary-behavior") {
        None => true,
        Some(("sticky", _)) => true,
        Some(("legacy", _)) => false,
        Some((other, n)) => {
            report.warn(n, format!("{}: affinity-canary-behavior `{other}` is not `sticky` or `legacy`: `sticky` assumed", obj.id()));
            true
        }
    };
    Some(Affinity {
        cookie: cookie.to_owned(),
        canary_sticky,
    })
}

/// The paths of `spec.rules` (and `spec.defaultBackend`) of one Ingress.
fn rules<'a>(
    obj: &Object<'a>,
    objects: &[Object<'a>],
    report: &mut Report,
    paths: &mut Vec<PathRule<'a>>,
    defaults: &mut Vec<PathRule<'a>>,
    (is_canary, use_regex): (bool, bool),
) {
    let Some(spec) = obj.spec() else {
        report.error(&obj.node, format!("{}: no `spec`", obj.id()));
        return;
    };
    for (key, node) in spec.entries() {
        match key {
            "rules" | "defaultBackend" | "ingressClassName" => {}
            "tls" => report.warn(
                &node,
                format!(
                    "{}: spec.tls is not carried over: terminate TLS in front of splitway",
                    obj.id()
                ),
            ),
            other => report.warn(
                &node,
                format!("{}: spec.{other} is not carried over", obj.id()),
            ),
        }
    }
    if let Some(db) = spec.get("defaultBackend") {
        if is_canary {
            report.warn(
                &db,
                format!(
                    "{}: spec.defaultBackend of a canary Ingress is not carried over",
                    obj.id()
                ),
            );
        } else if let Some(target) = backend(obj, objects, &db, report) {
            defaults.push(PathRule {
                ingress: *obj,
                host: None,
                path: "/",
                path_type: PathType::Prefix,
                target,
                index: 0,
                use_regex: false,
                at: db,
            });
        }
    }
    for rule in spec.get("rules").into_iter().flat_map(|r| r.items()) {
        let host = rule
            .get("host")
            .and_then(|h| h.str())
            .filter(|h| !h.is_empty());
        let Some(http) = rule.get("http") else {
            report.warn(
                &rule,
                format!("{}: a rule without `http` routes nothing", obj.id()),
            );
            continue;
        };
        for p in http.get("paths").into_iter().flat_map(|p| p.items()) {
            let path = p.get("path").and_then(|v| v.str()).unwrap_or("/");
            let path_type = match p.get("pathType").and_then(|v| v.str()) {
                Some("Exact") => PathType::Exact,
                Some("Prefix") => PathType::Prefix,
                Some("ImplementationSpecific") => PathType::ImplementationSpecific,
                Some(other) => {
                    report.error(
                        &p,
                        format!(
                            "{}: pathType `{other}` is not Exact, Prefix or ImplementationSpecific",
                            obj.id()
                        ),
                    );
                    continue;
                }
                None => {
                    report.error(&p, format!("{}: a path needs a `pathType`", obj.id()));
                    continue;
                }
            };
            if !path.starts_with('/') || path.contains('`') {
                report.error(
                    &p,
                    format!("{}: path `{path}` must start with `/`", obj.id()),
                );
                continue;
            }
            let Some(b) = p.get("backend") else {
                report.error(&p, format!("{}: a path needs a `backend`", obj.id()));
                continue;
            };
            if let Some(target) = backend(obj, objects, &b, report) {
                let use_regex = use_regex && path_type != PathType::Exact;
                if use_regex && let Err(e) = regex::Regex::new(path) {
                    let why = e.to_string();
                    report.error(
                        &p,
                        format!(
                            "{}: path `{path}` is not a regular expression (`use-regex`): {}",
                            obj.id(),
                            why.lines()
                                .last()
                                .unwrap_or("invalid")
                                .trim_start_matches("error: ")
                        ),
                    );
                    continue;
                }
                let index = paths.len();
                paths.push(PathRule {
                    ingress: *obj,
                    host,
                    path,
                    path_type,
                    target,
                    index,
                    use_regex,
                    at: p,
                });
            }
        }
    }
}

/// `backend.service` → a target; `backend.resource` is a warning.
fn backend<'a>(
    obj: &Object<'a>,
    objects: &[Object<'a>],
    b: &Node<'a>,
    report: &mut Report,
) -> Option<Target<'a>> {
    if let Some(r) = b.get("resource") {
        report.warn(
            &r,
            format!("{}: a `resource` backend is not carried over", obj.id()),
        );
        return None;
    }
    let Some(svc) = b.get("service") else {
        report.error(b, format!("{}: a backend needs a `service`", obj.id()));
        return None;
    };
    let Some(name) = svc.get("name").and_then(|n| n.str()) else {
        report.error(
            &svc,
            format!("{}: `service.name` must be a string", obj.id()),
        );
        return None;
    };
    let port = svc.get("port");
    let port_ref = match (
        port.and_then(|p| p.get("number")).and_then(|n| n.int()),
        port.and_then(|p| p.get("name")).and_then(|n| n.str()),
    ) {
        (Some(n), _) => match u16::try_from(n) {
            Ok(n) if n > 0 => PortRef::Number(n),
            _ => {
                report.error(&svc, format!("{}: port {n} is not a port number", obj.id()));
                return None;
            }
        },
        (None, Some(n)) => PortRef::Name(n),
        (None, None) => {
            report.error(
                &svc,
                format!("{}: `service.port` needs `number` or `name`", obj.id()),
            );
            return None;
        }
    };
    let port = match port_ref {
        PortRef::Number(n) => n,
        PortRef::Name(port_name) => match named_port(objects, obj.namespace, name, port_name) {
            Some(n) => n,
            None => {
                report.error(&svc, format!("{}: named port `{port_name}` of Service {}/{name}: no Service manifest in the input gives it", obj.id(), obj.namespace));
                return None;
            }
        },
    };
    Some(Target {
        service: name,
        namespace: obj.namespace,
        port,
    })
}

fn server(t: &Target<'_>, name: String, weight: u32) -> ServerOut {
    ServerOut {
        name,
        url: t.url(),
        status: None,
        weight,
    }
}

/// The Traefik v3 sticky value splitway gives a server: 16 hex digits of SHA-256 of its URL.
fn sticky_value(url: &str) -> String {
    let digest = Sha256::digest(url.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The frontends and backends of one host and path.
fn emit(
    out: &mut Output,
    base: i64,
    main: &PathRule<'_>,
    affinity: Option<&Affinity>,
    canary: Option<&(PathRule<'_>, Canary)>,
    report: &mut Report,
) {
    let mut matchers = Vec::new();
    if let Some(h) = main.host {
        matchers.push(format!("Host({})", rule_str(h)));
    }
    matchers.push(if main.use_regex {
        format!("PathRegexp({})", rule_str(&format!("(?i)^{}", main.path)))
    } else {
        path_matcher(main.path, main.path_type)
    });
    let with = |extra: String| {
        let mut m = matchers.clone();
        m.push(extra);
        and(&m)
    };
    let sticky = affinity.map(|a| a.cookie.as_str());
    let name = format!("{}-{}", main.ingress.name, main.index);
    let from = |p: &PathRule<'_>, what: &str| {
        format!(
            "{} host {} path {} ({:?}){what}, from {}",
            p.ingress.id(),
            p.host.unwrap_or("*"),
            p.path,
            p.path_type,
            p.at.at()
        )
    };
    let main_backend = out.backend(
        main.target.service,
        vec![server(&main.target, main.target.service.to_owned(), 1)],
        sticky,
    );
    let Some((c, policy)) = canary else {
        out.frontend(&name, and(&matchers), base, &main_backend, from(main, ""));
        return;
    };
    let canary_backend = out.backend(
        c.target.service,
        vec![server(&c.target, c.target.service.to_owned(), 1)],
        sticky,
    );
    if let Some(a) = affinity {
        let cookie = rule_str(&a.cookie);
        out.frontend(
            &format!("{name}-affinity"),
            with(format!(
                "Cookie({cookie}, {})",
                rule_str(&sticky_value(&main.target.url()))
            )),
            base + 6,
            &main_backend,
            from(main, ", session affinity to the main Service"),
        );
        if a.canary_sticky {
            out.frontend(
                &format!("{name}-canary-affinity"),
                with(format!(
                    "Cookie({cookie}, {})",
                    rule_str(&sticky_value(&c.target.url()))
                )),
                base + 6,
                &canary_backend,
                from(c, ", session affinity to the canary"),
            );
        }
    }
    if let Some(h) = &policy.header {
        let hq = rule_str(h);
        if let Some(v) = &policy.header_value {
            out.frontend(
                &format!("{name}-canary-header"),
                with(format!("Header({hq}, {})", rule_str(v))),
                base + 4,
                &canary_backend,
                from(c, ", canary-by-header-value"),
            );
        } else if let Some(p) = &policy.header_pattern {
            match regex::Regex::new(p) {
                Ok(_) => out.frontend(
                    &format!("{name}-canary-header"),
                    with(format!("HeaderRegexp({hq}, {})", rule_str(p))),
                    base + 4,
                    &canary_backend,
                    from(c, ", canary-by-header-pattern"),
                ),
                Err(e) => {
                    report.warn(&c.at, format!("{}: canary-by-header-pattern `{p}` does not compile ({}): every request with header `{h}` goes to the main Service, as ingress-nginx sends it on a match error", c.ingress.id(), e.to_string().lines().last().unwrap_or("invalid").trim_start_matches("error: ")));
                    out.frontend(
                        &format!("{name}-canary-header-error"),
                        with(format!("HeaderRegexp({hq}, `^`)")),
                        base + 4,
                        &main_backend,
                        from(c, ", canary-by-header-pattern that does not compile"),
                    );
                }
            }
        } else {
            out.frontend(
                &format!("{name}-canary-header"),
                with(format!("Header({hq}, `always`)")),
                base + 4,
                &canary_backend,
                from(c, ", canary-by-header always"),
            );
            out.frontend(
                &format!("{name}-canary-header-never"),
                with(format!("Header({hq}, `never`)")),
                base + 4,
                &main_backend,
                from(c, ", canary-by-header never"),
            );
        }
    }
    if let Some(k) = &policy.cookie {
        let kq = rule_str(k);
        out.frontend(
            &format!("{name}-canary-cookie"),
            with(format!("Cookie({kq}, `always`)")),
            base + 3,
            &canary_backend,
            from(c, ", canary-by-cookie always"),
        );
        out.frontend(
            &format!("{name}-canary-cookie-never"),
            with(format!("Cookie({kq}, `never`)")),
            base + 3,
            &main_backend,
            from(c, ", canary-by-cookie never"),
        );
    }
    let rest = if policy.weight == 0 {
        main_backend
    } else if policy.weight >= policy.weight_total {
        canary_backend
    } else {
        let names = server_names(&[
            (main.target.service, main.target.namespace, main.target.port),
            (c.target.service, c.target.namespace, c.target.port),
        ]);
        let [m, k] = [0, 1].map(|i| names.get(i).cloned().unwrap_or_default());
        out.backend(
            &format!("{}+{}", main.target.service, c.target.service),
            vec![
                server(&main.target, m, policy.weight_total - policy.weight),
                server(&c.target, k, policy.weight),
            ],
            sticky,
        )
    };
    out.frontend(
        &name,
        and(&matchers),
        base + 1,
        &rest,
        from(
            main,
            &format!(
                ", canary-weight {} of {}",
                policy.weight, policy.weight_total
            ),
        ),
    );
}

/// `pathType` semantics: Exact is the whole path; Prefix matches by path elements (`/foo`
/// matches `/foo` and `/foo/bar`, not `/foobar`; a trailing `/` is ignored);
/// ImplementationSpecific is nginx's plain string prefix.
fn path_matcher(path: &str, t: PathType) -> String {
    match t {
        PathType::Exact => format!("Path({})", rule_str(path)),
        PathType::ImplementationSpecific => format!("PathPrefix({})", rule_str(path)),
        PathType::Prefix => {
            let trimmed = path.trim_end_matches('/');
            if trimmed.is_empty() {
                "PathPrefix(`/`)".to_owned()
            } else {
                format!(
                    "(Path({}) || PathPrefix({}))",
                    rule_str(trimmed),
                    rule_str(&format!("{trimmed}/"))
                )
            }
        }
    }
}
