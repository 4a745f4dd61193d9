//! Signed cookies from the command line and through `splitway serve` on 127.0.0.1 with real
//! upstreams: `sign` prints values the proxy believes; forged, expired, wrong-key and unsigned
//! ones do not reach the canary; `check` reads the keys. And requests the proxy refuses
//! (400, 414, 431) are counted by no server or route, in `/metrics` and in `/stats`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use splitway::signed_cookie::{SigningKey, sign};
use support::{Serve, TempDir, send_lossy as send, splitway, stderr, stdout};

const KEY: &str = "0123456789abcdef0123456789abcdef";
const OLD_KEY: &str = "an-older-key-0123456789abcdef012";
const OTHER_KEY: &str = "not-a-listed-key-0123456789abcde";

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn signed(key: &str, value: &str, expiry: u64) -> String {
    let key = SigningKey::new(key.as_bytes().to_vec()).unwrap();
    format!("_AUSER_TYPE={}", sign(&key, "_AUSER_TYPE", value, expiry))
}

/// An upstream on 127.0.0.1 that answers every request `200` with its name as the body; it
/// stops (its thread ends) when dropped.
struct Upstream {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Upstream {
    fn start(name: &'static str) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    loop {
                        // One request head (the proxy sends no body here), then the answer.
                        let mut line = String::new();
                        let mut ended = false;
                        while line != "\r\n" {
                            line.clear();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                ended = true;
                                break;
                            }
                        }
                        if ended {
                            return;
                        }
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{name}",
                            name.len()
                        );
                        if stream.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Upstream { addr, stop }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// The body of a GET of `web.agendor.com.br` with this Cookie header.
fn body_for(serve: &Serve, cookie: &str) -> String {
    let answer = send(
        &serve.proxy,
        format!(
            "GET / HTTP/1.1\r\nHost: web.agendor.com.br\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    answer.split("\r\n\r\n").nth(1).unwrap_or("").to_owned()
}

/// The talk's phase 1 (the canary cookie to k8s, the rest to legacy) with `_AUSER_TYPE`
/// signed by `keys/current.key`, `keys/old.key` still verifying.
fn talk_config(dir: &TempDir, legacy: SocketAddr, canary: SocketAddr) -> PathBuf {
    std::fs::create_dir_all(dir.path().join("keys")).unwrap();
    std::fs::write(dir.path().join("keys/current.key"), format!("{KEY}\n")).unwrap();
    std::fs::write(dir.path().join("keys/old.key"), OLD_KEY).unwrap();
    let config = dir.path().join("routes.yaml");
    std::fs::write(
        &config,
        format!(
            "signed_cookies:\n  _AUSER_TYPE: {{keys: [keys/current.key, keys/old.key], max_age: 24h}}\n\
             frontends:\n  web:\n    rules: [\"Host:web.agendor.com.br\"]\n\
             \x20 web_canary:\n    rules: [\"Host:web.agendor.com.br\", \"HeadersRegexp:Cookie,_AUSER_TYPE=canary\"]\n\
             backends:\n  web:\n    - {{name: legacy, url: \"http://{legacy}\"}}\n\
             \x20 web_canary:\n    - {{name: k8s, url: \"http://{canary}\"}}\n"
        ),
    )
    .unwrap();
    config
}

#[test]
fn serve_routes_only_validly_signed_cookies_to_the_canary() {
    let dir = TempDir::new("signed-serve");
    let (legacy, canary) = (Upstream::start("legacy"), Upstream::start("canary"));
    let config = talk_config(&dir, legacy.addr, canary.addr);
    let serve = Serve::start(&config, &[] as &[&str]);
    let later = unix_now() + 3600;

    // What `splitway sign` prints with the signing key is believed...
    let out = splitway(&[
        "sign",
        "--key",
        dir.path().join("keys/current.key").to_str().unwrap(),
        "--max-age",
        "1h",
        "_AUSER_TYPE",
        "canary",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let wire = stdout(&out).trim_end().to_owned();
    assert_eq!(
        body_for(&serve, &format!("a=1; _AUSER_TYPE={wire}; b=2")),
        "canary"
    );
    // ...and so is a value signed with the older key (rotation), with dots in it too.
    assert_eq!(
        body_for(&serve, &signed(OLD_KEY, "canary", later)),
        "canary"
    );
    assert_eq!(body_for(&serve, &signed(KEY, "canary.v2", later)), "canary");

    // Everything else reaches the stable servers.
    let forged = signed(KEY, "legacy", later).replace("=legacy.", "=canary.");
    for cookie in [
        "_AUSER_TYPE=canary".to_owned(),
        forged,
        signed(KEY, "canary", unix_now() - 60),
        signed(OTHER_KEY, "canary", later),
        // Longer-lived than max_age (24h) and its five minutes of skew.
        signed(KEY, "canary", unix_now() + 25 * 3600),
        signed(KEY, "legacy", later),
    ] {
        assert_eq!(body_for(&serve, &cookie), "legacy", "{cookie}");
    }
    // `splitway explain` sees the same, from the same file.
    let explain = |cookie: &str| {
        let out = splitway(&[
            "explain",
            "--config",
            config.to_str().unwrap(),
            "--url",
            "http://web.agendor.com.br/",
            "--json",
            "-H",
            &format!("cookie: {cookie}"),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        json["route"].as_str().unwrap_or("-").to_owned()
    };
    assert_eq!(explain(&format!("_AUSER_TYPE={wire}")), "web_canary");
    assert_eq!(explain("_AUSER_TYPE=canary"), "web");
}

#[test]
fn sign_prints_a_value_expiring_after_max_age_and_refuses_bad_input() {
    let dir = TempDir::new("signed-sign");
    let key = dir.path().join("k");
    std::fs::write(&key, format!("{KEY}\n")).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["sign", "--key", key.to_str().unwrap()];
        args.extend_from_slice(extra);
        splitway(&args)
    };
    for (extra, max_age) in [
        (&["beta", "v1.2.3"][..], 30 * 86_400),
        (&["--max-age", "90m", "beta", "v1.2.3"][..], 5400),
        (&["--max-age", "600", "beta", "v1.2.3"][..], 600),
    ] {
        let before = unix_now();
        let out = run(extra);
        let after = unix_now();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let printed = stdout(&out);
        let wire = printed.strip_suffix('\n').unwrap();
        let rest = wire.strip_prefix("v1.2.3.").unwrap();
        let (expiry, _) = rest.split_once('.').unwrap();
        let expiry: u64 = expiry.parse().unwrap();
        assert!(
            (before + max_age..=after + max_age).contains(&expiry),
            "{wire}"
        );
        let key = SigningKey::new(KEY.as_bytes().to_vec()).unwrap();
        assert_eq!(wire, sign(&key, "beta", "v1.2.3", expiry));
    }
    let refused = |extra: &[&str], why: &str| {
        let out = run(extra);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        assert!(stderr(&out).contains(why), "{extra:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "");
    };
    refused(&["beta", "has space"], "cannot be a cookie value");
    refused(&["be;ta", "x"], "is not a cookie name");
    refused(
        &["--max-age", "soon", "beta", "x"],
        "invalid --max-age `soon`",
    );
    std::fs::write(&key, "short\n").unwrap();
    refused(
        &["beta", "x"],
        "the key is 5 bytes; a key needs at least 32",
    );
}

#[test]
fn check_reads_the_key_files_relative_to_the_config() {
    let dir = TempDir::new("signed-check");
    let config = talk_config(
        &dir,
        "127.0.0.1:1".parse().unwrap(),
        "127.0.0.1:2".parse().unwrap(),
    );
    // From another working directory: the keys are found next to the configuration.
    let out = Command::new(env!("CARGO_BIN_EXE_splitway"))
        .args(["check"])
        .arg(&config)
        .current_dir("/")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::write(dir.path().join("keys/old.key"), "too short").unwrap();
    let out = splitway(&["check", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let text = stderr(&out) + &stdout(&out);
    assert!(
        text.contains("routes.yaml:2:42: error: key file `keys/old.key`: the key is 9 bytes"),
        "{text}"
    );
}

#[test]
fn refused_requests_are_counted_by_no_server_or_route() {
    let dir = TempDir::new("signed-refused");
    let (legacy, canary) = (Upstream::start("legacy"), Upstream::start("canary"));
    let config = talk_config(&dir, legacy.addr, canary.addr);
    let serve = Serve::start(&config, &[] as &[&str]);
    for _ in 0..3 {
        assert_eq!(body_for(&serve, "a=1"), "legacy");
    }
    let refusals: [(Vec<u8>, &str); 5] = [
        (
            format!(
                "GET / HTTP/1.1\r\nHost: web.agendor.com.br\r\nX-Big: {}\r\n\r\n",
                "a".repeat(100_000)
            )
            .into_bytes(),
            "HTTP/1.1 431",
        ),
        (
            format!(
                "GET /{} HTTP/1.1\r\nHost: web.agendor.com.br\r\n\r\n",
                "a".repeat(9000)
            )
            .into_bytes(),
            "HTTP/1.1 414",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: web.agendor.com.br\r\nHost: web.agendor.com.br\r\n\r\n"
                .to_vec(),
            "HTTP/1.1 400",
        ),
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), "HTTP/1.1 400"),
        (
            b"GET / HTTP/1.1\r\nHost: web.agendor.com.br:abc\r\n\r\n".to_vec(),
            "HTTP/1.1 400",
        ),
    ];
    for (request, status) in &refusals {
        let answer = send(&serve.proxy, request);
        assert!(answer.starts_with(status), "{status}: {answer}");
    }
    let admin = |path: &str| {
        let answer = send(
            &serve.admin,
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        answer.split("\r\n\r\n").nth(1).unwrap_or("").to_owned()
    };
    // Prometheus: the three answered requests, in one series each way; no 4xx anywhere.
    let metrics = admin("/metrics");
    // (Sorted: the exporter's order of metric families is not a contract.)
    let mut series: Vec<&str> = metrics
        .lines()
        .filter(|l| {
            l.starts_with("splitway_requests_total{")
                || l.starts_with("splitway_route_requests_total{")
        })
        .collect();
    series.sort_unstable();
    assert_eq!(
        series,
        [
            r#"splitway_requests_total{backend="web",server="legacy",status_class="2xx"} 3"#,
            r#"splitway_route_requests_total{route="web",status_class="2xx"} 3"#,
        ],
        "{metrics}"
    );
    let count = metrics
        .lines()
        .find(|l| {
            l.starts_with(
                r#"splitway_request_duration_seconds_count{backend="web",server="legacy""#,
            )
        })
        .and_then(|l| l.rsplit(' ').next());
    assert_eq!(count, Some("3"), "{metrics}");
    // The servers' own counters: three for legacy, none for the canary.
    let stats: serde_json::Value = serde_json::from_str(&admin("/stats")).unwrap();
    let requests: Vec<(String, u64)> = stats["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["server"].as_str().unwrap().to_owned(),
                s["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(requests, [("legacy".to_owned(), 3), ("k8s".to_owned(), 0)]);
}
