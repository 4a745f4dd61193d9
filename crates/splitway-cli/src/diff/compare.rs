//! Replaying one list of requests through two routers and counting what moves: plain data
//! and a pure function over two fresh routers (their round-robin positions start equal).

use std::collections::HashMap;

use splitway::config::HashKey;
use splitway::{RequestView, Router};

use super::requests::Replay;

/// A server, as `(backend, server)`.
pub(crate) type ServerId = (String, String);

/// What one request got from one router.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    route: Option<String>,
    server: Option<ServerId>,
}

/// Counts by name, in the order names were first seen.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counts(pub(crate) Vec<(String, usize)>);

impl Counts {
    fn add(&mut self, name: &str) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some((_, c)) => *c += 1,
            None => self.0.push((name.to_owned(), 1)),
        }
    }

    /// The total of all counts.
    pub(crate) fn total(&self) -> usize {
        self.0.iter().map(|(_, c)| c).sum()
    }
}

/// One route's requests before and after (`None`: no route).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteRow {
    pub(crate) route: Option<String>,
    pub(crate) before: usize,
    pub(crate) after: usize,
}

/// Requests that went from one route to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Move {
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
    pub(crate) requests: usize,
}

/// One backend's requests by server, before and after.
#[derive(Debug, Clone)]
pub(crate) struct BackendRow {
    pub(crate) backend: String,
    pub(crate) before: Counts,
    pub(crate) after: Counts,
}

/// Users (cohort key values) whose server changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Users {
    /// Users seen on a cohort backend.
    pub(crate) total: usize,
    /// Users whose server changed.
    pub(crate) moved: usize,
    /// Moved onto the canary.
    pub(crate) to_canary: usize,
    /// Moved off the canary.
    pub(crate) from_canary: usize,
    /// Moved from one non-canary server to another.
    pub(crate) between_stable: usize,
}

/// Everything `diff` reports.
#[derive(Debug, Clone)]
pub(crate) struct Diff {
    pub(crate) requests: usize,
    pub(crate) routes: Vec<RouteRow>,
    pub(crate) moves: Vec<Move>,
    pub(crate) backends: Vec<BackendRow>,
    /// Requests whose route or server changed.
    pub(crate) moved_requests: usize,
    /// Requests routed before and not after.
    pub(crate) lost: usize,
    /// Requests not routed before and routed after.
    pub(crate) gained: usize,
    pub(crate) users: Users,
}

/// What the users of a cohort are keyed on, and which backends are cohorts.
pub(crate) struct Cohorts<'a> {
    /// The keys, in the order looked up.
    pub(crate) keys: &'a [HashKey],
    /// Backends (of either config) that choose by cohort hash.
    pub(crate) backends: &'a [String],
    /// The canary server, if one is named.
    pub(crate) canary: Option<&'a ServerId>,
}

/// Replays `requests` in order through `old` and `new`.
pub(crate) fn diff(old: &Router, new: &Router, requests: &[Replay], cohorts: &Cohorts<'_>) -> Diff {
    let mut routes: Vec<RouteRow> = Vec::new();
    let mut moves: Vec<Move> = Vec::new();
    let mut backends: Vec<BackendRow> = Vec::new();
    let mut moved_requests = 0;
    let (mut lost, mut gained) = (0, 0);
    // user -> (server before, server after), each the first cohort server the user got.
    let mut users: HashMap<String, (Option<ServerId>, Option<ServerId>)> = HashMap::new();
    for r in requests {
        let view = RequestView::from_request(&r.request, r.client_ip);
        let before = outcome(old, &view);
        let after = outcome(new, &view);
        count_route(&mut routes, &before.route, false);
        count_route(&mut routes, &after.route, true);
        if before.route != after.route {
            match moves
                .iter_mut()
                .find(|m| m.from == before.route && m.to == after.route)
            {
                Some(m) => m.requests += 1,
                None => moves.push(Move {
                    from: before.route.clone(),
                    to: after.route.clone(),
                    requests: 1,
                }),
            }
        }
        match (&before.route, &after.route) {
            (Some(_), None) => lost += 1,
            (None, Some(_)) => gained += 1,
            _ => {}
        }
        if before != after {
            moved_requests += 1;
        }
        if let Some((b, s)) = &before.server {
            count_server(&mut backends, b, s, false);
        }
        if let Some((b, s)) = &after.server {
            count_server(&mut backends, b, s, true);
        }
        if let Some(user) = user_key(&view, cohorts.keys) {
            let on_cohort = |o: &Outcome| {
                o.server
                    .clone()
                    .filter(|(b, _)| cohorts.backends.contains(b))
            };
            let (b, a) = (on_cohort(&before), on_cohort(&after));
            if b.is_some() || a.is_some() {
                let slot = users.entry(user).or_default();
                if slot.0.is_none() {
                    slot.0 = b;
                }
                if slot.1.is_none() {
                    slot.1 = a;
                }
            }
        }
    }
    let mut u = Users {
        total: users.len(),
        ..Users::default()
    };
    for (before, after) in users.values() {
        if before == after {
            continue;
        }
        u.moved += 1;
        let is_canary =
            |s: &Option<ServerId>| cohorts.canary.is_some_and(|c| s.as_ref() == Some(c));
        match (is_canary(before), is_canary(after)) {
            (false, true) => u.to_canary += 1,
            (true, false) => u.from_canary += 1,
            _ => u.between_stable += 1,
        }
    }
    Diff {
        requests: requests.len(),
        routes,
        moves,
        backends,
        moved_requests,
        lost,
        gained,
        users: u,
    }
}

fn outcome(router: &Router, view: &RequestView<'_>) -> Outcome {
    let d = router.route(view);
    Outcome {
        route: d.route().map(str::to_owned),
        server: match (d.backend(), d.server()) {
            (Some(b), Some(s)) => Some((b.to_owned(), s.name().to_owned())),
            _ => None,
        },
    }
}

/// Counts one request of `route`, before or after.
fn count_route(routes: &mut Vec<RouteRow>, route: &Option<String>, after: bool) {
    let (b, a) = (usize::from(!after), usize::from(after));
    match routes.iter_mut().find(|r| r.route == *route) {
        Some(r) => {
            r.before += b;
            r.after += a;
        }
        None => routes.push(RouteRow {
            route: route.clone(),
            before: b,
            after: a,
        }),
    }
}

/// Counts one request of `server` of `backend`, before or after.
fn count_server(rows: &mut Vec<BackendRow>, backend: &str, server: &str, after: bool) {
    let r = match rows.iter_mut().find(|r| r.backend == backend) {
        Some(r) => r,
        None => {
            rows.push(BackendRow {
                backend: backend.to_owned(),
                before: Counts::default(),
                after: Counts::default(),
            });
            match rows.last_mut() {
                Some(r) => r,
                None => return,
            }
        }
    };
    if after {
        r.after.add(server)
    } else {
        r.before.add(server)
    }
}

/// The request's user: the value of the first cohort key it has, as `KIND:NAME=VALUE`.
fn user_key(view: &RequestView<'_>, keys: &[HashKey]) -> Option<String> {
    keys.iter().find_map(|k| match k {
        HashKey::Cookie(name) => view
            .cookies(name)
            .next()
            .map(|v| format!("cookie:{name}={v}")),
        HashKey::Header(name) => view
            .headers()
            .get(name)
            .map(|v| format!("header:{name}={}", String::from_utf8_lossy(v.as_bytes()))),
        HashKey::Query(name) => view
            .query_values(name)
            .next()
            .map(|v| format!("query:{name}={}", String::from_utf8_lossy(&v))),
        HashKey::ClientIp => view.client_ip().map(|ip| format!("client_ip={ip}")),
        // A key kind this command does not know yet: no user.
        _ => None,
    })
}
