//! Running the `splitway` binary from tests: with a time limit, and temp dirs that clean up.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
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
