//! Collects located problems while a file is parsed and decoded, and turns them into sorted
//! [`Diagnostic`]s at the end.

use crate::diag::{Diagnostic, LineIndex, Severity};

/// One problem, located by byte offset in the text.
#[derive(Debug, Clone)]
struct Raw {
    offset: usize,
    severity: Severity,
    message: String,
}

/// Problems found so far.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    items: Vec<Raw>,
    /// How many of `items` are errors, so that `has_errors` does not scan them all.
    errors: usize,
}

impl Sink {
    /// An error at byte `offset`.
    pub(crate) fn error(&mut self, offset: usize, message: impl Into<String>) {
        self.errors += 1;
        self.items.push(Raw {
            offset,
            severity: Severity::Error,
            message: message.into(),
        });
    }

    /// A warning at byte `offset`.
    pub(crate) fn warn(&mut self, offset: usize, message: impl Into<String>) {
        self.items.push(Raw {
            offset,
            severity: Severity::Warning,
            message: message.into(),
        });
    }

    /// Whether any error was recorded.
    pub(crate) fn has_errors(&self) -> bool {
        self.errors > 0
    }

    /// The diagnostics, errors first, each kind in position order (ties keep the order they
    /// were found in).
    pub(crate) fn finish(self, file: &str, text: &str) -> Vec<Diagnostic> {
        let index = LineIndex::new(text);
        let mut out: Vec<(usize, Diagnostic)> = self
            .items
            .into_iter()
            .map(|r| {
                let (line, col) = index.line_col(r.offset);
                (
                    r.offset,
                    Diagnostic {
                        severity: r.severity,
                        file: file.to_owned(),
                        line,
                        col,
                        message: r.message,
                    },
                )
            })
            .collect();
        out.sort_by_key(|(offset, d)| (d.severity, *offset));
        out.into_iter().map(|(_, d)| d).collect()
    }
}
