//! The talk's four configurations (seed/000_55259c2db0168ca5.txt) load exactly as shown.
//! The talk's text lost its indentation; it is restored here as Helm values are written.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use splitway::config::{Balance, Config, Format, Loaded};
use splitway::rule::Syntax;

const FRONTENDS_PHASE_1: &str = r#"frontends:
  web:
    rules:
      - "Host:web.agendor.com.br"
  web_canary:
    rules:
      - "Host:web.agendor.com.br"
      - "HeadersRegexp:Cookie,_AUSER_TYPE=canary"
"#;

const PHASE_1: &str = r#"frontends:
  web:
    rules:
      - "Host:web.agendor.com.br"
  web_canary:
    rules:
      - "Host:web.agendor.com.br"
      - "HeadersRegexp:Cookie,_AUSER_TYPE=canary"
backends:
  web:
    - name: legacy_1
      url: http://ec2-54-10-XXX-XXX.sa-east-1.compute.amazonaws.com
    - name: legacy_2
      url: http://ec2-54-20-XXX-XXX.sa-east-1.compute.amazonaws.com
  web_canary:
    - name: k8s
      url: "http://agendor-web-canary.production.svc.cluster.local"
"#;

const BACKENDS_PHASE_2: &str = r#"backends:
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
"#;

const BACKENDS_PHASE_3: &str = r#"backends:
  web:
    - name: k8s
      url: "http://agendor-web.production.svc.cluster.local"
  web_canary:
    - name: k8s
      url: "http://agendor-web-canary.production.svc.cluster.local"
"#;

const CANARY_HOST: &str = r#"# back-end
backends:
  web_canary:
    - name: k8s
      url: "http://agendor-web-canary.production.svc.cluster.local"
  web_canary_host:
    - name: k8s
      url: "http://agendor-web-canary.production.svc.cluster.local"
# front-end
frontends:
  web_canary:
    rules:
      - "Host:web.agendor.com.br"
      - "HeadersRegexp:Cookie,_AUSER_TYPE=canary"
  web_canary_host:
    rules:
      - "Host:web-canary.agendor.com.br"
"#;

const LEGACY_1: &str = "http://ec2-54-10-XXX-XXX.sa-east-1.compute.amazonaws.com";
const LEGACY_2: &str = "http://ec2-54-20-XXX-XXX.sa-east-1.compute.amazonaws.com";
const CANARY: &str = "http://agendor-web-canary.production.svc.cluster.local";
const WEB: &str = "http://agendor-web.production.svc.cluster.local";

fn load(text: &str) -> Loaded {
    match Config::from_str(text, Format::Yaml, "aws.yaml") {
        Ok(loaded) => loaded,
        Err(e) => panic!("{e}"),
    }
}

/// (name, backend, rule texts, priority) of each frontend, in file order.
fn frontends(config: &Config) -> Vec<(String, String, Vec<String>, i64)> {
    config
        .frontends
        .iter()
        .map(|f| {
            (
                f.name.clone(),
                f.backend.clone(),
                f.rule.texts().to_vec(),
                f.priority,
            )
        })
        .collect()
}

/// (backend, [(server, url, weight)]) in file order.
/// (backend, [(server, url, weight)]).
type Summary = Vec<(String, Vec<(String, String, u32)>)>;

fn backends(config: &Config) -> Summary {
    config
        .backends
        .iter()
        .map(|b| {
            (
                b.name.clone(),
                b.servers
                    .iter()
                    .map(|s| (s.name.clone(), s.url.clone(), s.weight))
                    .collect(),
            )
        })
        .collect()
}

fn s(v: &str) -> String {
    v.to_owned()
}

fn seed_frontends() -> Vec<(String, String, Vec<String>, i64)> {
    vec![
        (s("web"), s("web"), vec![s("Host:web.agendor.com.br")], 23),
        (
            s("web_canary"),
            s("web_canary"),
            vec![
                s("Host:web.agendor.com.br"),
                s("HeadersRegexp:Cookie,_AUSER_TYPE=canary"),
            ],
            23 + 39,
        ),
    ]
}

#[test]
fn phase_1_cookie_only_canary_loads_as_in_the_talk() {
    let loaded = load(PHASE_1);
    assert_eq!(loaded.warnings, []);
    assert_eq!(frontends(&loaded.config), seed_frontends());
    assert_eq!(
        backends(&loaded.config),
        vec![
            (
                s("web"),
                vec![
                    (s("legacy_1"), s(LEGACY_1), 1),
                    (s("legacy_2"), s(LEGACY_2), 1)
                ]
            ),
            (s("web_canary"), vec![(s("k8s"), s(CANARY), 1)]),
        ]
    );
    for f in &loaded.config.frontends {
        assert_eq!(f.rule.syntax(), Syntax::V1);
        assert!(f.pass_host_header);
    }
    for b in &loaded.config.backends {
        assert_eq!(b.balance, Balance::Wrr);
        assert!(b.sticky.is_none() && b.hash.is_none() && b.health_check.is_none());
    }
}

#[test]
fn phase_2_values_quirk_gives_weights_5_5_1() {
    let text = format!("{FRONTENDS_PHASE_1}{BACKENDS_PHASE_2}");
    let loaded = load(&text);
    assert_eq!(loaded.warnings, []);
    assert_eq!(frontends(&loaded.config), seed_frontends());
    assert_eq!(
        backends(&loaded.config),
        vec![
            (
                s("web"),
                vec![
                    (s("legacy_1"), s(LEGACY_1), 5),
                    (s("legacy_2"), s(LEGACY_2), 5),
                    (s("k8s"), s(CANARY), 1),
                ]
            ),
            (s("web_canary"), vec![(s("k8s"), s(CANARY), 1)]),
        ]
    );
    let k8s = &loaded.config.backend("web").unwrap().servers[2];
    assert_eq!(
        k8s.uri.host(),
        Some("agendor-web-canary.production.svc.cluster.local")
    );
}

#[test]
fn phase_3_cut_over_loads() {
    let text = format!("{FRONTENDS_PHASE_1}{BACKENDS_PHASE_3}");
    let loaded = load(&text);
    assert_eq!(loaded.warnings, []);
    assert_eq!(frontends(&loaded.config), seed_frontends());
    assert_eq!(
        backends(&loaded.config),
        vec![
            (s("web"), vec![(s("k8s"), s(WEB), 1)]),
            (s("web_canary"), vec![(s("k8s"), s(CANARY), 1)]),
        ]
    );
}

#[test]
fn canary_host_variant_loads() {
    let loaded = load(CANARY_HOST);
    assert_eq!(loaded.warnings, []);
    assert_eq!(
        frontends(&loaded.config),
        vec![
            (
                s("web_canary"),
                s("web_canary"),
                vec![
                    s("Host:web.agendor.com.br"),
                    s("HeadersRegexp:Cookie,_AUSER_TYPE=canary"),
                ],
                62,
            ),
            (
                s("web_canary_host"),
                s("web_canary_host"),
                vec![s("Host:web-canary.agendor.com.br")],
                30,
            ),
        ]
    );
    assert_eq!(
        backends(&loaded.config),
        vec![
            (s("web_canary"), vec![(s("k8s"), s(CANARY), 1)]),
            (s("web_canary_host"), vec![(s("k8s"), s(CANARY), 1)]),
        ]
    );
}

#[test]
fn values_quirk_tolerates_spacing_and_quotes() {
    let text = format!(
        "{FRONTENDS_PHASE_1}{}",
        r#"backends:
  web:
    - name: a
      values: ["weight=7", "url=http://a.local"]
    - name: b
      values: ["  weight  =  0 ", "url = 'http://b.local'"]
  web_canary:
    - name: k8s
      url: "http://c.local"
"#
    );
    let loaded = load(&text);
    assert_eq!(
        backends(&loaded.config)[0],
        (
            s("web"),
            vec![
                (s("a"), s("http://a.local"), 7),
                (s("b"), s("http://b.local"), 0)
            ]
        )
    );
}

#[test]
fn the_same_model_loads_from_toml() {
    let toml = r#"
[frontends.web]
rules = ["Host:web.agendor.com.br"]

[frontends.web_canary]
rules = ["Host:web.agendor.com.br", "HeadersRegexp:Cookie,_AUSER_TYPE=canary"]

[[backends.web]]
name = "legacy_1"
values = ["weight = 5", "url = \"http://ec2-54-10-XXX-XXX.sa-east-1.compute.amazonaws.com\""]

[[backends.web]]
name = "legacy_2"
values = ["weight = 5", "url = \"http://ec2-54-20-XXX-XXX.sa-east-1.compute.amazonaws.com\""]

[[backends.web]]
name = "k8s"
values = ["weight = 1", "url = \"http://agendor-web-canary.production.svc.cluster.local\""]

[[backends.web_canary]]
name = "k8s"
url = "http://agendor-web-canary.production.svc.cluster.local"
"#;
    let from_toml = match Config::from_str(toml, Format::Toml, "aws.toml") {
        Ok(l) => l,
        Err(e) => panic!("{e}"),
    };
    let from_yaml = load(&format!("{FRONTENDS_PHASE_1}{BACKENDS_PHASE_2}"));
    assert_eq!(from_toml.warnings, []);
    assert_eq!(frontends(&from_toml.config), frontends(&from_yaml.config));
    assert_eq!(backends(&from_toml.config), backends(&from_yaml.config));
}
