//! Running the `splitway` binary from tests: with a time limit, and temp dirs that clean up;
//! `splitway serve` as a process that tells its ports and is killed on drop; raw HTTP/1.1.

// Every test binary compiles this module on its own and uses only part of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Lines, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// What a run printed on stdout, as text.
pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// What a run printed on stderr, as text.
pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `splitway ARGS` with a 30 s limit; never hangs the test suite.
pub(crate) fn splitway<S: AsRef<OsStr> + std::fmt::Debug>(args: &[S]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_splitway"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn splitway");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("splitway {args:?} ran for more than 30 s");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A temp dir removed on drop (also when a test fails).
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    /// `$TMP/splitway-TAG-PID`, created.
    pub(crate) fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("splitway-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// A child process, killed and reaped on drop if it still runs (also when a test fails).
pub(crate) struct Running(pub(crate) Child);

impl Running {
    /// Spawns `command` with no stdin, stdout dropped and stderr piped.
    pub(crate) fn spawn(command: &mut Command) -> Running {
        Running(
            command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        )
    }

    /// Its stderr, line by line (once: the pipe is taken).
    pub(crate) fn stderr_lines(&mut self) -> Lines<BufReader<ChildStderr>> {
        BufReader::new(self.0.stderr.take().unwrap()).lines()
    }
}

impl Running {
    /// Sends it `signal` (`TERM`, `INT`) by its PID and waits for it to end, `within` at most:
    /// how it ended.
    pub(crate) fn signal_and_wait(&mut self, signal: &str, within: Duration) -> ExitStatus {
        let pid = self.0.id().to_string();
        assert!(
            Command::new("kill")
                .args([format!("-{signal}").as_str(), &pid])
                .status()
                .unwrap()
                .success()
        );
        let signalled = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(
                signalled.elapsed() < within,
                "still running {within:?} after SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            self.0.kill().ok();
            self.0.wait().ok();
        }
    }
}

/// The proxy address of a `splitway: proxy listening on ADDR[, ...]` line.
pub(crate) fn proxy_line(line: &str) -> Option<String> {
    line.strip_prefix("splitway: proxy listening on ")
        .and_then(|rest| rest.split(',').next())
        .map(str::to_owned)
}

/// The admin address of a `splitway: admin listening on ADDR` line.
pub(crate) fn admin_line(line: &str) -> Option<String> {
    line.strip_prefix("splitway: admin listening on ")
        .map(str::to_owned)
}

/// Reads `lines` up to the admin listening line (within 30 s); its address.
pub(crate) fn admin_addr(lines: &mut impl Iterator<Item = std::io::Result<String>>) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "no admin line in 30 s");
        let line = lines.next().expect("stderr open").unwrap();
        if let Some(admin) = admin_line(&line) {
            return admin;
        }
    }
}

/// Reads `lines` up to the proxy's listening line and, with `admin`, the admin's too (within
/// 30 s): the proxy address and the admin's, if it was seen.
pub(crate) fn listening_addrs(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    admin: bool,
) -> (String, Option<String>) {
    let (mut proxy, mut admin_addr) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while proxy.is_none() || (admin && admin_addr.is_none()) {
        assert!(Instant::now() < deadline, "no listening lines in 30 s");
        let line = lines.next().expect("stderr open").unwrap();
        if let Some(addr) = proxy_line(&line) {
            proxy = Some(addr);
        } else if let Some(addr) = admin_line(&line) {
            admin_addr = Some(addr);
        }
    }
    (proxy.unwrap(), admin_addr)
}

/// Reads `lines` up to both listening lines (within 30 s): the proxy and the admin address.
pub(crate) fn proxy_and_admin_addrs(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
) -> (String, String) {
    let (proxy, admin) = listening_addrs(lines, true);
    (proxy, admin.unwrap())
}

/// Keeps reading `lines` on a thread, so that the process never blocks on a full pipe.
pub(crate) fn drain(lines: Lines<BufReader<ChildStderr>>) {
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
}

/// `splitway serve --config CONFIG --listen 127.0.0.1:0 --admin 127.0.0.1:0 EXTRA...`: the
/// process (killed on drop), its proxy and admin addresses; the rest of its log is drained.
pub(crate) struct Serve {
    pub(crate) child: Running,
    pub(crate) proxy: String,
    pub(crate) admin: String,
}

impl Serve {
    /// Starts it and waits (30 s at most) for both listening lines.
    pub(crate) fn start<S: AsRef<OsStr>>(config: &Path, extra: &[S]) -> Serve {
        let mut child = Running::spawn(
            Command::new(env!("CARGO_BIN_EXE_splitway"))
                .args(["serve", "--config"])
                .arg(config)
                .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
                .args(extra),
        );
        let mut lines = child.stderr_lines();
        let (proxy, admin) = proxy_and_admin_addrs(&mut lines);
        drain(lines);
        Serve {
            child,
            proxy,
            admin,
        }
    }
}

/// `splitway serve --config CONFIG --listen 127.0.0.1:0 EXTRA...` without an admin (an
/// upstream, say): the process (killed on drop) and its proxy address; its log is drained.
pub(crate) fn serve_without_admin<S: AsRef<OsStr>>(
    config: &Path,
    extra: &[S],
) -> (Running, String) {
    let mut child = Running::spawn(
        Command::new(env!("CARGO_BIN_EXE_splitway"))
            .args(["serve", "--config"])
            .arg(config)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra),
    );
    let mut lines = child.stderr_lines();
    let (proxy, _) = listening_addrs(&mut lines, false);
    drain(lines);
    (child, proxy)
}

/// The status code (0 if there is none) and the body of a whole HTTP/1.1 response.
pub(crate) fn status_and_body(response: &str) -> (u16, String) {
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// `splitway serve ARGS` expected to refuse to start: its exit code and stderr (30 s at most).
pub(crate) fn serve_refused(args: &[&OsStr]) -> (Option<i32>, String) {
    let mut child = Running::spawn(
        Command::new(env!("CARGO_BIN_EXE_splitway"))
            .arg("serve")
            .args(args),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "splitway serve still runs after 30 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.code(), stderr)
}

/// Sends the raw bytes of one request over a fresh connection (10 s read limit); the whole
/// response as text, read until the server closes.
pub(crate) fn send(addr: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

/// Like [`send`], for answers a server may end with a reset: a read error ends the read,
/// and bytes that are not UTF-8 are replaced.
pub(crate) fn send_lossy(addr: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// One HTTP/1.1 request with `headers` (each line ending in CRLF), no body, `Connection:
/// close`; the whole response.
pub(crate) fn request(addr: &str, method: &str, path: &str, headers: &str) -> String {
    send(
        addr,
        format!(
            "{method} {path} HTTP/1.1\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
}

/// `GET PATH` with `Host: HOST`; the whole response.
pub(crate) fn http(addr: &str, host: &str, path: &str) -> String {
    request(addr, "GET", path, &format!("Host: {host}\r\n"))
}
