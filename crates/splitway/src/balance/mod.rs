//! Choosing a server inside a backend: smooth weighted round robin, weighted random, sticky
//! cookies, user cohorts; skipping servers that are down or drained.
//!
//! The order of questions for one request:
//!
//! 1. `sticky`: does the request's cookie name a server of this backend that is up? Go there
//!    (even if it is drained to weight 0, except in a backend a rollout drives, where a
//!    drained server's cookie counts as unknown), and set nothing, unless the cookie was in
//!    Traefik 1.7's form, which is then rewritten.
//! 2. `hash`: does the request carry the cohort key? The rendezvous hash of it picks among the
//!    servers that are up and have a weight. Without a key, `issue_cookie` makes one up and
//!    sets it as a cookie; otherwise fall through.
//! 3. `wrr` or `random` over the servers that are up and have a weight.
//!
//! Per-server mutable state (health) lives in atomics that the next table inherits when a
//! server keeps its backend, name and URL, so a pick never takes a lock and a reload forgets
//! nothing.

mod cohort;
mod sticky;
mod wrr;

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arc_swap::ArcSwapOption;
use rand::RngExt;

use crate::config::{Backend, Balance, HashKey};
use crate::request::RequestView;
use crate::stats::Counters;
use crate::telemetry::ServerMetrics;

pub(crate) use wrr::SmoothWrr;

/// Max-Age of a cohort id cookie issued by `issue_cookie`: one year, so that a user keeps
/// their side of the release across visits.
pub(crate) const ISSUED_COOKIE_MAX_AGE: u32 = 365 * 24 * 3600;

/// Mutable state of one server, shared across table generations.
#[derive(Debug)]
pub(crate) struct ServerState {
    healthy: AtomicBool,
    /// Outcome counters (recorded by whoever forwards the request).
    pub(crate) counters: Counters,
    /// Its request metrics, registered on its first response.
    pub(crate) metrics: ServerMetrics,
}

impl Default for ServerState {
    fn default() -> Self {
        ServerState {
            healthy: AtomicBool::new(true),
            counters: Counters::default(),
            metrics: ServerMetrics::default(),
        }
    }
}

impl ServerState {
    #[inline]
    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }
}

/// The result of one pick.
#[derive(Debug, Default)]
pub(crate) struct Pick {
    /// The server's index in its backend; `None` when none can take the request (503).
    pub(crate) server: Option<usize>,
    /// The whole `Set-Cookie` value the response must carry, if any.
    pub(crate) set_cookie: Option<Box<str>>,
}

/// One server's standing for one cohort key (see [`Balancer::cohort_scores`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CohortScore {
    pub(crate) server: usize,
    pub(crate) eligible: bool,
    pub(crate) score: f64,
    pub(crate) takeover_weight: Option<u32>,
}

/// Server choice for one backend of one table.
#[derive(Debug)]
pub(crate) struct Balancer {
    weights: Vec<u32>,
    states: Vec<Arc<ServerState>>,
    method: Balance,
    sticky: Option<sticky::StickyCookie>,
    cohort: Option<Cohort>,
    /// Bumped on every health change, so the round robin rebuilds its cycle.
    health_epoch: AtomicU64,
    /// The round robin over the servers that were up when the table was built: the one in use
    /// while no health change has happened since (epoch 0), which is the common case, so a
    /// pick costs one `fetch_add` and no pointer load.
    built: SmoothWrr,
    /// The round robin rebuilt after health changes, with the epoch it was built for.
    rebuilt: ArcSwapOption<WrrCycle>,
    /// A rollout drives this backend: a server it drained (weight 0) loses its sticky
    /// clients, so a rollback or a promotion moves them too.
    drained_lose_sticky: bool,
}

#[derive(Debug)]
struct Cohort {
    key: HashKey,
    issue_cookie: bool,
    seeds: Vec<u64>,
}

#[derive(Debug)]
struct WrrCycle {
    epoch: u64,
    wrr: SmoothWrr,
}

impl Balancer {
    /// A balancer for `backend`, with the servers' shared state (one per server, in order);
    /// `in_rollout` when a rollout drives it (drained servers then lose their sticky clients).
    pub(crate) fn new(backend: &Backend, states: Vec<Arc<ServerState>>, in_rollout: bool) -> Self {
        let weights: Vec<u32> = backend.servers.iter().map(|s| s.weight).collect();
        let sticky = backend.sticky.as_ref().map(|settings| {
            sticky::StickyCookie::new(settings, backend.servers.iter().map(|s| s.url.as_str()))
        });
        let cohort = backend.hash.as_ref().map(|h| Cohort {
            key: h.key.clone(),
            issue_cookie: h.issue_cookie,
            seeds: backend
                .servers
                .iter()
                .map(|s| cohort::server_seed(&h.seed, &s.name))
                .collect(),
        });
        let built = SmoothWrr::new(&masked(&weights, &states));
        Balancer {
            weights,
            states,
            method: backend.balance,
            sticky,
            cohort,
            health_epoch: AtomicU64::new(0),
            built,
            rebuilt: ArcSwapOption::empty(),
            drained_lose_sticky: in_rollout,
        }
    }

    /// The shared state of server `i`.
    pub(crate) fn state(&self, i: usize) -> Option<&Arc<ServerState>> {
        self.states.get(i)
    }

    /// Marks server `i` up or down. Returns whether it changed.
    pub(crate) fn set_healthy(&self, i: usize, healthy: bool) -> bool {
        let Some(state) = self.states.get(i) else {
            return false;
        };
        let changed = state.healthy.swap(healthy, Ordering::AcqRel) != healthy;
        if changed {
            self.health_epoch.fetch_add(1, Ordering::AcqRel);
        }
        changed
    }

    #[inline]
    fn is_healthy(&self, i: usize) -> bool {
        self.states.get(i).is_some_and(|s| s.is_healthy())
    }

    /// Whether a sticky cookie naming server `i` is honoured: it is up, and, in a rollout's
    /// backend, not drained.
    #[inline]
    fn keeps_sticky(&self, i: usize) -> bool {
        self.is_healthy(i)
            && (!self.drained_lose_sticky || self.weights.get(i).is_some_and(|&w| w > 0))
    }

    /// Up and with a weight: may take new users.
    #[inline]
    fn is_eligible(&self, i: usize) -> bool {
        self.weights.get(i).is_some_and(|&w| w > 0) && self.is_healthy(i)
    }

    /// Chooses a server for `req`.
    pub(crate) fn pick(&self, req: &RequestView<'_>) -> Pick {
        if let Some(sticky) = &self.sticky {
            for value in req.cookies(sticky.name()) {
                match sticky.lookup(value) {
                    Some(sticky::Named::Current(i)) if self.keeps_sticky(i) => {
                        return Pick {
                            server: Some(i),
                            set_cookie: None,
                        };
                    }
                    Some(sticky::Named::Legacy(i)) if self.keeps_sticky(i) => {
                        return Pick {
                            server: Some(i),
                            set_cookie: sticky.set_cookie(i).map(String::into_boxed_str),
                        };
                    }
                    _ => {}
                }
            }
        }
        let mut pick = Pick::default();
        if let Some(cohort) = &self.cohort {
            if let Some(key) = cohort_key(&cohort.key, req) {
                pick.server = self.rendezvous(cohort, &key);
                return pick;
            }
            if let HashKey::Cookie(name) = &cohort.key
                && cohort.issue_cookie
            {
                let id = new_id();
                pick.server = self.rendezvous(cohort, id.as_bytes());
                pick.set_cookie = Some(
                    format!("{name}={id}; Path=/; Max-Age={ISSUED_COOKIE_MAX_AGE}; SameSite=Lax")
                        .into_boxed_str(),
                );
                return pick;
            }
        }
        pick.server = match (self.weights.len(), self.method) {
            // One server (a canary backend, usually): nothing to take turns on.
            (1, _) => self.is_eligible(0).then_some(0),
            (_, Balance::Wrr) => self.pick_wrr(),
            (_, Balance::Random) => self.pick_random(),
        };
        if let (Some(sticky), Some(i)) = (&self.sticky, pick.server) {
            pick.set_cookie = sticky.set_cookie(i).map(String::into_boxed_str);
        }
        pick
    }

    /// Smooth WRR over the servers that are up; the cycle is rebuilt after a health change.
    fn pick_wrr(&self) -> Option<usize> {
        for _ in 0..4 {
            let epoch = self.health_epoch.load(Ordering::Acquire);
            let picked = if epoch == 0 {
                self.built.pick()
            } else {
                let cycle = match self.rebuilt.load_full() {
                    Some(cycle) if cycle.epoch == epoch => cycle,
                    _ => {
                        let cycle = Arc::new(WrrCycle {
                            epoch,
                            wrr: SmoothWrr::new(&masked(&self.weights, &self.states)),
                        });
                        self.rebuilt.store(Some(Arc::clone(&cycle)));
                        cycle
                    }
                };
                cycle.wrr.pick()
            };
            match picked {
                None => return None,
                Some(i) if self.is_healthy(i) => return Some(i),
                // Marked down since the cycle was built: go round with the new epoch.
                Some(_) => {}
            }
        }
        (0..self.weights.len()).find(|&i| self.is_eligible(i))
    }

    /// Weighted random over the servers that are up.
    fn pick_random(&self) -> Option<usize> {
        let total: u64 = (0..self.weights.len())
            .filter(|&i| self.is_eligible(i))
            .map(|i| u64::from(self.weights.get(i).copied().unwrap_or(0)))
            .sum();
        if total == 0 {
            return None;
        }
        let mut r = rand::rng().random_range(0..total);
        for (i, &w) in self.weights.iter().enumerate() {
            if !self.is_eligible(i) {
                continue;
            }
            let w = u64::from(w);
            if r < w {
                return Some(i);
            }
            r -= w;
        }
        None
    }

    fn rendezvous(&self, cohort: &Cohort, key: &[u8]) -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        for (i, (&seed, &w)) in cohort.seeds.iter().zip(&self.weights).enumerate() {
            if !self.is_eligible(i) {
                continue;
            }
            let s = cohort::score(w, cohort::factor(key, seed));
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((i, s));
            }
        }
        best.map(|(i, _)| i)
    }

    /// For a hash backend and a request that carries the key: every server's score and the
    /// weight at which each non-chosen server would take this user over.
    pub(crate) fn cohort_scores(&self, req: &RequestView<'_>) -> Option<Vec<CohortScore>> {
        let cohort = self.cohort.as_ref()?;
        let key = cohort_key(&cohort.key, req)?;
        let chosen = self.rendezvous(cohort, &key);
        let factors: Vec<f64> = cohort
            .seeds
            .iter()
            .map(|&seed| cohort::factor(&key, seed))
            .collect();
        let best =
            chosen.and_then(|c| Some(cohort::score(*self.weights.get(c)?, *factors.get(c)?)));
        Some(
            factors
                .iter()
                .zip(&self.weights)
                .enumerate()
                .map(|(i, (&f, &w))| CohortScore {
                    server: i,
                    eligible: self.is_eligible(i),
                    score: cohort::score(w, f),
                    takeover_weight: match best {
                        Some(b) if chosen != Some(i) && self.is_healthy(i) => {
                            cohort::takeover_weight(b, f, crate::config::MAX_WEIGHT)
                        }
                        _ => None,
                    },
                })
                .collect(),
        )
    }
}

/// Weights with the servers that are down set to 0.
fn masked(weights: &[u32], states: &[Arc<ServerState>]) -> Vec<u32> {
    weights
        .iter()
        .zip(states)
        .map(|(&w, s)| if s.is_healthy() { w } else { 0 })
        .collect()
}

/// The bytes of a cohort key value, borrowed from the request where possible; an address is
/// kept inline, so reading a key never allocates unless a query value needs decoding.
enum KeyBytes<'r> {
    Text(Cow<'r, [u8]>),
    Ip([u8; 16], usize),
}

impl std::ops::Deref for KeyBytes<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            KeyBytes::Text(t) => t,
            KeyBytes::Ip(octets, len) => octets.get(..*len).unwrap_or(&[]),
        }
    }
}

/// The cohort key's value in this request, as the bytes that are hashed.
fn cohort_key<'r>(key: &HashKey, req: &'r RequestView<'_>) -> Option<KeyBytes<'r>> {
    match key {
        HashKey::Cookie(name) => req
            .cookies(name)
            .find(|v| !v.is_empty())
            .map(|v| KeyBytes::Text(Cow::Borrowed(v.as_bytes()))),
        HashKey::Header(name) => req
            .headers()
            .get(name)
            .map(|v| v.as_bytes())
            .filter(|v| !v.is_empty())
            .map(|v| KeyBytes::Text(Cow::Borrowed(v))),
        HashKey::Query(name) => req
            .query_values(name)
            .next()
            .filter(|v| !v.is_empty())
            .map(KeyBytes::Text),
        HashKey::ClientIp => req.client_ip().map(|ip| {
            let mut octets = [0u8; 16];
            match ip {
                std::net::IpAddr::V4(v4) => {
                    octets[..4].copy_from_slice(&v4.octets());
                    KeyBytes::Ip(octets, 4)
                }
                std::net::IpAddr::V6(v6) => KeyBytes::Ip(v6.octets(), 16),
            }
        }),
    }
}

/// A fresh random id for `issue_cookie`: 128 bits as 32 lowercase hex digits.
fn new_id() -> String {
    let n: u128 = rand::rng().random();
    format!("{n:032x}")
}

#[cfg(test)]
mod tests;
