//! The admin's dashboard in headless Chromium, driven over WebDriver (chromedriver), against
//! `splitway serve` with the talk's phase 2 in front of three upstream processes on 127.0.0.1
//! and traffic flowing: the page lists the configuration, its split bar agrees with
//! `/stats/history`, its weight control reaches `/stats`, and its explain form tells why a
//! beta tester goes to `web_canary`.
//!
//! Skipped, with the reason printed, only when `chromium` or `chromedriver` is missing (CI
//! installs both). With `SPLITWAY_SCREENSHOT=PATH` the page under load is saved as a PNG there
//! (how the README's picture is made).

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use serde_json::{Value, json};
use support::{Running, Serve, TempDir, request, serve_without_admin, status_and_body};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// `splitway serve --config CONFIG` on loopback ports: the process and its proxy and admin
/// addresses (the admin's only when `admin` is set).
fn serve(config: &Path, admin: bool) -> (Running, String, Option<String>) {
    if admin {
        let serve = Serve::start(config, &[] as &[&str]);
        (serve.child, serve.proxy, Some(serve.admin))
    } else {
        let (child, proxy) = serve_without_admin(config, &[] as &[&str]);
        (child, proxy, None)
    }
}

/// An upstream process: `splitway serve` answering every request itself with `NAME` (a fixed
/// response), and, when `errors_in_20` is above 0, that many 500s in every 20 answers.
fn upstream(dir: &TempDir, name: &str, errors_in_20: u32) -> (Running, String) {
    let mut servers = format!(
        "      - {{name: ok, status: 200, body: \"{name}\", weight: {}}}\n",
        20 - errors_in_20
    );
    if errors_in_20 > 0 {
        servers.push_str(&format!(
            "      - {{name: failing, status: 500, body: \"{name} failed\", weight: {errors_in_20}}}\n"
        ));
    }
    let config = dir.path().join(format!("{name}.yaml"));
    std::fs::write(
        &config,
        format!(
            "frontends:\n  all:\n    rule: \"PathPrefix(`/`)\"\n    backend: answers\n\
             backends:\n  answers:\n    servers:\n{servers}"
        ),
    )
    .unwrap();
    let (child, addr, _) = serve(&config, false);
    (child, addr)
}

/// One HTTP/1.1 request on a fresh connection: status and body.
fn http(addr: &str, method: &str, path: &str, headers: &str) -> (u16, String) {
    status_and_body(&request(addr, method, path, headers))
}

fn admin_json(admin: &str, path: &str) -> Value {
    let (status, body) = http(admin, "GET", path, "Host: 127.0.0.1\r\n");
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Sends requests to the proxy until `stop` (or 5,000 of them, or two minutes): of every
/// five, one with the beta testers' cookie, one to the API (whose backend has a rollout),
/// three to everyone's web.
fn traffic(
    proxy: String,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        for i in 0..5_000u64 {
            if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
                return;
            }
            let headers = match i % 5 {
                0 => "Host: web.agendor.com.br\r\nCookie: _AUSER_TYPE=canary\r\n",
                1 => "Host: api.agendor.com.br\r\n",
                _ => "Host: web.agendor.com.br\r\n",
            };
            let (status, _) = http(&proxy, "GET", "/deals/42", headers);
            assert!(status == 200 || status == 500, "{status}");
            sent.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(25));
        }
    })
}

/// A port free a moment ago, for chromedriver (which takes a port number, not a listener).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver and the browsers it starts, in a process group of their own: killed
/// together, by the group's id (chromedriver's PID), also when the test fails before it could
/// end its session.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        Command::new("kill")
            .args(["-KILL", "--", &group])
            .status()
            .ok();
        self.0.wait().ok();
    }
}

/// chromedriver on 127.0.0.1, once it accepts connections.
fn chromedriver() -> (Driver, String) {
    use std::os::unix::process::CommandExt;
    let port = free_port();
    let child = Driver(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if TcpStream::connect(&addr).is_ok() {
            return (child, format!("http://{addr}"));
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not answer in 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `check` every 100 ms for up to `limit`; panics with `what` when it never holds.
async fn until<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the page drew in one go (one script, so no refresh falls in between): the sampled_at
/// of its last refresh, the data it exposed, and every live split segment.
const READ_PAGE: &str = r#"
const segs = [...document.querySelectorAll(".backend")].flatMap((b) =>
  [...b.querySelectorAll("[data-bar=live] .seg")].map((s) => ({
    backend: b.dataset.backend, server: s.dataset.server,
    requests: Number(s.dataset.requests), share: Number(s.dataset.share) })));
return { sampled_at: document.getElementById("updated").dataset.sampledAt,
         exposed: JSON.parse(document.getElementById("refresh-data").textContent || "null"),
         segments: segs };
"#;

/// The rollout panel of backend `api` as drawn.
const READ_ROLLOUT: &str = r#"
const r = document.querySelector(".rollout[data-backend=api]");
if (!r) return null;
const f = (n) => { const e = r.querySelector(`[data-field=${n}]`); return e ? e.textContent : null; };
return { state: f("state"), step: f("step"), verdict: f("verdict"),
         transitions: [...r.querySelectorAll("ol.timeline li")].map((li) => li.dataset.to),
         actions: [...r.querySelectorAll("[data-action]")].map((b) => b.dataset.action) };
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_live_split_edits_weights_and_explains() {
    for program in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(program).exists() {
            eprintln!(
                "skipped: {program} is not installed (apt-get install chromium chromium-driver)"
            );
            return;
        }
    }
    let dir = TempDir::new("dashboard");
    let (_l1, legacy_1) = upstream(&dir, "legacy_1", 0);
    let (_l2, legacy_2) = upstream(&dir, "legacy_2", 0);
    let (_k8s, k8s) = upstream(&dir, "k8s", 1);
    let config = dir.path().join("phase2.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
frontends:
  web:
    rules: ["Host:web.agendor.com.br"]
  web_canary:
    rules: ["Host:web.agendor.com.br", "HeadersRegexp:Cookie,_AUSER_TYPE=canary"]
  api:
    rules: ["Host:api.agendor.com.br"]
backends:
  web:
    - {{name: legacy_1, url: "http://{legacy_1}", weight: 5}}
    - {{name: legacy_2, url: "http://{legacy_2}", weight: 5}}
    - {{name: k8s, url: "http://{k8s}", weight: 1}}
  web_canary:
    - {{name: k8s, url: "http://{k8s}"}}
  api:
    - {{name: stable, url: "http://{legacy_1}", weight: 1}}
    - {{name: next, url: "http://{legacy_2}", weight: 0}}
rollouts:
  api:
    canary: next
    steps: [20, 40, 60, 80]
    interval: 4s
    analysis:
      min_requests: 2
"#
        ),
    )
    .unwrap();
    let (_proxy_process, proxy, admin) = serve(&config, true);
    let admin = admin.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let load = traffic(proxy.clone(), stop.clone(), sent.clone());

    let (_driver, driver_url) = chromedriver();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--window-size=1400,2000"],
        }),
    );
    let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver_url)
        .await
        .expect("a chromium session");
    let page = format!("http://{admin}/");
    browser.goto(&page).await.unwrap();
    until(Duration::from_secs(20), "the page goes live", || async {
        let state = browser
            .find(Locator::Id("connection"))
            .await
            .ok()?
            .attr("data-state")
            .await
            .ok()??;
        (state == "live").then_some(())
    })
    .await;

    // Every frontend and server of the configuration, in the order they are tried.
    let config_json = admin_json(&admin, "/config");
    let frontends: Vec<String> = config_json["frontends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(frontends, ["web_canary", "api", "web"]);
    let listed = browser
        .execute(
            "return [...document.querySelectorAll('#frontends tr[data-frontend]')].map((r) => \
             [r.dataset.frontend, r.querySelector('[data-field=backend]').textContent]);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        listed,
        json!([["web_canary", "web_canary"], ["api", "api"], ["web", "web"]])
    );
    let servers = browser
        .execute(
            "return [...document.querySelectorAll('.backend')].map((b) => [b.dataset.backend, \
             [...b.querySelectorAll('tr[data-server]')].map((r) => r.dataset.server)]);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        servers,
        json!([
            ["web", ["legacy_1", "legacy_2", "k8s"]],
            ["web_canary", ["k8s"]],
            ["api", ["stable", "next"]]
        ])
    );

    // The split bar: once every web server has had traffic, the page's numbers are those of
    // the /stats/history document of the sample the page drew (its `sampled_at`). The page
    // refreshes once a second and the history is sampled once a second: with the two in step,
    // the page can show the sample before the current one for most of every second, so the
    // test keeps each document it reads by its sample (each is current for a second, and read
    // several times in it) and compares the page with the one of its own sample.
    let read = RefCell::new(BTreeMap::<String, Value>::new());
    let keep = |history: Value| {
        if let Some(at) = history["sampled_at"].as_str() {
            read.borrow_mut().insert(at.to_owned(), history.clone());
        }
    };
    let (drawn, history) = until(
        Duration::from_secs(30),
        "the bar matches /stats/history",
        || async {
            keep(admin_json(&admin, "/stats/history"));
            let drawn = browser.execute(READ_PAGE, vec![]).await.ok()?;
            keep(admin_json(&admin, "/stats/history"));
            let at = drawn["sampled_at"].as_str().filter(|s| !s.is_empty())?;
            let history = read.borrow().get(at).cloned()?;
            let web_flowing = drawn["segments"]
                .as_array()?
                .iter()
                .filter(|s| s["backend"] == "web")
                .filter(|s| s["requests"].as_u64().is_some_and(|n| n > 0))
                .count()
                == 3;
            web_flowing.then_some((drawn, history))
        },
    )
    .await;
    let windows: BTreeMap<(String, String), u64> = history["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                (
                    s["backend"].as_str().unwrap().to_owned(),
                    s["server"].as_str().unwrap().to_owned(),
                ),
                s["last_60s"]["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    let segments = drawn["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 6, "{drawn}");
    for backend in ["web", "web_canary", "api"] {
        let total: u64 = windows
            .iter()
            .filter(|((b, _), _)| b == backend)
            .map(|(_, n)| n)
            .sum();
        for seg in segments.iter().filter(|s| s["backend"] == backend) {
            let key = (
                backend.to_owned(),
                seg["server"].as_str().unwrap().to_owned(),
            );
            let requests = windows[&key];
            assert_eq!(seg["requests"].as_u64(), Some(requests), "{key:?}: {drawn}");
            let share = seg["share"].as_f64().unwrap();
            assert!(
                (share - requests as f64 / total as f64).abs() < 1e-6,
                "{key:?}: {share} against {requests}/{total}"
            );
        }
    }
    // What the page exposed is that same document's windows.
    for exposed in drawn["exposed"]["servers"].as_array().unwrap() {
        let key = (
            exposed["backend"].as_str().unwrap().to_owned(),
            exposed["server"].as_str().unwrap().to_owned(),
        );
        let from_history = history["servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["backend"].as_str() == Some(&key.0) && s["server"].as_str() == Some(&key.1))
            .unwrap();
        // As numbers: the page's JSON writes 80.0 as 80.
        for field in ["seconds", "requests", "errors", "p50_ms", "p99_ms"] {
            assert_eq!(
                exposed["last_60s"][field].as_f64(),
                from_history["last_60s"][field].as_f64(),
                "{key:?} {field}"
            );
        }
    }

    // The screenshot of the page under load, when asked for.
    if let Some(path) = std::env::var_os("SPLITWAY_SCREENSHOT") {
        // Some minutes of samples make a better picture: wait as long as asked.
        if let Some(secs) = std::env::var("SPLITWAY_SCREENSHOT_AFTER")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
        {
            tokio::time::sleep(Duration::from_secs(secs.min(110))).await;
        }
        let png = browser.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot saved to {}", Path::new(&path).display());
    }

    // A weight set through the page's control shows in /stats.
    let row = browser
        .find(Locator::Css(
            ".backend[data-backend=web] tr[data-server=k8s]",
        ))
        .await
        .unwrap();
    let input = row
        .find(Locator::Css("[data-control=weight-input]"))
        .await
        .unwrap();
    input.send_keys("7").await.unwrap();
    row.find(Locator::Css("[data-control=set-weight]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        Duration::from_secs(10),
        "the new weight in /stats",
        || async {
            let stats = admin_json(&admin, "/stats");
            let k8s = stats["servers"]
                .as_array()?
                .iter()
                .find(|s| s["backend"] == "web" && s["server"] == "k8s")?
                .clone();
            (k8s["weight"] == 7).then_some(())
        },
    )
    .await;
    let shown = until(
        Duration::from_secs(10),
        "the new weight on the page",
        || async {
            let text = row
                .find(Locator::Css("[data-field=weight]"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            (text == "7").then_some(text)
        },
    )
    .await;
    assert_eq!(shown, "7");

    // The rollout panel says what /rollouts says: state, step, last verdict, transitions.
    let (shown, state) = until(Duration::from_secs(30), "the rollout panel", || async {
        let shown = browser.execute(READ_ROLLOUT, vec![]).await.ok()?;
        let doc = admin_json(&admin, "/rollouts");
        let r = &doc["rollouts"][0];
        let analysis = r["last_analysis"].as_object()?;
        let transitions: Vec<&Value> = r["transitions"]
            .as_array()?
            .iter()
            .map(|t| &t["to"])
            .collect();
        let want = json!({
            "state": r["state"],
            "step": r["step"].to_string(),
            "verdict": analysis["verdict"],
            "transitions": transitions,
        });
        let mut seen = shown.clone();
        seen.as_object_mut()?.remove("actions");
        (seen == want).then(|| (shown, r["state"].as_str().unwrap_or("").to_owned()))
    })
    .await;
    // Its action, sent through the page, reaches the rollout.
    let (action, after) = match state.as_str() {
        "progressing" | "holding" => ("pause", "paused"),
        "promoted" => ("rollback", "rolled_back"),
        _ => ("resume", "progressing"),
    };
    assert!(
        shown["actions"]
            .as_array()
            .unwrap()
            .contains(&json!(action)),
        "{shown}"
    );
    // The panel is redrawn when the rollout changes: find the button again if it was.
    let button = format!(".rollout[data-backend=api] [data-action={action}]");
    until(
        Duration::from_secs(10),
        "the action's button clicked",
        || async {
            browser
                .find(Locator::Css(&button))
                .await
                .ok()?
                .click()
                .await
                .ok()
        },
    )
    .await;
    until(
        Duration::from_secs(10),
        "the action in /rollouts",
        || async {
            let doc = admin_json(&admin, "/rollouts");
            (doc["rollouts"][0]["state"] == after).then_some(())
        },
    )
    .await;
    until(
        Duration::from_secs(10),
        "the new state on the page",
        || async {
            let shown = browser.execute(READ_ROLLOUT, vec![]).await.ok()?;
            let last = shown["transitions"].as_array()?.last()?.clone();
            (shown["state"] == after && last == after).then_some(())
        },
    )
    .await;

    // The explain form: a beta tester's request goes to web_canary, tried first.
    browser
        .find(Locator::Id("explain-url"))
        .await
        .unwrap()
        .send_keys("http://web.agendor.com.br/deals/42")
        .await
        .unwrap();
    browser
        .find(Locator::Id("explain-headers"))
        .await
        .unwrap()
        .send_keys("Cookie: _ga=GA1.2.3; _AUSER_TYPE=canary")
        .await
        .unwrap();
    browser
        .find(Locator::Id("explain-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let decision = until(Duration::from_secs(10), "the explanation", || async {
        let shown = browser
            .execute(
                "const r = document.getElementById('explain-result'); \
                 const f = (n) => { const e = r.querySelector(`[data-field=${n}]`); \
                 return e ? e.textContent : null; }; \
                 return { route: f('route'), backend: f('backend'), server: f('server'), \
                 error: f('error'), candidates: [...r.querySelectorAll('tr[data-candidate]')] \
                 .map((c) => [c.dataset.candidate, c.dataset.matched]) };",
                vec![],
            )
            .await
            .ok()?;
        (!shown["route"].is_null() || !shown["error"].is_null()).then_some(shown)
    })
    .await;
    assert_eq!(
        decision,
        json!({
            "route": "web_canary", "backend": "web_canary", "server": "k8s", "error": null,
            "candidates": [["web_canary", "true"]],
        })
    );

    browser.close().await.unwrap();
    stop.store(true, Ordering::SeqCst);
    load.join().unwrap();
    assert!(sent.load(Ordering::SeqCst) > 0);
}
