//! Outcome counters per server: requests, server errors and a latency histogram, kept in
//! atomics beside the server's health so that recording never takes a lock and the counts
//! survive a reload (for a server that keeps its backend, name and URL).
//!
//! Whoever forwards the request records its outcome (an integration through
//! [`crate::Exchange::finish`], which calls [`crate::Decision::record`]); a rollout controller
//! or an admin endpoint reads every server's state at once with [`crate::Router::servers`],
//! which gives a [`ServerSnapshot`] per server, all from one table.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in microseconds (a last bucket holds the rest). A
/// contract: `splitway_request_duration_seconds`' buckets are these (see
/// [`crate::telemetry::LATENCY_BUCKETS_SECONDS`]), and the fleet's Prometheus queries and the
/// per-server p99 both interpolate inside them. The steps below 1 ms are for answers on a
/// local network or loopback.
pub const LATENCY_BUCKETS_MICROS: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// The live counters of one server.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    server_errors: AtomicU64,
    latency_sum_micros: AtomicU64,
    /// One more than the bounds: the last counts everything above the largest bound.
    latency: [AtomicU64; LATENCY_BUCKETS_MICROS.len() + 1],
}

impl Counters {
    /// Counts one response with this status, answered after `elapsed`.
    pub(crate) fn record(&self, status: u16, elapsed: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if (500..600).contains(&status) {
            self.server_errors.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
        let bucket = LATENCY_BUCKETS_MICROS
            .iter()
            .position(|&bound| micros <= bound)
            .unwrap_or(LATENCY_BUCKETS_MICROS.len());
        if let Some(b) = self.latency.get(bucket) {
            b.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A copy of the counts (each counter read on its own: a snapshot taken while requests
    /// complete may be off by the few requests in flight).
    pub(crate) fn snapshot(&self) -> ServerStats {
        let mut latency_buckets = [0u64; LATENCY_BUCKETS_MICROS.len() + 1];
        for (out, b) in latency_buckets.iter_mut().zip(&self.latency) {
            *out = b.load(Ordering::Relaxed);
        }
        ServerStats {
            requests: self.requests.load(Ordering::Relaxed),
            server_errors: self.server_errors.load(Ordering::Relaxed),
            latency_sum: Duration::from_micros(self.latency_sum_micros.load(Ordering::Relaxed)),
            latency_buckets,
        }
    }
}

/// The counts of one server since it first appeared in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerStats {
    /// Responses recorded.
    pub requests: u64,
    /// Of those, responses with a 5xx status.
    pub server_errors: u64,
    /// Sum of the recorded latencies (microsecond resolution).
    pub latency_sum: Duration,
    /// Responses per latency bucket: `latency_buckets[i]` counts latencies up to
    /// `LATENCY_BUCKETS_MICROS[i]` (and above the previous bound); the last entry counts those
    /// above the largest bound. Not cumulative.
    pub latency_buckets: [u64; LATENCY_BUCKETS_MICROS.len() + 1],
}

impl ServerStats {
    /// The share of responses that were 5xx (0 when there were none).
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.server_errors as f64 / self.requests as f64
        }
    }

    /// The counts recorded since `earlier`, a snapshot of the same server taken before
    /// (saturating at 0, so a counter that restarted gives 0 rather than wrapping).
    pub fn since(&self, earlier: &ServerStats) -> ServerStats {
        let mut latency_buckets = self.latency_buckets;
        for (b, e) in latency_buckets.iter_mut().zip(&earlier.latency_buckets) {
            *b = b.saturating_sub(*e);
        }
        ServerStats {
            requests: self.requests.saturating_sub(earlier.requests),
            server_errors: self.server_errors.saturating_sub(earlier.server_errors),
            latency_sum: self.latency_sum.saturating_sub(earlier.latency_sum),
            latency_buckets,
        }
    }

    /// The counts of this server and `other` together (saturating).
    pub fn plus(&self, other: &ServerStats) -> ServerStats {
        let mut latency_buckets = self.latency_buckets;
        for (b, o) in latency_buckets.iter_mut().zip(&other.latency_buckets) {
            *b = b.saturating_add(*o);
        }
        ServerStats {
            requests: self.requests.saturating_add(other.requests),
            server_errors: self.server_errors.saturating_add(other.server_errors),
            latency_sum: self.latency_sum.saturating_add(other.latency_sum),
            latency_buckets,
        }
    }
}

/// One server as the table in service has it: where it is, its weight and health, and its
/// counters, all read from the same table (so they agree even while a reload swaps tables).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ServerSnapshot {
    /// The backend's name.
    pub backend: String,
    /// The server's name, unique in its backend.
    pub server: String,
    /// Its URL as written in the configuration.
    pub url: String,
    /// Its weight in the table in service (0: drained).
    pub weight: u32,
    /// Whether it is up (health checks and admin marks set this).
    pub healthy: bool,
    /// Its outcome counters.
    pub stats: ServerStats,
}

impl ServerSnapshot {
    /// The JSON object of this server in [`stats_json`]: `backend`, `server`, `requests`, `errors` (5xx), `error_rate`,
    /// `latency_sum_ms`, `weight`, `healthy`, `latency_buckets` (non-cumulative counts per
    /// bucket of [`LATENCY_BUCKETS_MICROS`], plus one above the last).
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "backend": self.backend,
            "server": self.server,
            "requests": self.stats.requests,
            "errors": self.stats.server_errors,
            "error_rate": self.stats.error_rate(),
            "latency_sum_ms": self.stats.latency_sum.as_secs_f64() * 1000.0,
            "weight": self.weight,
            "healthy": self.healthy,
            "latency_buckets": self.stats.latency_buckets.to_vec(),
        })
    }
}

/// The `/stats` document for `servers`, as the proxy's admin listener and the examples'
/// admin endpoints print it (one shape for both; fields are a contract: added, never renamed): `{"servers": [...], "latency_bucket_bounds_ms":
/// [...]}`, each server an object with `backend`, `server`, `requests`, `errors` (5xx),
/// `error_rate`, `latency_sum_ms`, `weight`, `healthy` and `latency_buckets` (non-cumulative
/// counts per bucket of [`LATENCY_BUCKETS_MICROS`], plus one above the last); and the upper bounds of the
/// latency buckets in milliseconds (the last bucket, above them all, has no bound).
pub fn stats_json(servers: &[ServerSnapshot]) -> String {
    let bounds: Vec<f64> = LATENCY_BUCKETS_MICROS
        .iter()
        .map(|&us| us as f64 / 1000.0)
        .collect();
    let servers: Vec<serde_json::Value> = servers.iter().map(ServerSnapshot::to_json).collect();
    format!(
        "{}\n",
        serde_json::json!({ "servers": servers, "latency_bucket_bounds_ms": bounds })
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_fall_in_the_right_buckets() {
        let c = Counters::default();
        c.record(200, Duration::from_micros(1_000)); // bucket 3 (bound inclusive)
        c.record(503, Duration::from_micros(1_001)); // bucket 4
        c.record(404, Duration::from_secs(11)); // last bucket
        let s = c.snapshot();
        assert_eq!((s.requests, s.server_errors), (3, 1));
        assert_eq!(s.latency_buckets[3], 1);
        assert_eq!(s.latency_buckets[4], 1);
        assert_eq!(s.latency_buckets[16], 1);
        assert_eq!(s.latency_buckets.iter().sum::<u64>(), 3);
        assert_eq!(s.latency_sum, Duration::from_micros(11_002_001));
        assert!((s.error_rate() - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn since_and_plus_are_per_counter() {
        let c = Counters::default();
        c.record(200, Duration::from_micros(1_000));
        let before = c.snapshot();
        c.record(500, Duration::from_micros(3_000));
        c.record(200, Duration::from_micros(3_000));
        let d = c.snapshot().since(&before);
        assert_eq!((d.requests, d.server_errors), (2, 1));
        assert_eq!(d.latency_buckets[3], 0);
        assert_eq!(d.latency_buckets[5], 2);
        assert_eq!(d.latency_sum, Duration::from_micros(6_000));
        assert_eq!(before.since(&c.snapshot()), ServerStats::default());
        let sum = d.plus(&before);
        assert_eq!(sum, c.snapshot());
    }
}
