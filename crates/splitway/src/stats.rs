//! Outcome counters per server: requests, server errors and a latency histogram, kept in
//! atomics beside the server's health so that recording never takes a lock and the counts
//! survive a reload (for a server that keeps its backend, name and URL).
//!
//! Whoever forwards the request records its outcome with [`crate::Decision::record`]; a
//! rollout controller reads them with [`crate::Router::stats`] to decide whether a canary is
//! healthy enough to go on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in microseconds (a last bucket holds the rest).
pub const LATENCY_BUCKETS_MICROS: [u64; 13] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_fall_in_the_right_buckets() {
        let c = Counters::default();
        c.record(200, Duration::from_micros(1_000)); // bucket 0 (bound inclusive)
        c.record(503, Duration::from_micros(1_001)); // bucket 1
        c.record(404, Duration::from_secs(11)); // last bucket
        let s = c.snapshot();
        assert_eq!((s.requests, s.server_errors), (3, 1));
        assert_eq!(s.latency_buckets[0], 1);
        assert_eq!(s.latency_buckets[1], 1);
        assert_eq!(s.latency_buckets[13], 1);
        assert_eq!(s.latency_buckets.iter().sum::<u64>(), 3);
        assert_eq!(s.latency_sum, Duration::from_micros(11_002_001));
        assert!((s.error_rate() - 1.0 / 3.0).abs() < 1e-12);
    }
}
