//! The rollout state machine: where a rollout stands ([`Status`]), how an interval's analysis
//! moves it ([`tick`]), what an operator may do to it ([`act`]) and what a configuration
//! change does to it ([`reconcile`]). Pure functions of the previous status, the settings,
//! the observed [`Window`] and the time passed in.
//!
//! | state | weights | judged |
//! |---|---|---|
//! | `progressing` | the step's share | at the end of each interval |
//! | `holding` | the step's share (step and failure count kept) | at the end of each interval |
//! | `paused` | the step's share, frozen | no |
//! | `promoted` | the whole backend to the canary | no |
//! | `rolled_back` | canary 0 | no |
//! | `aborted` | the file's | no |
//!
//! At the end of an interval in `progressing` or `holding`:
//!
//! - no figures (fleet mode, Prometheus did not answer them, [`tick_figures`]): `holding`,
//!   reason `metrics_unavailable`, same step, failures kept;
//! - too few canary requests: `holding`, reason `too_few_requests`, failures kept;
//! - a failed analysis: one more failure; at `failures` in a row `rolled_back`, else
//!   `holding`, reason `analysis_failed`, same step;
//! - a passed analysis: failures back to 0 and the next step (`progressing`,
//!   `analysis_passed`); after the last step `promoted` (`on_success: promote`) or `holding`
//!   with reason `awaiting_promotion` (`on_success: hold`, still judged).
//!
//! Actions (any other pair is [`Refused`]): `pause`: progressing|holding → paused;
//! `resume`: paused → the state it left, same step, and rolled_back|aborted → progressing at
//! step 1; `promote`: progressing|holding|paused → promoted; `rollback`:
//! progressing|holding|paused|promoted → rolled_back; `abort`: any but aborted → aborted.
//! A resumed rollout starts a fresh interval.
//!
//! Every change of state, step or reason appends a [`Transition`] (the last
//! [`MAX_TRANSITIONS`] are kept).

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use super::fleet::Figures;
use super::judge::{Judgement, Verdict, Window, judge, judge_samples};
use super::weights::{self, Member, Target};
use super::{OnSuccess, Rollout};

/// How many transitions a [`Status`] keeps.
pub const MAX_TRANSITIONS: usize = 50;

/// Where a rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Walking the steps.
    Progressing,
    /// At a step, still judged: too few requests, a failure below `failures`, or awaiting an
    /// operator's promotion.
    Holding,
    /// Frozen by an operator.
    Paused,
    /// The canary has the whole backend.
    Promoted,
    /// The canary has nothing.
    RolledBack,
    /// Ended: the file's weights serve.
    Aborted,
}

/// Why a rollout is where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// It began (or began again after `resume`).
    Started,
    /// The last analysis passed.
    AnalysisPassed,
    /// The last analysis failed.
    AnalysisFailed,
    /// Too few canary requests to judge the last interval.
    TooFewRequests,
    /// Every step passed; `on_success: hold` waits for an operator.
    AwaitingPromotion,
    /// An operator's action.
    Operator,
    /// The canary, its URL, the steps or the revision changed in the configuration.
    ConfigChanged,
    /// Fleet mode: the interval's figures could not be had from Prometheus; the step is held
    /// and nothing is counted.
    MetricsUnavailable,
}

/// What an operator may do to a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Freeze the weights and stop judging.
    Pause,
    /// Go on from a pause, or start again at step 1 after a rollback or an abort.
    Resume,
    /// Give the canary the whole backend.
    Promote,
    /// Give the canary nothing.
    Rollback,
    /// End the rollout: the file's weights serve.
    Abort,
}

macro_rules! words {
    ($ty:ident, $what:literal, $($variant:ident => $word:literal),+ $(,)?) => {
        impl $ty {
            /// The bare word (`progressing`, `too_few_requests`, `pause`, ...).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $word,)+
                }
            }

            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                $ty::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| format!(concat!("unknown ", $what, " `{}`"), s))
            }
        }
    };
}

words!(State, "rollout state",
    Progressing => "progressing",
    Holding => "holding",
    Paused => "paused",
    Promoted => "promoted",
    RolledBack => "rolled_back",
    Aborted => "aborted",
);
words!(Reason, "rollout reason",
    Started => "started",
    AnalysisPassed => "analysis_passed",
    AnalysisFailed => "analysis_failed",
    TooFewRequests => "too_few_requests",
    AwaitingPromotion => "awaiting_promotion",
    Operator => "operator",
    ConfigChanged => "config_changed",
    MetricsUnavailable => "metrics_unavailable",
);
words!(Action, "rollout action",
    Pause => "pause",
    Resume => "resume",
    Promote => "promote",
    Rollback => "rollback",
    Abort => "abort",
);

/// One change of a rollout's state, step or reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// When.
    pub at: SystemTime,
    /// The state before (none for the first).
    pub from: Option<State>,
    /// The state after.
    pub to: State,
    /// The step after.
    pub step: usize,
    /// Why.
    pub reason: Reason,
}

/// An analysis and when it was made.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysed {
    /// The end of the interval it judged.
    pub at: SystemTime,
    /// The figures and the verdict.
    pub judgement: Judgement,
}

/// What a rollout is a rollout of: a change of any of these restarts it at step 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The canary server's name.
    pub canary: String,
    /// The canary server's URL as written.
    pub canary_url: String,
    /// The steps.
    pub steps: Vec<f64>,
    /// The revision label.
    pub revision: Option<String>,
}

impl Identity {
    /// The identity of `rollout` with its canary at `canary_url`.
    pub fn of(rollout: &Rollout, canary_url: &str) -> Identity {
        Identity {
            canary: rollout.canary.clone(),
            canary_url: canary_url.to_owned(),
            steps: rollout.steps.clone(),
            revision: rollout.revision.clone(),
        }
    }
}

/// Where one rollout stands: plain data, so a driver can persist and restore it.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// The state.
    pub state: State,
    /// The step, 1-based (0 before the first).
    pub step: usize,
    /// Why it is in this state.
    pub reason: Reason,
    /// Failed analyses in a row.
    pub failures: u32,
    /// For `paused`: the state `resume` returns to.
    pub resume_to: Option<State>,
    /// When the current interval ends and is judged (none when nothing is judged).
    pub next_decision_at: Option<SystemTime>,
    /// The last analysis.
    pub last_analysis: Option<Analysed>,
    /// The last [`MAX_TRANSITIONS`] transitions, oldest first.
    pub transitions: Vec<Transition>,
    /// What this is a rollout of.
    pub identity: Identity,
}

/// An action that does not apply to the rollout's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} a rollout that is {state}")]
pub struct Refused {
    /// The action asked for.
    pub action: Action,
    /// The state it does not apply to.
    pub state: State,
}

impl Status {
    /// A rollout beginning at `now`: progressing at step 1, its first interval ending at
    /// `now + interval`.
    pub fn start(rollout: &Rollout, canary_url: &str, now: SystemTime) -> Status {
        let mut status = Status {
            state: State::Progressing,
            step: 0,
            reason: Reason::Started,
            failures: 0,
            resume_to: None,
            next_decision_at: None,
            last_analysis: None,
            transitions: Vec::new(),
            identity: Identity::of(rollout, canary_url),
        };
        status.restart(rollout, now, Reason::Started);
        status
    }

    /// What the weights should give now.
    pub fn target(&self, rollout: &Rollout) -> Target {
        match self.state {
            State::Progressing | State::Holding | State::Paused => {
                rollout.share(self.step).map_or(Target::File, Target::Share)
            }
            State::Promoted => Target::Whole,
            State::RolledBack => Target::Drained,
            State::Aborted => Target::File,
        }
    }

    /// The share the current step asks for, in percent (100 promoted, 0 rolled back, none
    /// aborted).
    pub fn share(&self, rollout: &Rollout) -> Option<f64> {
        match self.target(rollout) {
            Target::Share(p) => Some(p),
            Target::Whole => Some(100.0),
            Target::Drained => Some(0.0),
            Target::File => None,
        }
    }

    fn restart(&mut self, rollout: &Rollout, now: SystemTime, reason: Reason) {
        self.failures = 0;
        self.resume_to = None;
        self.go(State::Progressing, 1, reason, now);
        self.next_decision_at = now.checked_add(rollout.interval);
    }

    /// Moves to (state, step, reason), recording a transition if anything changed.
    fn go(&mut self, to: State, step: usize, reason: Reason, now: SystemTime) {
        let first = self.transitions.is_empty();
        if !first && (self.state, self.step, self.reason) == (to, step, reason) {
            return;
        }
        self.transitions.push(Transition {
            at: now,
            from: (!first).then_some(self.state),
            to,
            step,
            reason,
        });
        if self.transitions.len() > MAX_TRANSITIONS {
            let excess = self.transitions.len() - MAX_TRANSITIONS;
            self.transitions.drain(..excess);
        }
        self.state = to;
        self.step = step;
        self.reason = reason;
        if !matches!(to, State::Progressing | State::Holding) {
            self.next_decision_at = None;
        }
    }
}

/// The status after time `now`, with `window` the canary's and stable servers' counters
/// since the current interval began. Before the interval's end, or in a state that is not
/// judged, the status is returned unchanged; otherwise the interval is judged and, whatever
/// the verdict, a new interval begins at `now` (so a driver takes its next baseline when
/// `next_decision_at` changes).
pub fn tick(rollout: &Rollout, status: &Status, window: &Window, now: SystemTime) -> Status {
    if !due(status, now) {
        return status.clone();
    }
    decide(rollout, status, Some(judge(&rollout.analysis, window)), now)
}

/// [`tick`] with the interval's figures already summed (a Prometheus answer, in the fleet
/// mode): `None` when they could not be had, which holds the step (`holding`,
/// `metrics_unavailable`) with the failure count kept, and never advances.
pub fn tick_figures(
    rollout: &Rollout,
    status: &Status,
    figures: Option<&Figures>,
    now: SystemTime,
) -> Status {
    if !due(status, now) {
        return status.clone();
    }
    let judgement = figures.map(|f| judge_samples(&rollout.analysis, f.canary, f.stable));
    decide(rollout, status, judgement, now)
}

/// Whether `status` is judged at `now`.
fn due(status: &Status, now: SystemTime) -> bool {
    match (status.state, status.next_decision_at) {
        (State::Progressing | State::Holding, Some(at)) => now >= at,
        _ => false,
    }
}

/// Moves a status that is due at `now` by an interval's judgement (none: no figures).
fn decide(
    rollout: &Rollout,
    status: &Status,
    judgement: Option<Judgement>,
    now: SystemTime,
) -> Status {
    let mut next = status.clone();
    next.next_decision_at = now.checked_add(rollout.interval);
    let step = status.step;
    let Some(judgement) = judgement else {
        next.go(State::Holding, step, Reason::MetricsUnavailable, now);
        return next;
    };
    let verdict = judgement.verdict;
    next.last_analysis = Some(Analysed { at: now, judgement });
    match verdict {
        Verdict::TooFewRequests => next.go(State::Holding, step, Reason::TooFewRequests, now),
        Verdict::Fail => {
            next.failures = next.failures.saturating_add(1);
            if next.failures >= rollout.analysis.failures {
                next.go(State::RolledBack, step, Reason::AnalysisFailed, now);
            } else {
                next.go(State::Holding, step, Reason::AnalysisFailed, now);
            }
        }
        Verdict::Pass => {
            next.failures = 0;
            if step < rollout.steps.len() {
                next.go(State::Progressing, step + 1, Reason::AnalysisPassed, now);
            } else {
                match rollout.on_success {
                    OnSuccess::Promote => {
                        next.go(State::Promoted, step, Reason::AnalysisPassed, now)
                    }
                    OnSuccess::Hold => {
                        next.go(State::Holding, step, Reason::AwaitingPromotion, now)
                    }
                }
            }
        }
    }
    next
}

/// The status after an operator's `action` at `now`, or why it does not apply.
pub fn act(
    rollout: &Rollout,
    status: &Status,
    action: Action,
    now: SystemTime,
) -> Result<Status, Refused> {
    use State::*;
    let refused = Refused {
        action,
        state: status.state,
    };
    let mut next = status.clone();
    match (action, status.state) {
        (Action::Pause, Progressing | Holding) => {
            next.resume_to = Some(status.state);
            next.go(Paused, status.step, Reason::Operator, now);
        }
        (Action::Resume, Paused) => {
            let to = status.resume_to.unwrap_or(Progressing);
            next.resume_to = None;
            next.go(to, status.step, Reason::Operator, now);
            next.next_decision_at = now.checked_add(rollout.interval);
        }
        (Action::Resume, RolledBack | Aborted) => next.restart(rollout, now, Reason::Operator),
        (Action::Promote, Progressing | Holding | Paused) => {
            next.resume_to = None;
            next.go(Promoted, status.step, Reason::Operator, now);
        }
        (Action::Rollback, Progressing | Holding | Paused | Promoted) => {
            next.resume_to = None;
            next.go(RolledBack, status.step, Reason::Operator, now);
        }
        (Action::Abort, Progressing | Holding | Paused | Promoted | RolledBack) => {
            next.resume_to = None;
            next.go(Aborted, status.step, Reason::Operator, now);
        }
        _ => return Err(refused),
    }
    Ok(next)
}

/// The status after a configuration reload that keeps this rollout with (possibly new)
/// settings `rollout` and the canary at `canary_url`: a new canary, canary URL, steps or
/// revision restarts it at step 1 (reason `config_changed`); any other change (thresholds,
/// interval, `on_success`) keeps its state and timers.
pub fn reconcile(rollout: &Rollout, canary_url: &str, status: &Status, now: SystemTime) -> Status {
    let identity = Identity::of(rollout, canary_url);
    let mut next = status.clone();
    if identity != status.identity {
        next.identity = identity;
        next.last_analysis = None;
        next.restart(rollout, now, Reason::ConfigChanged);
    }
    next
}

/// The weights of the rollout's backend for `status`, in the order of `servers`.
pub fn weights(rollout: &Rollout, status: &Status, servers: &[Member]) -> Vec<(String, u32)> {
    weights::apply(servers, &rollout.canary, status.target(rollout))
}
