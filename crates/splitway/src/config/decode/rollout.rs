//! The `rollouts:` section: one guarded rollout per backend (docs/rollouts.md).

use super::*;
use crate::rollout::weights::{Member, largest_weight};
use crate::rollout::{Analysis, OnSuccess, Rollout};

const ROLLOUT_KEYS: &[&str] = &[
    "canary",
    "steps",
    "interval",
    "analysis",
    "on_success",
    "revision",
];
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

        let (Some((canary, canary_node)), Some((steps, steps_node))) = (canary, steps) else {
            return None;
        };
        if let (Some(b), true) = (backend, ok) {
            ok &= self.shares_fit(&place, b, &canary, canary_node, &steps, steps_node);
        }
        let (Some(interval), Some(analysis), Some(on_success), Some(revision), true) =
            (interval, analysis, on_success, revision, ok)
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
        })
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
