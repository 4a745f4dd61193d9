//! Reloading the configuration file when it changes.
//!
//! Every interval the path's metadata (through symlinks) is looked at; when its size or
//! modification time changed, or at least every [`FULL_CHECK_EVERY`] ticks, the file is read and
//! reloaded if its bytes differ from the last ones read. Going by the path each time (rather
//! than watching one inode) follows every way a file gets replaced: an editor's rename,
//! `kubectl` updating a ConfigMap (a symlink swap of the `..data` directory), a plain
//! overwrite. A file that fails to load is reported and changes nothing: the table in service
//! keeps serving until a good file arrives.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use splitway::Router;
use splitway::diag::{ConfigError, Diagnostic};

/// Ticks between reads of the file even when its metadata looks unchanged (an overwrite of
/// the same size within the file system's timestamp resolution).
pub const FULL_CHECK_EVERY: u32 = 10;

/// How a changed file is put in service: [`Router::reload_file`], or
/// [`crate::Rollouts::reload_file`] when rollouts must keep their weights across the reload.
pub type Reload =
    Arc<dyn Fn(&Path) -> Result<Vec<Diagnostic>, ConfigError> + Send + Sync + 'static>;

/// Reloads `router` from `path` whenever the file's content changes, checking every
/// `interval`, until the returned task is aborted or the runtime stops.
pub fn watch(router: Router, path: PathBuf, interval: Duration) -> tokio::task::JoinHandle<()> {
    watch_with(
        Arc::new(move |p: &Path| router.reload_file(p)),
        path,
        interval,
    )
}

/// [`watch`], putting each changed file in service with `reload`.
pub fn watch_with(
    reload: Reload,
    path: PathBuf,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let stamp = |path: PathBuf| async move {
            let meta = tokio::fs::metadata(path).await.ok()?;
            Some((
                meta.len(),
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            ))
        };
        let mut last_stamp = stamp(path.clone()).await;
        let mut last = tokio::fs::read(&path).await.ok();
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut since_read = 0u32;
        loop {
            ticks.tick().await;
            let now_stamp = stamp(path.clone()).await;
            since_read += 1;
            if now_stamp == last_stamp && since_read < FULL_CHECK_EVERY {
                continue;
            }
            since_read = 0;
            let current = match tokio::fs::read(&path).await {
                Ok(bytes) => {
                    last_stamp = now_stamp;
                    bytes
                }
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
            let (r, p) = (Arc::clone(&reload), path.clone());
            if let Ok(outcome) = tokio::task::spawn_blocking(move || r(&p)).await {
                report(&path, outcome);
            }
            last = Some(current);
        }
    })
}

fn report(path: &Path, outcome: Result<Vec<Diagnostic>, ConfigError>) {
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
