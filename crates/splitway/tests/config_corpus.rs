#![allow(clippy::unwrap_used, clippy::expect_used)]
use splitway::config::Config;
use std::path::Path;

#[test]
#[ignore]
fn dump() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/bad");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names {
        let t = std::time::Instant::now();
        let r = Config::from_file(&p);
        let el = t.elapsed();
        match r {
            Ok(l) => println!("OK!! {} {:?}", p.display(), l.warnings),
            Err(e) => {
                let d = &e.diagnostics[0];
                println!(
                    "{:?} | {}:{} | {} | {:?}",
                    p.file_name().unwrap(),
                    d.line,
                    d.col,
                    d.message,
                    el
                );
            }
        }
    }
}
