//! `splitway rollout status [BACKEND]` and `splitway rollout pause|resume|promote|abort|
//! rollback BACKEND`, against a running proxy's admin listener (`--admin ADDR`); or, with
//! `--config FILE` instead, an action timestamped in the file for a fleet-mode rollout, and
//! `splitway rollout start --config FILE` (both in [`crate::rollout_file`]).
//!
//! Exit codes (SPEC.md 5.1): 0 done; 1 refused (the action does not apply to the rollout's
//! state, 409, or there is no such rollout, 404); 2 a usage or connection error, or an
//! authentication error (401, 403).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use http::{Method, StatusCode};
use serde_json::Value;

use crate::admin_client;

/// `rollout` arguments.
#[derive(Debug, Args)]
pub(crate) struct RolloutArgs {
    #[command(subcommand)]
    command: RolloutCommand,
}

#[derive(Debug, Subcommand)]
enum RolloutCommand {
    /// Every rollout (or one backend's): state, step, share, weights, last analysis.
    Status {
        /// Only this backend's rollout.
        backend: Option<String>,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Freeze the weights and stop judging (progressing or holding).
    Pause(ActionArgs),
    /// Go on after a pause, or start again at step 1 after a rollback or an abort.
    Resume(ActionArgs),
    /// Give the canary the whole backend.
    Promote(ActionArgs),
    /// End the rollout: the file's weights serve.
    Abort(ActionArgs),
    /// Give the canary nothing.
    Rollback(ActionArgs),
    /// Fleet mode: write `start: <now rounded up to the next second>` in every
    /// `source: prometheus` rollout of the file.
    Start {
        /// The configuration file (YAML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Where the edited copy goes (default: over FILE).
        #[arg(short = 'o', long = "output", value_name = "OUT")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct ActionArgs {
    /// The rollout's backend.
    backend: String,
    /// The proxy's admin listener (`serve --admin ADDR`).
    #[arg(
        long,
        value_name = "ADDR",
        required_unless_present = "config",
        conflicts_with = "config"
    )]
    admin: Option<SocketAddr>,
    /// A file holding the admin token, sent as `Authorization: Bearer TOKEN`.
    #[arg(long, value_name = "FILE", requires = "admin")]
    admin_token_file: Option<PathBuf>,
    /// Print the admin's JSON as it answered.
    #[arg(long, requires = "admin")]
    json: bool,
    /// Fleet mode: add the action to this configuration file (YAML), timestamped, rather
    /// than ask one proxy.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// With --config: when the action takes effect (RFC 3339; at the first boundary at or
    /// after it). Default: now + 2 minutes.
    #[arg(long, value_name = "T", requires = "config")]
    at: Option<String>,
    /// With --config: where the edited copy goes (default: over FILE).
    #[arg(short = 'o', long = "output", value_name = "OUT", requires = "config")]
    output: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct AdminArgs {
    /// The proxy's admin listener (`serve --admin ADDR`).
    #[arg(long, value_name = "ADDR")]
    admin: SocketAddr,
    /// A file holding the admin token, sent as `Authorization: Bearer TOKEN`.
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    /// Print the admin's JSON as it answered.
    #[arg(long)]
    json: bool,
}

/// Runs one `rollout` command; its exit code.
pub(crate) fn run(args: &RolloutArgs) -> ExitCode {
    let now = std::time::SystemTime::now();
    let edited = match &args.command {
        RolloutCommand::Start { config, output } => {
            Some(crate::rollout_file::start(config, output.as_deref(), now))
        }
        RolloutCommand::Pause(a)
        | RolloutCommand::Resume(a)
        | RolloutCommand::Promote(a)
        | RolloutCommand::Abort(a)
        | RolloutCommand::Rollback(a) => a.config.as_deref().map(|config| {
            crate::rollout_file::act(
                config,
                &a.backend,
                action_of(&args.command),
                a.at.as_deref(),
                a.output.as_deref(),
                now,
            )
        }),
        RolloutCommand::Status { .. } => None,
    };
    if let Some(result) = edited {
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(crate::Fail) => ExitCode::from(2),
        };
    }
    let owned;
    let (method, path, admin, backend) = match &args.command {
        RolloutCommand::Status { backend, admin } => {
            (Method::GET, "/rollouts".to_owned(), admin, backend.clone())
        }
        RolloutCommand::Start { .. } => return ExitCode::from(2),
        RolloutCommand::Pause(a)
        | RolloutCommand::Resume(a)
        | RolloutCommand::Promote(a)
        | RolloutCommand::Abort(a)
        | RolloutCommand::Rollback(a) => {
            let Some(addr) = a.admin else {
                return fail(
                    2,
                    "give --admin ADDR (a proxy) or --config FILE (fleet mode)",
                );
            };
            owned = AdminArgs {
                admin: addr,
                admin_token_file: a.admin_token_file.clone(),
                json: a.json,
            };
            (
                Method::POST,
                format!("/rollouts/{}/{}", a.backend, action_of(&args.command)),
                &owned,
                None,
            )
        }
    };
    let token = match admin_client::read_token(admin.admin_token_file.as_deref()) {
        Ok(t) => t,
        Err(message) => return fail(2, &message),
    };
    let (status, body) = match admin_client::request(
        admin.admin,
        &method,
        &path,
        token.as_deref(),
        "",
        method != Method::GET,
    ) {
        Ok(answer) => answer,
        Err(message) => return fail(2, &message),
    };
    match status {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND | StatusCode::CONFLICT => return fail(1, body.trim_end()),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            return fail(2, &format!("the admin refused the token ({status})"));
        }
        other => {
            return fail(
                2,
                &format!("the admin answered {other}: {}", body.trim_end()),
            );
        }
    }
    let value: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => return fail(2, &format!("the admin's answer is not JSON: {e}")),
    };
    let list: Vec<Value> = match value.get("rollouts").and_then(Value::as_array) {
        // GET /rollouts: every rollout, or the one asked for.
        Some(all) => {
            let chosen: Vec<Value> = all
                .iter()
                .filter(|r| backend.as_deref().is_none_or(|b| r["backend"] == b))
                .cloned()
                .collect();
            if let Some(b) = &backend
                && chosen.is_empty()
            {
                return fail(1, &format!("no rollout of backend `{b}`"));
            }
            chosen
        }
        // An action: the rollout's new object.
        None => vec![value],
    };
    if admin.json {
        let out = match &args.command {
            RolloutCommand::Status { .. } => serde_json::json!({ "rollouts": list }),
            _ => list.into_iter().next().unwrap_or(Value::Null),
        };
        println!("{out}");
    } else {
        for r in &list {
            println!("{}", line(r));
        }
    }
    ExitCode::SUCCESS
}

fn action_of(command: &RolloutCommand) -> splitway::rollout::Action {
    use splitway::rollout::Action;
    match command {
        RolloutCommand::Pause(_) => Action::Pause,
        RolloutCommand::Resume(_) => Action::Resume,
        RolloutCommand::Promote(_) => Action::Promote,
        RolloutCommand::Rollback(_) => Action::Rollback,
        RolloutCommand::Abort(_) | RolloutCommand::Status { .. } | RolloutCommand::Start { .. } => {
            Action::Abort
        }
    }
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("splitway: error: {message}");
    ExitCode::from(code)
}

/// `web: holding step 2/5 (5%), effective 5.03%, weights legacy_1=500 ..., reason
/// too_few_requests, failures 0`.
fn line(r: &Value) -> String {
    let weights: Vec<String> = r["weights"]
        .as_object()
        .map(|m| m.iter().map(|(n, w)| format!("{n}={w}")).collect())
        .unwrap_or_default();
    let steps = r["steps"].as_array().map_or(0, Vec::len);
    let share = r["share"]
        .as_f64()
        .map_or("file weights".to_owned(), |p| format!("{p}%"));
    let mut out = format!(
        "{}: {} step {}/{steps} ({share}), effective {:.2}%, weights {}, reason {}, failures {}",
        r["backend"].as_str().unwrap_or("?"),
        r["state"].as_str().unwrap_or("?"),
        r["step"],
        r["effective_share"].as_f64().unwrap_or(0.0),
        weights.join(" "),
        r["reason"].as_str().unwrap_or("?"),
        r["failures"],
    );
    if let Some(summary) = r["last_analysis"]["summary"].as_str() {
        out.push_str(&format!(", last analysis: {summary}"));
    }
    if let Some(next) = r["next_decision_at"].as_str() {
        out.push_str(&format!(", next decision at {next}"));
    }
    out
}
