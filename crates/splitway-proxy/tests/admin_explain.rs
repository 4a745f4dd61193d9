//! The admin's `POST /explain` on 127.0.0.1: the object `splitway explain --json` prints,
//! decided on the live table (a rollout's weights included), its errors, and its access rules.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use splitway::Router;
use splitway_proxy::admin::MAX_EXPLAIN_BODY;
use splitway_proxy::explain::RequestLine;
use splitway_proxy::{AdminAccess, Rollouts, serve_admin_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use support::config_from_yaml;

const YAML: &str = r#"frontends:
  web:
    rule: "Host(`web.example`)"
backends:
  web:
    hash:
      key: "cookie:uid"
    servers:
      - name: stable
        url: http://stable.internal
        weight: 9
      - name: canary
        url: http://canary.internal
        weight: 0
rollouts:
  web:
    canary: canary
    steps: [10, 50]
    interval: 1h
"#;

struct Admin {
    addr: SocketAddr,
    router: Router,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Admin {
    async fn start(access: AdminAccess) -> Admin {
        let file = config_from_yaml(YAML, "r.yaml");
        let router = Router::from_config(&file).unwrap();
        let rollouts = Rollouts::new(router.clone(), file, None, SystemTime::now()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(serve_admin_with(
            listener,
            router.clone(),
            None,
            access,
            Some(rollouts),
            async {
                let _ = rx.await;
            },
        ));
        Admin {
            addr,
            router,
            stop: Some(tx),
            task,
        }
    }

    /// One HTTP/1.1 request with `headers` (lines ending in CRLF) and `body`: status, body.
    async fn call(&self, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr).await.unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Content-Length: {}\r\n\
             Connection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // A peer may answer (413) and close before it read all of a large body.
        let _ = stream.write_all(body.as_bytes()).await;
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
            .await
            .expect("the admin answered within 10 s")
            .ok();
        let text = String::from_utf8(out).unwrap();
        let status = text[9..12].parse().unwrap();
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap();
        (status, body)
    }

    async fn explain(&self, body: &str) -> (u16, Value) {
        let (status, text) = self.call("POST", "/explain", "", body).await;
        (status, serde_json::from_str(&text).unwrap())
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

const USER: &str = r#"{"method": "GET", "url": "http://web.example/deals?x=1", "headers": [["Cookie", "uid=user-7"]], "client_ip": "10.0.0.1"}"#;

#[tokio::test]
async fn explain_answers_the_cli_object_on_the_live_rollout_weights() {
    let admin = Admin::start(AdminAccess::loopback_only()).await;
    // At step 1 (10%) the rollout's weights serve: stable 1008, canary 112.
    let (status, v) = admin.explain(USER).await;
    assert_eq!(status, 200, "{v}");
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "route",
            "backend",
            "server",
            "url",
            "status",
            "set_cookie",
            "candidates",
            "path",
            "cohort"
        ]
    );
    assert_eq!(v["route"], "web");
    assert_eq!(v["backend"], "web");
    assert_eq!(v["status"], 200);
    assert_eq!(v["set_cookie"], Value::Null);
    assert_eq!(v["path"], "/deals");
    // Traefik v2's default priority: the rule's length.
    assert_eq!(
        v["candidates"],
        json!([{"route": "web", "priority": 19, "matched": true, "failed": null}])
    );
    let weights: Vec<(String, u64)> = v["cohort"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["server"].as_str().unwrap().to_owned(),
                s["weight"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        weights,
        [("stable".to_owned(), 1008), ("canary".to_owned(), 112)]
    );
    // The same object as the library's explanation on the table in service.
    let line = RequestLine::from_json(USER, None).unwrap();
    assert_eq!(v, line.explain(&admin.router));

    // Promoted through the admin: the same request is now explained on the canary, with the
    // canary's URL and the stable server at weight 0, not the file's 9:0.
    let (status, _) = admin
        .call("POST", "/rollouts/web/promote", "X-Splitway: 1\r\n", "")
        .await;
    assert_eq!(status, 200);
    let (status, v) = admin.explain(USER).await;
    assert_eq!(status, 200);
    assert_eq!(v["server"], "canary");
    assert_eq!(v["url"], "http://canary.internal");
    assert_eq!(v["cohort"][0]["server"], "stable");
    assert_eq!(v["cohort"][0]["weight"], 0);
    assert_eq!(v["cohort"][1]["weight"], 1008);

    // No frontend: a 404 decision is still a 200 answer.
    let (status, v) = admin.explain(r#"{"url": "http://nowhere.example/"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(
        v,
        json!({"route": null, "backend": null, "server": null, "url": null, "status": 404,
               "set_cookie": null, "candidates": [], "path": null})
    );
    admin.stop().await;
}

#[tokio::test]
async fn a_bad_body_is_a_400_with_the_reason_and_a_large_one_a_413() {
    let admin = Admin::start(AdminAccess::loopback_only()).await;
    for (body, error) in [
        ("GET /", "not JSON: expected value at line 1 column 1"),
        ("[1]", "not a JSON object"),
        (r#"{"method": "GET"}"#, "no `url` string"),
        (
            r#"{"url": "/", "headers": "x"}"#,
            "`headers` must be a list of [name, value]",
        ),
        (
            r#"{"url": "/", "headers": [["a"]]}"#,
            "a header must be [name, value]",
        ),
        (
            r#"{"url": "/", "client_ip": "nine"}"#,
            "`client_ip` `nine` is not an IP address",
        ),
        (r#"{"url": "/", "method": "G T"}"#, "invalid method `G T`"),
    ] {
        let (status, v) = admin.explain(body).await;
        assert_eq!((status, v), (400, json!({ "error": error })), "{body}");
    }
    let big = format!(
        r#"{{"url": "/", "headers": [["x-pad", "{}"]]}}"#,
        "a".repeat(MAX_EXPLAIN_BODY)
    );
    let (status, text) = admin.call("POST", "/explain", "", &big).await;
    assert_eq!(status, 413, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({ "error": format!("the body is over {MAX_EXPLAIN_BODY} bytes") })
    );
    let (status, _) = admin.call("GET", "/explain", "", "").await;
    assert_eq!(status, 405);
    admin.stop().await;
}

#[tokio::test]
async fn explain_is_a_read_that_needs_the_token_when_one_is_configured() {
    // Without a token: no `X-Splitway` header needed, but a loopback Host is.
    let open = Admin::start(AdminAccess::loopback_only()).await;
    assert_eq!(open.explain(USER).await.0, 200);
    let (status, _) = open
        .call("POST", "/explain", "Origin: http://evil.example\r\n", USER)
        .await;
    assert_eq!(status, 403);
    open.stop().await;

    let guarded = Admin::start(AdminAccess::with_token(b"s3cret").unwrap()).await;
    let (status, _) = guarded.call("POST", "/explain", "", USER).await;
    assert_eq!(status, 401);
    let (status, _) = guarded
        .call("POST", "/explain", "Authorization: Bearer wrong\r\n", USER)
        .await;
    assert_eq!(status, 401);
    let (status, body) = guarded
        .call("POST", "/explain", "Authorization: Bearer s3cret\r\n", USER)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["server"],
        Value::String(
            RequestLine::from_json(USER, None)
                .unwrap()
                .explain(&guarded.router)["server"]
                .as_str()
                .unwrap()
                .to_owned()
        )
    );
    guarded.stop().await;
}
