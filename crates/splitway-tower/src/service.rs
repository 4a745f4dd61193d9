//! [`Splitway`]: the service the layer wraps around an inner service, and its future.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderValue, Request, Response, StatusCode, header};
use pin_project_lite::pin_project;
use splitway::{Decision, RequestView, Router, Status};
use tower::Service;

use crate::layer::Options;

/// Routes each request, then calls the inner service with the [`Decision`] in the request's
/// extensions. Built by [`crate::SplitwayLayer`].
///
/// Readiness is the inner service's: this service adds no backpressure of its own. Put a
/// [`crate::Dispatch`] inside it to send each server's requests to its own service, so that
/// an unready canary never holds up the stable side.
#[derive(Debug, Clone)]
pub struct Splitway<S> {
    inner: S,
    router: Router,
    options: Arc<Options>,
}

impl<S> Splitway<S> {
    pub(crate) fn new(inner: S, router: Router, options: Arc<Options>) -> Self {
        Splitway {
            inner,
            router,
            options,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming the wrapper.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Splitway<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let start = Instant::now();
        let ip = (self.options.client_ip)(req.extensions());
        // The decision lives as long as the request: keep a counted clone of it, and let the
        // one `route` returned (which holds a per-thread slot, cheap only while short-lived)
        // go at once, so that many requests in flight do not use up their thread's slots.
        let decision = self
            .router
            .route(&RequestView::from_request(&req, ip))
            .clone();
        let span = tracing::info_span!(
            "splitway",
            route = decision.route(),
            backend = decision.backend(),
            server = decision.server().map(|s| s.name()),
            status = decision.status().code(),
        );
        let answer = match decision.status() {
            Status::Routed => None,
            _ if self.options.fall_through => None,
            Status::NoRoute => Some(StatusCode::NOT_FOUND),
            Status::NoServer => Some(StatusCode::SERVICE_UNAVAILABLE),
        };
        if let Some(status) = answer {
            let mut response = Response::new(ResBody::default());
            *response.status_mut() = status;
            if status == StatusCode::SERVICE_UNAVAILABLE {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            record(&self.options, &decision, status.as_u16(), start);
            return ResponseFuture {
                kind: Kind::Answered {
                    response: Some(response),
                },
            };
        }
        req.extensions_mut().insert(decision.clone());
        let future = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        ResponseFuture {
            kind: Kind::Inner {
                future,
                decision,
                span,
                start,
                options: Arc::clone(&self.options),
            },
        }
    }
}

fn record(options: &Options, decision: &Decision, status: u16, start: Instant) {
    let elapsed = start.elapsed();
    decision.record(status, elapsed);
    if let Some(t) = &options.telemetry {
        let server = decision.server();
        t.record(
            decision.route().unwrap_or(""),
            decision.backend().unwrap_or(""),
            server.as_ref().map_or("", |s| s.name()),
            status,
            elapsed,
        );
    }
}

pin_project! {
    /// The response future of [`Splitway`].
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Inner {
            #[pin]
            future: F,
            decision: Decision,
            span: tracing::Span,
            start: Instant,
            options: Arc<Options>,
        },
        Answered {
            response: Option<Response<B>>,
        },
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Answered { response } => match response.take() {
                Some(r) => Poll::Ready(Ok(r)),
                None => Poll::Pending,
            },
            KindProj::Inner {
                future,
                decision,
                span,
                start,
                options,
            } => {
                let _entered = span.enter();
                let mut response = match future.poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(r)) => r,
                };
                if let Some(cookie) = decision
                    .set_cookie()
                    .and_then(|c| HeaderValue::from_str(c).ok())
                {
                    response.headers_mut().append(header::SET_COOKIE, cookie);
                }
                if let (Some(name), Some(route), Some(server)) =
                    (&options.tag_header, decision.route(), decision.server())
                    && let Ok(value) = HeaderValue::from_str(&format!("{route}/{}", server.name()))
                {
                    response.headers_mut().insert(name.clone(), value);
                }
                record(options, decision, response.status().as_u16(), *start);
                Poll::Ready(Ok(response))
            }
        }
    }
}

impl<F, B> std::fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
