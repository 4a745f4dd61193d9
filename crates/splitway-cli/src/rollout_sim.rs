//! `splitway simulate --rollout BACKEND`: an offline, seeded replay of a synthetic run through
//! the rollout controller, so that a team can tune thresholds before a deploy.
//!
//! Each interval sends `rps × interval` requests to the backend; each goes to the canary with
//! the probability of the canary's effective share under the controller's weights, fails (5xx)
//! with its side's error rate, and takes a latency drawn uniformly from 0.5 to 1.5 times its
//! side's latency. The counts are the interval's [`Window`]; the controller is ticked at the
//! interval's end on a clock that starts at 0. Each interval that changes the state, step,
//! reason or failure count is a line; the replay ends at promotion, rollback, an abort, a hold
//! awaiting promotion, or after 200 intervals. The random numbers come from
//! Xoshiro256++ seeded with `--seed`, so a seed gives the same timeline on every machine.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};
use splitway::ServerStats;
use splitway::config::Config;
use splitway::rollout::judge::Judgement;
use splitway::rollout::weights::effective_share;
use splitway::rollout::{self, Member, Reason, Rollout, State, Status, Window};
use splitway::stats::LATENCY_BUCKETS_MICROS;

use crate::Fail;
use crate::request::usage;

/// Most intervals one replay runs (a rollout that holds for ever stops here).
const MAX_INTERVALS: u64 = 200;
/// Most requests one replay sends.
const MAX_REQUESTS: u64 = 100_000_000;

/// The synthetic traffic of one replay.
#[derive(Debug, Clone)]
pub(crate) struct Traffic {
    /// Requests per second to the backend.
    pub(crate) rps: u64,
    /// The canary's 5xx rate.
    pub(crate) canary_error_rate: f64,
    /// The stable servers' 5xx rate.
    pub(crate) stable_error_rate: f64,
    /// The canary's typical latency, in ms.
    pub(crate) canary_latency_ms: f64,
    /// The stable servers' typical latency, in ms.
    pub(crate) stable_latency_ms: f64,
    /// The random seed.
    pub(crate) seed: u64,
}

/// One judged interval (or the start).
struct Entry {
    at: Duration,
    status: Status,
    weights: Vec<(String, u32)>,
    effective_share: f64,
    judged: Option<Judgement>,
}

/// Replays the rollout of `backend` and prints its timeline.
pub(crate) fn run(
    config: &Config,
    backend: &str,
    traffic: &Traffic,
    json: bool,
) -> Result<(), Fail> {
    let Some(rollout) = config.rollout(backend) else {
        return Err(usage(&format!(
            "--rollout: the configuration has no rollout of backend `{backend}`"
        )));
    };
    let Some(servers) = config.backend(backend) else {
        return Err(usage(&format!("--rollout: no backend `{backend}`")));
    };
    let canary_url = servers
        .servers
        .iter()
        .find(|s| s.name == rollout.canary)
        .map(|s| s.url.clone())
        .unwrap_or_default();
    let members: Vec<Member> = servers
        .servers
        .iter()
        .map(|s| Member::new(s.name.clone(), s.weight))
        .collect();
    let per_interval = (traffic.rps as f64 * rollout.interval.as_secs_f64()).round() as u64;
    if per_interval.saturating_mul(MAX_INTERVALS) > MAX_REQUESTS {
        return Err(usage(&format!(
            "--rps {} with an interval of {:?} is more than {MAX_REQUESTS} requests",
            traffic.rps, rollout.interval
        )));
    }
    let entries = replay(rollout, &canary_url, &members, traffic, per_interval);
    if json {
        println!("{}", to_json(rollout, traffic, &entries));
    } else {
        for e in &entries {
            println!("{}", line(rollout, e));
        }
        if let Some(last) = entries.last().map(|e| &e.status)
            && matches!(last.state, State::Progressing | State::Holding)
            && last.reason != Reason::AwaitingPromotion
        {
            println!(
                "stopped after {MAX_INTERVALS} intervals, {} at step {}",
                last.state, last.step
            );
        }
    }
    Ok(())
}

fn replay(
    rollout: &Rollout,
    canary_url: &str,
    members: &[Member],
    traffic: &Traffic,
    per_interval: u64,
) -> Vec<Entry> {
    let t0 = SystemTime::UNIX_EPOCH;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(traffic.seed);
    let mut status = Status::start(rollout, canary_url, t0);
    let entry = |at: Duration, status: &Status, judged: Option<Judgement>| {
        let weights = rollout::weights(rollout, status, members);
        let effective_share = effective_share(&weights, members, &rollout.canary);
        Entry {
            at,
            status: status.clone(),
            weights,
            effective_share,
            judged,
        }
    };
    let mut entries = vec![entry(Duration::ZERO, &status, None)];
    for k in 1..=MAX_INTERVALS {
        let share = entries.last().map_or(0.0, |e| e.effective_share) / 100.0;
        let window = interval(&mut rng, per_interval, share, traffic);
        let at = rollout
            .interval
            .saturating_mul(u32::try_from(k).unwrap_or(u32::MAX));
        let next = rollout::tick(rollout, &status, &window, t0 + at);
        let judged = next.last_analysis.as_ref().map(|a| a.judgement.clone());
        let changed = (next.state, next.step, next.reason, next.failures)
            != (status.state, status.step, status.reason, status.failures);
        status = next;
        let done = !matches!(status.state, State::Progressing | State::Holding)
            || status.reason == Reason::AwaitingPromotion;
        // An interval that changes nothing (the same hold again) is not a line of its own.
        if changed || done || k == MAX_INTERVALS {
            entries.push(entry(at, &status, judged));
        }
        if done {
            break;
        }
    }
    entries
}

/// One interval of synthetic traffic.
fn interval(rng: &mut Xoshiro256PlusPlus, n: u64, share: f64, traffic: &Traffic) -> Window {
    let mut window = Window::default();
    for _ in 0..n {
        let to_canary = share > 0.0 && rng.random::<f64>() < share;
        let (side, rate, latency_ms) = if to_canary {
            (
                &mut window.canary,
                traffic.canary_error_rate,
                traffic.canary_latency_ms,
            )
        } else {
            (
                &mut window.stable,
                traffic.stable_error_rate,
                traffic.stable_latency_ms,
            )
        };
        let failed = rng.random::<f64>() < rate;
        let micros = (latency_ms * 1000.0 * (0.5 + rng.random::<f64>())).round() as u64;
        record(side, failed, micros);
    }
    window
}

fn record(stats: &mut ServerStats, failed: bool, micros: u64) {
    stats.requests += 1;
    if failed {
        stats.server_errors += 1;
    }
    stats.latency_sum += Duration::from_micros(micros);
    let bucket = LATENCY_BUCKETS_MICROS
        .iter()
        .position(|&bound| micros <= bound)
        .unwrap_or(LATENCY_BUCKETS_MICROS.len());
    if let Some(b) = stats.latency_buckets.get_mut(bucket) {
        *b += 1;
    }
}

/// `30s`, `1.5s`.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    let text = format!("{s:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}s")
}

fn line(rollout: &Rollout, e: &Entry) -> String {
    let s = &e.status;
    let share = rollout
        .share(s.step)
        .map_or(String::new(), |p| format!("{p}%"));
    let mut out = format!("t={} ", seconds(e.at));
    match s.state {
        State::Progressing => {
            let _ = write!(out, "step {} ({share})", s.step);
        }
        State::Holding => {
            let _ = write!(out, "holding step {} ({share})", s.step);
            match s.reason {
                Reason::AnalysisFailed => {
                    let _ = write!(
                        out,
                        ", failure {} of {}",
                        s.failures, rollout.analysis.failures
                    );
                }
                Reason::TooFewRequests => out.push_str(", too few requests"),
                Reason::AwaitingPromotion => out.push_str(", awaiting promotion"),
                _ => {}
            }
        }
        other => out.push_str(other.as_str()),
    }
    match &e.judged {
        Some(j) => {
            let _ = write!(out, ": {j}");
        }
        None => {
            let weights: Vec<String> = e.weights.iter().map(|(n, w)| format!("{n}={w}")).collect();
            let _ = write!(out, ": weights {}", weights.join(" "));
        }
    }
    out
}

fn ms(d: Option<Duration>) -> Value {
    d.map_or(Value::Null, |d| {
        json!((d.as_secs_f64() * 1e6).round() / 1e3)
    })
}

fn side(s: &splitway::rollout::Sample) -> Value {
    json!({"requests": s.requests, "errors": s.errors, "p99_ms": ms(s.p99)})
}

fn to_json(rollout: &Rollout, traffic: &Traffic, entries: &[Entry]) -> Value {
    let timeline: Vec<Value> = entries
        .iter()
        .map(|e| {
            let s = &e.status;
            let weights: serde_json::Map<String, Value> = e
                .weights
                .iter()
                .map(|(n, w)| (n.clone(), json!(w)))
                .collect();
            let analysis = e.judged.as_ref().map_or(Value::Null, |j| {
                json!({
                    "canary": side(&j.canary),
                    "stable": side(&j.stable),
                    "lower_bound": j.lower_bound,
                    "verdict": j.verdict.as_str(),
                    "summary": j.to_string(),
                })
            });
            json!({
                "t_seconds": e.at.as_secs_f64(),
                "state": s.state.as_str(),
                "step": s.step,
                "share": s.share(rollout),
                "effective_share": (e.effective_share * 1000.0).round() / 1000.0,
                "weights": weights,
                "reason": s.reason.as_str(),
                "failures": s.failures,
                "analysis": analysis,
            })
        })
        .collect();
    let last = entries.last().map(|e| &e.status);
    json!({
        "backend": rollout.backend,
        "canary": rollout.canary,
        "steps": rollout.steps,
        "seed": traffic.seed,
        "rps": traffic.rps,
        "timeline": timeline,
        "end": {
            "state": last.map(|s| s.state.as_str()),
            "step": last.map(|s| s.step),
            "t_seconds": entries.last().map(|e| e.at.as_secs_f64()),
        },
    })
}
