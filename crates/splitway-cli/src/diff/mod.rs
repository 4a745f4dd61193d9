//! `splitway diff OLD NEW`: replays the same requests through both configurations (two fresh
//! routers) and reports what moves: routes, each backend's server shares, and the cohort
//! users that change server (`to_canary`, `from_canary`, `between_stable`). `--fail-on`
//! turns a condition into exit code 1, for CI.

mod compare;
mod requests;

use std::path::PathBuf;

use clap::Args;
use serde_json::{Map, Value, json};
use splitway::Router;
use splitway::config::Config;

use crate::Fail;
use crate::request::usage;
use compare::{Cohorts, Counts, Diff, ServerId};

/// `diff` arguments.
#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// The configuration in service.
    old: PathBuf,
    /// The configuration to deploy.
    new: PathBuf,
    /// Requests to replay: JSON Lines (`{"method","url","headers":[[name,value]...],
    /// "client_ip"}`) or a Combined Log Format access log. Without it, requests are generated
    /// from the hosts, paths, headers and cookies the two configurations mention.
    #[arg(long, value_name = "FILE")]
    requests: Option<PathBuf>,
    /// The Host of access-log requests (their lines do not carry it).
    #[arg(long, value_name = "HOST")]
    host: Option<String>,
    /// Users (cohort key values) in generated requests.
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// Seed of the generated user ids (`user-SEED-I`): the same seed, the same requests.
    #[arg(long, default_value = "0")]
    seed: String,
    /// The canary server, `BACKEND/SERVER`, for the users moved to or from it.
    #[arg(long, value_name = "BACKEND/SERVER")]
    canary: Option<String>,
    /// Exit 1 when this holds: `from-canary`, `unrouted`, `moved-requests:PCT`,
    /// `moved-users:PCT` (repeatable).
    #[arg(long = "fail-on", value_name = "CONDITION")]
    fail_on: Vec<String>,
    /// Print JSON (the documented fields).
    #[arg(long)]
    json: bool,
}

/// A `--fail-on` condition.
#[derive(Debug, Clone, PartialEq)]
enum Condition {
    FromCanary,
    Unrouted,
    MovedRequests(f64),
    MovedUsers(f64),
}

impl Condition {
    fn parse(text: &str) -> Option<Condition> {
        let pct = |v: &str| {
            v.trim_end_matches('%')
                .parse::<f64>()
                .ok()
                .filter(|p| (0.0..=100.0).contains(p))
        };
        match text.split_once(':') {
            None if text == "from-canary" => Some(Condition::FromCanary),
            None if text == "unrouted" => Some(Condition::Unrouted),
            Some(("moved-requests", v)) => pct(v).map(Condition::MovedRequests),
            Some(("moved-users", v)) => pct(v).map(Condition::MovedUsers),
            _ => None,
        }
    }

    /// Whether it holds: users moved off the canary; requests that lose their route; more
    /// than PCT percent of requests (or cohort users) on another route or server.
    fn holds(&self, d: &Diff) -> bool {
        let pct = |n: usize, of: usize| {
            if of == 0 {
                0.0
            } else {
                n as f64 * 100.0 / of as f64
            }
        };
        match self {
            Condition::FromCanary => d.users.from_canary > 0,
            Condition::Unrouted => d.lost > 0,
            Condition::MovedRequests(p) => pct(d.moved_requests, d.requests) > *p,
            Condition::MovedUsers(p) => pct(d.users.moved, d.users.total) > *p,
        }
    }
}

/// Loads, replays, reports; `Ok(false)` when a `--fail-on` condition holds.
pub(crate) fn run(args: &DiffArgs) -> Result<bool, Fail> {
    let conditions: Vec<(String, Condition)> = args
        .fail_on
        .iter()
        .map(|c| {
            Condition::parse(c).map(|p| (c.clone(), p)).ok_or_else(|| {
                usage(&format!(
                    "--fail-on `{c}`: expected from-canary, unrouted, moved-requests:PCT or moved-users:PCT"
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    let old = load(&args.old)?;
    let new = load(&args.new)?;
    let canary = match &args.canary {
        Some(text) => Some(parse_canary(text)?),
        None => rollout_canary(&new).or_else(|| rollout_canary(&old)),
    };
    let replays = match &args.requests {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| usage(&format!("cannot read {}: {e}", path.display())))?;
            requests::read(&text, &path.display().to_string(), args.host.as_deref()).map_err(
                |e| {
                    eprintln!("{e}");
                    Fail
                },
            )?
        }
        None => requests::generate(&[&old, &new], args.users, &args.seed).map_err(|e| usage(&e))?,
    };
    let keys = requests::hash_keys(&[&new, &old]);
    let cohort_backends: Vec<String> = old
        .backends
        .iter()
        .chain(&new.backends)
        .filter(|b| b.hash.is_some())
        .map(|b| b.name.clone())
        .collect();
    let old_router = router(&old, &args.old)?;
    let new_router = router(&new, &args.new)?;
    let cohorts = Cohorts {
        keys: &keys,
        backends: &cohort_backends,
        canary: canary.as_ref(),
    };
    let d = compare::diff(&old_router, &new_router, &replays, &cohorts);
    let failed: Vec<&str> = conditions
        .iter()
        .filter(|(_, c)| c.holds(&d))
        .map(|(t, _)| t.as_str())
        .collect();
    if args.json {
        println!("{}", to_json(&d, canary.as_ref(), &failed));
    } else {
        print_text(args, &d, canary.as_ref(), &failed);
    }
    Ok(failed.is_empty())
}

/// The canary of the configuration's rollout, once configurations have `rollouts:`; until
/// then none, and `--canary` names it.
fn rollout_canary(_config: &Config) -> Option<ServerId> {
    None
}

fn parse_canary(text: &str) -> Result<ServerId, Fail> {
    match text.split_once('/') {
        Some((b, s)) if !b.is_empty() && !s.is_empty() => Ok((b.to_owned(), s.to_owned())),
        _ => Err(usage(&format!(
            "--canary must be BACKEND/SERVER, not `{text}`"
        ))),
    }
}

fn load(path: &std::path::Path) -> Result<Config, Fail> {
    Config::from_file(path).map(|l| l.config).map_err(|err| {
        for d in &err.diagnostics {
            eprintln!("{d}");
        }
        Fail
    })
}

fn router(config: &Config, path: &std::path::Path) -> Result<Router, Fail> {
    Router::from_config(config).map_err(|e| {
        eprintln!("{}:1:1: error: {e}", path.display());
        Fail
    })
}

fn share(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        (n as f64 / of as f64 * 1e6).round() / 1e6
    }
}

fn shares(c: &Counts, servers: &[&str]) -> Value {
    let total = c.total();
    let map: Map<String, Value> = servers
        .iter()
        .map(|s| {
            let n =
                c.0.iter()
                    .find(|(name, _)| name == s)
                    .map_or(0, |(_, n)| *n);
            ((*s).to_owned(), json!(share(n, total)))
        })
        .collect();
    Value::Object(map)
}

fn counts(c: &Counts, servers: &[&str]) -> Value {
    let map: Map<String, Value> = servers
        .iter()
        .map(|s| {
            (
                (*s).to_owned(),
                json!(
                    c.0.iter()
                        .find(|(name, _)| name == s)
                        .map_or(0, |(_, n)| *n)
                ),
            )
        })
        .collect();
    Value::Object(map)
}

/// Every server of a backend row, in first-seen order (before, then after).
fn servers(b: &compare::BackendRow) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for (s, _) in b.before.0.iter().chain(&b.after.0) {
        if !out.contains(&s.as_str()) {
            out.push(s);
        }
    }
    out
}

fn to_json(d: &Diff, canary: Option<&ServerId>, failed: &[&str]) -> Value {
    json!({
        "requests": d.requests,
        "routes": d.routes.iter().map(|r| json!({"route": r.route, "before": r.before, "after": r.after})).collect::<Vec<_>>(),
        "moves": d.moves.iter().map(|m| json!({"from": m.from, "to": m.to, "requests": m.requests})).collect::<Vec<_>>(),
        "moved_requests": d.moved_requests,
        "lost_route": d.lost,
        "gained_route": d.gained,
        "backends": d.backends.iter().map(|b| {
            let s = servers(b);
            json!({
                "backend": b.backend,
                "before": shares(&b.before, &s),
                "after": shares(&b.after, &s),
                "requests_before": counts(&b.before, &s),
                "requests_after": counts(&b.after, &s),
            })
        }).collect::<Vec<_>>(),
        "users": {
            "to_canary": d.users.to_canary,
            "from_canary": d.users.from_canary,
            "between_stable": d.users.between_stable,
            "moved": d.users.moved,
            "total": d.users.total,
            "canary": canary.map(|(b, s)| format!("{b}/{s}")),
        },
        "failed": failed,
    })
}

fn print_text(args: &DiffArgs, d: &Diff, canary: Option<&ServerId>, failed: &[&str]) {
    let pct = |n: usize, of: usize| share(n, of) * 100.0;
    println!(
        "{} -> {}: {} requests",
        args.old.display(),
        args.new.display(),
        d.requests
    );
    let name = |r: &Option<String>| r.clone().unwrap_or_else(|| "(no route)".to_owned());
    let width = d
        .routes
        .iter()
        .map(|r| name(&r.route).len())
        .max()
        .unwrap_or(0);
    println!("routes (requests before -> after):");
    for r in &d.routes {
        println!(
            "  {:width$}  {:>8} -> {}",
            name(&r.route),
            r.before,
            r.after
        );
    }
    println!(
        "moved: {} requests change route or server ({:.2}%); {} lose their route, {} gain one",
        d.moved_requests,
        pct(d.moved_requests, d.requests),
        d.lost,
        d.gained
    );
    for m in &d.moves {
        println!("  {} -> {}: {}", name(&m.from), name(&m.to), m.requests);
    }
    for b in &d.backends {
        println!("backend {} (server shares before -> after):", b.backend);
        let s = servers(b);
        let w = s.iter().map(|s| s.len()).max().unwrap_or(0);
        let n = |c: &Counts, s: &str| c.0.iter().find(|(x, _)| x == s).map_or(0, |(_, n)| *n);
        for server in s {
            let (bn, an) = (n(&b.before, server), n(&b.after, server));
            println!(
                "  {server:w$}  {:6.2}% -> {:6.2}%  ({bn} -> {an})",
                pct(bn, b.before.total()),
                pct(an, b.after.total())
            );
        }
    }
    let u = &d.users;
    let canary_text = canary.map_or_else(
        || "no canary named (--canary BACKEND/SERVER)".to_owned(),
        |(b, s)| format!("canary {b}/{s}"),
    );
    println!(
        "users: {} of {} change server ({:.2}%): to_canary {}, from_canary {}, between_stable {} ({canary_text})",
        u.moved,
        u.total,
        pct(u.moved, u.total),
        u.to_canary,
        u.from_canary,
        u.between_stable
    );
    if !failed.is_empty() {
        println!("failed: {}", failed.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse_as_documented_and_nothing_else() {
        assert_eq!(Condition::parse("from-canary"), Some(Condition::FromCanary));
        assert_eq!(Condition::parse("unrouted"), Some(Condition::Unrouted));
        assert_eq!(
            Condition::parse("moved-requests:12.5"),
            Some(Condition::MovedRequests(12.5))
        );
        assert_eq!(
            Condition::parse("moved-users:5%"),
            Some(Condition::MovedUsers(5.0))
        );
        for bad in [
            "from_canary",
            "moved-users",
            "moved-users:101",
            "moved-users:x",
            "unrouted:1",
            "",
        ] {
            assert_eq!(Condition::parse(bad), None, "{bad}");
        }
    }
}
