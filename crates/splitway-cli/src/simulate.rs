//! `splitway simulate`

use std::path::PathBuf;

use clap::Args;
use http::{HeaderName, HeaderValue, Request, header};
use serde_json::{Map, Value, json};
use splitway::{Decision, RequestView};

use splitway::config::Config;

use crate::request::{RequestArgs, load_router, usage};
use crate::{Fail, rollout_sim};

/// Most requests one simulation routes.
const MAX_REQUESTS: u64 = 100_000_000;

/// `simulate` arguments: one request, repeated.
#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// The configuration file.
    #[arg(long)]
    config: PathBuf,
    #[command(flatten)]
    request: RequestArgs,
    /// How many requests to route through one router.
    #[arg(short = 'n', default_value_t = 100)]
    n: u64,
    /// Give the i-th request (1..=N) the value `user-i` for this cookie or header:
    /// `cookie:NAME` or `header:NAME`.
    #[arg(long, value_name = "cookie:NAME|header:NAME")]
    vary: Option<String>,
    /// Also print the server of each request, in order.
    #[arg(long)]
    sequence: bool,
    /// Instead of routing one request: replay a synthetic run of this backend's rollout and
    /// print the controller's timeline (no --url needed).
    #[arg(long, value_name = "BACKEND")]
    rollout: Option<String>,
    /// With --rollout: the canary's 5xx rate, 0 to 1.
    #[arg(long, value_name = "R", requires = "rollout")]
    canary_error_rate: Option<f64>,
    /// With --rollout: the stable servers' 5xx rate, 0 to 1.
    #[arg(long, value_name = "R", default_value_t = 0.0, requires = "rollout")]
    stable_error_rate: f64,
    /// With --rollout: the canary's typical latency in ms (default: the stable servers').
    #[arg(long, value_name = "MS", requires = "rollout")]
    canary_latency_ms: Option<f64>,
    /// With --rollout: the stable servers' typical latency in ms.
    #[arg(long, value_name = "MS", default_value_t = 50.0, requires = "rollout")]
    stable_latency_ms: f64,
    /// With --rollout: requests per second to the backend.
    #[arg(long, value_name = "N", default_value_t = 100, requires = "rollout")]
    rps: u64,
    /// With --rollout: the random seed (the same seed gives the same timeline).
    #[arg(long, value_name = "S", default_value_t = 1, requires = "rollout")]
    seed: u64,
}

enum Vary {
    Cookie(String),
    Header(HeaderName),
}

/// A count per name, in the order names were first seen.
#[derive(Default)]
struct Tally(Vec<(String, u64)>);

impl Tally {
    fn add(&mut self, name: &str) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some((_, c)) => *c += 1,
            None => self.0.push((name.to_owned(), 1)),
        }
    }

    fn to_json(&self) -> Value {
        let map: Map<String, Value> = self.0.iter().map(|(n, c)| (n.clone(), json!(c))).collect();
        Value::Object(map)
    }
}

/// Routes N requests and reports where they went, or replays a rollout.
pub(crate) fn run(args: &SimulateArgs) -> Result<(), Fail> {
    if let Some(backend) = &args.rollout {
        return run_rollout(args, backend);
    }
    let router = load_router(&args.config)?;
    let base = args.request.build()?;
    let vary = args.vary.as_deref().map(parse_vary).transpose()?;
    if args.n > MAX_REQUESTS {
        return Err(usage(&format!("-n is at most {MAX_REQUESTS}")));
    }

    let mut servers = Tally::default();
    let mut statuses = Tally::default();
    let mut routes = Tally::default();
    let mut sequence: Vec<Option<String>> = Vec::new();
    for i in 1..=args.n {
        let decision = match &vary {
            None => route(&router, &base, args),
            Some(v) => {
                let mut req = copy(&base);
                apply(v, &format!("user-{i}"), &mut req)?;
                route(&router, &req, args)
            }
        };
        statuses.add(&decision.status().code().to_string());
        if let Some(r) = decision.route() {
            routes.add(r);
        }
        let server = decision.server().map(|s| s.name().to_owned());
        if let Some(s) = &server {
            servers.add(s);
        }
        if args.sequence {
            sequence.push(server);
        }
    }

    if args.request.json {
        let mut out = json!({
            "counts": servers.to_json(),
            "statuses": statuses.to_json(),
            "routes": routes.to_json(),
        });
        if args.sequence
            && let Some(obj) = out.as_object_mut()
        {
            obj.insert("sequence".into(), json!(sequence));
        }
        println!("{out}");
    } else {
        print_text(
            args.n,
            &servers,
            &statuses,
            &routes,
            args.sequence.then_some(&sequence),
        );
    }
    Ok(())
}

fn run_rollout(args: &SimulateArgs, backend: &str) -> Result<(), Fail> {
    let Some(canary_error_rate) = args.canary_error_rate else {
        return Err(usage("--rollout needs --canary-error-rate R"));
    };
    let rate = |flag: &str, r: f64| {
        if (0.0..=1.0).contains(&r) {
            Ok(r)
        } else {
            Err(usage(&format!("{flag} must be between 0 and 1, not {r}")))
        }
    };
    let latency = |flag: &str, ms: f64| {
        if ms > 0.0 && ms <= 3_600_000.0 {
            Ok(ms)
        } else {
            Err(usage(&format!(
                "{flag} must be above 0 (and at most an hour), not {ms}"
            )))
        }
    };
    if args.rps == 0 {
        return Err(usage("--rps must be at least 1"));
    }
    let stable_latency_ms = latency("--stable-latency-ms", args.stable_latency_ms)?;
    let traffic = rollout_sim::Traffic {
        rps: args.rps,
        canary_error_rate: rate("--canary-error-rate", canary_error_rate)?,
        stable_error_rate: rate("--stable-error-rate", args.stable_error_rate)?,
        canary_latency_ms: latency(
            "--canary-latency-ms",
            args.canary_latency_ms.unwrap_or(stable_latency_ms),
        )?,
        stable_latency_ms,
        seed: args.seed,
    };
    let loaded = Config::from_file(&args.config).map_err(|err| {
        for d in &err.diagnostics {
            eprintln!("{d}");
        }
        Fail
    })?;
    rollout_sim::run(&loaded.config, backend, &traffic, args.request.json)
}

fn route(router: &splitway::Router, req: &Request<()>, args: &SimulateArgs) -> Decision {
    router.route(&RequestView::from_request(req, args.request.client_ip))
}

fn parse_vary(text: &str) -> Result<Vary, Fail> {
    match text.split_once(':') {
        Some(("cookie", name)) if !name.is_empty() => Ok(Vary::Cookie(name.to_owned())),
        Some(("header", name)) if !name.is_empty() => HeaderName::from_bytes(name.as_bytes())
            .map(Vary::Header)
            .map_err(|_| usage(&format!("--vary: invalid header name `{name}`"))),
        _ => Err(usage(&format!(
            "--vary must be `cookie:NAME` or `header:NAME`, not `{text}`"
        ))),
    }
}

fn copy(base: &Request<()>) -> Request<()> {
    let mut req = Request::new(());
    *req.method_mut() = base.method().clone();
    *req.uri_mut() = base.uri().clone();
    *req.headers_mut() = base.headers().clone();
    req
}

/// Sets the varied cookie (added to the request's first `Cookie` line) or header (replacing
/// any value given with `-H`).
fn apply(vary: &Vary, value: &str, req: &mut Request<()>) -> Result<(), Fail> {
    let headers = req.headers_mut();
    let bad = || usage(&format!("--vary gives an invalid value `{value}`"));
    match vary {
        Vary::Header(name) => {
            headers.insert(
                name.clone(),
                HeaderValue::from_str(value).map_err(|_| bad())?,
            );
        }
        Vary::Cookie(name) => {
            let pair = format!("{name}={value}");
            let line = match headers.get(header::COOKIE).map(|v| v.to_str()) {
                Some(Ok(existing)) if !existing.is_empty() => format!("{existing}; {pair}"),
                _ => pair,
            };
            headers.insert(
                header::COOKIE,
                HeaderValue::from_str(&line).map_err(|_| bad())?,
            );
        }
    }
    Ok(())
}

fn print_text(
    n: u64,
    servers: &Tally,
    statuses: &Tally,
    routes: &Tally,
    sequence: Option<&Vec<Option<String>>>,
) {
    let statuses: Vec<String> = statuses
        .0
        .iter()
        .map(|(s, c)| format!("{s}: {c}"))
        .collect();
    println!("{n} requests ({})", statuses.join(", "));
    let width = servers.0.iter().map(|(s, _)| s.len()).max().unwrap_or(0);
    for (server, count) in &servers.0 {
        let share = if n == 0 {
            0.0
        } else {
            *count as f64 * 100.0 / n as f64
        };
        println!("  {server:width$}  {count:>10}  {share:6.2}%");
    }
    let routes: Vec<String> = routes.0.iter().map(|(r, c)| format!("{r}: {c}")).collect();
    if !routes.is_empty() {
        println!("routes: {}", routes.join(", "));
    }
    if let Some(seq) = sequence {
        let names: Vec<&str> = seq.iter().map(|s| s.as_deref().unwrap_or("-")).collect();
        println!("sequence: {}", names.join(" "));
    }
}
