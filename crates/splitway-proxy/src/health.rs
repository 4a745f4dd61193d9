//! Active health checks: for every backend with a `health_check`, each server is asked
//! `GET path` every `interval`; a 2xx or 3xx answer within `timeout` marks it up, anything
//! else (another status, a refused connection, no answer in time, a certificate that does not
//! verify) marks it down, through [`Router::set_health`]. Every method then skips it until a
//! check passes again (SPEC 4). An `https` server is checked over TLS, its certificate
//! verified as the proxy's requests to it are ([`crate::upstream_tls`]).
//!
//! The list of servers is read from the table in service on every tick, so a reload adds and
//! removes checks by itself; health marks survive a reload for servers that keep their backend,
//! name and URL (the core carries them over).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Request, Uri};
use http_body_util::Empty;
use hyper_util::client::legacy::connect::HttpConnector;
use splitway::Router;
use splitway::config::{HealthCheck, UpstreamTls};
use tokio::time::Instant;

use crate::upstream::Upstream;
use crate::upstream_tls::{HttpsClients, Pool};

/// A server to check: backend, server name, URL (a changed URL is a new server).
type Key = (String, String, String);

/// Starts checking the servers of `router`'s backends that have a `health_check`, looking at
/// the table in service every `tick` (checks fall due at their own `interval`). Runs until the
/// returned task is aborted or the runtime stops.
pub fn health_checks(router: Router, tick: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let pool = Pool {
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(10),
            max_idle_per_host: 1,
        };
        let mut connector = pool.connector();
        connector.enforce_http(true);
        let client = pool.upstream(connector);
        // `https` servers are checked over TLS, verified as requests to them are.
        let https = Arc::new(HttpsClients::new(pool));
        let mut due: HashMap<Key, Instant> = HashMap::new();
        let mut ticks = tokio::time::interval(tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let table = router.snapshot();
            let now = Instant::now();
            let mut live = HashSet::new();
            for backend in &table.config().backends {
                let Some(check) = &backend.health_check else {
                    continue;
                };
                // A fixed-response server has nothing to check.
                for server in backend.servers.iter().filter(|s| s.response.is_none()) {
                    let key = (
                        backend.name.clone(),
                        server.name.clone(),
                        server.url.clone(),
                    );
                    let next = due.entry(key.clone()).or_insert(now);
                    if *next <= now {
                        *next = now + check.interval;
                        let client = Checker {
                            http: Arc::clone(&client),
                            https: Arc::clone(&https),
                            tls: backend.tls.clone(),
                        };
                        tokio::spawn(run_check(
                            client,
                            router.clone(),
                            key.clone(),
                            server.uri.clone(),
                            check.clone(),
                        ));
                    }
                    live.insert(key);
                }
            }
            due.retain(|key, _| live.contains(key));
        }
    })
}

/// The clients a check may go out on: plain, or TLS with the backend's `tls` settings.
struct Checker {
    http: Arc<Upstream<HttpConnector>>,
    https: Arc<HttpsClients>,
    tls: Option<UpstreamTls>,
}

/// One check of one server, and the mark it earns.
async fn run_check(
    client: Checker,
    router: Router,
    (backend, server, url): Key,
    base: Uri,
    check: HealthCheck,
) {
    // The status the server answered, if it did.
    type Status = Pin<Box<dyn Future<Output = Option<u16>> + Send>>;
    let sent = check_request(&base, &check).and_then(|req| {
        let status: Status = if req.uri().scheme() == Some(&http::uri::Scheme::HTTPS) {
            // An unusable CA file is logged where the client is made.
            let https = client.https.client(client.tls.as_ref()).ok()?;
            Box::pin(async move { https.request(req).await.ok().map(|r| r.status().as_u16()) })
        } else {
            let http = client.http;
            Box::pin(async move { http.request(req).await.ok().map(|r| r.status().as_u16()) })
        };
        Some(status)
    });
    let healthy = match sent {
        Some(sent) => matches!(
            tokio::time::timeout(check.timeout, sent).await,
            Ok(Some(status)) if (200..400).contains(&status)
        ),
        None => false,
    };
    match router.set_health(&backend, &server, healthy) {
        Ok(true) if healthy => tracing::info!(backend, server, url, "health check passed: up"),
        Ok(true) => tracing::warn!(backend, server, url, "health check failed: down"),
        // Unchanged, or the server left the table in a reload meanwhile.
        Ok(false) | Err(_) => {}
    }
}

/// `GET` of the check's path on the server (or on the check's port), with its `Host` and
/// headers. `None` when they do not make a request (reported as a failed check).
fn check_request(base: &Uri, check: &HealthCheck) -> Option<Request<Empty<Bytes>>> {
    let host = base.host()?;
    let port = check.port.or_else(|| base.port_u16());
    let authority = match port {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let path = if check.path.starts_with('/') {
        check.path.clone()
    } else {
        format!("/{}", check.path)
    };
    let uri = Uri::builder()
        .scheme(base.scheme()?.clone())
        .authority(authority.as_str())
        .path_and_query(path)
        .build()
        .ok()?;
    let mut req = Request::get(uri).body(Empty::new()).ok()?;
    let host_header = check.hostname.clone().unwrap_or(authority);
    req.headers_mut().insert(
        http::header::HOST,
        HeaderValue::from_str(&host_header).ok()?,
    );
    for (name, value) in &check.headers {
        req.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).ok()?,
            HeaderValue::from_str(value).ok()?,
        );
    }
    Some(req)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn check(path: &str, port: Option<u16>, hostname: Option<&str>) -> HealthCheck {
        HealthCheck {
            path: path.into(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            port,
            hostname: hostname.map(str::to_owned),
            headers: vec![("X-Probe".into(), "1".into())],
        }
    }

    #[test]
    fn the_check_request_uses_the_checks_port_host_and_headers() {
        let base: Uri = "http://10.0.0.5:8080".parse().unwrap();
        let req = check_request(&base, &check("/health", None, None)).unwrap();
        assert_eq!(req.uri(), "http://10.0.0.5:8080/health");
        assert_eq!(req.headers()["host"], "10.0.0.5:8080");
        assert_eq!(req.headers()["x-probe"], "1");

        let req = check_request(&base, &check("ping", Some(9000), Some("web.internal"))).unwrap();
        assert_eq!(req.uri(), "http://10.0.0.5:9000/ping");
        assert_eq!(req.headers()["host"], "web.internal");
    }
}
