//! Loading: size limit, text decoding, format dispatch, then decoding into a [`Config`].

use std::io::Read;
use std::path::Path;

use super::sink::Sink;
use super::{Format, Loaded, decode, toml, yaml};
use crate::diag::{ConfigError, Diagnostic, LineIndex, Severity};

/// Largest configuration accepted, in bytes.
pub const MAX_CONFIG_BYTES: usize = 8 * 1024 * 1024;
/// Most frontends accepted in one configuration.
pub const MAX_FRONTENDS: usize = 100_000;

pub(super) fn load(bytes: &[u8], format: Format, file: &str) -> Result<Loaded, ConfigError> {
    if bytes.len() > MAX_CONFIG_BYTES {
        return Err(single(
            file,
            1,
            1,
            format!(
                "the file is {} bytes, more than the {MAX_CONFIG_BYTES} bytes accepted",
                bytes.len()
            ),
        ));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            // Locate the first invalid byte with the valid prefix, which is text.
            let valid = e.valid_up_to();
            let prefix = bytes
                .get(..valid)
                .and_then(|p| std::str::from_utf8(p).ok())
                .unwrap_or("");
            let (line, col) = LineIndex::new(prefix).line_col(prefix.len());
            let byte = bytes.get(valid).copied().unwrap_or(0);
            return Err(single(
                file,
                line,
                col,
                format!("the file is not UTF-8 text (byte 0x{byte:02x} at offset {valid})"),
            ));
        }
    };
    let mut sink = Sink::default();
    let root = match format {
        Format::Yaml => yaml::parse(text, &mut sink),
        Format::Toml => toml::parse(text, &mut sink),
    };
    // A file that does not parse is not decoded: its partial tree would only add noise.
    let config = if sink.has_errors() {
        None
    } else {
        // Files the configuration names are relative to its own directory.
        let base = Path::new(file).parent().unwrap_or(Path::new(""));
        decode::decode(root.as_ref(), base, &mut sink)
    };
    let diagnostics = sink.finish(file, text);
    match config {
        Some(config) if !diagnostics.iter().any(|d| d.severity == Severity::Error) => Ok(Loaded {
            config,
            warnings: diagnostics,
        }),
        _ => Err(ConfigError { diagnostics }),
    }
}

pub(super) fn load_file(path: &Path) -> Result<Loaded, ConfigError> {
    let file = path.display().to_string();
    let Some(format) = Format::from_path(path) else {
        return Err(single(
            &file,
            1,
            1,
            "unknown configuration format: the file name must end in .yaml, .yml or .toml"
                .to_owned(),
        ));
    };
    let io_error = |e: std::io::Error| single(&file, 1, 1, format!("cannot read the file: {e}"));
    let handle = std::fs::File::open(path).map_err(io_error)?;
    let mut bytes = Vec::new();
    // Read one byte past the limit, so a larger file is refused without reading it all.
    let limit = u64::try_from(MAX_CONFIG_BYTES)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    handle
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() > MAX_CONFIG_BYTES {
        return Err(single(
            &file,
            1,
            1,
            format!("the file is larger than the {MAX_CONFIG_BYTES} bytes accepted"),
        ));
    }
    let mut loaded = load(&bytes, format, &file)?;
    // Paths in the file are relative to the file's directory, wherever the process runs.
    if let Some(dir) = path.parent() {
        for tls in loaded
            .config
            .backends
            .iter_mut()
            .filter_map(|b| b.tls.as_mut())
        {
            if let Some(ca) = tls.ca_file.as_mut().filter(|ca| ca.is_relative()) {
                *ca = dir.join(&*ca);
            }
        }
    }
    Ok(loaded)
}

fn single(file: &str, line: usize, col: usize, message: String) -> ConfigError {
    ConfigError {
        diagnostics: vec![Diagnostic {
            severity: Severity::Error,
            file: file.to_owned(),
            line,
            col,
            message,
        }],
    }
}
