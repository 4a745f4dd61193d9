//! One interval's analysis: is the canary as healthy as the stable servers beside it?
//!
//! The input is a [`Window`]: the canary's counters and the stable servers' (summed) over the
//! same interval, as differences of [`ServerStats`] snapshots. The checks, each of which fails
//! the analysis on its own:
//!
//! 1. Fewer than `min_requests` canary requests: nothing is judged ([`Verdict::TooFewRequests`]).
//! 2. **Absolute**: the canary's 5xx share `x₁/n₁` above `max_error_rate`.
//! 3. **Relative**: the lower bound of the one-sided Newcombe (hybrid Wilson score) interval
//!    for `p₁ − p₂` at `confidence` above `max_error_rate_increase`. With `z` the standard
//!    normal quantile of `confidence` and `[lᵢ, uᵢ]` the Wilson score interval of `xᵢ/nᵢ`
//!    at that `z`, the bound is `p₁ − p₂ − √((p₁ − l₁)² + (u₂ − p₂)²)` (Newcombe 1998,
//!    method 10). It is skipped when the stable servers answered nothing in the interval.
//!    Canary 3/100 against stable 0/1000 at 0.99 gives 0.0079; 1/100 against 0/1000 gives
//!    −0.0002.
//! 4. **Latency**: p99s from the latency buckets ([`crate::stats::LATENCY_BUCKETS_MICROS`]) by
//!    linear interpolation inside the bucket that holds the rank, as Prometheus'
//!    `histogram_quantile` does (the first bucket starts at 0; a rank in the last, unbounded
//!    bucket gives the largest bound). The canary's p99 above `max_latency_p99` fails, and
//!    above `max_latency_ratio` times the stable servers' p99 fails (skipped without stable
//!    traffic).
//!
//! The normal quantile is Acklam's rational approximation refined by one Halley step on
//! `libm`'s `erfc` (error below 1e-15 over the range used).

use std::fmt;
use std::time::Duration;

use super::Analysis;
use crate::stats::{LATENCY_BUCKETS_MICROS, ServerStats};

/// What one interval saw: the canary's counters and the stable servers' (summed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Window {
    /// The canary server's counters over the interval.
    pub canary: ServerStats,
    /// The stable servers' counters over the interval, summed.
    pub stable: ServerStats,
}

/// One side of an analysis.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sample {
    /// Requests answered in the interval.
    pub requests: u64,
    /// Of those, 5xx answers (failed connections included).
    pub errors: u64,
    /// The 99th percentile latency, when there were requests.
    pub p99: Option<Duration>,
}

impl Sample {
    fn of(stats: &ServerStats) -> Sample {
        Sample {
            requests: stats.requests,
            errors: stats.server_errors,
            p99: quantile(0.99, stats),
        }
    }

    /// The 5xx share (0 without requests).
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }
}

/// The outcome of an analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every check held.
    Pass,
    /// At least one check failed.
    Fail,
    /// Too few canary requests to judge.
    TooFewRequests,
}

impl Verdict {
    /// The bare word: `pass`, `fail`, `too_few_requests`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::TooFewRequests => "too_few_requests",
        }
    }
}

/// One check that failed, with the figures that decided it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Failure {
    /// The canary's 5xx share above `max_error_rate`.
    ErrorRate {
        /// The canary's share.
        rate: f64,
        /// The threshold.
        max: f64,
    },
    /// The lower confidence bound of the difference above `max_error_rate_increase`.
    ErrorRateIncrease {
        /// The lower bound.
        lower_bound: f64,
        /// The threshold.
        max: f64,
    },
    /// The canary's p99 above `max_latency_p99`.
    LatencyP99 {
        /// The canary's p99.
        p99: Duration,
        /// The threshold.
        max: Duration,
    },
    /// The canary's p99 above `max_latency_ratio` times the stable servers'.
    LatencyRatio {
        /// Canary p99 / stable p99.
        ratio: f64,
        /// The threshold.
        max: f64,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::ErrorRate { rate, max } => {
                write!(f, "5xx rate {:.1}% > {:.1}%", rate * 100.0, max * 100.0)
            }
            Failure::ErrorRateIncrease { lower_bound, max } => {
                write!(f, "lower bound {lower_bound:.4} > {max}")
            }
            Failure::LatencyP99 { p99, max } => write!(f, "p99 {} > {}", ms(*p99), ms(*max)),
            Failure::LatencyRatio { ratio, max } => {
                write!(f, "p99 {ratio:.2}x stable's > {max}x")
            }
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0}ms", d.as_secs_f64() * 1000.0)
}

/// An analysis: both sides' figures, the relative test's bound and the verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The canary's figures.
    pub canary: Sample,
    /// The stable servers' figures.
    pub stable: Sample,
    /// The Newcombe lower bound of `canary rate − stable rate` (none without traffic on
    /// either side).
    pub lower_bound: Option<f64>,
    /// The outcome.
    pub verdict: Verdict,
    /// The checks that failed, in the order of the module doc.
    pub failures: Vec<Failure>,
}

impl fmt::Display for Judgement {
    /// `canary 4.1% 5xx vs stable 0.2%, lower bound 0.0210 > 0.005` (the figures, then each
    /// failed check).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.verdict == Verdict::TooFewRequests {
            return write!(f, "only {} canary requests", self.canary.requests);
        }
        write!(
            f,
            "canary {:.1}% 5xx vs stable {:.1}%",
            self.canary.error_rate() * 100.0,
            self.stable.error_rate() * 100.0
        )?;
        let mut bound_shown = false;
        for failure in &self.failures {
            if matches!(failure, Failure::ErrorRateIncrease { .. }) {
                bound_shown = true;
            }
            write!(f, ", {failure}")?;
        }
        if !bound_shown && let Some(lb) = self.lower_bound {
            write!(f, ", lower bound {lb:.4}")?;
        }
        Ok(())
    }
}

/// Judges one interval against `analysis`.
pub fn judge(analysis: &Analysis, window: &Window) -> Judgement {
    judge_samples(
        analysis,
        Sample::of(&window.canary),
        Sample::of(&window.stable),
    )
}

/// Judges one interval from figures already reduced to requests, 5xx and p99 on each side
/// (what a Prometheus query answers).
pub fn judge_samples(analysis: &Analysis, canary: Sample, stable: Sample) -> Judgement {
    let lower_bound = newcombe_lower_bound(
        canary.errors,
        canary.requests,
        stable.errors,
        stable.requests,
        analysis.confidence,
    );
    let mut judgement = Judgement {
        canary,
        stable,
        lower_bound,
        verdict: Verdict::Pass,
        failures: Vec::new(),
    };
    if canary.requests < analysis.min_requests || canary.requests == 0 {
        judgement.verdict = Verdict::TooFewRequests;
        return judgement;
    }
    let failures = &mut judgement.failures;
    let rate = canary.error_rate();
    if rate > analysis.max_error_rate {
        failures.push(Failure::ErrorRate {
            rate,
            max: analysis.max_error_rate,
        });
    }
    if let Some(lb) = lower_bound
        && lb > analysis.max_error_rate_increase
    {
        failures.push(Failure::ErrorRateIncrease {
            lower_bound: lb,
            max: analysis.max_error_rate_increase,
        });
    }
    if let (Some(max), Some(p99)) = (analysis.max_latency_p99, canary.p99)
        && p99 > max
    {
        failures.push(Failure::LatencyP99 { p99, max });
    }
    if let (Some(max), Some(c), Some(s)) = (analysis.max_latency_ratio, canary.p99, stable.p99)
        && !s.is_zero()
    {
        let ratio = c.as_secs_f64() / s.as_secs_f64();
        if ratio > max {
            failures.push(Failure::LatencyRatio { ratio, max });
        }
    }
    if !judgement.failures.is_empty() {
        judgement.verdict = Verdict::Fail;
    }
    judgement
}

/// The `q` quantile (0 < q ≤ 1) of the latencies in `stats`, by linear interpolation inside
/// the bucket that holds rank `q × count`, as Prometheus' `histogram_quantile` computes it;
/// `None` without requests.
pub fn quantile(q: f64, stats: &ServerStats) -> Option<Duration> {
    let total: u64 = stats.latency_buckets.iter().sum();
    if total == 0 || q.is_nan() || q <= 0.0 || q > 1.0 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    let mut lower = 0u64;
    for (i, &count) in stats.latency_buckets.iter().enumerate() {
        let Some(&upper) = LATENCY_BUCKETS_MICROS.get(i) else {
            // The unbounded last bucket: its lower bound is the best figure there is.
            return Some(Duration::from_micros(lower));
        };
        let cumulative = below + count;
        if cumulative as f64 >= rank && count > 0 {
            let within = (rank - below as f64) / count as f64;
            let micros = lower as f64 + (upper - lower) as f64 * within;
            return Some(Duration::from_secs_f64(micros / 1e6));
        }
        below = cumulative;
        lower = upper;
    }
    Some(Duration::from_micros(lower))
}

/// The Wilson score interval of `x` successes in `n` trials at normal quantile `z`.
fn wilson(x: u64, n: u64, z: f64) -> (f64, f64) {
    let n = n as f64;
    let p = x as f64 / n;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = z * libm::sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denominator;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The lower bound of the one-sided Newcombe (hybrid Wilson score) interval for
/// `x1/n1 − x2/n2` at `confidence`; `None` when either side has no trials.
pub fn newcombe_lower_bound(x1: u64, n1: u64, x2: u64, n2: u64, confidence: f64) -> Option<f64> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let z = normal_quantile(confidence);
    let p1 = x1.min(n1) as f64 / n1 as f64;
    let p2 = x2.min(n2) as f64 / n2 as f64;
    let (l1, _) = wilson(x1.min(n1), n1, z);
    let (_, u2) = wilson(x2.min(n2), n2, z);
    Some(p1 - p2 - libm::sqrt((p1 - l1).powi(2) + (u2 - p2).powi(2)))
}

/// The standard normal quantile of `p` (0 < p < 1): Acklam's approximation, refined by one
/// Halley step.
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.02425;
    if p.is_nan() || p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < P_LOW {
        tail(libm::sqrt(-2.0 * libm::log(p)))
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail(libm::sqrt(-2.0 * libm::log(1.0 - p)))
    };
    let e = 0.5 * libm::erfc(-x / std::f64::consts::SQRT_2) - p;
    let u = e * libm::sqrt(2.0 * std::f64::consts::PI) * libm::exp(x * x / 2.0);
    x - u / (1.0 + x * u / 2.0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantiles_match_the_tables() {
        for (p, z) in [
            (0.5, 0.0),
            (0.95, 1.644_853_626_951_472_2),
            (0.99, 2.326_347_874_040_841),
            (0.999, 3.090_232_306_167_813_5),
            (0.01, -2.326_347_874_040_841),
        ] {
            assert!((normal_quantile(p) - z).abs() < 1e-12, "{p}");
        }
    }

    #[test]
    fn newcombe_vectors_of_the_issue() {
        // Computed independently with Python's statistics.NormalDist and the same formula:
        // 0.007898467652457261 and -0.0001659007757052952.
        let fails = newcombe_lower_bound(3, 100, 0, 1000, 0.99).unwrap();
        assert!((fails - 0.007_898_467_652_457).abs() < 1e-12, "{fails}");
        let passes = newcombe_lower_bound(1, 100, 0, 1000, 0.99).unwrap();
        assert!((passes - -0.000_165_900_775_705).abs() < 1e-12, "{passes}");
        assert_eq!(newcombe_lower_bound(1, 0, 0, 10, 0.99), None);
    }

    fn one_bucket(bucket: usize, count: u64) -> ServerStats {
        let mut s = ServerStats {
            requests: count,
            ..ServerStats::default()
        };
        s.latency_buckets[bucket] = count;
        s
    }

    #[test]
    fn quantile_interpolates_inside_the_bucket() {
        // 100 answers in (25 ms, 50 ms]: rank 99 of 100 is 99% of the way through.
        let s = one_bucket(8, 100);
        assert_eq!(quantile(0.99, &s), Some(Duration::from_micros(49_750)));
        // First bucket starts at 0.
        assert_eq!(
            quantile(0.5, &one_bucket(0, 10)),
            Some(Duration::from_micros(50))
        );
        // The unbounded bucket gives the largest bound.
        assert_eq!(
            quantile(0.99, &one_bucket(16, 5)),
            Some(Duration::from_secs(10))
        );
        assert_eq!(quantile(0.99, &ServerStats::default()), None);
        // Two buckets: 90 in (1, 2.5] ms, 10 in (2.5, 5] ms; rank 99 is 9 of 10 into the second.
        let mut two = one_bucket(4, 90);
        two.latency_buckets[5] = 10;
        assert_eq!(quantile(0.99, &two), Some(Duration::from_micros(4_750)));
    }
}
