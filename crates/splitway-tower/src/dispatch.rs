//! [`Dispatch`]: from the chosen server's name to the inner service that plays that server.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use splitway::Decision;
use tower::Service;
use tower::util::{Oneshot, ServiceExt};

/// Sends each request to the service registered for the server its [`Decision`] chose
/// (e.g. `stable` → the v1 `axum::Router`, `canary` → the v2 one), so that one binary can
/// ship both versions of its handlers.
///
/// Always ready: like axum's router, it clones the chosen service and drives it with
/// `oneshot`, so a slow or unready canary delays only the canary's requests, never the
/// stable ones (tower's `Steer` would wait for every branch to be ready). The trade: a
/// branch's own backpressure is felt by its requests' futures, not by the caller's
/// `poll_ready`.
///
/// Servers are matched by name; one service may be registered for a name that several
/// backends use. A request with no decision, or whose server has no service, goes to the
/// [fallback](Dispatch::fallback), or gets a 500 (it means the configuration and the code
/// disagree about server names).
#[derive(Debug)]
pub struct Dispatch<S> {
    services: Arc<Vec<(String, S)>>,
    fallback: Option<S>,
}

impl<S: Clone> Clone for Dispatch<S> {
    fn clone(&self) -> Self {
        Dispatch {
            services: Arc::clone(&self.services),
            fallback: self.fallback.clone(),
        }
    }
}

impl<S> Default for Dispatch<S> {
    fn default() -> Self {
        Dispatch {
            services: Arc::new(Vec::new()),
            fallback: None,
        }
    }
}

impl<S: Clone> Dispatch<S> {
    /// A dispatch with no service yet.
    pub fn new() -> Self {
        Dispatch::default()
    }

    /// Serves requests routed to the server called `name` with `service` (replacing an
    /// earlier registration of the same name).
    pub fn server(mut self, name: impl Into<String>, service: S) -> Self {
        let name = name.into();
        let services = Arc::make_mut(&mut self.services);
        services.retain(|(n, _)| *n != name);
        services.push((name, service));
        self
    }

    /// Serves requests with no decision or an unregistered server with `service`.
    pub fn fallback(mut self, service: S) -> Self {
        self.fallback = Some(service);
        self
    }

    fn service_for(&self, decision: Option<&Decision>) -> Option<&S> {
        let name = decision.and_then(|d| d.server()).map(|s| s.name());
        name.and_then(|name| {
            self.services
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, s)| s)
        })
        .or(self.fallback.as_ref())
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Dispatch<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = DispatchFuture<S, Request<ReqBody>, ResBody>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        match self.service_for(req.extensions().get::<Decision>()) {
            Some(service) => DispatchFuture {
                kind: DispatchKind::Call {
                    call: service.clone().oneshot(req),
                },
            },
            None => {
                let mut response = Response::new(ResBody::default());
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                tracing::error!(
                    server = req
                        .extensions()
                        .get::<Decision>()
                        .and_then(|d| d.server())
                        .map(|s| s.name()),
                    "splitway Dispatch has no service for this server and no fallback"
                );
                DispatchFuture {
                    kind: DispatchKind::Missing {
                        response: Some(response),
                    },
                }
            }
        }
    }
}

pin_project! {
    /// The response future of [`Dispatch`].
    pub struct DispatchFuture<S, Req, B>
    where
        S: Service<Req>,
    {
        #[pin]
        kind: DispatchKind<S, Req, B>,
    }
}

pin_project! {
    #[project = DispatchProj]
    enum DispatchKind<S, Req, B>
    where
        S: Service<Req>,
    {
        Call {
            #[pin]
            call: Oneshot<S, Req>,
        },
        Missing {
            response: Option<Response<B>>,
        },
    }
}

impl<S, Req, B> Future for DispatchFuture<S, Req, B>
where
    S: Service<Req, Response = Response<B>>,
{
    type Output = Result<Response<B>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            DispatchProj::Call { call } => call.poll(cx),
            DispatchProj::Missing { response } => match response.take() {
                Some(r) => Poll::Ready(Ok(r)),
                None => Poll::Pending,
            },
        }
    }
}

impl<S: Service<Req>, Req, B> std::fmt::Debug for DispatchFuture<S, Req, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DispatchFuture").finish_non_exhaustive()
    }
}
