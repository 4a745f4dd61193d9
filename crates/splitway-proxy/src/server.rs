//! Accepting connections: HTTP/1.1 with keep-alive and protocol upgrades (WebSocket), or
//! HTTP/2 with prior knowledge (h2c); one task per connection, and a graceful stop that lets
//! requests in flight finish.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::forward::{Proxy, ProxyBody};

/// Longest a client may take to send a request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest the graceful stop waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `proxy` on `listener` until `shutdown` completes, then stops accepting and waits (up
/// to 30 s) for the connections' requests in flight.
pub async fn serve(listener: TcpListener, proxy: Proxy, shutdown: impl Future<Output = ()>) {
    serve_with(
        listener,
        move |req, peer| {
            let proxy = proxy.clone();
            async move { proxy.handle(req, peer).await }
        },
        shutdown,
    )
    .await;
}

/// The accept loop behind [`serve`] (and the admin listener): `handle` answers each request.
pub(crate) async fn serve_with<H, F>(
    listener: TcpListener,
    handle: H,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + 'static,
    F: Future<Output = Response<ProxyBody>> + Send + 'static,
{
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    // HTTP/1.1, or HTTP/2 with prior knowledge (h2c), told apart by the connection preface.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Forget the connections that have ended.
        while connections.try_join_next().is_some() {}
        let handle = handle.clone();
        let service = service_fn(move |req| {
            let response = handle(req, peer);
            async move { Ok::<_, Infallible>(response.await) }
        });
        let builder = builder.clone();
        let mut stopped = stopped.clone();
        connections.spawn(async move {
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let stop_asked = async {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            let ended = tokio::select! {
                ended = conn.as_mut() => Some(ended),
                () = stop_asked => None,
            };
            let ended = match ended {
                Some(ended) => ended,
                None => {
                    // Finish the request in flight, then close (an upgraded connection has
                    // already left this task).
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("requests still in flight after the drain timeout; stopping anyway");
        connections.abort_all();
    }
}
