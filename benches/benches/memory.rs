//! Bytes of heap per compiled frontend, for each shape and size, counted by a global
//! allocator around `Table::compile` (what the table keeps: its frontends, index, backends,
//! and the copy of the configuration it holds for edits; regexes are shared with the
//! configuration, so they are counted under "config", which is what parsing the rules built).
//!
//! Not a criterion bench: it prints a table. `cargo bench -p splitway-benches --bench memory`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use splitway::Table;
use splitway_benches::{SIZES, Shape};

fn main() {
    // `cargo bench` passes `--bench`; a filter, if any, selects shapes by name.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    println!("| shape | frontends | table bytes/frontend | config bytes/frontend |");
    println!("|---|---:|---:|---:|");
    for shape in Shape::ALL {
        if filter.as_deref().is_some_and(|f| !shape.name().contains(f)) {
            continue;
        }
        for n in SIZES {
            let mut config = None;
            let built = allocation_counter::measure(|| config = Some(shape.config(n)));
            let config = config.unwrap();
            let mut table = None;
            let compiled =
                allocation_counter::measure(|| table = Some(Table::compile(&config).unwrap()));
            assert_eq!(table.map(|t| t.len()), Some(n));
            let per = |bytes: i64| bytes as f64 / n as f64;
            println!(
                "| {} | {n} | {:.0} | {:.0} |",
                shape.name(),
                per(compiled.bytes_current),
                per(built.bytes_current),
            );
        }
    }
}
