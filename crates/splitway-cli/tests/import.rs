//! `splitway import`: each case is a behaviour of the source system (ingress-nginx's canary
//! annotations and balancer, Gateway API's HTTPRoute conformance), written as our own
//! manifests; the imported configuration must pass `splitway check` and route as the source
//! does, through the library's `Router`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use splitway::config::Config;
use splitway::{RequestView, Router};
use support::{TempDir, splitway};

/// An imported configuration, loaded.
struct Imported {
    router: Router,
    text: String,
    warnings: String,
}

impl Imported {
    /// (route, server, status) of one request.
    fn route(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
    ) -> (Option<String>, Option<String>, u16) {
        let mut b = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(()).unwrap();
        let d = self.router.route(&RequestView::from_request(&req, None));
        (
            d.route().map(str::to_owned),
            d.server().map(|s| s.name().to_owned()),
            d.status().code(),
        )
    }

    /// The server of one GET (none for a 404).
    fn server(&self, url: &str, headers: &[(&str, &str)]) -> Option<String> {
        self.route("GET", url, headers).1
    }

    /// How many of `n` GETs of `url` went to `server`.
    fn count(&self, url: &str, headers: &[(&str, &str)], n: usize, server: &str) -> usize {
        (0..n)
            .filter(|_| self.server(url, headers).as_deref() == Some(server))
            .count()
    }
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/import")
        .join(name)
}

/// `splitway import KIND` of `manifests` (written to a file), then `splitway check` of the
/// output, then a Router over it.
fn import(kind: &str, manifests: &str) -> Imported {
    let dir = TempDir::new(&format!("import-{kind}-{}", hash(manifests)));
    let input = dir.path().join("in.yaml");
    std::fs::write(&input, manifests).unwrap();
    import_file(kind, &input, &dir)
}

fn import_file(kind: &str, input: &Path, dir: &TempDir) -> Imported {
    let output = dir.path().join("out.yaml");
    let out = splitway(&[
        "import".as_ref(),
        kind.as_ref(),
        input.as_os_str(),
        "-o".as_ref(),
        output.as_os_str(),
    ]);
    let warnings = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "import failed: {warnings}");
    let check = splitway(&["check".as_ref(), output.as_os_str()]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "check: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let text = std::fs::read_to_string(&output).unwrap();
    let config = Config::from_file(&output).unwrap().config;
    Imported {
        router: Router::from_config(&config).unwrap(),
        text,
        warnings,
    }
}

/// `splitway import KIND` that must fail: its stderr.
fn import_error(kind: &str, manifests: &str) -> String {
    let dir = TempDir::new(&format!("import-err-{}", hash(manifests)));
    let input = dir.path().join("in.yaml");
    std::fs::write(&input, manifests).unwrap();
    let out = splitway(&["import".as_ref(), kind.as_ref(), input.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing is written on an error");
    String::from_utf8_lossy(&out.stderr).replace(&input.display().to_string(), "in.yaml")
}

/// A tag unique to this call: the text's hash and a counter, so that tests running at once
/// never share a directory.
fn hash(s: &str) -> String {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let h = s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{h:x}-{n}")
}

// ---------------------------------------------------------------------------------------
// ingress-nginx

/// A main Ingress for `host` `/` to Service `stable`, and a canary Ingress to `canary` with
/// `annotations` (YAML lines under `annotations:`).
fn nginx_pair(main_annotations: &str, canary_annotations: &str) -> String {
    format!(
        r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: main
  annotations:
    {main_annotations}
spec:
  rules:
    - host: app.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: stable
                port:
                  number: 80
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: canary
  annotations:
    nginx.ingress.kubernetes.io/canary: "true"
    {canary_annotations}
spec:
  rules:
    - host: app.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: canary
                port:
                  number: 80
"#
    )
}

const APP: &str = "http://app.example.com/";

#[test]
fn phase2_the_cookie_always_reaches_the_canary_and_exactly_100_of_1000_others_do() {
    let dir = TempDir::new("import-phase2");
    let imported = import_file("ingress-nginx", &data("phase2-ingress-nginx.yaml"), &dir);
    let url = "http://web.agendor.com.br/deals";
    let beta = [("cookie", "_ga=GA1.2.3; _AUSER_TYPE=canary")];
    assert_eq!(imported.count(url, &beta, 1000, "agendor-web-canary"), 1000);
    assert_eq!(
        imported.count(
            url,
            &[("cookie", "_ga=GA1.2.3")],
            1000,
            "agendor-web-canary"
        ),
        100
    );
    assert_eq!(imported.count(url, &[], 1000, "agendor-web"), 900);
    // The named port came from the Service manifest.
    assert!(
        imported
            .text
            .contains("http://agendor-web.production.svc.cluster.local:80"),
        "{}",
        imported.text
    );
}

#[test]
fn header_comes_before_cookie_before_weight() {
    let i = import(
        "ingress-nginx",
        &nginx_pair(
            "{}",
            "nginx.ingress.kubernetes.io/canary-by-header: X-Canary\n    nginx.ingress.kubernetes.io/canary-by-cookie: beta\n    nginx.ingress.kubernetes.io/canary-weight: \"100\"",
        ),
    );
    let s = |h: &[(&str, &str)]| i.server(APP, h).unwrap();
    // The header decides first: never beats a cookie saying always and a weight of 100.
    assert_eq!(
        s(&[("x-canary", "never"), ("cookie", "beta=always")]),
        "stable"
    );
    assert_eq!(
        s(&[("x-canary", "always"), ("cookie", "beta=never")]),
        "canary"
    );
    // Any other header value is ignored: the cookie decides.
    assert_eq!(
        s(&[("x-canary", "maybe"), ("cookie", "beta=never")]),
        "stable"
    );
    assert_eq!(s(&[("cookie", "beta=never")]), "stable");
    assert_eq!(s(&[("cookie", "beta=always")]), "canary");
    // Neither: the weight, 100 of 100.
    assert_eq!(i.count(APP, &[("cookie", "beta=other")], 50, "canary"), 50);
}

#[test]
fn header_value_is_the_only_value_that_counts_when_given() {
    let i = import(
        "ingress-nginx",
        &nginx_pair(
            "{}",
            "nginx.ingress.kubernetes.io/canary-by-header: X-Version\n    nginx.ingress.kubernetes.io/canary-by-header-value: v2",
        ),
    );
    assert_eq!(i.server(APP, &[("x-version", "v2")]).unwrap(), "canary");
    // With a value given, `always` is just another value, and `never` no longer forces stable
    // (here the weight is 0 either way).
    assert_eq!(i.server(APP, &[("x-version", "always")]).unwrap(), "stable");
    assert_eq!(i.server(APP, &[("x-version", "v2x")]).unwrap(), "stable");
    assert_eq!(i.count(APP, &[], 100, "stable"), 100);
}

#[test]
fn header_pattern_searches_the_value() {
    let i = import(
        "ingress-nginx",
        &nginx_pair(
            "{}",
            "nginx.ingress.kubernetes.io/canary-by-header: User-Agent\n    nginx.ingress.kubernetes.io/canary-by-header-pattern: \"Android|iPhone\"",
        ),
    );
    assert_eq!(
        i.server(APP, &[("user-agent", "Mozilla/5.0 (iPhone; CPU)")])
            .unwrap(),
        "canary"
    );
    assert_eq!(
        i.server(APP, &[("user-agent", "Mozilla/5.0 (X11; Linux)")])
            .unwrap(),
        "stable"
    );
}

#[test]
fn a_pattern_that_does_not_compile_sends_requests_with_the_header_to_stable_at_once() {
    let i = import(
        "ingress-nginx",
        &nginx_pair(
            "{}",
            "nginx.ingress.kubernetes.io/canary-by-header: X-Canary\n    nginx.ingress.kubernetes.io/canary-by-header-pattern: \"([\"\n    nginx.ingress.kubernetes.io/canary-by-cookie: beta",
        ),
    );
    // With the header, stable at once: the cookie is not looked at.
    assert_eq!(
        i.server(APP, &[("x-canary", "anything"), ("cookie", "beta=always")])
            .unwrap(),
        "stable"
    );
    // Without it, the cookie still decides.
    assert_eq!(
        i.server(APP, &[("cookie", "beta=always")]).unwrap(),
        "canary"
    );
    assert!(
        i.warnings.contains(
            "warning: Ingress default/canary: canary-by-header-pattern `([` does not compile"
        ),
        "{}",
        i.warnings
    );
}

#[test]
fn a_canary_without_a_main_ingress_is_a_404() {
    let manifests = nginx_pair("{}", "nginx.ingress.kubernetes.io/canary-weight: \"50\"");
    // Move the main Ingress to another host: the canary is left alone.
    let manifests = manifests.replacen("host: app.example.com", "host: other.example.com", 1);
    let i = import("ingress-nginx", &manifests);
    assert_eq!(i.route("GET", APP, &[]), (None, None, 404));
    assert_eq!(
        i.server("http://other.example.com/", &[]).unwrap(),
        "stable"
    );
    let line = i
        .warnings
        .lines()
        .find(|l| l.contains("has no main Ingress"))
        .unwrap();
    assert!(line.ends_with("warning: Ingress default/canary: canary for host `app.example.com` path `/` has no main Ingress: ingress-nginx answers 404 there, and so does the import (nothing routed)"), "{line}");
    assert!(line.contains("in.yaml:32:13:"), "{line}");
}

#[test]
fn path_types_exact_prefix_by_elements_and_implementation_specific() {
    let path = |name: &str, path: &str, t: &str| {
        format!(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\nspec:\n  rules:\n    - host: app.example.com\n      http:\n        paths:\n          - path: {path}\n            pathType: {t}\n            backend:\n              service:\n                name: {name}\n                port:\n                  number: 8080\n---\n"
        )
    };
    let manifests = [
        path("exact", "/foo", "Exact"),
        path("prefix", "/foo/", "Prefix"),
        path("longer", "/foo/bar", "Prefix"),
        path("impl", "/img", "ImplementationSpecific"),
        path("root", "/", "Prefix"),
    ]
    .concat();
    let i = import("ingress-nginx", &manifests);
    let s = |p: &str| {
        i.server(&format!("http://app.example.com{p}"), &[])
            .unwrap()
    };
    assert_eq!(s("/foo"), "exact");
    assert_eq!(s("/foo/"), "prefix");
    assert_eq!(s("/foo/baz"), "prefix");
    assert_eq!(s("/foo/bar"), "longer");
    assert_eq!(s("/foo/bar/x"), "longer");
    assert_eq!(s("/foo/barx"), "prefix");
    assert_eq!(s("/foobar"), "root");
    assert_eq!(s("/imgs/a.png"), "impl");
    assert_eq!(s("/"), "root");
    assert_eq!(
        i.route("GET", "http://elsewhere.example.com/foo", &[]).2,
        404
    );
}

#[test]
fn cookie_affinity_keeps_a_user_on_the_side_it_was_first_sent_to() {
    let i = import(
        "ingress-nginx",
        &nginx_pair(
            "nginx.ingress.kubernetes.io/affinity: cookie\n    nginx.ingress.kubernetes.io/session-cookie-name: route",
            "nginx.ingress.kubernetes.io/canary-weight: \"50\"",
        ),
    );
    let mut sides = [0, 0];
    for _ in 0..20 {
        let req = http::Request::get(APP).body(()).unwrap();
        let first = i.router.route(&RequestView::from_request(&req, None));
        let server = first.server().unwrap().name().to_owned();
        let cookie = first
            .set_cookie()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        assert!(cookie.starts_with("route="), "{cookie}");
        sides[usize::from(server == "canary")] += 1;
        // Every later request with the cookie goes to the same side, whatever the weights.
        for _ in 0..5 {
            assert_eq!(i.server(APP, &[("cookie", &cookie)]).unwrap(), server);
        }
    }
    assert_eq!(sides, [10, 10]);
}

#[test]
fn list_objects_and_several_documents_are_read() {
    let manifests = format!(
        "apiVersion: v1\nkind: List\nitems:\n{}",
        nginx_pair("{}", "nginx.ingress.kubernetes.io/canary-weight: \"25\"")
            .split("---\n")
            .map(|doc| {
                let mut lines = doc.lines();
                let first = lines.next().unwrap();
                let rest: Vec<String> = lines.map(|l| format!("    {l}")).collect();
                format!("  - {first}\n{}\n", rest.join("\n"))
            })
            .collect::<String>()
    );
    let i = import("ingress-nginx", &manifests);
    assert_eq!(i.count(APP, &[], 100, "canary"), 25);
    let weight_total = nginx_pair(
        "{}",
        "nginx.ingress.kubernetes.io/canary-weight: \"3\"\n    nginx.ingress.kubernetes.io/canary-weight-total: \"1000\"",
    );
    assert_eq!(
        import("ingress-nginx", &weight_total).count(APP, &[], 1000, "canary"),
        3
    );
}

#[test]
fn what_is_not_carried_over_is_a_located_warning_and_bad_input_a_located_error() {
    let i = import(
        "ingress-nginx",
        &nginx_pair("nginx.ingress.kubernetes.io/rewrite-target: /$1", ""),
    );
    assert!(
        i.warnings.lines().any(|l| l.ends_with(":6:5: warning: Ingress default/main: annotation `nginx.ingress.kubernetes.io/rewrite-target` is not carried over")),
        "{}",
        i.warnings
    );
    let named = nginx_pair("{}", "").replacen("number: 80", "name: http", 1);
    let err = import_error("ingress-nginx", &named);
    let errors: Vec<&str> = err.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(
        errors,
        [
            "in.yaml:15:15: error: Ingress default/main: named port `http` of Service default/stable: no Service manifest in the input gives it"
        ]
    );
    let err = import_error("ingress-nginx", "kind: Ingress\nmetadata: {name: x}\n");
    assert_eq!(
        err.trim(),
        "in.yaml:1:1: error: not a Kubernetes object: `apiVersion` and `kind` must be strings"
    );
}

// ---------------------------------------------------------------------------------------
// Gateway API

fn services(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: {n}\nspec:\n  ports:\n    - port: 8080\n---\n"))
        .collect()
}

fn route(name: &str, extra_metadata: &str, spec: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: {name}\n{extra_metadata}spec:\n{spec}---\n"
    )
}

fn backend(name: &str) -> String {
    format!("        - name: {name}\n          port: 8080\n")
}

#[test]
fn gateway_matching_on_path_headers_query_and_method() {
    let spec = format!(
        "  rules:\n    - matches:\n        - path: {{type: PathPrefix, value: /}}\n      backendRefs:\n{}    - matches:\n        - path: {{type: PathPrefix, value: /v2}}\n        - headers: [{{name: version, value: two}}]\n      backendRefs:\n{}    - matches:\n        - path: {{type: Exact, value: /exact}}\n          queryParams: [{{name: q, value: \"1\"}}]\n          method: POST\n      backendRefs:\n{}    - matches:\n        - path: {{type: RegularExpression, value: \"/re/[0-9]+\"}}\n      backendRefs:\n{}",
        backend("v1"),
        backend("v2"),
        backend("v3"),
        backend("v4")
    );
    let i = import(
        "gateway-api",
        &(services(&["v1", "v2", "v3", "v4"]) + &route("r", "", &spec)),
    );
    let s = |m: &str, u: &str, h: &[(&str, &str)]| {
        i.route(m, &format!("http://any.host{u}"), h).1.unwrap()
    };
    assert_eq!(s("GET", "/", &[]), "v1");
    assert_eq!(s("GET", "/v2", &[]), "v2");
    assert_eq!(s("GET", "/v2/example", &[]), "v2");
    assert_eq!(s("GET", "/v2example", &[]), "v1");
    assert_eq!(s("GET", "/", &[("version", "two")]), "v2");
    assert_eq!(s("POST", "/exact?q=1", &[]), "v3");
    assert_eq!(s("GET", "/exact?q=1", &[]), "v1");
    assert_eq!(s("POST", "/exact?q=2", &[]), "v1");
    assert_eq!(s("GET", "/re/123", &[]), "v4");
    assert_eq!(s("GET", "/re/123x", &[]), "v1");
}

#[test]
fn gateway_precedence_across_routes() {
    // Same hostname everywhere; each later rule is more specific by one criterion.
    let r = |name: &str, created: &str, m: &str, b: &str| {
        route(
            name,
            &if created.is_empty() {
                String::new()
            } else {
                format!("  creationTimestamp: \"{created}\"\n")
            },
            &format!(
                "  hostnames: [example.com]\n  rules:\n    - matches:\n        - {m}\n      backendRefs:\n{}",
                backend(b)
            ),
        )
    };
    let manifests = services(&[
        "prefix", "longer", "exact", "method", "headers1", "headers2", "query", "older", "newer",
        "alpha", "beta",
    ]) + &r(
        "a-prefix",
        "",
        "path: {type: PathPrefix, value: /}",
        "prefix",
    ) + &r(
        "b-longer",
        "",
        "path: {type: PathPrefix, value: /api}",
        "longer",
    ) + &r(
        "c-exact",
        "",
        "path: {type: Exact, value: /api/exact}",
        "exact",
    ) + &r(
        "d-method",
        "",
        "{path: {type: PathPrefix, value: /api}, method: PUT}",
        "method",
    ) + &r(
        "e-h1",
        "",
        "{path: {type: PathPrefix, value: /h}, headers: [{name: a, value: \"1\"}]}",
        "headers1",
    ) + &r(
        "f-h2",
        "",
        "{path: {type: PathPrefix, value: /h}, headers: [{name: a, value: \"1\"}, {name: b, value: \"2\"}]}",
        "headers2",
    ) + &r(
        "g-q",
        "",
        "{path: {type: PathPrefix, value: /h}, headers: [{name: a, value: \"1\"}, {name: b, value: \"2\"}], queryParams: [{name: q, value: x}]}",
        "query",
    ) + &r(
        "z-older",
        "2020-01-01T00:00:00Z",
        "path: {type: PathPrefix, value: /t}",
        "older",
    ) + &r(
        "y-newer",
        "2021-01-01T00:00:00Z",
        "path: {type: PathPrefix, value: /t}",
        "newer",
    ) + &r(
        "m-alpha",
        "",
        "path: {type: PathPrefix, value: /n}",
        "alpha",
    ) + &r("n-beta", "", "path: {type: PathPrefix, value: /n}", "beta");
    let i = import("gateway-api", &manifests);
    let s = |m: &str, u: &str, h: &[(&str, &str)]| {
        i.route(m, &format!("http://example.com{u}"), h).1.unwrap()
    };
    assert_eq!(s("GET", "/", &[]), "prefix");
    assert_eq!(s("GET", "/api/x", &[]), "longer");
    assert_eq!(
        s("PUT", "/api/exact", &[]),
        "exact",
        "an exact path beats a method"
    );
    assert_eq!(s("PUT", "/api/x", &[]), "method");
    assert_eq!(s("GET", "/h", &[("a", "1")]), "headers1");
    assert_eq!(s("GET", "/h", &[("a", "1"), ("b", "2")]), "headers2");
    assert_eq!(s("GET", "/h?q=x", &[("a", "1"), ("b", "2")]), "query");
    assert_eq!(s("GET", "/t", &[]), "older", "the oldest route wins a tie");
    assert_eq!(s("GET", "/n", &[]), "alpha", "then namespace/name");
}

#[test]
fn gateway_hostnames_wildcards_are_suffix_matches_and_listeners_intersect() {
    let rule = |b: &str| format!("  rules:\n    - backendRefs:\n{}", backend(b));
    let manifests = services(&["exact", "wild", "deep", "any"])
        + &route(
            "exact",
            "",
            &format!("  hostnames: [foo.example.com]\n{}", rule("exact")),
        )
        + &route(
            "wild",
            "",
            &format!("  hostnames: [\"*.example.com\"]\n{}", rule("wild")),
        )
        + &route(
            "deep",
            "",
            &format!("  hostnames: [\"*.b.example.com\"]\n{}", rule("deep")),
        )
        + &route("any", "", &rule("any"));
    let i = import("gateway-api", &manifests);
    let s = |h: &str| i.server(&format!("http://{h}/"), &[]).unwrap();
    assert_eq!(s("foo.example.com"), "exact");
    assert_eq!(s("bar.example.com"), "wild");
    assert_eq!(
        s("a.bar.example.com"),
        "wild",
        "a wildcard takes more than one label"
    );
    assert_eq!(s("a.b.example.com"), "deep", "the longer wildcard wins");
    assert_eq!(
        s("example.com"),
        "any",
        "`*.example.com` does not match example.com"
    );
    assert_eq!(s("other.org"), "any");

    // A Gateway whose listener allows only *.example.com: a route for other.org is not
    // accepted; one without hostnames takes the listener's.
    let gw = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: gw\nspec:\n  listeners:\n    - name: http\n      hostname: \"*.example.com\"\n      port: 80\n      protocol: HTTP\n---\n";
    let parent = "  parentRefs: [{name: gw}]\n";
    let manifests = services(&["a", "b"])
        + gw
        + &route("a", "", &format!("{parent}{}", rule("a")))
        + &route(
            "b",
            "",
            &format!(
                "{parent}  hostnames: [other.org, x.example.com]\n{}",
                rule("b")
            ),
        );
    let i = import("gateway-api", &manifests);
    assert_eq!(i.server("http://x.example.com/", &[]).unwrap(), "b");
    assert_eq!(i.server("http://y.example.com/", &[]).unwrap(), "a");
    assert_eq!(i.route("GET", "http://other.org/", &[]).2, 404);
    assert_eq!(i.route("GET", "http://example.com/", &[]).2, 404);
}

#[test]
fn gateway_weights_are_exact_over_a_cycle_and_weight_zero_gets_exactly_zero() {
    let spec = "  rules:\n    - backendRefs:\n        - {name: a, port: 8080, weight: 70}\n        - {name: b, port: 8080, weight: 30}\n        - {name: c, port: 8080, weight: 0}\n";
    let i = import(
        "gateway-api",
        &(services(&["a", "b", "c"]) + &route("w", "", spec)),
    );
    let url = "http://example.com/";
    for cycle in 0..3 {
        let picks: Vec<String> = (0..100).map(|_| i.server(url, &[]).unwrap()).collect();
        let n = |s: &str| picks.iter().filter(|p| *p == s).count();
        assert_eq!((n("a"), n("b"), n("c")), (70, 30, 0), "cycle {cycle}");
    }
}

#[test]
fn gateway_unresolvable_references_keep_their_share_and_are_located_warnings() {
    let spec = "  rules:\n    - backendRefs:\n        - {name: real, port: 8080}\n        - {name: missing, port: 8080}\n        - {group: example.com, kind: Bucket, name: bucket}\n";
    let i = import(
        "gateway-api",
        &(services(&["real"]) + &route("r", "", spec)),
    );
    let url = "http://example.com/";
    // Each reference keeps its third: the two that cannot be resolved answer 500.
    let picks: Vec<(Option<String>, u16)> = (0..30)
        .map(|_| {
            let (_, server, status) = i.route("GET", url, &[]);
            (server, status)
        })
        .collect();
    let n = |s: &str, code: u16| {
        picks
            .iter()
            .filter(|p| p.0.as_deref() == Some(s) && p.1 == code)
            .count()
    };
    assert_eq!(
        (n("real", 200), n("missing", 500), n("bucket", 500)),
        (10, 10, 10)
    );
    assert!(
        i.text
            .contains("      - name: \"missing\"\n        status: 500\n"),
        "{}",
        i.text
    );
    let w: Vec<&str> = i
        .warnings
        .lines()
        .filter(|l| l.contains("cannot be resolved"))
        .collect();
    assert_eq!(w.len(), 2, "{}", i.warnings);
    assert!(w[0].contains(":17:11: warning: HTTPRoute default/r: rule 0: backendRef `missing` cannot be resolved (no Service default/missing in the input)"), "{}", w[0]);
    assert!(w[1].contains("backendRef `bucket` cannot be resolved (kind `Bucket` of group `example.com` is not a Service)"), "{}", w[1]);
}

#[test]
fn gateway_cross_namespace_references_need_a_reference_grant() {
    let svc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  namespace: other\nspec:\n  ports: [{port: 8080}]\n---\n";
    let spec = "  rules:\n    - backendRefs:\n        - {name: s, namespace: other, port: 8080}\n";
    let i = import("gateway-api", &(svc.to_owned() + &route("r", "", spec)));
    assert_eq!(i.route("GET", "http://h/", &[]).2, 500, "{}", i.text);
    let grant = "apiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata:\n  name: g\n  namespace: other\nspec:\n  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default}]\n  to: [{group: \"\", kind: Service}]\n---\n";
    let i = import(
        "gateway-api",
        &(svc.to_owned() + grant + &route("r", "", spec)),
    );
    assert!(
        i.text.contains("http://s.other.svc.cluster.local:8080"),
        "{}",
        i.text
    );
}

#[test]
fn an_exact_and_a_prefix_path_of_one_string_are_two_locations_and_the_canary_pairs_by_type() {
    let ing = |name: &str, t: &str, svc: &str, annotations: &str| {
        format!(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  annotations: {annotations}\nspec:\n  rules:\n    - host: app.example.com\n      http:\n        paths:\n          - path: /foo\n            pathType: {t}\n            backend:\n              service:\n                name: {svc}\n                port:\n                  number: 80\n---\n"
        )
    };
    let canary = "{nginx.ingress.kubernetes.io/canary: \"true\", nginx.ingress.kubernetes.io/canary-weight: \"100\"}";
    let manifests = ing("prefix", "Prefix", "prefix", "{}")
        + &ing("exact", "Exact", "exact", "{}")
        + &ing("exact-canary", "Exact", "exact-canary", canary);
    let i = import("ingress-nginx", &manifests);
    assert_eq!(
        i.server("http://app.example.com/foo", &[]).unwrap(),
        "exact-canary"
    );
    assert_eq!(
        i.server("http://app.example.com/foo/x", &[]).unwrap(),
        "prefix"
    );
    assert!(!i.warnings.contains("already served"), "{}", i.warnings);
}

/// The text of the CLI's `docs/import.md` between the line `after` and the next line starting with `$`.
fn documented(after: &str) -> String {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/import.md"))
        .unwrap();
    let start = doc.find(after).unwrap() + after.len();
    let rest = &doc[start..];
    let end = rest.find("\n$ ").or_else(|| rest.find("\n```")).unwrap();
    rest[..end + 1].trim_start_matches('\n').to_owned()
}

#[test]
fn the_documented_outputs_are_what_import_writes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let rel = "crates/splitway-cli/tests/data/import/phase2-ingress-nginx.yaml";
    let out = splitway(&["import", "ingress-nginx", root.join(rel).to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let abs = root.join(rel).display().to_string();
    let text = String::from_utf8_lossy(&out.stdout).replace(&abs, rel);
    assert_eq!(text, documented("$ cat web.yaml\n"));

    let data = data("web-httproute.yaml");
    let out = splitway(&["import", "gateway-api", data.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let abs = data.display().to_string();
    let both = String::from_utf8_lossy(&out.stderr).replace(&abs, "web-httproute.yaml")
        + &String::from_utf8_lossy(&out.stdout).replace(&abs, "web-httproute.yaml");
    assert_eq!(
        both,
        documented("$ splitway import gateway-api web-httproute.yaml\n")
    );
}

#[test]
fn gateway_rules_without_backends_or_with_only_weight_zero_answer_500_with_a_warning() {
    let spec = "  rules:\n    - matches: [{path: {type: PathPrefix, value: /none}}]\n    - matches: [{path: {type: PathPrefix, value: /zero}}]\n      backendRefs:\n        - {name: a, port: 8080, weight: 0}\n";
    let i = import("gateway-api", &(services(&["a"]) + &route("r", "", spec)));
    assert_eq!(i.route("GET", "http://h/zero", &[]).2, 500);
    assert_eq!(i.route("GET", "http://h/none", &[]).2, 500);
    let w: Vec<&str> = i.warnings.lines().collect();
    assert_eq!(w.len(), 2, "{}", i.warnings);
    assert!(w[0].ends_with("warning: HTTPRoute default/r: rule 0: no backendRefs: it answers 500, as in Gateway API"), "{}", w[0]);
    assert!(w[1].ends_with("warning: HTTPRoute default/r: rule 1: every backendRef has weight 0: it answers 500, as in Gateway API"), "{}", w[1]);
}

#[test]
fn use_regex_paths_are_case_insensitive_regexes_anchored_at_the_start() {
    let ing = |name: &str, path: &str, annotations: &str| {
        format!(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  annotations: {annotations}\nspec:\n  rules:\n    - host: app.example.com\n      http:\n        paths:\n          - path: \"{path}\"\n            pathType: ImplementationSpecific\n            backend:\n              service:\n                name: {name}\n                port:\n                  number: 80\n---\n"
        )
    };
    let manifests = ing("root", "/", "{}")
        + &ing(
            "api",
            "/api/v[0-9]+",
            "{nginx.ingress.kubernetes.io/use-regex: \"true\"}",
        );
    let i = import("ingress-nginx", &manifests);
    let s = |p: &str| {
        i.server(&format!("http://app.example.com{p}"), &[])
            .unwrap()
    };
    assert_eq!(s("/api/v2/users"), "api");
    assert_eq!(s("/API/V10"), "api");
    assert_eq!(s("/api/vx"), "root");
    assert_eq!(s("/x/api/v2"), "root");
    let err = import_error(
        "ingress-nginx",
        &ing(
            "bad",
            "/api/(",
            "{nginx.ingress.kubernetes.io/use-regex: \"true\"}",
        ),
    );
    assert!(err.contains("in.yaml:11:13: error: Ingress default/bad: path `/api/(` is not a regular expression (`use-regex`): unclosed group"), "{err}");
}

#[test]
fn ingress_wildcard_hosts_take_one_label_and_the_default_backend_takes_the_rest() {
    let manifests = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: wild\nspec:\n  defaultBackend:\n    service: {name: fallback, port: {number: 80}}\n  rules:\n    - host: \"*.example.com\"\n      http:\n        paths:\n          - {path: /, pathType: Prefix, backend: {service: {name: wild, port: {number: 80}}}}\n    - host: foo.example.com\n      http:\n        paths:\n          - {path: /, pathType: Prefix, backend: {service: {name: foo, port: {number: 80}}}}\n";
    let i = import("ingress-nginx", manifests);
    assert_eq!(i.server("http://foo.example.com/", &[]).unwrap(), "foo");
    assert_eq!(i.server("http://bar.example.com/", &[]).unwrap(), "wild");
    assert_eq!(
        i.server("http://a.bar.example.com/", &[]).unwrap(),
        "fallback",
        "an Ingress wildcard is one label"
    );
    assert_eq!(i.server("http://elsewhere.org/x", &[]).unwrap(), "fallback");
}

#[test]
fn gateway_section_name_picks_the_listener() {
    let gw = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: gw\nspec:\n  listeners:\n    - {name: a, hostname: a.example.com, port: 80, protocol: HTTP}\n    - {name: b, hostname: b.example.com, port: 80, protocol: HTTP}\n---\n";
    let spec = format!(
        "  parentRefs: [{{name: gw, sectionName: b}}]\n  rules:\n    - backendRefs:\n{}",
        backend("s")
    );
    let i = import(
        "gateway-api",
        &(services(&["s"]) + gw + &route("r", "", &spec)),
    );
    assert_eq!(i.server("http://b.example.com/", &[]).unwrap(), "s");
    assert_eq!(i.route("GET", "http://a.example.com/", &[]).2, 404);
}

/// An Ingress `name` with `annotations` (a YAML flow map) and `rules` (YAML lines under
/// `rules:`, indented by 4).
fn ingress(name: &str, annotations: &str, rules: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  annotations: {annotations}\nspec:\n  rules:\n{rules}---\n"
    )
}

/// One rule line: `host` (or none), a path of `path_type`, to Service `service` port 80.
fn ingress_rule(host: Option<&str>, path: &str, path_type: &str, service: &str) -> String {
    let host = host.map_or(String::new(), |h| format!("host: \"{h}\", "));
    format!(
        "    - {{{host}http: {{paths: [{{path: \"{path}\", pathType: {path_type}, backend: {{service: {{name: {service}, port: {{number: 80}}}}}}}}]}}}}\n"
    )
}

#[test]
fn a_host_with_rules_answers_404_for_its_other_paths_instead_of_another_hosts_rules() {
    // ingress-nginx: every host is its own nginx server; a path none of its locations match
    // goes to its root location, the default backend (404), never to `*.example.com`'s or
    // the host-less Ingress's rules. With spec.defaultBackend, that Ingress's hosts use it.
    let manifests = ingress(
        "foo",
        "{}",
        &ingress_rule(Some("foo.example.com"), "/app", "Prefix", "foo"),
    ) + &ingress(
        "wild",
        "{}",
        &ingress_rule(Some("*.example.com"), "/", "Prefix", "wild"),
    ) + &ingress("any", "{}", &ingress_rule(None, "/", "Prefix", "any"))
        + "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: own\nspec:\n  defaultBackend: {service: {name: fallback, port: {number: 80}}}\n  rules:\n"
        + &ingress_rule(Some("own.example.com"), "/app", "Exact", "own")
        + "---\n"
        + &ingress(
            "deep",
            "{}",
            &ingress_rule(Some("*.b.example.com"), "/x", "Prefix", "deep"),
        );
    let i = import("ingress-nginx", &manifests);
    let r = |url: &str| i.route("GET", url, &[]);
    assert_eq!(r("http://foo.example.com/app/1").1.as_deref(), Some("foo"));
    let other = r("http://foo.example.com/other");
    assert_eq!(
        (other.1.as_deref(), other.2),
        (Some("not-found"), 404),
        "not `wild`, not `any`: {other:?}"
    );
    assert_eq!(r("http://bar.example.com/other").1.as_deref(), Some("wild"));
    assert_eq!(r("http://elsewhere.org/other").1.as_deref(), Some("any"));
    assert_eq!(r("http://own.example.com/app").1.as_deref(), Some("own"));
    assert_eq!(
        r("http://own.example.com/app/2").1.as_deref(),
        Some("fallback")
    );
    // A wildcard host is a server too: `*.b.example.com` keeps its other paths.
    assert_eq!(r("http://a.b.example.com/x/1").1.as_deref(), Some("deep"));
    assert_eq!(r("http://a.b.example.com/y").2, 404);
    assert!(i.text.contains("foo.example.com-other-paths"), "{}", i.text);
}

#[test]
fn use_regex_on_one_ingress_makes_every_path_of_its_host_a_regex() {
    // ingress-nginx: "the case insensitive regular expression location modifier will be
    // enforced on ALL paths for a given host regardless of what Ingress they are defined on".
    let regex = "{nginx.ingress.kubernetes.io/use-regex: \"true\"}";
    let manifests = ingress(
        "plain",
        "{}",
        &ingress_rule(Some("app.example.com"), "/docs", "Prefix", "plain"),
    ) + &ingress(
        "exact",
        "{}",
        &ingress_rule(Some("app.example.com"), "/exact", "Exact", "exact"),
    ) + &ingress(
        "re",
        regex,
        &ingress_rule(
            Some("app.example.com"),
            "/api/v[0-9]+",
            "ImplementationSpecific",
            "re",
        ),
    ) + &ingress(
        "other",
        "{}",
        &ingress_rule(Some("other.example.com"), "/docs", "Prefix", "other"),
    );
    let i = import("ingress-nginx", &manifests);
    let s = |url: &str| i.route("GET", url, &[]).1;
    // `plain` became `~* ^/docs`: case-insensitive, and a start-anchored regex (no element
    // boundary).
    assert_eq!(s("http://app.example.com/DOCS").as_deref(), Some("plain"));
    assert_eq!(s("http://app.example.com/docsx").as_deref(), Some("plain"));
    assert_eq!(s("http://app.example.com/API/V2").as_deref(), Some("re"));
    // Exact stays `=`: case-sensitive, the whole path.
    assert_eq!(s("http://app.example.com/exact").as_deref(), Some("exact"));
    assert_eq!(
        s("http://app.example.com/EXACT").as_deref(),
        Some("not-found")
    );
    // Another host is untouched: Prefix by path elements, case-sensitive.
    assert_eq!(
        s("http://other.example.com/docs/a").as_deref(),
        Some("other")
    );
    assert_eq!(
        s("http://other.example.com/DOCS").as_deref(),
        Some("not-found")
    );
    assert_eq!(
        s("http://other.example.com/docsx").as_deref(),
        Some("not-found")
    );
}

#[test]
fn canary_by_header_reads_the_header_as_the_balancer_does() {
    // The balancer: `ngx.var["http_" .. name]` (the name with `-` as `_`, any case); the
    // value compared exactly (case-sensitive) with canary-by-header-value, else `always` /
    // `never`; anything else falls through to the weight.
    let i = import(
        "ingress-nginx",
        &nginx_pair(
            "{}",
            "nginx.ingress.kubernetes.io/canary-by-header: X_Canary\n    nginx.ingress.kubernetes.io/canary-weight: \"0\"",
        ),
    );
    let s = |h: &[(&str, &str)]| i.server(APP, h).unwrap();
    assert_eq!(s(&[("x-canary", "always")]), "canary");
    assert_eq!(s(&[("X-CANARY", "always")]), "canary");
    assert_eq!(
        s(&[("x-canary", "Always")]),
        "stable",
        "the value is case-sensitive"
    );
    assert_eq!(s(&[("x-canary", "never")]), "stable");
    assert_eq!(s(&[("x-canary", "yes")]), "stable");
    assert_eq!(s(&[]), "stable");

    // With a value: only that value counts; `always` is just another value, and `never`
    // falls through to the weight (here 100: the canary).
    let i = import(
        "ingress-nginx",
        &nginx_pair(
            "{}",
            "nginx.ingress.kubernetes.io/canary-by-header: X-Canary\n    nginx.ingress.kubernetes.io/canary-by-header-value: DoCanary\n    nginx.ingress.kubernetes.io/canary-weight: \"100\"",
        ),
    );
    let s = |h: &[(&str, &str)]| i.server(APP, h).unwrap();
    assert_eq!(s(&[("x-canary", "DoCanary")]), "canary");
    assert_eq!(
        s(&[("x-canary", "never")]),
        "canary",
        "falls through to weight 100"
    );
    let i = import(
        "ingress-nginx",
        &nginx_pair(
            "{}",
            "nginx.ingress.kubernetes.io/canary-by-header: X-Canary\n    nginx.ingress.kubernetes.io/canary-by-header-value: DoCanary",
        ),
    );
    let s = |h: &[(&str, &str)]| i.server(APP, h).unwrap();
    assert_eq!(s(&[("x-canary", "DoCanary")]), "canary");
    assert_eq!(s(&[("x-canary", "docanary")]), "stable");
    assert_eq!(s(&[("x-canary", "always")]), "stable");
}

#[test]
fn gateway_listeners_admit_routes_by_namespace_kind_protocol_and_port() {
    // Gateway API: a listener's allowedRoutes.namespaces.from is `Same` by default, `All`,
    // or `Selector` (a label selector on the route's Namespace); only HTTP(S) listeners take
    // HTTPRoutes; a parentRef's `port` picks the listeners on that port. A route that no
    // listener admits is not accepted.
    let ns_services = |ns: &str, names: &[&str]| {
        names
            .iter()
            .map(|n| format!("apiVersion: v1\nkind: Service\nmetadata: {{name: {n}, namespace: {ns}}}\nspec:\n  ports:\n    - port: 8080\n---\n"))
            .collect::<String>()
    };
    let gw = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: infra}\nspec:\n  listeners:\n    - {name: same, hostname: same.example.com, port: 80, protocol: HTTP}\n    - {name: all, hostname: all.example.com, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}\n    - {name: sel, hostname: sel.example.com, port: 8080, protocol: HTTP, allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {team: web}}}}}\n    - {name: grpc, hostname: grpc.example.com, port: 80, protocol: HTTP, allowedRoutes: {kinds: [{kind: GRPCRoute}]}}\n    - {name: tcp, port: 9000, protocol: TCP, allowedRoutes: {namespaces: {from: All}}}\n---\n";
    let ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: app, labels: {team: web}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: other, labels: {team: ops}}\n---\n";
    let route_in = |name: &str, namespace: &str, parent: &str, svc: &str| {
        format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: {name}, namespace: {namespace}, creationTimestamp: \"2026-01-0{}T00:00:00Z\"}}\nspec:\n  parentRefs: [{parent}]\n  rules:\n    - backendRefs:\n{}---\n",
            name.len() % 9 + 1,
            backend(svc)
        )
    };
    let manifests = ns_services("app", &["app", "port"])
        + &ns_services("infra", &["infra"])
        + &ns_services("other", &["other"])
        + gw
        + ns
        + &route_in("r-app", "app", "{name: gw, namespace: infra}", "app")
        + &route_in("r-infra", "infra", "{name: gw}", "infra")
        + &route_in(
            "r-port-8080",
            "app",
            "{name: gw, namespace: infra, port: 8080}",
            "port",
        )
        + &route_in(
            "r-other",
            "other",
            "{name: gw, namespace: infra, sectionName: same}",
            "other",
        );
    let i = import("gateway-api", &manifests);
    let r = |h: &str| i.route("GET", &format!("http://{h}/"), &[]);
    // `same` admits only infra's route; `all` both (app's is older: it wins); `sel` only the
    // labelled namespace's routes; `grpc` and `tcp` no HTTPRoute.
    assert_eq!(r("same.example.com").1.as_deref(), Some("infra"));
    assert_eq!(r("all.example.com").1.as_deref(), Some("app"));
    assert_eq!(r("sel.example.com").1.as_deref(), Some("port"));
    assert_eq!(r("grpc.example.com").2, 404);
    assert_eq!(r("tcp.example.com").2, 404);
    // Every frontend written: the port-8080 route is on `sel` only (the oldest route there,
    // it wins), `r-other` nowhere.
    let frontends: Vec<&str> = i
        .text
        .split("backends:")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("  \"")?.strip_suffix("\":"))
        .collect();
    assert_eq!(
        frontends,
        [
            "r-infra-0-0-same.example.com",
            "r-port-8080-0-0-sel.example.com",
            "r-app-0-0-all.example.com",
            "r-app-0-0-sel.example.com",
            "r-infra-0-0-all.example.com"
        ]
    );
    let w: Vec<&str> = i.warnings.lines().collect();
    assert!(
        w.iter().any(|l| l.ends_with("warning: HTTPRoute other/r-other: no listener of its Gateways admits it (listener `same` of Gateway infra/gw allows routes of namespace `infra` only): the route is not accepted, not imported")),
        "{}",
        i.warnings
    );
}
