//! `splitway serve --demo`: the talk's release on one machine, with nothing to write first.
//!
//! Three small upstreams inside the process, on 127.0.0.1 ports of their own (`legacy_1` and
//! `legacy_2`, the PHP app on EC2, and `k8s`, the Rails + React build on Kubernetes), each
//! answering its name and version; the talk's phase 2 in front of them as a cohort (`hash`)
//! backend with a guarded rollout of `k8s`; and a gentle traffic generator, one request in
//! five from a beta tester (cookie `_AUSER_TYPE=canary`). The canary build starts answering
//! 500 to every request 75 seconds in, so the rollout that was progressing holds and then
//! rolls itself back. The timeline, at `--demo-speed 1`:
//!
//! | at | what |
//! |---|---|
//! | 0 s | step 1: `k8s` takes 10% of `web`'s accounts |
//! | 30 s | analysis passed: step 2, 25% |
//! | 60 s | analysis passed: step 3, 50% |
//! | 75 s | `k8s` answers 500 to everyone, beta testers included |
//! | 90 s | analysis failed: holding at step 3, failure 1 of 2 |
//! | 120 s | analysis failed again: `rolled_back`, `k8s` at weight 0 in `web` |
//!
//! `--demo-speed N` divides every time by N and multiplies the traffic by N, so that each
//! interval is judged on the same number of requests.

use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use tokio::net::TcpListener;

use crate::Fail;
use crate::request::usage;

/// The host every demo request names, as in the talk.
pub(crate) const HOST: &str = "web.agendor.com.br";

/// The admin address when `--admin` is not given.
pub(crate) const DEFAULT_ADMIN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9901);

/// The generator's requests per second when `--demo-traffic` is not given.
pub(crate) const DEFAULT_RPS: f64 = 5.0;

/// The rollout's steps, in percent of `web`'s traffic.
const STEPS: &str = "[10, 25, 50, 75]";
/// Each step's interval, at speed 1.
const INTERVAL: Duration = Duration::from_secs(30);
/// When the canary build starts failing, at speed 1: in the middle of step 3's interval, so
/// that nothing depends on which of the two clocks ticks first.
const CANARY_FAILS_AFTER: Duration = Duration::from_secs(75);
/// One request in this many is a beta tester's.
const BETA_EVERY: u64 = 5;
/// One request in this many is an anonymous visitor's (no account cookie: the proxy gives
/// one); never a beta tester's.
const ANONYMOUS_EVERY: u64 = 10;
/// Accounts the generator's users are drawn from.
const ACCOUNTS: u32 = 500;
/// Requests of the generator in flight at once; a tick past it is skipped.
const MAX_IN_FLIGHT: usize = 64;

/// What the demo's flags ask for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Demo {
    /// Requests per second at speed 1.
    rps: f64,
    /// How many times faster than real time the timeline runs.
    speed: u32,
}

impl Demo {
    /// The demo of `--demo-traffic RPS` and `--demo-speed N`.
    pub(crate) fn new(rps: f64, speed: u32) -> Result<Demo, Fail> {
        if !(0.0..=1000.0).contains(&rps) {
            return Err(usage(&format!(
                "--demo-traffic {rps}: requests per second must be between 0 and 1000"
            )));
        }
        Ok(Demo {
            rps,
            speed: speed.max(1),
        })
    }

    /// A duration of the timeline at this speed.
    fn scaled(&self, at_speed_1: Duration) -> Duration {
        at_speed_1 / self.speed
    }

    /// The three upstreams, listening on 127.0.0.1 ports of their own until the runtime
    /// stops; the canary's failures count from now.
    pub(crate) async fn start_upstreams(&self) -> Result<Upstreams, Fail> {
        let fails_at = Instant::now() + self.scaled(CANARY_FAILS_AFTER);
        let mut started = Vec::new();
        for (name, version, fails_at) in [
            ("legacy_1", "v1 (PHP on EC2)", None),
            ("legacy_2", "v1 (PHP on EC2)", None),
            ("k8s", "v2 (Rails + React on Kubernetes)", Some(fails_at)),
        ] {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .await
                .map_err(|e| usage(&format!("cannot start the demo's upstream {name}: {e}")))?;
            let addr = listener
                .local_addr()
                .map_err(|e| usage(&format!("the demo's upstream {name}: {e}")))?;
            // Plain lines, as the proxy's: tests read the ports from them.
            eprintln!("splitway: demo upstream {name} listening on {addr}");
            let upstream = Arc::new(Upstream::new(name, version, fails_at));
            tokio::spawn(serve_upstream(listener, Arc::clone(&upstream)));
            started.push((addr, upstream));
        }
        match <[_; 3]>::try_from(started) {
            Ok([legacy_1, legacy_2, k8s]) => Ok(Upstreams {
                legacy_1: legacy_1.0,
                legacy_2: legacy_2.0,
                k8s: k8s.0,
                served: vec![legacy_1.1, legacy_2.1, k8s.1],
            }),
            Err(_) => Err(usage("the demo's upstreams did not start")),
        }
    }

    /// The configuration the demo serves: the talk's phase 2 as a cohort, and the rollout.
    pub(crate) fn config(&self, upstreams: &Upstreams) -> String {
        let interval_ms = self.scaled(INTERVAL).as_millis();
        format!(
            "# The talk's phase 2 as a cohort: each account stays on one side, and the rollout
# walks `k8s` through {STEPS}% of `web`'s accounts, judging each step against the
# legacy servers. Beta testers (cookie _AUSER_TYPE=canary) go to `k8s` through
# `web_canary`, which the rollout does not judge.
frontends:
  web:
    rules:
      - \"Host:{HOST}\"
  web_canary:
    rules:
      - \"Host:{HOST}\"
      - \"HeadersRegexp:Cookie,_AUSER_TYPE=canary\"
backends:
  web:
    hash:
      key: \"cookie:agendor_uid\"
      seed: \"rails-migration-2017\"
      issue_cookie: true
    servers:
      - name: legacy_1
        url: \"http://{legacy_1}\"
        weight: 5
      - name: legacy_2
        url: \"http://{legacy_2}\"
        weight: 5
      - name: k8s
        url: \"http://{k8s}\"
        weight: 0
  web_canary:
    - name: k8s
      url: \"http://{k8s}\"
rollouts:
  web:
    canary: k8s
    steps: {STEPS}
    interval: {interval_ms}ms
    analysis:
      min_requests: 5
      max_error_rate: 0.05
      max_error_rate_increase: 0.05
      confidence: 0.95
      failures: 2
    on_success: promote
",
            legacy_1 = upstreams.legacy_1,
            legacy_2 = upstreams.legacy_2,
            k8s = upstreams.k8s,
        )
    }

    /// What to look at and what to try, for a person at the terminal.
    pub(crate) fn guide(
        &self,
        proxy: SocketAddr,
        admin: SocketAddr,
        token: Option<&str>,
    ) -> String {
        let proxy = reachable(proxy);
        let admin = reachable(admin);
        let write_auth = match token {
            Some(file) => format!("-H \"Authorization: Bearer $(cat {file})\""),
            None => "-H 'X-Splitway: 1'".to_owned(),
        };
        let read_auth = match token {
            Some(file) => format!(" -H \"Authorization: Bearer $(cat {file})\""),
            None => String::new(),
        };
        let token_flag = token
            .map(|file| format!(" --admin-token-file {file}"))
            .unwrap_or_default();
        let at = |secs: u64| {
            let d = self.scaled(Duration::from_secs(secs));
            let text = if d.subsec_millis() == 0 {
                format!("{}s", d.as_secs())
            } else {
                format!("{:.1}s", d.as_secs_f64())
            };
            format!("{text:>6}")
        };
        let traffic = self.rps * f64::from(self.speed);
        format!(
            "\nsplitway demo: the talk's phase 2 on three upstreams in this process, \
             {traffic} requests/s of traffic (one in {BETA_EVERY} a beta tester's), \
             and a guarded rollout of k8s.\n\
             \n  dashboard:  http://{admin}/\n\
             \n  the timeline:\n\
             {}  step 1: k8s takes 10% of web's accounts\n\
             {}  step 2 (25%), {} step 3 (50%), as each analysis passes\n\
             {}  k8s starts answering 500 (to beta testers too)\n\
             {}  analysis failed: holding, failure 1 of 2\n\
             {}  analysis failed again: rolled_back, k8s at weight 0 in web\n\
             \n  try:\n\
             \x20   curl -s -H 'Host: {HOST}' -b 'agendor_uid=account-42' http://{proxy}/\n\
             \x20   curl -s -H 'Host: {HOST}' -b '_AUSER_TYPE=canary' http://{proxy}/\n\
             \x20   curl -s{read_auth} http://{admin}/stats\n\
             \x20   curl -s{read_auth} http://{admin}/rollouts\n\
             \x20   splitway rollout status --admin {admin}{token_flag}\n\
             \x20   curl -s -X POST {write_auth} http://{admin}/rollouts/web/pause\n\
             \x20   curl -s -X POST {write_auth} http://{admin}/rollouts/web/resume\n\
             \x20   curl -s -X PUT {write_auth} http://{admin}/servers/web/legacy_2/down\n\
             \n  Ctrl-C stops it all.\n",
            at(0),
            at(30),
            at(60).trim_start(),
            at(75),
            at(90),
            at(120),
        )
    }

    /// Sends the demo's traffic to the proxy at `proxy` until `stop` completes: at most
    /// [`MAX_IN_FLIGHT`] requests at once, each given up after 10 s.
    pub(crate) async fn traffic(self, proxy: SocketAddr, stop: impl Future<Output = ()>) {
        let rps = self.rps * f64::from(self.speed);
        if rps <= 0.0 {
            return;
        }
        let proxy = reachable(proxy);
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(2017);
        let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rps));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        for n in 1u64.. {
            tokio::select! {
                _ = ticks.tick() => {}
                () = &mut stop => return,
            }
            let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
                continue;
            };
            let account = rng.random_range(1..=ACCOUNTS);
            let path = ["/", "/deals", "/contacts", "/reports"][(n % 4) as usize];
            let Ok(request) = demo_request(proxy, path, visitor(n, account)) else {
                continue;
            };
            let client = client.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let _ = tokio::time::timeout(Duration::from_secs(10), async {
                    if let Ok(response) = client.request(request).await {
                        let _ = response.into_body().collect().await;
                    }
                })
                .await;
            });
        }
    }
}

/// The three upstreams: where they listen and what they have answered.
#[derive(Debug)]
pub(crate) struct Upstreams {
    legacy_1: SocketAddr,
    legacy_2: SocketAddr,
    k8s: SocketAddr,
    served: Vec<Arc<Upstream>>,
}

impl Upstreams {
    /// What each upstream answered and what the proxy counted for each of its servers, as
    /// lines for the end of a run (once the proxy has drained, the two agree): a beta
    /// tester's request anywhere but on `k8s` through `web_canary` would show here.
    pub(crate) fn summary(&self, router: &splitway::Router) -> String {
        let mut out = String::new();
        for u in &self.served {
            out.push_str(&format!(
                "splitway: demo upstream {} answered {} requests, {} from beta testers, {} with 500\n",
                u.name,
                u.requests.load(Ordering::Relaxed),
                u.beta_testers.load(Ordering::Relaxed),
                u.errors.load(Ordering::Relaxed),
            ));
        }
        let counted: Vec<String> = router
            .servers()
            .iter()
            .map(|s| format!("{}/{} {}", s.backend, s.server, s.stats.requests))
            .collect();
        out.push_str(&format!(
            "splitway: demo proxy counted {}\n",
            counted.join(", ")
        ));
        out
    }
}

/// Who sends the generator's `n`-th request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visitor {
    /// A beta tester, with the cookie and an account.
    BetaTester(u32),
    /// A signed-in user.
    User(u32),
    /// A visitor with no account cookie yet.
    Anonymous,
}

fn visitor(n: u64, account: u32) -> Visitor {
    if n.is_multiple_of(BETA_EVERY) {
        Visitor::BetaTester(account)
    } else if n % ANONYMOUS_EVERY == 1 {
        Visitor::Anonymous
    } else {
        Visitor::User(account)
    }
}

fn demo_request(
    proxy: SocketAddr,
    path: &str,
    visitor: Visitor,
) -> Result<Request<Empty<Bytes>>, http::Error> {
    let builder = Request::get(format!("http://{proxy}{path}")).header("host", HOST);
    let builder = match visitor {
        Visitor::BetaTester(account) => builder.header(
            "cookie",
            format!("_AUSER_TYPE=canary; agendor_uid=account-{account}"),
        ),
        Visitor::User(account) => {
            builder.header("cookie", format!("agendor_uid=account-{account}"))
        }
        Visitor::Anonymous => builder,
    };
    builder.body(Empty::new())
}

/// An address to connect to for one a listener is bound to (`0.0.0.0:P` is reached on
/// 127.0.0.1:P).
fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip = match addr {
            SocketAddr::V4(_) => std::net::IpAddr::V4(Ipv4Addr::LOCALHOST),
            SocketAddr::V6(_) => std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}

/// One demo upstream: its name and version, when it starts failing (never for `None`), and
/// what it has answered.
#[derive(Debug)]
struct Upstream {
    name: &'static str,
    version: &'static str,
    fails_at: Option<Instant>,
    requests: AtomicU64,
    beta_testers: AtomicU64,
    errors: AtomicU64,
}

impl Upstream {
    fn new(name: &'static str, version: &'static str, fails_at: Option<Instant>) -> Self {
        Upstream {
            name,
            version,
            fails_at,
            requests: AtomicU64::new(0),
            beta_testers: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    /// The answer to any request: `NAME VERSION`, or a 500 naming the server once it fails;
    /// counted, with whether it came with the beta-tester cookie.
    fn answer<B>(&self, request: &Request<B>) -> Response<Full<Bytes>> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let beta = request
            .headers()
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .any(|pair| pair.trim() == "_AUSER_TYPE=canary");
        if beta {
            self.beta_testers.fetch_add(1, Ordering::Relaxed);
        }
        let failing = self.fails_at.is_some_and(|at| Instant::now() >= at);
        if failing {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let (status, body) = if failing {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "{} {}: error (this build fails on purpose)\n",
                    self.name, self.version
                ),
            )
        } else {
            (StatusCode::OK, format!("{} {}\n", self.name, self.version))
        };
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}

/// Accepts and answers connections until the runtime stops.
async fn serve_upstream(listener: TcpListener, upstream: Arc<Upstream>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::debug!(server = upstream.name, error = %e, "demo upstream: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let upstream = Arc::clone(&upstream);
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let response = upstream.answer(&request);
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_request_in_five_is_a_beta_testers_and_one_in_ten_anonymous() {
        let visitors: Vec<Visitor> = (1..=100).map(|n| visitor(n, 7)).collect();
        let beta = visitors
            .iter()
            .filter(|v| matches!(v, Visitor::BetaTester(_)))
            .count();
        let anonymous = visitors
            .iter()
            .filter(|v| matches!(v, Visitor::Anonymous))
            .count();
        assert_eq!((beta, anonymous), (20, 10));
    }

    #[test]
    fn the_config_passes_the_checks_at_every_speed() {
        let upstreams = Upstreams {
            legacy_1: "127.0.0.1:1".parse().unwrap(),
            legacy_2: "127.0.0.1:2".parse().unwrap(),
            k8s: "127.0.0.1:3".parse().unwrap(),
            served: Vec::new(),
        };
        for speed in [1, 7, 10, 100] {
            let demo = Demo::new(5.0, speed).unwrap();
            let text = demo.config(&upstreams);
            let loaded =
                splitway::config::Config::from_str(&text, splitway::config::Format::Yaml, "demo")
                    .unwrap();
            assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
            let rollout = loaded.config.rollout("web").unwrap();
            // Whole milliseconds in the file.
            assert_eq!(
                rollout.interval,
                Duration::from_millis(u64::from(30_000 / speed))
            );
        }
    }
}
