//! The rollout controller on a manual clock: every step of a walk, each verdict, each action
//! in each state, configuration changes, and the weights of the talk's configurations.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, SystemTime};

use splitway::ServerStats;
use splitway::config::Config;
use splitway::rollout::judge::{Failure, Verdict, judge};
use splitway::rollout::weights::{Target, apply, effective_share};
use splitway::rollout::{
    self, Action, Analysis, Member, OnSuccess, Reason, Refused, Rollout, State, Status, Window,
};

const INTERVAL: Duration = Duration::from_secs(30);
const URL: &str = "http://agendor-web-canary.production.svc.cluster.local";

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn web(steps: &[f64]) -> Rollout {
    Rollout {
        backend: "web".into(),
        canary: "k8s".into(),
        steps: steps.to_vec(),
        interval: INTERVAL,
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
    }
}

fn phase2() -> Vec<Member> {
    vec![
        Member::new("legacy_1", 5),
        Member::new("legacy_2", 5),
        Member::new("k8s", 1),
    ]
}

/// `n` answers with `errors` 5xx, all in latency bucket `bucket`.
fn side(n: u64, errors: u64, bucket: usize) -> ServerStats {
    let mut s = ServerStats {
        requests: n,
        server_errors: errors,
        ..ServerStats::default()
    };
    s.latency_buckets[bucket] = n;
    s
}

/// Canary `x1/n1`, stable `x2/n2`, both in (25 ms, 50 ms].
fn window(x1: u64, n1: u64, x2: u64, n2: u64) -> Window {
    Window {
        canary: side(n1, x1, 8),
        stable: side(n2, x2, 8),
    }
}

fn healthy() -> Window {
    window(0, 500, 0, 10_000)
}

/// (to, step, reason) of every transition.
fn path(status: &Status) -> Vec<(State, usize, Reason)> {
    status
        .transitions
        .iter()
        .map(|tr| (tr.to, tr.step, tr.reason))
        .collect()
}

fn weights_of(r: &Rollout, s: &Status) -> Vec<u32> {
    rollout::weights(r, s, &phase2())
        .into_iter()
        .map(|(_, w)| w)
        .collect()
}

#[test]
fn a_healthy_canary_walks_every_step_to_promotion() {
    let r = web(&[1.0, 5.0, 10.0, 25.0, 50.0]);
    let mut s = Status::start(&r, URL, t(0));
    let mut seen = vec![(s.step, weights_of(&r, &s))];
    for i in 1..=5u64 {
        // Just before the interval's end nothing happens.
        assert_eq!(rollout::tick(&r, &s, &healthy(), t(30 * i - 1)), s);
        s = rollout::tick(&r, &s, &healthy(), t(30 * i));
        seen.push((s.step, weights_of(&r, &s)));
    }
    assert_eq!(
        seen,
        vec![
            (1, vec![500, 500, 10]),
            (2, vec![500, 500, 53]),
            (3, vec![500, 500, 111]),
            (4, vec![500, 500, 333]),
            (5, vec![500, 500, 1000]),
            (5, vec![0, 0, 1000]),
        ]
    );
    assert_eq!(s.state, State::Promoted);
    assert_eq!(s.next_decision_at, None);
    use Reason::*;
    use State::*;
    assert_eq!(
        path(&s),
        vec![
            (Progressing, 1, Started),
            (Progressing, 2, AnalysisPassed),
            (Progressing, 3, AnalysisPassed),
            (Progressing, 4, AnalysisPassed),
            (Progressing, 5, AnalysisPassed),
            (Promoted, 5, AnalysisPassed),
        ]
    );
    let froms: Vec<Option<State>> = s.transitions.iter().map(|tr| tr.from).collect();
    assert_eq!(froms[0], None);
    assert_eq!(froms[5], Some(Progressing));
    // Nothing is judged once promoted.
    assert_eq!(rollout::tick(&r, &s, &window(50, 100, 0, 100), t(1_000)), s);
}

#[test]
fn on_success_hold_waits_for_an_operator_at_the_last_step() {
    let mut r = web(&[10.0]);
    r.on_success = OnSuccess::Hold;
    let s = Status::start(&r, URL, t(0));
    let s = rollout::tick(&r, &s, &healthy(), t(30));
    assert_eq!(
        (s.state, s.step, s.reason),
        (State::Holding, 1, Reason::AwaitingPromotion)
    );
    assert_eq!(s.next_decision_at, Some(t(60)));
    let s = rollout::act(&r, &s, Action::Promote, t(45)).unwrap();
    assert_eq!(s.state, State::Promoted);
}

#[test]
fn five_percent_5xx_is_rolled_back_at_the_failures_th_failed_analysis() {
    let mut r = web(&[1.0, 5.0, 10.0]);
    r.analysis.failures = 3;
    let bad = window(25, 500, 0, 10_000);
    let mut s = Status::start(&r, URL, t(0));
    let mut states = Vec::new();
    for i in 1..=3u64 {
        s = rollout::tick(&r, &s, &bad, t(30 * i));
        states.push((s.state, s.step, s.failures));
    }
    assert_eq!(
        states,
        vec![
            (State::Holding, 1, 1),
            (State::Holding, 1, 2),
            (State::RolledBack, 1, 3)
        ]
    );
    assert_eq!(s.reason, Reason::AnalysisFailed);
    assert_eq!(weights_of(&r, &s), vec![500, 500, 0]);
    let analysis = &s.last_analysis.as_ref().unwrap().judgement;
    assert_eq!(analysis.verdict, Verdict::Fail);
    assert!(matches!(
        analysis.failures.as_slice(),
        [Failure::ErrorRate { .. }, Failure::ErrorRateIncrease { .. }]
    ));
    assert_eq!(
        analysis.to_string(),
        "canary 5.0% 5xx vs stable 0.0%, 5xx rate 5.0% > 1.0%, lower bound 0.0317 > 0.005"
    );
}

#[test]
fn a_pass_between_failures_resets_the_count() {
    let r = web(&[1.0, 5.0, 10.0]);
    let bad = window(25, 500, 0, 10_000);
    let s = Status::start(&r, URL, t(0));
    let s = rollout::tick(&r, &s, &bad, t(30));
    let s = rollout::tick(&r, &s, &healthy(), t(60));
    assert_eq!((s.state, s.step, s.failures), (State::Progressing, 2, 0));
    let s = rollout::tick(&r, &s, &bad, t(90));
    assert_eq!((s.state, s.step, s.failures), (State::Holding, 2, 1));
}

#[test]
fn three_of_100_against_0_of_1000_fails_on_the_relative_test_alone() {
    let mut r = web(&[1.0, 5.0]);
    r.analysis.max_error_rate = 0.05;
    let j = judge(&r.analysis, &window(3, 100, 0, 1000));
    assert_eq!(j.verdict, Verdict::Fail);
    assert_eq!(j.failures.len(), 1);
    match j.failures[0] {
        Failure::ErrorRateIncrease { lower_bound, max } => {
            assert!((lower_bound - 0.0079).abs() < 0.0001, "{lower_bound}");
            assert_eq!(max, 0.005);
        }
        other => panic!("{other:?}"),
    }
    // And 1/100 passes: its lower bound is below 0.
    let j = judge(&r.analysis, &window(1, 100, 0, 1000));
    assert_eq!(j.verdict, Verdict::Pass);
    assert!(j.lower_bound.unwrap() < 0.0);
}

#[test]
fn too_few_requests_hold_without_counting_a_failure() {
    let r = web(&[1.0, 5.0]);
    let s = Status::start(&r, URL, t(0));
    let s = rollout::tick(&r, &s, &window(0, 99, 0, 10_000), t(30));
    assert_eq!(
        (s.state, s.step, s.reason, s.failures),
        (State::Holding, 1, Reason::TooFewRequests, 0)
    );
    assert_eq!(s.next_decision_at, Some(t(60)));
    // One failure, then too few requests: the count is kept, not reset and not raised.
    let s = rollout::tick(&r, &s, &window(25, 500, 0, 10_000), t(60));
    assert_eq!((s.failures, s.reason), (1, Reason::AnalysisFailed));
    let s = rollout::tick(&r, &s, &window(5, 50, 0, 10_000), t(90));
    assert_eq!(
        (s.state, s.reason, s.failures),
        (State::Holding, Reason::TooFewRequests, 1)
    );
    let s = rollout::tick(&r, &s, &window(25, 500, 0, 10_000), t(120));
    assert_eq!((s.state, s.failures), (State::RolledBack, 2));
}

#[test]
fn a_canary_twice_as_slow_fails_on_max_latency_ratio() {
    let r = web(&[1.0, 5.0]);
    // Stable in (25 ms, 50 ms] (p99 49.75 ms), canary in (50 ms, 100 ms] (p99 99.5 ms).
    let slow = Window {
        canary: side(500, 0, 9),
        stable: side(10_000, 0, 8),
    };
    let j = judge(&r.analysis, &slow);
    assert_eq!(j.canary.p99, Some(Duration::from_micros(99_500)));
    assert_eq!(j.stable.p99, Some(Duration::from_micros(49_750)));
    assert_eq!(j.verdict, Verdict::Fail);
    match j.failures.as_slice() {
        [Failure::LatencyRatio { ratio, max }] => {
            assert!((ratio - 2.0).abs() < 1e-9, "{ratio}");
            assert_eq!(*max, 1.5);
        }
        other => panic!("{other:?}"),
    }
    // The absolute limit fails on its own too: canary in (500 ms, 1 s].
    let j = judge(
        &r.analysis,
        &Window {
            canary: side(500, 0, 12),
            stable: side(10_000, 0, 12),
        },
    );
    assert!(matches!(
        j.failures.as_slice(),
        [Failure::LatencyP99 { .. }]
    ));
}

/// A status in each state, reached by the controller itself.
fn in_state(r: &Rollout, state: State) -> Status {
    let s = Status::start(r, URL, t(0));
    let s = rollout::tick(r, &s, &healthy(), t(30)); // progressing, step 2
    match state {
        State::Progressing => s,
        State::Holding => rollout::tick(r, &s, &window(0, 1, 0, 100), t(60)),
        State::Paused => rollout::act(r, &s, Action::Pause, t(40)).unwrap(),
        State::Promoted => rollout::act(r, &s, Action::Promote, t(40)).unwrap(),
        State::RolledBack => rollout::act(r, &s, Action::Rollback, t(40)).unwrap(),
        State::Aborted => rollout::act(r, &s, Action::Abort, t(40)).unwrap(),
    }
}

#[test]
fn every_action_applies_exactly_to_the_states_the_table_lists() {
    use State::*;
    let r = web(&[1.0, 5.0, 10.0]);
    let applies = |a: Action| -> &'static [State] {
        match a {
            Action::Pause => &[Progressing, Holding],
            Action::Resume => &[Paused, RolledBack, Aborted],
            Action::Promote => &[Progressing, Holding, Paused],
            Action::Rollback => &[Progressing, Holding, Paused, Promoted],
            Action::Abort => &[Progressing, Holding, Paused, Promoted, RolledBack],
        }
    };
    let mut refused = 0;
    for &state in State::ALL {
        let s = in_state(&r, state);
        assert_eq!(s.state, state);
        for &action in Action::ALL {
            let result = rollout::act(&r, &s, action, t(50));
            if applies(action).contains(&state) {
                let next = result.unwrap_or_else(|e| panic!("{action} in {state}: {e}"));
                assert_eq!(next.reason, Reason::Operator);
            } else {
                assert_eq!(
                    result,
                    Err(Refused { action, state }),
                    "{action} in {state}"
                );
                refused += 1;
            }
        }
    }
    // 30 pairs, 17 that apply.
    assert_eq!(refused, 13);
    assert_eq!(
        rollout::act(&r, &in_state(&r, Promoted), Action::Pause, t(50))
            .unwrap_err()
            .to_string(),
        "cannot pause a rollout that is promoted"
    );
}

#[test]
fn pause_resume_promote_rollback_abort_mid_rollout() {
    let r = web(&[1.0, 5.0, 10.0]);
    let s = in_state(&r, State::Holding); // step 2, too few requests
    assert_eq!((s.state, s.step), (State::Holding, 2));

    // Paused: frozen at the step, not judged even long past the interval.
    let p = rollout::act(&r, &s, Action::Pause, t(70)).unwrap();
    assert_eq!(
        (p.state, p.step, p.next_decision_at),
        (State::Paused, 2, None)
    );
    assert_eq!(weights_of(&r, &p), vec![500, 500, 53]);
    assert_eq!(rollout::tick(&r, &p, &healthy(), t(10_000)), p);

    // Resume: back to holding at the same step, with a fresh interval.
    let s = rollout::act(&r, &p, Action::Resume, t(200)).unwrap();
    assert_eq!((s.state, s.step), (State::Holding, 2));
    assert_eq!(s.next_decision_at, Some(t(230)));
    let s = rollout::tick(&r, &s, &healthy(), t(230));
    assert_eq!((s.state, s.step), (State::Progressing, 3));

    // Rollback mid-rollout, then resume: step 1 again.
    let b = rollout::act(&r, &s, Action::Rollback, t(240)).unwrap();
    assert_eq!((b.state, b.step), (State::RolledBack, 3));
    assert_eq!(weights_of(&r, &b), vec![500, 500, 0]);
    let again = rollout::act(&r, &b, Action::Resume, t(250)).unwrap();
    assert_eq!(
        (again.state, again.step, again.failures),
        (State::Progressing, 1, 0)
    );
    assert_eq!(again.next_decision_at, Some(t(280)));

    // Promote from progressing; then abort: the file's weights.
    let pr = rollout::act(&r, &again, Action::Promote, t(260)).unwrap();
    assert_eq!(weights_of(&r, &pr), vec![0, 0, 1000]);
    let ab = rollout::act(&r, &pr, Action::Abort, t(270)).unwrap();
    assert_eq!(ab.state, State::Aborted);
    assert_eq!(weights_of(&r, &ab), vec![5, 5, 1]);
    assert_eq!(ab.share(&r), None);

    let words: Vec<&str> = ab.transitions.iter().map(|tr| tr.to.as_str()).collect();
    assert_eq!(
        words,
        [
            "progressing",
            "progressing",
            "holding",
            "paused",
            "holding",
            "progressing",
            "rolled_back",
            "progressing",
            "promoted",
            "aborted"
        ]
    );
}

#[test]
fn a_thresholds_only_reload_keeps_state_and_timers() {
    let r = web(&[1.0, 5.0, 10.0]);
    let s = in_state(&r, State::Holding);
    let mut looser = r.clone();
    looser.analysis.max_error_rate = 0.2;
    looser.analysis.failures = 5;
    looser.interval = Duration::from_secs(60);
    looser.on_success = OnSuccess::Hold;
    assert_eq!(rollout::reconcile(&looser, URL, &s, t(65)), s);
}

#[test]
fn a_new_canary_url_steps_or_revision_restarts_at_step_1() {
    let r = web(&[1.0, 5.0, 10.0]);
    let s = in_state(&r, State::Holding);
    let restarted = |next: Status| {
        assert_eq!(
            (next.state, next.step, next.reason, next.failures),
            (State::Progressing, 1, Reason::ConfigChanged, 0)
        );
        assert_eq!(next.next_decision_at, Some(t(95)));
        assert_eq!(next.last_analysis, None);
    };
    restarted(rollout::reconcile(&r, "http://k8s-v2.internal", &s, t(65)));
    restarted(rollout::reconcile(&web(&[2.0, 5.0, 10.0]), URL, &s, t(65)));
    let mut tagged = r.clone();
    tagged.revision = Some("v2.4.1".into());
    let next = rollout::reconcile(&tagged, URL, &s, t(65));
    assert_eq!(next.identity.revision.as_deref(), Some("v2.4.1"));
    restarted(next);
}

#[test]
fn transitions_keep_the_last_50() {
    let r = web(&[1.0, 5.0]);
    let mut s = Status::start(&r, URL, t(0));
    for i in 0..40u64 {
        s = rollout::act(&r, &s, Action::Pause, t(2 * i + 1)).unwrap();
        s = rollout::act(&r, &s, Action::Resume, t(2 * i + 2)).unwrap();
    }
    assert_eq!(s.transitions.len(), 50);
    assert_eq!(s.transitions.last().unwrap().at, t(80));
    assert_eq!(s.transitions.first().unwrap().at, t(31));
}

fn members_of(file: &str, backend: &str) -> Vec<Member> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/config")
        .join(file);
    let config = Config::from_file(&path).unwrap().config;
    config
        .backend(backend)
        .unwrap()
        .servers
        .iter()
        .map(|s| Member::new(s.name.clone(), s.weight))
        .collect()
}

#[test]
fn every_step_of_phase2_and_cohort_is_within_a_tenth_of_a_point() {
    let steps = [
        0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 33.3, 50.0, 75.0, 90.0, 99.0, 99.9,
    ];
    for file in ["phase2.yaml", "cohort.yaml"] {
        let servers = members_of(file, "web");
        for &p in &steps {
            let w = apply(&servers, "k8s", Target::Share(p));
            let share = effective_share(&w, &servers, "k8s");
            assert!((share - p).abs() <= 0.1, "{file} {p}%: {share}% from {w:?}");
            // The stable ratio is kept.
            let stable: Vec<u32> = w
                .iter()
                .filter(|(n, _)| n != "k8s")
                .map(|(_, w)| *w)
                .collect();
            let file_w: Vec<u32> = servers
                .iter()
                .filter(|m| m.name != "k8s")
                .map(|m| m.weight)
                .collect();
            let k = stable[0] / file_w[0];
            assert_eq!(
                stable,
                file_w.iter().map(|w| w * k).collect::<Vec<_>>(),
                "{file}"
            );
        }
    }
    // The figures: phase 2's 5:5 becomes 500:500 and 1% is 10; cohort's 9 becomes 1008.
    let w = apply(&members_of("phase2.yaml", "web"), "k8s", Target::Share(1.0));
    assert_eq!(
        w.iter().map(|(_, w)| *w).collect::<Vec<_>>(),
        [500, 500, 10]
    );
    let w = apply(
        &members_of("cohort.yaml", "web"),
        "k8s",
        Target::Share(10.0),
    );
    assert_eq!(w.iter().map(|(_, w)| *w).collect::<Vec<_>>(), [1008, 112]);
}
