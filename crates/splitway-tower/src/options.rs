//! What the layer and its service share: the settings, and where the client address is found.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::{Extensions, HeaderName};

/// The TCP peer address of a request, for `ClientIP` rules and `client_ip` cohorts.
///
/// The layer looks for this in the request's extensions (then for a plain
/// [`SocketAddr`]); put it there from your accept loop, or tell the layer where else to look
/// with [`crate::SplitwayLayer::client_ip`] (e.g. axum's `ConnectInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

type ClientIpFn = dyn Fn(&Extensions) -> Option<IpAddr> + Send + Sync;

/// Settings shared by every clone of the layer's service.
#[derive(Clone)]
pub(crate) struct Options {
    pub(crate) tag_header: Option<HeaderName>,
    pub(crate) fall_through: bool,
    pub(crate) client_ip: Arc<ClientIpFn>,
    pub(crate) metrics: bool,
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("tag_header", &self.tag_header)
            .field("fall_through", &self.fall_through)
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

pub(crate) fn default_client_ip(ext: &Extensions) -> Option<IpAddr> {
    ext.get::<ClientAddr>()
        .map(|a| a.0.ip())
        .or_else(|| ext.get::<SocketAddr>().map(SocketAddr::ip))
}
