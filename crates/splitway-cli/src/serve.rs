//! `splitway serve`: the reverse proxy, reloading its configuration file when it changes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use splitway_proxy::{AdminAccess, Limits, Options, Proxy};

use crate::Fail;
use crate::request::{load_router, usage};

/// `serve` arguments.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The configuration file; it is read again every second and reloaded when it changes.
    #[arg(long)]
    config: PathBuf,
    /// Where the proxy listens (port 0: any free port, printed on stderr).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the admin endpoints (`/healthz`, `/stats`, weight and up/down edits) listen;
    /// none when not given. Without `--admin-token-file`, a loopback address only.
    #[arg(long)]
    admin: Option<SocketAddr>,
    /// A file holding the admin's bearer token (its bytes less one trailing newline): every
    /// admin endpoint but `/healthz` and `/metrics` then needs `Authorization: Bearer TOKEN`.
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    /// Seconds to wait for a TCP connection to a server before answering 502.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    connect_timeout: u64,
    /// Seconds to wait for a server's response head before answering 504.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    response_timeout: u64,
    /// Where the rollouts' state is written at each transition (atomically) and read back at
    /// start, so that a restarted proxy resumes each rollout at its step.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Most client connections open at once; past it nothing more is accepted until one
    /// closes. Default: half the open-file limit (raised to the hard limit at start) less 64.
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Seconds a new connection has to show its protocol (a first HTTP/1 byte, or the HTTP/2
    /// preface and SETTINGS) before it is closed.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    handshake_timeout: u64,
    /// Seconds an HTTP/1 client has to send a whole request head (the wait for the next
    /// request on a keep-alive connection included).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    header_read_timeout: u64,
    /// Seconds a connection may stay with no request in flight (HTTP/2: no open stream)
    /// before it is closed (HTTP/2 with a GOAWAY).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    idle_timeout: u64,
    /// Largest request head in bytes (HTTP/1 request line and headers, HTTP/2 header list);
    /// past it 431.
    #[arg(long, value_name = "BYTES", default_value_t = 65_536)]
    max_header_bytes: usize,
    /// Most header fields in a request; past it 431.
    #[arg(long, value_name = "N", default_value_t = 100)]
    max_headers: usize,
    /// Most requests in flight across the whole proxy; past it 503 with `Retry-After: 1` at
    /// once, before routing.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    max_requests_in_flight: usize,
    /// Threads serving requests. Default: the CPUs this process may run on.
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
}

pub(crate) fn run(args: &ServeArgs) -> Result<(), Fail> {
    init_logs();
    let access = match &args.admin_token_file {
        Some(path) => AdminAccess::from_token_file(path).map_err(|e| usage(&e.to_string()))?,
        None => AdminAccess::loopback_only(),
    };
    if let Some(addr) = args.admin {
        access.allows_bind(addr).map_err(|reason| usage(&reason))?;
    }
    let router = load_router(&args.config)?;
    let limits = limits(args);
    // The proxy's client speaks plain HTTP; say so now rather than with a 502 per request.
    for backend in &router.snapshot().config().backends {
        for server in &backend.servers {
            if server.uri.scheme_str() == Some("https") {
                eprintln!(
                    "splitway: warning: server `{}` of backend `{}` is https ({}): serve \
                     reaches servers over plain HTTP only, so its requests will get 502",
                    server.name, backend.name, server.url
                );
            }
        }
    }
    // The recorder first, so that the rollouts' and the workers' first figures are recorded.
    let render = if args.admin.is_some() {
        prometheus()
    } else {
        None
    };
    let rollouts = start_rollouts(&router, args)?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // The threads that serve requests (one single-threaded runtime each); everything else
    // (signals, the admin listener, reloads, health checks, rollouts) runs on this thread's.
    let proxy = Proxy::new(
        router.clone(),
        Options {
            connect_timeout: Duration::from_secs(args.connect_timeout.max(1)),
            response_timeout: Duration::from_secs(args.response_timeout.max(1)),
            limits,
            ..Options::default()
        },
    );
    let workers =
        splitway_proxy::Workers::start(args.listen, workers(args), proxy, stopped.clone())
            .map_err(|e| usage(&format!("cannot listen on {}: {e}", args.listen)))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| usage(&format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let admin = match args.admin {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| usage(&format!("cannot listen on {addr}: {e}")))?,
            ),
            None => None,
        };
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("stopping: no new connections, draining requests in flight");
            let _ = stop.send(true);
        });
        let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let _reloads = match &rollouts {
            Some(r) => {
                let r = r.clone();
                splitway_proxy::watch_with(
                    std::sync::Arc::new(move |p: &std::path::Path| r.reload_file(p)),
                    args.config.clone(),
                    Duration::from_secs(1),
                )
            }
            None => {
                splitway_proxy::watch(router.clone(), args.config.clone(), Duration::from_secs(1))
            }
        };
        let _ticks = rollouts
            .clone()
            .map(|r| splitway_proxy::rollouts::spawn(r, Duration::from_millis(100)));
        // Each backend's checks fall due at their own interval; this is how often to look.
        let _checks = splitway_proxy::health_checks(router.clone(), Duration::from_millis(250));
        let admin = admin.map(|admin| {
            // Plain lines, not logs: scripts (and tests) read the bound ports from them.
            if let Ok(addr) = admin.local_addr() {
                eprintln!("splitway: admin listening on {addr}");
            }
            tokio::spawn(splitway_proxy::serve_admin_with(
                admin,
                router.clone(),
                render,
                access,
                rollouts.clone(),
                until_stopped(stopped.clone()),
            ))
        });
        eprintln!(
            "splitway: proxy listening on {}, serving {}",
            workers.local_addr(),
            args.config.display()
        );
        until_stopped(stopped).await;
        if let Some(admin) = admin {
            let _ = admin.await;
        }
        Ok::<(), Fail>(())
    })?;
    // The workers drain their requests in flight (at most 30 s).
    workers.join();
    Ok(())
}

/// The configuration's rollouts, restored from `--state`, with their weights in service;
/// `None` when the configuration has none.
fn start_rollouts(
    router: &splitway::Router,
    args: &ServeArgs,
) -> Result<Option<splitway_proxy::Rollouts>, Fail> {
    let file = router.snapshot().config().clone();
    if file.rollouts.is_empty() {
        return Ok(None);
    }
    if args.state.is_none() {
        eprintln!(
            "splitway: warning: no --state FILE: a restart puts every rollout back at step 1"
        );
    }
    splitway_proxy::Rollouts::new(
        router.clone(),
        file,
        args.state.clone(),
        std::time::SystemTime::now(),
    )
    .map(Some)
    .map_err(|e| usage(&e.to_string()))
}

/// The flags' limits, once the open-file limit is raised (the default connection cap
/// follows from it).
fn limits(args: &ServeArgs) -> Limits {
    #[cfg(unix)]
    if let Err(e) = splitway_proxy::limits::raise_open_file_limit() {
        tracing::warn!(error = %e, "the open-file limit could not be raised");
    }
    let max_connections = args
        .max_connections
        .unwrap_or_else(splitway_proxy::limits::default_max_connections);
    tracing::info!(max_connections, "connection cap");
    Limits {
        max_connections: max_connections.max(1),
        handshake_timeout: Duration::from_secs(args.handshake_timeout.max(1)),
        header_read_timeout: Duration::from_secs(args.header_read_timeout.max(1)),
        idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
        // hyper's HTTP/1 parser needs room for a request line and a few headers.
        max_header_bytes: args.max_header_bytes.max(1024),
        max_headers: args.max_headers.max(1),
        max_requests_in_flight: args.max_requests_in_flight.max(1),
        ..Limits::default()
    }
}

/// `--workers`, or the CPUs available to the process (its affinity mask and cgroup quota
/// included), at least 1.
fn workers(args: &ServeArgs) -> usize {
    args.workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

/// Installs the Prometheus recorder (before the proxy registers its metrics) and returns how
/// to render it for `/metrics`; `None` (and a warning) if a recorder is already installed.
///
/// `splitway_request_duration_seconds` is a histogram with splitway's fixed buckets (so that
/// `histogram_quantile` over it agrees with the per-server p99 of the core's counters);
/// samples are folded into the buckets every second by a thread of its own, never by a thread
/// that serves requests.
fn prometheus() -> Option<splitway_proxy::RenderMetrics> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    use splitway::telemetry::{DURATION_METRIC, LATENCY_BUCKETS_SECONDS};
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(DURATION_METRIC.to_owned()),
            &LATENCY_BUCKETS_SECONDS,
        )
        .and_then(|b| b.install_recorder());
    let handle = match builder {
        Ok(handle) => handle,
        Err(e) => {
            tracing::warn!(error = %e, "no /metrics: the Prometheus recorder did not install");
            return None;
        }
    };
    let upkeep = handle.clone();
    let spawned = std::thread::Builder::new()
        .name("splitway-metrics".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(1));
                upkeep.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no /metrics: no thread to fold the histograms");
        return None;
    }
    Some(std::sync::Arc::new(move || handle.render()))
}

/// Ctrl-C, or SIGTERM (what Kubernetes sends before it kills a pod).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Logs to stderr, `info` by default (`RUST_LOG` overrides).
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}
