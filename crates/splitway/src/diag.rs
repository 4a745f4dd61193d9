//! Located diagnostics: every config or rule problem as `FILE:LINE:COL: error: MESSAGE`.

use std::fmt;

/// How serious a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The configuration is rejected.
    Error,
    /// The configuration loads, but something in it is ignored or suspicious.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem found in a configuration file, with its position.
///
/// Lines and columns count from 1; columns count characters, not bytes.
/// Displayed as `FILE:LINE:COL: error: MESSAGE`; a problem with no position in the text (line
/// and column 0, see [`Diagnostic::unlocated`]) as `FILE: error: MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file name as given by the caller (`<string>` for text without a file).
    pub file: String,
    /// 1-based line; 0 when the problem has no position in the text.
    pub line: usize,
    /// 1-based column, in characters; 0 when the problem has no position in the text.
    pub col: usize,
    /// What is wrong, in words a person can act on.
    pub message: String,
}

impl Diagnostic {
    /// A problem of the file as a whole, with no position in its text to point at.
    pub fn unlocated(severity: Severity, file: &str, message: String) -> Diagnostic {
        Diagnostic {
            severity,
            file: file.to_owned(),
            line: 0,
            col: 0,
            message,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: {}: {}", self.file, self.severity, self.message);
        }
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.col, self.severity, self.message
        )
    }
}

/// Every error of a configuration that failed to load (never empty), plus its warnings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", display_all(.diagnostics))]
pub struct ConfigError {
    /// Errors first, in file order, then warnings.
    pub diagnostics: Vec<Diagnostic>,
}

impl ConfigError {
    /// The diagnostics of severity [`Severity::Error`].
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }
}

fn display_all(diagnostics: &[Diagnostic]) -> String {
    let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// Maps byte offsets of a text to 1-based line and character column.
#[derive(Debug, Clone)]
pub struct LineIndex<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes `text`.
    pub fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, line_starts }
    }

    /// The 1-based (line, column) of byte `offset` (clamped to the text).
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        let col = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line + 1, col + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_and_characters() {
        let idx = LineIndex::new("ab\nçd\n");
        assert_eq!(idx.line_col(0), (1, 1));
        assert_eq!(idx.line_col(1), (1, 2));
        assert_eq!(idx.line_col(3), (2, 1));
        assert_eq!(idx.line_col(5), (2, 2)); // after the two-byte ç
        assert_eq!(idx.line_col(100), (3, 1));
    }

    #[test]
    fn a_diagnostic_without_a_position_shows_none() {
        let d = Diagnostic::unlocated(Severity::Error, "routes.yaml", "too many frontends".into());
        assert_eq!(d.to_string(), "routes.yaml: error: too many frontends");
    }

    #[test]
    fn diagnostic_display_is_the_cli_contract() {
        let d = Diagnostic {
            severity: Severity::Error,
            file: "a.yaml".into(),
            line: 3,
            col: 7,
            message: "unknown key `rulez`".into(),
        };
        assert_eq!(d.to_string(), "a.yaml:3:7: error: unknown key `rulez`");
    }
}
