//! What one client may hold and send: connections, time to the first request, request heads.
//! (Which `Upgrade` protocols go through is the configuration's `upgrade_protocols`, read
//! from the table in service, so that a reload changes it together with the rules.)
//! The numbers here are the defaults of `splitway serve`'s flags (the project README's
//! "Running it at the edge" lists them); [`server`](crate::server) applies the connection ones
//! and [`Proxy::handle`](crate::Proxy::handle) checks the request ones.

use std::time::Duration;

/// Connection and request limits, for the proxy listener (part of [`Options`](crate::Options))
/// and, with fixed values, for the admin listener.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most client connections open at once (WebSockets included, for as long as they last).
    /// Past it the proxy accepts nothing more until one closes; the kernel's listen backlog
    /// holds the waiting ones. Default: [`default_max_connections`].
    pub max_connections: usize,
    /// Longest a new connection may take to show its protocol: a first byte of an HTTP/1
    /// request, or the whole HTTP/2 connection preface and the client's first SETTINGS frame;
    /// over TLS ([`serve_tls`](crate::serve_tls)), the TLS handshake and then those.
    /// Default 10 s.
    pub handshake_timeout: Duration,
    /// Longest an HTTP/1 client may take to send a whole request head, counted from the end of
    /// the previous response on a keep-alive connection (as hyper counts it); also a body of up
    /// to 64 KiB that did not come with its head, which the proxy reads whole before the
    /// request goes on. Default 30 s.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight (HTTP/1), or no open stream (HTTP/2), for this
    /// long is closed; HTTP/2 ones with a GOAWAY. Default 60 s.
    pub idle_timeout: Duration,
    /// Largest request head: HTTP/1's request line and header lines, HTTP/2's header list as
    /// RFC 9113 counts it (each field's name and value plus 32). Past it: 431. Default 65,536.
    pub max_header_bytes: usize,
    /// Most header fields in a request (each repeated field counted). Past it: 431.
    /// Default 100.
    pub max_headers: usize,
    /// Longest request target (path and query). Past it: 414. Default 8,192.
    pub max_uri_bytes: usize,
    /// Most requests in flight across the whole proxy (every connection and worker), each
    /// from its head to the end of its response body. Past it: 503 with `Retry-After: 1` at
    /// once, before routing (see [`admission`](crate::admission)). Default 4,096.
    pub max_requests_in_flight: usize,
    /// Most HTTP/2 streams a client may have open at once on one connection (announced in
    /// SETTINGS). Default 100, the least RFC 9113 recommends.
    pub h2_max_concurrent_streams: u32,
    /// Most HTTP/2 streams a client may open and reset before the proxy has accepted them
    /// (the "rapid reset" flood), past which it sends a GOAWAY. Default 20 (the h2 crate's).
    pub h2_max_pending_accept_reset_streams: usize,
    /// Most HTTP/2 streams the proxy may reset because of a client's errors on one connection,
    /// past which it sends a GOAWAY. Default 1,024 (hyper's).
    pub h2_max_local_error_reset_streams: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: default_max_connections(),
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: 65_536,
            max_headers: 100,
            max_uri_bytes: 8_192,
            max_requests_in_flight: 4_096,
            h2_max_concurrent_streams: 100,
            h2_max_pending_accept_reset_streams: 20,
            h2_max_local_error_reset_streams: 1_024,
        }
    }
}

impl Limits {
    /// The admin listener's: the defaults, but few connections (an operator and a scraper or
    /// two). (It forwards nothing, so no upgrade goes through it.)
    pub(crate) fn admin() -> Limits {
        Limits {
            max_connections: 32,
            ..Limits::default()
        }
    }
}

/// Connections kept for upstream servers and files, on top of one upstream connection per
/// client connection.
const RESERVED_FILES: u64 = 64;

/// The connection cap that fits `open_files` file descriptors (`None`: no limit): half of them
/// for clients, since each may need one to a server too, less 64 for the pool's spare
/// connections, the configuration file and the like; at least 1.
pub fn max_connections_for(open_files: Option<u64>) -> usize {
    // "Unlimited" is still bounded by the kernel (Linux's default `nr_open`).
    let files = open_files.unwrap_or(1 << 20);
    let connections = (files / 2).saturating_sub(RESERVED_FILES).max(1);
    usize::try_from(connections).unwrap_or(usize::MAX)
}

/// [`max_connections_for`] the process's open-file limit as it is now (call
/// [`raise_open_file_limit`] first to have the most); 448 where the limit cannot be read
/// (the common soft limit of 1,024).
pub fn default_max_connections() -> usize {
    #[cfg(unix)]
    {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        max_connections_for(limit.current)
    }
    #[cfg(not(unix))]
    {
        max_connections_for(Some(1024))
    }
}

/// Raises the process's soft open-file limit to its hard limit (what `ulimit -n` shows is
/// often 1,024 while the hard limit is far higher) and returns the soft limit now in force
/// (`None`: unlimited). An error when the system refuses; the limit is then unchanged.
#[cfg(unix)]
pub fn raise_open_file_limit() -> std::io::Result<Option<u64>> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        )?;
    }
    Ok(getrlimit(Resource::Nofile).current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_the_files_less_the_reserve_and_never_zero() {
        assert_eq!(max_connections_for(Some(1024)), 448);
        assert_eq!(max_connections_for(Some(256)), 64);
        assert_eq!(max_connections_for(Some(65_536)), 32_704);
        assert_eq!(max_connections_for(Some(100)), 1);
        assert_eq!(max_connections_for(None), 524_224);
    }
}
