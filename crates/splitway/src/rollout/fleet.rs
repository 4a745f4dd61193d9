//! Many replicas, one verdict: a rollout judged from the fleet's metrics in one Prometheus
//! (`source: prometheus`), with no coordinator.
//!
//! Every replica computes the same state from the same facts:
//!
//! - **Boundaries** are `start + k × interval` (k = 0, 1, 2, ...), the same instants on every
//!   replica ([`boundary`]). Boundary `k ≥ 1` ends the interval `(T_{k-1}, T_k]`.
//! - **Figures**: for each boundary the canary's and the stable servers' requests, 5xx answers
//!   and p99 over the interval ending there ([`Figures`]), as one Prometheus answers them for
//!   that instant; `None` when they could not be had.
//! - **Actions** (`actions: [{at, do}]`) take effect at the first boundary at or after their
//!   `at` ([`effective_boundary`]), in the order of `at` (then file order), before that
//!   boundary's verdict; an action that does not apply to the state it meets is skipped, as
//!   the admin would refuse it.
//! - Everything a boundary does (its actions, then its verdict through the controller's
//!   [`tick_figures`](super::tick_figures)) is taken at `T_k + settle`, when the interval's
//!   data are complete in Prometheus ([`settled`]).
//!
//! [`replay`] folds the boundaries from `start` over the figures, so a replica that starts
//! late, restarts or was cut off lands in the state the others are in: the state is a pure
//! function of the configuration and Prometheus' data.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::controller::{self, Status};
use super::judge::Sample;
use super::{Fleet, Rollout};

/// One interval's figures, each side summed over its servers.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Figures {
    /// The canary server's.
    pub canary: Sample,
    /// The stable servers', summed.
    pub stable: Sample,
}

/// Boundary `k`: `start + k × interval` (none past the clock's range).
pub fn boundary(fleet: &Fleet, interval: Duration, k: u64) -> Option<SystemTime> {
    let offset = interval.checked_mul(u32::try_from(k).ok()?)?;
    fleet.start.checked_add(offset)
}

/// The first boundary at or after `at` (0 for any time up to `start`).
pub fn effective_boundary(fleet: &Fleet, interval: Duration, at: SystemTime) -> u64 {
    let Ok(after) = at.duration_since(fleet.start) else {
        return 0;
    };
    let step = interval.as_nanos().max(1);
    let n = after.as_nanos();
    u64::try_from(n.div_ceil(step)).unwrap_or(u64::MAX)
}

/// How many boundaries after `start` have settled by `now`: the largest `K` with
/// `start + K × interval + settle ≤ now` (0 before the first).
pub fn settled(fleet: &Fleet, interval: Duration, now: SystemTime) -> u64 {
    let Ok(since) = now.duration_since(fleet.start) else {
        return 0;
    };
    let Some(after) = since.checked_sub(fleet.prometheus.settle) else {
        return 0;
    };
    let step = interval.as_nanos().max(1);
    u64::try_from(after.as_nanos() / step).unwrap_or(u64::MAX)
}

/// The status after boundaries `0..=figures.len()`, with `figures[k - 1]` the figures of the
/// interval ending at boundary `k` (`None`: not available, which holds the step with reason
/// `metrics_unavailable` if the rollout is judged there).
pub fn replay(
    rollout: &Rollout,
    fleet: &Fleet,
    canary_url: &str,
    figures: &[Option<Figures>],
) -> Status {
    let mut status = Status::start(rollout, canary_url, fleet.start);
    for k in 0..=figures.len() as u64 {
        let f = k
            .checked_sub(1)
            .and_then(|i| figures.get(usize::try_from(i).ok()?))
            .and_then(Option::as_ref);
        status = advance(rollout, fleet, &status, k, f);
    }
    status
}

/// The status after boundary `k` (its actions, then for `k ≥ 1` the verdict on `figures`,
/// the interval ending there), from the status after boundary `k - 1`: what a live replica
/// does at `T_k + settle`, one boundary at a time.
pub fn advance(
    rollout: &Rollout,
    fleet: &Fleet,
    status: &Status,
    k: u64,
    figures: Option<&Figures>,
) -> Status {
    let Some(at) = boundary(fleet, rollout.interval, k) else {
        return status.clone();
    };
    let mut actions: Vec<(SystemTime, usize)> = fleet
        .actions
        .iter()
        .enumerate()
        .filter(|(_, a)| effective_boundary(fleet, rollout.interval, a.at) == k)
        .map(|(i, a)| (a.at, i))
        .collect();
    // By `at`, then in file order.
    actions.sort();
    let mut status = status.clone();
    for (_, i) in actions {
        if let Ok(next) = controller::act(rollout, &status, fleet.actions[i].action, at) {
            status = next;
        }
    }
    if k >= 1 {
        status = controller::tick_figures(rollout, &status, figures, at);
    }
    status
}

/// Parses an RFC 3339 time: `2026-12-01T22:30:00Z`, with optional fractional seconds and a
/// `Z` or `±HH:MM` offset (`T` may be `t` or a space).
pub fn parse_rfc3339(text: &str) -> Result<SystemTime, String> {
    let bad = || {
        format!(
            "`{text}` is not an RFC 3339 time (like `2026-12-01T22:30:00Z` or `2026-12-01T23:30:00+01:00`)"
        )
    };
    let b = text.as_bytes();
    if b.len() < 20 {
        return Err(bad());
    }
    let digits = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let seps = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| b[i] != c) || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(bad());
    }
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        digits(0, 4),
        digits(5, 2),
        digits(8, 2),
        digits(11, 2),
        digits(14, 2),
        digits(17, 2),
    ) else {
        return Err(bad());
    };
    let mut i = 19;
    let mut nanos: u32 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let from = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == from {
            return Err(bad());
        }
        let mut scale = 100_000_000u32;
        for &d in &b[from..i.min(from + 9)] {
            nanos += u32::from(d - b'0') * scale;
            scale /= 10;
        }
    }
    let offset_secs: i64 = match b.get(i..) {
        Some(b"Z" | b"z") => 0,
        Some(rest) if rest.len() == 6 && matches!(rest[0], b'+' | b'-') && rest[3] == b':' => {
            let (Some(h), Some(m)) = (digits(i + 1, 2), digits(i + 4, 2)) else {
                return Err(bad());
            };
            if h > 23 || m > 59 {
                return Err(bad());
            }
            let sign = if rest[0] == b'-' { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
        _ => return Err(bad()),
    };
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let valid = (1..=12).contains(&month)
        && day >= 1
        && day <= month_days[(month - 1) as usize]
        && hour <= 23
        && minute <= 59
        && second <= 60;
    if !valid {
        return Err(bad());
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_secs;
    let secs =
        u64::try_from(secs).map_err(|_| format!("`{text}` is before 1970-01-01T00:00:00Z"))?;
    Ok(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::rollout::{
        Action, Analysis, OnSuccess, PrometheusSource, Reason, State, TimedAction,
    };

    const START: u64 = 1_800_000_000;

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(START + secs)
    }

    fn web(actions: Vec<TimedAction>) -> (Rollout, Fleet) {
        let fleet = Fleet {
            prometheus: PrometheusSource {
                url: "http://prometheus:9090".into(),
                selector: String::new(),
                settle: Duration::from_secs(5),
            },
            start: t(0),
            actions,
        };
        let r = Rollout {
            backend: "web".into(),
            canary: "k8s".into(),
            steps: vec![10.0, 50.0],
            interval: Duration::from_secs(30),
            analysis: Analysis::default(),
            on_success: OnSuccess::Promote,
            revision: None,
            fleet: Some(fleet.clone()),
        };
        (r, fleet)
    }

    fn healthy() -> Option<Figures> {
        Some(Figures {
            canary: Sample {
                requests: 500,
                errors: 0,
                p99: Some(Duration::from_millis(20)),
            },
            stable: Sample {
                requests: 5000,
                errors: 1,
                p99: Some(Duration::from_millis(20)),
            },
        })
    }

    fn failing() -> Option<Figures> {
        let mut f = healthy();
        if let Some(f) = &mut f {
            f.canary.errors = 100;
        }
        f
    }

    fn at(r: &Rollout, fleet: &Fleet, figures: &[Option<Figures>]) -> (State, usize, Reason) {
        let s = replay(r, fleet, "http://k8s", figures);
        (s.state, s.step, s.reason)
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(UNIX_EPOCH));
        assert_eq!(
            parse_rfc3339("2027-01-15T08:00:00Z"),
            Ok(UNIX_EPOCH + Duration::from_secs(1_800_000_000))
        );
        assert_eq!(
            parse_rfc3339("2027-01-15T09:30:00.25+01:30"),
            Ok(UNIX_EPOCH + Duration::from_millis(1_800_000_000_250))
        );
        assert_eq!(
            parse_rfc3339("2024-02-29 00:00:00-00:00"),
            Ok(UNIX_EPOCH + Duration::from_secs(1_709_164_800))
        );
        for bad in [
            "2027-01-15",
            "2027-01-15T08:00:00",
            "2027-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2027-01-15T08:00:00.Z",
            "2027-01-15T08:00:00+1:00",
            "1969-12-31T23:59:59Z",
            "tomorrow at noon, UTC",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn boundaries_settle_and_actions_land_on_the_next_boundary() {
        let (r, fleet) = web(Vec::new());
        assert_eq!(boundary(&fleet, r.interval, 3), Some(t(90)));
        assert_eq!(settled(&fleet, r.interval, t(34)), 0);
        assert_eq!(settled(&fleet, r.interval, t(35)), 1);
        assert_eq!(settled(&fleet, r.interval, t(94)), 2);
        assert_eq!(settled(&fleet, r.interval, t(95)), 3);
        assert_eq!(settled(&fleet, r.interval, UNIX_EPOCH), 0);
        assert_eq!(effective_boundary(&fleet, r.interval, t(0)), 0);
        assert_eq!(effective_boundary(&fleet, r.interval, UNIX_EPOCH), 0);
        assert_eq!(effective_boundary(&fleet, r.interval, t(1)), 1);
        assert_eq!(effective_boundary(&fleet, r.interval, t(30)), 1);
        assert_eq!(effective_boundary(&fleet, r.interval, t(31)), 2);
    }

    #[test]
    fn the_same_figures_walk_the_same_steps() {
        let (r, fleet) = web(Vec::new());
        assert_eq!(
            at(&r, &fleet, &[]),
            (State::Progressing, 1, Reason::Started)
        );
        let walk = [healthy(), healthy(), healthy()];
        assert_eq!(
            at(&r, &fleet, &walk[..1]),
            (State::Progressing, 2, Reason::AnalysisPassed)
        );
        assert_eq!(
            at(&r, &fleet, &walk[..2]),
            (State::Promoted, 2, Reason::AnalysisPassed)
        );
        // Promoted is not judged: later figures change nothing.
        assert_eq!(
            at(&r, &fleet, &walk),
            (State::Promoted, 2, Reason::AnalysisPassed)
        );
        let s = replay(&r, &fleet, "http://k8s", &walk[..2]);
        let times: Vec<SystemTime> = s.transitions.iter().map(|t| t.at).collect();
        assert_eq!(times, [t(0), t(30), t(60)]);
        assert_eq!(
            at(&r, &fleet, &[failing(), failing()]),
            (State::RolledBack, 1, Reason::AnalysisFailed)
        );
    }

    #[test]
    fn missing_figures_hold_and_never_advance() {
        let (r, fleet) = web(Vec::new());
        assert_eq!(
            at(&r, &fleet, &[None]),
            (State::Holding, 1, Reason::MetricsUnavailable)
        );
        assert_eq!(
            at(&r, &fleet, &[None, None, None]),
            (State::Holding, 1, Reason::MetricsUnavailable)
        );
        // A failure before the gap still counts after it: two in a row across a gap roll
        // back, since the gap counts nothing.
        assert_eq!(
            at(&r, &fleet, &[failing(), None, failing()]),
            (State::RolledBack, 1, Reason::AnalysisFailed)
        );
        assert_eq!(
            at(&r, &fleet, &[None, healthy()]),
            (State::Progressing, 2, Reason::AnalysisPassed)
        );
    }

    #[test]
    fn actions_take_effect_at_their_boundary_in_replay() {
        let pause_at_40 = TimedAction {
            at: t(40),
            action: Action::Pause,
        };
        let resume_at_61 = TimedAction {
            at: t(61),
            action: Action::Resume,
        };
        let (r, fleet) = web(vec![resume_at_61, pause_at_40]);
        let figures = [healthy(), healthy(), healthy(), healthy()];
        // Boundary 1 (t=30): passes, step 2. Boundary 2 (t=60): the pause lands first, so
        // that interval is not judged.
        assert_eq!(
            at(&r, &fleet, &figures[..2]),
            (State::Paused, 2, Reason::Operator)
        );
        // Boundary 3 (t=90): resumed, a fresh interval (not judged at 90).
        let s = replay(&r, &fleet, "http://k8s", &figures[..3]);
        assert_eq!(
            (s.state, s.step, s.reason),
            (State::Progressing, 2, Reason::Operator)
        );
        assert_eq!(s.next_decision_at, Some(t(120)));
        assert_eq!(
            at(&r, &fleet, &figures),
            (State::Promoted, 2, Reason::AnalysisPassed)
        );
        // An action before `start` applies at the start; one that does not apply is skipped.
        let (r, fleet) = web(vec![
            TimedAction {
                at: UNIX_EPOCH,
                action: Action::Rollback,
            },
            TimedAction {
                at: t(10),
                action: Action::Pause,
            },
            TimedAction {
                at: t(20),
                action: Action::Resume,
            },
        ]);
        assert_eq!(
            at(&r, &fleet, &[]),
            (State::RolledBack, 1, Reason::Operator)
        );
        // Boundary 1: pause is refused on rolled_back, resume starts again at step 1, and
        // the interval ending there is not judged.
        assert_eq!(
            at(&r, &fleet, &[healthy()]),
            (State::Progressing, 1, Reason::Operator)
        );
        assert_eq!(
            at(&r, &fleet, &[healthy(), healthy()]),
            (State::Progressing, 2, Reason::AnalysisPassed)
        );
    }

    #[test]
    fn a_late_replica_lands_where_a_live_one_is() {
        // A live replica that takes each boundary as it comes and one that replays the
        // history at once agree at every boundary, transitions included.
        let (r, fleet) = web(vec![TimedAction {
            at: t(95),
            action: Action::Pause,
        }]);
        let history = [None, failing(), healthy(), failing(), healthy()];
        let mut live = advance(&r, &fleet, &Status::start(&r, "http://k8s", t(0)), 0, None);
        for (i, f) in history.iter().enumerate() {
            live = advance(&r, &fleet, &live, i as u64 + 1, f.as_ref());
            assert_eq!(live, replay(&r, &fleet, "http://k8s", &history[..=i]));
        }
        // t=30 no figures: held; t=60 a failure (1 of 2); t=90 passed: step 2; t=120 the
        // pause (asked at 95) lands before that interval's failure is judged.
        let reasons: Vec<(State, usize, Reason)> = live
            .transitions
            .iter()
            .map(|t| (t.to, t.step, t.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                (State::Progressing, 1, Reason::Started),
                (State::Holding, 1, Reason::MetricsUnavailable),
                (State::Holding, 1, Reason::AnalysisFailed),
                (State::Progressing, 2, Reason::AnalysisPassed),
                (State::Paused, 2, Reason::Operator),
            ]
        );
        assert_eq!(live.failures, 0);
    }
}
