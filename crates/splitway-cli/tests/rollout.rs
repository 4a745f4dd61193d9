//! `check` on rollouts, and `simulate --rollout`: the outputs scripts read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::{TempDir, splitway};

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/config")
        .join(name)
        .display()
        .to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let file = dir.path().join(name);
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn check_counts_rollouts_and_locates_their_errors() {
    let file = example("rollout.yaml");
    let out = splitway(&["check", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("{file}: ok: 2 frontends, 2 backends, 4 servers, 0 warnings, 1 rollout\n")
    );

    let dir = TempDir::new("cli-rollout-check");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("canary: k8s", "canary: k9s")
        .replace("steps: [1, 5, 10, 25, 50]", "steps: [1, 5, 5]");
    let bad = write(&dir, "bad.yaml", &text);
    let name = bad.display().to_string();
    let out = splitway(&["check", &name]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        format!(
            "{name}:30:13: error: canary `k9s` is not a server of backend `web`; did you mean `k8s`?\n\
             {name}:31:19: error: step 5 does not rise above the step before it (5): steps must be strictly rising\n"
        )
    );
}
