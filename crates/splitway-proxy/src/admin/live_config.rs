//! `GET /config`: the table in service as JSON, what the dashboard draws its tables from.
//!
//! Everything comes from one table ([`splitway::Router::snapshot`]), so the frontends, the
//! backends and their weights agree with each other: weights as edited through the admin or
//! set by a rollout, not as the file on disk says.

use serde_json::{Value, json};
use splitway::Table;
use splitway::config::{Backend, Balance, Frontend, HashKey, Server};

/// `{"frontends": [{"name", "rule", "syntax", "priority", "backend"}...], "backends":
/// [{"name", "balance", "sticky_cookie", "hash_key", "health_check_path", "servers": [{"name",
/// "url", "weight", "status"}...]}...]}`: frontends in the order they are tried (priority,
/// highest first, then name), backends and servers in file order.
pub(crate) fn to_json(table: &Table) -> Value {
    let config = table.config();
    let mut frontends: Vec<&Frontend> = config.frontends.iter().collect();
    // The table's order (`Table::frontend_names`).
    frontends.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.name.cmp(&b.name)));
    json!({
        "frontends": frontends.iter().map(|f| frontend(f)).collect::<Vec<_>>(),
        "backends": config.backends.iter().map(backend).collect::<Vec<_>>(),
    })
}

fn frontend(f: &Frontend) -> Value {
    json!({
        "name": f.name,
        "rule": f.rule.to_string(),
        "syntax": f.rule.syntax().to_string(),
        "priority": f.priority,
        "backend": f.backend,
    })
}

fn backend(b: &Backend) -> Value {
    let balance = match b.balance {
        Balance::Wrr => "wrr".to_owned(),
        Balance::Random => "random".to_owned(),
        other => format!("{other:?}").to_lowercase(),
    };
    let hash_key = b.hash.as_ref().map(|h| match &h.key {
        HashKey::Cookie(name) => format!("cookie:{name}"),
        HashKey::Header(name) => format!("header:{name}"),
        HashKey::Query(name) => format!("query:{name}"),
        HashKey::ClientIp => "client_ip".to_owned(),
        other => format!("{other:?}").to_lowercase(),
    });
    json!({
        "name": b.name,
        "balance": balance,
        "sticky_cookie": b.sticky.as_ref().map(|s| s.cookie.as_str()),
        "hash_key": hash_key,
        "health_check_path": b.health_check.as_ref().map(|h| h.path.as_str()),
        "servers": b.servers.iter().map(server).collect::<Vec<_>>(),
    })
}

fn server(s: &Server) -> Value {
    json!({
        "name": s.name,
        "url": s.url,
        "weight": s.weight,
        "status": s.response.as_ref().map(|r| r.status),
    })
}
