//! What the proxy's integration tests share: a configuration read from YAML text, the proxy
//! served on a 127.0.0.1 port of its own, and tasks that stop when the test ends.

// Every test binary compiles this module on its own and uses only part of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::SocketAddr;

use splitway::Router;
use splitway::config::{Config, Format};
use splitway_proxy::{Options, Proxy};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Aborts a task when dropped, so that a failing test stops what it started.
pub(crate) struct Task(pub(crate) JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The configuration in YAML `text` (named `name` in its errors), which must be valid.
pub(crate) fn config_from_yaml(text: &str, name: &str) -> Config {
    Config::from_str(text, Format::Yaml, name).unwrap().config
}

/// A router for the configuration in YAML `text` (named `name` in its errors).
pub(crate) fn router_from_yaml(text: &str, name: &str) -> Router {
    Router::from_config(&config_from_yaml(text, name)).unwrap()
}

/// `splitway_proxy::serve` of `router` with `options` on a fresh 127.0.0.1 port until
/// `shutdown`: the port and the serving task.
pub(crate) async fn serve_proxy(
    router: Router,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = tokio::spawn(splitway_proxy::serve(
        listener,
        Proxy::new(router, options),
        shutdown,
    ));
    (addr, served)
}
