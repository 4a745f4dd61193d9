//! `splitway import ingress-nginx|gateway-api FILE... [-o FILE]`: Kubernetes manifests into
//! a splitway configuration that routes as the source system does.
//!
//! Every construct that cannot be carried over is a warning on stderr naming the object and
//! the field (`FILE:LINE:COL: warning: ...`); input that is not what it claims to be is an
//! error with its location (exit 2), and nothing is written. The written configuration is
//! loaded and compiled as `splitway check` does before it is written.

mod gateway_api;
mod ingress_nginx;
mod manifest;
mod output;

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use splitway::config::{Config, Format};

use crate::Fail;
use manifest::{Report, Source};
use output::Output;

/// What the manifests are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Kind {
    /// ingress-nginx Ingresses, with canary Ingresses and their annotations.
    IngressNginx,
    /// Gateway API HTTPRoutes (and Gateways, Services, ReferenceGrants).
    GatewayApi,
}

/// `import` arguments.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// What the manifests are.
    #[arg(value_enum)]
    kind: Kind,
    /// Manifest files (multi-document YAML; `List` objects too).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Write the configuration here instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Imports, reports, writes.
pub(crate) fn run(args: &ImportArgs) -> Result<(), Fail> {
    let mut failed = false;
    let mut sources = Vec::new();
    for file in &args.files {
        let name = file.display().to_string();
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{name}:1:1: error: cannot read the file: {e}");
                failed = true;
                continue;
            }
        };
        match Source::parse(name, text) {
            Ok(s) => sources.push(s),
            Err(diagnostics) => {
                for d in diagnostics {
                    eprintln!("{d}");
                }
                failed = true;
            }
        }
    }
    if failed {
        return Err(Fail);
    }
    let (text, report) = import(args.kind, &sources);
    for w in &report.warnings {
        eprintln!("{w}");
    }
    for e in &report.errors {
        eprintln!("{e}");
    }
    if !report.errors.is_empty() {
        return Err(Fail);
    }
    let Some(text) = text else {
        let files: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        eprintln!(
            "{}:1:1: error: nothing to import: no route came out of the input",
            files.first().copied().unwrap_or("-")
        );
        return Err(Fail);
    };
    let out_name = args
        .output
        .as_ref()
        .map_or_else(|| "<stdout>".to_owned(), |p| p.display().to_string());
    verify(&text, &out_name)?;
    match &args.output {
        Some(path) => std::fs::write(path, &text).map_err(|e| {
            eprintln!("splitway: error: cannot write {}: {e}", path.display());
            Fail
        }),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// The configuration text (none when nothing was imported) and the report.
fn import(kind: Kind, sources: &[Source]) -> (Option<String>, Report) {
    let mut report = Report::default();
    let objects = manifest::objects(sources, &mut report);
    let mut out = Output::default();
    let what = match kind {
        Kind::IngressNginx => {
            ingress_nginx::import(&objects, &mut out, &mut report);
            "ingress-nginx"
        }
        Kind::GatewayApi => {
            gateway_api::import(&objects, &mut out, &mut report);
            "gateway-api"
        }
    };
    if out.is_empty() {
        return (None, report);
    }
    let files: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
    let header = format!(
        "Written by `splitway import {what}` from {}.\nEach frontend names what it came from; priorities encode the source's precedence.",
        files.join(", ")
    );
    (Some(out.render(&header)), report)
}

/// Loads and compiles the text as `splitway check` does; a failure is a defect of the
/// importer, reported as such.
fn verify(text: &str, name: &str) -> Result<(), Fail> {
    let loaded = Config::from_str(text, Format::Yaml, name).map_err(|err| {
        for d in &err.diagnostics {
            eprintln!("{d}");
        }
        eprintln!("splitway: error: the imported configuration does not load (a defect of `splitway import`)");
        Fail
    })?;
    crate::check::compile_and_lint(name, &loaded).map(|_| ())
}
