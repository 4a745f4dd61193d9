//! [`Splitway`]: the service the layer wraps around an inner service, and its future.

use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use splitway::{Exchange, RequestView, Router};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::Service;

use crate::options::Options;

/// Routes each request, then calls the inner service with the [`splitway::Decision`] in the request's
/// extensions and the matched frontend's path rewrites applied (the new path, and
/// `X-Forwarded-Prefix` or `X-Replaced-Path`; see [`splitway::Exchange::rewrite_request`]).
/// Built by [`crate::SplitwayLayer`].
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
    ResBody: Default + From<String>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let ip = (self.options.client_ip)(req.extensions());
        let exchange = Exchange::begin(&self.router, &RequestView::from_request(&req, ip));
        let decision = exchange.decision();
        let span = tracing::info_span!(
            "splitway",
            route = decision.route(),
            backend = decision.backend(),
            server = decision.server().map(|s| s.name()),
            status = decision.status().code(),
        );
        if !self.options.fall_through
            && let Some(response) = exchange.own_response(|text| ResBody::from(text.to_owned()))
        {
            // The proxy's answer: the status, the text (a fixed response's `body`, or `no
            // route`, `no server available`), `Content-Type: text/plain`.
            exchange.finish(response.status().as_u16(), self.options.metrics);
            return ResponseFuture {
                kind: Kind::Answered {
                    response: Some(response),
                },
            };
        }
        if exchange.rewrite_request(&mut req).is_err() {
            // Only a rewrite into an invalid target fails; the inner service never sees it.
            let mut response = Response::new(ResBody::default());
            *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            exchange.finish(response.status().as_u16(), self.options.metrics);
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
                exchange,
                span,
                options: Arc::clone(&self.options),
            },
        }
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
            exchange: Exchange,
            span: tracing::Span,
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
                exchange,
                span,
                options,
            } => {
                let _entered = span.enter();
                let mut response = match future.poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(r)) => r,
                };
                exchange.complete_response(response.headers_mut());
                let decision = exchange.decision();
                if let (Some(name), Some(route), Some(server)) =
                    (&options.tag_header, decision.route(), decision.server())
                    && let Ok(value) = HeaderValue::from_str(&format!("{route}/{}", server.name()))
                {
                    response.headers_mut().insert(name.clone(), value);
                }
                exchange.finish(response.status().as_u16(), options.metrics);
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
