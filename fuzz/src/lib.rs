//! Shared parts of the fuzz targets: an `arbitrary` request and the fixed table the decision
//! target routes against.

use std::net::IpAddr;

use arbitrary::Arbitrary;
use http::{HeaderName, HeaderValue, Method, Request, Uri};

/// Hosts the fixed table and the differential target's rules name, so that the fuzzer reaches
/// matching routes without having to guess them byte by byte.
pub const HOSTS: &[&str] = &[
    "web.agendor.com.br",
    "WEB.Agendor.com.br.",
    "api.example.com",
    "x.example.org",
    "a.example.net",
    "a.com",
    "b.com",
    "[::1]",
    "10.0.0.1",
];

/// Paths likewise (with percent escapes and dot segments, which the two path forms read
/// differently).
pub const PATHS: &[&str] = &[
    "/",
    "/v1/users",
    "/users/42",
    "/api",
    "/api/v1",
    "/a%20b",
    "/a%2Fb",
    "/a/./b/../c//d/",
    "/%zz",
    "/%ff",
];

/// Cookie header lines likewise.
pub const COOKIES: &[&str] = &[
    "_AUSER_TYPE=canary",
    "X_AUSER_TYPE=canaryfoo",
    "beta=1; uid=alice",
    "srv=a",
    "uid=\"bob\"; srv=b",
    "other=1;flag",
];

/// A string chosen from a list, or arbitrary.
#[derive(Debug, Arbitrary)]
pub enum Pick<'a> {
    /// `list[i % len]`.
    Known(u8),
    /// Anything.
    Raw(&'a str),
}

/// An HTTP request as the router may meet it.
#[derive(Debug, Arbitrary)]
pub struct ArbRequest<'a> {
    /// Method (any token; an invalid one becomes GET).
    pub method: Pick<'a>,
    /// Absolute-form target (`http://host/path`) rather than origin-form with a Host header.
    pub absolute: bool,
    /// Host (authority or Host header).
    pub host: Pick<'a>,
    /// Port appended to the host.
    pub port: Option<u16>,
    /// Also send a Host header when the target is absolute (it must be ignored).
    pub extra_host_header: Option<&'a [u8]>,
    /// Path.
    pub path: Pick<'a>,
    /// Query string (without `?`).
    pub query: Option<&'a str>,
    /// Other header lines (invalid names or values are dropped).
    pub headers: Vec<(&'a str, &'a [u8])>,
    /// `Cookie` header lines.
    pub cookies: Vec<Pick<'a>>,
    /// Raw `Cookie` header lines (any bytes a header value may hold).
    pub raw_cookies: Vec<&'a [u8]>,
    /// TCP peer address.
    pub peer: Option<IpAddr>,
}

const METHODS: &[&str] = &["GET", "POST", "get", "DELETE", "PURGE"];

impl ArbRequest<'_> {
    /// The request, or `None` when its URI does not parse (the HTTP server would refuse it).
    pub fn build(&self) -> Option<Request<()>> {
        let method =
            Method::from_bytes(self.method.get_from(METHODS).as_bytes()).unwrap_or_default();
        let host = self.host.get_from(HOSTS);
        let authority = match self.port {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        let mut target = self.path.get_from(PATHS).to_owned();
        if let Some(q) = self.query {
            target.push('?');
            target.push_str(q);
        }
        let uri_text = if self.absolute {
            format!("http://{authority}{target}")
        } else {
            target
        };
        let uri: Uri = uri_text.parse().ok()?;
        let mut req = Request::new(());
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        let headers = req.headers_mut();
        if !self.absolute {
            if let Ok(v) = HeaderValue::from_str(&authority) {
                headers.append(http::header::HOST, v);
            }
        } else if let Some(raw) = self.extra_host_header
            && let Ok(v) = HeaderValue::from_bytes(raw)
        {
            headers.append(http::header::HOST, v);
        }
        for (name, value) in &self.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value),
            ) {
                headers.append(n, v);
            }
        }
        for c in &self.cookies {
            if let Ok(v) = HeaderValue::from_str(c.get_from(COOKIES)) {
                headers.append(http::header::COOKIE, v);
            }
        }
        for raw in &self.raw_cookies {
            if let Ok(v) = HeaderValue::from_bytes(raw) {
                headers.append(http::header::COOKIE, v);
            }
        }
        Some(req)
    }
}

/// The fixed configuration of the decision target: the seed's phase 2 (two legacy servers and
/// Kubernetes, beta testers to the canary), plus v3 and v2 rules and every way of choosing a
/// server (weighted round robin, random, sticky cookie, cohort hash on each kind of key).
pub const FIXED_CONFIG: &str = r#"
frontends:
  web:
    rules: ["Host:web.agendor.com.br"]
  web_canary:
    rules: ["Host:web.agendor.com.br", "HeadersRegexp:Cookie,_AUSER_TYPE=canary"]
  api:
    rule: "Host(`api.example.com`) && PathPrefix(`/v1`) && !Header(`X-Legacy`, `1`)"
    backend: api_sticky
  beta:
    rule: "(Cookie(`beta`, `1`) || QueryRegexp(`beta`, `^(1|yes)$`)) && Method(`GET`)"
    backend: hashed_cookie
    priority: 1000
  internal:
    rule: "ClientIP(`10.0.0.0/8`) || ClientIP(`::1`)"
    backend: hashed_ip
  wild:
    rule: "HostRegexp(`^[a-z]+\\.example\\.org$`) || Host(`*.example.net`)"
    backend: hashed_header
  users:
    rule: "PathPrefix(`/users/{id:[0-9]+}`) && Query(`user=`)"
    rule_syntax: v2
    backend: hashed_query
  legacy:
    rule: "PathPrefixStrip:/api;Method:GET,POST;Query:v={v:[0-9]+}"
    backend: web
  catchall:
    rule: "PathPrefix(`/`)"
    backend: web
    priority: 1
backends:
  web:
    - name: legacy_1
      values:
        - weight = 5
        - url = "http://ec2-54-10-XXX-XXX.sa-east-1.compute.amazonaws.com"
    - name: legacy_2
      values:
        - weight = 5
        - url = "http://ec2-54-20-XXX-XXX.sa-east-1.compute.amazonaws.com"
    - name: k8s
      values:
        - weight = 1
        - url = "http://agendor-web-canary.production.svc.cluster.local"
  web_canary:
    - name: k8s
      url: "http://agendor-web-canary.production.svc.cluster.local"
  api_sticky:
    servers:
      - {name: a, url: "http://a.local", weight: 3}
      - {name: b, url: "http://b.local", weight: 1}
      - {name: drained, url: "http://c.local", weight: 0}
    sticky: {cookie: srv, max_age: 60, same_site: Lax}
  hashed_cookie:
    servers:
      - {name: stable, url: "http://s.local", weight: 9}
      - {name: canary, url: "http://c.local", weight: 1}
    hash: {key: "cookie:uid", issue_cookie: true}
  hashed_ip:
    servers:
      - {name: stable, url: "http://s.local", weight: 1}
      - {name: canary, url: "http://c.local", weight: 1}
    hash: {key: client_ip, seed: s1}
  hashed_header:
    servers:
      - {name: stable, url: "http://s.local", weight: 2}
      - {name: canary, url: "http://c.local", weight: 1}
    hash: {key: "header:X-User"}
  hashed_query:
    balance: random
    servers:
      - {name: stable, url: "http://s.local", weight: 2}
      - {name: canary, url: "http://c.local", weight: 1}
    hash: {key: "query:user"}
"#;

/// `s` as a Go string literal (the printer's own quoting).
pub fn quote(s: &str) -> String {
    splitway::rule::go_quote(s)
}

const REGEXES: &[&str] = &[
    "^[a-z]+\\.example\\.org$",
    "canary",
    "^/users/[0-9]+",
    "^(1|yes)$",
    "a{2,}",
    "(?i)WEB",
    "[[:digit:]]",
    "\\Q.\\E",
];
const HEADER_NAMES: &[&str] = &["Cookie", "X-User", "X-Legacy", "Host", "Accept"];
const VALUES: &[&str] = &["1", "canary", "alice", "_AUSER_TYPE=canary", "yes"];
const COOKIE_NAMES: &[&str] = &["_AUSER_TYPE", "beta", "uid", "srv"];
const NETS: &[&str] = &[
    "10.0.0.0/8",
    "::1",
    "192.0.2.1",
    "::ffff:10.0.0.0/104",
    "0.0.0.0/0",
];
const HOST_SUFFIXES: &[&str] = &["example.net", "com", "agendor.com.br"];
const TEMPLATES: &[&str] = &[
    "/users/{id:[0-9]+}",
    "/{any}",
    "{sub}.example.org",
    "/a/{x}/b",
];

/// One matcher of an expression rule, with arguments mostly from small vocabularies.
#[derive(Debug, Arbitrary)]
pub enum ArbMatcher<'a> {
    /// `Host`.
    Host(Pick<'a>),
    /// `Host(`*.suffix`)` (v3) or `Host(`*`)`.
    HostWild(Option<Pick<'a>>),
    /// `HostRegexp` (a template in v2).
    HostRegexp(Pick<'a>),
    /// `Path`.
    Path(Pick<'a>),
    /// `PathPrefix`.
    PathPrefix(Pick<'a>),
    /// `PathRegexp` (v3) or a templated `Path` (v2).
    PathRegexp(Pick<'a>),
    /// `Method`.
    Method(Pick<'a>),
    /// `Header` / `Headers`.
    Header(Pick<'a>, Pick<'a>),
    /// `HeaderRegexp` / `HeadersRegexp`.
    HeaderRegexp(Pick<'a>, Pick<'a>),
    /// `Query`.
    Query(Pick<'a>, Option<Pick<'a>>),
    /// `QueryRegexp` (v3).
    QueryRegexp(Pick<'a>, Pick<'a>),
    /// `ClientIP`.
    ClientIp(Pick<'a>),
    /// `Cookie`.
    Cookie(Pick<'a>, Pick<'a>),
    /// `CookieRegexp`.
    CookieRegexp(Pick<'a>, Pick<'a>),
}

/// An expression rule's AST.
#[derive(Debug, Arbitrary)]
pub enum ArbExpr<'a> {
    /// A matcher.
    Leaf(ArbMatcher<'a>),
    /// `!e`.
    Not(Box<ArbExpr<'a>>),
    /// `(a && b && ...)`.
    And(Vec<ArbExpr<'a>>),
    /// `(a || b || ...)`.
    Or(Vec<ArbExpr<'a>>),
}

const QUERY_KEYS: &[&str] = &["beta", "user", "v"];
const V1_ARGS: &[&str] = &[
    "web.agendor.com.br",
    "/api",
    "/users/{id:[0-9]+}",
    "GET,POST",
    "Cookie,_AUSER_TYPE=canary",
    "X-User,alice",
    "beta=1",
    "beta=",
    "v={v:[0-9]+}",
    "{sub}.example.org",
    "^/api/(.*) /$1",
];

impl ArbMatcher<'_> {
    fn render(&self, v2: bool, out: &mut String) {
        let q = |p: &Pick<'_>, list: &[&str]| quote(p.get_from(list));
        let text = match self {
            ArbMatcher::Host(h) => format!("Host({})", q(h, HOSTS)),
            ArbMatcher::HostWild(None) => "Host(`*`)".to_owned(),
            ArbMatcher::HostWild(Some(s)) => {
                format!(
                    "Host({})",
                    quote(&format!("*.{}", s.get_from(HOST_SUFFIXES)))
                )
            }
            ArbMatcher::HostRegexp(r) if v2 => format!("HostRegexp({})", q(r, TEMPLATES)),
            ArbMatcher::HostRegexp(r) => format!("HostRegexp({})", q(r, REGEXES)),
            ArbMatcher::Path(p) => format!("Path({})", q(p, PATHS)),
            ArbMatcher::PathPrefix(p) => format!("PathPrefix({})", q(p, PATHS)),
            ArbMatcher::PathRegexp(r) if v2 => format!("Path({})", q(r, TEMPLATES)),
            ArbMatcher::PathRegexp(r) => format!("PathRegexp({})", q(r, REGEXES)),
            ArbMatcher::Method(m) => format!("Method({})", q(m, &["GET", "post", "DELETE"])),
            ArbMatcher::Header(n, v) if v2 => {
                format!("Headers({}, {})", q(n, HEADER_NAMES), q(v, VALUES))
            }
            ArbMatcher::Header(n, v) => format!("Header({}, {})", q(n, HEADER_NAMES), q(v, VALUES)),
            ArbMatcher::HeaderRegexp(n, r) if v2 => {
                format!("HeadersRegexp({}, {})", q(n, HEADER_NAMES), q(r, REGEXES))
            }
            ArbMatcher::HeaderRegexp(n, r) => {
                format!("HeaderRegexp({}, {})", q(n, HEADER_NAMES), q(r, REGEXES))
            }
            ArbMatcher::Query(k, v) if v2 => {
                let v = v.as_ref().map_or("", |v| v.get_from(VALUES));
                format!(
                    "Query({})",
                    quote(&format!("{}={v}", k.get_from(QUERY_KEYS)))
                )
            }
            ArbMatcher::Query(k, None) => format!("Query({})", q(k, QUERY_KEYS)),
            ArbMatcher::Query(k, Some(v)) => {
                format!("Query({}, {})", q(k, QUERY_KEYS), q(v, VALUES))
            }
            ArbMatcher::QueryRegexp(k, r) if v2 => format!(
                "Query({})",
                quote(&format!(
                    "{}={{x:{}}}",
                    k.get_from(QUERY_KEYS),
                    r.get_from(REGEXES)
                ))
            ),
            ArbMatcher::QueryRegexp(k, r) => {
                format!("QueryRegexp({}, {})", q(k, QUERY_KEYS), q(r, REGEXES))
            }
            ArbMatcher::ClientIp(n) => format!("ClientIP({})", q(n, NETS)),
            ArbMatcher::Cookie(n, v) => format!("Cookie({}, {})", q(n, COOKIE_NAMES), q(v, VALUES)),
            ArbMatcher::CookieRegexp(n, r) => {
                format!("CookieRegexp({}, {})", q(n, COOKIE_NAMES), q(r, REGEXES))
            }
        };
        out.push_str(&text);
    }
}

impl ArbExpr<'_> {
    /// The expression's text in v3 (`v2 == false`) or v2 syntax.
    pub fn render(&self, v2: bool) -> String {
        let mut out = String::new();
        self.render_into(v2, &mut out);
        out
    }

    fn render_into(&self, v2: bool, out: &mut String) {
        match self {
            ArbExpr::Leaf(m) => m.render(v2, out),
            ArbExpr::Not(e) => {
                out.push_str("!(");
                e.render_into(v2, out);
                out.push(')');
            }
            ArbExpr::And(es) | ArbExpr::Or(es) => {
                let op = if matches!(self, ArbExpr::And(_)) {
                    " && "
                } else {
                    " || "
                };
                if es.is_empty() {
                    out.push_str("Host(`*`)");
                    return;
                }
                out.push('(');
                for (i, e) in es.iter().enumerate() {
                    if i > 0 {
                        out.push_str(op);
                    }
                    e.render_into(v2, out);
                }
                out.push(')');
            }
        }
    }
}

/// A rule in one of the three syntaxes.
#[derive(Debug, Arbitrary)]
pub enum ArbRule<'a> {
    /// v1 rule strings, each `Name:args` pieces joined by `;`.
    V1(Vec<Vec<(u8, Pick<'a>)>>),
    /// A v2 expression.
    V2(ArbExpr<'a>),
    /// A v3 expression.
    V3(ArbExpr<'a>),
}

impl ArbRule<'_> {
    /// The rule, when its text parses.
    pub fn parse(&self) -> Option<splitway::rule::Rule> {
        use splitway::rule::{MatcherName, Rule, Syntax};
        match self {
            ArbRule::V1(strings) => {
                let v1_names: Vec<&str> = MatcherName::of(Syntax::V1)
                    .map(MatcherName::as_str)
                    .collect();
                let texts: Vec<String> = strings
                    .iter()
                    .map(|pieces| {
                        let parts: Vec<String> = pieces
                            .iter()
                            .map(|(n, a)| {
                                let name = v1_names
                                    .get(usize::from(*n) % v1_names.len())
                                    .copied()
                                    .unwrap_or("Host");
                                format!("{name}:{}", a.get_from(V1_ARGS))
                            })
                            .collect();
                        parts.join(";")
                    })
                    .collect();
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                Rule::parse_v1(&refs).ok()
            }
            ArbRule::V2(e) => Rule::parse(&e.render(true), Syntax::V2).ok(),
            ArbRule::V3(e) => Rule::parse(&e.render(false), Syntax::V3).ok(),
        }
    }
}

impl<'a> Pick<'a> {
    /// The string, from `list` when it is a known one.
    pub fn get_from(&self, list: &[&'a str]) -> &'a str {
        match self {
            Pick::Known(i) => list
                .get(usize::from(*i) % list.len().max(1))
                .copied()
                .unwrap_or(""),
            Pick::Raw(s) => s,
        }
    }
}
