//! The fleet mode's figures (`source: prometheus`, docs/rollouts.md "Many replicas"): the
//! queries for a rollout's interval ending at a boundary, and their answers reduced to
//! [`Figures`].
//!
//! For the interval ending at `T` (with `SEL` the rollout's `selector`, `B` its backend, `C`
//! its canary, `S1|S2` its stable servers and `I` its interval):
//!
//! ```text
//! sum(increase(splitway_requests_total{SEL,backend="B",server="C"}[I] @ T))
//! sum(increase(splitway_requests_total{SEL,backend="B",server="C",status_class="5xx"}[I] @ T))
//! sum(increase(splitway_requests_total{SEL,backend="B",server=~"S1|S2"}[I] @ T))
//! sum(increase(splitway_requests_total{SEL,backend="B",server=~"S1|S2",status_class="5xx"}[I] @ T))
//! histogram_quantile(0.99, sum by (le) (increase(splitway_request_duration_seconds_bucket{SEL,backend="B",server="C"}[I] @ T)))
//! histogram_quantile(0.99, sum by (le) (increase(splitway_request_duration_seconds_bucket{SEL,backend="B",server=~"S1|S2"}[I] @ T)))
//! ```
//!
//! (`@` goes on the range selector: Prometheus takes it nowhere else.) Many boundaries at
//! once are the same expressions without `@ T` through `query_range` with `step` = the
//! interval, which evaluates each at `start + k × interval` alike. An empty answer for any of
//! the four counts means the data are not there: the boundary has no figures (and the rollout
//! holds, `metrics_unavailable`). A `NaN` p99 (no request in the interval) is no p99.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use splitway::rollout::fleet::boundary;
use splitway::rollout::{Figures, Fleet, Rollout, Sample};
use splitway::telemetry::{DURATION_METRIC, REQUESTS_METRIC};

use crate::prometheus::{Prometheus, QueryError, Series, unix_seconds};

/// At most this many boundaries in one `query_range` (Prometheus refuses more than 11,000
/// points a series).
pub const MAX_RANGE_BOUNDARIES: u64 = 10_000;

/// The six expressions of one rollout, each with `@@` where the `@ T` modifier goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Queries {
    exprs: [String; 6],
}

impl Queries {
    /// The queries of `rollout`, whose backend's stable servers are `stable`.
    pub fn new(rollout: &Rollout, fleet: &Fleet, stable: &[String]) -> Queries {
        let mut base = String::new();
        if !fleet.prometheus.selector.is_empty() {
            base.push_str(&fleet.prometheus.selector);
            base.push(',');
        }
        base.push_str(&format!("backend=\"{}\"", escape_string(&rollout.backend)));
        let canary = format!("{base},server=\"{}\"", escape_string(&rollout.canary));
        let alternatives: Vec<String> = stable.iter().map(|s| escape_regex(s)).collect();
        let stable = format!(
            "{base},server=~\"{}\"",
            escape_string(&alternatives.join("|"))
        );
        let range = prometheus_duration(rollout.interval);
        let count = |m: &str| format!("sum(increase({REQUESTS_METRIC}{{{m}}}[{range}]@@))");
        let errors = |m: &str| {
            format!("sum(increase({REQUESTS_METRIC}{{{m},status_class=\"5xx\"}}[{range}]@@))")
        };
        let p99 = |m: &str| {
            format!(
                "histogram_quantile(0.99, sum by (le) (increase({DURATION_METRIC}_bucket{{{m}}}[{range}]@@)))"
            )
        };
        Queries {
            exprs: [
                count(&canary),
                errors(&canary),
                count(&stable),
                errors(&stable),
                p99(&canary),
                p99(&stable),
            ],
        }
    }

    /// The expressions for the instant `at` (`Some`: with `@ at`), or for a range query.
    pub fn exprs(&self, at: Option<SystemTime>) -> Vec<String> {
        let modifier = at.map_or(String::new(), |t| format!(" @ {}", unix_seconds(t)));
        self.exprs
            .iter()
            .map(|e| e.replace("@@", &modifier))
            .collect()
    }
}

/// The figures of boundaries `first..=last` (each ≥ 1): one instant query per expression for
/// a single boundary, one range query per expression for more.
pub async fn fetch(
    api: &Prometheus,
    queries: &Queries,
    rollout: &Rollout,
    fleet: &Fleet,
    first: u64,
    last: u64,
) -> Result<Vec<Option<Figures>>, QueryError> {
    let times: Vec<SystemTime> = (first..=last)
        .map_while(|k| boundary(fleet, rollout.interval, k))
        .collect();
    let (Some(&from), Some(&to)) = (times.first(), times.last()) else {
        return Ok(Vec::new());
    };
    let mut columns: Vec<Vec<Option<f64>>> = Vec::with_capacity(6);
    if times.len() == 1 {
        for expr in queries.exprs(Some(from)) {
            let answer = api.query(&expr).await?;
            columns.push(vec![first_value(&answer)]);
        }
    } else {
        for expr in queries.exprs(None) {
            let answer = api.query_range(&expr, from, to, rollout.interval).await?;
            columns.push(values_at(&answer, &times));
        }
    }
    Ok((0..times.len())
        .map(|i| {
            let col = |c: usize| columns.get(c).and_then(|v| v.get(i)).copied().flatten();
            figures([col(0), col(1), col(2), col(3)], col(4), col(5))
        })
        .collect())
}

/// The four counts (canary requests and 5xx, stable requests and 5xx) and the two p99s
/// (seconds) into figures; none when a count is missing.
fn figures(
    counts: [Option<f64>; 4],
    canary_p99: Option<f64>,
    stable_p99: Option<f64>,
) -> Option<Figures> {
    let [Some(cn), Some(ce), Some(sn), Some(se)] = counts.map(|c| c.and_then(count)) else {
        return None;
    };
    Some(Figures {
        canary: Sample {
            requests: cn,
            errors: ce.min(cn),
            p99: canary_p99.and_then(seconds),
        },
        stable: Sample {
            requests: sn,
            errors: se.min(sn),
            p99: stable_p99.and_then(seconds),
        },
    })
}

/// An `increase()` (extrapolated, so fractional) rounded to a count; none for NaN.
fn count(v: f64) -> Option<u64> {
    if v.is_nan() {
        return None;
    }
    // The float-to-int cast saturates: negative gives 0, huge gives u64::MAX.
    Some(v.round() as u64)
}

fn seconds(v: f64) -> Option<Duration> {
    (v.is_finite() && v >= 0.0).then(|| Duration::from_secs_f64(v))
}

/// The value of a vector answer's first series (the queries sum to one).
fn first_value(answer: &[Series]) -> Option<f64> {
    answer.first()?.points.first().map(|&(_, v)| v)
}

/// A matrix answer's values at each of `times` (matched to the millisecond).
fn values_at(answer: &[Series], times: &[SystemTime]) -> Vec<Option<f64>> {
    let points = answer.first().map(|s| s.points.as_slice()).unwrap_or(&[]);
    times
        .iter()
        .map(|t| {
            let ms = t
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as f64)
                .unwrap_or(0.0);
            points
                .iter()
                .find(|(pt, _)| (pt * 1000.0 - ms).abs() < 0.5)
                .map(|&(_, v)| v)
        })
        .collect()
}

/// A duration as PromQL writes it: whole milliseconds (`2000ms`).
fn prometheus_duration(d: Duration) -> String {
    let ms = d.as_millis().max(1);
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Text inside a PromQL double-quoted string.
fn escape_string(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A literal inside a (RE2) regular expression.
fn escape_regex(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use splitway::rollout::{Analysis, OnSuccess, PrometheusSource};

    #[test]
    fn the_queries_are_the_documented_ones() {
        let fleet = Fleet {
            prometheus: PrometheusSource {
                url: "http://p:9090".into(),
                selector: "job=\"splitway\"".into(),
                settle: Duration::from_secs(2),
            },
            start: UNIX_EPOCH,
            actions: Vec::new(),
        };
        let r = Rollout {
            backend: "web".into(),
            canary: "k8s".into(),
            steps: vec![1.0],
            interval: Duration::from_secs(30),
            analysis: Analysis::default(),
            on_success: OnSuccess::Promote,
            revision: None,
            fleet: Some(fleet.clone()),
        };
        let q = Queries::new(&r, &fleet, &["legacy.1".into(), "legacy_2".into()]);
        let at = UNIX_EPOCH + Duration::from_millis(1_796_165_470_500);
        assert_eq!(
            q.exprs(Some(at)),
            [
                r#"sum(increase(splitway_requests_total{job="splitway",backend="web",server="k8s"}[30s] @ 1796165470.500))"#,
                r#"sum(increase(splitway_requests_total{job="splitway",backend="web",server="k8s",status_class="5xx"}[30s] @ 1796165470.500))"#,
                r#"sum(increase(splitway_requests_total{job="splitway",backend="web",server=~"legacy\\.1|legacy_2"}[30s] @ 1796165470.500))"#,
                r#"sum(increase(splitway_requests_total{job="splitway",backend="web",server=~"legacy\\.1|legacy_2",status_class="5xx"}[30s] @ 1796165470.500))"#,
                r#"histogram_quantile(0.99, sum by (le) (increase(splitway_request_duration_seconds_bucket{job="splitway",backend="web",server="k8s"}[30s] @ 1796165470.500)))"#,
                r#"histogram_quantile(0.99, sum by (le) (increase(splitway_request_duration_seconds_bucket{job="splitway",backend="web",server=~"legacy\\.1|legacy_2"}[30s] @ 1796165470.500)))"#,
            ]
        );
        assert_eq!(
            q.exprs(None)[0],
            r#"sum(increase(splitway_requests_total{job="splitway",backend="web",server="k8s"}[30s]))"#
        );
        assert_eq!(prometheus_duration(Duration::from_millis(2500)), "2500ms");
    }

    #[test]
    fn answers_into_figures() {
        // Extrapolated counts round; a missing count is no figures; NaN p99 is none.
        let f = figures(
            [Some(99.6), Some(2.4), Some(1000.2), Some(0.0)],
            Some(f64::NAN),
            Some(0.0125),
        )
        .unwrap();
        assert_eq!((f.canary.requests, f.canary.errors), (100, 2));
        assert_eq!((f.stable.requests, f.stable.errors), (1000, 0));
        assert_eq!(f.canary.p99, None);
        assert_eq!(f.stable.p99, Some(Duration::from_micros(12_500)));
        assert_eq!(
            figures([Some(1.0), None, Some(1.0), Some(0.0)], None, None),
            None
        );
        assert_eq!(
            figures(
                [Some(f64::NAN), Some(0.0), Some(1.0), Some(0.0)],
                None,
                None
            ),
            None
        );
        // A matrix's points matched to the boundaries; a boundary without a point is none.
        let series = Series {
            labels: Vec::new(),
            points: vec![(1_796_165_466.0, 2.0), (1_796_165_470.0, 5.0)],
        };
        let t = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(
            values_at(
                &[series],
                &[t(1_796_165_466), t(1_796_165_468), t(1_796_165_470)]
            ),
            [Some(2.0), None, Some(5.0)]
        );
        assert_eq!(values_at(&[], &[t(1)]), [None]);
    }
}
