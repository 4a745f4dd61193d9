//! `splitway serve`: the reverse proxy, reloading its configuration file when it changes;
//! or, with `--demo`, on a configuration and upstreams of its own ([`crate::demo`]).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use splitway_proxy::{AdminAccess, Limits, Options, Proxy};

use crate::Fail;
use crate::demo::Demo;
use crate::request::{load_router, usage};

/// `serve` arguments.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The configuration file; it is read again every second and reloaded when it changes.
    #[arg(long, required_unless_present = "demo", conflicts_with = "demo")]
    config: Option<PathBuf>,
    /// No configuration to write: three upstreams inside the process (`legacy_1`, `legacy_2`,
    /// `k8s`), the talk's phase 2 as a cohort in front of them, a guarded rollout of `k8s`
    /// whose build starts failing 75 s in and is rolled back, traffic, and the admin
    /// listener (default 127.0.0.1:9901).
    #[arg(long)]
    demo: bool,
    /// With `--demo`: the generator's requests per second, default 5 (0: none; one in five
    /// is a beta tester's).
    #[arg(long, value_name = "RPS")]
    demo_traffic: Option<f64>,
    /// With `--demo`: run its timeline N times faster, 1 to 100 (times divided by N, traffic
    /// multiplied by N); default 1.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    demo_speed: Option<u32>,
    /// Where the proxy listens (port 0: any free port, printed on stderr).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the admin endpoints (`/healthz`, `/stats`, weight and up/down edits, the
    /// dashboard at `/`) listen; none when not given (with `--demo`: 127.0.0.1:9901).
    /// Without `--admin-token-file`, a loopback address only.
    #[arg(long)]
    admin: Option<SocketAddr>,
    /// A file holding the admin's bearer token (its bytes less one trailing newline): every
    /// admin endpoint but `/healthz`, `/metrics` and the dashboard page `/` then needs
    /// `Authorization: Bearer TOKEN` (the page asks for it).
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
    /// preface and SETTINGS; with --tls-cert, the TLS handshake and then those) before it is
    /// closed.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    handshake_timeout: u64,
    /// Seconds an HTTP/1 client has to send a whole request head (the wait for the next
    /// request on a keep-alive connection included), and a body of up to 64 KiB that did not
    /// come with it (read whole before the request goes on).
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
    /// A PEM certificate chain (leaf first) for `--listen`, which then speaks TLS only
    /// (ALPN h2 and http/1.1). Repeatable, paired in order with `--tls-key`; a client's SNI
    /// picks the certificate carrying that name, the first one otherwise. Reloaded when the
    /// files change.
    #[arg(long, value_name = "FILE")]
    tls_cert: Vec<PathBuf>,
    /// The PEM private key of the `--tls-cert` at the same position.
    #[arg(long, value_name = "FILE")]
    tls_key: Vec<PathBuf>,
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
    // (clap's `requires` takes a flag's implicit `false` for present.)
    if !args.demo && (args.demo_traffic.is_some() || args.demo_speed.is_some()) {
        return Err(usage("--demo-traffic and --demo-speed go with --demo"));
    }
    let demo = match args.demo {
        true => Some(Demo::new(
            args.demo_traffic.unwrap_or(crate::demo::DEFAULT_RPS),
            args.demo_speed.unwrap_or(1),
        )?),
        false => None,
    };
    let admin_addr = args.admin.or(demo.map(|_| crate::demo::DEFAULT_ADMIN));
    if let Some(addr) = admin_addr {
        access.allows_bind(addr).map_err(|reason| usage(&reason))?;
    }
    let tls = server_tls(args)?;
    // The recorder before the table: a rollout's backend registers its servers' series when
    // its table loads, and handles registered before a recorder stay no-ops.
    let render = if admin_addr.is_some() {
        prometheus()
    } else {
        None
    };
    let limits = limits(args);
    // This thread's runtime runs everything but the requests (signals, the admin listener,
    // reloads, health checks, rollouts, the demo's upstreams and traffic); the workers, one
    // single-threaded runtime each, serve the requests.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| usage(&format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        // A file's errors stop `serve` before anything is bound; the demo's configuration
        // names ports that exist only once its upstreams listen.
        let (router, serving, upstreams) = match (&args.config, &demo) {
            (Some(path), _) => (load_router(path)?, path.display().to_string(), None),
            (None, Some(demo)) => {
                let upstreams = demo.start_upstreams().await?;
                let router = demo_router(&demo.config(&upstreams))?;
                (
                    router,
                    "the demo's configuration".to_owned(),
                    Some(upstreams),
                )
            }
            (None, None) => return Err(usage("serve needs --config FILE or --demo")),
        };
        check_upstream_tls(&router)?;
        let rollouts = start_rollouts(&router, args)?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        // The demo runs on a default port more often than not: say how to pick another.
        let hint = if demo.is_some() {
            " (port 0 picks a free one)"
        } else {
            ""
        };
        let proxy = Proxy::new(
            router.clone(),
            Options {
                connect_timeout: Duration::from_secs(args.connect_timeout.max(1)),
                response_timeout: Duration::from_secs(args.response_timeout.max(1)),
                limits,
                ..Options::default()
            },
        );
        let workers = splitway_proxy::Workers::start(
            args.listen,
            workers(args),
            proxy,
            tls.clone(),
            stopped.clone(),
        )
        .map_err(|e| usage(&format!("cannot listen on {}: {e}{hint}", args.listen)))?;
        let admin = match admin_addr {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| usage(&format!("cannot listen on {addr}: {e}{hint}")))?,
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
        let _reloads = args.config.clone().map(|path| match &rollouts {
            Some(r) => {
                let r = r.clone();
                splitway_proxy::watch_with(
                    std::sync::Arc::new(move |p: &std::path::Path| r.reload_file(p)),
                    path,
                    Duration::from_secs(1),
                )
            }
            None => splitway_proxy::watch(router.clone(), path, Duration::from_secs(1)),
        });
        let _certificate_reloads = tls.as_ref().map(|tls| tls.watch(Duration::from_secs(1)));
        let _ticks = rollouts
            .clone()
            .map(|r| splitway_proxy::rollouts::spawn(r, Duration::from_millis(100)));
        // Each backend's checks fall due at their own interval; this is how often to look.
        let _checks = splitway_proxy::health_checks(router.clone(), Duration::from_millis(250));
        let admin_bound = admin.as_ref().and_then(|a| a.local_addr().ok());
        let admin = admin.map(|admin| {
            // Plain lines, not logs: scripts (and tests) read the bound ports from them.
            if let Some(addr) = admin_bound {
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
        let proxy_bound = workers.local_addr();
        let over = if tls.is_some() { " (TLS)" } else { "" };
        eprintln!("splitway: proxy listening on {proxy_bound}{over}, serving {serving}");
        if let (Some(demo), Some(upstreams)) = (demo, &upstreams) {
            // For the person at the terminal; a closed stdout must not stop the demo.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", demo.config(upstreams));
            if let Some(admin) = admin_bound {
                let token = args
                    .admin_token_file
                    .as_ref()
                    .map(|f| f.display().to_string());
                let _ = writeln!(out, "{}", demo.guide(proxy_bound, admin, token.as_deref()));
            }
            let _ = out.flush();
            drop(out);
            tokio::spawn(demo.traffic(proxy_bound, until_stopped(stopped.clone())));
        }
        until_stopped(stopped).await;
        // The workers drain their requests in flight (at most 30 s), while this runtime goes
        // on serving the admin and the demo's upstreams they may be waiting for.
        let _ = tokio::task::spawn_blocking(move || workers.join()).await;
        if let Some(admin) = admin {
            let _ = admin.await;
        }
        if let Some(upstreams) = upstreams {
            eprint!("{}", upstreams.summary(&router));
        }
        Ok(())
    })
}

/// The listener's certificates from the `--tls-cert`/`--tls-key` pairs; `None` without any.
fn server_tls(args: &ServeArgs) -> Result<Option<splitway_proxy::ServerTls>, Fail> {
    if args.tls_cert.len() != args.tls_key.len() {
        return Err(usage(&format!(
            "--tls-cert and --tls-key go in pairs (the Nth key is the Nth certificate's): \
             {} --tls-cert and {} --tls-key given",
            args.tls_cert.len(),
            args.tls_key.len()
        )));
    }
    if args.tls_cert.is_empty() {
        return Ok(None);
    }
    let pairs = args
        .tls_cert
        .iter()
        .zip(&args.tls_key)
        .map(|(cert, key)| splitway_proxy::CertPair {
            cert: cert.clone(),
            key: key.clone(),
        })
        .collect();
    splitway_proxy::ServerTls::load(pairs)
        .map(Some)
        .map_err(|e| usage(&format!("TLS: {e}")))
}

/// A CA file that cannot be used would give every request to its servers a 502: say so at
/// start.
fn check_upstream_tls(router: &splitway::Router) -> Result<(), Fail> {
    for backend in &router.snapshot().config().backends {
        if let Some(settings) = &backend.tls {
            splitway_proxy::upstream_tls::check(settings)
                .map_err(|e| usage(&format!("backend `{}`: tls: {e}", backend.name)))?;
        }
    }
    Ok(())
}

/// The router of the demo's configuration text.
fn demo_router(text: &str) -> Result<splitway::Router, Fail> {
    let loaded = splitway::config::Config::from_str(text, splitway::config::Format::Yaml, "demo")
        .map_err(|err| {
        for d in &err.diagnostics {
            eprintln!("{d}");
        }
        Fail
    })?;
    splitway::Router::from_config(&loaded.config).map_err(|e| usage(&format!("the demo: {e}")))
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
    // The demo starts over each time by design; fleet-mode rollouts are replayed from
    // Prometheus, so a state file has nothing to add to them.
    let local = file.rollouts.iter().any(|r| r.fleet.is_none());
    if local && args.state.is_none() && !args.demo {
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
