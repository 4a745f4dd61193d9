//! Request metrics through the `metrics` facade, with fixed names and labels (a contract:
//! dashboards and the fleet rollouts' Prometheus queries read them):
//!
//! - `splitway_requests_total{backend, server, status_class}` (counter; `status_class` is
//!   `1xx` to `5xx`): every response, by the server chosen. A 503 for a backend with no server
//!   available has an empty `server`; a 404 (no route) empty `backend` and `server`, and so
//!   has a response given before any decision ([`crate::Router::record_unrouted`]).
//! - `splitway_request_duration_seconds{backend, server}` (histogram): the time from
//!   [`crate::Exchange::begin`] to the response head, for requests that reached a server. Its
//!   buckets are set by the recorder the application installs: give it
//!   [`LATENCY_BUCKETS_SECONDS`] (e.g. `metrics-exporter-prometheus`'s
//!   `PrometheusBuilder::set_buckets_for_metric(Matcher::Full(DURATION_METRIC.into()),
//!   &LATENCY_BUCKETS_SECONDS)`), so that `histogram_quantile` over it and splitway's own
//!   per-server p99 (from [`crate::stats`]' buckets, the same bounds) agree.
//! - `splitway_route_requests_total{route, status_class}` (counter): every response, by the
//!   frontend matched (empty `route` for a 404 and for a response given before any decision).
//!
//! Labels name servers, backends and routes only, never anything from the request, so the
//! number of series is bounded by the configuration. The handles are registered once, on the
//! first response of each series (which is when the series appears; for the servers of a
//! backend that a rollout drives, the `2xx` and `5xx` series of `splitway_requests_total`
//! appear at 0 when the table loads, so that `increase()` sees their first answers), and kept beside the
//! server's counters and in the table, so recording costs a few atomic adds and no lookup.
//! A library must not own a recorder: the application installs one before serving, since
//! handles registered before that stay no-ops.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, Histogram};

use crate::stats::LATENCY_BUCKETS_MICROS;

/// `splitway_requests_total`.
pub const REQUESTS_METRIC: &str = "splitway_requests_total";
/// `splitway_request_duration_seconds`.
pub const DURATION_METRIC: &str = "splitway_request_duration_seconds";
/// `splitway_route_requests_total`.
pub const ROUTE_REQUESTS_METRIC: &str = "splitway_route_requests_total";

/// The upper bounds of `splitway_request_duration_seconds`' buckets, in seconds: the bounds
/// of [`LATENCY_BUCKETS_MICROS`].
pub const LATENCY_BUCKETS_SECONDS: [f64; LATENCY_BUCKETS_MICROS.len()] = {
    let mut out = [0.0; LATENCY_BUCKETS_MICROS.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = LATENCY_BUCKETS_MICROS[i] as f64 / 1_000_000.0;
        i += 1;
    }
    out
};

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The index in [`CLASSES`] of a status code's class (codes outside 100-599 count with the
/// nearest class).
fn class(status: u16) -> usize {
    usize::from(status / 100).clamp(1, 5) - 1
}

/// One counter per status class, each registered on its first response.
#[derive(Debug, Default)]
pub(crate) struct ClassCounters([OnceLock<Counter>; 5]);

impl ClassCounters {
    fn count(&self, status: u16, name: &'static str, labels: &[(&'static str, &str)]) {
        if let Some(counter) = self.counter(status, name, labels) {
            counter.increment(1);
        }
    }

    /// The counter of `status`' class, registered if it was not.
    fn counter(
        &self,
        status: u16,
        name: &'static str,
        labels: &[(&'static str, &str)],
    ) -> Option<&Counter> {
        let class = class(status);
        let (Some(cell), Some(&class_name)) = (self.0.get(class), CLASSES.get(class)) else {
            return None;
        };
        Some(cell.get_or_init(|| {
            let mut all: Vec<(&'static str, String)> =
                labels.iter().map(|&(k, v)| (k, v.to_owned())).collect();
            all.push(("status_class", class_name.to_owned()));
            let counter = metrics::counter!(name, &all);
            // A counter appears in the exposition once it has a value.
            counter.increment(0);
            counter
        }))
    }
}

impl ServerMetrics {
    /// Registers the server's `2xx` and `5xx` series of `splitway_requests_total` at zero
    /// (a rollout's backend does when its table loads): `increase()` over a series that
    /// appears with its first failure sees nothing of it, so a canary's first 5xx would be
    /// missed by the fleet rollouts' queries.
    pub(crate) fn register_at_zero(&self, backend: &str, server: &str) {
        let labels = [("backend", backend), ("server", server)];
        for status in [200, 500] {
            let _ = self.requests.counter(status, REQUESTS_METRIC, &labels);
        }
    }
}

/// The metrics of one server, each series registered on its first response.
#[derive(Debug, Default)]
pub(crate) struct ServerMetrics {
    requests: ClassCounters,
    duration: OnceLock<Histogram>,
}

/// Counts a response from server `server` of backend `backend` and records its latency.
pub(crate) fn server_response(
    m: &ServerMetrics,
    backend: &str,
    server: &str,
    status: u16,
    elapsed: Duration,
) {
    let labels = [("backend", backend), ("server", server)];
    m.requests.count(status, REQUESTS_METRIC, &labels);
    m.duration
        .get_or_init(|| {
            metrics::histogram!(
                DURATION_METRIC,
                "backend" => backend.to_owned(),
                "server" => server.to_owned()
            )
        })
        .record(elapsed.as_secs_f64());
}

/// Counts a response that reached no server: `backend` is empty for a 404.
pub(crate) fn unserved_response(c: &ClassCounters, backend: &str, status: u16) {
    c.count(
        status,
        REQUESTS_METRIC,
        &[("backend", backend), ("server", "")],
    );
}

/// Counts a response by the route it took (empty for a 404).
pub(crate) fn route_response(c: &ClassCounters, route: &str, status: u16) {
    c.count(status, ROUTE_REQUESTS_METRIC, &[("route", route)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_bounds_in_seconds_are_the_micros_ones() {
        for (s, us) in LATENCY_BUCKETS_SECONDS.iter().zip(LATENCY_BUCKETS_MICROS) {
            assert!((s * 1e6 - us as f64).abs() < 1e-6, "{s} vs {us}");
        }
        assert_eq!(class(99), 0);
        assert_eq!(class(204), 1);
        assert_eq!(class(503), 4);
        assert_eq!(class(999), 4);
    }
}
