//! Request metrics through the `metrics` facade.
//!
//! - `splitway_requests_total` (counter): labels `route`, `backend`, `server`, `status_class`
//!   (`1xx` to `5xx`). Requests the integration answers itself have empty `server` (503) or
//!   empty `route`, `backend` and `server` (404).
//! - `splitway_request_duration_seconds` (histogram): labels `route`, `backend`, `server`;
//!   time from [`crate::Exchange::begin`] to the response head.
//!
//! The tower layer and the proxy record through [`crate::Exchange::finish`] with the same
//! names.
//!
//! Registering a metric builds its key (label strings and all), which would cost allocations
//! on every request; the handles are therefore registered once per (route, backend, server)
//! and kept in a map that requests read without a lock. A library must not own a recorder:
//! the application installs one (e.g. `metrics-exporter-prometheus`) before serving, since
//! handles registered before that stay no-ops.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use metrics::{Counter, Histogram};

/// Metric handles for one (route, backend, server).
#[derive(Debug)]
struct Handles {
    /// Indexed by status class: 1xx … 5xx.
    requests: [Counter; 5],
    duration: Histogram,
}

type Servers = HashMap<Box<str>, Arc<Handles>>;
type Backends = HashMap<Box<str>, Servers>;
type Routes = HashMap<Box<str>, Backends>;

/// Records requests through the `metrics` facade, with the handles cached per (route, backend,
/// server). Cheap to clone; an integration keeps one and hands it to [`crate::Exchange::finish`].
///
/// - `splitway_requests_total` (counter): labels `route`, `backend`, `server`, `status_class`
///   (`1xx` to `5xx`); empty `server` for a 503 without a server, all three empty for a 404.
/// - `splitway_request_duration_seconds` (histogram): labels `route`, `backend`, `server`.
///
/// Nothing is recorded until the application installs a recorder (handles registered before
/// that stay no-ops).
#[derive(Debug, Clone, Default)]
pub struct Telemetry {
    cache: Arc<ArcSwap<Routes>>,
}

impl Telemetry {
    /// Counts one response: `status` is what the client got, `elapsed` the time to its head.
    /// Empty names for what a decision did not reach (see the module docs).
    pub fn record(&self, route: &str, backend: &str, server: &str, status: u16, elapsed: Duration) {
        let handles = self.handles(route, backend, server);
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        if let Some(c) = handles.requests.get(class) {
            c.increment(1);
        }
        handles.duration.record(elapsed.as_secs_f64());
    }

    fn handles(&self, route: &str, backend: &str, server: &str) -> Arc<Handles> {
        let cached = self
            .cache
            .load()
            .get(route)
            .and_then(|b| b.get(backend))
            .and_then(|s| s.get(server))
            .cloned();
        if let Some(h) = cached {
            return h;
        }
        let fresh = Arc::new(register(route, backend, server));
        self.cache.rcu(|routes| {
            let mut routes = Routes::clone(routes);
            routes
                .entry(route.into())
                .or_default()
                .entry(backend.into())
                .or_default()
                .entry(server.into())
                .or_insert_with(|| Arc::clone(&fresh));
            routes
        });
        fresh
    }
}

fn register(route: &str, backend: &str, server: &str) -> Handles {
    let labels = |class: &'static str| {
        [
            ("route", route.to_owned()),
            ("backend", backend.to_owned()),
            ("server", server.to_owned()),
            ("status_class", class.to_owned()),
        ]
    };
    Handles {
        requests: ["1xx", "2xx", "3xx", "4xx", "5xx"]
            .map(|class| metrics::counter!("splitway_requests_total", &labels(class))),
        duration: metrics::histogram!(
            "splitway_request_duration_seconds",
            "route" => route.to_owned(),
            "backend" => backend.to_owned(),
            "server" => server.to_owned()
        ),
    }
}
