//! Driving the configuration's rollouts (`rollouts:`, the core crate's `docs/rollouts.md`) in
//! a running service: the tower layer's, or the proxy's (`splitway serve` uses this driver).
//!
//! [`Rollouts`] holds each rollout's [`Status`] beside the router. [`Rollouts::tick`] (run
//! every few hundred milliseconds by [`Rollouts::spawn`]) takes a baseline of the backend's
//! counters when an interval begins, hands the controller the differences when it ends, and
//! puts the weights the controller asks for in service, every rollout's in one table swap,
//! whenever they differ from the table's (after a transition, a health change or a reload).
//! The counters are the router's own ([`splitway::Router::servers`]), which the
//! [`crate::SplitwayLayer`] and the proxy both record, so a service behind the layer is
//! judged on the requests it answered.
//! [`Rollouts::reload_file`] is the file watcher's reload: it reconciles each rollout with the
//! new file (a new canary, canary URL, steps or revision restarts it; thresholds keep its
//! state) and serves the new file with the rollouts' weights already applied, so the file's
//! weights never serve in between. Operators act through [`Rollouts::act`] (the proxy admin's
//! `POST /rollouts/{backend}/ACTION`); [`Rollouts::to_json`] is its `GET /rollouts`.
//!
//! With a state file, every transition and action writes every status to it atomically (a
//! temporary file renamed over it), and [`Rollouts::new`] reads it back: a restarted process
//! resumes each rollout at its step, with a fresh interval (the counters restarted too).
//!
//! Each transition is logged through `tracing` with the figures that decided it, and counted
//! in the metrics `splitway_rollout_step{backend}` (a gauge) and
//! `splitway_rollout_transitions_total{backend,to}`.
//!
//! A fleet-mode rollout (`source: prometheus`) is not judged on this process' counters nor
//! acted on by the admin ([`ActError::FleetMode`]): [`Rollouts::fleet_tick`] fetches each
//! settled boundary's figures from Prometheus ([`crate::fleet`]) and replays the rollout from
//! its `start` over them ([`splitway::rollout::replay`]), so that every replica of a fleet is
//! in the same state; failed queries count in `splitway_rollout_query_failures_total{backend}`.
//!
//! ```no_run
//! use std::time::{Duration, SystemTime};
//! use splitway::config::Config;
//! use splitway_tower::Rollouts;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let file = Config::from_file(std::path::Path::new("routes.yaml"))?.config;
//! let router = splitway::Router::from_config(&file)?;
//! let rollouts = Rollouts::new(router.clone(), file, None, SystemTime::now())?;
//! let _driver = rollouts.spawn(Duration::from_millis(100)); // a tokio task
//! // ... serve `SplitwayLayer::new(router)`; expose `rollouts.to_json()` and `act`.
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use splitway::config::Config;
use splitway::diag::{ConfigError, Diagnostic, Severity};
use splitway::rollout::fleet::settled;
use splitway::rollout::weights::effective_share;
use splitway::rollout::{
    self, Action, Identity, Member, Reason, Refused, Rollout, State, Status, Window,
};
use splitway::rollout::{Figures, Fleet};
use splitway::{Router, ServerStats};

use crate::fleet::{MAX_RANGE_BOUNDARIES, Queries, fetch};
use crate::prometheus::{Prometheus, QueryError};

/// The counter of failed fleet queries.
pub const QUERY_FAILURES_METRIC: &str = "splitway_rollout_query_failures_total";
/// How often a failing Prometheus is logged, at most, per rollout.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(10);
/// How soon a failed fleet query is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The rollouts of one proxy: a cheap-to-clone handle.
#[derive(Debug, Clone)]
pub struct Rollouts {
    router: Router,
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    /// The configuration as the file has it (the file's weights).
    file: Config,
    entries: Vec<Entry>,
    state_file: Option<PathBuf>,
}

#[derive(Debug)]
struct Entry {
    settings: Rollout,
    status: Status,
    /// Every server's counters when the current interval began.
    baseline: Vec<(String, ServerStats)>,
    /// The end of the interval the baseline is for.
    baseline_for: Option<SystemTime>,
    /// The fleet mode's figures (`source: prometheus`); none for a local rollout.
    fleet: Option<Track>,
}

/// What a fleet-mode rollout has learnt from Prometheus.
#[derive(Debug)]
struct Track {
    fleet: Fleet,
    api: Prometheus,
    queries: Queries,
    /// What the figures depend on: a change of any clears them.
    key: String,
    /// The figures of boundaries `1..=figures.len()`.
    figures: Vec<Option<Figures>>,
    /// The first boundary (index into `figures`) whose `None` is a failed query, not an
    /// answer without data: fetched again from there.
    failed_from: Option<usize>,
    retry_at: Option<Instant>,
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl Track {
    fn of(settings: &Rollout, file: &Config) -> Option<Track> {
        let fleet = settings.fleet.clone()?;
        let stable: Vec<String> = file
            .backend(&settings.backend)
            .map(|b| {
                b.servers
                    .iter()
                    .filter(|s| s.name != settings.canary)
                    .map(|s| s.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        let queries = Queries::new(settings, &fleet, &stable);
        let key = format!(
            "{:?} {:?} {:?} {:?}",
            fleet.start, settings.interval, fleet.prometheus, queries
        );
        metrics::counter!(QUERY_FAILURES_METRIC, "backend" => settings.backend.clone())
            .increment(0);
        Some(Track {
            // A query may take up to an interval (1 to 5 s): a Prometheus that hangs holds
            // the rollout rather than the loop.
            api: Prometheus::new(&fleet.prometheus.url).with_limits(
                settings
                    .interval
                    .clamp(Duration::from_secs(1), crate::prometheus::DEFAULT_TIMEOUT),
                crate::prometheus::DEFAULT_MAX_BYTES,
            ),
            fleet,
            queries,
            key,
            figures: Vec::new(),
            failed_from: None,
            retry_at: None,
            last_logged: None,
            suppressed: 0,
        })
    }

    /// The status these figures give.
    fn status(&self, settings: &Rollout, canary_url: &str) -> Status {
        rollout::replay(settings, &self.fleet, canary_url, &self.figures)
    }
}

/// One fetch the fleet loop makes, planned under the lock and made without it.
struct Plan {
    backend: String,
    key: String,
    settings: Rollout,
    fleet: Fleet,
    api: Prometheus,
    queries: Queries,
    first: u64,
    last: u64,
}

/// Why an operator's action was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ActError {
    /// No rollout of that backend (404).
    #[error("no rollout of backend `{0}`")]
    Unknown(String),
    /// The action does not apply to the rollout's state (409).
    #[error(transparent)]
    Refused(Refused),
    /// The rollout is in fleet mode: actions are timestamped in the configuration (409).
    #[error(
        "the rollout of backend `{0}` is in fleet mode (source: prometheus): no replica acts \
         alone; add a timestamped action to the configuration instead \
         (`splitway rollout ACTION {0} --config FILE`)"
    )]
    FleetMode(String),
}

/// A state file that could not be read, or a table that did not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RolloutsError(String);

impl Rollouts {
    /// The rollouts of `file` (the configuration `router` serves), restored from
    /// `state_file` when it exists, with their weights put in service.
    pub fn new(
        router: Router,
        file: Config,
        state_file: Option<PathBuf>,
        now: SystemTime,
    ) -> Result<Rollouts, RolloutsError> {
        let saved = match &state_file {
            Some(path) => read_state(path)?,
            None => Vec::new(),
        };
        let entries = file
            .rollouts
            .iter()
            .map(|settings| {
                let url = canary_url(&file, settings);
                if let Some(track) = Track::of(settings, &file) {
                    // Replayed from Prometheus, never restored from the state file.
                    return Entry {
                        settings: settings.clone(),
                        status: track.status(settings, &url),
                        baseline: Vec::new(),
                        baseline_for: None,
                        fleet: Some(track),
                    };
                }
                let status = match saved.iter().find(|(b, _)| *b == settings.backend) {
                    Some((_, restored)) => {
                        let mut s = restored.clone();
                        if matches!(s.state, State::Progressing | State::Holding) {
                            s.next_decision_at = now.checked_add(settings.interval);
                        }
                        rollout::reconcile(settings, &url, &s, now)
                    }
                    None => Status::start(settings, &url, now),
                };
                Entry {
                    settings: settings.clone(),
                    status,
                    baseline: Vec::new(),
                    baseline_for: None,
                    fleet: None,
                }
            })
            .collect();
        let rollouts = Rollouts {
            router,
            inner: Arc::new(Mutex::new(Inner {
                file,
                entries,
                state_file,
            })),
        };
        {
            let mut inner = rollouts.lock();
            for e in &inner.entries {
                log_status(e, "rollout in service");
            }
            rollouts.baselines(&mut inner);
            rollouts.apply(&inner, None, None)?;
            save(&inner);
        }
        Ok(rollouts)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(guard) => guard,
            // A panic mid-update leaves plain data; carry on with it.
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The servers of `backend` as the file weighs them, with their health now.
    fn members(&self, file: &Config, backend: &str) -> Vec<Member> {
        let live = self.router.servers();
        file.backend(backend)
            .map(|b| {
                b.servers
                    .iter()
                    .map(|s| Member {
                        name: s.name.clone(),
                        weight: s.weight,
                        healthy: live
                            .iter()
                            .find(|l| l.backend == backend && l.server == s.name)
                            .is_none_or(|l| l.healthy),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Takes a baseline for every rollout whose interval changed.
    fn baselines(&self, inner: &mut Inner) {
        let router = &self.router;
        for e in &mut inner.entries {
            if e.baseline_for != e.status.next_decision_at || e.baseline.is_empty() {
                e.baseline = server_stats(router, &inner.file, &e.settings.backend);
                e.baseline_for = e.status.next_decision_at;
            }
        }
    }

    /// Puts the rollouts' weights in service: over `base` (a new file) in the one table swap
    /// that serves it, or over the table in service, each backend whose weights differ in one
    /// compare-and-swap ([`Router::set_weights`]).
    ///
    /// `only` limits the rollouts whose weights are enforced (all when `None`): a tick
    /// enforces those that move weights (progressing, holding) or just changed state, so that
    /// an operator's weight edit of a paused, promoted, rolled back or aborted rollout's
    /// backend stays until the rollout acts again.
    fn apply(
        &self,
        inner: &Inner,
        base: Option<&Config>,
        only: Option<&[String]>,
    ) -> Result<(), RolloutsError> {
        let wanted: Vec<(&str, Vec<(String, u32)>)> = inner
            .entries
            .iter()
            .filter(|e| only.is_none_or(|o| o.contains(&e.settings.backend)))
            .map(|e| {
                let members = self.members(&inner.file, &e.settings.backend);
                let weights = rollout::weights(&e.settings, &e.status, &members);
                (e.settings.backend.as_str(), weights)
            })
            .collect();
        let current = self.router.snapshot();
        let over = base.unwrap_or(current.config());
        let differs = |backend: &str, weights: &[(String, u32)]| {
            over.backend(backend).is_some_and(|b| {
                b.servers
                    .iter()
                    .any(|s| weights.iter().any(|(n, w)| *n == s.name && *w != s.weight))
            })
        };
        if base.is_none() {
            let changed: Vec<&(&str, Vec<(String, u32)>)> =
                wanted.iter().filter(|(b, w)| differs(b, w)).collect();
            drop(current);
            // Each backend's weights in one compare-and-swap: an edit of another backend
            // made meanwhile is kept, and no request sees half a step.
            for (backend, weights) in changed {
                let pairs: Vec<(&str, u32)> =
                    weights.iter().map(|(n, w)| (n.as_str(), *w)).collect();
                self.router
                    .set_weights(backend, &pairs)
                    .map_err(|e| RolloutsError(format!("rollout weights not applied: {e}")))?;
            }
            return Ok(());
        }
        let mut next = over.clone();
        drop(current);
        for (backend, weights) in &wanted {
            for b in next.backends.iter_mut().filter(|b| b.name == *backend) {
                for s in &mut b.servers {
                    if let Some((_, w)) = weights.iter().find(|(n, _)| *n == s.name) {
                        s.weight = *w;
                    }
                }
            }
        }
        self.router
            .reload(&next)
            .map_err(|e| RolloutsError(format!("rollout weights not applied: {e}")))
    }

    /// Judges every rollout whose interval ended by `now` and applies the weights.
    pub fn tick(&self, now: SystemTime) {
        let mut guard = self.lock();
        let mut transitions = false;
        let mut enforced = Vec::new();
        let inner = &mut *guard;
        for e in &mut inner.entries {
            let moving = matches!(e.status.state, State::Progressing | State::Holding);
            let due = moving
                && e.fleet.is_none()
                && e.status.next_decision_at.is_some_and(|at| now >= at);
            if due {
                let window = window(&self.router, &inner.file, e);
                let next = rollout::tick(&e.settings, &e.status, &window, now);
                transitions |= record(e, next);
            }
            if moving {
                enforced.push(e.settings.backend.clone());
            }
        }
        self.baselines(inner);
        if let Err(err) = self.apply(inner, None, Some(&enforced)) {
            tracing::error!("{err}");
        }
        if transitions {
            save(inner);
        }
    }

    /// Applies an operator's action to the rollout of `backend`; returns its new object (as
    /// in [`Rollouts::to_json`]).
    pub fn act(&self, backend: &str, action: Action, now: SystemTime) -> Result<Value, ActError> {
        let mut inner = self.lock();
        let Some(e) = inner
            .entries
            .iter_mut()
            .find(|e| e.settings.backend == backend)
        else {
            return Err(ActError::Unknown(backend.to_owned()));
        };
        if e.fleet.is_some() {
            return Err(ActError::FleetMode(backend.to_owned()));
        }
        let next = rollout::act(&e.settings, &e.status, action, now).map_err(ActError::Refused)?;
        record(e, next);
        self.baselines(&mut inner);
        if let Err(err) = self.apply(&inner, None, Some(&[backend.to_owned()])) {
            tracing::error!("{err}");
        }
        save(&inner);
        Ok(self.entry_json(&inner, backend).unwrap_or(Value::Null))
    }

    /// Reads `path` and serves it, each rollout reconciled with it and its weights applied
    /// in the same table swap. Returns the warnings; on error nothing changes.
    pub fn reload_file(&self, path: &Path) -> Result<Vec<Diagnostic>, ConfigError> {
        let loaded = Config::from_file(path)?;
        self.reload(
            loaded.config,
            &path.display().to_string(),
            SystemTime::now(),
        )?;
        Ok(loaded.warnings)
    }

    /// Serves `file` (a reloaded configuration) as [`Rollouts::reload_file`] does.
    pub fn reload(&self, file: Config, name: &str, now: SystemTime) -> Result<(), ConfigError> {
        let mut inner = self.lock();
        let old = std::mem::take(&mut inner.entries);
        let mut entries = Vec::new();
        for settings in &file.rollouts {
            let url = canary_url(&file, settings);
            if let Some(mut track) = Track::of(settings, &file) {
                // The figures stand while what they depend on does; new actions or
                // thresholds replay over them.
                if let Some(known) = old
                    .iter()
                    .find(|e| e.settings.backend == settings.backend)
                    .and_then(|e| e.fleet.as_ref())
                    .filter(|t| t.key == track.key)
                {
                    track.figures = known.figures.clone();
                    track.failed_from = known.failed_from;
                }
                entries.push(Entry {
                    settings: settings.clone(),
                    status: track.status(settings, &url),
                    baseline: Vec::new(),
                    baseline_for: None,
                    fleet: Some(track),
                });
                continue;
            }
            let entry = match old
                .iter()
                .find(|e| e.settings.backend == settings.backend && e.fleet.is_none())
            {
                Some(e) => Entry {
                    settings: settings.clone(),
                    status: rollout::reconcile(settings, &url, &e.status, now),
                    baseline: e.baseline.clone(),
                    baseline_for: e.baseline_for,
                    fleet: None,
                },
                None => Entry {
                    settings: settings.clone(),
                    status: Status::start(settings, &url, now),
                    baseline: Vec::new(),
                    baseline_for: None,
                    fleet: None,
                },
            };
            entries.push(entry);
        }
        let previous_file = std::mem::replace(&mut inner.file, file.clone());
        inner.entries = entries;
        self.baselines(&mut inner);
        if let Err(err) = self.apply(&inner, Some(&file), None) {
            // The swap failed: nothing changed, so the rollouts are as they were.
            inner.file = previous_file;
            inner.entries = old;
            return Err(ConfigError {
                diagnostics: vec![Diagnostic {
                    severity: Severity::Error,
                    file: name.to_owned(),
                    line: 1,
                    col: 1,
                    message: err.to_string(),
                }],
            });
        }
        for e in &inner.entries {
            match old
                .iter()
                .find(|o| o.settings.backend == e.settings.backend)
            {
                Some(o) => announce(e, &new_transitions(&o.status, &e.status)),
                None => log_status(e, "rollout started by the configuration"),
            }
        }
        for o in &old {
            if !inner
                .entries
                .iter()
                .any(|e| e.settings.backend == o.settings.backend)
            {
                tracing::info!(backend = %o.settings.backend, "rollout removed from the configuration: the file's weights serve");
            }
        }
        save(&inner);
        Ok(())
    }

    /// Whether the rollout of `backend` is moving its weights (progressing or holding): then
    /// a manual weight edit would fight it.
    pub fn drives(&self, backend: &str) -> bool {
        self.lock().entries.iter().any(|e| {
            e.settings.backend == backend
                && matches!(e.status.state, State::Progressing | State::Holding)
        })
    }

    /// `{"rollouts": [...]}`, the admin's `GET /rollouts`.
    pub fn to_json(&self) -> Value {
        let inner = self.lock();
        let list: Vec<Value> = inner
            .entries
            .iter()
            .filter_map(|e| self.entry_json(&inner, &e.settings.backend))
            .collect();
        json!({ "rollouts": list })
    }

    fn entry_json(&self, inner: &Inner, backend: &str) -> Option<Value> {
        let e = inner
            .entries
            .iter()
            .find(|e| e.settings.backend == backend)?;
        let members = self.members(&inner.file, backend);
        let weights = rollout::weights(&e.settings, &e.status, &members);
        let s = &e.status;
        let side = |x: &rollout::Sample| {
            json!({
                "requests": x.requests,
                "errors": x.errors,
                "p99_ms": x.p99.map(|d| d.as_secs_f64() * 1000.0),
            })
        };
        let last = s.last_analysis.as_ref().map(|a| {
            json!({
                "at": rfc3339(a.at),
                "canary": side(&a.judgement.canary),
                "stable": side(&a.judgement.stable),
                "lower_bound": a.judgement.lower_bound,
                "verdict": a.judgement.verdict.as_str(),
                "summary": a.judgement.to_string(),
            })
        });
        let weights_json: serde_json::Map<String, Value> =
            weights.iter().map(|(n, w)| (n.clone(), json!(w))).collect();
        Some(json!({
            "backend": e.settings.backend,
            "source": if e.fleet.is_some() { "prometheus" } else { "local" },
            "canary": e.settings.canary,
            "state": s.state.as_str(),
            "step": s.step,
            "steps": e.settings.steps,
            "share": s.share(&e.settings),
            "effective_share": effective_share(&weights, &members, &e.settings.canary),
            "weights": weights_json,
            "reason": s.reason.as_str(),
            "failures": s.failures,
            "last_analysis": last,
            "next_decision_at": s.next_decision_at.map(rfc3339),
            "transitions": s.transitions.iter().map(transition_json).collect::<Vec<_>>(),
        }))
    }
}

impl Rollouts {
    /// Ticks these rollouts every `every` (100 ms is plenty for intervals of a second or
    /// more) on a tokio task, until the returned task is aborted or the runtime stops.
    pub fn spawn(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        spawn(self.clone(), every)
    }
}

/// Ticks `rollouts` every `every` (the local ones by [`Rollouts::tick`], the fleet-mode
/// ones by [`Rollouts::fleet_tick`], each in its own loop so that a slow Prometheus delays
/// no local decision) until the returned task is aborted or the runtime stops.
pub fn spawn(rollouts: Rollouts, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let local = {
            let rollouts = rollouts.clone();
            async move {
                let mut ticks = tokio::time::interval(every);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    rollouts.tick(SystemTime::now());
                }
            }
        };
        let fleet = async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                rollouts.fleet_tick(SystemTime::now()).await;
            }
        };
        tokio::join!(local, fleet);
    })
}

impl Rollouts {
    /// The fleet mode's step: for every `source: prometheus` rollout, fetches the figures of
    /// the boundaries settled by `now` that it has not got (all of them from `start` at the
    /// first call, with range queries: the replay), again those whose query failed, replays
    /// the rollout from `start` over them and puts its weights in service. While Prometheus
    /// cannot be reached the settled boundaries have no figures, so the rollout holds
    /// (`metrics_unavailable`); the failures are logged (at most every 10 s) and counted in
    /// `splitway_rollout_query_failures_total{backend}`, and the next answer catches up.
    pub async fn fleet_tick(&self, now: SystemTime) {
        let plans = self.plans(now, Instant::now());
        for plan in plans {
            let answer = fetch(
                &plan.api,
                &plan.queries,
                &plan.settings,
                &plan.fleet,
                plan.first,
                plan.last,
            )
            .await;
            self.learn(&plan, answer);
        }
    }

    fn plans(&self, now: SystemTime, clock: Instant) -> Vec<Plan> {
        let inner = self.lock();
        let mut plans = Vec::new();
        for e in &inner.entries {
            let Some(t) = &e.fleet else { continue };
            let due = settled(&t.fleet, e.settings.interval, now);
            let known = t.figures.len() as u64;
            let first = match t.failed_from {
                Some(i) if t.retry_at.is_none_or(|at| clock >= at) => i as u64 + 1,
                Some(_) => continue,
                None if known < due => known + 1,
                None => continue,
            };
            if first > due {
                continue;
            }
            let last = due.min(first + MAX_RANGE_BOUNDARIES - 1);
            plans.push(Plan {
                backend: e.settings.backend.clone(),
                key: t.key.clone(),
                settings: e.settings.clone(),
                fleet: t.fleet.clone(),
                api: t.api.clone(),
                queries: t.queries.clone(),
                first,
                last,
            });
        }
        plans
    }

    /// Puts a fetch's answer in its rollout, replays it and applies its weights.
    fn learn(&self, plan: &Plan, answer: Result<Vec<Option<Figures>>, QueryError>) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let url_of = |e: &Entry| canary_url(&inner.file, &e.settings);
        let Some(e) = inner
            .entries
            .iter_mut()
            .find(|e| e.settings.backend == plan.backend)
        else {
            return;
        };
        let url = url_of(e);
        let Some(t) = e.fleet.as_mut().filter(|t| t.key == plan.key) else {
            // Reloaded meanwhile with other figures to fetch.
            return;
        };
        let from = (plan.first - 1) as usize;
        let count = (plan.last - plan.first + 1) as usize;
        match answer {
            Ok(figures) => {
                if t.failed_from.is_some() {
                    tracing::info!(
                        backend = %plan.backend,
                        boundaries = count,
                        "Prometheus answers again: rollout replayed over the boundaries it missed"
                    );
                }
                t.figures.truncate(from);
                t.figures.extend(figures.into_iter().take(count));
                t.figures.resize(from + count, None);
                t.failed_from = None;
                t.retry_at = None;
            }
            Err(err) => {
                metrics::counter!(QUERY_FAILURES_METRIC, "backend" => plan.backend.clone())
                    .increment(1);
                let clock = Instant::now();
                if t.last_logged
                    .is_none_or(|at| clock.duration_since(at) >= FAILURE_LOG_EVERY)
                {
                    tracing::warn!(
                        backend = %plan.backend,
                        error = %err,
                        failures_not_logged = t.suppressed,
                        "rollout holds (metrics_unavailable): Prometheus did not answer its queries"
                    );
                    t.last_logged = Some(clock);
                    t.suppressed = 0;
                } else {
                    t.suppressed += 1;
                }
                t.retry_at = Some(clock + RETRY_AFTER);
                if t.figures.len() < from + count {
                    t.figures.resize(from + count, None);
                }
                t.failed_from = Some(t.failed_from.map_or(from, |f| f.min(from)));
            }
        }
        let next = t.status(&e.settings, &url);
        let before = e.status.clone();
        e.status = next;
        let new = new_transitions(&before, &e.status);
        announce(e, &new);
        let backend = [plan.backend.clone()];
        if let Err(err) = self.apply(inner, None, Some(&backend)) {
            tracing::error!("{err}");
        }
    }
}

fn canary_url(file: &Config, settings: &Rollout) -> String {
    file.backend(&settings.backend)
        .and_then(|b| b.servers.iter().find(|s| s.name == settings.canary))
        .map(|s| s.url.clone())
        .unwrap_or_default()
}

fn server_stats(router: &Router, file: &Config, backend: &str) -> Vec<(String, ServerStats)> {
    let live = router.servers();
    file.backend(backend)
        .map(|b| {
            b.servers
                .iter()
                .map(|s| {
                    let stats = live
                        .iter()
                        .find(|l| l.backend == backend && l.server == s.name)
                        .map(|l| l.stats)
                        .unwrap_or_default();
                    (s.name.clone(), stats)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The canary's and the stable servers' counters since the entry's baseline.
fn window(router: &Router, file: &Config, e: &Entry) -> Window {
    let mut window = Window::default();
    for (name, now) in server_stats(router, file, &e.settings.backend) {
        let before = e
            .baseline
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
            .unwrap_or_default();
        let delta = now.since(&before);
        if name == e.settings.canary {
            window.canary = delta;
        } else {
            window.stable = window.stable.plus(&delta);
        }
    }
    window
}

/// Puts `next` in the entry, logging and counting its new transitions; whether there were any.
fn record(e: &mut Entry, next: Status) -> bool {
    let new = new_transitions(&e.status, &next);
    e.status = next;
    announce(e, &new);
    !new.is_empty()
}

/// Logs and counts the entry's transitions `new`.
fn announce(e: &Entry, new: &[rollout::Transition]) {
    for t in new {
        let figures = e
            .status
            .last_analysis
            .as_ref()
            .map(|a| a.judgement.to_string())
            .unwrap_or_default();
        tracing::info!(
            backend = %e.settings.backend,
            from = t.from.map_or("none", State::as_str),
            to = t.to.as_str(),
            step = t.step,
            reason = t.reason.as_str(),
            figures = %figures,
            "rollout transition"
        );
        metrics::counter!(
            "splitway_rollout_transitions_total",
            "backend" => e.settings.backend.clone(),
            "to" => t.to.as_str()
        )
        .increment(1);
    }
    metrics::gauge!("splitway_rollout_step", "backend" => e.settings.backend.clone())
        .set(e.status.step as f64);
}

fn new_transitions(before: &Status, after: &Status) -> Vec<rollout::Transition> {
    let last = before.transitions.last();
    let start = match last {
        Some(l) => after
            .transitions
            .iter()
            .rposition(|t| t == l)
            .map_or(0, |i| i + 1),
        None => 0,
    };
    after.transitions.iter().skip(start).cloned().collect()
}

fn log_status(e: &Entry, message: &str) {
    tracing::info!(
        backend = %e.settings.backend,
        state = e.status.state.as_str(),
        step = e.status.step,
        reason = e.status.reason.as_str(),
        "{message}"
    );
    metrics::gauge!("splitway_rollout_step", "backend" => e.settings.backend.clone())
        .set(e.status.step as f64);
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn transition_json(t: &rollout::Transition) -> Value {
    json!({
        "at": rfc3339(t.at),
        "from": t.from.map(State::as_str),
        "to": t.to.as_str(),
        "step": t.step,
        "reason": t.reason.as_str(),
    })
}

// ----- the state file ------------------------------------------------------------------------

/// Writes every status to the state file, atomically (a temporary file renamed over it).
fn save(inner: &Inner) {
    let Some(path) = &inner.state_file else {
        return;
    };
    let list: Vec<Value> = inner
        .entries
        .iter()
        .map(|e| {
            let s = &e.status;
            json!({
                "backend": e.settings.backend,
                "state": s.state.as_str(),
                "step": s.step,
                "reason": s.reason.as_str(),
                "failures": s.failures,
                "resume_to": s.resume_to.map(State::as_str),
                "identity": {
                    "canary": s.identity.canary,
                    "canary_url": s.identity.canary_url,
                    "steps": s.identity.steps,
                    "revision": s.identity.revision,
                },
                "transitions": s.transitions.iter().map(transition_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    let text = format!("{}\n", json!({ "version": 1, "rollouts": list }));
    let tmp = path.with_extension("tmp");
    let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        tracing::error!(path = %path.display(), error = %e, "rollout state not saved");
    }
}

/// The statuses in a state file (none when it does not exist yet).
fn read_state(path: &Path) -> Result<Vec<(String, Status)>, RolloutsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RolloutsError(format!("{}: {e}", path.display()))),
    };
    let bad = |what: &str| {
        RolloutsError(format!(
            "{}: not a rollout state file: {what}",
            path.display()
        ))
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
    let list = v
        .get("rollouts")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no `rollouts` list"))?;
    list.iter()
        .map(|r| status_of(r).ok_or_else(|| bad("a malformed rollout")))
        .collect()
}

fn status_of(v: &Value) -> Option<(String, Status)> {
    let word = |key: &str| v.get(key).and_then(Value::as_str);
    let backend = word("backend")?.to_owned();
    let state: State = word("state")?.parse().ok()?;
    let reason: Reason = word("reason")?.parse().ok()?;
    let resume_to = match word("resume_to") {
        Some(w) => Some(w.parse().ok()?),
        None => None,
    };
    let id = v.get("identity")?;
    let identity = Identity {
        canary: id.get("canary")?.as_str()?.to_owned(),
        canary_url: id.get("canary_url")?.as_str()?.to_owned(),
        steps: id
            .get("steps")?
            .as_array()?
            .iter()
            .map(Value::as_f64)
            .collect::<Option<Vec<f64>>>()?,
        revision: id
            .get("revision")
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    let transitions = v
        .get("transitions")?
        .as_array()?
        .iter()
        .map(|t| {
            Some(rollout::Transition {
                at: humantime::parse_rfc3339_weak(t.get("at")?.as_str()?).ok()?,
                from: match t.get("from").and_then(Value::as_str) {
                    Some(w) => Some(w.parse().ok()?),
                    None => None,
                },
                to: t.get("to")?.as_str()?.parse().ok()?,
                step: usize::try_from(t.get("step")?.as_u64()?).ok()?,
                reason: t.get("reason")?.as_str()?.parse().ok()?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some((
        backend,
        Status {
            state,
            step: usize::try_from(v.get("step")?.as_u64()?).ok()?,
            reason,
            failures: u32::try_from(v.get("failures")?.as_u64()?).ok()?,
            resume_to,
            next_decision_at: None,
            last_analysis: None,
            transitions,
            identity,
        },
    ))
}

/// Parses an action word of `POST /rollouts/{backend}/ACTION`.
pub fn parse_action(word: &str) -> Option<Action> {
    word.parse().ok()
}
