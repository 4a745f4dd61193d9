//! `splitway explain`: offline on a configuration file, or with `--admin` on a running
//! proxy's table (its `POST /explain`), printed the same way from the same JSON object.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use http::{Method, StatusCode};
use serde_json::Value;
use splitway_proxy::explain::RequestLine;

use crate::Fail;
use crate::admin_client;
use crate::request::{RequestArgs, load_router, usage};

/// `explain` arguments: the request, and where its routing rules are.
#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    /// The configuration file.
    #[arg(long, required_unless_present = "admin", conflicts_with = "admin")]
    config: Option<PathBuf>,
    /// Ask this running proxy's admin listener (`serve --admin ADDR`) instead: the decision
    /// is made on the table it serves, with its rollouts' weights and its servers' health.
    #[arg(long, value_name = "ADDR")]
    admin: Option<SocketAddr>,
    /// With --admin: a file holding the admin token, sent as `Authorization: Bearer TOKEN`.
    #[arg(long, value_name = "FILE", requires = "admin")]
    admin_token_file: Option<PathBuf>,
    #[command(flatten)]
    request: RequestArgs,
}

/// Explains the decision for one request.
pub(crate) fn run(args: &ExplainArgs) -> Result<(), Fail> {
    let request = args.request.build()?;
    let line = RequestLine {
        request,
        client_ip: args.request.client_ip,
    };
    let explanation = match (&args.config, args.admin) {
        (_, Some(addr)) => ask_admin(addr, args.admin_token_file.as_deref(), &line)?,
        (Some(config), None) => line.explain(&load_router(config)?),
        (None, None) => return Err(usage("--config or --admin is required")),
    };
    if args.request.json {
        println!("{explanation}");
    } else {
        print_text(&explanation);
    }
    Ok(())
}

/// The admin's `POST /explain` answer for `line`.
fn ask_admin(
    addr: SocketAddr,
    token_file: Option<&std::path::Path>,
    line: &RequestLine,
) -> Result<Value, Fail> {
    let token = admin_client::read_token(token_file).map_err(|m| usage(&m))?;
    let body = line.to_json().to_string();
    let (status, text) = admin_client::request(
        addr,
        &Method::POST,
        "/explain",
        token.as_deref(),
        &body,
        false,
    )
    .map_err(|m| usage(&m))?;
    match status {
        StatusCode::OK => serde_json::from_str(&text)
            .map_err(|e| usage(&format!("the admin's answer is not JSON: {e}"))),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(usage(&format!(
            "the admin refused the request ({status}): {}",
            text.trim_end()
        ))),
        other => Err(usage(&format!(
            "the admin answered {other}: {}",
            text.trim_end()
        ))),
    }
}

/// The text form, read from the JSON object (so that both sources print alike).
fn print_text(e: &Value) {
    let word = |v: &Value| v.as_str().map(str::to_owned);
    let route = word(&e["route"]);
    let server = word(&e["server"]);
    let url = word(&e["url"]);
    let candidates = e["candidates"].as_array().cloned().unwrap_or_default();
    match (&route, word(&e["backend"])) {
        (Some(route), Some(backend)) => {
            let priority = candidates
                .iter()
                .find(|c| c["matched"] == true)
                .map_or(0, |c| c["priority"].as_i64().unwrap_or(0));
            println!("route:   {route} (priority {priority})");
            println!("backend: {backend}");
        }
        _ => println!("route:   none"),
    }
    let fixed = server.is_some() && url.is_none();
    match (&server, &url) {
        (Some(s), None) => println!("server:  {s} (fixed response)"),
        (Some(s), Some(u)) => println!("server:  {s} {u}"),
        (None, _) => println!("server:  none"),
    }
    if let Some(path) = word(&e["path"]) {
        println!("path:    {path}");
    }
    let code = e["status"].as_u64().unwrap_or(0);
    let reason = match code {
        _ if fixed => "fixed response",
        200 => "routed",
        404 => "no route",
        503 => "no server available",
        _ => "",
    };
    println!("status:  {code} ({reason})");
    if let Some(cookie) = word(&e["set_cookie"]) {
        println!("set-cookie: {cookie}");
    }
    if let Some(cohort) = e["cohort"].as_array() {
        println!("cohort (weighted rendezvous hash of this user's key):");
        for s in cohort {
            let name = s["server"].as_str().unwrap_or("");
            let chosen = server.as_deref() == Some(name);
            let note = match (chosen, s["takeover_weight"].as_u64()) {
                (true, _) => "this user's server".to_owned(),
                (false, Some(w)) => format!("would take this user at weight {w}"),
                (false, None) if s["eligible"] != true => "not taking users".to_owned(),
                (false, None) => "would not take this user at any weight".to_owned(),
            };
            println!(
                "  {name} (weight {}): score {:.6}, {note}",
                s["weight"],
                s["score"].as_f64().unwrap_or(0.0)
            );
        }
    }
    println!("tried:");
    if candidates.is_empty() {
        println!("  (no frontend can match this host)");
    }
    for c in &candidates {
        let (name, priority) = (c["route"].as_str().unwrap_or(""), &c["priority"]);
        match c["failed"].as_str() {
            None if c["matched"] == true => println!("  {name} (priority {priority}): matched"),
            Some(failed) => println!("  {name} (priority {priority}): no match at {failed}"),
            None => println!("  {name} (priority {priority}): no match"),
        }
    }
}
