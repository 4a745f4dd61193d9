//! Rollouts end to end on 127.0.0.1: two upstream servers, the proxy in front with a `hash`
//! backend and 1 s intervals, a client loop. A healthy canary is promoted by the proxy by
//! itself; a canary answering 500 is rolled back within interval × (failures + 1), and the
//! users the cohort keeps on stable never see an error. Every task is stopped at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
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
use splitway_proxy::{Options, Proxy, Rollouts};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// An upstream answering its name, with 500 while `failing` holds.
async fn upstream(name: &'static str, failing: Arc<AtomicBool>) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let failing = Arc::clone(&failing);
            tokio::spawn(async move {
                let service = service_fn(move |_req| {
                    let fail = failing.load(Ordering::SeqCst);
                    async move {
                        let mut r = Response::new(Full::new(Bytes::from_static(name.as_bytes())));
                        if fail {
                            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                        }
                        Ok::<_, Infallible>(r)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, task)
}

struct Run {
    rollouts: Rollouts,
    proxy: SocketAddr,
    canary_failing: Arc<AtomicBool>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Run {
    async fn start() -> Run {
        let canary_failing = Arc::new(AtomicBool::new(false));
        let (stable, t1) = upstream("stable", Arc::new(AtomicBool::new(false))).await;
        let (canary, t2) = upstream("canary", Arc::clone(&canary_failing)).await;
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
        let mut tasks = vec![t1, t2];
        tasks.push(splitway_proxy::rollouts::spawn(
            rollouts.clone(),
            Duration::from_millis(50),
        ));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = listener.local_addr().unwrap();
        tasks.push(tokio::spawn(splitway_proxy::serve(
            listener,
            Proxy::new(router, Options::default()),
            async move {
                let mut rx = stopped;
                let _ = rx.wait_for(|s| *s).await;
            },
        )));
        Run {
            rollouts,
            proxy,
            canary_failing,
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

    async fn stop(self) {
        self.stop.send(true).ok();
        for task in self.tasks {
            task.abort();
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
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
        let user = i % 200;
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
    run.canary_failing.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let seen = client_loop(&run, Duration::from_secs(10), |r| {
        r.state() == "rolled_back"
    })
    .await;
    let took = started.elapsed();
    assert_eq!(run.state(), "rolled_back", "after {took:?}");
    assert!(took <= Duration::from_millis(3_200), "{took:?}");
    // Every 500 came from the canary; users the cohort keeps on stable saw none.
    let on_canary: std::collections::HashSet<usize> = seen
        .iter()
        .filter(|(_, _, s)| s == "canary")
        .map(|(u, _, _)| *u)
        .collect();
    let errors: Vec<_> = seen
        .iter()
        .filter(|(_, status, _)| *status != 200)
        .collect();
    assert!(!errors.is_empty());
    assert!(
        errors
            .iter()
            .all(|(_, status, s)| *status == 500 && s == "canary")
    );
    assert!(
        seen.iter()
            .filter(|(u, _, _)| !on_canary.contains(u))
            .all(|(_, status, _)| *status == 200)
    );
    // At most the canary's share (20% of users, give or take the hash) of the requests sent.
    let share = errors.len() as f64 / seen.len() as f64;
    assert!(
        share <= 0.3,
        "{} of {} requests failed",
        errors.len(),
        seen.len()
    );
    // Rolled back: nobody reaches the canary any more.
    let after = client_loop(&run, Duration::from_millis(300), |_| false).await;
    assert!(
        after
            .iter()
            .all(|(_, status, s)| *status == 200 && s == "stable")
    );
    run.stop().await;
}
