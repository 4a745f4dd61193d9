//! The configuration loader on arbitrary bytes, as YAML and as TOML: no panic, no hang; a
//! configuration that loads compiles into a table (the loader validates everything compiling
//! checks), and that table routes a request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use splitway::config::{Config, Format};
use splitway::{RequestView, Router};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the format, so one corpus holds both.
    let Some((&first, bytes)) = data.split_first() else {
        return;
    };
    let format = if first & 1 == 0 {
        Format::Yaml
    } else {
        Format::Toml
    };
    // Every diagnostic is located inside the file (lines and columns count from 1).
    let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
    let located = |d: &splitway::diag::Diagnostic| {
        assert!(
            d.line >= 1 && d.line <= lines && d.col >= 1,
            "diagnostic outside the file ({lines} lines): {d:?}"
        );
        if let Ok(text) = std::str::from_utf8(bytes) {
            let width = text
                .split('\n')
                .nth(d.line - 1)
                .map_or(0, |l| l.chars().count());
            assert!(
                d.col <= width + 1,
                "diagnostic past the end of its line: {d:?}"
            );
        }
    };
    let loaded = match Config::from_bytes(bytes, format, "fuzz") {
        Ok(loaded) => loaded,
        Err(e) => {
            assert!(!e.diagnostics.is_empty(), "an error without a diagnostic");
            e.diagnostics.iter().for_each(located);
            let _ = e.to_string();
            return;
        }
    };
    loaded.warnings.iter().for_each(located);
    let router = match Router::from_config(&loaded.config) {
        Ok(r) => r,
        Err(e) => panic!("a loaded configuration does not compile: {e}"),
    };
    let req = http::Request::get("http://web.agendor.com.br/a?b=c")
        .header("cookie", "_AUSER_TYPE=canary")
        .body(())
        .unwrap_or_default();
    let view = RequestView::from_request(&req, None);
    let _ = router.route(&view);
    let _ = router.explain(&view);
    let _ = router.snapshot().shadowed();
});
