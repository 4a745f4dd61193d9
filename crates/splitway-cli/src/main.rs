//! `splitway`: check, explain and simulate routing rules, and serve them as a reverse proxy.
//!
//! Its outputs are a contract (SPEC.md section 5): scripts and CI jobs read them. Exit codes:
//! 0 when the command did its job (whatever the routing status), 2 on a usage or config error;
//! `rollout` also exits 1 when the proxy refuses the action.
//! `diff` exits 1 when a `--fail-on` condition holds.

mod admin_client;
mod check;
mod demo;
mod diff;
mod explain;
mod import;
mod request;
mod rollout;
mod rollout_file;
mod rollout_sim;
mod serve;
mod sign;
mod simulate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Canary-release routing rules: check them, explain a decision, simulate traffic, serve them.
#[derive(Debug, Parser)]
#[command(name = "splitway", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate configuration files; print one summary line per file, or every error.
    Check {
        /// Configuration files (.yaml, .yml, .toml).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Show the decision for one request and the frontends tried to reach it.
    Explain(explain::ExplainArgs),
    /// Route N requests through one router and count where they went; or, with --rollout,
    /// replay a synthetic run of a rollout and print the controller's timeline.
    Simulate(simulate::SimulateArgs),
    /// Replay the same requests through two configurations and report what moves.
    Diff(diff::DiffArgs),
    /// Convert Kubernetes manifests (ingress-nginx Ingresses, Gateway API HTTPRoutes) into a
    /// splitway configuration; warnings name what is not carried over.
    Import(import::ImportArgs),
    /// Run the reverse proxy, reloading the configuration file when it changes.
    Serve(serve::ServeArgs),
    /// Ask a running proxy about its rollouts, or act on one (exit 1 when refused); in fleet
    /// mode, timestamp an action or the start in the configuration file.
    Rollout(rollout::RolloutArgs),
    /// Print a signed cookie's value (`VALUE.EXPIRY.SIGNATURE`) for a `signed_cookies:` key.
    Sign(sign::SignArgs),
}

/// A failure that ends the command with exit code 2, already described to the user.
#[derive(Debug)]
pub(crate) struct Fail;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { files } => check::run(&files),
        Command::Explain(args) => explain::run(&args),
        Command::Simulate(args) => simulate::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Rollout(args) => return rollout::run(&args),
        Command::Import(args) => import::run(&args),
        Command::Sign(args) => sign::run(&args),
        Command::Diff(args) => match diff::run(&args) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail) => ExitCode::from(2),
    }
}
