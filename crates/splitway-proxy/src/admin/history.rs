//! `GET /stats/history`: what each server did, second by second, over the last five minutes.
//!
//! A [`History`] is plain data with the clock passed in: [`History::record`] is given the time
//! and every server's cumulative counters (one read of the table, [`splitway::Router::servers`])
//! and keeps, per server,
//!
//! - at most [`SAMPLES`] samples (a ring: the oldest goes when a new one comes), each the
//!   requests, 5xx answers and p99 latency between two records; recorded once a second, that
//!   is the last five minutes;
//! - the cumulative counters of the last [`WINDOW_SECONDS`]` + 1` records, so that the last
//!   minute's requests, errors, p50 and p99 come from the difference of two snapshots of the
//!   latency buckets ([`splitway::rollout::judge::quantile`]: linear interpolation inside the
//!   bucket, as the rollouts' p99 and Prometheus' `histogram_quantile`).
//!
//! Memory is bounded by the number of servers: a server that leaves the table leaves the
//! history at the next record, and each one holds at most [`SAMPLES`] samples and
//! [`WINDOW_SECONDS`]` + 1` snapshots (about 25 KiB).
//!
//! A server whose counters went backwards (it left the table and came back, or changed URL)
//! starts its window again; its samples stay.

use std::collections::{HashMap, VecDeque};
use std::fmt::{self, Write};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use splitway::ServerStats;
use splitway::rollout::judge::quantile;
use splitway::stats::LATENCY_BUCKETS_MICROS;

/// Samples kept per server: five minutes at one a second.
pub const SAMPLES: usize = 300;

/// The window of `last_60s`, in records (seconds when recorded once a second).
pub const WINDOW_SECONDS: usize = 60;

/// What one server did between two records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// When the later of the two records was taken.
    pub at: SystemTime,
    /// Responses recorded in between.
    pub requests: u64,
    /// Of those, 5xx answers.
    pub errors: u64,
    /// Their p99 latency; `None` without requests.
    pub p99: Option<Duration>,
}

/// One server's counters over the window: the last [`WINDOW_SECONDS`] records, or fewer
/// while the history is younger than that.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// The time the window covers (between its oldest and newest record).
    pub span: Duration,
    /// Responses in the window.
    pub requests: u64,
    /// Of those, 5xx answers.
    pub errors: u64,
    /// Their median latency; `None` without requests.
    pub p50: Option<Duration>,
    /// Their p99 latency; `None` without requests.
    pub p99: Option<Duration>,
}

/// The counters a window needs from one record: without the latency sum, so that a server's
/// snapshots stay small.
#[derive(Debug, Clone, Copy)]
struct Mark {
    at: SystemTime,
    requests: u64,
    errors: u64,
    buckets: [u64; LATENCY_BUCKETS_MICROS.len() + 1],
}

impl Mark {
    fn of(at: SystemTime, stats: &ServerStats) -> Mark {
        Mark {
            at,
            requests: stats.requests,
            errors: stats.server_errors,
            buckets: stats.latency_buckets,
        }
    }

    /// The counts recorded from `earlier` to this mark (saturating at 0).
    fn since(&self, earlier: &Mark) -> ServerStats {
        let mut latency_buckets = self.buckets;
        for (b, e) in latency_buckets.iter_mut().zip(&earlier.buckets) {
            *b = b.saturating_sub(*e);
        }
        ServerStats {
            requests: self.requests.saturating_sub(earlier.requests),
            server_errors: self.errors.saturating_sub(earlier.errors),
            latency_sum: Duration::ZERO,
            latency_buckets,
        }
    }
}

/// One server's samples and window.
#[derive(Debug)]
struct Track {
    backend: String,
    server: String,
    samples: VecDeque<Sample>,
    /// Oldest first; at most `WINDOW_SECONDS + 1`.
    marks: VecDeque<Mark>,
}

impl Track {
    fn new(backend: &str, server: &str) -> Track {
        Track {
            backend: backend.to_owned(),
            server: server.to_owned(),
            samples: VecDeque::with_capacity(SAMPLES),
            marks: VecDeque::with_capacity(WINDOW_SECONDS + 1),
        }
    }

    fn record(&mut self, now: SystemTime, stats: &ServerStats) {
        let mark = Mark::of(now, stats);
        if let Some(last) = self.marks.back() {
            if mark.requests < last.requests || mark.errors < last.errors {
                // New counters (the server came back, or has a new URL): a new window.
                self.marks.clear();
            } else {
                let delta = mark.since(last);
                if self.samples.len() == SAMPLES {
                    self.samples.pop_front();
                }
                self.samples.push_back(Sample {
                    at: now,
                    requests: delta.requests,
                    errors: delta.server_errors,
                    p99: quantile(0.99, &delta),
                });
            }
        }
        if self.marks.len() == WINDOW_SECONDS + 1 {
            self.marks.pop_front();
        }
        self.marks.push_back(mark);
    }

    fn window(&self) -> Window {
        let (Some(first), Some(last)) = (self.marks.front(), self.marks.back()) else {
            return Window {
                span: Duration::ZERO,
                requests: 0,
                errors: 0,
                p50: None,
                p99: None,
            };
        };
        let delta = last.since(first);
        Window {
            span: last.at.duration_since(first.at).unwrap_or_default(),
            requests: delta.requests,
            errors: delta.server_errors,
            p50: quantile(0.5, &delta),
            p99: quantile(0.99, &delta),
        }
    }
}

/// Every server's samples and last-minute window (module documentation).
#[derive(Debug, Default)]
pub struct History {
    /// In the order of the last record's servers.
    tracks: Vec<Track>,
    last_record: Option<SystemTime>,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Records every server's cumulative counters at `now`: `(backend, server, counters)` in
    /// table order. Servers not given are forgotten; new ones start with no sample (their
    /// first record is the baseline of the next).
    pub fn record<'a>(
        &mut self,
        now: SystemTime,
        servers: impl IntoIterator<Item = (&'a str, &'a str, &'a ServerStats)>,
    ) {
        // Usually the same servers in the same order as last time: matched in step, and
        // by name only from the first difference on.
        let mut previous = std::mem::take(&mut self.tracks).into_iter();
        let mut by_name: Option<HashMap<(String, String), Track>> = None;
        for (backend, server, stats) in servers {
            let found = match &mut by_name {
                None => match previous.next() {
                    Some(t) if t.backend == backend && t.server == server => Some(t),
                    other => {
                        let map = by_name.insert(
                            other
                                .into_iter()
                                .chain(previous.by_ref())
                                .map(|t| ((t.backend.clone(), t.server.clone()), t))
                                .collect(),
                        );
                        map.remove(&(backend.to_owned(), server.to_owned()))
                    }
                },
                Some(map) => map.remove(&(backend.to_owned(), server.to_owned())),
            };
            let mut track = found.unwrap_or_else(|| Track::new(backend, server));
            track.record(now, stats);
            self.tracks.push(track);
        }
        self.last_record = Some(now);
    }

    /// The samples of one server, oldest first; `None` for a server not in the last record.
    pub fn samples(&self, backend: &str, server: &str) -> Option<impl Iterator<Item = &Sample>> {
        self.track(backend, server).map(|t| t.samples.iter())
    }

    /// The last-minute window of one server; `None` for a server not in the last record.
    pub fn last_60s(&self, backend: &str, server: &str) -> Option<Window> {
        self.track(backend, server).map(Track::window)
    }

    /// The number of servers in the last record.
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    /// Whether no server was recorded yet (or the last record had none).
    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    fn track(&self, backend: &str, server: &str) -> Option<&Track> {
        self.tracks
            .iter()
            .find(|t| t.backend == backend && t.server == server)
    }

    /// The `/stats/history` document (the crate's README gives its shape):
    /// `{"interval_ms", "capacity", "window_seconds", "sampled_at", "servers": [{"backend",
    /// "server", "samples": [{"at", "requests", "errors", "p99_ms"}...], "last_60s":
    /// {"seconds", "requests", "errors", "p50_ms", "p99_ms"}}...]}`.
    ///
    /// Written straight into the text rather than through a `serde_json::Value` per sample:
    /// a thousand servers are 300,000 samples.
    pub fn to_json(&self, interval: Duration) -> String {
        let mut out = String::with_capacity(256 + self.tracks.len() * SAMPLES * 80);
        let _ = write!(
            out,
            "{{\"interval_ms\":{},\"capacity\":{SAMPLES},\"window_seconds\":{WINDOW_SECONDS},\
             \"sampled_at\":",
            interval.as_millis()
        );
        match self.last_record {
            Some(at) => {
                let _ = write!(out, "\"{}\"", humantime::format_rfc3339_millis(at));
            }
            None => out.push_str("null"),
        }
        out.push_str(",\"servers\":[");
        for (i, t) in self.tracks.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"backend\":{},\"server\":{},\"samples\":[",
                Value::from(t.backend.as_str()),
                Value::from(t.server.as_str())
            );
            for (j, s) in t.samples.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                let _ = write!(
                    out,
                    "{{\"at\":\"{}\",\"requests\":{},\"errors\":{},\"p99_ms\":{}}}",
                    humantime::format_rfc3339_millis(s.at),
                    s.requests,
                    s.errors,
                    Millis(s.p99)
                );
            }
            let w = t.window();
            let _ = write!(
                out,
                "],\"last_60s\":{{\"seconds\":{},\"requests\":{},\"errors\":{},\
                 \"p50_ms\":{},\"p99_ms\":{}}}}}",
                Value::from(w.span.as_secs_f64()),
                w.requests,
                w.errors,
                Millis(w.p50),
                Millis(w.p99)
            );
        }
        out.push_str("]}\n");
        out
    }
}

/// A latency in milliseconds as JSON: a number, or `null` for none.
struct Millis(Option<Duration>);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            // Through serde_json, so the number reads back as the same f64.
            Some(d) => write!(f, "{}", Value::from(d.as_nanos() as f64 / 1e6)),
            None => f.write_str("null"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A manual clock: `t(s)` is `s` seconds after a fixed instant.
    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
    }

    /// Cumulative counters: `requests`, `errors`, all latencies in bucket `bucket`.
    fn stats(requests: u64, errors: u64, bucket: usize) -> ServerStats {
        let mut s = ServerStats {
            requests,
            server_errors: errors,
            ..ServerStats::default()
        };
        s.latency_buckets[bucket] = requests;
        s
    }

    fn record_one(h: &mut History, at: SystemTime, s: &ServerStats) {
        h.record(at, [("web", "k8s", s)]);
    }

    #[test]
    fn a_sample_is_the_difference_of_two_records() {
        let mut h = History::new();
        record_one(&mut h, t(0), &stats(10, 1, 3));
        assert_eq!(h.samples("web", "k8s").unwrap().count(), 0);
        record_one(&mut h, t(1), &stats(30, 4, 3));
        let samples: Vec<Sample> = h.samples("web", "k8s").unwrap().copied().collect();
        assert_eq!(samples.len(), 1);
        assert_eq!(
            (samples[0].at, samples[0].requests, samples[0].errors),
            (t(1), 20, 3)
        );
        // All 20 in the bucket (500 µs, 1 ms]: rank 19.8 of 20 interpolates to 995 µs.
        assert_eq!(samples[0].p99, Some(Duration::from_micros(995)));
        // A second with no traffic: a sample of zeros and no p99.
        record_one(&mut h, t(2), &stats(30, 4, 3));
        let last = *h.samples("web", "k8s").unwrap().last().unwrap();
        assert_eq!((last.requests, last.errors, last.p99), (0, 0, None));
        assert!(h.samples("web", "legacy_1").is_none());
    }

    #[test]
    fn the_ring_keeps_the_last_300_samples() {
        let mut h = History::new();
        for s in 0..=400u64 {
            record_one(&mut h, t(s), &stats(s * 2, 0, 0));
        }
        let samples: Vec<Sample> = h.samples("web", "k8s").unwrap().copied().collect();
        assert_eq!(samples.len(), SAMPLES);
        assert_eq!(samples.first().unwrap().at, t(101));
        assert_eq!(samples.last().unwrap().at, t(400));
        assert!(samples.iter().all(|s| s.requests == 2));
    }

    #[test]
    fn last_60s_is_the_difference_over_the_last_60_records() {
        let mut h = History::new();
        // Requests 1 a second in bucket 3 for 100 s, then 10 a second in bucket 5 for 30 s.
        let mut cumulative = ServerStats::default();
        for s in 0..=130u64 {
            if s > 0 {
                let (n, bucket) = if s <= 100 { (1, 3) } else { (10, 5) };
                cumulative.requests += n;
                cumulative.server_errors += u64::from(s % 10 == 0);
                cumulative.latency_buckets[bucket] += n;
            }
            record_one(&mut h, t(s), &cumulative);
        }
        let w = h.last_60s("web", "k8s").unwrap();
        // Seconds 71 to 130: 30 × 1 + 30 × 10 requests; errors at 80, 90, ..., 130.
        assert_eq!(w.span, Duration::from_secs(60));
        assert_eq!((w.requests, w.errors), (330, 6));
        // 30 in (0.5 ms, 1 ms] and 300 in (2.5 ms, 5 ms]. p50: rank 165, the 135th of the
        // 300; p99: rank 326.7, the 296.7th.
        let micros = |d: Option<Duration>| d.unwrap().as_secs_f64() * 1e6;
        let p50 = micros(w.p50);
        assert!(
            (p50 - (2_500.0 + 2_500.0 * 135.0 / 300.0)).abs() < 1e-3,
            "{p50}"
        );
        let p99 = micros(w.p99);
        assert!(
            (p99 - (2_500.0 + 2_500.0 * 296.7 / 300.0)).abs() < 1e-3,
            "{p99}"
        );
    }

    #[test]
    fn a_young_history_has_a_shorter_window() {
        let mut h = History::new();
        record_one(&mut h, t(0), &stats(0, 0, 0));
        assert_eq!(
            h.last_60s("web", "k8s").unwrap(),
            Window {
                span: Duration::ZERO,
                requests: 0,
                errors: 0,
                p50: None,
                p99: None
            }
        );
        record_one(&mut h, t(5), &stats(7, 2, 0));
        let w = h.last_60s("web", "k8s").unwrap();
        assert_eq!(
            (w.span, w.requests, w.errors),
            (Duration::from_secs(5), 7, 2)
        );
    }

    #[test]
    fn servers_that_leave_are_forgotten_and_restarted_counters_start_a_new_window() {
        let mut h = History::new();
        let a = stats(100, 0, 0);
        h.record(t(0), [("web", "a", &a), ("web", "b", &a)]);
        h.record(t(1), [("web", "a", &stats(110, 0, 0))]);
        assert_eq!(h.len(), 1);
        assert!(h.samples("web", "b").is_none());
        // `a`'s counters restart: no sample from the drop, and the window starts anew.
        h.record(t(2), [("web", "a", &stats(3, 0, 0))]);
        assert_eq!(h.samples("web", "a").unwrap().count(), 1);
        assert_eq!(h.last_60s("web", "a").unwrap().requests, 0);
        h.record(t(3), [("web", "a", &stats(8, 0, 0))]);
        assert_eq!(h.last_60s("web", "a").unwrap().requests, 5);
        assert_eq!(h.samples("web", "a").unwrap().last().unwrap().requests, 5);
    }

    #[test]
    fn a_thousand_servers_keep_300_samples_each() {
        let names: Vec<String> = (0..1_000).map(|i| format!("s{i}")).collect();
        let mut h = History::new();
        let mut counters = vec![ServerStats::default(); names.len()];
        for s in 0..=(SAMPLES as u64 + 50) {
            for (i, c) in counters.iter_mut().enumerate() {
                c.requests += i as u64 % 7;
                c.latency_buckets[i % 17] += i as u64 % 7;
            }
            h.record(
                t(s),
                names
                    .iter()
                    .zip(&counters)
                    .map(|(n, c)| ("big", n.as_str(), c)),
            );
        }
        assert_eq!(h.len(), 1_000);
        for (i, n) in names.iter().enumerate() {
            assert_eq!(h.samples("big", n).unwrap().count(), SAMPLES, "{n}");
            let marks = h.track("big", n).unwrap().marks.len();
            assert_eq!(marks, WINDOW_SECONDS + 1, "{n}");
            assert_eq!(
                h.last_60s("big", n).unwrap().requests,
                60 * (i as u64 % 7),
                "{n}"
            );
        }
        // The document says the same: 1,000 servers of 300 samples (counted in the text: a
        // parse of 20 MB takes long in a debug build).
        let text = h.to_json(Duration::from_secs(1));
        assert_eq!(text.matches("\"samples\":[").count(), 1_000);
        assert_eq!(text.matches("{\"at\":").count(), 1_000 * SAMPLES);
    }

    #[test]
    fn the_json_has_the_documented_shape() {
        let mut h = History::new();
        record_one(&mut h, t(0), &stats(0, 0, 0));
        record_one(&mut h, t(1), &stats(4, 1, 0));
        let v: Value = serde_json::from_str(&h.to_json(Duration::from_secs(1))).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "interval_ms": 1000,
                "capacity": 300,
                "window_seconds": 60,
                "sampled_at": "2027-01-15T08:00:01.000Z",
                "servers": [{
                    "backend": "web",
                    "server": "k8s",
                    "samples": [{
                        "at": "2027-01-15T08:00:01.000Z",
                        "requests": 4,
                        "errors": 1,
                        "p99_ms": 0.099,
                    }],
                    "last_60s": {
                        "seconds": 1.0,
                        "requests": 4,
                        "errors": 1,
                        "p50_ms": 0.05,
                        "p99_ms": 0.099,
                    },
                }],
            })
        );
    }
}
