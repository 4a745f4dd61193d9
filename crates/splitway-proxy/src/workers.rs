//! The layout of the threads that serve requests, as nginx lays out its worker processes:
//! `N` threads, each with a single-threaded tokio runtime, its own listening socket on the
//! same address (`SO_REUSEPORT`: the kernel spreads new connections over them) and its own
//! pool of connections to the servers, so that a request is read, routed, forwarded and
//! answered on one thread, with no hand-over between threads and no lock shared with the
//! others. What must stay global is: the router (one table, one set of counters), the cap on
//! client connections ([`Limits::max_connections`](crate::Limits::max_connections), one
//! semaphore) and the cap on requests in flight (one count, see
//! [`admission`](crate::admission)).
//!
//! Everything else the proxy runs (the admin listener, reloads, health checks, rollouts)
//! belongs on another runtime, off these threads.

use std::io;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

use crate::forward::Proxy;
use crate::server::{AcceptLog, connection_permits, serve_sharing};
use crate::tls::ServerTls;

/// The pending connections the kernel keeps per listening socket.
const BACKLOG: u32 = 1024;

/// The worker threads, serving until the stop; [`Workers::join`] waits for them.
#[derive(Debug)]
pub struct Workers {
    addr: SocketAddr,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Binds `addr` once a worker (with `SO_REUSEPORT` when there are several; port 0: the
    /// port the first one got) and starts `workers` threads (at least 1) serving `proxy` until
    /// `stop` turns true, then draining their requests in flight as [`serve`](crate::serve)
    /// does; with `tls`, HTTPS only, as [`serve_tls`](crate::serve_tls) does. Binding errors
    /// come back before any thread starts serving.
    pub fn start(
        addr: SocketAddr,
        workers: usize,
        proxy: Proxy,
        tls: Option<ServerTls>,
        stop: watch::Receiver<bool>,
    ) -> io::Result<Workers> {
        let workers = workers.max(1);
        let permits = connection_permits(&proxy.options().limits);
        let log = AcceptLog::default();
        let mut bound = addr;
        let mut ready = Vec::with_capacity(workers);
        for _ in 0..workers {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let listener = {
                // The socket registers with the runtime it is created in: the worker's.
                let _in = runtime.enter();
                listen(bound, workers > 1)?
            };
            bound = listener.local_addr()?;
            ready.push((runtime, listener));
        }
        let mut threads = Vec::with_capacity(workers);
        for (i, (runtime, listener)) in ready.into_iter().enumerate() {
            let proxy = proxy.with_own_pool();
            let (permits, log, tls) = (permits.clone(), log.clone(), tls.clone());
            let mut stop = stop.clone();
            let thread = std::thread::Builder::new()
                .name(format!("splitway-worker-{i}"))
                .spawn(move || {
                    let stopped = async move {
                        let _ = stop.wait_for(|stop| *stop).await;
                    };
                    runtime.block_on(serve_sharing(listener, proxy, tls, permits, log, stopped));
                })?;
            threads.push(thread);
        }
        Ok(Workers {
            addr: bound,
            threads,
        })
    }

    /// The address the workers listen on (the port chosen when `0` was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until every worker has stopped and drained.
    pub fn join(self) {
        for thread in self.threads {
            if thread.join().is_err() {
                tracing::error!("a worker thread panicked");
            }
        }
    }
}

/// A listening socket on `addr`; `shared`: with `SO_REUSEPORT`, for other sockets of this
/// process on the same address.
fn listen(addr: SocketAddr, shared: bool) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    #[cfg(unix)]
    if shared {
        socket.set_reuseport(true)?;
    }
    #[cfg(not(unix))]
    let _ = shared;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}
