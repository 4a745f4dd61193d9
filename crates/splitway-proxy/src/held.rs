//! A response body that holds something until the body is dropped: a request's place under
//! the cap on requests in flight ([`crate::admission`]), a connection's count of open streams
//! ([`crate::server`]). The body itself passes through unchanged.

use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::{Body, Frame, SizeHint};

/// `body`, with `_held` dropped when it is.
pub(crate) struct HeldBody<B, H> {
    pub(crate) body: B,
    /// Dropped with the body, never read.
    pub(crate) _held: H,
}

impl<B: Body + Unpin, H: Unpin> Body for HeldBody<B, H> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
