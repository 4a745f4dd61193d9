//! `splitway check FILE...`

use std::path::Path;

use splitway::Table;
use splitway::config::{Config, Loaded};

use crate::Fail;

/// Checks every file (all of them, even after a failure) and reports.
pub(crate) fn run(files: &[impl AsRef<Path>]) -> Result<(), Fail> {
    let mut failed = false;
    for file in files {
        if check_one(file.as_ref()).is_err() {
            failed = true;
        }
    }
    if failed { Err(Fail) } else { Ok(()) }
}

/// What `check` does after loading, shared with `import`'s check of its own output: prints the
/// loader's warnings, compiles the table and warns of frontends that can never win.
pub(crate) fn compile_and_lint(name: &str, loaded: &Loaded) -> Result<Table, Fail> {
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    let table = Table::compile(&loaded.config).map_err(|e| {
        // The loader validates what compiling checks; this has no position to give.
        eprintln!("{name}: error: {e}");
        Fail
    })?;
    for s in table.shadowed() {
        eprintln!(
            "{name}: warning: frontend `{}` can never win: `{}` is tried first and matches every request it matches",
            s.frontend, s.by
        );
    }
    Ok(table)
}

fn check_one(path: &Path) -> Result<(), Fail> {
    let name = path.display().to_string();
    let loaded = match Config::from_file(path) {
        Ok(loaded) => loaded,
        Err(err) => {
            for d in &err.diagnostics {
                eprintln!("{d}");
            }
            return Err(Fail);
        }
    };
    let table = compile_and_lint(&name, &loaded)?;
    let config = &loaded.config;
    // The CA files a backend's `tls` names: what the proxy will read to verify its servers.
    let mut tls_ok = true;
    for backend in &config.backends {
        if let Some(Err(e)) = backend
            .tls
            .as_ref()
            .map(splitway_proxy::upstream_tls::check)
        {
            eprintln!("{name}: error: backend `{}`: tls: {e}", backend.name);
            tls_ok = false;
        }
    }
    if !tls_ok {
        return Err(Fail);
    }
    let servers: usize = config.backends.iter().map(|b| b.servers.len()).sum();
    // Rollouts are listed only when there are some, so older summaries keep their shape.
    let rollouts = match config.rollouts.len() {
        0 => String::new(),
        1 => ", 1 rollout".to_owned(),
        n => format!(", {n} rollouts"),
    };
    println!(
        "{name}: ok: {} frontends, {} backends, {} servers, {} warnings{rollouts}",
        config.frontends.len(),
        config.backends.len(),
        servers,
        loaded.warnings.len() + table.shadowed().len()
    );
    Ok(())
}
