//! Traefik's own matcher test cases replayed through `splitway explain --json`, as a user
//! runs it: one small config per rule (in a temp dir, removed afterwards), one process per
//! request, `--client-ip` for the ClientIP rows. The rows are the library replay's
//! (`splitway/tests/traefik_cases/tables.rs`), so the library and the CLI must agree on all.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../splitway/tests/traefik_cases/model.rs"]
mod model;
mod support;
#[path = "../../splitway/tests/traefik_cases/tables.rs"]
mod tables;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use model::{Row, Syn, Want};
use serde_json::Value;
use support::{TempDir, splitway};

fn explain_args(config: &Path, row: &Row) -> Vec<String> {
    let mut args: Vec<String> = ["explain", "--config"].map(String::from).to_vec();
    args.push(config.display().to_string());
    args.extend([
        "--method".into(),
        row.method.into(),
        "--url".into(),
        row.url.into(),
    ]);
    for (k, v) in row.headers {
        args.extend(["-H".into(), format!("{k}: {v}")]);
    }
    if let Some(ip) = row.client_ip() {
        args.extend(["--client-ip".into(), ip.to_string()]);
    }
    args.push("--json".into());
    args
}

/// What `splitway explain` says about a row, or why its answer makes no sense.
fn outcome(config: &Path, row: &Row) -> Result<Want, String> {
    let out = splitway(&explain_args(config, row));
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(2) if stderr.contains("error") => Ok(Want::ParseError),
        Some(0) => {
            let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
            match (v["status"].as_u64(), v["route"].as_str()) {
                (Some(200), Some("r")) => Ok(Want::Match),
                (Some(404), None) => Ok(Want::NoMatch),
                _ => Err(format!("unexpected decision {v}")),
            }
        }
        code => Err(format!("exit {code:?}, stderr: {stderr}")),
    }
}

/// One job: a rule's config file and the rows that use it.
struct Job<'a> {
    syntax: Syn,
    source: &'static str,
    rule: &'static str,
    rows: Vec<&'a Row>,
}

#[test]
fn every_row_holds_through_the_cli() {
    let dir = TempDir::new("traefik-replay-rows");
    let mut jobs: Vec<Job<'_>> = Vec::new();
    for table in tables::TABLES {
        for row in table.rows.iter().filter(|r| r.lib_only.is_none()) {
            match jobs
                .iter_mut()
                .find(|j| j.syntax == table.syntax && j.rule == row.rule)
            {
                Some(job) => job.rows.push(row),
                None => jobs.push(Job {
                    syntax: table.syntax,
                    source: table.source,
                    rule: row.rule,
                    rows: vec![row],
                }),
            }
        }
    }
    for (i, job) in jobs.iter().enumerate() {
        let yaml = model::config_yaml(job.syntax, &[("r", job.rule, 0)]);
        std::fs::write(dir.path().join(format!("{i}.yaml")), yaml).unwrap();
    }

    let next = AtomicUsize::new(0);
    let ran = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(4, |n| n.get().min(16));
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut failures = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = jobs.get(i) else { break };
                        let config = dir.path().join(format!("{i}.yaml"));
                        for row in &job.rows {
                            ran.fetch_add(1, Ordering::Relaxed);
                            match outcome(&config, row) {
                                Ok(got) if got == row.want => {}
                                Ok(got) => failures.push(format!(
                                    "{} | {} | `{}` {} {}: want {:?}, got {got:?}",
                                    job.source, row.src, row.rule, row.method, row.url, row.want
                                )),
                                Err(why) => failures.push(format!(
                                    "{} | {} | `{}`: {why}",
                                    job.source, row.src, row.rule
                                )),
                            }
                        }
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} rows differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let expected: usize = tables::TABLES
        .iter()
        .map(|t| t.rows.iter().filter(|r| r.lib_only.is_none()).count())
        .sum();
    assert_eq!(ran.load(Ordering::Relaxed), expected);
    assert_eq!(expected, 669, "rows replayed through the CLI");
}

#[test]
fn priorities_pick_the_traefik_winner_through_the_cli() {
    let dir = TempDir::new("traefik-replay-priorities");
    for (i, case) in tables::priority_cases().enumerate() {
        let config = dir.path().join(format!("{i}.yaml"));
        std::fs::write(&config, model::config_yaml(case.syntax, case.routes)).unwrap();
        let args: Vec<String> = vec![
            "explain".into(),
            "--config".into(),
            config.display().to_string(),
            "--url".into(),
            case.url.into(),
            "--json".into(),
        ];
        let out = splitway(&args);
        assert_eq!(out.status.code(), Some(0), "{}", case.src);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["route"].as_str(), Some(case.winner), "{}: {v}", case.src);
    }
}
