//! The `rollouts:` section: decoded into plain settings, every mistake located.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;
use std::time::Duration;

use splitway::config::{Config, Format};
use splitway::diag::ConfigError;
use splitway::rollout::{Analysis, OnSuccess, Rollout};

const HEAD: &str = r#"frontends:
  web:
    rule: "Host(`web.example`)"
backends:
  web:
    - name: legacy_1
      url: "http://legacy-1.internal"
      weight: 5
    - name: legacy_2
      url: "http://legacy-2.internal"
      weight: 5
    - name: k8s
      url: "http://k8s.internal"
      weight: 1
"#;

fn load(rollouts: &str) -> Result<Config, ConfigError> {
    let text = format!("{HEAD}{rollouts}");
    Config::from_str(&text, Format::Yaml, "t.yaml").map(|l| l.config)
}

/// `LINE:COL: message` of each error, for a file of HEAD (14 lines) and `rollouts`.
fn errors(rollouts: &str) -> Vec<String> {
    match load(rollouts) {
        Ok(_) => panic!("loaded, but must fail"),
        Err(e) => e
            .diagnostics
            .iter()
            .map(|d| format!("{}:{}: {}", d.line, d.col, d.message))
            .collect(),
    }
}

#[test]
fn the_example_loads_into_plain_settings() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/config/rollout.yaml");
    let config = Config::from_file(&path).unwrap().config;
    assert_eq!(
        config.rollouts,
        vec![Rollout {
            backend: "web".into(),
            canary: "k8s".into(),
            steps: vec![1.0, 5.0, 10.0, 25.0, 50.0],
            interval: Duration::from_secs(30),
            analysis: Analysis {
                min_requests: 100,
                max_error_rate: 0.01,
                max_error_rate_increase: 0.005,
                confidence: 0.99,
                max_latency_p99: Some(Duration::from_millis(800)),
                max_latency_ratio: Some(1.5),
                failures: 2,
            },
            on_success: OnSuccess::Promote,
            revision: None,
            fleet: None,
        }]
    );
    assert_eq!(
        config.rollout("web").map(|r| r.canary.as_str()),
        Some("k8s")
    );
    assert!(config.rollout("web_canary").is_none());
}

#[test]
fn defaults_fill_what_is_not_written() {
    let config =
        load("rollouts:\n  web:\n    canary: k8s\n    steps: [0.5, 50]\n    on_success: hold\n    revision: v2.4.1\n")
            .unwrap();
    let r = &config.rollouts[0];
    assert_eq!(r.steps, [0.5, 50.0]);
    assert_eq!(r.interval, Duration::from_secs(30));
    assert_eq!(r.analysis, Analysis::default());
    assert_eq!(r.on_success, OnSuccess::Hold);
    assert_eq!(r.revision.as_deref(), Some("v2.4.1"));
}

#[test]
fn the_same_section_loads_from_toml() {
    let text = r#"
[frontends.web]
rule = "Host(`web.example`)"
[[backends.web]]
name = "legacy"
url = "http://legacy.internal"
weight = 9
[[backends.web]]
name = "k8s"
url = "http://k8s.internal"
[rollouts.web]
canary = "k8s"
steps = [10, 20.5]
interval = "1m"
[rollouts.web.analysis]
failures = 3
"#;
    let config = Config::from_str(text, Format::Toml, "t.toml")
        .unwrap()
        .config;
    let r = &config.rollouts[0];
    assert_eq!(
        (r.steps.clone(), r.interval, r.analysis.failures),
        (vec![10.0, 20.5], Duration::from_secs(60), 3)
    );
}

#[test]
fn unknown_backend_and_canary_are_located_with_suggestions() {
    assert_eq!(
        errors("rollouts:\n  webb:\n    canary: k8s\n    steps: [1]\n"),
        ["16:3: rollout of backend `webb`, which does not exist; did you mean `web`?"]
    );
    assert_eq!(
        errors("rollouts:\n  web:\n    canary: k8z\n    steps: [1]\n"),
        ["17:13: canary `k8z` is not a server of backend `web`; did you mean `k8s`?"]
    );
}

#[test]
fn steps_must_rise_strictly_inside_0_and_100() {
    assert_eq!(
        errors("rollouts:\n  web:\n    canary: k8s\n    steps: [0, 5, 5, 4, 100, 150]\n"),
        [
            "18:13: step 0 is outside (0, 100): a step is the canary's share in percent, more than 0 and less than 100 (promotion gives it the rest)",
            "18:19: step 5 does not rise above the step before it (5): steps must be strictly rising",
            "18:22: step 4 does not rise above the step before it (5): steps must be strictly rising",
            "18:25: step 100 is outside (0, 100): a step is the canary's share in percent, more than 0 and less than 100 (promotion gives it the rest)",
            "18:30: step 150 is outside (0, 100): a step is the canary's share in percent, more than 0 and less than 100 (promotion gives it the rest)",
        ]
    );
    assert_eq!(
        errors("rollouts:\n  web:\n    canary: k8s\n    steps: []\n"),
        ["18:12: `steps` is empty: give at least one percentage"]
    );
    assert_eq!(
        errors("rollouts:\n  web:\n    canary: k8s\n    steps: [one]\n"),
        ["18:13: expected a percentage, found a string"]
    );
}

#[test]
fn a_step_whose_weight_passes_the_cap_is_refused() {
    // Stable 5:5 scales to 500:500; 99.95% would need a canary weight of 1,999,000.
    assert_eq!(
        errors("rollouts:\n  web:\n    canary: k8s\n    steps: [50, 99.9, 99.95]\n"),
        [
            "18:23: step 99.95 needs a weight of 1999000, above the maximum of 1000000: lower the step or the stable servers' weights"
        ]
    );
}

#[test]
fn bad_durations_thresholds_and_unknown_keys() {
    assert_eq!(
        errors(
            "rollouts:\n  web:\n    canary: k8s\n    steps: [1]\n    interval: 30\n    intervall: 1s\n    on_success: promot\n    analysis:\n      max_error_rat: 0.1\n      confidence: 1\n      max_latency_p99: soon\n      failures: 0\n      max_error_rate_increase: -0.1\n      max_latency_ratio: 0\n      min_requests: 0\n"
        ),
        [
            "20:5: unknown key `intervall` in rollout `web`; did you mean `interval`?",
            "21:17: unknown on_success `promot`: expected `promote` or `hold`; did you mean `promote`?",
            "23:7: unknown key `max_error_rat` in `analysis` of rollout `web`; did you mean `max_error_rate`?",
            "24:19: confidence 1 is outside [0.5, 1)",
            "25:24: invalid duration `soon`: expected a positive Go duration like `30s`, `1m` or `500ms`",
            "26:17: failures 0 must be at least 1",
            "27:32: max_error_rate_increase -0.1 is outside [0, 1]",
            "28:26: max_latency_ratio 0 must be above 0",
            "29:21: min_requests 0 must be at least 1",
        ]
    );
}

#[test]
fn missing_canary_or_steps_and_a_lone_server() {
    assert_eq!(
        errors("rollouts:\n  web:\n    interval: 1s\n"),
        [
            "16:3: rollout `web` needs a `canary` server",
            "16:3: rollout `web` needs `steps`",
        ]
    );
    let lone = "frontends:\n  web:\n    rule: \"Host(`a`)\"\nbackends:\n  web:\n    - name: k8s\n      url: http://k8s.internal\nrollouts:\n  web:\n    canary: k8s\n    steps: [1]\n";
    let e = Config::from_str(lone, Format::Yaml, "t.yaml").unwrap_err();
    assert_eq!(
        e.diagnostics[0].to_string(),
        "t.yaml:10:13: error: rollout `web`: backend `web` has no server besides the canary to judge it against"
    );
    let no_weight = HEAD.replace("weight: 5", "weight: 0")
        + "rollouts:\n  web:\n    canary: k8s\n    steps: [1]\n";
    let e = Config::from_str(&no_weight, Format::Yaml, "t.yaml").unwrap_err();
    assert_eq!(
        e.diagnostics[0].to_string(),
        "t.yaml:18:12: error: rollout `web`: the stable servers of backend `web` all have weight 0, so there is no traffic to share with the canary"
    );
}

#[test]
fn the_fleet_mode_loads_with_its_defaults_and_actions() {
    use splitway::rollout::{Action, Fleet, PrometheusSource, TimedAction};
    use std::time::UNIX_EPOCH;
    let config = load(
        "rollouts:\n  web:\n    canary: k8s\n    steps: [1, 50]\n    interval: 2s\n    source: prometheus\n    prometheus:\n      url: http://127.0.0.1:9090/\n      selector: 'job=\"splitway\",'\n    start: 2027-01-15T08:00:00Z\n    actions:\n      - {at: 2027-01-15T08:01:00.5Z, do: pause}\n      - at: \"2027-01-15T09:02:00+01:00\"\n        do: resume\n",
    )
    .unwrap();
    let start = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    assert_eq!(
        config.rollouts[0].fleet,
        Some(Fleet {
            prometheus: PrometheusSource {
                url: "http://127.0.0.1:9090".into(),
                selector: "job=\"splitway\"".into(),
                settle: Duration::from_secs(30),
            },
            start,
            actions: vec![
                TimedAction {
                    at: start + Duration::from_millis(60_500),
                    action: Action::Pause,
                },
                TimedAction {
                    at: start + Duration::from_secs(120),
                    action: Action::Resume,
                },
            ],
        })
    );
    let local = load("rollouts:\n  web:\n    canary: k8s\n    steps: [1]\n    source: local\n");
    assert_eq!(local.unwrap().rollouts[0].fleet, None);
}

#[test]
fn fleet_mistakes_are_located() {
    // Lines 15 on are the rollouts section.
    assert_eq!(
        errors("rollouts:\n  web:\n    canary: k8s\n    steps: [1]\n    source: prometheus\n"),
        [
            "16:3: rollout `web` has `source: prometheus` but no `prometheus: {url: ...}`",
            "16:3: rollout `web` has `source: prometheus` but no `start:` time (RFC 3339): every replica counts its boundaries from it (`splitway rollout start` writes one)",
        ]
    );
    assert_eq!(
        errors(
            "rollouts:\n  web:\n    canary: k8s\n    steps: [1]\n    source: prometeus\n    start: 2027-01-15T08:00:00Z\n"
        ),
        [
            "19:13: unknown source `prometeus`: expected `local` or `prometheus`; did you mean `prometheus`?"
        ]
    );
    assert_eq!(
        errors(
            "rollouts:\n  web:\n    canary: k8s\n    steps: [1]\n    start: 2027-01-15T08:00:00Z\n    actions: []\n"
        ),
        [
            "19:5: `start` in rollout `web` applies only with `source: prometheus`",
            "20:5: `actions` in rollout `web` applies only with `source: prometheus`",
        ]
    );
    assert_eq!(
        errors(
            "rollouts:\n  web:\n    canary: k8s\n    steps: [1]\n    source: prometheus\n    prometheus: {url: 'https://p:9090', selector: '{job=\"x\"}', settle: 0s, scrape: 1s}\n    start: 2027-01-15 08:00\n    actions:\n      - {at: 2027-01-15T08:00:00Z, do: pasue}\n      - {do: pause}\n      - {at: noon, do: promote}\n"
        ),
        [
            "20:24: prometheus url `https://p:9090` is not an http:// URL (like `http://prometheus:9090`)",
            "20:76: unknown key `scrape` in `prometheus` of rollout `web`",
            "21:12: `2027-01-15 08:00` is not an RFC 3339 time (like `2026-12-01T22:30:00Z` or `2026-12-01T23:30:00+01:00`)",
            "23:40: unknown action `pasue`: expected pause, resume, promote, abort or rollback; did you mean `pause`?",
            "24:9: an action needs `at:` (an RFC 3339 time)",
            "25:14: `noon` is not an RFC 3339 time (like `2026-12-01T22:30:00Z` or `2026-12-01T23:30:00+01:00`)",
        ]
    );
}
