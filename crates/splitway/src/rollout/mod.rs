//! Guarded progressive rollouts: a controller that walks a canary server through rising shares
//! of its backend's traffic, judges it against the backend's stable servers over each
//! interval, and promotes it or rolls it back by itself.
//!
//! Written as the server-choice algorithms are: plain data and pure functions, the clock
//! passed in, no I/O. Whoever drives a rollout (the proxy, a tower
//! service) reads the servers' counters, feeds their differences over the interval to
//! [`tick`], applies the [`weights`](fn@weights) it gets back, and persists the [`Status`] if it wants a
//! restart to resume.
//!
//! - [`Rollout`], [`Analysis`], [`OnSuccess`]: the `rollouts:` section of a configuration.
//! - [`weights`](mod@weights): a step's share of traffic into server weights.
//! - [`judge`](mod@judge): one interval's analysis (error rates, the Newcombe interval of
//!   their difference, p99 latencies from the histogram buckets).
//! - [`controller`](mod@controller): the state machine: [`State`], [`Reason`], [`Action`],
//!   [`Status`], [`tick`], [`act`], [`reconcile`].
//! - [`fleet`](mod@fleet): many replicas judging from one Prometheus: boundaries
//!   `start + k × interval`, timestamped actions, and the [`replay`] of every boundary's
//!   figures from `start`, so that every replica lands in the same state.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use splitway::rollout::{self, Analysis, Member, OnSuccess, Rollout, State, Window};
//!
//! let web = Rollout {
//!     backend: "web".into(),
//!     canary: "k8s".into(),
//!     steps: vec![1.0, 50.0],
//!     interval: Duration::from_secs(30),
//!     analysis: Analysis::default(),
//!     on_success: OnSuccess::Promote,
//!     revision: None,
//!     fleet: None,
//! };
//! let servers = [Member::new("legacy_1", 5), Member::new("legacy_2", 5), Member::new("k8s", 1)];
//! let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let status = rollout::Status::start(&web, "http://k8s.internal", t0);
//! assert_eq!((status.state, status.step), (State::Progressing, 1));
//! // 1% of the backend: the stable 5:5 scaled to 500:500, and 10 for the canary.
//! let weights = rollout::weights(&web, &status, &servers);
//! assert_eq!(weights, vec![("legacy_1".into(), 500), ("legacy_2".into(), 500), ("k8s".into(), 10)]);
//!
//! // Thirty seconds later, a healthy interval: on to the next step.
//! let mut window = Window::default();
//! window.canary.requests = 200;
//! window.stable.requests = 20_000;
//! let next = rollout::tick(&web, &status, &window, t0 + Duration::from_secs(30));
//! assert_eq!((next.state, next.step), (State::Progressing, 2));
//! ```

pub mod controller;
pub mod fleet;
pub mod judge;
pub mod weights;

use std::time::{Duration, SystemTime};

pub use controller::{
    Action, Analysed, Identity, Reason, Refused, State, Status, Transition, act, reconcile, tick,
    tick_figures, weights,
};
pub use fleet::{Figures, advance, replay};
pub use judge::{Failure, Judgement, Sample, Verdict, Window};
pub use weights::{Member, Target};

/// One rollout: the `rollouts.BACKEND` entry of a configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// The backend this rollout drives (checked to exist).
    pub backend: String,
    /// The server of that backend whose share grows (checked to exist); the backend's other
    /// servers are the stable ones it is judged against.
    pub canary: String,
    /// The canary's share of the backend's traffic at each step, in percent: strictly rising,
    /// each in (0, 100).
    pub steps: Vec<f64>,
    /// How long each step is observed before it is judged.
    pub interval: Duration,
    /// The thresholds of each interval's analysis.
    pub analysis: Analysis,
    /// What follows the last step's passed analysis.
    pub on_success: OnSuccess,
    /// An optional label of the canary's build (e.g. its image tag): a change restarts the
    /// rollout, as a change of the canary's URL does.
    pub revision: Option<String>,
    /// `source: prometheus`: the fleet mode, judged from one Prometheus at fixed boundaries
    /// (none: `source: local`, judged on this process' own counters).
    pub fleet: Option<Fleet>,
}

/// The fleet mode of a rollout (`source: prometheus`, docs/rollouts.md "Many replicas").
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// Where the figures are read.
    pub prometheus: PrometheusSource,
    /// The first boundary: boundaries are `start + k × interval` on every replica alike.
    pub start: SystemTime,
    /// Operators' timestamped actions, in file order.
    pub actions: Vec<TimedAction>,
}

/// `prometheus: {url, selector, settle}`.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusSource {
    /// The Prometheus server's base URL (`http://prometheus.monitoring:9090`).
    pub url: String,
    /// Label matchers that narrow the series to this fleet (`job="splitway"`), written into
    /// every query's braces; may be empty.
    pub selector: String,
    /// How long after a boundary its interval's data are taken as complete.
    pub settle: Duration,
}

/// `{at: RFC3339, do: ACTION}`: an operator's action, taking effect at the first boundary at
/// or after `at`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimedAction {
    /// When it was asked for.
    pub at: SystemTime,
    /// What.
    pub action: Action,
}

/// The thresholds of one interval's analysis (see [`judge`](mod@judge)).
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// Fewer canary requests in an interval: the step is held, not judged.
    pub min_requests: u64,
    /// The canary's share of 5xx answers above this fails.
    pub max_error_rate: f64,
    /// Fails when the lower confidence bound of (canary rate − stable rate) exceeds this.
    pub max_error_rate_increase: f64,
    /// The one-sided confidence of that bound, in [0.5, 1).
    pub confidence: f64,
    /// The canary's p99 latency above this fails.
    pub max_latency_p99: Option<Duration>,
    /// The canary's p99 above this multiple of the stable servers' p99 fails.
    pub max_latency_ratio: Option<f64>,
    /// This many failed analyses in a row roll back (at least 1).
    pub failures: u32,
}

impl Default for Analysis {
    /// The documented defaults: 100 requests, 1% errors, an increase of 0.5 point at 99%
    /// confidence, no latency limits, 2 failures.
    fn default() -> Self {
        Analysis {
            min_requests: 100,
            max_error_rate: 0.01,
            max_error_rate_increase: 0.005,
            confidence: 0.99,
            max_latency_p99: None,
            max_latency_ratio: None,
            failures: 2,
        }
    }
}

/// What follows the last step's passed analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnSuccess {
    /// The canary takes the whole backend.
    #[default]
    Promote,
    /// Stay at the last step (still judged) until an operator promotes.
    Hold,
}

/// `docs/rollouts.md`'s examples, compiled and run as doc-tests.
#[doc = include_str!("../../docs/rollouts.md")]
#[cfg(doctest)]
pub struct RolloutsDocDoctests;

impl Rollout {
    /// The share of step `step` (1-based), if there is such a step.
    pub fn share(&self, step: usize) -> Option<f64> {
        step.checked_sub(1).and_then(|i| self.steps.get(i)).copied()
    }
}
