//! The `rollouts:` section: one guarded rollout per backend (docs/rollouts.md).

use super::*;
use crate::rollout::weights::{Member, largest_weight};
use std::time::SystemTime;

use crate::rollout::fleet::parse_rfc3339;
use crate::rollout::{Action, Analysis, Fleet, OnSuccess, PrometheusSource, Rollout, TimedAction};

const ROLLOUT_KEYS: &[&str] = &[
    "canary",
    "steps",
    "interval",
    "analysis",
    "on_success",
    "revision",
    "source",
    "prometheus",
    "start",
    "actions",
];
const PROMETHEUS_KEYS: &[&str] = &["url", "selector", "settle"];
const ACTION_KEYS: &[&str] = &["at", "do"];

/// Default time after a boundary before its data are taken as complete (two scrapes at
/// Prometheus' usual 15 s).
const DEFAULT_SETTLE: Duration = Duration::from_secs(30);
const ANALYSIS_KEYS: &[&str] = &[
    "min_requests",
    "max_error_rate",
    "max_error_rate_increase",
    "confidence",
    "max_latency_p99",
    "max_latency_ratio",
    "failures",
];

/// Default time each step is observed.
const DEFAULT_STEP_INTERVAL: Duration = Duration::from_secs(30);

impl Decoder<'_> {
    /// `rollouts:`, a map from backend names to rollouts, checked against the decoded
    /// `backends` (and the names of every backend written, decoded or not).
    pub(super) fn rollouts(
        &mut self,
        node: &Node,
        backends: &[Backend],
        backend_names: &[(String, &Key)],
    ) -> Vec<Rollout> {
        let entries: &[(Key, Node)] = match &node.kind {
            Kind::Null => &[],
            _ => match self.map(node, "a map of backend names to rollouts") {
                Some(e) => e,
                None => return Vec::new(),
            },
        };
        let mut out = Vec::new();
        for (key, value) in entries {
            if !backend_names.iter().any(|(n, _)| *n == key.text) {
                let hint = did_you_mean(&key.text, backend_names.iter().map(|(n, _)| n.as_str()));
                self.sink.error(
                    key.span.start,
                    format!(
                        "rollout of backend `{}`, which does not exist{hint}",
                        key.text
                    ),
                );
                // Still read it, to report its own mistakes.
                let _ = self.rollout(key, value, None);
                continue;
            }
            // A backend that did not decode has had its errors reported.
            let backend = backends.iter().find(|b| b.name == key.text);
            if let Some(r) = self.rollout(key, value, backend) {
                out.push(r);
            }
        }
        out
    }

    fn rollout(&mut self, key: &Key, node: &Node, backend: Option<&Backend>) -> Option<Rollout> {
        let place = format!("rollout `{}`", key.text);
        let fields = self.fields(
            node,
            "a rollout (a map with `canary` and `steps`)",
            &place,
            ROLLOUT_KEYS,
            &[],
        )?;
        let mut ok = true;
        let canary = match fields.get("canary") {
            Some(n) => match self.string(n, "a server name") {
                Some(name) => {
                    if let Some(b) = backend
                        && !b.servers.iter().any(|s| s.name == name)
                    {
                        let hint = did_you_mean(name, b.servers.iter().map(|s| s.name.as_str()));
                        self.sink.error(
                            n.content_start,
                            format!(
                                "canary `{name}` is not a server of backend `{}`{hint}",
                                key.text
                            ),
                        );
                        ok = false;
                    }
                    Some((name.to_owned(), n))
                }
                None => {
                    ok = false;
                    None
                }
            },
            None => {
                if fields.unknown == 0 {
                    self.sink
                        .error(key.span.start, format!("{place} needs a `canary` server"));
                }
                ok = false;
                None
            }
        };
        let steps = match fields.entry("steps") {
            Some((_, n)) => self.steps(n),
            None => {
                if fields.unknown == 0 {
                    self.sink
                        .error(key.span.start, format!("{place} needs `steps`"));
                }
                None
            }
        };
        let interval = match fields.get("interval") {
            Some(n) => self.duration(n),
            None => Some(DEFAULT_STEP_INTERVAL),
        };
        let analysis = match fields.get("analysis") {
            Some(n) => self.analysis(&place, n),
            None => Some(Analysis::default()),
        };
        let on_success = match fields.get("on_success") {
            Some(n) => match self.string(n, "`promote` or `hold`") {
                Some("promote") => Some(OnSuccess::Promote),
                Some("hold") => Some(OnSuccess::Hold),
                Some(other) => {
                    let hint = did_you_mean(other, ["promote", "hold"]);
                    self.sink.error(
                        n.content_start,
                        format!("unknown on_success `{other}`: expected `promote` or `hold`{hint}"),
                    );
                    None
                }
                None => None,
            },
            None => Some(OnSuccess::Promote),
        };
        let revision = match fields.get("revision") {
            Some(n) => self
                .string(n, "a revision label")
                .map(|s| Some(s.to_owned())),
            None => Some(None),
        };

        let fleet = self.fleet(&place, key, &fields);

        let (Some((canary, canary_node)), Some((steps, steps_node))) = (canary, steps) else {
            return None;
        };
        if let (Some(b), true) = (backend, ok) {
            ok &= self.shares_fit(&place, b, &canary, canary_node, &steps, steps_node);
        }
        let (Some(interval), Some(analysis), Some(on_success), Some(revision), Some(fleet), true) =
            (interval, analysis, on_success, revision, fleet, ok)
        else {
            return None;
        };
        Some(Rollout {
            backend: key.text.clone(),
            canary,
            steps: steps.into_iter().map(|(p, _)| p).collect(),
            interval,
            analysis,
            on_success,
            revision,
            fleet,
        })
    }

    /// `source`, `prometheus`, `start` and `actions`: `Some(None)` for a local rollout,
    /// `Some(Some(..))` for the fleet mode, `None` after an error.
    fn fleet(&mut self, place: &str, key: &Key, fields: &Fields<'_>) -> Option<Option<Fleet>> {
        let fleet_mode = match fields.get("source") {
            Some(n) => match self.string(n, "`local` or `prometheus`")? {
                "local" => false,
                "prometheus" => true,
                other => {
                    let hint = did_you_mean(other, ["local", "prometheus"]);
                    self.sink.error(
                        n.content_start,
                        format!("unknown source `{other}`: expected `local` or `prometheus`{hint}"),
                    );
                    return None;
                }
            },
            None => false,
        };
        if !fleet_mode {
            let mut ok = true;
            for name in ["prometheus", "start", "actions"] {
                if let Some((k, _)) = fields.entry(name) {
                    self.sink.error(
                        k.span.start,
                        format!("`{name}` in {place} applies only with `source: prometheus`"),
                    );
                    ok = false;
                }
            }
            return ok.then_some(None);
        }
        let mut ok = true;
        let prometheus = match fields.get("prometheus") {
            Some(n) => self.prometheus(place, n),
            None => {
                self.sink.error(
                    key.span.start,
                    format!("{place} has `source: prometheus` but no `prometheus: {{url: ...}}`"),
                );
                None
            }
        };
        let start = match fields.get("start") {
            Some(n) => self.time(n),
            None => {
                self.sink.error(
                    key.span.start,
                    format!(
                        "{place} has `source: prometheus` but no `start:` time (RFC 3339): every \
                         replica counts its boundaries from it (`splitway rollout start` writes one)"
                    ),
                );
                None
            }
        };
        let actions = match fields.get("actions") {
            Some(n) => self.actions(n),
            None => Some(Vec::new()),
        };
        ok &= prometheus.is_some() && start.is_some() && actions.is_some();
        let (Some(prometheus), Some(start), Some(actions), true) = (prometheus, start, actions, ok)
        else {
            return None;
        };
        Some(Some(Fleet {
            prometheus,
            start,
            actions,
        }))
    }

    fn prometheus(&mut self, place: &str, node: &Node) -> Option<PrometheusSource> {
        let p_place = format!("`prometheus` of {place}");
        let fields = self.fields(node, "a map with `url`", &p_place, PROMETHEUS_KEYS, &[])?;
        let url = match fields.get("url") {
            Some(n) => {
                let url = self.string(n, "a URL (`http://prometheus:9090`)")?;
                let parsed = url.parse::<http::Uri>().ok();
                let plain_http = parsed.is_some_and(|u| {
                    u.scheme_str() == Some("http") && u.authority().is_some() && u.query().is_none()
                });
                if !plain_http {
                    self.sink.error(
                        n.content_start,
                        format!("prometheus url `{url}` is not an http:// URL (like `http://prometheus:9090`)"),
                    );
                    return None;
                }
                url.trim_end_matches('/').to_owned()
            }
            None => {
                if fields.unknown == 0 {
                    self.sink
                        .error(node.span.start, format!("{p_place} needs a `url`"));
                }
                return None;
            }
        };
        let selector = match fields.get("selector") {
            Some(n) => {
                let sel = self.string(n, "label matchers (`job=\"splitway\"`)")?;
                if sel.contains(['{', '}']) {
                    self.sink.error(
                        n.content_start,
                        format!(
                            "selector `{sel}` has braces: write only the matchers \
                             (`job=\"splitway\",namespace=\"production\"`), they go inside every query's braces"
                        ),
                    );
                    return None;
                }
                sel.trim().trim_end_matches(',').to_owned()
            }
            None => String::new(),
        };
        let settle = match fields.get("settle") {
            Some(n) => self.duration(n)?,
            None => DEFAULT_SETTLE,
        };
        Some(PrometheusSource {
            url,
            selector,
            settle,
        })
    }

    /// An RFC 3339 time.
    fn time(&mut self, node: &Node) -> Option<SystemTime> {
        let text = self.string(node, "an RFC 3339 time (`2026-12-01T22:30:00Z`)")?;
        match parse_rfc3339(text) {
            Ok(t) => Some(t),
            Err(e) => {
                self.sink.error(node.content_start, e);
                None
            }
        }
    }

    fn actions(&mut self, node: &Node) -> Option<Vec<TimedAction>> {
        let Kind::Seq(items) = &node.kind else {
            self.type_error(
                node,
                "a list of actions (`- {at: 2026-12-01T22:30:00Z, do: pause}`)",
            );
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            let Some(fields) = self.fields(
                item,
                "an action (`{at: TIME, do: ACTION}`)",
                "an action",
                ACTION_KEYS,
                &[],
            ) else {
                ok = false;
                continue;
            };
            let at = match fields.get("at") {
                Some(n) => self.time(n),
                None => {
                    self.sink
                        .error(item.span.start, "an action needs `at:` (an RFC 3339 time)");
                    None
                }
            };
            let action = match fields.get("do") {
                Some(n) => match self.string(n, "an action word") {
                    Some(word) => match word.parse::<Action>() {
                        Ok(a) => Some(a),
                        Err(_) => {
                            let hint = did_you_mean(word, Action::ALL.iter().map(|a| a.as_str()));
                            self.sink.error(
                                n.content_start,
                                format!(
                                    "unknown action `{word}`: expected pause, resume, promote, abort or rollback{hint}"
                                ),
                            );
                            None
                        }
                    },
                    None => None,
                },
                None => {
                    self.sink.error(
                        item.span.start,
                        "an action needs `do:` (pause, resume, promote, abort or rollback)",
                    );
                    None
                }
            };
            match (at, action) {
                (Some(at), Some(action)) => out.push(TimedAction { at, action }),
                _ => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// The steps with where each is written: percentages strictly rising, each in (0, 100).
    fn steps<'n>(&mut self, node: &'n Node) -> Option<(Vec<(f64, &'n Node)>, &'n Node)> {
        let Kind::Seq(items) = &node.kind else {
            self.type_error(node, "a list of percentages (`[1, 5, 10, 25, 50]`)");
            return None;
        };
        if items.is_empty() {
            self.sink.error(
                node.span.start,
                "`steps` is empty: give at least one percentage",
            );
            return None;
        }
        let mut ok = true;
        let mut out: Vec<(f64, &Node)> = Vec::with_capacity(items.len());
        for item in items {
            let Some(p) = self.number(item, "a percentage") else {
                ok = false;
                continue;
            };
            if p <= 0.0 || p >= 100.0 {
                self.sink.error(
                    item.span.start,
                    format!(
                        "step {} is outside (0, 100): a step is the canary's share in percent, \
                         more than 0 and less than 100 (promotion gives it the rest)",
                        show(p)
                    ),
                );
                ok = false;
                continue;
            }
            if let Some(&(prev, _)) = out.last()
                && p <= prev
            {
                self.sink.error(
                    item.span.start,
                    format!(
                        "step {} does not rise above the step before it ({}): steps must be strictly rising",
                        show(p),
                        show(prev)
                    ),
                );
                ok = false;
            }
            out.push((p, item));
        }
        ok.then_some((out, node))
    }

    /// Every step's weights within [`MAX_WEIGHT`], and stable servers with weight to share.
    fn shares_fit(
        &mut self,
        place: &str,
        backend: &Backend,
        canary: &str,
        canary_node: &Node,
        steps: &[(f64, &Node)],
        steps_node: &Node,
    ) -> bool {
        let members: Vec<Member> = backend
            .servers
            .iter()
            .map(|s| Member::new(s.name.clone(), s.weight))
            .collect();
        if backend.servers.len() < 2 {
            self.sink.error(
                canary_node.content_start,
                format!(
                    "{place}: backend `{}` has no server besides the canary to judge it against",
                    backend.name
                ),
            );
            return false;
        }
        let mut ok = true;
        for &(p, at) in steps {
            match largest_weight(&members, canary, p) {
                None => {
                    self.sink.error(
                        steps_node.span.start,
                        format!(
                            "{place}: the stable servers of backend `{}` all have weight 0, so there is no traffic to share with the canary",
                            backend.name
                        ),
                    );
                    return false;
                }
                Some(w) if w > u64::from(MAX_WEIGHT) => {
                    self.sink.error(
                        at.span.start,
                        format!(
                            "step {} needs a weight of {w}, above the maximum of 1000000: lower the step or the stable servers' weights",
                            show(p)
                        ),
                    );
                    ok = false;
                }
                Some(_) => {}
            }
        }
        ok
    }

    fn analysis(&mut self, place: &str, node: &Node) -> Option<Analysis> {
        let a_place = format!("`analysis` of {place}");
        let fields = self.fields(node, "a map of thresholds", &a_place, ANALYSIS_KEYS, &[])?;
        let mut a = Analysis::default();
        let mut ok = true;
        if let Some(n) = fields.get("min_requests") {
            match self.integer(n, "a number of requests") {
                Some(i) if i >= 1 => a.min_requests = u64::try_from(i).unwrap_or(u64::MAX),
                Some(i) => {
                    self.sink
                        .error(n.span.start, format!("min_requests {i} must be at least 1"));
                    ok = false;
                }
                None => ok = false,
            }
        }
        let mut rate = |d: &mut Self, key: &str, lo: f64, hi: f64, hi_open: bool| {
            let n = fields.get(key)?;
            let Some(v) = d.number(n, "a number") else {
                ok = false;
                return None;
            };
            let fits = v >= lo && if hi_open { v < hi } else { v <= hi };
            if !fits {
                let close = if hi_open { ")" } else { "]" };
                d.sink.error(
                    n.span.start,
                    format!("{key} {} is outside [{lo}, {hi}{close}", show(v)),
                );
                ok = false;
                return None;
            }
            Some(v)
        };
        if let Some(v) = rate(self, "max_error_rate", 0.0, 1.0, false) {
            a.max_error_rate = v;
        }
        if let Some(v) = rate(self, "max_error_rate_increase", 0.0, 1.0, false) {
            a.max_error_rate_increase = v;
        }
        if let Some(v) = rate(self, "confidence", 0.5, 1.0, true) {
            a.confidence = v;
        }
        if let Some(n) = fields.get("max_latency_ratio") {
            match self.number(n, "a ratio") {
                Some(v) if v > 0.0 && v.is_finite() => a.max_latency_ratio = Some(v),
                Some(v) => {
                    self.sink.error(
                        n.span.start,
                        format!("max_latency_ratio {} must be above 0", show(v)),
                    );
                    ok = false;
                }
                None => ok = false,
            }
        }
        if let Some(n) = fields.get("max_latency_p99") {
            match self.duration(n) {
                Some(d) => a.max_latency_p99 = Some(d),
                None => ok = false,
            }
        }
        if let Some(n) = fields.get("failures") {
            match self.integer(n, "a number of failed analyses") {
                Some(i) if i >= 1 => a.failures = u32::try_from(i).unwrap_or(u32::MAX),
                Some(i) => {
                    self.sink
                        .error(n.span.start, format!("failures {i} must be at least 1"));
                    ok = false;
                }
                None => ok = false,
            }
        }
        ok.then_some(a)
    }

    /// An integer or a float.
    fn number(&mut self, node: &Node, expected: &str) -> Option<f64> {
        match node.kind {
            Kind::Int(i) => Some(i as f64),
            Kind::Float(f) if f.is_finite() => Some(f),
            _ => {
                self.type_error(node, expected);
                None
            }
        }
    }
}

/// A number as written in a config: `5`, `0.5`.
fn show(v: f64) -> String {
    format!("{v}")
}
