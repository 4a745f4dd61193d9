//! One test over a real socket: axum::serve on 127.0.0.1 (port 0), a hyper client, bounded
//! in time, and the server shut down at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Extension};
use axum::routing::get;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use splitway::Decision;
use splitway::config::{Config, Format};
use splitway_tower::{Dispatch, SplitwayLayer};
use tower::ServiceBuilder;

const CONFIG: &str = r#"
frontends:
  web:
    rules: ["PathPrefix:/"]
  web_canary:
    rules: ["PathPrefix:/", "HeadersRegexp:Cookie,_AUSER_TYPE=canary"]
  local:
    rule: "ClientIP(`127.0.0.1`) && Header(`X-Local`, `1`)"
backends:
  web:
    sticky: {cookie: srv}
    servers:
      - {name: legacy_1, url: "http://legacy-1.internal"}
  web_canary:
    - {name: k8s, url: "http://k8s.internal"}
  local:
    - {name: k8s, url: "http://k8s.internal"}
"#;

fn version(v: &'static str) -> axum::Router {
    axum::Router::new().fallback(get(move |Extension(d): Extension<Decision>| async move {
        format!("{v} {}", d.route().unwrap_or("-"))
    }))
}

#[tokio::test]
async fn serves_over_a_real_socket_on_loopback() {
    let config = Config::from_str(CONFIG, Format::Yaml, "t.yaml")
        .unwrap()
        .config;
    let router = splitway::Router::from_config(&config).unwrap();
    let routed = ServiceBuilder::new()
        .layer(SplitwayLayer::new(router).client_ip(|ext| {
            ext.get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(a)| a.ip())
        }))
        .service(
            Dispatch::new()
                .server("legacy_1", version("v1"))
                .server("k8s", version("v2")),
        );
    let app = axum::Router::new().fallback_service(routed);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .await
    });

    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let get = |cookie: Option<&str>, local: bool| {
        let mut b = Request::get(format!("http://{addr}/deals"));
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        if local {
            b = b.header("x-local", "1");
        }
        let request = b.body(Empty::new()).unwrap();
        let client = client.clone();
        async move {
            let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
                .await
                .expect("answered within 10 s")
                .unwrap();
            let status = response.status();
            let set_cookie = response
                .headers()
                .get(header::SET_COOKIE)
                .map(|v| v.to_str().unwrap().to_owned());
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                set_cookie,
                String::from_utf8(body.to_vec()).unwrap(),
            )
        }
    };

    let (status, set_cookie, body) = get(None, false).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "v1 web"));
    let cookie = set_cookie.expect("sticky cookie on the first response");
    let pair = cookie.split(';').next().unwrap().to_owned();
    let (_, again, body) = get(Some(&pair), false).await;
    assert_eq!((again, body.as_str()), (None, "v1 web"));
    let (_, _, body) = get(Some("_AUSER_TYPE=canary"), false).await;
    assert_eq!(body, "v2 web_canary");
    // The peer address of a loopback connection is 127.0.0.1: ClientIP sees it.
    let (_, _, body) = get(None, true).await;
    assert_eq!(body, "v2 local");

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server stops within 10 s")
        .unwrap()
        .unwrap();
}
