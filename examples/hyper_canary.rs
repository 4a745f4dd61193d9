//! splitway in a plain hyper 1.x server: one binary that ships two versions of its handlers
//! and sends each request to one of them by the rules of one of the talk's phases.
//!
//! ```text
//! cargo run -p splitway-examples --bin hyper_canary                # listens on 127.0.0.1:3001
//! curl -i localhost:3001/                                          # v1 (phase 1)
//! curl -i localhost:3001/ -H 'Cookie: _AUSER_TYPE=canary'          # v2: a beta tester
//! curl -i localhost:3001/ -H 'Host: example.com'                   # 404: no route
//! cargo run -p splitway-examples --bin hyper_canary -- --phase 2   # 5:5:1 for everyone else
//! ```
//!
//! Options: `--listen ADDR` (default 127.0.0.1:3001, or `HYPER_CANARY_LISTEN`), `--phase N`
//! (1, 2 or 3; default 1), `--config-dir DIR` (default: this package's `config/axum`, whose
//! host lists take `localhost`). Ctrl-C or SIGTERM stops accepting, lets the requests in
//! flight finish (at most 10 s), and exits 0.
//!
//! The wiring, from the socket inwards: a [`TcpListener`]; per connection, hyper-util's
//! [auto connection builder](auto::Builder) (HTTP/1.1, or HTTP/2 with prior knowledge) watched
//! by a [`GracefulShutdown`]; the tower stack made a hyper service by
//! [`TowerToHyperService`]; in it, the peer address put in the request as a [`ClientAddr`]
//! (for `ClientIP` rules and `client_ip` cohorts), the [`SplitwayLayer`] (decides, answers
//! 404/503 itself, sets the sticky or cohort cookie), and [`Dispatch`] from the chosen
//! server's name to the v1 or v2 handlers.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderName, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use splitway::Decision;
use splitway_tower::{ClientAddr, Dispatch, SplitwayLayer};
use tokio::net::TcpListener;
use tower::{Service, ServiceBuilder};

/// The legacy handlers and the new ones.
const V1: Handlers = Handlers { version: "v1" };
const V2: Handlers = Handlers { version: "v2" };

/// Longest the stop waits for the requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hyper_canary: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let router = load_phase(&args.config_dir, args.phase)?;
    // Installed before the listening line, so that a signal sent right after it is not missed.
    let shutdown = shutdown_signal().map_err(|e| format!("cannot watch for signals: {e}"))?;
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("no local address: {e}"))?;
    // Tests read this line to find the port when started with `--listen 127.0.0.1:0`.
    println!(
        "hyper_canary listening on http://{addr} (phase {})",
        args.phase
    );

    // Built once; each connection gets a clone (the router inside is a shared handle).
    let app = ServiceBuilder::new()
        .layer(SplitwayLayer::new(router).tag_responses(HeaderName::from_static("x-splitway")))
        .service(
            Dispatch::new()
                .server("legacy_1", V1)
                .server("legacy_2", V1)
                .server("k8s", V2),
        );
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // With a timer, hyper's 30 s limit on reading a request head applies.
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();

    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    eprintln!("hyper_canary: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = ServiceBuilder::new()
            .map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(ClientAddr(peer));
                req
            })
            .service(app.clone());
        let conn = builder
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                eprintln!("hyper_canary: connection from {peer}: {e}");
            }
        });
    }

    drop(listener);
    println!("hyper_canary stopping");
    tokio::select! {
        () = graceful.shutdown() => Ok(()),
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            Err(format!("requests still in flight after {DRAIN_TIMEOUT:?}"))
        }
    }
}

/// One version of the handlers (`v1`: the talk's PHP app, `v2`: its Rails + React rewrite), as
/// a plain tower service. Every page says which version, route and server served it: the
/// question the talk's team could not answer when a customer reported a bug.
#[derive(Debug, Clone, Copy)]
struct Handlers {
    version: &'static str,
}

impl<B> Service<Request<B>> for Handlers {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let page = match req.uri().path() {
            "/" => "",
            "/deals" => " deals",
            _ => {
                let mut response = Response::new("no such page\n".to_owned());
                *response.status_mut() = StatusCode::NOT_FOUND;
                return ready(Ok(response));
            }
        };
        // Put there by the layer: the decision that sent this request here.
        let decision = req.extensions().get::<Decision>();
        ready(Ok(Response::new(format!(
            "{}{page} (route {}, server {})\n",
            self.version,
            decision.and_then(|d| d.route()).unwrap_or("-"),
            decision.and_then(|d| d.server()).map_or("-", |s| s.name()),
        ))))
    }
}

fn load_phase(dir: &Path, phase: u8) -> Result<splitway::Router, String> {
    let path = dir.join(format!("phase{phase}.yaml"));
    let loaded = splitway::config::Config::from_file(&path).map_err(|e| e.to_string())?;
    splitway::Router::from_config(&loaded.config).map_err(|e| e.to_string())
}

/// Ctrl-C, or SIGTERM (what Kubernetes sends before it kills a pod). The handlers are
/// installed when this is called, not when the future is first polled.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

struct Args {
    listen: SocketAddr,
    phase: u8,
    config_dir: PathBuf,
}

impl Args {
    fn parse() -> Args {
        let listen = match std::env::var("HYPER_CANARY_LISTEN") {
            Ok(addr) => addr
                .parse()
                .unwrap_or_else(|_| usage("HYPER_CANARY_LISTEN takes ADDR:PORT")),
            Err(_) => SocketAddr::from(([127, 0, 0, 1], 3001)),
        };
        let mut args = Args {
            listen,
            phase: 1,
            config_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("config/axum"),
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let value = it
                .next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
            match flag.as_str() {
                "--listen" => {
                    args.listen = value
                        .parse()
                        .unwrap_or_else(|_| usage("--listen takes ADDR:PORT"))
                }
                "--phase" => {
                    args.phase = value
                        .parse()
                        .ok()
                        .filter(|p| (1..=3).contains(p))
                        .unwrap_or_else(|| usage("--phase is 1, 2 or 3"))
                }
                "--config-dir" => args.config_dir = value.into(),
                _ => usage(&format!("unknown option {flag}")),
            }
        }
        args
    }
}

fn usage(message: &str) -> ! {
    eprintln!(
        "hyper_canary: {message}\nusage: hyper_canary [--listen ADDR] [--phase 1|2|3] [--config-dir DIR]"
    );
    std::process::exit(2)
}
