//! `splitway explain`

use serde_json::{Value, json};
use splitway::{Explanation, RequestView};

use crate::Fail;
use crate::request::{RequestArgs, load_router};

/// Explains the decision for one request.
pub(crate) fn run(args: &RequestArgs) -> Result<(), Fail> {
    let router = load_router(&args.config)?;
    let request = args.build()?;
    let view = RequestView::from_request(&request, args.client_ip);
    let explanation = router.explain(&view);
    let path = request.uri().path();
    if args.json {
        println!("{}", to_json(&explanation, path));
    } else {
        print_text(&explanation, path);
    }
    Ok(())
}

/// The path the server will see (the matched frontend's rewrites applied to `path`); `None`
/// when no frontend matched.
fn server_path(e: &Explanation, path: &str) -> Option<String> {
    let d = &e.decision;
    d.route().map(|_| d.rewritten_path(path).into_owned())
}

/// The JSON object of SPEC.md section 5 (`failed` and `path` are added fields). `path` is the
/// request's path as sent.
pub(crate) fn to_json(e: &Explanation, path: &str) -> Value {
    let d = &e.decision;
    let server = d.server();
    let candidates: Vec<Value> = e
        .candidates
        .iter()
        .map(|c| {
            json!({
                "route": c.route,
                "priority": c.priority,
                "matched": c.matched,
                "failed": c.failed,
            })
        })
        .collect();
    let mut out = json!({
        "route": d.route(),
        "backend": d.backend(),
        "server": server.map(|s| s.name()),
        "url": server.filter(|s| s.response().is_none()).map(|s| s.url()),
        "status": d.status().code(),
        "set_cookie": d.set_cookie(),
        "candidates": candidates,
        "path": server_path(e, path),
    });
    if let (Some(cohort), Some(obj)) = (&e.cohort, out.as_object_mut()) {
        let standings: Vec<Value> = cohort
            .iter()
            .map(|s| {
                json!({
                    "server": s.server,
                    "weight": s.weight,
                    "eligible": s.eligible,
                    "score": s.score,
                    "takeover_weight": s.takeover_weight,
                })
            })
            .collect();
        obj.insert("cohort".into(), Value::Array(standings));
    }
    out
}

fn print_text(e: &Explanation, path: &str) {
    let d = &e.decision;
    let status = d.status();
    match (d.route(), d.backend()) {
        (Some(route), Some(backend)) => {
            println!("route:   {route} (priority {})", d.priority().unwrap_or(0));
            println!("backend: {backend}");
        }
        _ => println!("route:   none"),
    }
    match d.server() {
        Some(s) if s.response().is_some() => println!("server:  {} (fixed response)", s.name()),
        Some(s) => println!("server:  {} {}", s.name(), s.url()),
        None => println!("server:  none"),
    }
    if let Some(path) = server_path(e, path) {
        println!("path:    {path}");
    }
    println!("status:  {} ({})", status.code(), status.reason());
    if let Some(cookie) = d.set_cookie() {
        println!("set-cookie: {cookie}");
    }
    if let Some(cohort) = &e.cohort {
        println!("cohort (weighted rendezvous hash of this user's key):");
        for s in cohort {
            let chosen = d.server().is_some_and(|c| c.name() == s.server);
            let note = match (chosen, s.takeover_weight) {
                (true, _) => "this user's server".to_owned(),
                (false, Some(w)) => format!("would take this user at weight {w}"),
                (false, None) if !s.eligible => "not taking users".to_owned(),
                (false, None) => "would not take this user at any weight".to_owned(),
            };
            println!(
                "  {} (weight {}): score {:.6}, {note}",
                s.server, s.weight, s.score
            );
        }
    }
    println!("tried:");
    if e.candidates.is_empty() {
        println!("  (no frontend can match this host)");
    }
    for c in &e.candidates {
        match &c.failed {
            None if c.matched => println!("  {} (priority {}): matched", c.route, c.priority),
            Some(failed) => println!(
                "  {} (priority {}): no match at {failed}",
                c.route, c.priority
            ),
            None => println!("  {} (priority {}): no match", c.route, c.priority),
        }
    }
}
