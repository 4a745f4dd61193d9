//! The cap on requests in flight across the whole proxy (`--max-requests-in-flight`): past
//! it a request is answered 503 with `Retry-After: 1` at once, before it is routed, instead
//! of waiting in a queue that only makes every request slower.
//!
//! A request counts from the moment [`Proxy::handle`](crate::Proxy::handle) takes it to the
//! drop of its response body (a slow download holds its place, as it holds its memory), on
//! whichever worker serves it: one count shared by every clone of the [`Proxy`](crate::Proxy).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How long a refused client is told to wait (`Retry-After`, seconds).
pub const OVERLOAD_RETRY_AFTER_SECONDS: u32 = 1;

/// Requests in flight and the most allowed; shared by the proxy's clones.
#[derive(Debug)]
pub(crate) struct InFlightCap {
    max: usize,
    count: AtomicUsize,
}

impl InFlightCap {
    /// A cap of `max` (at least 1).
    pub(crate) fn new(max: usize) -> Arc<InFlightCap> {
        Arc::new(InFlightCap {
            max: max.max(1),
            count: AtomicUsize::new(0),
        })
    }

    /// A place for one more request, or `None` when all `max` are taken.
    pub(crate) fn try_enter(self: &Arc<Self>) -> Option<Admitted> {
        // Relaxed: the count orders nothing else; it only has to be exact.
        let before = self.count.fetch_add(1, Ordering::Relaxed);
        if before >= self.max {
            self.count.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(Admitted(Arc::clone(self)))
    }

    /// Requests in flight now.
    #[cfg(test)]
    pub(crate) fn current(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}

/// One request's place under the cap, given back when dropped.
#[derive(Debug)]
pub(crate) struct Admitted(Arc<InFlightCap>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_places_and_each_comes_back_on_drop() {
        let cap = InFlightCap::new(2);
        let a = cap.try_enter();
        let b = cap.try_enter();
        assert!(a.is_some() && b.is_some());
        assert!(cap.try_enter().is_none());
        assert_eq!(cap.current(), 2);
        drop(a);
        assert_eq!(cap.current(), 1);
        let c = cap.try_enter();
        assert!(c.is_some());
        assert!(cap.try_enter().is_none());
        drop((b, c));
        assert_eq!(cap.current(), 0);
        // A cap of 0 is taken as 1.
        let one = InFlightCap::new(0);
        let first = one.try_enter();
        assert!(first.is_some());
        assert!(one.try_enter().is_none());
    }
}
