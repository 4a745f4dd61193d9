//! [`SplitwayLayer`]: the routing decision as a tower layer, and its options.

use std::net::IpAddr;
use std::sync::Arc;

use http::{Extensions, HeaderName};
use splitway::Router;
use tower::Layer;

use crate::options::{Options, default_client_ip};
use crate::service::Splitway;

/// Routes every request with a [`Router`]: takes the decision once, puts it in the request's
/// extensions (as a [`splitway::Decision`]), writes the sticky or cohort cookie on the
/// response, and answers 404 (no route) or 503 (no server) itself unless told to
/// [fall through](SplitwayLayer::fall_through).
///
/// The [`Router`] handle is shared: a `reload`, `set_weight` or `set_health` made through any
/// clone of it applies to the next request.
#[derive(Debug, Clone)]
pub struct SplitwayLayer {
    router: Router,
    options: Arc<Options>,
}

impl SplitwayLayer {
    /// A layer routing with `router`: no response tag, 404/503 answered by the layer, the
    /// client address from [`crate::ClientAddr`] (or a [`std::net::SocketAddr`]) in the extensions, metrics
    /// recorded through the `metrics` facade.
    pub fn new(router: Router) -> Self {
        SplitwayLayer {
            router,
            options: Arc::new(Options {
                tag_header: None,
                fall_through: false,
                client_ip: Arc::new(default_client_ip),
                metrics: true,
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Options)) -> Self {
        f(Arc::make_mut(&mut self.options));
        self
    }

    /// Tags every routed response with a header naming the route and the server, as
    /// `ROUTE/SERVER` (e.g. `x-splitway: web_canary/k8s`), so that whoever looks at a response
    /// (a browser's developer tools, a support engineer) sees which version served it. Off by
    /// default: it tells clients about your topology.
    pub fn tag_responses(self, header: HeaderName) -> Self {
        self.edit(|o| o.tag_header = Some(header))
    }

    /// When no route matches (or no server is available), pass the request to the inner
    /// service anyway (with the 404/503 decision in its extensions) instead of answering.
    pub fn fall_through(self, yes: bool) -> Self {
        self.edit(|o| o.fall_through = yes)
    }

    /// Where to find the client's address in a request's extensions, e.g. for axum:
    /// `.client_ip(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()))`.
    pub fn client_ip(
        self,
        f: impl Fn(&Extensions) -> Option<IpAddr> + Send + Sync + 'static,
    ) -> Self {
        self.edit(|o| o.client_ip = Arc::new(f))
    }

    /// Whether to record request counts and latencies through the `metrics` facade (on by
    /// default; without an installed recorder they cost next to nothing). The per-server
    /// counters of [`Router::servers`] are recorded either way.
    pub fn metrics(self, yes: bool) -> Self {
        self.edit(|o| o.metrics = yes)
    }

    /// The router this layer routes with.
    pub fn router(&self) -> &Router {
        &self.router
    }
}

impl<S> Layer<S> for SplitwayLayer {
    type Service = Splitway<S>;

    fn layer(&self, inner: S) -> Splitway<S> {
        Splitway::new(inner, self.router.clone(), Arc::clone(&self.options))
    }
}
