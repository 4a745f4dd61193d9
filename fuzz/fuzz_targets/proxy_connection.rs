//! The proxy's connection handling (`splitway_proxy::serve_connection`) on raw client bytes
//! over an in-memory stream: HTTP/1 heads and bodies, pipelined requests, HTTP/2 prefaces and
//! frames, garbage. No panic, and no hang: every connection ends, the proxy closing it within
//! its short timeouts once the client has sent everything (time is tokio's paused clock, so
//! the timeouts pass as soon as nothing else can happen). The one route's server is marked
//! down, so a request that passes the checks is answered 503 without any network.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use splitway::Router;
use splitway::config::{Config, Format};
use splitway_proxy::{Limits, Options, Proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONFIG: &str = "frontends:\n  web:\n    rules: [\"Host:web.example\"]\n\
    backends:\n  web:\n    - {name: s, url: \"http://127.0.0.1:9\"}\n";

struct Fixture {
    runtime: tokio::runtime::Runtime,
    proxy: Proxy,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a runtime");
        let config = Config::from_str(CONFIG, Format::Yaml, "fuzz")
            .expect("the fixed config loads")
            .config;
        let router = Router::from_config(&config).expect("the fixed config compiles");
        router.set_health("web", "s", false).expect("the server exists");
        let limits = Limits {
            max_connections: 1,
            handshake_timeout: Duration::from_secs(1),
            header_read_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            // Small, so that inputs of a few KiB reach the limits.
            max_header_bytes: 4096,
            max_headers: 16,
            max_uri_bytes: 512,
            ..Limits::default()
        };
        let options = Options {
            limits,
            ..Options::default()
        };
        Fixture {
            runtime,
            proxy: Proxy::new(router, options),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    let peer = SocketAddr::from(([192, 0, 2, 1], 40_000));
    fixture.runtime.block_on(async {
        let (mut client, server) = tokio::io::duplex(16 * 1024);
        let served = tokio::spawn(splitway_proxy::serve_connection(
            server,
            peer,
            fixture.proxy.clone(),
        ));
        let (mut read, mut write) = tokio::io::split(&mut client);
        let send = async {
            // The proxy may close before it has read everything.
            let _ = write.write_all(data).await;
            let _ = write.shutdown().await;
        };
        let receive = async {
            let mut answer = Vec::new();
            let _ = read.read_to_end(&mut answer).await;
            answer
        };
        let ended = tokio::time::timeout(Duration::from_secs(600), async {
            let (_, answer) = tokio::join!(send, receive);
            answer
        })
        .await;
        assert!(ended.is_ok(), "the connection was still open after 600 s");
        drop(client);
        let served = tokio::time::timeout(Duration::from_secs(600), served).await;
        match served {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("the connection task failed: {e}"),
            Err(_) => panic!("the connection task did not end"),
        }
    });
});
