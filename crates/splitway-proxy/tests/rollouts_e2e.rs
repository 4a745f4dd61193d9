//! Rollouts end to end on 127.0.0.1: two upstream servers, each its own OS process, the proxy
//! in front with a `hash` backend and 1 s intervals, a client loop. A healthy canary is
//! promoted by the proxy by itself, the share the client sees following the steps; a canary
//! that starts answering 500 is rolled back within interval × (failures + 1), the users
//! `explain` places on stable never see an error, and the 500s are bounded by the canary's
//! users. Every task is stopped and every process killed by its PID at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use splitway::Router;
use splitway::config::{Config, Format};
use splitway_proxy::explain::RequestLine;
use splitway_proxy::{Options, Proxy, Rollouts};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The client loop's users: `user-0` to `user-199`, in turn.
const USERS: usize = 200;

/// An upstream server in its own OS process: this test binary run again with only
/// `upstream_process`, which answers its name, and 500 after a `POST /control/fail` sent to it
/// directly. Killed by its PID when dropped; it also exits when its stdin closes (this process
/// ended).
struct Upstream {
    child: Child,
    addr: SocketAddr,
}

impl Upstream {
    fn start(name: &str) -> Upstream {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "upstream_process", "--nocapture"])
            .env(UPSTREAM_ENV, name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("upstream listening on ") {
                    let _ = tx.send(addr.parse::<SocketAddr>().unwrap());
                }
            }
        });
        let mut up = Upstream {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        up.addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the upstream process says where it listens");
        assert_ne!(up.child.id(), std::process::id());
        up
    }

    /// Makes the upstream answer 500 from now on.
    async fn fail(&self) {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let req = Request::post(format!("http://{}/control/fail", self.addr))
            .body(Full::default())
            .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(5), client.request(req))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const UPSTREAM_ENV: &str = "SPLITWAY_E2E_UPSTREAM";

/// The upstream process's body (does nothing unless started by [`Upstream::start`]).
#[test]
#[ignore = "the upstream server process of the end-to-end tests; they start it"]
fn upstream_process() {
    let Ok(name) = std::env::var(UPSTREAM_ENV) else {
        return;
    };
    // The test that started it has ended (or died): so does this process.
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        std::process::exit(0);
    });
    let name: &'static str = Box::leak(name.into_boxed_str());
    let failing = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("upstream listening on {}", listener.local_addr().unwrap());
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let failing = Arc::clone(&failing);
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let failing = Arc::clone(&failing);
                    async move {
                        if req.uri().path() == "/control/fail" {
                            failing.store(true, Ordering::SeqCst);
                            let mut r = Response::new(Full::new(Bytes::new()));
                            *r.status_mut() = StatusCode::NO_CONTENT;
                            return Ok::<_, Infallible>(r);
                        }
                        let mut r = Response::new(Full::new(Bytes::from_static(name.as_bytes())));
                        if failing.load(Ordering::SeqCst) {
                            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                        }
                        Ok(r)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

struct Run {
    rollouts: Rollouts,
    router: Router,
    proxy: SocketAddr,
    stable: Upstream,
    canary: Upstream,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Run {
    async fn start() -> Run {
        let stable_up = Upstream::start("stable");
        let canary_up = Upstream::start("canary");
        let (stable, canary) = (stable_up.addr, canary_up.addr);
        let text = format!(
            r#"frontends:
  web:
    rule: "Host(`web.example`)"
backends:
  web:
    hash:
      key: "cookie:uid"
    servers:
      - {{name: stable, url: "http://{stable}", weight: 9}}
      - {{name: canary, url: "http://{canary}", weight: 0}}
rollouts:
  web:
    canary: canary
    steps: [20, 50]
    interval: 1s
    analysis:
      min_requests: 20
      failures: 2
"#
        );
        let file = Config::from_str(&text, Format::Yaml, "e2e.yaml")
            .unwrap()
            .config;
        let router = Router::from_config(&file).unwrap();
        let rollouts = Rollouts::new(router.clone(), file, None, SystemTime::now()).unwrap();
        let mut tasks = vec![rollouts.spawn(Duration::from_millis(50))];
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = listener.local_addr().unwrap();
        tasks.push(tokio::spawn(splitway_proxy::serve(
            listener,
            Proxy::new(router.clone(), Options::default()),
            async move {
                let mut rx = stopped;
                let _ = rx.wait_for(|s| *s).await;
            },
        )));
        Run {
            rollouts,
            router,
            proxy,
            stable: stable_up,
            canary: canary_up,
            stop,
            tasks,
        }
    }

    fn state(&self) -> String {
        self.rollouts.to_json()["rollouts"][0]["state"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The users of `user-0..user-199` that `explain` places on the canary now.
    fn canary_users(&self) -> HashSet<usize> {
        (0..USERS)
            .filter(|u| {
                let line = RequestLine::new(
                    "GET",
                    "http://web.example/",
                    &[("cookie".to_owned(), format!("uid=user-{u}"))],
                    None,
                    None,
                )
                .unwrap();
                line.explain(&self.router)["server"] == "canary"
            })
            .collect()
    }

    async fn stop(self) {
        self.stop.send(true).ok();
        for task in self.tasks {
            task.abort();
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        // The upstream processes are killed by their PIDs as they drop.
        drop((self.stable, self.canary));
    }
}

/// Sends requests as users `user-0..user-199` in turn until `done` or `limit`; every answer
/// as (user, status, server).
async fn client_loop(
    run: &Run,
    limit: Duration,
    done: impl FnMut(&Run) -> bool,
) -> Vec<(usize, u16, String)> {
    client_loop_steps(run, limit, done)
        .await
        .into_iter()
        .map(|(_, answer)| answer)
        .collect()
}

/// [`client_loop`], each answer with the rollout's step when it was sent (read every 10
/// requests).
async fn client_loop_steps(
    run: &Run,
    limit: Duration,
    mut done: impl FnMut(&Run) -> bool,
) -> Vec<(u64, (usize, u16, String))> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let start = Instant::now();
    let mut seen = Vec::new();
    let mut i = 0usize;
    let mut step = 0;
    while start.elapsed() < limit && !done(run) {
        let user = i % USERS;
        if i.is_multiple_of(10) {
            step = run.rollouts.to_json()["rollouts"][0]["step"]
                .as_u64()
                .unwrap();
        }
        i += 1;
        let req = Request::get(format!("http://{}/", run.proxy))
            .header("host", "web.example")
            .header("cookie", format!("uid=user-{user}"))
            .body(Full::default())
            .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(5), client.request(req))
            .await
            .expect("an answer within 5 s")
            .unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        seen.push((
            step,
            (user, status, String::from_utf8_lossy(&body).into_owned()),
        ));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_canary_is_promoted_by_the_proxy_itself() {
    let run = Run::start().await;
    let started = Instant::now();
    let stepped =
        client_loop_steps(&run, Duration::from_secs(10), |r| r.state() == "promoted").await;
    assert_eq!(run.state(), "promoted", "after {:?}", started.elapsed());
    // The share the client sees follows the steps: 20%, then 50% (of 200 users, by the hash).
    for (step, target) in [(1u64, 0.2), (2, 0.5)] {
        let at: Vec<_> = stepped.iter().filter(|(s, _)| *s == step).collect();
        let canary = at.iter().filter(|(_, (_, _, srv))| srv == "canary").count();
        let share = canary as f64 / at.len() as f64;
        assert!(at.len() > 100, "{} requests at step {step}", at.len());
        assert!(
            (share - target).abs() < 0.1,
            "step {step}: {share} of {}",
            at.len()
        );
    }
    let seen: Vec<_> = stepped.into_iter().map(|(_, a)| a).collect();
    // Two steps of 1 s each, and the tick's resolution.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(seen.iter().all(|(_, status, _)| *status == 200));
    // The cohort only ever moved users onto the canary.
    let mut first_canary: HashMap<usize, usize> = HashMap::new();
    for (k, (user, _, server)) in seen.iter().enumerate() {
        if server == "canary" {
            first_canary.entry(*user).or_insert(k);
        } else if let Some(&at) = first_canary.get(user) {
            panic!("user-{user} went back to stable at request {k} after the canary at {at}");
        }
    }
    let after = client_loop(&run, Duration::from_millis(300), |_| false).await;
    assert!(!after.is_empty());
    assert!(after.iter().all(|(_, _, server)| server == "canary"));
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_answering_500_is_rolled_back_within_interval_times_failures_plus_one() {
    let run = Run::start().await;
    // Step 1 (20%): the users `explain` places on the canary; the cohort keeps the rest on
    // stable for the whole rollout (a rollback only moves users onto stable).
    let on_canary = run.canary_users();
    let effective = run.rollouts.to_json()["rollouts"][0]["effective_share"]
        .as_f64()
        .unwrap();
    assert!((effective - 20.0).abs() < 0.1, "{effective}");
    let failing_from = SystemTime::now();
    run.canary.fail().await;
    let seen = client_loop(&run, Duration::from_secs(10), |r| {
        r.state() == "rolled_back"
    })
    .await;
    assert_eq!(run.state(), "rolled_back");
    // The proxy rolled back by itself: its own transition times, interval 1 s, failures 2.
    let r = run.rollouts.to_json()["rollouts"][0].clone();
    let path: Vec<(&str, &str)> = r["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["to"].as_str().unwrap(), t["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        path,
        [
            ("progressing", "started"),
            ("holding", "analysis_failed"),
            ("rolled_back", "analysis_failed")
        ]
    );
    let rolled_back_at =
        humantime::parse_rfc3339(r["transitions"][2]["at"].as_str().unwrap()).unwrap();
    let took = rolled_back_at.duration_since(failing_from).unwrap();
    assert!(took <= Duration::from_secs(3), "{took:?}");

    // Users placed on stable: zero errors throughout, every answer stable's.
    let stable_answers: Vec<_> = seen
        .iter()
        .filter(|(u, _, _)| !on_canary.contains(u))
        .collect();
    assert!(!stable_answers.is_empty());
    assert!(
        stable_answers
            .iter()
            .all(|(_, status, s)| *status == 200 && s == "stable")
    );
    // The 500s: exactly the requests of the users placed on the canary, while it was in
    // service. n requests cycle through the 200 users, so each user sent at most ceil(n/200),
    // and the 500s are at most ceil(n/200) x (users on the canary): the canary's share of the
    // users (`C/200`, the hash's realisation of the effective share) of the requests sent.
    let errors: Vec<_> = seen
        .iter()
        .filter(|(_, status, _)| *status != 200)
        .collect();
    assert!(!errors.is_empty());
    assert!(
        errors
            .iter()
            .all(|(u, status, s)| *status == 500 && s == "canary" && on_canary.contains(u))
    );
    let n = seen.len();
    let per_user = n.div_ceil(USERS);
    assert!(
        errors.len() <= per_user * on_canary.len(),
        "{} 500s of {n} requests, {} users on the canary",
        errors.len(),
        on_canary.len()
    );
    // ... and the hash's share of 200 users is the effective share within 3 standard
    // deviations of a binomial draw (200 x 0.2 x 0.8 = 32; sqrt = 5.7 users).
    let users_share = on_canary.len() as f64 / USERS as f64 * 100.0;
    assert!(
        (users_share - effective).abs() <= 3.0 * 5.7 / 2.0,
        "{users_share}% of the users vs {effective}%"
    );
    // Rolled back: nobody reaches the canary any more.
    let after = client_loop(&run, Duration::from_millis(300), |_| false).await;
    assert!(!after.is_empty());
    assert!(
        after
            .iter()
            .all(|(_, status, s)| *status == 200 && s == "stable")
    );
    run.stop().await;
}
