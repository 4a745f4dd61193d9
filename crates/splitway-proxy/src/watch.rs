//! Reloading the configuration file when it changes.
//!
//! The file is read again every interval and reloaded when its bytes differ from the last ones
//! read. Reading the path each time (rather than watching one inode) follows every way a file
//! gets replaced: an editor's rename, `kubectl` updating a ConfigMap (a symlink swap of the
//! `..data` directory), a plain overwrite. A file that fails to load is reported and changes
//! nothing: the table in service keeps serving until a good file arrives.

use std::path::PathBuf;
use std::time::Duration;

use splitway::Router;

/// Reloads `router` from `path` whenever the file's content changes, checking every
/// `interval`, until the returned task is aborted or the runtime stops.
pub fn watch(router: Router, path: PathBuf, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = tokio::fs::read(&path).await.ok();
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let current = match tokio::fs::read(&path).await {
                Ok(bytes) => bytes,
                Err(e) => {
                    // Mid-replacement, or removed: keep serving, look again next tick.
                    tracing::debug!(path = %path.display(), error = %e, "config not readable");
                    continue;
                }
            };
            if last.as_deref() == Some(current.as_slice()) {
                continue;
            }
            // Compiling a big table takes milliseconds of CPU: not on an async worker.
            let (r, p) = (router.clone(), path.clone());
            if let Ok(outcome) = tokio::task::spawn_blocking(move || r.reload_file(&p)).await {
                report(&path, outcome);
            }
            last = Some(current);
        }
    })
}

fn report(
    path: &std::path::Path,
    outcome: Result<Vec<splitway::diag::Diagnostic>, splitway::diag::ConfigError>,
) {
    match outcome {
        Ok(warnings) => {
            for w in warnings {
                tracing::warn!("{w}");
            }
            tracing::info!(path = %path.display(), "configuration reloaded");
        }
        Err(errors) => tracing::error!(
            path = %path.display(),
            "configuration not reloaded, the previous one keeps serving:\n{errors}"
        ),
    }
}
